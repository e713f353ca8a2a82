"""Bad input never escapes as a traceback: any value of any TOML type, put anywhere in
a shipped spec, and any edit of an op's text, is accepted or rejected with SpecError
(the CLI's one-line exit 2), never another exception."""

import copy
import tomllib

from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

import model
from model.spec import parse

SPECS = [tomllib.loads(p.read_text()) for p in sorted((ROOT / "specs").glob("*.toml"))]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=False), st.text(max_size=12),
                    st.sampled_from(["A", "M", "rfc", "holds", "free(A)", "end",
                                     "get(A, M, create, 1) == 1", "clone(A) -> B"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)


def _parses_or_spec_error(data):
    try:
        parse(data, "fuzz.toml")
    except model.SpecError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SPECS), st.lists(st.integers(0, 10**6), min_size=1, max_size=4),
       VALUES, st.booleans())
def test_any_value_anywhere_is_accepted_or_a_spec_error(base, path, value, delete):
    data = copy.deepcopy(base)
    node = data
    for i, n in enumerate(path):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        k = keys[n % len(keys)]
        if i == len(path) - 1 or not isinstance(node[k], (dict, list)):
            if delete and isinstance(node, dict):
                del node[k]
            else:
                node[k] = value
            break
        node = node[k]
    _parses_or_spec_error(data)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SPECS), st.integers(0, 10**6), st.integers(0, 10**6),
       st.text(alphabet="(),->=ABMPZ0123456789xNUL -ENOENT_\"\\@é\t", max_size=6),
       st.integers(0, 4))
def test_any_edit_of_an_op_is_accepted_or_a_spec_error(base, t, o, insert, cut):
    data = copy.deepcopy(base)
    ops = data["thread"][t % len(data["thread"])]["ops"]
    j = o % len(ops)
    at = o % (len(ops[j]) + 1)
    ops[j] = ops[j][:at] + insert + ops[j][at + cut:]
    _parses_or_spec_error(data)
