/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef X86_XENHEAP_VMAP_H
#define X86_XENHEAP_VMAP_H

/*
 * Tracking of xenheap pages mapped in the vmap area (CONFIG_XENHEAP_VMAP).
 *
 * page->virt is indexed by pdx and holds the index of the vmap page (from
 * VMAP_VIRT_START) a xenheap page is mapped at, or 0 if the page is only in
 * the direct map: index 0 is the first page of the vmap bitmap, never an
 * allocation.  It is backed for every valid PDX group, like the frame
 * table, so reading it for any valid page needs no check.
 *
 * virt->page is indexed by vmap page index and holds a pdx.  It is backed
 * on demand, and an entry is valid only if page->virt points back at it, so
 * stale or zero-filled entries need no sentinel.
 */

#ifdef CONFIG_XENHEAP_VMAP

#define xenheap_vmap_fwd ((uint32_t *)XENHEAP_VMAP_FWD_START)
#define xenheap_vmap_rev ((uint32_t *)XENHEAP_VMAP_REV_START)

/* Returned by xenheap_vmap_lookup() for an address it does not track. */
#define XENHEAP_VMAP_NO_PDX (~0UL)

/* Set once the arrays are ready; conversions consult them only then. */
extern bool xenheap_vmap_active;
/* Size of VMAP_XENHEAP, from XENHEAP_VMAP_VIRT_START; 0 until it is set up. */
extern unsigned long xenheap_vmap_bytes;

void xenheap_vmap_init(void);

/* Back page->virt for [spdx, epdx) (memory hot-add).  0 or -errno. */
int xenheap_vmap_extend(unsigned long spdx, unsigned long epdx);

/*
 * Record that the nr pages from pdx are mapped from va on, a vmap address.
 * Returns 0 or -errno, in which case nothing has been recorded.
 */
int xenheap_vmap_track(const void *va, unsigned long pdx, unsigned int nr);

/* Forget what xenheap_vmap_track() recorded for (part of) a range. */
void xenheap_vmap_untrack(const void *va, unsigned long pdx, unsigned int nr);

/*
 * pdx of the xenheap page mapped at va (any address in the page), or
 * XENHEAP_VMAP_NO_PDX if va is not a tracked xenheap vmap address.
 */
unsigned long xenheap_vmap_lookup(const void *va);

/* Count an allocation of 2^order pages left in the direct map. */
void xenheap_vmap_fallback(unsigned int order);

/* Whether va is in VMAP_XENHEAP, which only the xenheap allocates from. */
static inline bool xenheap_vmap_va(unsigned long va)
{
    return va - XENHEAP_VMAP_VIRT_START < xenheap_vmap_bytes;
}

/* vmap address of a xenheap page, or NULL if it is only in the direct map. */
static inline void *xenheap_vmap_pdx_to_virt(unsigned long pdx)
{
    unsigned long idx = xenheap_vmap_active ? xenheap_vmap_fwd[pdx] : 0;

    return idx ? (void *)(VMAP_VIRT_START + (idx << PAGE_SHIFT)) : NULL;
}

#else /* !CONFIG_XENHEAP_VMAP */

static inline bool xenheap_vmap_va(unsigned long va)
{
    return false;
}

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
