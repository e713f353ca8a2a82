"""Traces for reviewers: a step list and a race diagram (one column per CPU).

Generic: a trace is built from an exploration path, a ``label_parts(label)`` function
(thread, op, step labels, notes) and a ``describe(state)`` function (field -> text).
"""

from __future__ import annotations

import textwrap

# Trace files are pasted into mailing-list replies: prose wraps at TEXT_WIDTH, and a
# race diagram of up to three CPUs stays within DIAGRAM_WIDTH columns.
TEXT_WIDTH = 88
DIAGRAM_WIDTH = 100


def build(ex, sid: int, label_parts, describe) -> list[dict]:
    """One entry per transition from the initial state to state ``sid``."""
    return [entry(label_parts(ex.labels[lid]), describe(ex.states[a]), describe(ex.states[b]))
            for lid, a, b in ex.path(sid)]


def entry(lp: dict, da: dict, db: dict, notes=()) -> dict:
    """A trace entry: the step (``label_parts`` of its label), extra ``notes``, and
    the fields that changed between the descriptions ``da`` (before) and ``db``."""
    changes = {}
    for key in db:
        if da.get(key) != db[key]:
            changes[key] = db[key] if key not in da else f"{da[key]} -> {db[key]}"
    for key in da:
        if key not in db:
            changes[key] = f"{da[key]} -> (gone)"
    return {
        "thread": lp["thread"], "op": lp["op"], "step": " ; ".join(lp["steps"]),
        "function": lp["functions"][0] if lp["functions"] else "",
        "calls": [f"{f}: {sh}" for f, sh in zip(lp["functions"], lp["shorts"], strict=True)],
        "notes": [*lp["notes"], *notes], "changes": changes,
    }


def trace_file(head: list[str], race: str, trace: list[dict], final_state=None) -> str:
    """A trace file: the ``head`` lines, the race diagram, the steps and, if given, the
    state at the violation."""
    text = "\n".join([*head, "Race diagram", "", race, "Steps (fields each step changed)",
                      ""]) + render_steps(trace)
    if final_state is None:
        return text
    tail = ["", "State at the violation", ""]
    tail += [line for k, v in final_state.items() for line in state_lines(k, v)]
    return text + "\n".join(tail) + "\n"


def labelled(label: str, text: str) -> list[str]:
    """``label`` (padded to 10 columns) and ``text`` wrapped under it."""
    return textwrap.wrap(text, TEXT_WIDTH, initial_indent=f"{label:<10}",
                         subsequent_indent=" " * 10, break_on_hyphens=False) or [label]


def render_steps(trace: list[dict], header: str = "") -> str:
    lines = [header] if header else []
    for n, st in enumerate(trace, 1):
        lines.append(f"[{n}] {st['thread']}: {st['op']}")
        for part in st["step"].split(" ; "):
            lines.extend(textwrap.wrap(part, TEXT_WIDTH, initial_indent="      ",
                                       subsequent_indent="          "))
        for note in st["notes"]:
            lines.extend(textwrap.wrap(f"// {note}", TEXT_WIDTH, initial_indent="      ",
                                       subsequent_indent="         "))
        for key, val in st["changes"].items():
            lines.extend(change_lines(key, val))
    return "\n".join(lines) + "\n"


def change_lines(key: str, val: str) -> list[str]:
    """``key: before -> after``, with ``-> after`` on a line of its own if too long."""
    line = f"        {key}: {val}"
    before, arrow, after = val.partition(" -> ")
    if len(line) <= TEXT_WIDTH or not arrow:
        return [line]
    return [f"        {key}: {before}", f"          -> {after}"]


def state_lines(key: str, val: str) -> list[str]:
    """One field of the state at the violation, wrapped under its value."""
    return textwrap.wrap(f"{key}: {val}", TEXT_WIDTH, initial_indent="  ",
                         subsequent_indent=" " * (4 + len(key)), break_on_hyphens=False)


def column_width(ncols: int) -> int:
    """46 columns per CPU for two CPUs; narrower for more, down to 32, so that three
    CPUs fit in DIAGRAM_WIDTH."""
    return 46 if ncols <= 2 else max(32, DIAGRAM_WIDTH // ncols)


def render_race(trace: list[dict], threads: list[str], width: int | None = None,
                verdict: str = "") -> str:
    """The diagram kernel developers put in commit messages: one column per CPU, each
    op with the functions it runs and what each step does, in the order they ran;
    ``verdict`` (what went wrong) ends it, under the last step, after ``==>``."""
    cols = [t for t in threads if any(st["thread"] == t for st in trace)]
    cols += sorted({st["thread"] for st in trace} - set(cols))
    width = width or column_width(len(cols))
    rows: list[tuple[int, str]] = []
    last_op: dict[int, str] = {}
    last_fn: dict[int, str] = {}
    for st in trace:
        c = cols.index(st["thread"])
        if last_op.get(c) != st["op"]:
            rows.append((c, st["op"]))
            last_op[c] = st["op"]
            last_fn[c] = ""
        for call in st.get("calls") or [st["step"]]:
            fn, _, what = call.partition(": ")
            if fn != last_fn[c]:  # (a pseudo-function such as "(spec)" gets no "()")
                rows.append((c, f"  {fn}" if fn.startswith("(") else f"  {fn}()"))
                last_fn[c] = fn
            for line in textwrap.wrap(what, width - 6) or [""]:
                rows.append((c, "    " + line))
        for note in st["notes"]:
            for line in textwrap.wrap("// " + note, width - 6):
                rows.append((c, "    " + line))
    if verdict and trace:
        c = cols.index(trace[-1]["thread"])
        for n, line in enumerate(textwrap.wrap(verdict, width - 6)):
            rows.append((c, ("==> " if n == 0 else "    ") + line))
    head = "".join(t.upper().ljust(width) for t in cols).rstrip()
    rule = "".join(("-" * len(t)).ljust(width) for t in cols).rstrip()
    body = [(" " * (width * c) + text).rstrip() for c, text in rows]
    return "\n".join([head, rule, *body]) + "\n"
