"""The README's first lines are the two newcomer commands; CI runs the test one."""

from conftest import ROOT


def _commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert lines[0].startswith("```")
    return lines[1], lines[2]


def test_readme_starts_with_the_two_commands():
    run_all, run_tests = _commands()
    assert "pip install" in run_all and run_all.endswith("check all")
    assert "pip install" in run_tests and run_tests.endswith("pytest")


def test_ci_runs_the_readme_test_command():
    assert _commands()[1] in (ROOT / ".ci" / "run").read_text()
