"""Spec files (SPEC_FORMAT.md): TOML in, a validated :class:`Spec` out.

Every error is a :class:`SpecError` whose message is one line naming the file and,
where it applies, the thread and the op.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .designs import DESIGNS, MUTATIONS
from .errno import ERRNO
from .ops import OPS, Op, encode_result

PROPERTIES = (
    "no_shared_storage", "clone_isolation", "no_use_after_free", "no_double_free",
    "no_leak", "cache_consistent", "lookup_correct", "refcount_sane", "no_deadlock",
    "accounting", "assertions",
)
VERDICTS = ("holds", "violated", "unknown")

# Linux errno numbers, for assertions written as numbers (== -2)
LINUX_ERRNO = {
    "EPERM": 1, "ENOENT": 2, "EAGAIN": 11, "ENOMEM": 12, "EEXIST": 17, "EINVAL": 22,
    "EDEADLK": 35, "EOPNOTSUPP": 95, "ETIMEDOUT": 110,
}
_BY_LINUX = {v: k for k, v in LINUX_ERRNO.items()}

DEFAULT_BOUNDS = {"cache_size": 16, "lock_failures": 0, "alloc_failures": 0,
                  "max_states": 2_000_000}
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
CALL = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*\Z")


class SpecError(Exception):
    """A bad spec: the message is one line naming the file, thread and op."""


@dataclass(frozen=True)
class Thread:
    name: str
    entries: tuple[tuple[Op, ...], ...]  # each entry: its alternatives
    run_ends: tuple[bool, ...]  # a program run ends after this entry
    # [[thread]] tracing: a TRACING program handed an skb it does not own (finding 6);
    # its BPF ops run on a packet another thread already freed instead of being a spec
    # error, and their accesses to the freed skb are uses after free
    tracing: bool = False


@dataclass
class Spec:
    file: str
    name: str
    description: str
    design: str
    mutations: tuple[str, ...]
    cache_size: int
    lock_failures: int
    alloc_failures: int
    max_states: int
    skbs: list[str]  # slot order (1-based): initial packets first
    initial_skbs: int
    maps: list[str]
    initial_maps: int
    threads: list[Thread]
    values: list[int]  # value table: index 0 is 0 (a zeroed value)
    expect: dict[str, str] = field(default_factory=dict)
    # [spec] skb_ownership: an op on a packet waits while another thread is inside an
    # op or a program run on it (one context at a time writes an skb; the RFC's
    # tracing programs break that: finding 6, specs/tp-*.toml)
    skb_ownership: bool = False
    # [spec] preempt_rcu: the kernel is built with CONFIG_PREEMPT_RCU (and without
    # CONFIG_DEBUG_ATOMIC_SLEEP), where cond_resched_rcu() is empty: map_free's
    # restart stays inside its RCU read-side section
    preempt_rcu: bool = False

    def expected(self, prop: str) -> str:
        return self.expect.get(prop, "holds")

    def packet_threads(self, created: bool = False) -> dict[int, set[str]]:
        """Per packet slot, the threads whose ops name it (also as ``-> Y`` when
        ``created``)."""
        out: dict[int, set[str]] = {}
        for th in self.threads:
            for entry in th.entries:
                for op in entry:
                    for x in (op.skb, op.new if created else 0):
                        if x:
                            out.setdefault(x, set()).add(th.name)
        return out

    def one_context_per_skb(self) -> bool:
        """Does one context at a time use each skb?  With ``skb_ownership``, or when no
        two threads run ops on one packet (a packet that one thread creates, ``-> Y``,
        and another then uses is handed over, not shared: the other thread's ops wait
        for it).  Otherwise a kfunc's reads of the skb's own fields are shared accesses
        and get steps of their own (SEMANTICS.md section 4's rule;
        model/bpf_skb_storage.py)."""
        return self.skb_ownership or all(
            len(names) == 1 for names in self.packet_threads().values())

    def op_by_gid(self, gid: int) -> tuple[Thread, Op]:
        for th in self.threads:
            for entry in th.entries:
                for op in entry:
                    if op.gid == gid:
                        return th, op
        raise KeyError(gid)


def read_toml(path: str | Path) -> dict:
    """A TOML file (a spec, specs/default.proofs); SpecError naming the file if it
    cannot be read, is not UTF-8 or is not TOML."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise SpecError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise SpecError(f"{path}: not UTF-8 text (TOML is UTF-8): byte {e.start}") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not valid TOML: {e}") from None


def load(path: str | Path) -> Spec:
    return parse(read_toml(path), str(path))


def _keys(where: str, table, allowed):
    if not isinstance(table, dict):
        raise SpecError(f"{where} must be a table")
    for key in table:
        if key not in allowed:
            raise SpecError(f"{where}: unknown key '{key}' (expected one of: "
                            f"{', '.join(allowed)})")


def _int(where, v, lo):
    if not isinstance(v, int) or isinstance(v, bool) or v < lo:
        raise SpecError(f"{where} must be an integer >= {lo}, not {v!r}")
    return v


def _names(where, v):
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise SpecError(f"{where} must be a list of names")
    for x in v:
        if not NAME.match(x):
            raise SpecError(f"{where}: '{x}' is not a valid name")
    if len(set(v)) != len(v):
        raise SpecError(f"{where}: a name is listed twice")
    return list(v)


def parse(data: dict, file: str) -> Spec:
    _keys(file, data, ("spec", "bounds", "objects", "thread", "expect"))
    sp = data.get("spec", {})
    _keys(f"{file}: [spec]", sp, ("name", "description", "design", "mutations",
                                  "skb_ownership", "preempt_rcu"))
    name = sp.get("name", Path(file).stem)
    desc = sp.get("description", "")
    if not isinstance(name, str) or not isinstance(desc, str):
        raise SpecError(f"{file}: [spec] name and description must be strings")
    design = sp.get("design", "rfc")
    if not isinstance(design, str) or design not in DESIGNS:
        raise SpecError(f"{file}: [spec] unknown design '{design}' "
                        f"(expected one of: {', '.join(DESIGNS)})")
    muts = sp.get("mutations", [])
    if not isinstance(muts, list) or not all(isinstance(m, str) for m in muts):
        raise SpecError(f"{file}: [spec] mutations must be a list of names")
    for m in muts:
        if m not in MUTATIONS:
            raise SpecError(f"{file}: [spec] unknown mutation '{m}' "
                            f"(expected one of: {', '.join(MUTATIONS)})")

    ownership = sp.get("skb_ownership", False)
    preempt_rcu = sp.get("preempt_rcu", False)
    for key, v in (("skb_ownership", ownership), ("preempt_rcu", preempt_rcu)):
        if not isinstance(v, bool):
            raise SpecError(f"{file}: [spec] {key} must be true or false")

    bounds = dict(DEFAULT_BOUNDS)
    b = data.get("bounds", {})
    _keys(f"{file}: [bounds]", b, tuple(DEFAULT_BOUNDS))
    for key, v in b.items():
        bounds[key] = _int(f"{file}: [bounds] {key}", v, 1 if key in ("cache_size",
                                                                    "max_states") else 0)

    ob = data.get("objects", {})
    _keys(f"{file}: [objects]", ob, ("skbs", "maps"))
    skbs = _names(f"{file}: [objects] skbs", ob.get("skbs", []))
    maps = _names(f"{file}: [objects] maps", ob.get("maps", []))
    both = set(skbs) & set(maps)
    if both:
        raise SpecError(f"{file}: [objects] '{sorted(both)[0]}' is both a packet and a map")

    ex = data.get("expect", {})
    _keys(f"{file}: [expect]", ex, PROPERTIES)
    for key, v in ex.items():
        if v not in VERDICTS:
            raise SpecError(f"{file}: [expect] {key} = {v!r}: expected one of "
                            f"{', '.join(VERDICTS)}")

    raw_threads = data.get("thread")
    if not isinstance(raw_threads, list) or not raw_threads:
        raise SpecError(f"{file}: at least one [[thread]] is required")
    if len(raw_threads) > 8:
        raise SpecError(f"{file}: at most 8 threads")
    spec = Spec(file, name, desc, design, tuple(muts), bounds["cache_size"],
                bounds["lock_failures"], bounds["alloc_failures"], bounds["max_states"],
                list(skbs), len(skbs), list(maps), len(maps), [], [0], dict(ex), ownership,
                preempt_rcu)
    _parse_threads(spec, raw_threads)
    return spec


def _parse_threads(spec: Spec, raw_threads):
    file = spec.file
    parsed = []  # (thread name, [(where, line text, alternatives)], tracing)
    seen = set()
    for n, th in enumerate(raw_threads, 1):
        _keys(f"{file}: [[thread]] #{n}", th, ("name", "ops", "tracing"))
        tname = th.get("name", f"cpu{n - 1}")
        if not isinstance(tname, str) or not tname:
            raise SpecError(f"{file}: [[thread]] #{n}: name must be a non-empty string")
        if tname in seen:
            raise SpecError(f"{file}: thread '{tname}' is defined twice")
        seen.add(tname)
        ops = th.get("ops")
        if not isinstance(ops, list) or not all(isinstance(o, str) for o in ops):
            raise SpecError(f"{file}: thread '{tname}': ops must be a list of strings")
        if not ops:
            raise SpecError(f"{file}: thread '{tname}': ops is empty (a thread runs at "
                            "least one op)")
        tracing = th.get("tracing", False)
        if not isinstance(tracing, bool):
            raise SpecError(f"{file}: thread '{tname}': tracing must be true or false")
        entries = []
        for i, text in enumerate(ops, 1):
            where = f"{file}: thread '{tname}', op {i} '{text}'"
            entries.append((where, text, [_parse_alt(where, a) for a in text.split("|")]))
        parsed.append((tname, entries, tracing))

    # names: packets created by clone/copy, maps created by map_create
    created = {}
    for _, entries, _ in parsed:
        for where, _, alts in entries:
            for a in alts:
                if a["new"]:
                    y = a["new"]
                    if y in spec.skbs or y in created:
                        raise SpecError(f"{where}: packet '{y}' is created twice")
                    if y in spec.maps:
                        raise SpecError(f"{where}: '{y}' is a map")
                    created[y] = where
                if a["op"] == "map_create":
                    m = a["map"]
                    if m in spec.maps:
                        raise SpecError(f"{where}: map '{m}' is created twice")
                    spec.maps.append(m)
    spec.skbs.extend(created)
    if len(spec.skbs) > 8:
        raise SpecError(f"{file}: at most 8 packets")
    if len(spec.maps) > 8:
        raise SpecError(f"{file}: at most 8 maps")

    gid = 0
    map_freed = {}
    for tname, entries, tracing in parsed:
        ops_out, ends = [], []
        freed_here, mapfreed_here = set(), set()
        for where, _text, alts in entries:
            if len(alts) == 1 and alts[0]["op"] == "end":
                if ends:
                    ends[-1] = True
                continue
            built = []
            for a in alts:
                if a["op"] == "end":
                    raise SpecError(f"{where}: 'end' cannot be an alternative")
                op = _resolve(spec, where, a, gid)
                gid += 1
                if (op.skb and spec.skbs[op.skb - 1] in freed_here
                        and not (tracing and op.kind.bpf)):
                    raise SpecError(f"{where}: packet '{spec.skbs[op.skb - 1]}' was freed "
                                    "earlier by this thread")
                if op.kind.bpf and op.map and spec.maps[op.map - 1] in mapfreed_here:
                    raise SpecError(f"{where}: map '{spec.maps[op.map - 1]}' was freed "
                                    "earlier by this thread")
                if op.name == "map_free":
                    mname = spec.maps[op.map - 1]
                    if mname in map_freed:
                        raise SpecError(f"{where}: map '{mname}' is freed twice")
                    map_freed[mname] = where
                built.append(op)
            for op in built:
                if len(built) == 1 and op.name == "free":
                    freed_here.add(spec.skbs[op.skb - 1])
                if len(built) == 1 and op.name == "map_free":
                    mapfreed_here.add(spec.maps[op.map - 1])
            if ends and any(not o.kind.bpf for o in built):
                ends[-1] = True
            if not ends or ends[-1]:  # a program run starts here
                got = set()
            for op in built:  # write and read go through this run's last get
                if op.name in ("write", "read") and (op.skb, op.map) not in got:
                    x, mm = spec.skbs[op.skb - 1], spec.maps[op.map - 1]
                    raise SpecError(f"{where}: no get({x}, {mm}) earlier in this program "
                                    f"run to {op.name} through (a run ends at 'end' and at "
                                    "any op other than get, write, read and delete)")
            got |= {(op.skb, op.map) for op in built if op.name == "get"}
            ops_out.append(tuple(built))
            ends.append(not all(o.kind.bpf for o in built))
        if ends:
            ends[-1] = True
        if tracing and not any(o.kind.bpf for entry in ops_out for o in entry):
            raise SpecError(f"{file}: thread '{tname}': tracing = true, but the thread "
                            "runs no BPF op (get, write, read, delete)")
        spec.threads.append(Thread(tname, tuple(ops_out), tuple(ends), tracing))


def _parse_alt(where: str, text: str) -> dict:
    text = text.strip()
    expect = None
    if "==" in text:
        text, _, rhs = text.partition("==")
        expect = rhs.strip()
        text = text.strip()
        if not expect:
            raise SpecError(f"{where}: '==' needs a result (an integer, NULL or -EERRNO)")
    new = None
    if "->" in text:
        text, _, rhs = text.partition("->")
        new = rhs.strip()
        text = text.strip()
        if not NAME.match(new or ""):
            raise SpecError(f"{where}: '-> {new}' needs a packet name")
    m = CALL.match(text)
    if not m:
        raise SpecError(f"{where}: cannot parse '{text}' (expected name(args))")
    opname, argtext = m.group(1), m.group(2)
    if opname not in OPS:
        raise SpecError(f"{where}: unknown op '{opname}' (expected one of: "
                        f"{', '.join(OPS)})")
    if opname == "end":
        if argtext not in (None, ""):
            raise SpecError(f"{where}: 'end' takes no arguments")
    elif argtext is None:
        raise SpecError(f"{where}: '{opname}' needs arguments in parentheses")
    args = [x.strip() for x in argtext.split(",")] if argtext and argtext.strip() else []
    kind = OPS[opname]
    out = {"op": opname, "new": new, "expect": expect, "skb": None, "map": None,
           "val": None, "create": False, "text": text}
    if kind.creates and not new:
        raise SpecError(f"{where}: '{opname}' needs '-> NEWPACKET'")
    if new and not kind.creates:
        raise SpecError(f"{where}: '{opname}' does not create a packet ('->' not allowed)")
    if expect is not None and kind.result is None:
        raise SpecError(f"{where}: '{opname}' returns nothing to assert on")
    want = list(kind.args)
    if opname == "get":
        if len(args) not in (2, 3, 4):
            raise SpecError(f"{where}: get takes (X, M), (X, M, create) or (X, M, create, V)")
        if len(args) >= 3:
            if args[2] != "create":
                raise SpecError(f"{where}: unknown flag '{args[2]}' (expected 'create')")
            out["create"] = True
        if len(args) == 4:
            out["val"] = _value(where, args[3])
        args = args[:2]
    elif len(args) != len(want):
        shape = ", ".join({"skb": "X", "map": "M", "val": "V"}[w] for w in want)
        raise SpecError(f"{where}: {opname} takes ({shape}), got {len(args)} argument(s)")
    for w, a in zip(want, args, strict=False):
        if w == "val":
            out["val"] = _value(where, a)
        else:
            if not NAME.match(a):
                raise SpecError(f"{where}: '{a}' is not a valid name")
            out[w] = a
    return out


def _value(where, text) -> int:
    try:
        v = int(text, 0)
    except ValueError:
        raise SpecError(f"{where}: '{text}' is not an integer value") from None
    if not 0 <= v < 2**32:
        raise SpecError(f"{where}: value {text} is outside 0..0xffffffff")
    return v


def _expect(where, kind, text, values):
    if text == "NULL":
        if kind.result != "value":
            raise SpecError(f"{where}: this op returns 0 or an errno, not NULL")
        return None
    if text.startswith("-E"):
        name = text[1:]
        if name not in ERRNO:
            raise SpecError(f"{where}: unknown errno '{text}' (expected one of: "
                            f"{', '.join('-' + n for n in ERRNO)})")
        if kind.result != "errno":
            raise SpecError(f"{where}: this op returns a value or NULL, not {text}")
        return -ERRNO[name]
    try:
        v = int(text, 0)
    except ValueError:
        raise SpecError(f"{where}: cannot read the result '{text}' (expected an integer, "
                        "NULL or -ERRNO such as -ENOENT)") from None
    if kind.result == "errno":
        if v > 0 or (v < 0 and -v not in _BY_LINUX):
            raise SpecError(f"{where}: {text} is not 0 or a known -errno")
        return 0 if v == 0 else -ERRNO[_BY_LINUX[-v]]
    if not 0 <= v < 2**32:
        raise SpecError(f"{where}: value {text} is outside 0..0xffffffff")
    if v not in values:
        values.append(v)
    return v


def _resolve(spec: Spec, where: str, a: dict, gid: int) -> Op:
    kind = OPS[a["op"]]
    skb = mp = new = 0
    if a["skb"] is not None:
        if a["skb"] in spec.maps:
            raise SpecError(f"{where}: '{a['skb']}' is a map, not a packet")
        if a["skb"] not in spec.skbs:
            raise SpecError(f"{where}: unknown packet '{a['skb']}' (not in [objects] skbs "
                            "and not created by clone/copy)")
        skb = spec.skbs.index(a["skb"]) + 1
    if a["map"] is not None:
        if a["map"] in spec.skbs:
            raise SpecError(f"{where}: '{a['map']}' is a packet, not a map")
        if a["map"] not in spec.maps:
            raise SpecError(f"{where}: unknown map '{a['map']}' (not in [objects] maps "
                            "and not created by map_create)")
        mp = spec.maps.index(a["map"]) + 1
    if a["new"]:
        new = spec.skbs.index(a["new"]) + 1
        if new == skb:
            raise SpecError(f"{where}: a packet cannot be cloned into itself")
    val = 0
    if a["val"] is not None:
        if a["val"] not in spec.values:
            spec.values.append(a["val"])
        val = spec.values.index(a["val"])
    expect = None
    if a["expect"] is not None:
        e = _expect(where, kind, a["expect"], spec.values)
        try:
            expect = encode_result(kind, e, spec.values)
        except ValueError:
            raise SpecError(f"{where}: cannot assert '{a['expect']}' on {kind.name}") from None
    text = a["text"] + (f" -> {a['new']}" if a["new"] else "")
    text += f" == {a['expect']}" if a["expect"] is not None else ""
    return Op(kind, text, gid, skb, mp, val, a["create"], new, expect)
