"""rfc-fix: the changes skbcheck proposes for finding 3 (model/designs.py), checked on
the findings' own scenarios and on every workload of the smallest size."""

import dataclasses

import pytest
from conftest import ROOT, complete_verdicts

import model
from checker.explore import explore
from invariants import Property
from invariants.properties import PROVE_PROPERTIES, prove_properties
from model.openworld import WorldSize, build

# the scenarios of finding 3 (each violates memory safety on its own design)
FINDING_THREE = ["ext-del-recreate-orphans-storage", "cow-keeps-storage-refcnt-guard",
                 "cow-copy-outlives-map-free-refcnt-guard",
                 "cow-two-destroys-vs-map-free-refcnt-guard",
                 "cow-keeps-storage-delete-vs-free-refcnt-guard"]
SAFETY = ("no_use_after_free", "no_double_free", "no_leak", "cache_consistent",
          "refcount_sane", "no_deadlock", "no_shared_storage", "assertions")


@pytest.mark.parametrize("name", FINDING_THREE)
def test_the_fix_removes_finding_three(name):
    spec = model.load(ROOT / "specs" / f"{name}.toml")
    before = complete_verdicts(spec)
    assert before["no_use_after_free"] == "violated"
    after = complete_verdicts(dataclasses.replace(spec, design="rfc-fix"))
    assert {n: after[n] for n in SAFETY} == {n: "holds" for n in SAFETY}


def _world(design, without=()):
    m = build(design, (), WorldSize(1, 1, 1, without=without))
    props = [Property(n, "state", f) for n, f in prove_properties(m).items()]
    ex = explore(m, props, 200_000)
    assert ex.complete
    return len(ex.states), ex.verdicts


def test_every_workload_of_one_packet_is_safe_with_the_fix():
    """1 packet, 1 map, 1 CPU: rfc-refcnt-guard leaks and uses after free there
    (tests/test_prove.py); rfc-fix holds all five."""
    _, v = _world("rfc-fix")
    assert all(v[n] == "holds" for n in PROVE_PROPERTIES)


def test_the_fix_only_matters_after_ext_del():
    """Without skb_ext_del no data area is present but inactive, and rfc-fix behaves
    exactly as rfc-refcnt-guard: the same states."""
    assert _world("rfc-fix", ("ext_del",)) == _world("rfc-refcnt-guard", ("ext_del",))
