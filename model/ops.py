"""The op vocabulary of SPEC_FORMAT.md: names, arguments, and where each op starts.

Each op is a kernel (or program) entry point; starting it loads its arguments into the
CPU's registers and calls its first step.  The op's result, if any, is left in
``reg.ret`` (see ``result_text``).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import bpf_local_storage as ls
from . import bpf_skb_storage as kf
from . import program, skbuff
from .errno import ERRNO, errname
from .layout import SKB_EXT_SEC_PATH


@dataclass(frozen=True)
class OpKind:
    name: str
    args: tuple[str, ...]  # "skb", "map", "val", "flag"
    bpf: bool  # part of a BPF program run (RCU read-side section)
    entry: object  # first step
    kernel: str  # the kernel entry point, for `check list` and traces
    result: str | None = None  # "value" (NULL or an integer) or "errno" (0 or -E...)
    creates: str | None = None  # "skb" if `-> Y` names a new packet
    needs_skb: bool = True
    # the first step where a second context may use the skb (bpf_skb_storage.py)
    entry_shared: object = None


OPS: dict[str, OpKind] = {
    o.name: o
    for o in (
        OpKind("get", ("skb", "map"), True, kf.storage_get,
               "bpf_skb_storage_get(M, X, V, flags)", "value",
               entry_shared=kf.storage_get_shared),
        OpKind("write", ("skb", "map", "val"), True, program.prog_write, "*value = V"),
        OpKind("read", ("skb", "map"), True, program.prog_read, "*value", "value"),
        OpKind("delete", ("skb", "map"), True, kf.storage_delete,
               "bpf_skb_storage_delete(M, X)", "errno",
               entry_shared=kf.storage_delete_shared),
        OpKind("clone", ("skb",), False, skbuff.skb_clone, "skb_clone(X)", creates="skb"),
        OpKind("copy", ("skb",), False, skbuff.skb_copy,
               "skb_copy / pskb_copy / GSO segment / IP fragment", creates="skb"),
        OpKind("unclone", ("skb",), False, skbuff.pskb_expand_head, "pskb_expand_head(X)"),
        OpKind("ext_add", ("skb",), False, skbuff.skb_ext_add,
               "skb_ext_add(X, SKB_EXT_SEC_PATH)", entry_shared=skbuff.skb_ext_add_shared),
        OpKind("ext_del", ("skb",), False, skbuff.skb_ext_del,
               "skb_ext_del(X, SKB_EXT_BPF_STORAGE)"),
        OpKind("scrub", ("skb",), False, skbuff.skb_ext_reset, "skb_ext_reset(X)",
               entry_shared=skbuff.skb_ext_reset_shared),
        OpKind("free", ("skb",), False, skbuff.kfree_skb, "kfree_skb(X) / consume_skb(X)",
               entry_shared=skbuff.kfree_skb_shared),
        OpKind("map_create", ("map",), False, ls.map_alloc_step,
               "bpf_local_storage_map_alloc()", needs_skb=False),
        OpKind("map_free", ("map",), False, ls.map_free_start,
               "bpf_local_storage_map_free()", needs_skb=False),
        OpKind("end", (), False, None, "end of the BPF program run", needs_skb=False),
    )
}

# names usable in assertions
RESULT_NAMES = {"NULL": None, **{f"-{n}": -c for n, c in ERRNO.items()}}


@dataclass(frozen=True)
class Op:
    """One op as written in a spec, with its names resolved to slots."""

    kind: OpKind
    text: str
    gid: int  # global op number (thread-major), for messages
    skb: int = 0
    map: int = 0
    val: int = 0  # index into the value table
    create: bool = False
    new: int = 0  # the packet `-> Y` creates
    expect: int | None = None  # encoded expected reg.ret

    @property
    def name(self):
        return self.kind.name


def start(k, op: Op):
    """Load ``op``'s arguments into the CPU's registers and enter its first step."""
    r = k.reg
    r.a_skb = op.skb
    r.a_map = op.map
    r.a_val = op.val
    r.a_create = 1 if op.create else 0
    r.a_new = op.new
    if op.name == "ext_add":
        r.x_id = SKB_EXT_SEC_PATH
    entry = op.kind.entry
    if op.kind.entry_shared is not None and not k.model.one_context_per_skb:
        entry = op.kind.entry_shared
    k.call(entry, None)


def encode_result(kind: OpKind, value, values) -> int:
    """The reg.ret encoding of an expected result (see bpf_skb_storage.py)."""
    if kind.result == "value":
        return 0 if value is None else 1 + values.index(value)
    if value is None or value > 0:
        raise ValueError("expects 0 or an errno")
    return -value


def result_text(kind: OpKind, ret: int, values) -> str:
    if kind.result == "value":  # (a state no run reaches may hold any byte)
        return ("NULL" if ret == 0 else _fmt(values[ret - 1]) if ret <= len(values)
                else f"a value no op of the spec writes (encoded {ret})")
    if kind.result == "errno":
        return errname(ret)
    return ""


def _fmt(v: int) -> str:
    return hex(v) if v > 255 else str(v)
