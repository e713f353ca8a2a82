"""Plain-text tables for `check all` and `check prove`: one row per spec or proof, one
letter per property."""

from __future__ import annotations

SHORT = {
    "no_shared_storage": "share", "clone_isolation": "iso", "no_use_after_free": "uaf",
    "no_double_free": "dfree", "no_leak": "leak", "cache_consistent": "cache",
    "lookup_correct": "lookup", "refcount_sane": "ref", "no_deadlock": "dead",
    "accounting": "acct", "assertions": "assert",
}


class UsageError(Exception):
    """Bad command line or input file: reported as one line, exit code 2."""


def design_label(r: dict) -> str:
    return r["design"] + ("+" + ",".join(r["mutations"]) if r["mutations"] else "")


def cell(letters: dict[str, str], got: str, expected: str | None) -> str:
    """The letter of a verdict, with ``!`` when it differs from the expected one."""
    return letters[got] + ("!" if expected is not None and got != expected else "")


def columns(props) -> str:
    return "columns: " + ", ".join(f"{SHORT[p]}={p}" for p in props)


def grid(head: list[str], rows: list[list[str]], right=(), max_width=None) -> list[str]:
    """Aligned lines (header, rule, rows); columns in ``right`` are right-justified,
    ``max_width`` maps a column to its width limit (longer cells are cut with ``~``)."""
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    for i, w in (max_width or {}).items():
        widths[i] = min(widths[i], w)

    def fmt(row):
        out = []
        for i, (x, w) in enumerate(zip(row, widths, strict=True)):
            x = x if len(x) <= w else x[: w - 1] + "~"
            out.append(x.rjust(w) if i in right else x.ljust(w))
        return "  ".join(out).rstrip()

    return [fmt(head), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)]
