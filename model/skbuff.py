"""net/core/skbuff.c and include/linux/skbuff.h: skb extensions, clone/copy, free.

An skb has ``cloned``, ``active`` (active_extensions) and ``ext`` (extensions).  An
skb_ext has ``refcnt`` (refcount_t), ``present`` (the ids whose offset[] is set: the
data area exists, whether or not any skb has the id active) and ``storage`` (the
RFC's struct bpf_skb_storage_ext).  Clone and copy share the ext (refcnt + 1); they
differ only in the ``cloned`` bits.
"""

from . import rcu, slab
from .kernel import Proc
from .layout import MEM_FREED, MEM_LIVE, SKB_EXT_BPF_STORAGE
from .refcount import refcount_dec_and_test, refcount_inc, refcount_read

FILE = "net/core/skbuff.c"

# ---------------------------------------------------------------------------------
# __skb_ext_put(ext = p_ext)

ext_put = Proc("__skb_ext_put", FILE, regs=("p_ext",))


@ext_put.step("if (refcount_read(&ext->refcnt) == 1) goto free_now; "
              "if (!refcount_dec_and_test(&ext->refcnt)) return",
              short="refcnt == 1 || dec_and_test(refcnt)?")
def skb_ext_put(k):
    e = k.ext(k.reg.p_ext)
    if refcount_read(k, e, "refcnt") != 1 and not refcount_dec_and_test(k, e, "refcnt"):
        return k.ret()
    # free_now: destructors run for every id whose offset is set (present), whatever
    # the skbs had active.  The RFC adds bpf_skb_storage_free() for BPF_STORAGE.
    if (e.present & SKB_EXT_BPF_STORAGE) and not k.mut("no-ext-destroy"):
        from .bpf_skb_storage import skb_storage_free

        k.call(skb_storage_free, skb_ext_free)
    else:
        k.goto(skb_ext_free)


@ext_put.step("free_now: kmem_cache_free(skbuff_ext_cache, ext)", short="kmem_cache_free(ext)")
def skb_ext_free(k):
    rcu.kfree(k, k.L.ext, k.reg.p_ext)
    k.ret()


# ---------------------------------------------------------------------------------
# skb_ext_add(skb = a_skb, id = x_id): returns the ext (0 when allocation failed)

ext_add = Proc("skb_ext_add", FILE, regs=("x_id", "x_old", "x_new", "x_active"))


def _set_active(k, skb, new, id_):
    """if (__skb_ext_exist(new, id)) goto set_active (data reused, NOT cleared); else
    append a data area; set_active: skb->extensions = new; active |= 1 << id."""
    e = k.ext(new)
    if e.present & id_:
        k.note("offset[id] already set: data area reused without clearing")
    else:
        e.present = e.present | id_
        if id_ == SKB_EXT_BPF_STORAGE:
            e.storage = 0  # a fresh chunk (its contents are undefined; the RFC sets NULL)
    skb.ext = new
    skb.active = skb.active | id_


@ext_add.step("if (skb->active_extensions) skb_ext_maybe_cow(old): refcount_read(&old->refcnt) "
              "== 1 keeps old; else __skb_ext_alloc()",
              short="refcnt == 1? keep ext : COW (or alloc)")
def skb_ext_add(k):
    skb = k.skb(k.reg.a_skb)
    if skb.active != 0:
        return _maybe_cow(k, skb, skb.ext)
    _alloc_first(k, skb)


def _maybe_cow(k, skb, old):
    """skb_ext_maybe_cow(old): refcount_read(&old->refcnt) == 1 keeps old."""
    if refcount_read(k, k.ext(old), "refcnt") == 1:
        k.note("refcnt 1: the ext is this skb's own, no copy")
        _set_active(k, skb, old, k.reg.x_id)
        return k.ret(old)
    k.note("ext shared: copy on write")
    k.reg.x_old = old
    k.goto(skb_ext_cow)


def _alloc_first(k, skb):
    """No extensions yet: new = __skb_ext_alloc(GFP_ATOMIC); set_active."""
    k.note("no extensions yet: __skb_ext_alloc()")
    new = slab.alloc(k, k.L.ext)
    if new == 0:
        return k.ret(0)
    e = k.ext(new)
    e.refcnt = 1
    e.present = 0
    _set_active(k, skb, new, k.reg.x_id)
    k.ret(new)


# skb_ext_add where a second context may use the skb (model/bpf_skb_storage.py): the
# reads of the skb's own fields, then the rest
@ext_add.step("if (skb->active_extensions) old = skb->extensions (a second context may use "
              "the skb: skb_ext_maybe_cow() or __skb_ext_alloc() is the next step)",
              short="old = active ? skb->extensions : NULL")
def skb_ext_add_shared(k):
    skb = k.skb(k.reg.a_skb)
    active = skb.active
    if active != 0:
        k.reg.x_old = skb.ext
        k.reg.x_active = active  # skb_ext_maybe_cow(old, skb->active_extensions)
    k.goto(skb_ext_add_old)


@ext_add.step("old ? skb_ext_maybe_cow(old): refcount_read(&old->refcnt) == 1 keeps old : "
              "__skb_ext_alloc(); set_active: skb->extensions = new; "
              "skb->active_extensions |= 1 << id",
              short="refcnt == 1? keep ext : COW (or alloc)")
def skb_ext_add_old(k):
    skb, old = k.skb(k.reg.a_skb), k.reg.x_old
    if old != 0:
        return _maybe_cow(k, skb, old)
    _alloc_first(k, skb)


@ext_add.step("skb_ext_maybe_cow: new = kmem_cache_alloc(); memcpy(new, old); "
              "refcount_set(&new->refcnt, 1); fixups keyed on old_active (rfc-fix: the "
              "BPF_STORAGE fixup on __skb_ext_exist(new)); __skb_ext_put(old)",
              short="COW: copy ext; fixups; put(old)")
def skb_ext_cow(k):
    skb = k.skb(k.reg.a_skb)
    old = k.reg.x_old
    new = slab.alloc(k, k.L.ext)
    if new == 0:
        return k.ret(0)  # old and the skb's reference are untouched
    o, n = k.ext(old), k.ext(new)
    n.present = o.present
    n.storage = o.storage
    n.refcnt = 1
    # RFC: if (old_active & (1 << SKB_EXT_BPF_STORAGE)) RCU_INIT_POINTER(ext->storage, NULL)
    # rfc-fix: if (__skb_ext_exist(new, SKB_EXT_BPF_STORAGE)) RCU_INIT_POINTER(...)
    # old_active: skb->active_extensions as skb_ext_add() read it on entry (the same
    # value here unless a second context uses the skb)
    if k.design == "rfc-fix":
        keyed = n.present
    else:
        keyed = skb.active if k.model.one_context_per_skb else k.reg.x_active
    if (keyed & SKB_EXT_BPF_STORAGE) and not k.mut("no-cow-reset"):
        n.storage = 0
    elif n.present & SKB_EXT_BPF_STORAGE and n.storage != 0:
        k.note("copy keeps old->storage (BPF_STORAGE present but not in old_active)")
    k.reg.x_new = new
    if k.mut("no-cow-put"):
        return k.goto(skb_ext_set_active)
    k.reg.p_ext = old
    k.call(skb_ext_put, skb_ext_set_active)


@ext_add.step("set_active: skb->extensions = new; skb->active_extensions |= 1 << id",
              short="skb->extensions = new; set active bit")
def skb_ext_set_active(k):
    new = k.reg.x_new
    _set_active(k, k.skb(k.reg.a_skb), new, k.reg.x_id)
    k.ret(new)


# ---------------------------------------------------------------------------------
# ops on packets (a_skb; a_new for the new packet of clone/copy)

clone = Proc("skb_clone", FILE)
copy = Proc("skb_copy", FILE)


def _copy_header(k, cloned: bool):
    """__copy_skb_header() -> __skb_ext_copy(): dst shares src's ext, refcount_inc."""
    src = k.skb(k.reg.a_skb)
    y = k.reg.a_new
    k.set_meta(k.L.skb, y, "mem", MEM_LIVE)
    dst = k.skb(y)
    active = src.active
    dst.active = active
    if active != 0:
        e = src.ext
        refcount_inc(k, k.ext(e), "refcnt")
        dst.ext = e
    if cloned:
        dst.cloned = 1
        src.cloned = 1
    k.ret()


@clone.step("__skb_clone: __copy_skb_header (__skb_ext_copy: refcount_inc(&ext->refcnt)); "
            "n->cloned = skb->cloned = 1", short="share ext: refcount_inc; both cloned")
def skb_clone(k):
    _copy_header(k, True)


@copy.step("skb_copy/pskb_copy: skb_copy_header -> __copy_skb_header "
           "(__skb_ext_copy: refcount_inc(&ext->refcnt)); new skb not cloned",
           short="share ext: refcount_inc; copy not cloned")
def skb_copy(k):
    _copy_header(k, False)


unclone = Proc("pskb_expand_head", FILE)


@unclone.step("skb->cloned = 0 (head reallocated; extensions untouched)", short="skb->cloned = 0")
def pskb_expand_head(k):
    k.skb(k.reg.a_skb).cloned = 0
    k.ret()


ext_del = Proc("skb_ext_del", "include/linux/skbuff.h")


@ext_del.step("if (skb_ext_exist(skb, id)) __skb_ext_del: active &= ~(1 << id); "
              "if none left: skb->extensions = NULL; __skb_ext_put(ext)",
              short="clear BPF_STORAGE bit; put if none left")
def skb_ext_del(k):
    skb = k.skb(k.reg.a_skb)
    active = skb.active
    if not active & SKB_EXT_BPF_STORAGE:
        return k.ret()
    skb.active = active & (0xFF ^ SKB_EXT_BPF_STORAGE)
    if skb.active == 0:
        e = skb.ext
        skb.ext = 0
        k.reg.p_ext = e
        return k.tail(skb_ext_put)
    k.note("other extensions stay active: the ext (and its storage) is kept")
    k.ret()


ext_reset = Proc("skb_ext_reset", "include/linux/skbuff.h")


@ext_reset.step("if (skb->active_extensions) { __skb_ext_put(skb->extensions); "
                "skb->active_extensions = 0 }", short="put ext; active_extensions = 0")
def skb_ext_reset(k):
    skb = k.skb(k.reg.a_skb)
    if skb.active == 0:
        return k.ret()
    k.reg.p_ext = skb.ext
    skb.active = 0
    k.tail(skb_ext_put)


# skb_ext_reset where a second context may use the skb (model/bpf_skb_storage.py): the
# kernel's order, the put first and the bits cleared after it returns, so that the
# other context's skb_ext_find() can still see the extension active once it is freed
@ext_reset.step("if (skb->active_extensions) __skb_ext_put(skb->extensions) (a second "
                "context may use the skb: active_extensions is cleared after the put)",
                short="put ext (still active)")
def skb_ext_reset_shared(k):
    skb = k.skb(k.reg.a_skb)
    if skb.active == 0:
        return k.ret()
    _put_then_clear(k, skb)


def _put_then_clear(k, skb):
    """``__skb_ext_put(skb->extensions)``, returning to ``skb_ext_reset_clear``."""
    k.reg.p_ext = skb.ext
    k.call(skb_ext_put, skb_ext_reset_clear)


@ext_reset.step("skb->active_extensions = 0", short="active_extensions = 0")
def skb_ext_reset_clear(k):
    k.skb(k.reg.a_skb).active = 0
    k.ret()


free = Proc("kfree_skb", FILE)


@free.step("skb_release_head_state: skb_ext_reset(skb): if (skb->active_extensions) "
           "__skb_ext_put(skb->extensions) (the skb is no longer live)",
           short="skb_ext_reset(skb)")
def kfree_skb(k):
    x = k.reg.a_skb
    skb = k.skb(x)
    active, e = skb.active, skb.ext
    k.set_meta(k.L.skb, x, "mem", MEM_FREED)
    if active == 0:
        return k.ret()
    k.reg.p_ext = e
    k.tail(skb_ext_put)


# kfree_skb where a second context may use the skb (a tracing program on it, finding
# 6): the kernel's order, skb_release_head_state()'s skb_ext_reset() (the shared
# route's put, then its clear once the put returns) and only then kfree_skbmem(), so
# that the other context's skb_ext_find() between the put and the clear sees the
# extension active on a live skb and reads the freed ext, and its skb_ext_add() after
# the clear hangs a new ext on an skb about to be freed
@free.step("skb_release_head_state: skb_ext_reset(skb): if (skb->active_extensions) "
           "__skb_ext_put(skb->extensions) (a second context may use the skb: the bits "
           "are cleared after the put returns, and kfree_skbmem() comes after that)",
           short="skb_ext_reset(skb) (skb still live)")
def kfree_skb_shared(k):
    skb = k.skb(k.reg.a_skb)
    if skb.active == 0:
        return k.tail(kfree_skbmem)
    k.call(skb_ext_reset_clear, kfree_skbmem)  # skb_ext_reset() returns to kfree_skbmem()
    _put_then_clear(k, skb)


@free.step("kfree_skbmem(skb) (napi_consume_skb(): napi_skb_cache_put(), which poisons "
           "it for KASAN)", short="kfree_skbmem(skb)")
def kfree_skbmem(k):
    k.set_meta(k.L.skb, k.reg.a_skb, "mem", MEM_FREED)
    k.ret()
