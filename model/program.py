"""A BPF program run: the ops that are program code rather than kernel functions.

Consecutive BPF ops of a CPU form one program run, one RCU read-side section.  The
program keeps the pointer each ``bpf_skb_storage_get(map, skb)`` returned (the
"value pointer", per packet and map) and may write or read through it later in the
same run.  These stores and loads are plain memory accesses: they are checked like
any other (a pointer kept past its grace period is a use after free).
"""

from .kernel import Proc

FILE = "BPF program"

prog = Proc("BPF program", FILE)


@prog.step("*value = V (through the pointer from this run's last get)", short="*value = V")
def prog_write(k):
    r = k.reg
    x, m = r.a_skb, r.a_map
    q = k.model.value_ptr(k, x, m)
    if q == 0:
        k.note("get returned NULL: skipped")
        return k.ret()
    k.selem(q).value = r.a_val
    k.set_meta(k.L.selem, q, "g_writer", x)
    k.ret()


@prog.step("v = *value (through the pointer from this run's last get)", short="v = *value")
def prog_read(k):
    r = k.reg
    x, m = r.a_skb, r.a_map
    q = k.model.value_ptr(k, x, m)
    if q == 0:
        k.note("get returned NULL")
        r.ret = 0
        return k.ret()
    v = k.selem(q).value
    k.set_g("obs_read_by", x)
    k.set_g("obs_read_from", k.meta(k.L.selem, q, "g_writer"))
    r.ret = v + 1
    k.ret()
