"""CONFORMANCE.md is the generated table: every step names its kernel function."""

from conftest import ROOT

from model.conformance import table
from model.kernel import STEPS


def test_conformance_table_is_current():
    assert (ROOT / "CONFORMANCE.md").read_text() == table(), \
        "run: check list --conformance > CONFORMANCE.md"


def test_every_step_names_a_kernel_function():
    for st in STEPS.values():
        assert st.func and st.what and st.where


def test_traces_quote_the_checked_designs_code():
    """Traces show each design's own code (model.designs.step_text), keyed on what the
    step labels quote: the RFC's guard and the "(rfc-fix: ...)" remarks.  A label that
    stops quoting them exactly would leave the other design's code in traces."""
    from model.designs import FIX_NOTE, RFC_GUARD, step_text

    labels = [st.label for st in STEPS.values()]
    # get's and delete's guard, each cut two ways (bpf_skb_storage.py)
    assert sum(RFC_GUARD in x for x in labels) == 4, labels
    assert sum(FIX_NOTE in x for x in labels) == 3
    for x in labels:
        assert RFC_GUARD not in step_text(x, "rfc-refcnt-guard")
        assert FIX_NOTE not in step_text(x, "rfc") + step_text(x, "rfc-refcnt-guard")
        assert step_text(x, "rfc-fix") == x.replace(RFC_GUARD, "is_skb_storage_shared(skb)")
