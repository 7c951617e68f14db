"""The variants, declared: which patches, in which order, editing what.

This file is data.  How an edit is applied lives in series.py; what the
code says lives in templates/.
"""

from __future__ import annotations

from gen.series import InsertAfter, Patch, Variant, decl, fn

VMAP_PARTIAL = Patch(
    slug="vmap-partial",
    subject="xen/vmap: allow releasing part of an allocation",
    message="msg/vmap-partial.txt.j2",
    edits=(
        InsertAfter(path="xen/common/vmap.c", template="c/vmap/vunmap_partial.c.j2",
                    anchor=fn("vunmap")),
        InsertAfter(path="xen/include/xen/vmap.h", template="c/vmap/vunmap_partial.h.j2",
                    anchor=decl("vunmap")),
    ),
)

SPLIT_VMAP = Variant(
    name="split-vmap",
    summary="xmalloc keeps trimming whole-page allocations; vmap learns to free part "
            "of an allocation",
    title="xen: free part of a vmap allocation, for the xenheap on vmap",
    patches=(VMAP_PARTIAL,),
)

VARIANTS = {v.name: v for v in (SPLIT_VMAP,)}
