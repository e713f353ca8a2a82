"""Each op's effect and return value on one CPU, against the kernel code."""

import pytest
from conftest import explore_text, run_single

from model.spec import SpecError


def test_selftest_sequence_returns_what_the_selftest_checks():
    # seed 000 patch 5/5, skb_storage_ops: test_result 1..6 all pass
    ops = ["get(A, M) == NULL", "get(A, M, create) == 0", "write(A, M, 0xdeadbeef)",
           "get(A, M) == 0xdeadbeef", "delete(A, M) == 0", "delete(A, M) == -ENOENT",
           "get(A, M, create, 0xdeadbeef) == 0xdeadbeef"]
    final, ex, _ = run_single(ops)
    assert ex.verdicts["assertions"] == "holds"
    assert final["A.active_extensions"] == "BPF_STORAGE"
    # the re-created storage is a new one (the first went away with its last selem)
    assert final["ext1.storage"] == "storage2"
    assert final["storage1"].startswith("free queued")
    assert final["storage2.list"] == "[selem2]"


@pytest.mark.parametrize("op,expect", [("get(A, M) == 0", False), ("get(A, M) == NULL", False),
                                       ("get(A, M) == 0x10", True)])
def test_assertions_can_fail(op, expect):
    _, ex, _ = run_single(["get(A, M, create, 0x10)", op])
    assert (ex.verdicts["assertions"] == "holds") is expect


def test_get_create_allocates_ext_storage_and_selem():
    final, _, _ = run_single(["get(A, M, create, 7) == 7", "end"])
    assert final["A.extensions"] == "ext1"
    assert final["ext1.refcnt"] == "1" and final["ext1.present"] == "BPF_STORAGE"
    assert final["ext1.storage"] == "storage1"
    assert final["storage1.owner"] == "ext1" and final["storage1.owner_refcnt"] == "1"
    assert final["storage1.list"] == "[selem1]"
    assert final["selem1.smap"] == "M" and final["selem1.value"] == "7"
    assert final["M.bucket[0]"] + final["M.bucket[1]"] == "[][selem1]" or \
        final["M.bucket[0]"] + final["M.bucket[1]"] == "[selem1][]"
    assert final["storage1.cache[0]"] == "NULL"  # update does not cache


def test_lookup_caches_on_slow_path_only_with_cacheit():
    final, _, _ = run_single(["get(A, M, create)", "get(A, M)", "end"])
    assert final["storage1.cache[0]"] == "selem1"  # get caches (cacheit_lockit)
    final, _, _ = run_single(["get(A, M, create)", "delete(A, M) == 0", "end"])
    assert final["storage1.cache[0]"] == "NULL"


def test_delete_last_selem_frees_storage_and_clears_owner_pointer():
    final, _, _ = run_single(["get(A, M, create)", "get(A, M)", "delete(A, M) == 0", "end"])
    assert final["ext1.storage"] == "NULL"
    assert final["storage1.owner"] == "NULL"
    assert final["storage1.cache[0]"] == "NULL"
    assert final["selem1.snode"] == "unlinked" and final["selem1.map_node"] == "unlinked"
    assert final["selem1"].startswith("free queued") or final["selem1"].startswith("freed")


def test_two_maps_share_one_storage():
    final, _, _ = run_single(["get(A, M, create, 1)", "get(A, N, create, 2)",
                              "get(A, M) == 1", "get(A, N) == 2", "end"], maps=("M", "N"))
    assert final["storage1.list"] == "[selem2, selem1]"  # hlist_add_head: newest first
    assert final["M.cache_idx"] == "0" and final["N.cache_idx"] == "1"
    assert final["storage1.cache[0]"] == "selem1" and final["storage1.cache[1]"] == "selem2"


def test_cache_idx_least_used_first_zero_wins():
    final, _, _ = run_single(["map_create(P)", "map_free(M)", "map_create(Q)"],
                             maps=("M", "N"), bounds="cache_size = 2")
    # M=0, N=1, P=0 (usage 1,1: first minimum), M frees 0, Q takes 0
    assert final["P.cache_idx"] == "0" and final["Q.cache_idx"] == "0"
    assert final["skb_cache.idx_usage_counts[0]"] == "2"
    assert final["skb_cache.idx_usage_counts[1]"] == "1"


def test_clone_and_copy_share_the_ext():
    final, _, _ = run_single(["get(A, M, create)", "end", "clone(A) -> B", "copy(A) -> C"])
    assert final["A.extensions"] == final["B.extensions"] == final["C.extensions"] == "ext1"
    assert final["ext1.refcnt"] == "3"
    assert (final["A.cloned"], final["B.cloned"], final["C.cloned"]) == ("1", "1", "0")


def test_unclone_clears_only_that_packets_bit():
    final, _, _ = run_single(["get(A, M, create)", "end", "clone(A) -> B", "unclone(A)"])
    assert (final["A.cloned"], final["B.cloned"]) == ("0", "1")
    assert final["ext1.refcnt"] == "2"


def test_guard_rfc_reads_cloned_refcnt_guard_does_not():
    ops = ["get(A, M, create, 5)", "end", "copy(A) -> B", "get(B, M) == 5", "end"]
    _, ex, _ = run_single(ops)
    assert ex.verdicts["assertions"] == "holds"  # rfc: B not cloned, passes
    text = ('[spec]\ndesign = "rfc-refcnt-guard"\n[objects]\nskbs = ["A"]\nmaps = ["M"]\n'
            '[[thread]]\nops = ["get(A, M, create, 5)", "end", "copy(A) -> B", '
            '"get(B, M) == NULL", "delete(B, M) == -EOPNOTSUPP"]\n')
    _, ex = explore_text(text)
    assert ex.verdicts["assertions"] == "holds"


def test_clone_guard_refuses_both_sides():
    _, ex, _ = run_single(["get(A, M, create)", "end", "clone(A) -> B",
                           "get(A, M) == NULL", "delete(B, M) == -EOPNOTSUPP"])
    assert ex.verdicts["assertions"] == "holds"


def test_ext_add_on_shared_ext_copies_and_resets_storage():
    final, _, _ = run_single(["get(A, M, create)", "end", "clone(A) -> B", "ext_add(A)"])
    assert final["A.extensions"] == "ext2" and final["B.extensions"] == "ext1"
    assert final["ext2.refcnt"] == "1" and final["ext1.refcnt"] == "1"
    assert final["ext2.present"] == "BPF_STORAGE|SEC_PATH"
    assert final["ext2.storage"] == "NULL"  # the RFC's fixup (old_active has BPF_STORAGE)
    assert final["ext1.storage"] == "storage1"
    assert final["A.active_extensions"] == "BPF_STORAGE|SEC_PATH"


def test_ext_add_on_private_ext_appends_in_place():
    final, _, _ = run_single(["get(A, M, create)", "end", "ext_add(A)"])
    assert final["A.extensions"] == "ext1" and final["ext1.present"] == "BPF_STORAGE|SEC_PATH"
    assert final["ext1.storage"] == "storage1"


def test_ext_del_keeps_present_and_storage():
    final, _, _ = run_single(["get(A, M, create)", "end", "ext_add(A)", "ext_del(A)"])
    assert final["A.active_extensions"] == "SEC_PATH"
    assert final["ext1.present"] == "BPF_STORAGE|SEC_PATH"  # offset[] is never cleared
    assert final["ext1.storage"] == "storage1"


def test_ext_del_of_last_bit_puts_the_ext():
    final, _, _ = run_single(["get(A, M, create)", "end", "ext_del(A)"])
    assert final["A.active_extensions"] == "none" and final["A.extensions"] == "NULL"
    assert final["ext1"] == "freed"
    assert final["storage1"].startswith("free queued")  # destroy ran


def test_scrub_resets_extensions():
    final, _, _ = run_single(["get(A, M, create)", "end", "copy(A) -> B", "scrub(B)"])
    assert final["B.active_extensions"] == "none"
    assert final["ext1.refcnt"] == "1"


def test_free_last_owner_destroys_storage():
    final, ex, _ = run_single(["get(A, M, create)", "get(A, N, create)", "end", "free(A)"],
                              maps=("M", "N"))
    assert final["A"] == "freed" and final["ext1"] == "freed"
    assert final["storage1"].startswith("free queued")
    assert final["selem1.state"] == "0" and final["selem2.state"] == "0"  # unlink == 2
    assert ex.verdicts["no_leak"] == "holds"


def test_free_of_one_sharer_only_drops_a_reference():
    final, _, _ = run_single(["get(A, M, create)", "end", "copy(A) -> B", "free(A)"])
    assert final["ext1.refcnt"] == "1" and final["ext1"] == "allocated"
    assert final["storage1"] == "allocated"


def test_map_free_unlinks_and_frees_its_selems():
    final, ex, _ = run_single(["get(A, M, create)", "get(A, N, create)", "end",
                               "map_free(M)"], maps=("M", "N"))
    assert final["M"] == "freed"
    assert final["selem1.state"] == "0"  # map_free unlinked both links: unlink == 2
    assert final["storage1.list"] == "[selem2]"
    assert ex.verdicts["no_leak"] == "holds"


def test_map_free_of_last_selem_clears_owner_through_the_pin():
    final, _, _ = run_single(["get(A, M, create)", "end", "map_free(M)"])
    assert final["ext1.storage"] == "NULL"
    assert final["storage1.owner_refcnt"] == "1"  # pinned, written, unpinned
    assert final["storage1"].startswith("free queued")


def test_write_and_read_through_value_pointer():
    _, ex, _ = run_single(["get(A, M, create)", "write(A, M, 9)", "read(A, M) == 9",
                           "end", "get(A, M) == 9"])
    assert ex.verdicts["assertions"] == "holds"


def test_write_after_failed_get_is_skipped():
    _, ex, _ = run_single(["get(A, M) == NULL", "write(A, M, 9)", "read(A, M) == NULL",
                           "end", "get(A, M) == NULL"])
    assert ex.verdicts["assertions"] == "holds"


def test_value_pointer_does_not_outlive_the_run():
    """A read or write goes through the pointer of this program run's get: with no get
    since the run began ('end', or any op but get/write/read/delete), the spec is
    wrong (a verifier would reject the program), not a read that quietly gives NULL."""
    for ops in (["get(A, M, create, 3)", "end", "read(A, M) == NULL"],
                ["get(A, M, create, 3)", "clone(A) -> B", "write(A, M, 4)"],
                ["get(A, N, create)", "write(A, M, 4)"]):
        with pytest.raises(SpecError, match=r"no get\(A, M\) earlier in this program run"):
            run_single(ops, maps=("M", "N"))


def test_hlist_del_init_on_an_unhashed_node_is_a_no_op():
    """include/linux/rculist.h hlist_del_init_rcu(): `if (!hlist_unhashed(n))`: deleting
    a node whose pprev is NULL changes nothing (bpf_selem_unlink_map relies on it too,
    with its selem_linked_to_map() checks).  Found by random walks under a mutation:
    the model used to decode pprev NULL as a node."""
    from model.bpf_local_storage import _hlist_del_init, map_link, map_unlink
    from model.kernel import ConcreteView
    from model.layout import MEM_LIVE
    from model.openworld import WorldSize, build

    m = build("rfc", size=WorldSize(1, 1, 1))
    k = ConcreteView(m, m.initial_states()[0], 1, [])
    k.set_meta(m.layout.selem, 1, "mem", MEM_LIVE)
    map_link(k, 1, 0, 1)
    map_unlink(k, 1, 0, 1)
    before = bytes(k.ba)
    map_unlink(k, 1, 0, 1)  # again: unhashed
    _hlist_del_init(k, lambda v: None, "snext", 1)  # never linked to a storage
    assert bytes(k.ba) == before


def test_an_op_that_returns_holding_a_lock_is_a_model_error(monkeypatch):
    """Every op releases the rqspinlocks it takes: one that returns holding one is a bug
    of the model (a planted slip, an update path that forgot its unlock, went unnoticed
    by every verdict), reported as ModelError, not explored as a kernel behaviour (a
    lock held by an idle CPU is otherwise one an oops left: waiters time out on it)."""
    from conftest import ROOT

    import model
    import model.bpf_local_storage as ls
    from checker.explore import explore
    from model.kernel import ModelError

    spec = model.load(ROOT / "specs" / "shared-create-cmpxchg-race.toml")
    explore(model.build(spec), [], 100_000)  # as shipped: fine
    monkeypatch.setattr(ls, "raw_res_spin_unlock", lambda k, obj, fname: None)
    with pytest.raises(ModelError, match=r"cpu\d returned from \w+\(\) holding "):
        explore(model.build(spec), [], 100_000)
