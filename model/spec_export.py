"""A trace of ``check prove`` as a spec (SPEC_FORMAT.md): the scenario a reviewer can
rerun, read and keep.

Each CPU of the trace becomes a thread that runs the ops that CPU started, in the
order it started them (``OpenWorldModel.workload``).  The open world names packets
and maps as a spec does (P1 exists at the start, P2.. are born from clone/copy in
that order; M1.. are all loaded at the start), so the op texts carry over as they
are.  The spec's interleavings include the trace's (a spec runs each thread's ops in
order and lets an op on a packet not yet born wait), so the spec's own breadth-first
search reaches the violation again, often in fewer steps.  One difference: the open
world hands a packet from CPU to CPU (one owner at a time), which a spec cannot
say; when one thread frees a packet another thread uses, the spec may run the free
first, and ``check`` then reports a spec error instead of a verdict.

The ``[expect]`` section is left for the reviewer: what ``check prove`` found is
listed there as comments, to be recorded only after reading the trace.
"""

from __future__ import annotations

import json
import re

_MAP = re.compile(r"\bM(\d+)\b")


def _q(text: str) -> str:
    return json.dumps(text)  # a TOML basic string is a JSON string


def objects(workload: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    """The spec's ``[objects]``: packet P1 (the others are born in the trace) and the
    maps M1..Mk up to the highest one used (they are loaded in slot order, as the open
    world loads them, so each keeps its cache index)."""
    text = " ".join(op for ops in workload.values() for op in ops)
    maps = [int(x) for x in _MAP.findall(text)]
    return ["P1"], [f"M{m}" for m in range(1, max(maps, default=0) + 1)]


def spec_text(workload: dict[str, list[str]], *, design: str, mutations=(),
              sizes: dict, found: dict[str, int], origin: str) -> str:
    """The TOML of one spec.  ``found``: property -> length of the trace prove found;
    ``origin``: how it was found, for the description."""
    skbs, maps = objects(workload)
    lines = ["[spec]", f"design = {_q(design)}", "skb_ownership = true"]
    if mutations:
        lines.append(f"mutations = [{', '.join(_q(x) for x in mutations)}]")
    what = ", ".join(f"{n} ({k} steps)" for n, k in found.items())
    lines += ['description = """', f"Written by {origin}:", f"{what}.",
              "Each thread runs the ops its CPU started in that trace, in order.",
              '"""', "", "[bounds]", f"cache_size = {sizes['cache_size']}",
              f"lock_failures = {sizes['lock_failures']}",
              f"alloc_failures = {sizes['alloc_failures']}", "", "[objects]",
              f"skbs = [{', '.join(_q(x) for x in skbs)}]",
              f"maps = [{', '.join(_q(x) for x in maps)}]"]
    for name, ops in workload.items():
        lines += ["", "[[thread]]", f"name = {_q(name)}", "ops = ["]
        lines += [f"  {_q(op)}," for op in ops]
        lines.append("]")
    lines += ["", "[expect]",
              "# Found by check prove; record each one only after reading its trace:"]
    lines += [f'# {n} = "violated"  # {k} steps in the open world' for n, k in found.items()]
    return "\n".join(lines) + "\n"


def file_stem(design: str, mutations, found) -> str:
    """``<design>[-<mutations>]-<properties>``, e.g. rfc-refcnt-guard-no_double_free."""
    parts = [design, *mutations, *found]
    return "-".join(re.sub(r"[^A-Za-z0-9_-]+", "_", p) for p in parts)


__all__ = ["spec_text", "objects", "file_stem"]
