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


def test_a_cache_slot_of_another_storage_is_inconsistent():
    """cache_consistent's second clause has teeth in both encodings: a slot that points
    at a linked selem of *another* storage is inconsistent (a planted slip that only
    asked for a nonzero local_storage went unnoticed: the shipped specs break the
    property through unlinked selems only)."""
    from checker.agree import Encoded
    from checker.explore import explore
    from invariants.properties import prove_properties
    from model.openworld import WorldSize, build

    m = build("rfc", (), WorldSize(2, 1, 1))
    L, check = m.layout, prove_properties(m)["cache_consistent"]
    enc = Encoded(m)
    for s in explore(m, [], 20_000, keep_graph=False).states:
        for st in range(1, L.storage.n + 1):
            c = s[L.storage.idx(st, "cache0")]
            if (c and s[L.storage.idx(st, "lock")] == 0
                    and s[L.selem.idx(c, "local_storage")] == st and check(s)):
                other = bytearray(s)
                other[L.selem.idx(c, "local_storage")] = 1 if st != 1 else 2
                other = bytes(other)
                if check(other):
                    continue  # st reached by no live packet: nothing is claimed
                assert enc.z3_value("cache_consistent", s) is True
                assert enc.z3_value("cache_consistent", other) is False
                return
    raise AssertionError("no state where a slot naming another storage's selem is "
                         "inconsistent")
