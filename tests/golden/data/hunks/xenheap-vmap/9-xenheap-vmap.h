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

/* vmap address of a xenheap page, or NULL if it is only in the direct map. */
static inline void *xenheap_vmap_pdx_to_virt(unsigned long pdx)
{
    unsigned long idx = xenheap_vmap_active && pdx < XENHEAP_VMAP_FWD_NR
                        ? xenheap_vmap_fwd[pdx] : 0;

    return idx ? (void *)(VMAP_VIRT_START + (idx << PAGE_SHIFT)) : NULL;
}

#else /* !CONFIG_XENHEAP_VMAP */

static inline void *xenheap_vmap_pdx_to_virt(unsigned long pdx)
{
    return NULL;
}

static inline void xenheap_vmap_init(void) {}

static inline int xenheap_vmap_extend(unsigned long spdx, unsigned long epdx)
{
    return 0;
}

#endif /* CONFIG_XENHEAP_VMAP */

/*
 * Slow paths of the virt->page conversions, for addresses for which
 * xenheap_vmap_va() holds: callers must not pass anything but a xenheap
 * address, as for the direct map.  Declared in either configuration, as
 * the conversions call them in both: without CONFIG_XENHEAP_VMAP,
 * xenheap_vmap_va() is constant false and the calls are dropped.
 */
unsigned long xenheap_vmap_virt_to_pdx(unsigned long va);
unsigned long xenheap_vmap_virt_to_maddr(unsigned long va);

#endif /* X86_XENHEAP_VMAP_H */
