"""map_free's restart (`cond_resched_rcu(); goto restart;`) and the spec key
`preempt_rcu`: finding 4's use after free needs cond_resched_rcu() to end the RCU
read-side section, which it does only without CONFIG_PREEMPT_RCU."""

import dataclasses

import pytest
from conftest import ROOT, complete_verdicts, spec_from

import model
from model.spec import SpecError

WARN_RESTART = ROOT / "specs" / "map-free-warn-restart.toml"


def test_restart_reaches_the_freed_selem_only_when_the_section_ends():
    spec = model.load(WARN_RESTART)
    assert not spec.preempt_rcu
    assert complete_verdicts(spec)["no_use_after_free"] == "violated"
    preempt = complete_verdicts(dataclasses.replace(spec, preempt_rcu=True))
    assert preempt["no_use_after_free"] == "holds"
    # the other outcomes of the lock failure (finding 4) do not depend on it
    assert {preempt[n] for n in ("no_leak", "refcount_sane", "no_deadlock")} == {"violated"}


def test_without_lock_failures_ending_the_section_changes_no_verdict():
    spec = model.load(ROOT / "specs" / "free-vs-both-map-frees.toml")
    assert complete_verdicts(spec) == complete_verdicts(dataclasses.replace(spec, preempt_rcu=True))


def test_bad_value_is_one_line():
    text = '[spec]\npreempt_rcu = "yes"\n[[thread]]\nname = "cpu0"\nops = ["end"]\n'
    with pytest.raises(SpecError, match=r"bad.toml: \[spec\] preempt_rcu must be true or "
                                        "false"):
        spec_from(text, "bad.toml")
