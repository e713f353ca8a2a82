"""Hypothesis drives random op sequences through the model, one atomic step at a time,
checking the state properties after every step.

SafetyMachine: two CPUs run random programs on the refcount-guard design (packets are
owned by one CPU at a time, as in the kernel; ext_del is left out because its COW
corner breaks the design, see specs/cow-keeps-storage-after-ext-del.toml).  Every
safety property must hold in every state, no_leak in every final state.

AnyMachine: the RFC as posted, with ext_del, failure budgets and random mutations:
properties may break, but the model itself must stay consistent (no internal error,
every pointer in range, locks held only inside ops).
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import invariants
import model
from checker.explore import explore
from model.designs import MUTATIONS
from model.kernel import PC_IDLE

MAPS = ["M", "N"]
SAFE = ("no_shared_storage", "no_use_after_free", "no_double_free", "cache_consistent",
        "lookup_correct", "refcount_sane", "accounting", "assertions")


@st.composite
def programs(draw, ext_del=False):
    """Two CPUs' op lists; A starts on cpu0, clones/copies go to either CPU."""
    owner = {"A": 0}
    progs = [[], []]
    if draw(st.integers(0, 4)):  # usually: A starts with storage
        progs[0] += [f"get(A, {draw(st.sampled_from(MAPS))}, create)", "end"]
    pending = ["B", "C"]
    vals = [0, 1, 0x99]
    got = [set(), set()]  # per CPU, the (packet, map) its current program run got
    for _ in range(draw(st.integers(3, 10))):
        live = [x for x, t in owner.items() if t is not None]
        if not live:
            break
        x = draw(st.sampled_from(live))
        t = owner[x]
        kinds = ["get", "get", "getc", "getc", "write", "read", "delete", "unclone",
                 "ext_add", "scrub", "end", "free"] + (
                     ["clone", "copy", "clone", "copy"] if pending else []) + (
                     ["ext_del"] if ext_del else [])
        k = draw(st.sampled_from(kinds))
        m = draw(st.sampled_from(MAPS))
        v = draw(st.sampled_from(vals))
        if k in ("write", "read") and (x, m) not in got[t]:
            k = "get"  # a program writes and reads only through a pointer it got
        if k in ("get", "getc"):
            got[t].add((x, m))
        elif k not in ("write", "read", "delete"):  # any other op ends the run
            got[t] = set()
        if k in ("clone", "copy"):
            y = pending.pop(0)
            owner[y] = draw(st.integers(0, 1))
            progs[t].append(f"{k}({x}) -> {y}")
        elif k == "getc":
            progs[t].append(f"get({x}, {m}, create, {v})")
        elif k in ("get", "read", "delete"):
            progs[t].append(f"{k}({x}, {m})")
        elif k == "write":
            progs[t].append(f"write({x}, {m}, {v})")
        elif k == "end":
            progs[t].append("end")
        elif k == "free":
            progs[t].append(f"free({x})")
            owner[x] = None
        else:
            progs[t].append(f"{k}({x})")
    if draw(st.booleans()):
        progs[draw(st.integers(0, 1))].append(f"map_free({draw(st.sampled_from(MAPS))})")
    return progs


def make_spec(progs, design="rfc-refcnt-guard", mutations=(), locks=0, allocs=0):
    threads = "".join(
        f'[[thread]]\nname = "cpu{i}"\nops = [{", ".join(repr(o) for o in p)}]\n'
        .replace("'", '"') for i, p in enumerate(progs) if p)
    text = (f'[spec]\ndesign = "{design}"\nmutations = {list(mutations)!r}\n'
            f"[bounds]\nlock_failures = {locks}\nalloc_failures = {allocs}\n"
            '[objects]\nskbs = ["A"]\nmaps = ["M", "N"]\n' + threads).replace("'", '"')
    import tomllib

    return model.parse(tomllib.loads(text), "random.toml")


class _Walk(RuleBasedStateMachine):
    def start(self, spec):
        self.m = model.build(spec)
        self.props = {p.name: p for p in invariants.properties_for(self.m)}
        self.s = self.m.initial_states()[0]
        self.trail = [spec.threads]

    @rule(data=st.data())
    def step(self, data):
        succ = self.m.successors(self.s)
        if succ:
            label, self.s = data.draw(st.sampled_from(succ))
            self.trail.append(self.m.label_parts(label)["steps"])

    @invariant()
    def consistent(self):
        L = self.m.layout
        for t in range(1, L.thread.n + 1):
            if self.s[L.thread.idx(t, "pc")] == PC_IDLE:
                for tb, f in ((L.storage, "lock"), (L.map, "b0_lock"), (L.map, "b1_lock")):
                    for i in range(1, tb.n + 1):
                        assert self.s[tb.idx(i, f)] != t, "lock held outside an op"
        for tb, f, target in ((L.skb, "ext", L.ext), (L.ext, "storage", L.storage),
                              (L.storage, "first", L.selem), (L.selem, "snext", L.selem),
                              (L.selem, "mnext", L.selem), (L.storage, "owner", L.ext)):
            for i in range(1, tb.n + 1):
                assert self.s[tb.idx(i, f)] <= target.n


class SafetyMachine(_Walk):
    @initialize(progs=programs())
    def init(self, progs):
        self.start(make_spec(progs))

    @invariant()
    def safety(self):
        if not hasattr(self, "m"):
            return
        for name in SAFE:
            assert self.props[name].check(self.s), (name, self.props[name].why(self.s),
                                                    self.trail)
        if self.m.is_final(self.s):
            assert self.props["no_leak"].check(self.s), self.props["no_leak"].why(self.s)

    @invariant()
    def consistent(self):
        if hasattr(self, "m"):
            super().consistent()


class AnyMachine(_Walk):
    @initialize(progs=programs(ext_del=True), mut=st.sampled_from([None, *MUTATIONS]),
                locks=st.integers(0, 1), allocs=st.integers(0, 1))
    def init(self, progs, mut, locks, allocs):
        self.start(make_spec(progs, "rfc", [mut] if mut else [], locks, allocs))

    @invariant()
    def consistent(self):
        if hasattr(self, "m"):
            super().consistent()


common = settings(max_examples=150, stateful_step_count=80, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow])
TestSafety = SafetyMachine.TestCase
TestSafety.settings = common
TestAny = AnyMachine.TestCase
TestAny.settings = common


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(progs=programs())
def test_random_programs_exhaustive(progs):
    """The same random programs, explored exhaustively (every interleaving, not one walk):
    on the refcount-guard design every safety property and no_leak hold.  This found the
    stale-ext artefact of specs/cow-vs-clone-free-refcnt-guard.toml within 600
    examples, where the walk above needed luck."""
    m = model.build(make_spec(progs))
    props = [p for p in invariants.properties_for(m) if p.name in SAFE + ("no_leak",)]
    ex = explore(m, props, 300_000)
    assert ex.complete
    bad = {k: v for k, v in ex.verdicts.items() if v == "violated"}
    assert not bad, (bad, progs)
