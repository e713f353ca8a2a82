"""Shared helpers: build a model from inline TOML, run it, read its final state."""

from __future__ import annotations

import os
import tomllib
from functools import cache
from pathlib import Path

import pytest
from hypothesis import settings

import invariants
import model
from checker.explore import explore
from model.describe import describe

ROOT = Path(__file__).resolve().parent.parent
# Random by default (each local run explores new examples); .ci/run sets
# HYPOTHESIS_PROFILE=ci so that a CI verdict is reproducible from its checkout.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

SPECS = sorted((ROOT / "specs").glob("*.toml"))


def spec_from(text: str, name: str = "inline.toml") -> model.Spec:
    return model.parse(tomllib.loads(text), name)


def complete_verdicts(spec: model.Spec) -> dict:
    """Every property's verdict on the spec, after a complete exploration."""
    m = model.build(spec)
    ex = explore(m, invariants.properties_for(m), spec.max_states)
    assert ex.complete
    return ex.verdicts


@cache
def explored_spec(name: str):
    """A shipped spec's model and its complete exploration, cached per process
    (several tests read the same graph)."""
    m = model.build(model.load(ROOT / "specs" / name))
    ex = explore(m, invariants.properties_for(m), 200_000)
    assert ex.complete
    return m, ex


def explore_text(text: str, **kw):
    m = model.build(spec_from(text), **{k: v for k, v in kw.items() if k != "max_states"})
    props = invariants.properties_for(m)
    return m, explore(m, props, kw.get("max_states", 200_000))


def run_single(ops: list[str], skbs=("A",), maps=("M",), bounds: str = "", **kw) -> dict:
    """Run one CPU's ops (deterministic without failure budgets); return the final
    state's description plus each op's result."""
    quoted = ", ".join(f'"{o}"' for o in ops)
    text = (f"[objects]\nskbs = {list(skbs)!r}\nmaps = {list(maps)!r}\n".replace("'", '"')
            + (f"[bounds]\n{bounds}\n" if bounds else "")
            + f'[[thread]]\nname = "cpu0"\nops = [{quoted}]\n')
    m, ex = explore_text(text, **kw)
    assert ex.complete
    finals = sorted(ex.finals)
    assert len(finals) == 1, "a single CPU without failures is deterministic"
    return describe(m, ex.states[finals[0]]), ex, m


@pytest.fixture
def single():
    return run_single
