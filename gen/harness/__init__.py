"""The cffi harness: a tree's real C behind the shim in c/.

The module compiles the tree's own xen/common/vmap.c and
xen/common/xmalloc_tlsf.c, each in its translation unit (c/tu/), plus the
tree's xenheap functions taken out of xen/common/page_alloc.c with cedit,
plus any further C the caller passes, against the fake headers of c/include
and, behind them, the tree's xen/include.  Its cdef is generated with
pycparser from the one test-API header, c/shim/api.h.

A harness is built for a tree and the series applied to it: the series'
traits (the slugs of its patches) decide the build, and a trait that the
tree does not bear out is an error.  A tree with the xenheap series
(xen/arch/x86/xenheap-vmap.c) is built with CONFIG_XENHEAP_VMAP: that
file is compiled whole, page_alloc.c's xenheap_vmap()/xenheap_vunmap()
are taken out with the xenheap functions,
and the tree's own x86 conversions (virt_to_page(), page_to_virt(),
virt_to_maddr(), virt_to_pdx(), pdx_to_virt()), the layout macros of its
arrays and its asm/xenheap-vmap.h (with the xen/xenheap-vmap.h it
includes) replace the shim's conversions: they
are taken out of its asm headers into a generated header, tree/conv.h.
Every build takes the MEMF_* flags from the tree's xen/mm.h (tree/memf.h).

Built modules are cached under cache_dir()/harness, named by a hash of
every input, because an extension module cannot be reloaded: a changed
input is a new module.  With sanitize (or GEN_HARNESS_SANITIZE=1) the
module is built with ASan and UBSan; such a module loads only into a
process that runs with sanitizer_env().

extract.py takes the C out of the tree, compile.py builds and caches the
module, runtime.py calls into it and reads what the code recorded.
"""

from gen.harness.compile import build, cdef, module_path
from gen.harness.extract import XENHEAP_VMAP_COND, XH_H, XV_C, XV_H
from gen.harness.runtime import Harness, Record, XenTrap, sanitizer_env, sanitizing

__all__ = ["XENHEAP_VMAP_COND", "XH_H", "XV_C", "XV_H", "Harness", "Record", "XenTrap", "build",
           "cdef", "module_path", "sanitizer_env", "sanitizing"]
