"""Finding 4's leaks with one rqspinlock failure (specs/free-vs-map-free-lock-failure,
specs/map-free-warn-restart): besides the selem the README's first bullet describes,
destroy's storage lock timing out before map_free reaches the selem leaks the storage
itself.  bpf-next added a WARN for exactly this on 2026-03-19 (4b21ea502483), after
the RFC was posted; the model follows the RFC's base and only says so in the trace."""

import itertools

from conftest import explored_spec

from invariants.properties import Props, Why

WARN = "WARN_ON_ONCE(err && !in_map_free)"
LOCK_FAILURE = "free-vs-map-free-lock-failure.toml"


def _steps(m, ex, sid):
    return [m.label_parts(ex.labels[lid]) for lid, _, _ in ex.path(sid)]


def test_destroys_storage_lock_timeout_leaks_the_storage_nobody_frees():
    """A final state in which storage1 alone is leaked: destroy's bucket unlink of the
    selem worked, its storage lock timed out and it cleared selem->local_storage, and
    map_free, reaching the selem afterwards, loaded a NULL local_storage and freed the
    selem only.  The destroy step that clears the pointer carries upstream's WARN."""
    m, ex = explored_spec(LOCK_FAILURE)
    p, why = Props(m), Why(m)
    leaks = [sid for sid in ex.finals if not p.no_leak(ex.states[sid])
             and why.no_leak(ex.states[sid]).endswith(": storage1")]
    assert leaks
    for sid in leaks:
        warned = [st for st in _steps(m, ex, sid) if any(WARN in n for n in st["notes"])]
        assert [st["thread"] for st in warned] == ["cpu0"]
        assert warned[0]["shorts"][-1] == "selem->local_storage = NULL"


def test_only_a_destroy_whose_storage_lock_failed_gets_the_warn():
    """On the path to every final state: the destroy's next step after its storage
    lock timed out carries the note, no other step does, and map_free never does
    (its own storage-lock timeout keeps selem->local_storage for the destroy)."""
    m, ex = explored_spec(LOCK_FAILURE)
    warned = 0
    for sid in ex.finals:
        mine = [st for st in _steps(m, ex, sid) if st["thread"] == "cpu0"]
        for before, st in itertools.pairwise(mine):
            timed_out = (before["shorts"] == ["lock storage; free_storage = last?"]
                         and any("lock timed out" in n for n in before["notes"]))
            has = any(WARN in n for n in st["notes"])
            assert has == timed_out
            warned += has
        assert not any(WARN in n for st in _steps(m, ex, sid) if st["thread"] == "cpu1"
                       for n in st["notes"])
    assert warned


def test_with_one_map_the_shortest_leak_is_the_one_upstream_warns_about():
    """map-free-warn-restart (one packet, one map): the shortest no_leak trace is a
    destroy whose storage lock timed out after it took the selem off the bucket, so
    map_free never meets the selem: storage and selem leak, and the destroy's step
    carries the WARN."""
    m, ex = explored_spec("map-free-warn-restart.toml")
    sid = ex.violations["no_leak"]
    assert Why(m).no_leak(ex.states[sid]).endswith(": storage1, selem1")
    steps = _steps(m, ex, sid)
    warned = [st for st in steps if any(WARN in n for n in st["notes"])]
    assert [(st["thread"], st["shorts"][-1]) for st in warned] == [
        ("cpu0", "selem->local_storage = NULL")]
    assert not any(st["thread"] == "cpu1" and "nofail" in " ".join(st["functions"])
                   for st in steps)
