"""Proof reports: sizes from the command line, the default proofs of ``check all``
(specs/default.proofs, with the expected verdicts read from their traces), tables.
"""

from __future__ import annotations

import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from invariants.properties import PROVE_PROPERTIES
from model.designs import DESIGNS, MUTATIONS
from model.layout import Sizes
from model.openworld import Focus, WorldSize, focus_from_spec, parse_focus
from model.ops import OPS
from model.spec import SpecError, read_toml

from .induction import solver_text
from .prover import prove
from .tables import SHORT, UsageError, cell, columns, design_label, grid

PROOF_VERDICTS = ("proved", "violated", "unknown")
BUDGETS = {"search_states", "exhaustive_states", "induction", "induction_seconds",
           "control_lemmas", "heap_lemmas",
           "max_search_cpus", "focus", "focus_spec", "focus_states", "walks", "walk_depth",
           "seed"}


PROOF_KEYS = {"design", "mutations", "sizes", "budgets", "expect"}
# the sizes a default proof may set (WorldSize's fields; cpu_ops only for focus worlds)
SIZE_KEYS = {"skbs", "maps", "cpus", "cache_size", "lock_failures", "alloc_failures",
             "exts", "storages", "selems", "without"}


class ProofUsageError(UsageError):
    pass


BOOL_BUDGETS = {"induction", "control_lemmas", "heap_lemmas"}
LIST_BUDGETS = {"focus", "focus_spec"}


def _budget_rule(k: str):
    """(the test a value of budget ``k`` must pass, what it expects, in words)."""
    if k in BOOL_BUDGETS:
        return (lambda v: type(v) is bool), "true or false"
    if k in LIST_BUDGETS:
        return (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
                "a list of strings")
    if k == "induction_seconds":  # a float, as --induction-seconds
        return (lambda v: type(v) in (int, float) and v > 0), "a number > 0"
    if k == "seed":
        return (lambda v: type(v) is int), "an integer"
    return (lambda v: type(v) is int and v >= 0), "an integer >= 0"


def _table(t, where: str, keys) -> dict:
    """A TOML table of default.proofs, with only ``keys`` (None: any key)."""
    if not isinstance(t, dict):
        raise ProofUsageError(f"{where}: must be a table")
    extra = sorted(set(t) - keys) if keys is not None else []
    if extra:
        raise ProofUsageError(f"{where}: unknown key {extra[0]!r} (expected one of: "
                              f"{', '.join(sorted(keys))})")
    return t


def check_design(design: str) -> None:
    if design not in DESIGNS:
        raise ProofUsageError(f"prove: unknown design '{design}' (expected one of: "
                              f"{', '.join(DESIGNS)})")


def check_without(ops, where: str) -> tuple[str, ...]:
    """The op kinds a world leaves out (WorldSize.without): each one an op a CPU can
    start."""
    ops = tuple(ops)
    for w in ops:
        if w not in OPS or w == "end":
            raise ProofUsageError(f"{where}: unknown op '{w}'")
    return ops


def check_size(z: WorldSize, where: str, name=lambda f: f) -> WorldSize:
    """Counts at least 1 (failure budgets at least 0) and pools the layout can hold;
    ``name`` spells a field as the user wrote it (``--cache-size``, ``sizes.cache_size``)."""
    for f in ("skbs", "maps", "cpus", "cache_size", "exts", "storages", "selems",
              "lock_failures", "alloc_failures"):
        v, least = getattr(z, f), 0 if f.endswith("_failures") else 1
        if v is None and f in ("exts", "storages", "selems"):
            continue
        if type(v) is not int:
            raise ProofUsageError(f"{where}: {name(f)} must be an integer >= {least}, "
                                  f"not {v!r}")
        if v < least:
            raise ProofUsageError(f"{where}: {name(f)} must be at least {least}")
    try:
        e, s, q = z.pools()
        Sizes(z.skbs, e, s, q, z.maps, z.cpus, 1)
    except ValueError as err:
        raise ProofUsageError(f"{where}: {err}") from None
    return z


def size_from_args(a) -> WorldSize:
    without = check_without((x.strip() for x in a.without.split(",") if x.strip()),
                            "prove: --without")
    z = WorldSize(a.skbs, a.maps, a.cpus, a.cache_size, a.lock_failures, a.alloc_failures,
                  without=without)
    return check_size(z, "prove", lambda f: "--" + f.replace("_", "-"))


def mutations_from_args(text: str) -> tuple[str, ...]:
    out = tuple(x.strip() for x in text.split(",") if x.strip())
    for m in out:
        if m not in MUTATIONS:
            raise ProofUsageError(f"prove: unknown mutation '{m}' (expected one of: "
                             f"{', '.join(MUTATIONS)})")
    return out


def focus_from_args(texts, spec_files) -> tuple[Focus, ...]:
    """--focus OPS@S/M/C and --focus-spec FILE (a scenario's op kinds and objects)."""
    out = []
    for t in texts or ():
        try:
            out.append(parse_focus(t))
        except ValueError as e:
            raise ProofUsageError(f"prove: --focus: {e}") from None
    return tuple(out) + focus_specs("prove: --focus-spec", Path(), spec_files or ())


def check_focus(focus, size: WorldSize, where: str) -> None:
    """A focus world is searched inside the proof's size: one larger is a usage error,
    not a world silently cut down to the size (``Focus.world``)."""
    for f in focus:
        if f.skbs > size.skbs or f.maps > size.maps or f.cpus > size.cpus:
            raise ProofUsageError(f"{where}: focus {f.text()}: larger than the proof's "
                                  f"size {size.skbs}/{size.maps}/{size.cpus}")


def check_leave_out(design: str, mutations, size: WorldSize, patterns, *, control: bool,
                    heap: bool) -> None:
    """A ``--leave-out`` pattern that matches no lemma is a usage error before the
    search starts, not a remark after the induction (``ctl:`` names, which exist only
    once the relation is built, are still checked then)."""
    if not patterns:
        return
    from model.openworld import build as build_world

    from .prove_induction import unknown_leave_out

    bad = unknown_leave_out(build_world(design, mutations, size), patterns, control, heap)
    goals = [p for p in bad if p in PROVE_PROPERTIES]
    if goals:
        raise ProofUsageError(f"prove: --leave-out {', '.join(goals)}: a goal, never left "
                              "out (--leave-out names lemmas)")
    if bad:
        which = ("--heap-lemmas" if heap else "--control-lemmas" if control
                 else "neither --control-lemmas nor --heap-lemmas")
        raise ProofUsageError(
            f"prove: --leave-out {', '.join(bad)}: matching no lemma tried at "
            f"{size.skbs}/{size.maps}/{size.cpus} with {which} (a lemma's name, or a "
            "prefix ending in '*')")


def focus_specs(where: str, base: Path, files) -> tuple[Focus, ...]:
    """Spec files (relative to ``base``) as focus worlds; a missing or bad file is a
    one-line usage error starting with ``where``."""
    import model

    out = []
    for f in files:
        if not (base / f).is_file():
            raise ProofUsageError(f"{where}: {f}: no such spec file")
        try:
            out.append(focus_from_spec(model.load(base / f)))
        except model.SpecError as e:
            raise ProofUsageError(f"{where}: {e}") from None  # e names the file
    return tuple(out)


# ---- the default proofs of `check all` ----------------------------------------------

def load_defaults(path: Path) -> list[dict]:
    """[[proof]] tables: design, mutations, sizes, budgets and [proof.expect]."""
    try:
        data = read_toml(path)
    except SpecError as e:
        raise ProofUsageError(str(e)) from None
    extra = sorted(set(data) - {"proof"})
    if extra or not isinstance(data.get("proof", []), list):
        raise ProofUsageError(f"{path}: " + (f"unknown key {extra[0]!r}" if extra else
                                             "'proof' must be [[proof]] tables"))
    out = []
    for n, p in enumerate(data.get("proof", []), 1):
        where = f"{path}: [[proof]] #{n}"
        _table(p, where, PROOF_KEYS)
        if p.get("design") not in DESIGNS:
            raise ProofUsageError(f"{where}: unknown design {p.get('design')!r}")
        if not isinstance(p.get("mutations", []), list):
            raise ProofUsageError(f"{where}: mutations must be a list of names")
        for m in p.get("mutations", []):
            if m not in MUTATIONS:
                raise ProofUsageError(f"{where}: unknown mutation {m!r}")
        sz = dict(_table(p.get("sizes", {}), f"{where}: sizes", SIZE_KEYS))
        if "without" in sz:
            if not isinstance(sz["without"], list):
                raise ProofUsageError(f"{where}: sizes.without must be a list of ops")
            sz["without"] = check_without(sz["without"], f"{where}: sizes.without")
        size = check_size(WorldSize(**sz), where, lambda f: "sizes." + f)
        b = _table(p.get("budgets", {}), f"{where}: budgets", None)
        unknown = sorted(set(b) - BUDGETS)
        if unknown:
            raise ProofUsageError(f"{where}: unknown budget {unknown[0]!r} (expected one "
                                  f"of: {', '.join(sorted(BUDGETS))})")
        for k, v in b.items():
            ok, wanted = _budget_rule(k)
            if not ok(v):
                raise ProofUsageError(f"{where}: budgets.{k} = {v!r}: expected {wanted}")
        try:
            focus = tuple(parse_focus(t) for t in b.get("focus", []))
        except ValueError as e:
            raise ProofUsageError(f"{where}: budgets.{e}") from None
        focus += focus_specs(f"{where}: budgets.focus_spec", path.parent,
                             b.get("focus_spec", []))
        check_focus(focus, size, f"{where}: budgets")
        exp = _table(p.get("expect", {}), f"{where}: expect", None)
        for k, v in exp.items():
            if k not in PROVE_PROPERTIES or v not in PROOF_VERDICTS:
                raise ProofUsageError(f"{where}: expect {k} = {v!r}")
        out.append({"design": p["design"], "mutations": tuple(p.get("mutations", [])),
                    "size": size, "expect": exp, "budgets": b, "focus": focus})
    return out


def _run_default(d: dict, progress: bool) -> dict:
    """One default proof (a process pool worker: every argument is plain data)."""
    b = d["budgets"]
    res = prove(d["design"], d["mutations"], d["size"],
                search_states=b.get("search_states", 100_000),
                exhaustive_states=b.get("exhaustive_states", 0),
                induction=b.get("induction", False),
                induction_seconds=b.get("induction_seconds", 60), progress=progress,
                control_lemmas=b.get("control_lemmas", False),
                heap_lemmas=b.get("heap_lemmas", False),
                max_search_cpus=b.get("max_search_cpus", 2), focus=d["focus"],
                focus_states=b.get("focus_states"), walks=b.get("walks", 0),
                walk_depth=b.get("walk_depth", 200), seed=b.get("seed", 1))
    judge(res, d["expect"])
    return res


def judge(res: dict, expect: dict) -> bool:
    """Each property's ``expected`` verdict (``expect``'s, else ``proved``) and the
    proof's ``matches_expectations``, which it returns."""
    for n, e in res["properties"].items():
        e["expected"] = expect.get(n, "proved")
    ok = res["matches_expectations"] = all(e["proof"] == e["expected"]
                                           for e in res["properties"].values())
    return ok


def run_defaults(path: Path, progress: bool, jobs: int = 1,
                 defaults: list[dict] | None = None) -> list[dict]:
    """The default proofs, in the file's order.  With ``jobs`` > 1 they run in that
    many processes, the inductions first (the longest); each worker is then quiet and
    a line per finished proof goes to stderr instead of the per-step progress (the
    verdicts do not depend on the schedule: searches and walks are seeded, and an
    induction's time limit is its row's ``induction_seconds``).  ``defaults``: the
    file as :func:`load_defaults` read it already."""
    defaults = load_defaults(path) if defaults is None else defaults
    jobs = min(jobs, len(defaults))
    if jobs <= 1:
        return [_run_default(d, progress) for d in defaults]
    order = sorted(range(len(defaults)),
                   key=lambda i: not defaults[i]["budgets"].get("induction", False))
    out: list[dict | None] = [None] * len(defaults)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futs = {pool.submit(_run_default, defaults[i], False): i for i in order}
        for n, f in enumerate(as_completed(futs), 1):
            i = futs[f]
            out[i] = f.result()
            if progress:
                d = defaults[i]
                sys.stderr.write(f"default proof {n}/{len(defaults)} done: {d['design']} "
                                 f"{d['size'].skbs}/{d['size'].maps}/{d['size'].cpus}, "
                                 f"{out[i]['seconds']:.0f} s\n")
    return out


def _prove_command(res: dict) -> str:
    """Which proof found a trace: ``check prove --design D [--mutations M] at 4
    packets, 2 maps, 3 CPUs``."""
    z = res["sizes"]
    return (f"check prove --design {res['design']}"
            + (f" --mutations {','.join(res['mutations'])}" if res["mutations"] else "")
            + " at " + ", ".join(f"{z[k]} {w}{'s' if z[k] != 1 else ''}" for k, w in
                                 (("skbs", "packet"), ("maps", "map"), ("cpus", "CPU"))))


def save_specs(res: dict, folder: Path, progress: bool) -> list[dict]:
    """Write each violation trace of a prove result as a spec in ``folder`` (one spec
    per distinct workload; model/spec_export.py), then check that spec as ``check
    run`` would: the spec's own search gives its shortest trace, and says whether the
    scenario reproduces what prove found.  Returns one entry per spec written."""
    from model.spec import SpecError
    from model.spec_export import file_stem, spec_text

    from .runner import check_spec

    by_workload: dict[str, dict] = {}
    for n, e in res["properties"].items():
        if e["proof"] == "violated":
            key = repr(e["workload"])
            by_workload.setdefault(key, {"workload": e["workload"], "found": {}})
            by_workload[key]["found"][n] = len(e["trace"])
    z = res["sizes"]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ProofUsageError(f"prove: --save-specs {folder}: {err.strerror}") from None
    out = []
    for w in by_workload.values():
        path = folder / (file_stem(res["design"], res["mutations"], w["found"]) + ".toml")
        try:
            path.write_text(spec_text(w["workload"], design=res["design"],
                                      mutations=res["mutations"], sizes=z, found=w["found"],
                                      origin=_prove_command(res)))
        except OSError as err:
            raise ProofUsageError(f"prove: --save-specs {path}: {err.strerror}") from None
        try:
            r = check_spec(str(path), progress=progress, traces=True)
        except SpecError as err:  # an engine bug: the trace's ops are the spec's ops
            raise ProofUsageError(f"prove: the spec written from the trace is bad: {err}") \
                from None
        props = r["properties"]
        entry = {"file": str(path), "found": w["found"], "states": r["states"],
                 "complete": r["complete"],
                 "reproduces": {n: len(props[n]["trace"]) for n in w["found"]
                                if props[n]["verdict"] == "violated"},
                 "violated": sorted(n for n, p in props.items() if p["verdict"] == "violated")}
        if r["spec_error"]:
            entry["spec_error"] = r["spec_error"]["message"]
        out.append(entry)
    return out


def saved_specs_lines(saved: list[dict]) -> list[str]:
    out = []
    for x in saved:
        rep = ", ".join(f"{n} in {k} steps" for n, k in x["reproduces"].items())
        miss = [n for n in x["found"] if n not in x["reproduces"]]
        line = (f"wrote {x['file']}: its own search ({x['states']:,} states"
                + ("" if x["complete"] else ", budget reached") + ") "
                + (f"reproduces {rep}" if rep else "reproduces nothing prove found"))
        if rep:  # the open world's trace counts each `end` as a step; a spec does not
            line += " (a spec takes no step for `end`, the open world does)"
        if miss:
            line += f"; not {', '.join(miss)}"
        if x.get("spec_error"):
            line += f"; spec error: {x['spec_error']}"
        out.append(textwrap.fill(line, 100, subsequent_indent="    "))
    return out


def proof_dir(res: dict) -> str:
    """The trace folder of a proof: ``proof-<design>[-<mutations>]-<S>x<M>x<C>``."""
    z = res["sizes"]
    return "-".join(["proof", res["design"], *res["mutations"],
                     f"{z['skbs']}x{z['maps']}x{z['cpus']}"])


def proof_trace_text(res: dict, prop: str) -> str:
    """The text file written for one violation found by a proof (like a spec's)."""
    from .trace import TEXT_WIDTH, labelled, trace_file

    e = res["properties"][prop]
    ops = [line for t, o in e.get("workload", {}).items()
           for line in textwrap.wrap(f"{t}: {', '.join(o)}", TEXT_WIDTH,
                                     initial_indent="  ", subsequent_indent="      ")]
    head = [f"proof:    {_prove_command(res)}",
            f"property: {prop} VIOLATED (expected: {e.get('expected', 'proved')})",
            *labelled("why:", e.get("why", "")), "",
            "The ops each CPU started (check prove --save-specs writes them as a spec):",
            *ops, ""]
    return trace_file(head, e["race"], e["trace"], e.get("final_state", {}))


# ---- tables -------------------------------------------------------------------------

def _sizes_text(z: dict) -> str:
    t = f"{z['skbs']} pkts, {z['maps']} maps, {z['cpus']} CPUs"
    if z.get("without"):
        t += ", without " + ",".join(z["without"])
    return t


def table(results: list[dict]) -> str:
    head = ["design", "sizes", "secs", *(SHORT[n] for n in PROVE_PROPERTIES), ""]
    letters = {"proved": "P", "violated": "V", "unknown": "?"}
    rows = []
    for r in results:
        cells = [cell(letters, r["properties"][n]["proof"], r["properties"][n].get("expected"))
                 for n in PROVE_PROPERTIES]
        status = ("ok" if r.get("matches_expectations") else "MISMATCH") \
            if "matches_expectations" in r else ""
        rows.append([design_label(r), _sizes_text(r["sizes"]), f"{r['seconds']:.1f}", *cells,
                     status])
    lines = [*grid(head, rows), "",
             "P proved for every workload of the size   V violated (trace replayed at the "
             "size)   ? unknown   ! not as expected (check all: specs/default.proofs; "
             "check prove: proved)",
             columns(PROVE_PROPERTIES)]
    return "\n".join(lines)


def _exhaustive_line(x: dict) -> str:
    red = x.get("reduction", {})
    how = ""
    if red:
        n = red["cpu_renamings"]
        how = (" (representatives: " + (f"CPUs renamed {n} ways, " if n > 1 else "")
               + f"{len(red['erased'])} write-only fields erased)")
    return (f"explored the full size: {x['states']:,} states{how}"
            + (", complete" if x["complete"] else ", budget reached")
            + f", {x['seconds']} s")


def _walks_line(x: dict) -> str:
    found = "; ".join(f"{n} in walk {f['walk']} after {f['steps']} steps, shortened to "
                      f"{f['shortened']}" for n, f in x["found"].items())
    return (f"random walks at {x['sizes']}: {x['walks']:,} walks of at most {x['depth']} "
            f"steps (seed {x['seed']}), {x['steps']:,} steps, {x['seconds']} s"
            + (" (interrupted)" if x.get("interrupted") else "")
            + (f": {found}" if found else ": no violation"))


def _unknown_reason(r: dict) -> str:
    """Why a property without a counterexample to induction is neither proved nor
    violated: what the full-size search and the induction did."""
    x, ind = r.get("exhaustive"), r.get("induction")
    parts = ["the search of the full size stopped at its budget "
             f"({x['states']:,} states, --exhaustive-states)" if x and not x["complete"]
             else "the full size was not searched whole (--exhaustive-states 0)"]
    if ind is None:
        parts.append("no induction was run (--no-induction)")
    elif ind.get("note"):
        parts.append(f"induction: {ind['note']}")
    else:
        parts.append("the induction found no inductive set of lemmas implying it")
    return "; ".join(parts)


def details(results: list[dict]) -> str:
    from .trace import render_steps

    out = []
    for r in results:
        for x in r.get("search", []):
            if "walks" in x:
                out.append(_walks_line(x))
                continue
            where = f"focus {x['focus']}" if "focus" in x else x["sizes"]
            out.append(f"searched {where}: {x['states']:,} states"
                       + (" (complete)" if x["complete"] else " (budget reached)")
                       + f", {x['seconds']} s")
        if r.get("exhaustive"):
            out.append(_exhaustive_line(r["exhaustive"]))
        for n, e in r["properties"].items():
            line = f"{r['design']} {n}: {e['proof']} ({e['seconds']} s)"
            if e.get("method"):
                line += f" by {e['method']}"
            if e.get("lemmas") and e["proof"] != "proved":
                line += (f"; {len(e['lemmas'])} lemmas kept, not enough to prove it (the "
                         "JSON names them)")
            elif e.get("lemmas"):  # one set for every goal: named once, below
                line += f" with the {len(e['lemmas'])} lemmas kept (below)"
            out.append(textwrap.fill(line, 100, subsequent_indent="    "))
            if e.get("why"):
                out.append(f"    why: {e['why']}")
            if e.get("trace"):
                out.append(f"    trace ({len(e['trace'])} steps):")
                out.append(textwrap.indent(render_steps(e["trace"]), "    "))
            if e.get("cti"):
                out.append("    counterexample to induction (state, step):")
                out.append(textwrap.indent(render_steps(e["cti"]), "    "))
            elif e["proof"] == "unknown":
                out.append(textwrap.fill(f"    why unknown: {_unknown_reason(r)}", 100,
                                         subsequent_indent="        "))
        ind = r.get("induction", {})
        if ind.get("note"):
            out.append(f"  induction: {ind['note']}")
        elif "queries" in ind:
            out.append(_induction_line(ind))
            if any(e["proof"] == "proved" and e.get("lemmas")
                   for e in r["properties"].values()):
                out.append(_lemmas_line(ind))
        for g, lemma in ind.get("goals_implied", {}).items():
            out.append(textwrap.fill(
                f"  {g}: preserved because {lemma} is, which implies it on every state "
                "(shown once by z3), so no step was asked about it alone", 100,
                subsequent_indent="      "))
        if ind.get("left_out") is not None:
            out.append(textwrap.fill(
                f"  left out (--leave-out): {len(ind['left_out'])} lemmas"
                + (": " + ", ".join(ind["left_out"]) if ind["left_out"] else "")
                + (f"; matching no lemma: {', '.join(ind['left_out_unmatched'])}"
                   if ind["left_out_unmatched"] else ""), 100, subsequent_indent="      "))
        if ind.get("step_check"):
            out.extend(_step_check_lines(ind["step_check"], ind.get("solver", "z3")))
    return "\n".join(out)


def _step_check_lines(sc: dict, solver: str = "z3") -> list[str]:
    """``--cti-per-step``: per step, the candidates it does not preserve with every
    candidate assumed, and the counterexample for the first of them."""
    from .trace import render_steps

    given_up = sc["queries_given_up"]
    failing = (f"{len(sc['failing_steps'])} of them do not preserve "
               f"{len(sc['not_preserved'])} candidates" if sc["failing_steps"]
               else "each preserves every candidate")
    out = [f"  step check ({sc['candidates']} candidates assumed before each step): "
           f"{sc['steps']} steps, {failing}; {sc['queries']:,} queries"
           + (f" ({solver_text(solver)} gave up on {given_up})" if given_up else "")
           + f", {sc['seconds']} s"]
    for f in sc["failing_steps"]:
        out.append(textwrap.fill(f"  step {f['step']}: not preserved: "
                                 + ", ".join(f["not_preserved"]), 100,
                                 subsequent_indent="      "))
        out.append(f"    counterexample for {f['not_preserved'][0]} (state, step):")
        out.append(textwrap.indent(render_steps(f["cti"]), "    "))
    return out


def _lemmas_line(ind: dict) -> str:
    """The lemmas kept: one inductive set for every goal the induction proves."""
    names = ind["lemmas_kept"]
    ctl = [x for x in names if x.startswith("ctl:")]
    rest = [x for x in names if not x.startswith("ctl:")]
    n = ind.get("candidates_kept")
    parts = (f", from the {n} candidates alive at the end: goals apart, a lemma asked in "
             "parts (per CPU, per list head) counted once" if n else "")
    return textwrap.fill(
        f"  lemmas kept ({len(names)}, one set for every goal proved{parts}): "
        + ", ".join(rest) + (f", and {len(ctl)} ctl:* lemmas (the JSON names them)"
                             if ctl else ""), 100, subsequent_indent="      ")


def _induction_line(ind: dict) -> str:
    given_up = ind.get("queries_given_up", 0)
    houdini = f"Houdini {ind['rounds']} rounds, {ind['queries']:,} queries"
    sc = ind.get("step_check")
    if sc:  # --cti-per-step: Houdini in whole rounds of step checks
        houdini = (f"Houdini in {ind['rounds']} rounds of step checks"
                   + (" (the first: every step preserves every candidate)"
                      if ind["rounds"] == 1 else "")
                   + f", {sc.get('jobs', 1)} processes, {ind['queries']:,} queries")
    return (f"  induction: relation {ind['paths']:,} paths ({ind['relation_seconds']} s); "
            + houdini
            + (f" ({solver_text(ind.get('solver', 'z3'))} gave up on {given_up} within "
               f"{ind.get('query_seconds', 60):g} s: asked again in pieces)" if given_up else "")
            + _answered_text(ind)
            + f", {len(ind['lemmas_kept'])} lemmas kept; {ind['seconds']} s in all")


def _answered_text(ind: dict) -> str:
    """Who answered the queries z3's incremental core did not: with ``--solver auto``
    how many each solver answered (Bitwuzla from the first query z3 gave up on)."""
    solver, by = ind.get("solver", "z3"), ind.get("answered_by") or {}
    if solver == "auto":
        return ("; queries past z3's incremental core answered by z3 "
                f"({by.get('z3', 0):,}) and Bitwuzla ({by.get('bitwuzla', 0):,})")
    if solver != "z3":
        return f"; queries past z3's incremental core answered by {solver}"
    return ""
