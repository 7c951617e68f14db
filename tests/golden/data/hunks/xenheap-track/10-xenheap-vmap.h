/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef X86_XENHEAP_VMAP_H
#define X86_XENHEAP_VMAP_H

/*
 * x86's side of <xen/xenheap-vmap.h>: two arrays that track xenheap pages
 * mapped in the vmap area (CONFIG_XENHEAP_VMAP).
 *
 * page->virt is indexed by pdx and holds the index of the vmap page (from
 * VMAP_VIRT_START) a xenheap page is mapped at, or 0 if the page is only in
 * the direct map: index 0 is the first page of the vmap bitmap, never an
 * allocation.  It is backed for every valid PDX group below
 * XENHEAP_VMAP_FWD_NR, like the frame table, so reading it for a valid
 * page needs no check beyond that bound.
 *
 * virt->page is indexed by vmap page index and holds a pdx.  It is backed
 * on demand, and an entry is valid only if page->virt points back at it, so
 * stale or zero-filled entries need no sentinel.
 */

#include <xen/xenheap-vmap.h>

#ifdef CONFIG_XENHEAP_VMAP

#define xenheap_vmap_fwd ((uint32_t *)XENHEAP_VMAP_FWD_START)
#define xenheap_vmap_rev ((uint32_t *)XENHEAP_VMAP_REV_START)

void xenheap_vmap_init(void);

/* Back page->virt for [spdx, epdx) (memory hot-add).  0 or -errno. */
int xenheap_vmap_extend(unsigned long spdx, unsigned long epdx);

#else /* !CONFIG_XENHEAP_VMAP */

static inline void xenheap_vmap_init(void) {}

static inline int xenheap_vmap_extend(unsigned long spdx, unsigned long epdx)
{
    return 0;
}

#endif /* CONFIG_XENHEAP_VMAP */

#endif /* X86_XENHEAP_VMAP_H */
