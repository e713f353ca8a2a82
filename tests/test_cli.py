"""The `check` contract of SPEC_FORMAT.md: exit codes, one-line errors, JSON report."""

import json
import subprocess
import sys

import pytest
from conftest import ROOT

from checker.cli import main

GOOD = """
[objects]
skbs = ["A"]
maps = ["M"]
[[thread]]
name = "cpu0"
ops = ["get(A, M, create, 3) == 3", "end", "free(A)"]
"""


def write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_run_ok_and_json(tmp_path, capsys):
    f = write(tmp_path, GOOD)
    assert main(["run", f, "--json", "-q", "--out", str(tmp_path / "t")]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["format"] == 1 and rep["matches_expectations"] is True
    s = rep["specs"][0]
    for key in ("file", "name", "design", "mutations", "complete", "states", "transitions",
                "seconds", "properties", "matches_expectations"):
        assert key in s
    assert s["properties"]["no_leak"] == {"verdict": "holds", "expected": "holds"}


def test_unexpected_violation_exits_1_with_trace(tmp_path, capsys):
    f = write(tmp_path, GOOD.replace("== 3", "== 4"))
    assert main(["run", f, "--json", "-q", "--out", str(tmp_path / "t")]) == 1
    rep = json.loads(capsys.readouterr().out)
    e = rep["specs"][0]["properties"]["assertions"]
    assert e["verdict"] == "violated" and e["expected"] == "holds"
    step = e["trace"][0]
    assert {"thread", "op", "step", "changes"} <= set(step)
    assert list((tmp_path / "t").glob("run-*/s/assertions.txt"))


def test_unknown_when_max_states_hit(tmp_path, capsys):
    f = write(tmp_path, GOOD)
    assert main(["run", f, "-q", "--max-states", "3", "--no-traces"]) == 1
    assert "?" in capsys.readouterr().out


@pytest.mark.parametrize("body,needle", [
    ('ops = ["get(A, M, creat)"]', "thread 'cpu0', op 1 'get(A, M, creat)': unknown flag"),
    ('ops = ["gte(A, M)"]', "unknown op 'gte'"),
    ('ops = ["get(Z, M)"]', "unknown packet 'Z'"),
    ('ops = ["get(A, Q)"]', "unknown map 'Q'"),
    ('ops = ["clone(A)"]', "needs '-> NEWPACKET'"),
    ('ops = ["free(A) == 0"]', "returns nothing to assert on"),
    ('ops = ["get(A, M) == -ENOENT"]', "not -ENOENT"),
    ('ops = ["delete(A, M) == -EWHAT"]', "unknown errno"),
    ('ops = ["free(A)", "get(A, M)"]', "was freed earlier by this thread"),
    ('ops = ["clone(A) -> B", "copy(A) -> B"]', "created twice"),
    ('ops = ["write(A, M)"]', "write takes (X, M, V)"),
    ('ops = "get(A, M)"', "ops must be a list"),
])
def test_bad_spec_one_line_exit_2(tmp_path, capsys, body, needle):
    text = f'[objects]\nskbs = ["A"]\nmaps = ["M"]\n[[thread]]\nname = "cpu0"\n{body}\n'
    f = write(tmp_path, text)
    assert main(["run", f, "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and needle in err and f in err, err


@pytest.mark.parametrize("text,needle", [
    ("[spec]\ndesign = 'nope'\n[[thread]]\nops=[]\n", "unknown design 'nope'"),
    ("[spec]\nmutations = ['no-such']\n[[thread]]\nops=[]\n", "unknown mutation 'no-such'"),
    ("[bounds]\ncache_size = 0\n[[thread]]\nops=[]\n", "cache_size must be an integer >= 1"),
    ("[bounds]\nfoo = 1\n[[thread]]\nops=[]\n", "unknown key 'foo'"),
    ("[expect]\nno_leak = 'maybe'\n[[thread]]\nops=[]\n", "no_leak = 'maybe'"),
    ("[expect]\nleak = 'holds'\n[[thread]]\nops=[]\n", "unknown key 'leak'"),
    ("[objects]\nskbs = ['A', 'A']\n[[thread]]\nops=[]\n", "listed twice"),
    ("[[thread]\n", "not valid TOML"),
    ("[spec]\nname = 'x'\n", "at least one [[thread]]"),
])
def test_bad_spec_sections(tmp_path, capsys, text, needle):
    f = write(tmp_path, text)
    assert main(["run", f, "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and needle in err, err


def test_op_on_packet_freed_by_another_thread_is_a_spec_error(tmp_path, capsys):
    text = ('[objects]\nskbs = ["A"]\nmaps = ["M"]\n'
            '[[thread]]\nname = "cpu0"\nops = ["free(A)"]\n'
            '[[thread]]\nname = "cpu1"\nops = ["get(A, M)"]\n')
    f = write(tmp_path, text)
    assert main(["run", f, "-q", "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    assert "thread 'cpu1', op 'get(A, M)'" in err and "already freed" in err


def test_missing_file_and_bad_usage(capsys):
    assert main(["run", "/nonexistent.toml"]) == 2
    assert main(["frobnicate"]) == 2


def test_list(capsys):
    assert main(["list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"designs", "mutations", "properties", "ops"} <= set(data)
    assert len(data["properties"]) == 11 and "rfc-refcnt-guard" in data["designs"]


def test_console_script_no_traceback_on_bad_spec(tmp_path):
    f = write(tmp_path, '[[thread]]\nops = ["get(A"]\n')
    r = subprocess.run([sys.executable, "-m", "checker.cli", "run", f], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
