"""The `check` contract of SPEC_FORMAT.md: exit codes, one-line errors, JSON report."""

import json
import os
import subprocess
import sys
from pathlib import Path

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


def test_spec_not_utf8_or_a_directory_is_one_line(tmp_path, capsys):
    f = tmp_path / "bin.toml"
    f.write_bytes(b"\xff\xfe[spec]\n")
    assert main(["run", str(f), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(f) in err and "not UTF-8" in err, err
    d = tmp_path / "d.toml"
    d.mkdir()
    assert main(["run", str(d), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "a directory, not a spec file" in err, err


def test_bench_measures_a_spec_and_refuses_bad_ones(tmp_path, capsys):
    f = write(tmp_path, GOOD)
    assert main(["bench", f, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows["s"]["states"] > 0 and rows["s"]["complete"] and "error" not in rows["s"]
    assert rows["baseline (interpreter + model)"]["states"] == 0
    bad = write(tmp_path, "[[thread]\n", "bad.toml")
    for args in ([bad], [str(tmp_path / "missing.toml")]):
        assert main(["bench", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and args[0] in err, err


def test_unwritable_output_paths_are_one_line_usage_errors(tmp_path, capsys):
    f = write(tmp_path, GOOD)
    blocker = write(tmp_path, "", "file")  # a file where a folder is needed
    for args in (["run", f, "--out", blocker + "/sub"], ["run", f, "--graph", blocker],
                 ["bench", f, "--record", str(tmp_path / "no" / "such" / "r.json")],
                 ["prove", "--skbs", "1", "--maps", "1", "--cpus", "1",
                  "--save-specs", blocker],
                 # a folder no one can create in (os.access passes for root there)
                 *([["run", f, "--out", "/proc/skbcheck-traces"]]
                   if os.path.isdir("/proc/self") else [])):
        assert main(args) == 2, args
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and args[-2] in err and "Traceback" not in err, err


@pytest.mark.parametrize("text,needle", [
    ("proof = 3\n", "'proof' must be [[proof]] tables"),
    ("x = 1\n", "unknown key 'x'"),
    ("[[proof]]\nfoo = 1\n", "#1: unknown key 'foo'"),
    ('[[proof]]\ndesign = "rfc"\nsizes = "x"\n', "#1: sizes: must be a table"),
    ('[[proof]]\ndesign = "rfc"\nsizes = {skbs = 0}\n', "sizes.skbs must be at least 1"),
    ('[[proof]]\ndesign = "rfc"\nsizes = {skbs = 1.5}\n', "sizes.skbs must be an integer"),
    ('[[proof]]\ndesign = "rfc"\nsizes = {frob = 2}\n', "sizes: unknown key 'frob'"),
    ('[[proof]]\ndesign = "rfc"\nsizes = {without = "get"}\n', "sizes.without must be a list"),
    ('[[proof]]\ndesign = "rfc"\nmutations = "x"\n', "mutations must be a list"),
    ('[[proof]]\ndesign = "rfc"\nbudgets = {search_states = "many"}\n',
     "budgets.search_states = 'many'"),
    ('[[proof]]\ndesign = "rfc"\nbudgets = {induction = 1}\n', "expected true or false"),
    ('[[proof]]\ndesign = "rfc"\nexpect = 3\n', "#1: expect: must be a table"),
])
def test_bad_default_proofs_are_one_line_errors(tmp_path, capsys, text, needle):
    """`check all DIR` reads DIR/default.proofs: a malformed one is a usage error."""
    write(tmp_path, GOOD)
    (tmp_path / "default.proofs").write_text(text)
    assert main(["all", str(tmp_path), "-q", "--no-traces"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and needle in err and "default.proofs" in err, err


@pytest.mark.parametrize("args,needle", [
    (["run", "{f}", "--jobs", "-2"], "--jobs must be at least 0"),
    (["run", "{f}", "--max-states", "0"], "--max-states must be at least 1"),
    (["agree", "{f}", "--jobs", "-1"], "agree: --jobs must be at least 0"),
    (["prove", "--search-states", "-1"], "--search-states must be at least 0"),
    (["prove", "--exhaustive-states", "-1"], "--exhaustive-states must be at least 0"),
    (["prove", "--induction-seconds", "0"], "--induction-seconds must be more than 0"),
    # a focus world is searched inside the proof's size: one larger is refused, not cut
    (["prove", "--focus", "get,copy@3/1/2", "--skbs", "1", "--maps", "1", "--cpus", "1"],
     "focus get,copy@3/1/2: larger than the proof's size 1/1/1"),
    # a --leave-out typo is refused before the search, not remarked on after induction
    (["prove", "--heap-lemmas", "--leave-out", "heap:map-free-snyc", "--skbs", "1",
      "--maps", "1", "--cpus", "2"], "heap:map-free-snyc: matching no lemma tried at 1/1/2"),
    (["prove", "--leave-out", "heap:*"], "heap:*: matching no lemma tried at 4/2/3 with "
     "neither"),
    (["prove", "--heap-lemmas", "--leave-out", "no_leak"], "no_leak: a goal, never left out"),
])
def test_options_out_of_range_are_one_line_errors(tmp_path, capsys, args, needle):
    f = write(tmp_path, GOOD)
    assert main([a.format(f=f) for a in args] + ["-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and needle in err, err


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


def test_a_bug_of_the_model_is_one_line_and_exit_3(monkeypatch, capsys):
    """A ModelError (here: an update that forgets its storage unlock, a slip the model's
    own lock check catches) is skbcheck's bug, not a verdict: one line naming the spec,
    exit 3, never Python's exit 1 that a script would read as "a verdict differs";
    SKBCHECK_TRACEBACK=1 gives the traceback back.  Any other crash is exit 3 too."""
    import model.bpf_local_storage as ls
    from checker import runner
    from model.kernel import ModelError

    spec = str(ROOT / "specs" / "shared-create-cmpxchg-race.toml")
    monkeypatch.setattr(ls, "raw_res_spin_unlock", lambda k, obj, fname: None)
    assert main(["run", "--jobs", "1", spec]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    assert err[0].startswith("check: model error (a bug in skbcheck, not a finding): ")
    assert "shared-create-cmpxchg-race.toml: cpu" in err[0] and "holding" in err[0]
    other = str(ROOT / "specs" / "copy-shares-storage.toml")  # in worker processes too
    assert main(["run", "--jobs", "2", other, spec]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ".toml: cpu" in err[0] and "holding" in err[0]
    monkeypatch.setenv("SKBCHECK_TRACEBACK", "1")
    with pytest.raises(ModelError):
        main(["run", "--jobs", "1", spec])
    monkeypatch.delenv("SKBCHECK_TRACEBACK")

    def crash(*_a, **_k):
        raise KeyError("oops")
    monkeypatch.setattr(runner, "check_spec", crash)
    assert main(["run", "--jobs", "1", spec]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["check: internal error (a bug in skbcheck): KeyError: 'oops' "
                   "(SKBCHECK_TRACEBACK=1 shows the traceback)"]


def test_trace_files_fit_a_mail(tmp_path, capsys):
    """A three-CPU trace file is pasted into a mailing-list reply: its prose wraps at 88
    columns, and its race diagram (three columns of 33) stays within 100 but for a long
    function name in the last column."""
    f = str(ROOT / "specs" / "cow-two-destroys-vs-map-free-refcnt-guard.toml")
    assert main(["run", f, "-q", "--out", str(tmp_path)]) == 0
    text = (next(tmp_path.glob("run-*/*/no_double_free.txt"))).read_text()
    race, _, rest = text.partition("Race diagram")[2].partition("Steps (fields")
    head = text.partition("Race diagram")[0]
    assert "CPU2" in race and "double free of selem1" in race
    assert "==> no_double_free: KASAN:" in race  # the diagram ends with what broke
    assert max(len(x) for x in (head + rest).splitlines()) <= 88
    assert max(len(x) for x in race.splitlines()) <= 100 + len("_nolock_misc")
    cpu2 = [x for x in race.splitlines() if x.startswith(" " * 66) and x.strip()]
    assert cpu2 and all(len(x) <= 100 or x.endswith("()") for x in cpu2)


def test_spec_error_trace_is_written(tmp_path, capsys):
    """SPEC_FORMAT: an op on a packet another thread already freed is an error in the
    spec, "reported with the trace that reaches it": the folder the run names holds it."""
    f = write(tmp_path, """
[objects]
skbs = ["A"]
maps = ["M"]
[[thread]]
name = "cpu0"
ops = ["free(A)"]
[[thread]]
name = "cpu1"
ops = ["free(A)"]
""")
    assert main(["run", f, "--out", str(tmp_path / "t")]) == 2
    out = capsys.readouterr().out
    folder = out.split("traces: ")[1].split()[0]
    text = (tmp_path / "t" / Path(folder).name / "s" / "spec_error.txt").read_text()
    words = " ".join(text.split())  # the message is wrapped at 88 columns
    assert "thread 'cpu1', op 'free(A)'" in words or "thread 'cpu0', op 'free(A)'" in words
    assert "already freed" in words and "Race diagram" in text and "kfree_skb" in text
