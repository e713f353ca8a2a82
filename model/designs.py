"""Designs under review and the protections a spec can remove (SEMANTICS.md section 5)."""

DESIGNS = {
    "rfc": "the RFC as posted (seed 000): the kfuncs refuse when "
           "skb->cloned && is_skb_storage_shared(skb)",
    "rfc-refcnt-guard": "the RFC with the guard refusing whenever the packet's ext with "
                        "BPF storage is shared (refcnt != 1), whatever skb->cloned says",
    "rfc-fix": "rfc-refcnt-guard plus the changes skbcheck proposes (not in the RFC or "
               "the kernel); for finding 3: skb_ext_maybe_cow clears the copy's storage "
               "pointer whenever BPF_STORAGE is present in the copy, not only when it "
               "was active; and bpf_skb_storage_get destroys the storage a data area "
               "re-activated by skb_ext_add still holds (left by skb_ext_del) before "
               "setting the pointer to NULL, instead of orphaning it; for finding 4's "
               "use after free: bpf_selem_unlink_nofail in map_free does not set "
               "SELEM_MAP_UNLINKED on a selem the bucket still links",
}

# name -> (the protection removed, where it lives in the model)
MUTATIONS = {
    "no-clone-guard": ("kfuncs skip the sharing guard entirely",
                       "bpf_skb_storage.guard_refuses"),
    "no-cow-reset": ("skb_ext_maybe_cow keeps the old storage pointer in the copy",
                     "skbuff.skb_ext_cow"),
    "no-ext-destroy": ("__skb_ext_put does not call bpf_skb_storage_free",
                       "skbuff.skb_ext_put"),
    "no-cache-recheck": ("insert_cache publishes without the lock / linked recheck",
                         "bpf_local_storage.insert_cache"),
    "no-cache-clear": ("unlink does not clear a cache slot pointing at the removed sdata",
                       "bpf_local_storage.unlink_misc_cache, nofail_storage"),
    "no-smap-check": ("lookup accepts a cache hit without sdata->smap == smap",
                      "bpf_local_storage.lookup_cache, lookup_nolock"),
    "no-empty-recheck": ("update does not recheck 'list empty' under the storage lock",
                         "bpf_local_storage.update_locked"),
    "no-cmpxchg-publish": ("alloc publishes owner->storage with a plain store",
                           "bpf_local_storage.update_alloc"),
    "no-nofail-state": ("unlink_nofail frees the selem whenever it unlinked anything",
                        "bpf_local_storage.nofail_free"),
    "no-owner-pin": ("map_free's misc touches the owner without the owner_refcnt pin, "
                     "and destroy does not wait for it", "bpf_local_storage.nofail_pin, "
                     "destroy_unpin"),
    "no-rcu-defer": ("selems and storages are freed at once instead of after a grace "
                     "period", "bpf_local_storage.selem_free, storage_free"),
    # extensions (not in SEMANTICS.md section 5): one per property no listed protection
    # guards, so that every property is shown to catch a real bug
    "no-cow-put": ("skb_ext_maybe_cow does not drop the skb's reference on the old ext",
                   "skbuff.skb_ext_cow"),
    "no-cache-idx-free": ("map_free does not release the map's cache_idx",
                          "bpf_local_storage.map_free_start"),
    "no-owner-unpin": ("map_free's misc pins owner_refcnt and never drops it",
                       "bpf_local_storage.nofail_unpin"),
}

SEMANTICS_MUTATIONS = tuple(list(MUTATIONS)[:11])

# the RFC's guard, as its step text quotes it (bpf_skb_storage.py)
RFC_GUARD = "skb->cloned && is_skb_storage_shared(skb)"
FIX_NOTE = "(rfc-fix: "


def step_text(text: str, design: str) -> str:
    """A step's text as a trace of ``design`` shows it: the other designs' code left
    out, so that what a reviewer pastes is the code of the design checked.  Step texts
    quote the RFC and mark the changes rfc-fix proposes as ``(rfc-fix: ...)``; the
    guard of rfc-refcnt-guard and rfc-fix reads is_skb_storage_shared() alone."""
    if design != "rfc":
        text = text.replace(RFC_GUARD, "is_skb_storage_shared(skb)")
    if design == "rfc-fix":
        return text
    while FIX_NOTE in text:
        i = text.index(FIX_NOTE)
        depth, j = 0, i
        for j in range(i, len(text)):
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            if depth == 0:
                break
        text = text[:i].rstrip() + text[j + 1:]
    return text
