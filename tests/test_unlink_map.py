"""bpf_selem_unlink_map() (torvalds/linux) reads selem->local_storage and
SDATA(selem)->smap again after bpf_selem_unlink() has taken the storage lock, and
picks the bucket to lock from them.  A destroy's bpf_selem_unlink_nofail() clears
local_storage without that lock (even when its own storage lock attempt failed), so
the re-read is a step of its own, and the delete can lock bucket 0 (hash_ptr(NULL))
while hlist_del_init_rcu() removes the selem from the bucket it was linked into."""

import dataclasses

from conftest import ROOT

import invariants
import model
from checker.explore import explore
from model.bpf_local_storage import selem_unlink_locked, unlink_map
from model.kernel import step_of
from model.layout import NBUCKETS

SPEC = ROOT / "specs" / "cow-keeps-storage-delete-vs-free-refcnt-guard.toml"


def test_a_destroy_with_two_lock_failures_makes_delete_lock_the_wrong_bucket():
    spec = model.load(SPEC)
    # the destroy's bucket lock and storage lock both time out: smap stays, and
    # local_storage is cleared anyway (!in_map_free)
    spec = dataclasses.replace(spec, lock_failures=2)
    m = model.build(spec)
    ex = explore(m, invariants.properties_for(m), 200_000)
    assert ex.complete
    L = m.layout
    th, q = L.thread, 1  # selem1, linked into storage1
    pc_unlink_map = step_of(unlink_map).code
    head = f"b{1 % NBUCKETS}_first"  # storage1's bucket: select_bucket(smap, storage1)
    assert head != "b0_first"
    wrong = [s for s in ex.states for t in range(1, th.n + 1)
             if s[th.idx(t, "pc")] == pc_unlink_map and s[th.idx(t, "s_mls")] == 0
             and s[L.selem.idx(q, "smap")] != 0 and s[L.selem.idx(q, "mpprev")] != 0]
    assert wrong, "no delete re-reads a NULL local_storage with smap still set"
    s = wrong[0]
    assert s[L.map.idx(1, head)] == q
    moved = [n for _, n in m.successors(s) if n[L.selem.idx(q, "mpprev")] == 0]
    assert moved, "the delete's hlist_del_init_rcu() does not run"
    # the selem leaves its own bucket's list, whose lock nobody took, and bucket 0's
    # list (the bucket the delete locked) is untouched
    assert all(n[L.map.idx(1, head)] != q for n in moved)
    assert all(n[L.map.idx(1, "b0_first")] == s[L.map.idx(1, "b0_first")] for n in moved)


def test_delete_may_read_the_storage_then_wait_for_its_lock():
    """bpf_selem_unlink() loads selem->local_storage without a lock, then takes that
    storage's lock: a step apart (selem_unlink_ls), so that a delete can hold the
    pointer it read while a destroy's bpf_selem_unlink_nofail() clears it, as the
    kernel's can; a delete that reads it after the clear holds NULL (finding 3)."""
    m = model.build(model.load(SPEC))
    ex = explore(m, invariants.properties_for(m), 200_000)
    assert ex.complete
    L = m.layout
    th, pc = L.thread, step_of(selem_unlink_locked).code
    at_lock = [(s, t) for s in ex.states for t in range(1, th.n + 1)
               if s[th.idx(t, "pc")] == pc]
    cleared = [(s, t) for s, t in at_lock
               if s[L.selem.idx(s[th.idx(t, "g_sdata")], "local_storage")] == 0]
    read_before = [(s, t) for s, t in cleared if s[th.idx(t, "s_ls")] != 0]
    read_after = [(s, t) for s, t in cleared if s[th.idx(t, "s_ls")] == 0]
    assert read_before and read_after
    assert len(read_before) == len(read_after) == 6  # of 288 states (README)


def test_a_lock_held_by_a_killed_task_times_out():
    """rqspinlock never waits forever (check_timeout(): -ETIMEDOUT after
    RES_DEF_TIMEOUT).  The delete oopses holding storage1's lock (the NULL smap of
    finding 3), so destroy's bpf_selem_unlink_nofail() times out on it: certainly, so
    without spending the lock failure budget; every state can still reach the end
    (until 2026-12-06 the destroy waited forever, a no_deadlock violation)."""
    for failures in (0, 1):
        spec = dataclasses.replace(model.load(SPEC), lock_failures=failures)
        m = model.build(spec)
        ex = explore(m, invariants.properties_for(m), 200_000)
        assert ex.complete and "no_deadlock" not in ex.violations
        edges = [(s, info[4], n) for s in ex.states for info, n in m.successors(s)]
        assert any("oops: NULL pointer dereference; the task is killed" in notes
                   for _, notes, _ in edges)
        budget = m.layout.G["lock_budget"]
        timed_out = [(s, n) for s, notes, n in edges
                     if any("held by a killed task" in x for x in notes)]
        assert timed_out
        assert all(n[budget] == s[budget] for s, n in timed_out)
        # and the killed task's lock is still held afterwards: nobody released it
        lock = m.layout.storage.idx(1, "lock")
        assert all(n[lock] != 0 for _, n in timed_out)
