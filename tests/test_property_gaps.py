"""Property clauses no shipped spec's verdict depends on, pinned directly.  A planted-bug
audit of invariants/properties.py (stop 61) found these slips caught by nothing: a NULL
pointer oops not counted as no_use_after_free, a double free of an ext not counted, a
selem linked on a storage whose free is pending counted as owned, and a failed
assertion on a thread's first op (global op 0) ignored.  Two clauses whose slips only
one spec's verdict caught (ext_of's copy-on-write window, uses()' active bits) are
pinned here too."""

import pytest
from conftest import explored_spec

from invariants.properties import Props
from model.layout import KIND_CODES, MEM_LIVE, MEM_NONE, MEM_RCU


def test_null_dereference_violates_no_use_after_free():
    """A kernel oops on a NULL pointer (KASAN reports no slot) is a
    no_use_after_free violation: cow-keeps-storage-delete-vs-free-refcnt-guard's
    delete dereferences SDATA(selem)->smap == NULL in bpf_selem_unlink_map."""
    m, ex = explored_spec("cow-keeps-storage-delete-vs-free-refcnt-guard.toml")
    p, uaf = Props(m), m.layout.G["obs_uaf"]
    oopses = [n for s in ex.states for info, n in m.successors(s)
              if any("NULL pointer dereference" in x for x in info[4])]
    assert oopses
    assert all(n[uaf] & 31 == 0 and not p.no_use_after_free(n) for n in oopses)


@pytest.mark.parametrize("kind", sorted(KIND_CODES))
@pytest.mark.parametrize("slot", [0, 1])
def test_every_kasan_code_is_a_violation(kind, slot):
    """obs_uaf / obs_dfree of any object kind (and a NULL pointer) violate."""
    m, ex = explored_spec("selftest-skb-storage-ops.toml")
    p, G = Props(m), m.layout.G
    s = ex.states[0]
    code = KIND_CODES[kind] << 5 | slot
    for obs, prop in (("obs_uaf", p.no_use_after_free), ("obs_dfree", p.no_double_free)):
        t = bytearray(s)
        t[G[obs]] = code
        assert prop(s) and not prop(bytes(t))


def test_selem_on_a_freed_storages_list_is_leaked():
    """A live selem still linked on a storage whose free is pending (mem RCU), which a
    live packet's ext still points at, is owned by nothing alive."""
    m, ex = explored_spec("selftest-skb-storage-ops.toml")
    p, L = Props(m), m.layout
    st = 1
    linked = [s for s in ex.states
              if s[L.storage.idx(st, "mem")] == MEM_LIVE and p.owned_storage(s, st)
              and any(s[L.selem.idx(q, "mem")] == MEM_LIVE and p.in_list(s, st, q)
                      for q in p.selems)]
    assert linked
    for s in linked:
        t = bytearray(s)
        t[L.storage.idx(st, "mem")] = MEM_RCU
        assert not p.no_leak(bytes(t))


def test_a_failed_assertion_on_the_first_op_is_a_violation(single):
    """The first op's number is 0, stored as 1 in obs_assert: an off-by-one there would
    drop exactly this case.  delete() on a packet with no storage returns -ENOENT (the
    RFC's selftest "delete non-existent"), not the 0 asserted; the later get holds."""
    _, ex, m = single(["delete(A, M) == 0", "get(A, M, create, 7) == 7", "end", "free(A)"])
    assert ex.verdicts["assertions"] == "violated"
    assert ex.states[ex.violations["assertions"]][m.layout.G["obs_assert"]] == 1


@pytest.mark.parametrize("table", ["ext", "storage", "selem"])
def test_an_allocated_object_nothing_owns_is_leaked(table):
    """Each kind has its own no_leak clause (the selem's was caught by one spec alone,
    mut-no-empty-recheck): an object allocated and linked nowhere, in a state where
    no_leak holds, breaks it."""
    m, ex = explored_spec("selftest-skb-storage-ops.toml")
    p, t = Props(m), getattr(m.layout, table)
    cases = [(s, i) for s in ex.states if p.no_leak(s) for i in range(1, t.n + 1)
             if s[t.idx(i, "mem")] == MEM_NONE]
    assert cases
    for s, i in cases[:50]:
        u = bytearray(s)
        u[t.idx(i, "mem")] = MEM_LIVE
        assert not p.no_leak(bytes(u))


def test_a_packet_inside_copy_on_write_counts_through_its_copy():
    """ext_of's window: while the CPU inside skb_ext_add()'s copy-on-write holds the
    copy (x_new), the packet reaches storage and counts as a user through the copy,
    not through the shared ext it is leaving to its clone.  In the audit, a slip there
    changed the verdict of one spec alone (cow-vs-clone-free-refcnt-guard)."""
    m, ex = explored_spec("cow-on-shared-ext.toml")
    p, L = Props(m), m.layout
    window = [(s, x, s[L.skb.idx(x, "ext")], new)
              for s in ex.states for t in range(1, L.thread.n + 1)
              for x, new in [(s[L.thread.idx(t, "a_skb")], s[L.thread.idx(t, "x_new")])]
              if x and new not in (0, s[L.skb.idx(x, "ext")])]
    assert len(window) >= 2  # the COW of A while its clone B shares the ext
    for s, x, old, new in window:
        st = p.sel(s, L.ext, old, "storage")
        assert st and p.reaching(s, st) and not p.reaching(s, st) & (1 << (x - 1))
        assert p.users(s, old) == p.users(s, old, now=True) + 1
        assert p.users(s, new, now=True) == 1


@pytest.mark.parametrize("name", ["selftest-skb-storage-ops.toml", "cow-on-shared-ext.toml"])
def test_a_packet_with_no_active_extension_uses_no_ext(name):
    """skb_ext_reset() clears active_extensions and leaves skb->extensions as it was:
    the packet then holds no ext (uses() reads the active bits), and an ext only it
    held is leaked, while one its clone still holds is not.  In the audit, a slip
    there changed the verdict of one spec alone (scrub-drops-extensions)."""
    m, ex = explored_spec(name)
    p, L = Props(m), m.layout
    cases = [(s, x, s[L.skb.idx(x, "ext")]) for s in ex.states if p.no_leak(s)
             for x in p.skbs
             if p.live(s, x) and s[L.skb.idx(x, "active")] and s[L.skb.idx(x, "ext")]]
    held = set()
    for s, x, e in cases:
        u = bytearray(s)
        u[L.skb.idx(x, "active")] = 0
        u = bytes(u)
        assert p.users(s, e) == p.users(u, e) + 1
        assert p.no_leak(u) == (p.users(u, e) > 0)
        held.add(p.users(u, e) > 0)
    # both sides: an ext left to nobody (leaked), and one a clone still holds
    assert held == ({False} if name.startswith("selftest") else {False, True})
