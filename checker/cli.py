"""The `check` command (SPEC_FORMAT.md): all, run, list, prove, agree, bench.

Exit codes: 0 every verdict matches its spec's [expect]; 1 some verdict does not (or is
unknown); 2 a bad spec or bad usage (one line naming the file, thread and op); 3 a bug
in skbcheck itself (one line; SKBCHECK_TRACEBACK=1 shows the traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from pathlib import Path

import model
from invariants import MEANINGS
from model.kernel import ModelError

from . import runner
from .explore import ReductionError
from .tables import SHORT, UsageError, cell, columns, design_label, grid


def default_specs_dir() -> Path:
    here = Path(__file__).resolve().parent.parent / "specs"
    if here.is_dir():
        return here
    return Path.cwd() / "specs"


def spec_files(args_dir: str | None) -> list[str]:
    d = Path(args_dir) if args_dir else default_specs_dir()
    if not d.is_dir():
        raise UsageError(f"{d}: not a directory of specs")
    files = sorted(str(p) for p in d.rglob("*.toml"))
    if not files:
        raise UsageError(f"{d}: no *.toml specs found")
    return files


def spec_paths(paths: list[str]) -> list[str]:
    """Spec files named on the command line, folders expanded (none: specs/)."""
    if not paths:
        return spec_files(None)
    out = []
    for p in paths:
        if Path(p).is_dir():
            out += spec_files(p)
        elif Path(p).is_file():
            out.append(p)
        else:
            raise UsageError(f"{p}: no such spec file or directory")
    return out


def writable(path: str, what: str, is_dir: bool = True) -> None:
    """A path the command will write (--out, --graph, --save-specs, --record): a
    one-line usage error now, not a traceback after the exploration."""
    p = Path(path)
    if p.exists() and p.is_dir() != is_dir:
        raise UsageError(f"{what} {path}: not a {'folder' if is_dir else 'file'}")
    q = p if is_dir else p.parent  # a file's folder must exist; a folder is created
    while is_dir and not q.exists() and q != q.parent:
        q = q.parent
    if not q.is_dir() or not os.access(q, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {path}: cannot be written ({q} is not a writable folder)")
    try:  # root passes os.access everywhere: try a folder there (removed at once)
        tempfile.TemporaryDirectory(dir=q).cleanup()
    except OSError as e:
        raise UsageError(f"{what} {path}: cannot be written ({q}: {e.strerror})") from None


def _validate(files: list[str]):
    for f in files:
        model.load(f)  # raises SpecError


def _worker_init():
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _check(path, opts):
    try:
        return runner.check_spec(path, **opts)
    except ModelError as e:  # name the spec that reached it
        raise ModelError(f"{path}: {e}") from None


def run_specs(files: list[str], jobs: int, opts: dict) -> tuple[list[dict], bool]:
    """Check every file; Ctrl-C keeps what was found so far (as unknown)."""
    _validate(files)
    results: dict[str, dict] = {}
    interrupted = False
    if jobs <= 1 or len(files) == 1:
        for f in files:
            try:
                results[f] = _check(f, opts)
            except KeyboardInterrupt:
                interrupted = True
                break
            if results[f]["interrupted"]:
                interrupted = True
                break
    else:
        with ProcessPoolExecutor(max_workers=jobs, initializer=_worker_init) as pool:
            futs = {f: pool.submit(_check, f, opts) for f in files}
            old = signal.signal(signal.SIGINT, lambda *_: None)
            try:
                for f, fut in futs.items():
                    try:
                        results[f] = fut.result()
                    except KeyboardInterrupt:
                        interrupted = True
                    except Exception:  # a bug of skbcheck (exit 3): stop the rest now
                        for g in futs.values():
                            g.cancel()
                        raise
                    if results.get(f, {}).get("interrupted"):
                        interrupted = True
                    if interrupted:
                        for g in futs.values():
                            g.cancel()
            finally:
                signal.signal(signal.SIGINT, old)
    return [results[f] for f in files if f in results], interrupted


def write_traces(results: list[dict], out: Path, proofs_res=()) -> Path | None:
    """One folder per run: a file per violation of a spec (``<spec>/<property>.txt``),
    per spec error found by exploring (``<spec>/spec_error.txt``) and per violation of a
    default proof (``proof-<design>-<sizes>/<property>.txt``)."""
    from .proofs import proof_dir, proof_trace_text

    viol = [(r, p) for r in results for p, e in r["properties"].items() if "trace" in e]
    pviol = [(r, p) for r in proofs_res for p, e in r["properties"].items() if "trace" in e]
    errs = [r for r in results if r["spec_error"]]
    if not viol and not errs and not pviol:
        return None
    run_dir = out / time.strftime("run-%Y%m%d-%H%M%S")
    n = 1
    while run_dir.exists():
        run_dir = out / (time.strftime("run-%Y%m%d-%H%M%S") + f"-{n}")
        n += 1
    for r, p in viol:
        d = run_dir / r["name"]
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{p}.txt").write_text(runner.trace_text(r, p))
    for r in errs:
        d = run_dir / r["name"]
        d.mkdir(parents=True, exist_ok=True)
        (d / "spec_error.txt").write_text(runner.spec_error_text(r))
    for r, p in pviol:
        d = run_dir / proof_dir(r)
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{p}.txt").write_text(proof_trace_text(r, p))
    return run_dir


def table(results: list[dict]) -> str:
    props = list(SHORT)
    head = ["spec", "design", "states", "trans", "secs", *(SHORT[p] for p in props), ""]
    letters = {"holds": ".", "violated": "V", "unknown": "?"}
    rows = []
    for r in results:
        cells = [cell(letters, r["properties"][p]["verdict"], r["properties"][p]["expected"])
                 for p in props]
        status = "ok" if r["matches_expectations"] else "MISMATCH"
        if r["spec_error"]:
            status = "SPEC ERROR"
        rows.append([r["name"], design_label(r), str(r["states"]), str(r["transitions"]),
                     f"{r['seconds']:.1f}", *cells, status])
    lines = grid(head, rows, right=(2, 3, 4), max_width={1: 34})
    lines.append("")
    lines.append(". holds   V violated   ? unknown (exploration incomplete)   "
                 "! differs from the spec's [expect]")
    lines.append(columns(props))
    return "\n".join(lines)


def report(results: list[dict], ok: bool) -> dict:
    """The JSON report of SPEC_FORMAT.md (``check all --json``)."""
    specs = []
    for r in results:
        props = {}
        for p, e in r["properties"].items():
            d = {"verdict": e["verdict"], "expected": e["expected"]}
            if "why" in e:
                d["why"] = e["why"]
            if "trace" in e:
                d["trace"] = e["trace"]
                d["race"] = e["race"]
            props[p] = d
        specs.append({k: r[k] for k in ("file", "name", "design", "mutations", "complete",
                                        "states", "transitions", "seconds")}
                     | {"properties": props, "matches_expectations": r["matches_expectations"],
                        "spec_error": r["spec_error"]})
    return {"format": 1, "specs": specs, "matches_expectations": ok}


def check_jobs(args, where: str) -> None:
    """--jobs of run, all and agree: 0 is one per core."""
    if args.jobs < 0:
        raise UsageError(f"{where}--jobs must be at least 0 (0: one per core)")


def cmd_check(files: list[str], args) -> int:
    check_jobs(args, "")
    if args.max_states is not None and args.max_states < 1:
        raise UsageError("--max-states must be at least 1")
    if not args.no_traces:
        writable(args.out, "--out")
    if args.graph:
        writable(args.graph, "--graph")
    opts = {"progress": not args.quiet, "lazy_rcu": not args.eager_rcu,
            "chain_local": not args.no_chain, "max_states": args.max_states}
    if args.graph:
        Path(args.graph).mkdir(parents=True, exist_ok=True)
    jobs = args.jobs or os.cpu_count() or 1
    pfile = Path(args.dir or default_specs_dir()) / "default.proofs" \
        if getattr(args, "proofs", False) else None
    defaults = None
    if pfile and pfile.is_file():
        from . import proofs

        defaults = proofs.load_defaults(pfile)  # a malformed file fails now, not later
    if args.graph:
        results, interrupted = [], False
        _validate(files)
        for f in files:
            o = dict(opts, graph_file=str(Path(args.graph) / (Path(f).stem + ".graphml")))
            results.append(runner.check_spec(f, **o))
    else:
        results, interrupted = run_specs(files, jobs, opts)
    ok = all(r["matches_expectations"] for r in results) and not interrupted
    ok = ok and len(results) == len(files)
    proofs_res = []
    if pfile and pfile.is_file() and not interrupted:
        proofs_res = proofs.run_defaults(pfile, progress=not args.quiet, jobs=jobs,
                                         defaults=defaults)
        ok = ok and all(r["matches_expectations"] for r in proofs_res)
    run_dir = None if args.no_traces else write_traces(results, Path(args.out), proofs_res)
    if args.json:
        rep = report(results, ok)
        if pfile:
            rep["proofs"] = proofs_res
        print(json.dumps(rep, indent=1))
    else:
        print(table(results))
        if proofs_res:
            from . import proofs

            print("\nDefault proofs (specs/default.proofs; `check prove` for more):\n")
            print(proofs.table(proofs_res))
            bad = [r["design"] for r in proofs_res if not r["matches_expectations"]]
            if bad:
                print("proofs not as expected: " + ", ".join(bad))
        if interrupted:
            print(f"\ninterrupted: {len(results)} of {len(files)} specs reported; "
                  "verdicts not yet found are unknown")
        bad = [r["name"] for r in results if not r["matches_expectations"]]
        print(f"\n{len(results)} specs: {len(results) - len(bad)} as expected"
              + (f", {len(bad)} not: {', '.join(bad)}" if bad else ""))
        if run_dir:
            print(f"traces: {run_dir}/")
    errs = [r["spec_error"]["message"] for r in results if r["spec_error"]]
    for e in errs:
        print(f"check: {e}", file=sys.stderr)
    if errs:
        return 2
    return 0 if ok else 1


def cmd_prove(args) -> int:
    from . import proofs

    size = proofs.size_from_args(args)
    if args.save_specs:
        writable(args.save_specs, "prove: --save-specs")
    if not args.no_traces:
        writable(args.out, "prove: --out")
    if args.focus_states is not None and args.focus_states < 1:
        raise proofs.ProofUsageError("prove: --focus-states must be at least 1")
    for flag in ("search_states", "exhaustive_states"):
        if getattr(args, flag) < 0:
            raise proofs.ProofUsageError(f"prove: --{flag.replace('_', '-')} must be at "
                                         "least 0")
    if not args.induction_seconds > 0:
        raise proofs.ProofUsageError("prove: --induction-seconds must be more than 0")
    if args.walks < 0 or args.walk_depth < 1:
        raise proofs.ProofUsageError("prove: --walks must be at least 0 and --walk-depth "
                                     "at least 1")
    if args.search_cpus < 1:
        raise proofs.ProofUsageError("prove: --search-cpus must be at least 1")
    if args.jobs < 1:
        raise proofs.ProofUsageError("prove: --jobs must be at least 1")
    if not args.query_seconds > 0:
        raise proofs.ProofUsageError("prove: --query-seconds must be more than 0")
    from .induction import SOLVERS

    if args.solver not in SOLVERS:
        raise proofs.ProofUsageError(f"prove: unknown solver {args.solver!r} (auto, z3 "
                                     "or bitwuzla)")
    if args.solver == "bitwuzla":
        from . import bitwuzla_solver

        if not bitwuzla_solver.available():
            raise proofs.ProofUsageError("prove: --solver bitwuzla needs the bitwuzla "
                                         "package (pip install bitwuzla)")
    proofs.check_design(args.design)
    muts = proofs.mutations_from_args(args.mutations)
    focus = proofs.focus_from_args(args.focus, args.focus_spec)
    proofs.check_focus(focus, size, "prove")
    leave_out = tuple(x.strip() for x in args.leave_out.split(",") if x.strip())
    proofs.check_leave_out(args.design, muts, size, leave_out,
                           control=args.control_lemmas or args.heap_lemmas or args.outright,
                           heap=args.heap_lemmas)
    res = proofs.prove(args.design, muts, size, search_states=args.search_states,
                       exhaustive_states=args.exhaustive_states,
                       induction=not args.no_induction,
                       induction_seconds=args.induction_seconds,
                       control_lemmas=args.control_lemmas, heap_lemmas=args.heap_lemmas,
                       cti_per_step=args.cti_per_step,
                       outright=args.outright, jobs=args.jobs,
                       query_seconds=args.query_seconds, solver=args.solver,
                       merge_steps=args.merge_steps,
                       leave_out=leave_out,
                       progress=not args.quiet,
                       focus=focus,
                       focus_states=args.focus_states, max_search_cpus=args.search_cpus,
                       walks=args.walks,
                       walk_depth=args.walk_depth, seed=args.seed)
    # a standalone proof expects every property proved (exit 1 otherwise): the table
    # marks what was not, as check all marks what differs from specs/default.proofs
    ok = proofs.judge(res, {})
    if args.save_specs:
        res["saved_specs"] = proofs.save_specs(res, Path(args.save_specs), not args.quiet)
    run_dir = None if args.no_traces else write_traces([], Path(args.out), [res])
    if args.json:
        print(json.dumps({"format": 1, "proofs": [res], "matches_expectations": ok}, indent=1))
    else:
        print(proofs.table([res]))
        print(proofs.details([res]))
        for line in proofs.saved_specs_lines(res.get("saved_specs", [])):
            print(line)
        if run_dir:
            print(f"traces: {run_dir}/")
    return 0 if ok else 1


def cmd_agree(args) -> int:
    from functools import partial

    from . import agree

    files = spec_paths(args.paths)
    _validate(files)
    if args.bmc_seconds < 0:
        raise UsageError("agree: --bmc-seconds must be at least 0")
    check_jobs(args, "agree: ")
    jobs = min(args.jobs or os.cpu_count() or 1, len(files))
    one = partial(agree.agree_spec, bmc_seconds=args.bmc_seconds, progress=not args.quiet)
    results: list[dict] = []
    with ProcessPoolExecutor(max_workers=jobs) if jobs > 1 else nullcontext() as pool:
        for r in (pool.map(one, files) if pool else map(one, files)):
            results.append(r)
            if not args.quiet and not args.json:
                sys.stderr.write("  " + "  ".join(agree.row(r)) + "\n")
    ok = all(r["agree"] for r in results)
    if args.json:
        print(json.dumps({"format": 1, "agreement": results, "agree": ok}, indent=1))
        return 0 if ok else 1
    print("\n".join(grid(agree.HEAD, [agree.row(r) for r in results],
                         right=(1, 2, 3, 7))))
    for r in results:
        for what in ("relation", "properties"):
            if r[what]:
                print(f"{r['name']}: {what}: {r[what]}")
        if r["bmc"] and r["bmc"]["disagreement"]:
            print(f"{r['name']}: bmc: {r['bmc']['disagreement']}")
    edges = sum(r["edges"] for r in results)
    states = sum(r["states"] for r in results)
    bad = [r["name"] for r in results if not r["agree"]]
    print(f"\n{len(results)} specs, {states} states, {edges} edges: "
          + ("the engines agree on all" if ok else f"DISAGREEMENT on {', '.join(bad)}"))
    return 0 if ok else 1


def cmd_list(args) -> int:
    from model.designs import DESIGNS, MUTATIONS
    from model.ops import OPS

    if args.conformance:
        from model.conformance import table as conformance

        print(conformance(), end="")
        return 0
    data = {
        "designs": DESIGNS,
        "mutations": {k: v[0] for k, v in MUTATIONS.items()},
        "properties": MEANINGS,
        "ops": {k: o.kernel for k, o in OPS.items()},
    }
    if args.json:
        print(json.dumps(data, indent=1))
        return 0
    for section, items in data.items():
        print(f"{section}:")
        for k, v in items.items():
            print(f"  {k:20} {v}")
        print()
    return 0


EXIT_CODES = ("exit codes: 0 every verdict as expected (a spec's [expect]; for check prove, "
              "every property proved), 1 some verdict is not (or unknown), 2 a bad spec or "
              "usage, 3 a bug in skbcheck itself (SKBCHECK_TRACEBACK=1 shows the traceback)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="check", description=__doc__.splitlines()[0],
                                 epilog=EXIT_CODES)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p):
        p.add_argument("--json", action="store_true", help="print the JSON report on stdout")
        p.add_argument("--out", default="traces", help="folder for trace files (default: traces)")
        p.add_argument("--no-traces", action="store_true", help="do not write trace files")
        p.add_argument("--jobs", "-j", type=int, default=0, help="specs checked in parallel")
        p.add_argument("--max-states", type=int, default=None,
                       help="override every spec's bounds.max_states")
        p.add_argument("--graph", metavar="DIR", help="write each state graph as GraphML")
        p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
        p.add_argument("--eager-rcu", action="store_true",
                       help="explicit grace-period steps instead of lazy RCU (slower)")
        p.add_argument("--no-chain", action="store_true",
                       help="run local steps as separate transitions (slower)")

    p = sub.add_parser("all", epilog=EXIT_CODES,
                       help="check every spec in DIR (default: the shipped specs/) and run "
                            "the default proofs")
    p.add_argument("dir", nargs="?")
    p.add_argument("--no-proofs", dest="proofs", action="store_false",
                   help="skip the default proofs (specs/default.proofs)")
    common(p)
    p = sub.add_parser("run", epilog=EXIT_CODES, help="check the named spec files")
    p.add_argument("files", nargs="+", help="spec files (TOML, SPEC_FORMAT.md)")
    common(p)
    p = sub.add_parser("list", help="designs, mutations, properties and ops")
    p.add_argument("--json", action="store_true")
    p.add_argument("--conformance", action="store_true",
                   help="print the conformance table (model step <-> kernel function)")
    p = sub.add_parser("prove", epilog=EXIT_CODES,
                       help="prove the properties for every workload of a size")
    p.add_argument("--design", default="rfc-refcnt-guard",
                   help="rfc, rfc-refcnt-guard or rfc-fix (default rfc-refcnt-guard; a "
                        "spec's default is rfc)")
    p.add_argument("--mutations", default="", help="comma-separated protections to remove")
    p.add_argument("--out", default="traces",
                   help="folder for the violations' trace files (default: traces)")
    p.add_argument("--no-traces", action="store_true", help="do not write trace files")
    p.add_argument("--skbs", type=int, default=4, help="packets (default 4)")
    p.add_argument("--maps", type=int, default=2, help="maps (default 2)")
    p.add_argument("--cpus", type=int, default=3, help="CPUs (default 3)")
    p.add_argument("--cache-size", type=int, default=16)
    p.add_argument("--lock-failures", type=int, default=0)
    p.add_argument("--alloc-failures", type=int, default=0)
    p.add_argument("--without", default="",
                   help="comma-separated op kinds left out of the world (a restriction "
                        "the report names)")
    p.add_argument("--focus", action="append", metavar="OPS@S/M/C",
                   help="also search for violations in a narrower world: only these op "
                        "kinds, at most S packets, M maps, C CPUs (repeatable)")
    p.add_argument("--focus-spec", action="extend", nargs="+", metavar="FILE",
                   help="focus worlds from specs: each CPU starts only the ops of its "
                        "thread in the spec, in any order, any number of times")
    p.add_argument("--search-states", type=int, default=150_000,
                   help="state budget of each violation search in a smaller world")
    p.add_argument("--search-cpus", type=int, default=2,
                   help="most CPUs of the smaller worlds searched for violations "
                        "(default 2; 1 skips the two-CPU ones, the longest searches at "
                        "4/2/3)")
    p.add_argument("--focus-states", type=int, default=None,
                   help="state budget of each focus-world search (default: "
                        "--search-states)")
    p.add_argument("--walks", type=int, default=0,
                   help="random walks at the full size to look for violations the "
                        "searches missed (default 0; never a proof)")
    p.add_argument("--walk-depth", type=int, default=200, help="steps per walk (default 200)")
    p.add_argument("--seed", type=int, default=1, help="seed of the walks (default 1)")
    p.add_argument("--exhaustive-states", type=int, default=500_000,
                   help="state budget of the exhaustive exploration at the full size")
    p.add_argument("--induction-seconds", type=float, default=600,
                   help="time budget for building the z3 relation (default 600)")
    p.add_argument("--no-induction", action="store_true", help="skip the induction")
    p.add_argument("--control-lemmas", action="store_true",
                   help="induction with the ctl:* lemmas of invariants/control.py, the "
                        "register and guard lemmas too, each claimed until an oops, and "
                        "no-oops (proves no_shared_storage with 1 CPU and 2-4 packets, and with "
                        "2-3 CPUs without delete and map_free)")
    p.add_argument("--heap-lemmas", action="store_true",
                   help="--control-lemmas and the heap:* lemmas of invariants/heap.py "
                        "(the local storage core's lists, owners, cache slots and the "
                        "nofail protocol; with them all five are proved for rfc-fix and, "
                        "without ext_del, rfc-refcnt-guard at 2 packets, 1 map, 2 CPUs)")
    p.add_argument("--outright", action="store_true",
                   help="--control-lemmas, each lemma claimed on every state, oopses "
                        "included, not only until a CPU oopses (proves no_shared_storage "
                        "for rfc-refcnt-guard with every op kind on two CPUs, where "
                        "finding 3 makes an oops reachable)")
    p.add_argument("--leave-out", default="", metavar="LEMMAS",
                   help="lemmas the induction does not try, comma-separated, each a name "
                        "or a prefix ending in * (e.g. 'no-oops,hlist:*'): known to fail "
                        "in the world, they only cost time")
    p.add_argument("--jobs", type=int, default=1,
                   help="with more than 1: --cti-per-step, its step checks shared out "
                        "among that many processes (default 1)")
    p.add_argument("--query-seconds", type=float, default=60,
                   help="z3's time limit per induction query (default 60); a query it "
                        "gives up on is asked again in pieces, and a candidate none of "
                        "whose pieces answer is dropped, never proved")
    p.add_argument("--solver", default="auto", metavar="auto|z3|bitwuzla",
                   help="who answers an induction query z3's incremental core does not "
                        "within its effort limit: a fresh z3 solver, Bitwuzla, or (auto, "
                        "the default) z3 until it gives up on a query within 15 s, then "
                        "Bitwuzla (z3 builds every query either way; at 4 packets, 2 "
                        "maps, 3 CPUs Bitwuzla answers the hard step queries z3 gives up "
                        "on, while z3 is the quicker on small worlds)")
    p.add_argument("--merge-steps", action=argparse.BooleanOptionalAction, default=True,
                   help="ask all the paths of one kernel step as one induction query "
                        "(their guards or'ed, their writes chosen by the guard taken; "
                        "the default): a step of a few hundred paths costs about what a "
                        "few dozen of them cost one by one; --no-merge-steps asks one "
                        "query per path")
    p.add_argument("--cti-per-step", action="store_true",
                   help="before Houdini, check every step with all the candidates "
                        "assumed and report, per step, those it does not preserve with a "
                        "counterexample (what a lemma writer reads); Houdini then runs in "
                        "whole rounds of such checks")
    p.add_argument("--save-specs", metavar="DIR",
                   help="write each violation's trace as a spec in DIR and check it")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p = sub.add_parser("agree", help="the explicit and z3 engines compared on every state "
                                     "and edge of each spec (and with --bmc-seconds, BMC "
                                     "against BFS)")
    p.add_argument("paths", nargs="*", help="spec files or folders (default: specs/)")
    p.add_argument("--bmc-seconds", type=float, default=0.0,
                   help="also run bounded model checking, up to the state graph's depth, "
                        "with this budget per spec (default 0: no BMC)")
    p.add_argument("--jobs", "-j", type=int, default=0, help="specs checked in parallel")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p = sub.add_parser("bench", help="states, transitions, seconds, states/s, peak memory")
    p.add_argument("paths", nargs="*", help="spec files or folders (default: specs/)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--record", metavar="FILE", help="append the figures as a JSON line")
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    try:
        if args.cmd == "list":
            return cmd_list(args)
        if args.cmd == "all":
            return cmd_check(spec_files(args.dir), args)
        if args.cmd == "run":
            for f in args.files:
                if Path(f).is_dir():
                    raise UsageError(f"{f}: a directory, not a spec file "
                                     "(`check all DIR` runs a directory)")
                if not Path(f).is_file():
                    raise UsageError(f"{f}: no such spec file")
            return cmd_check(args.files, args)
        if args.cmd == "prove":
            return cmd_prove(args)
        if args.cmd == "agree":
            return cmd_agree(args)
        if args.cmd == "bench":
            from .bench import main as bench_main

            return bench_main(args)
    except model.SpecError as e:
        print(f"check: {e}", file=sys.stderr)
        return 2
    except UsageError as e:  # also proofs.ProofUsageError
        print(f"check: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a file or folder the command reads or writes (not a spec)
        where = f"{e.filename}: " if e.filename else ""
        print(f"check: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except (ModelError, ReductionError) as e:
        return _bug(e, "model error (a bug in skbcheck, not a finding)")
    except Exception as e:  # noqa: BLE001 - any other crash: exit 3, not Python's 1
        return _bug(e, f"internal error (a bug in skbcheck): {type(e).__name__}")
    return 2


def _bug(e: Exception, what: str) -> int:
    """A crash of skbcheck itself: one line and exit 3, so that a script never takes it
    for exit 1's "some verdict differs"; SKBCHECK_TRACEBACK=1 re-raises it."""
    if os.environ.get("SKBCHECK_TRACEBACK"):
        raise e
    print(f"check: {what}: {e} (SKBCHECK_TRACEBACK=1 shows the traceback)", file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main())
