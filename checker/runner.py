"""Check one spec: build its model, explore it, judge the verdicts, render the traces.

This is where the generic engine (explore.py, trace.py) meets the skb model; the result
is a plain dict (picklable, JSON-ready) in the shape of SPEC_FORMAT.md's report.
"""

from __future__ import annotations

import resource
import sys

import invariants
import model
from model.describe import describe
from model.system import ASSERTION_FAILS

from . import trace as tr
from .explore import Progress, explore


def _why(prop, ex, sid, m) -> str:
    if prop.name == "no_deadlock":
        return "no CPU can finish from here: " + "; ".join(m.waiting(ex.states[sid]))
    return prop.why(ex.states[sid]) if prop.why else ""


def check_spec(path: str, *, progress: bool = True, lazy_rcu: bool = True,
               chain_local: bool = True, max_states: int | None = None,
               graph_file: str | None = None, traces: bool = True) -> dict:
    """Explore ``path``; raise model.SpecError for a bad spec."""
    spec = model.load(path)
    m = model.build(spec, lazy_rcu=lazy_rcu, chain_local=chain_local)
    props = invariants.properties_for(m)
    # the spec error "op on a packet another thread freed" is found like a property
    spec_err = invariants.spec_error_property(m)
    prog = Progress(spec.name, sys.stderr) if progress else None
    ex = explore(m, [*props, spec_err], max_states or spec.max_states, prog)
    res = {
        "file": path, "name": spec.name, "design": spec.design,
        "mutations": list(spec.mutations), "complete": ex.complete,
        "interrupted": ex.interrupted, "states": len(ex.states),
        "transitions": ex.transitions, "seconds": round(ex.seconds, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "properties": {}, "spec_error": None,
        # the model's cuts (model/bpf_skb_storage.py): for the trace files' header
        "one_context_per_skb": m.one_context_per_skb,
        # [[thread]] tracing: threads whose kfuncs run on a packet another one freed (for
        # the header too; not in the JSON report)
        "tracing_threads": [th.name for th in spec.threads if th.tracing],
    }

    def trace_of(sid):
        return tr.build(ex, sid, m.label_parts, lambda s: describe(m, s))

    if "spec_error" in ex.violations:
        sid = ex.violations["spec_error"]
        th, op = spec.op_by_gid(ex.states[sid][m.layout.G["obs_spec_error"]] - 1)
        res["spec_error"] = {
            "message": f"{spec.file}: thread '{th.name}', op '{op.text}': the packet was "
                       "already freed by another thread"
                       + (" (a tracing program handed a freed skb? mark the thread "
                          "tracing = true)" if op.kind.bpf else ""),
            "trace": trace_of(sid),
        }
    threads = [t.name for t in spec.threads]
    ok = not ex.interrupted
    for p in props:
        verdict, expected = ex.verdicts[p.name], spec.expected(p.name)
        entry = {"verdict": verdict, "expected": expected}
        if verdict == "violated":
            sid = ex.violations[p.name]
            entry["why"] = _why(p, ex, sid, m)
            if traces:
                t = trace_of(sid)
                said = [n for n in t[-1]["notes"] if n.startswith(ASSERTION_FAILS)] if t else []
                if p.name == "assertions" and said:  # what the op returned (its last step)
                    entry["why"] = (f"thread {t[-1]['thread']}: "
                                    + said[-1].removeprefix(ASSERTION_FAILS))
                entry["trace"] = t
                entry["race"] = tr.render_race(t, threads,
                                               verdict=f"{p.name}: {entry['why']}")
                entry["final_state"] = describe(m, ex.states[sid])
        ok = ok and verdict == expected
        res["properties"][p.name] = entry
    res["matches_expectations"] = ok and res["spec_error"] is None
    if graph_file:
        write_graph(ex, m, graph_file)
    return res


def write_graph(ex, m, path: str):
    """The state graph as GraphML (nodes: state ids; edges: thread, op, step)."""
    import networkx as nx

    g = nx.DiGraph()
    for sid in range(len(ex.states)):
        g.add_node(sid, final=sid in ex.finals)
    for u, v, lid in ex.graph.edges(data="label"):
        lp = m.label_parts(ex.labels[lid])
        g.add_edge(u, v, thread=lp["thread"], op=lp["op"], step=" ; ".join(lp["steps"]))
    nx.write_graphml(g, path)


def spec_error_text(res: dict) -> str:
    """The text file written for a spec error found by exploring (an op on a packet
    another thread already freed): the message and the trace that reaches it."""
    e = res["spec_error"]
    head = [*tr.labelled("spec:", f"{res['name']} ({res['file']})"),
            *tr.labelled("error:", e["message"]), ""]
    if not e.get("trace"):
        return "\n".join(head) + "\n"
    threads = list(dict.fromkeys(st["thread"] for st in e["trace"]))
    return tr.trace_file(head, tr.render_race(e["trace"], threads, verdict="spec error"),
                         e["trace"])


SECOND_CONTEXT = ("two threads run ops on one packet (no skb_ownership): the kfuncs' "
                  "reads of the skb's fields and of its ext are steps of their own, and "
                  "skb_ext_reset() (scrub's, and kfree_skb()'s before kfree_skbmem()) "
                  "puts the ext before it clears the bits (CONFORMANCE.md's notes)")


def trace_text(res: dict, prop: str) -> str:
    """The text file written for one violation."""
    e = res["properties"][prop]
    head = [
        *tr.labelled("spec:", f"{res['name']} ({res['file']})"),
        f"design:   {res['design']}" + (f", mutations: {', '.join(res['mutations'])}"
                                        if res["mutations"] else ""),
        f"property: {prop} VIOLATED (expected: {e['expected']})",
        *tr.labelled("why:", e.get("why", "")),
        *([] if res.get("one_context_per_skb", True) else tr.labelled("cuts:", SECOND_CONTEXT)),
        *([] if not res.get("tracing_threads") else tr.labelled(
            "tracing:", f"{', '.join(res['tracing_threads'])}: a tracing program (finding 6);"
                        " its kfuncs run on a packet another thread freed")),
        "",
    ]
    return tr.trace_file(head, e["race"], e["trace"], e["final_state"])
