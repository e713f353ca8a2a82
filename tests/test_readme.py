"""The README's first lines are the two newcomer commands; CI runs the test one.  Its
example spec runs as it says."""

import re

from conftest import ROOT

from checker.cli import main


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


def test_the_readme_example_spec_runs_as_expected(tmp_path, capsys):
    """A newcomer copies "Writing a spec"'s example first: it must parse and match its
    own [expect] (it once left out clone_isolation and exited 1)."""
    text = (ROOT / "README.md").read_text().split("## Writing a spec", 1)[1]
    example = re.search(r"```toml\n(.*?)```", text, re.S).group(1)
    f = tmp_path / "my.toml"
    f.write_text(example)
    assert main(["run", "-q", str(f), "--out", str(tmp_path / "out")]) == 0
