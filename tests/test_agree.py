"""`check agree` (checker/agree.py): the command compares the engines on every state
and edge of a spec, and reports a sabotaged engine as a disagreement (exit 1)."""

from __future__ import annotations

import json

import z3
from conftest import ROOT

import invariants
from checker import agree
from checker.cli import main
from model.symbolic import Fragments

SMALL = str(ROOT / "specs" / "mut-no-clone-guard.toml")  # 33 states; no_shared_storage V


def test_agree_json(capsys):
    assert main(["agree", SMALL, "--json", "-q"]) == 0
    rep = json.loads(capsys.readouterr().out)
    (r,) = rep["agreement"]
    assert rep["agree"] and r["agree"] and r["states"] == 33 and r["edges"] == 32
    assert r["relation"] == r["properties"] == "" and r["bmc"] is None


def test_table_and_bad_input(capsys):
    assert main(["agree", SMALL, "-q"]) == 0
    assert "the engines agree on all" in capsys.readouterr().out
    assert main(["agree", "nope.toml", "-q"]) == 2
    assert main(["agree", SMALL, "--bmc-seconds", "-1"]) == 2
    err = capsys.readouterr().err
    assert "nope.toml" in err and "bmc-seconds" in err and "Traceback" not in err


def test_a_missing_z3_path_is_a_disagreement(monkeypatch, capsys):
    """Drop one path of every control point from the z3 relation: the explicit model
    then has edges z3 lacks, and the command says where."""
    real = Fragments.paths

    def fewer(self, t, key):
        return real(self, t, key)[:-1]

    monkeypatch.setattr(Fragments, "paths", fewer)
    assert main(["agree", SMALL, "-q"]) == 1
    out = capsys.readouterr().out
    assert "DISAGREEMENT on mut-no-clone-guard" in out and "explicit only: cpu" in out


def test_a_wrong_property_formula_is_a_disagreement(monkeypatch):
    real = invariants.z3_encodings

    def weakened(m, s):
        return real(m, s) | {"no_shared_storage": z3.BoolVal(True)}

    monkeypatch.setattr(invariants, "z3_encodings", weakened)
    r = agree.agree_spec(SMALL)
    assert not r["agree"] and r["properties"].startswith("no_shared_storage on state")
