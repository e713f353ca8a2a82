"""Every named protection (SEMANTICS.md section 5, plus the extensions) is caught: with
it removed some spec reports a violation that the same scenario without the mutation
does not have."""

import tomllib

import pytest
from conftest import SPECS

import invariants
import model
from checker.explore import explore
from model.designs import MUTATIONS, SEMANTICS_MUTATIONS


def _verdicts(spec):
    m = model.build(spec)
    return explore(m, invariants.properties_for(m), spec.max_states).verdicts


def _mutation_specs():
    out = {}
    for p in SPECS:
        data = tomllib.loads(p.read_text())
        for mut in data.get("spec", {}).get("mutations", []):
            out.setdefault(mut, []).append(p)
    return out


def test_semantics_lists_eleven_protections():
    assert len(SEMANTICS_MUTATIONS) == 11
    assert set(SEMANTICS_MUTATIONS) <= set(MUTATIONS)


@pytest.mark.parametrize("mut", list(MUTATIONS))
def test_mutation_is_caught(mut):
    specs = _mutation_specs().get(mut)
    assert specs, f"no spec disables {mut}"
    caught = []
    for p in specs:
        data = tomllib.loads(p.read_text())
        with_mut = _verdicts(model.parse(data, str(p)))
        data["spec"]["mutations"] = [m for m in data["spec"]["mutations"] if m != mut]
        without = _verdicts(model.parse(data, str(p)))
        caught += [prop for prop, v in with_mut.items()
                   if v == "violated" and without[prop] == "holds"]
    assert caught, f"{mut}: no property goes from holds to violated"


def test_every_property_is_broken_by_some_mutation():
    """Each property catches a real bug: some mutation spec violates it while the
    unmutated scenario does not."""
    broken = set()
    for specs in _mutation_specs().values():
        for p in specs:
            data = tomllib.loads(p.read_text())
            with_mut = _verdicts(model.parse(data, str(p)))
            data["spec"]["mutations"] = []
            without = _verdicts(model.parse(data, str(p)))
            broken |= {k for k, v in with_mut.items() if v == "violated" and without[k] == "holds"}
    assert broken == set(invariants.MEANINGS), set(invariants.MEANINGS) - broken
