"""kernel/bpf/bpf_local_storage.c: the local storage core, step by step.

Objects: ``storage`` is struct bpf_local_storage (list, cache[], lock, owner,
owner_refcnt), ``selem`` is struct bpf_local_storage_elem (snode and map_node links,
local_storage, sdata.smap, state, the value), ``map`` is struct
bpf_local_storage_map (cache_idx, buckets with an rqspinlock each).

Atomic steps are cut by the rule of SEMANTICS.md section 4: a critical section is one
step when every field it touches is touched by others only under the same lock, and
each lock-free access that another CPU can race with (the lockless list walks and
cache read in lookup, unlink_nofail's pointer reads, owner_refcnt, the cmpxchg on the
owner's storage pointer, the writes that publish or clear those) is a step of its own.
The map bucket lists are read without the bucket lock only by map_free's walk, which
never overlaps a BPF program using the same map (a loaded program holds a reference
to its maps), so linking to / unlinking from a bucket under its lock joins the step
around it.
"""

from . import rcu, slab
from .errno import EAGAIN, EEXIST, ENOMEM
from .kernel import Proc
from .layout import (
    MAP_ALIVE,
    MAP_FREED,
    MAP_FREEING,
    NBUCKETS,
    PPREV_HEAD,
    REFCOUNT_SATURATED,
    SELEM_MAP_UNLINKED,
    SELEM_STORAGE_UNLINKED,
    SELEM_TOFREE,
    SELEM_UNLINKED,
    pprev_node,
    pprev_of,
)
from .refcount import refcount_dec, refcount_dec_and_test, refcount_inc_not_zero
from .rqspinlock import raw_res_spin_lock, raw_res_spin_unlock

FILE = "kernel/bpf/bpf_local_storage.c"

# ---------------------------------------------------------------------------------
# helpers (not steps): hlist operations and small accessors, each used inside a step


def select_bucket(k, local_storage):
    """select_bucket(): hash_ptr(local_storage, bucket_log); hash_ptr(NULL) is 0."""
    return k.pick(local_storage % NBUCKETS, 0, NBUCKETS - 1)


def cache_idx(k, m):
    return k.pick(k.map(m).cache_idx, 0, k.L.sizes.cache_slots - 1)


def cache_get(k, st, idx):
    return getattr(k.storage(st), f"cache{idx}")


def cache_set(k, st, idx, sdata):
    setattr(k.storage(st), f"cache{idx}", sdata)


def _selems(k):
    return range(k.L.selem.n + 1)  # bound for list walks


def _hlist_add_head(k, head_get, head_set, nxt, q):
    """hlist_add_head_rcu(n, h): n->next = first; n->pprev = &h->first;
    rcu_assign_pointer(h->first, n); if (first) first->pprev = &n->next."""
    first = head_get()
    e = k.selem(q)
    setattr(e, nxt, first)
    setattr(e, nxt[0] + "pprev", PPREV_HEAD)
    head_set(q)
    k.store_if_nonnull(k.L.selem, first, nxt[0] + "pprev", pprev_of(q))


def _hlist_del_init(k, head_set, nxt, q):
    """hlist_del_init_rcu(n): *n->pprev = n->next; if (next) next->pprev = n->pprev;
    n->pprev = NULL (the node keeps its next pointer for RCU readers).  No walk: the
    pprev pointer names the predecessor's next field (or the head).  Like the kernel's,
    a no-op on a node that is not hashed (pprev NULL)."""
    e = k.selem(q)
    pp = getattr(e, nxt[0] + "pprev")
    if pp == 0:  # hlist_unhashed(n)
        return
    n = getattr(e, nxt)
    if pp == PPREV_HEAD:
        head_set(n)
    else:
        setattr(k.selem(pprev_node(pp)), nxt, n)
    k.store_if_nonnull(k.L.selem, n, nxt[0] + "pprev", pp)
    setattr(e, nxt[0] + "pprev", 0)


def storage_link(k, st, q):
    """bpf_selem_link_storage_nolock(): local_storage = st; hlist_add_head_rcu(snode).

    Ghost ``g_ls``: the storage the selem was linked into.  The kernel links a selem
    into one storage at most (the one it was allocated for) and later only clears
    ->local_storage (bpf_selem_unlink_nofail()), so the ghost keeps what the pointer
    said; the lemmas use it for selems met through a stale ->snode.next."""
    k.selem(q).local_storage = st
    k.set_meta(k.L.selem, q, "g_ls", st)
    s = k.storage(st)
    _hlist_add_head(k, lambda: s.first, lambda v: setattr(s, "first", v), "snext", q)


def storage_unlink(k, st, q):
    """hlist_del_init_rcu(&selem->snode)."""
    s = k.storage(st)
    _hlist_del_init(k, lambda v: setattr(s, "first", v), "snext", q)


def linked_to_storage(k, q):
    """selem_linked_to_storage(): !hlist_unhashed(&selem->snode)."""
    return k.selem(q).spprev != 0


def linked_to_map(k, q):
    """selem_linked_to_map(): !hlist_unhashed(&selem->map_node)."""
    return k.selem(q).mpprev != 0


def storage_singular(k, st, q):
    """hlist_is_singular_node(&selem->snode, &local_storage->list)."""
    e = k.selem(q)
    return e.spprev == PPREV_HEAD and e.snext == 0


def map_link(k, m, b, q):
    """bpf_selem_link_map_nolock(): hlist_add_head_rcu(&selem->map_node, &b->list)."""
    mo = k.map(m)
    f = f"b{b}_first"
    _hlist_add_head(k, lambda: getattr(mo, f), lambda v: setattr(mo, f, v), "mnext", q)


def map_unlink(k, m, b, q):
    """hlist_del_init_rcu(&selem->map_node)."""
    mo = k.map(m)
    f = f"b{b}_first"
    _hlist_del_init(k, lambda v: setattr(mo, f, v), "mnext", q)


def bucket_lock(k, m, b):
    return raw_res_spin_lock(k, k.map(m), f"b{b}_lock")


def bucket_unlock(k, m, b):
    raw_res_spin_unlock(k, k.map(m), f"b{b}_lock")


def reach(k, st):
    """Ghost: the running program's packet passed the kfunc guard and reached ``st``."""
    x = k.reg.a_skb
    if x != 0:
        t = k.L.storage
        k.set_meta(t, st, "g_reached", k.meta(t, st, "g_reached") | (1 << (x - 1)))


def observe_lookup(k, m, q):
    """Observation for lookup_correct: a lookup for map m returned selem q."""
    k.set_g("obs_lookup_map", m)
    k.set_g("obs_lookup_got", k.meta(k.L.selem, q, "g_map"))


def fail(k, err):
    k.reg.err = err
    k.ret(0)


def selem_free(k, q):
    """bpf_selem_free(): call_rcu / call_rcu_tasks_trace (never kfree at once)."""
    if k.mut("no-rcu-defer"):
        rcu.kfree(k, k.L.selem, q)
    else:
        rcu.call_rcu(k, k.L.selem, q)


def storage_free(k, st):
    """bpf_local_storage_free(): kfree_rcu / call_rcu_tasks_trace."""
    if k.mut("no-rcu-defer"):
        rcu.kfree(k, k.L.storage, st)
    else:
        rcu.call_rcu(k, k.L.storage, st)


def selem_alloc(k, m):
    """bpf_selem_alloc(): kzalloc the selem, set sdata->smap, copy the initial value."""
    q = slab.alloc(k, k.L.selem)
    if q == 0:
        return 0
    e = k.selem(q)
    e.smap = m
    e.state = 0
    e.value = k.reg.a_val
    k.set_meta(k.L.selem, q, "g_writer", k.reg.a_skb)
    k.set_meta(k.L.selem, q, "g_map", m)
    return q


def lookup_nolock(k, st, m):
    """bpf_local_storage_lookup(local_storage, smap, false) with the storage lock held."""
    idx = cache_idx(k, m)
    sdata = cache_get(k, st, idx)
    if sdata != 0 and (k.mut("no-smap-check") or k.selem(sdata).smap == m):
        observe_lookup(k, m, sdata)
        return sdata
    q = walk_for_smap(k, st, m)
    if q != 0:
        observe_lookup(k, m, q)
    return q


def walk_for_smap(k, st, m):
    """hlist_for_each_entry_rcu(selem, &local_storage->list, snode): the first selem
    whose sdata->smap == smap, or 0.  Written as one value per hop (the loads of a
    hop happen only while the walk goes on) so that over symbolic bytes the walk
    does not fork at every hop; over concrete bytes it stops where the kernel's does."""
    t = k.L.selem
    q = k.storage(st).first
    found = 0
    for _ in _selems(k):
        live = q != 0
        if live is False:
            break
        hit = k._and(live, k.load_if(live, t, q, "smap") == m)
        found = k._ite(hit, q, found)
        if hit is True:
            break
        q = k.load_if(k._and(live, k._not(hit)), t, q, "snext")
    return found


# ---------------------------------------------------------------------------------
# bpf_local_storage_lookup(local_storage = g_storage, smap = a_map, cacheit = l_cacheit)

# static inline in the header since "bpf: Allow compiler to inline most of
# bpf_local_storage_lookup()"; its slow path calls __bpf_local_storage_insert_cache()
lookup = Proc("bpf_local_storage_lookup", "include/linux/bpf_local_storage.h",
              regs=("l_cacheit", "l_sdata"))


@lookup.step("sdata = cache[smap->cache_idx]; hit if sdata->smap == smap",
             short="sdata = cache[idx]; sdata->smap == smap?")
def lookup_cache(k):
    st, m = k.reg.g_storage, k.reg.a_map
    sdata = cache_get(k, st, cache_idx(k, m))
    if sdata != 0 and (k.mut("no-smap-check") or k.selem(sdata).smap == m):
        k.note("cache hit")
        observe_lookup(k, m, sdata)
        k.ret(sdata)
    else:
        k.goto(lookup_walk)


@lookup.step("hlist_for_each_entry_rcu(selem, &local_storage->list): sdata->smap == smap",
             short="walk local_storage->list")
def lookup_walk(k):
    st, m = k.reg.g_storage, k.reg.a_map
    q = walk_for_smap(k, st, m)
    if q == 0:
        k.note("not found")
        k.ret(0)
    elif k.reg.l_cacheit:
        k.reg.l_sdata = q
        k.goto(insert_cache)
    else:
        observe_lookup(k, m, q)
        k.ret(q)


@lookup.step(
    "lock local_storage; if (selem_linked_to_storage(selem)) cache[cache_idx] = sdata; unlock",
    func="__bpf_local_storage_insert_cache", file=FILE,
    short="lock; linked? cache[idx] = sdata; unlock")
def insert_cache(k):
    st, m, q = k.reg.g_storage, k.reg.a_map, k.reg.l_sdata
    idx = cache_idx(k, m)
    if k.mut("no-cache-recheck"):
        cache_set(k, st, idx, q)  # published with neither the lock nor the recheck
    else:
        s = k.storage(st)
        if raw_res_spin_lock(k, s, "lock") == 0:
            if linked_to_storage(k, q):
                cache_set(k, st, idx, q)
            else:
                k.note("selem already unlinked: not cached")
            raw_res_spin_unlock(k, s, "lock")
    observe_lookup(k, m, q)
    k.ret(q)


# ---------------------------------------------------------------------------------
# bpf_local_storage_update(owner = g_ext, smap = a_map, value = a_val, BPF_NOEXIST,
# GFP_ATOMIC).  Returns the new selem (0 on error, errno in reg.err).

update = Proc("bpf_local_storage_update", FILE, regs=("u_storage", "u_selem"))


@update.step("local_storage = rcu_dereference(*owner_storage(smap, owner)); hlist_empty(&list)",
             short="storage = owner->storage; list empty?")
def update_start(k):
    st = k.ext(k.reg.g_ext).storage
    if st != 0:
        reach(k, st)
    if st == 0 or k.storage(st).first == 0:
        k.goto(update_alloc)
    else:
        k.reg.u_storage = st
        k.goto(update_locked)


@update.step(
    "bpf_selem_alloc; kzalloc storage; link first_selem; lock bucket; link map; "
    "cmpxchg(owner_storage_ptr, NULL, storage); unlock",
    func="bpf_local_storage_alloc", short="alloc storage; cmpxchg(&owner->storage)")
def update_alloc(k):
    m, owner = k.reg.a_map, k.reg.g_ext
    q = selem_alloc(k, m)
    if q == 0:
        return fail(k, ENOMEM)
    st = slab.alloc(k, k.L.storage)
    if st == 0:
        selem_free(k, q)
        return fail(k, ENOMEM)
    s = k.storage(st)
    s.owner = owner
    s.owner_refcnt = 1
    storage_link(k, st, q)
    b = select_bucket(k, st)
    err = bucket_lock(k, m, b)
    if err:
        storage_free(k, st)
        selem_free(k, q)
        return fail(k, err)
    map_link(k, m, b, q)
    o = k.ext(owner)
    if k.mut("no-cmpxchg-publish"):
        o.storage = st  # plain store: a concurrent first publish is overwritten
    elif o.storage != 0:
        k.note("cmpxchg lost: -EAGAIN")
        map_unlink(k, m, b, q)
        bucket_unlock(k, m, b)
        storage_free(k, st)
        selem_free(k, q)
        return fail(k, EAGAIN)
    else:
        o.storage = st
    bucket_unlock(k, m, b)
    reach(k, st)
    k.ret(q)


@update.step(
    "bpf_selem_alloc; lock local_storage; recheck hlist_empty; lookup; lock bucket; "
    "link selem to map and storage; unlock both", short="lock storage; link new selem; unlock")
def update_locked(k):
    st, m = k.reg.u_storage, k.reg.a_map
    q = selem_alloc(k, m)
    if q == 0:
        return fail(k, ENOMEM)
    s = k.storage(st)
    err = raw_res_spin_lock(k, s, "lock")
    if err:
        selem_free(k, q)
        return fail(k, err)
    if s.first == 0 and not k.mut("no-empty-recheck"):
        k.note("list empty under the lock (parallel delete): -EAGAIN")
        raw_res_spin_unlock(k, s, "lock")
        selem_free(k, q)
        return fail(k, EAGAIN)
    if lookup_nolock(k, st, m) != 0:
        raw_res_spin_unlock(k, s, "lock")
        selem_free(k, q)
        return fail(k, EEXIST)
    b = select_bucket(k, st)
    err = bucket_lock(k, m, b)
    if err:
        raw_res_spin_unlock(k, s, "lock")
        selem_free(k, q)
        return fail(k, err)
    map_link(k, m, b, q)
    storage_link(k, st, q)
    bucket_unlock(k, m, b)
    raw_res_spin_unlock(k, s, "lock")
    k.ret(q)


# ---------------------------------------------------------------------------------
# bpf_selem_unlink(selem = g_sdata): the delete path.  Returns 0 or a lock error.

unlink = Proc("bpf_selem_unlink", FILE, regs=("s_ls", "s_mls", "s_last"))


@unlink.step("if (!selem_linked_to_storage_lockless(selem)) return 0", short="linked (lockless)?")
def selem_unlink(k):
    if not linked_to_storage(k, k.reg.g_sdata):
        k.note("already unlinked")
        k.ret(0)
    else:
        k.goto(selem_unlink_ls)


@unlink.step("local_storage = rcu_dereference_check(selem->local_storage, ...)",
             short="ls = selem->local_storage")
def selem_unlink_ls(k):
    """The lockless load of the storage whose lock bpf_selem_unlink() then takes.  A
    destroy's bpf_selem_unlink_nofail() clears the pointer without that lock (when its
    own attempt at the lock fails), so the load is a step of its own (SEMANTICS.md
    section 4, cutting rule): a delete may read the storage, then wait for its lock
    while another CPU holds it and a destroy clears the pointer."""
    k.reg.s_ls = k.selem(k.reg.g_sdata).local_storage
    k.goto(selem_unlink_locked)


@unlink.step(
    "lock local_storage; if (likely(selem_linked_to_storage(selem))) "
    "bpf_selem_unlink_map(selem)",
    short="lock storage; linked?")
def selem_unlink_locked(k):
    q = k.reg.g_sdata
    s = k.storage(k.reg.s_ls)
    err = raw_res_spin_lock(k, s, "lock")
    if err:
        return k.ret(err)
    if not linked_to_storage(k, q):
        raw_res_spin_unlock(k, s, "lock")
        return k.ret(0)
    k.goto(unlink_map_ls)


@unlink.step("local_storage = rcu_dereference_check(selem->local_storage, ...)",
             func="bpf_selem_unlink_map", short="map_ls = selem->local_storage")
def unlink_map_ls(k):
    """bpf_selem_unlink_map() reads selem->local_storage again, with the storage lock
    held.  A racing bpf_selem_unlink_nofail() of a destroy clears the pointer without
    that lock (even when its own storage lock attempt failed), so the load is a step of
    its own (SEMANTICS.md section 4, cutting rule)."""
    k.reg.s_mls = k.selem(k.reg.g_sdata).local_storage
    k.goto(unlink_map)


@unlink.step(
    "smap = rcu_dereference_check(SDATA(selem)->smap, ...); "
    "b = select_bucket(smap, local_storage); lock b; hlist_del_init_rcu(&selem->map_node); "
    "unlock b", func="bpf_selem_unlink_map", short="lock bucket; unlink from map; unlock")
def unlink_map(k):
    """The smap load and the bucket critical section are one step.  What could run
    between the load and the lock is a bpf_selem_unlink_nofail() unlinking the node
    and clearing smap; the delete would then find the node unhashed and oops on the
    NULL smap one step later, in bpf_selem_unlink_storage_nolock_misc(), with the
    same lock held: the same oops the model reaches here when the nofail runs first.

    select_bucket() reads smap->bucket_log: a NULL smap (cleared by a racing
    bpf_selem_unlink_nofail()) is a NULL pointer dereference.  The bucket is locked
    whether or not the selem is still linked to the map (hlist_del_init_rcu() is a
    no-op on an unhashed node).  A NULL local_storage (cleared by a destroy whose
    storage lock failed) hashes to bucket 0: the lock taken is then bucket 0's while
    hlist_del_init_rcu() writes through pprev into the bucket the selem was linked
    into (``s_ls``'s).  The model's hlist step is atomic, so an update racing on that
    bucket's list under its own lock cannot be seen corrupting it."""
    q, ls, mls = k.reg.g_sdata, k.reg.s_ls, k.reg.s_mls
    sm = k.selem(q).smap
    b = select_bucket(k, mls)
    err = bucket_lock(k, sm, b)
    if err:
        raw_res_spin_unlock(k, k.storage(ls), "lock")
        return k.ret(err)
    own = b  # the list the selem is on: select_bucket(smap, s_ls)
    if mls != ls:
        k.note("local_storage cleared by a destroy: bucket 0 locked")
        own = select_bucket(k, ls)
    map_unlink(k, sm, own, q)
    bucket_unlock(k, sm, b)
    k.reg.s_last = 1 if storage_singular(k, ls, q) else 0
    k.goto(unlink_misc_cache)


@unlink.step(
    "if (cache[smap->cache_idx] == SDATA(selem)) cache[smap->cache_idx] = NULL",
    func="bpf_selem_unlink_storage_nolock_misc", short="cache[idx] == sdata? cache[idx] = NULL")
def unlink_misc_cache(k):
    q, ls = k.reg.g_sdata, k.reg.s_ls
    idx = cache_idx(k, k.selem(q).smap)
    if not k.mut("no-cache-clear") and cache_get(k, ls, idx) == q:
        cache_set(k, ls, idx, 0)
    k.goto(unlink_misc_owner if k.reg.s_last else unlink_storage)


@unlink.step(
    "free_local_storage: local_storage->owner = NULL; *owner_storage(smap, owner) = NULL",
    func="bpf_selem_unlink_storage_nolock_misc", short="owner->storage = NULL (last selem)")
def unlink_misc_owner(k):
    s = k.storage(k.reg.s_ls)
    owner = s.owner
    s.owner = 0
    k.ext(owner).storage = 0
    k.goto(unlink_storage)


@unlink.step(
    "hlist_del_init_rcu(&selem->snode); unlock; bpf_selem_free_list; bpf_local_storage_free",
    short="hlist_del(snode); unlock; free (RCU)")
def unlink_storage(k):
    q, ls = k.reg.g_sdata, k.reg.s_ls
    storage_unlink(k, ls, q)
    raw_res_spin_unlock(k, k.storage(ls), "lock")
    selem_free(k, q)
    if k.reg.s_last:
        storage_free(k, ls)
    k.ret(0)


# ---------------------------------------------------------------------------------
# bpf_selem_unlink_nofail(selem = n_selem, b = n_bucket - 1 or NULL when n_bucket == 0)
# The destroy / map_free race.

nofail = Proc(
    "bpf_selem_unlink_nofail", FILE,
    regs=("n_selem", "n_ls", "n_sm", "n_bucket", "n_unlink", "n_free", "n_err", "n_pinned"),
)


def _in_map_free(k):
    return k.reg.n_bucket != 0


def _nofail_to_storage_or_state(k):
    if k.reg.n_ls != 0:
        k.goto(nofail_storage)
    else:
        _nofail_to_state(k)


def _nofail_to_state(k):
    k.goto(nofail_state if k.reg.n_unlink != 2 else nofail_free)


def _nofail_after_storage_lock(k):
    """if (!err || !in_map_free) RCU_INIT_POINTER(selem->local_storage, NULL)"""
    if k.reg.n_err == 0 or not _in_map_free(k):
        k.goto(nofail_clear_ls)
    else:
        _nofail_to_state(k)


@nofail.step("local_storage = rcu_dereference_check(selem->local_storage, ...)",
             short="ls = selem->local_storage")
def nofail_start(k):
    """N0, first load.  The kernel reads the two pointers with two separate
    rcu_dereference_check()s, and both fields are cleared by other CPUs without a
    common lock, so each load is a step (SEMANTICS.md section 4, cutting rule)."""
    k.reg.n_ls = k.selem(k.reg.n_selem).local_storage
    k.goto(nofail_smap)


@nofail.step("smap = rcu_dereference_check(SDATA(selem)->smap, ...); if (smap) ...",
             short="sm = selem->smap")
def nofail_smap(k):
    """N0, second load: a CPU that cleared ``selem->smap`` since the first load is seen."""
    k.reg.n_sm = k.selem(k.reg.n_selem).smap
    if k.reg.n_sm != 0:
        k.goto(nofail_map)
    else:
        _nofail_to_storage_or_state(k)


@nofail.step(
    "b = b ?: select_bucket(smap, local_storage); lock b; "
    "if (selem_linked_to_map(selem)) { hlist_del_init_rcu(&selem->map_node); unlink++ }; unlock; "
    "WARN_ON_ONCE(err && in_map_free)",
    short="lock bucket; unlink map_node; unlock")
def nofail_map(k):
    r = k.reg
    q, m = r.n_selem, r.n_sm
    in_map_free = _in_map_free(k)
    b = k.pick(r.n_bucket - 1, 0, NBUCKETS - 1) if in_map_free else select_bucket(k, r.n_ls)
    err = bucket_lock(k, m, b)
    if err == 0:
        if linked_to_map(k, q):
            map_unlink(k, m, b, q)
            r.n_unlink = r.n_unlink + 1
        bucket_unlock(k, m, b)
    elif in_map_free:
        k.observe_first("obs_nofail_warn", True, q)
        k.note("WARN_ON_ONCE(err && in_map_free)")
    r.n_err = err
    if err == 0 or in_map_free:
        k.goto(nofail_clear_smap)
    else:
        _nofail_to_storage_or_state(k)


@nofail.step("if (!err || in_map_free) RCU_INIT_POINTER(SDATA(selem)->smap, NULL)",
             short="selem->smap = NULL")
def nofail_clear_smap(k):
    k.selem(k.reg.n_selem).smap = 0
    _nofail_to_storage_or_state(k)


@nofail.step(
    "lock local_storage; if (selem_linked_to_storage(selem)) { free_storage = "
    "hlist_is_singular_node(); [if (smap && in_map_free) misc: clear cache slot] "
    "hlist_del_init_rcu(snode) }",
    short="lock storage; free_storage = last?")
def nofail_storage(k):
    r = k.reg
    q, ls = r.n_selem, r.n_ls
    s = k.storage(ls)
    err = raw_res_spin_lock(k, s, "lock")
    r.n_err = err
    if err:
        return _nofail_after_storage_lock(k)
    if linked_to_storage(k, q):
        r.n_free = 1 if storage_singular(k, ls, q) else 0
        if r.n_sm != 0 and _in_map_free(k):
            # bpf_selem_unlink_storage_nolock_misc(selem, smap, ls, free_storage, true)
            idx = cache_idx(k, r.n_sm)
            if not k.mut("no-cache-clear") and cache_get(k, ls, idx) == q:
                cache_set(k, ls, idx, 0)
            return k.goto(nofail_pin)  # the storage lock stays held
        storage_unlink(k, ls, q)
        r.n_unlink = r.n_unlink + 1
    raw_res_spin_unlock(k, s, "lock")
    _nofail_after_storage_lock(k)


@nofail.step(
    "if (pin_owner && !refcount_inc_not_zero(&local_storage->owner_refcnt)) return",
    func="bpf_selem_unlink_storage_nolock_misc", short="refcount_inc_not_zero(owner_refcnt)")
def nofail_pin(k):
    r = k.reg
    if k.mut("no-owner-pin"):
        pinned = True
    else:
        pinned = refcount_inc_not_zero(k, k.storage(r.n_ls), "owner_refcnt")
        r.n_pinned = 1 if pinned else 0
    if not pinned:
        k.note("owner_refcnt is 0: owner going away, misc skipped")
        k.goto(nofail_unlink_storage)
    elif r.n_free:
        k.goto(nofail_owner)
    elif r.n_pinned:
        k.goto(nofail_unpin)
    else:
        k.goto(nofail_unlink_storage)


@nofail.step(
    "free_local_storage: local_storage->owner = NULL; *owner_storage(smap, owner) = NULL",
    func="bpf_selem_unlink_storage_nolock_misc", short="owner->storage = NULL (writes the ext)")
def nofail_owner(k):
    """Ghost ``g_cleared``: the map whose map_free cleared the owner's pointer.  Only
    the lemmas read it: with two maps, it says which map_free's synchronize_rcu() must
    wait for a destroy of this storage."""
    s = k.storage(k.reg.n_ls)
    owner = s.owner
    s.owner = 0
    k.ext(owner).storage = 0  # a write into the owner: the skb_ext
    k.set_meta(k.L.storage, k.reg.n_ls, "g_cleared", k.reg.a_map)
    k.goto(nofail_unpin if k.reg.n_pinned else nofail_unlink_storage)


@nofail.step("refcount_dec(&local_storage->owner_refcnt)",
             func="bpf_selem_unlink_storage_nolock_misc", short="refcount_dec(owner_refcnt)")
def nofail_unpin(k):
    if not k.mut("no-owner-unpin"):
        refcount_dec(k, k.storage(k.reg.n_ls), "owner_refcnt")
    k.goto(nofail_unlink_storage)


@nofail.step("hlist_del_init_rcu(&selem->snode); unlink++; unlock local_storage",
             short="hlist_del(snode); unlock")
def nofail_unlink_storage(k):
    r = k.reg
    storage_unlink(k, r.n_ls, r.n_selem)
    r.n_unlink = r.n_unlink + 1
    raw_res_spin_unlock(k, k.storage(r.n_ls), "lock")
    _nofail_after_storage_lock(k)


@nofail.step("if (!err || !in_map_free) RCU_INIT_POINTER(selem->local_storage, NULL)",
             short="selem->local_storage = NULL")
def nofail_clear_ls(k):
    """Only a destroy reaches here with ``err`` set (its storage lock timed out).  The
    RFC's base has no WARN at this point; bpf-next added one on 2026-03-19 (commit
    4b21ea502483, "bpf: Add warning to detect memory leak in
    bpf_selem_unlink_nofail()"), whose comment describes the leak that can follow: a
    map_free that reaches the selem later loads a NULL ``local_storage``, so nobody
    frees the storage (finding 4).  The trace says so; the state does not change."""
    k.trace_note(lambda: k.reg.n_err != 0,
                 lambda: "bpf-next (since 2026-03-19): WARN_ON_ONCE(err && !in_map_free)")
    k.selem(k.reg.n_selem).local_storage = 0
    _nofail_to_state(k)


@nofail.step("if (unlink != 2) atomic_or(in_map_free ? SELEM_MAP_UNLINKED : "
             "SELEM_STORAGE_UNLINKED, "
             "&selem->state) (rfc-fix: not in map_free while "
             "!hlist_unhashed_lockless(&selem->map_node))",
             short="atomic_or(state, *_UNLINKED)")
def nofail_state(k):
    """N3: this side is done with the selem.  rfc-fix (not in the kernel): map_free is
    not done with a selem the bucket still links (its bucket lock timed out, on this
    visit or an earlier one), so it sets no bit and nobody frees the selem while its
    walk can still reach it (finding 4, third bullet); the selem leaks instead, as the
    kernel's comment on the WARN path accepts."""
    q = k.reg.n_selem
    in_map_free = _in_map_free(k)
    if k.design == "rfc-fix" and in_map_free and linked_to_map(k, q):
        k.note("rfc-fix: the bucket still links the selem: no SELEM_MAP_UNLINKED (leak)")
    else:
        e = k.selem(q)
        e.state = e.state | (SELEM_MAP_UNLINKED if in_map_free else SELEM_STORAGE_UNLINKED)
    k.goto(nofail_free)


@nofail.step(
    "if (unlink == 2 || atomic_cmpxchg(&state, SELEM_UNLINKED, SELEM_TOFREE) == SELEM_UNLINKED) "
    "bpf_selem_free(); if (free_storage) bpf_local_storage_free()",
    short="unlink == 2 || cmpxchg(state)? free")
def nofail_free(k):
    r = k.reg
    q = r.n_selem
    unl = r.n_unlink
    if unl == 2:
        free = True
    elif k.mut("no-nofail-state"):
        free = unl != 0
    else:
        e = k.selem(q)
        free = e.state == SELEM_UNLINKED
        if free:
            e.state = SELEM_TOFREE
        else:
            k.note("the other side frees it")
    if free:
        selem_free(k, q)
    if r.n_free:
        storage_free(k, r.n_ls)
    k.ret()


# ---------------------------------------------------------------------------------
# bpf_local_storage_destroy(local_storage = d_storage): the owner is going away.

destroy = Proc("bpf_local_storage_destroy", FILE, regs=("d_storage", "d_cursor"))


def _destroy_visit(k, cur):
    if cur == 0:
        k.goto(destroy_unpin)
    else:
        k.reg.d_cursor = cur
        k.reg.n_selem = cur
        k.reg.n_bucket = 0
        k.call(nofail_start, destroy_next)


@destroy.step("hlist_for_each_entry_rcu(selem, &local_storage->list, snode): first",
              short="walk storage->list: first selem")
def destroy_start(k):
    _destroy_visit(k, k.storage(k.reg.d_storage).first)


@destroy.step("hlist_for_each_entry_rcu(...): selem = selem->snode.next", short="walk: next selem")
def destroy_next(k):
    _destroy_visit(k, k.selem(k.reg.d_cursor).snext)


@destroy.step("refcount_dec_and_test(&local_storage->owner_refcnt)",
              short="refcount_dec_and_test(owner_refcnt)")
def destroy_unpin(k):
    if k.mut("no-owner-pin"):
        k.ret()
    elif refcount_dec_and_test(k, k.storage(k.reg.d_storage), "owner_refcnt"):
        k.ret()
    else:  # a pin by map_free's misc, or a count a refcount WARN saturated
        st = k.storage(k.reg.d_storage)
        k.trace_note(lambda: True, lambda: (
            "owner_refcnt saturated: the wait never ends"
            if st.owner_refcnt == REFCOUNT_SATURATED else "owner pinned by map_free: wait"))
        k.goto(destroy_wait)


@destroy.step("while (refcount_read(&local_storage->owner_refcnt)) cpu_relax()",
              short="while (owner_refcnt) cpu_relax()")
def destroy_wait(k):
    if k.storage(k.reg.d_storage).owner_refcnt != 0:
        k.block()
    k.ret()


# ---------------------------------------------------------------------------------
# bpf_local_storage_map_alloc / bpf_local_storage_map_free (maps: a_map)

map_alloc = Proc("bpf_local_storage_map_alloc", FILE)


def cache_idx_get(k):
    """bpf_local_storage_cache_idx_get(): the least used slot, the first zero wins."""
    G = k.L.G
    res, best = 0, None
    for i in range(k.L.sizes.cache_slots):
        u = k._rd(G[f"idx_usage{i}"])
        if best is None or u < best:
            best, res = u, i
            if u == 0:
                break
    k._wr(G[f"idx_usage{res}"], k._rd(G[f"idx_usage{res}"]) + 1)
    return res


@map_alloc.step("smap->cache_idx = bpf_local_storage_cache_idx_get(&skb_cache)",
                short="cache_idx = cache_idx_get()")
def map_alloc_step(k):
    m = k.reg.a_map
    k.set_meta(k.L.map, m, "mem", MAP_ALIVE)
    k.map(m).cache_idx = cache_idx_get(k)
    k.ret()


map_free = Proc("bpf_local_storage_map_free", FILE, regs=("m_bucket", "m_cursor"))


@map_free.step("bpf_local_storage_cache_idx_free(cache, smap->cache_idx); synchronize_rcu() starts",
               short="cache_idx_free(); synchronize_rcu()")
def map_free_start(k):
    m = k.reg.a_map
    idx = cache_idx(k, m)
    if not k.mut("no-cache-idx-free"):
        name = f"idx_usage{idx}"
        k.set_g(name, k.g(name) - 1)
    k.set_meta(k.L.map, m, "mem", MAP_FREEING)
    rcu.synchronize_rcu_start(k)
    k.goto(map_free_bucket)


def _map_free_visit(k, cur):
    r = k.reg
    if cur != 0:
        r.m_cursor = cur
        r.n_selem = cur
        r.n_bucket = r.m_bucket + 1
        return k.call(nofail_start, map_free_next)
    rcu.rcu_read_unlock(k)
    nb = r.m_bucket + 1
    r.m_cursor = 0
    if nb < NBUCKETS:
        r.m_bucket = nb
        k.goto(map_free_bucket)
    else:
        r.m_bucket = 0
        rcu.synchronize_rcu_start(k)
        k.goto(map_free_finish)
    k.note("bucket done: rcu_read_unlock()")


@map_free.step("for each bucket b (the first once synchronize_rcu() returned): "
               "rcu_read_lock(); hlist_for_each_entry_rcu(&b->list): first",
               short="rcu_read_lock(); walk bucket: first")
def map_free_bucket(k):
    rcu.synchronize_rcu_wait(k)
    rcu.rcu_read_lock(k)
    b, first = _bucket_first(k)
    k.note(f"bucket {b}" + ("" if first else ": empty"))
    _map_free_visit(k, first)


def _bucket_first(k):
    """b = &smap->buckets[i]; hlist_first_rcu(&b->list)"""
    b = k.pick(k.reg.m_bucket, 0, NBUCKETS - 1)
    return b, getattr(k.map(k.reg.a_map), f"b{b}_first")


@map_free.step("if (need_resched()) { cond_resched_rcu(); goto restart; } "
               "hlist_for_each_entry_rcu(...): selem = selem->map_node.next",
               short="need_resched()? cond_resched_rcu() : next selem")
def map_free_next(k):
    """After each selem: ``need_resched()`` is the scheduler's, so either way may be
    taken.  ``cond_resched_rcu()`` is rcu_read_unlock(); cond_resched();
    rcu_read_lock(): the read-side section ends here (a grace period may complete
    before :func:`map_free_restart` takes it again) and the walk restarts at the
    bucket's first selem.  With ``[spec] preempt_rcu`` (CONFIG_PREEMPT_RCU)
    cond_resched_rcu() is empty and the section goes on."""
    if k.choose(2) == 1:
        if k.model.spec.preempt_rcu:  # cond_resched_rcu() is empty
            k.note("need_resched(): restart the bucket (CONFIG_PREEMPT_RCU: "
                   "cond_resched_rcu() is empty)")
        else:
            k.note("need_resched(): cond_resched_rcu(), restart the bucket")
            rcu.rcu_read_unlock(k)
        return k.goto(map_free_restart)
    _map_free_visit(k, k.selem(k.reg.m_cursor).mnext)


@map_free.step("(cond_resched_rcu) rcu_read_lock(); restart: hlist_for_each_entry_rcu(&b->list): "
               "first", short="rcu_read_lock(); restart: first selem")
def map_free_restart(k):
    if not k.model.spec.preempt_rcu:
        rcu.rcu_read_lock(k)
    _map_free_visit(k, _bucket_first(k)[1])


@map_free.step("synchronize_rcu(); rcu_barrier_tasks_trace(); rcu_barrier(); free buckets and smap",
               short="synchronize_rcu(); rcu_barrier(); free map")
def map_free_finish(k):
    rcu.synchronize_rcu_wait(k)
    rcu.rcu_barrier(k)
    k.set_meta(k.L.map, k.reg.a_map, "mem", MAP_FREED)
    k.ret()
