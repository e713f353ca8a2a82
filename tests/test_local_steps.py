"""Steps marked ``local`` (chained into the transition before them) read and write only
their own CPU's registers: they are independent of every other CPU and invisible to
every property, the condition under which running them early preserves verdicts."""

import pytest
from conftest import SPECS

import invariants
import model
from checker.explore import explore
from model.kernel import PC_IDLE, PC_OP_DONE, STEPS, ConcreteView


class Recording(ConcreteView):
    def __init__(self, *a):
        self.touched = set()
        super().__init__(*a, fast=False)

    def _rd(self, idx):
        self.touched.add(idx)
        return super()._rd(idx)

    def _wr(self, idx, v):
        self.touched.add(idx)
        super()._wr(idx, v)


def test_some_steps_are_local():
    assert any(s.local for s in STEPS.values())


def check_local_steps(path) -> int:
    m = model.build(model.load(path), chain_local=False)
    ex = explore(m, invariants.properties_for(m), 2_000_000)
    th = m.layout.thread
    seen = 0
    for s in ex.states:
        for t in range(1, th.n + 1):
            pc = s[th.idx(t, "pc")]
            if pc in (PC_IDLE, PC_OP_DONE) or not STEPS[pc].local:
                continue
            k = Recording(m, s, t, [])
            k.step = STEPS[pc]
            STEPS[pc].fn(k)
            own = range(th.base + (t - 1) * th.stride, th.base + t * th.stride)
            assert k.touched <= set(own), (STEPS[pc].label, k.touched - set(own))
            seen += 1
    return seen


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_local_steps_touch_only_their_registers(path):
    check_local_steps(path)


def test_local_steps_are_examined():
    # delete runs two local steps: the check above is not vacuous
    assert check_local_steps(next(p for p in SPECS if p.stem == "selftest-skb-storage-ops")) >= 2
