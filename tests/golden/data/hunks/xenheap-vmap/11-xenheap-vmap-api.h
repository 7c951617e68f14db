/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef XEN_XENHEAP_VMAP_H
#define XEN_XENHEAP_VMAP_H

/*
 * The xenheap on vmap (CONFIG_XENHEAP_VMAP), as common code uses it.  An
 * architecture selecting HAS_XENHEAP_VMAP implements these: it records the
 * vmap address of each xenheap page mapped there, so that its page<->virt
 * conversions keep working for those pages (asm/xenheap-vmap.h).
 * It also defines XENHEAP_VMAP_VIRT_START, where VMAP_XENHEAP begins.
 */

#include <xen/types.h>

#ifdef CONFIG_XENHEAP_VMAP

/* Returned by xenheap_vmap_lookup() for an address it does not track. */
#define XENHEAP_VMAP_NO_PDX (~0UL)

/* Set once tracking works; conversions consult it only then. */
extern bool xenheap_vmap_active;
/* Size of VMAP_XENHEAP, from XENHEAP_VMAP_VIRT_START; 0 until it is set up. */
extern unsigned long xenheap_vmap_bytes;

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

/*
 * Count the xenheap pages tracked in the vmap area, and the allocations
 * they form.  A walk of virt->page: for boot and debug-key reports.
 */
void xenheap_vmap_usage(unsigned long *pages, unsigned long *allocs);

/* Whether va is in VMAP_XENHEAP, which only the xenheap allocates from. */
static inline bool xenheap_vmap_va(unsigned long va)
{
    return va - XENHEAP_VMAP_VIRT_START < xenheap_vmap_bytes;
}

#else /* !CONFIG_XENHEAP_VMAP */

static inline bool xenheap_vmap_va(unsigned long va)
{
    return false;
}

#endif /* CONFIG_XENHEAP_VMAP */

#endif /* XEN_XENHEAP_VMAP_H */
