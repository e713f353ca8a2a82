"""skbcheck's model of the RFC "BPF local storage for sk_buff" (see SEMANTICS.md).

Modules mirror kernel files: ``skbuff`` (net/core/skbuff.c, skb extensions),
``bpf_local_storage`` (kernel/bpf/bpf_local_storage.c), ``bpf_skb_storage`` (the RFC's
kfuncs and map type), ``rcu``, ``rqspinlock``, ``refcount``, ``slab``; ``program`` is
the BPF program's own loads and stores.  ``system`` ties a spec to them (Init/Next).
"""

from . import bpf_local_storage, bpf_skb_storage, program, skbuff  # noqa: F401  (register steps)
from .spec import PROPERTIES, Spec, SpecError, load, parse
from .system import SkbStorageModel, build

__all__ = ["PROPERTIES", "Spec", "SpecError", "SkbStorageModel", "build", "load", "parse"]
