"""rfc-fix: the changes skbcheck proposes for finding 3 and for finding 4's use after
free (model/designs.py), checked on the findings' own scenarios and on every workload
of the smallest size."""

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


# the specs in which map_free's restart reads a selem freed after its bucket lock
# timed out (finding 4, third bullet), on the design each is written for
FINDING_FOUR_UAF = ["map-free-warn-restart", "free-vs-map-free-lock-failure",
                    "three-cpus-lock-failure-refcnt-guard"]


@pytest.mark.parametrize("name", FINDING_FOUR_UAF)
def test_the_fix_turns_finding_four_use_after_free_into_the_accepted_leak(name):
    """Only no_use_after_free changes: the leak, the WARN and the hang of finding 4's
    first two bullets (destroy's storage lock timing out) are not what this fixes."""
    spec = model.load(ROOT / "specs" / f"{name}.toml")
    before = complete_verdicts(spec)
    after = complete_verdicts(dataclasses.replace(spec, design="rfc-fix"))
    assert before["no_use_after_free"] == "violated"
    assert after["no_use_after_free"] == "holds"
    assert {n: v for n, v in after.items() if v != before[n]} == {
        "no_use_after_free": "holds"}
    assert after["no_leak"] == "violated"


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
