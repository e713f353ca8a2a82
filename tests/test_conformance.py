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
