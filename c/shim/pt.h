/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Four-level x86-64 page tables for the simulated Xen, with tables taken
 * from the simulated domheap, and their mirror in the host MMU.
 *
 * Flags use Xen's "unsigned int" encoding: bits 0-11 are PTE bits 0-11,
 * bits 12-23 stand for PTE bits 52-63 (so NX, PTE bit 63, is bit 23).
 */
#ifndef SHIM_PT_H
#define SHIM_PT_H

#include <stdint.h>

#define SHIM_PTE_P      (1U << 0)
#define SHIM_PTE_RW     (1U << 1)
#define SHIM_PTE_US     (1U << 2)
#define SHIM_PTE_PWT    (1U << 3)
#define SHIM_PTE_PCD    (1U << 4)
#define SHIM_PTE_A      (1U << 5)
#define SHIM_PTE_D      (1U << 6)
#define SHIM_PTE_PSE    (1U << 7)
#define SHIM_PTE_G      (1U << 8)
#define SHIM_PTE_AVAIL0 (1U << 9)
#define SHIM_PTE_NX     (1U << 23)

/* What x86-64 Xen calls PAGE_HYPERVISOR_RW and PAGE_HYPERVISOR_RO. */
#define SHIM_PAGE_HYPERVISOR_RO (SHIM_PTE_P | SHIM_PTE_A | SHIM_PTE_NX | \
                                 SHIM_PTE_G)
#define SHIM_PAGE_HYPERVISOR    (SHIM_PAGE_HYPERVISOR_RO | SHIM_PTE_RW | \
                                 SHIM_PTE_D)

/* Xen's request for 4k leaves only (MAP_SMALL_PAGES); never written out. */
#define SHIM_MAP_SMALL  SHIM_PTE_AVAIL0

int shim_pt_init(void);
void shim_pt_fini(void);
unsigned long shim_window(unsigned int i);

int shim_map(unsigned long va, unsigned long frame, unsigned long nr,
             unsigned int flags);
int shim_modify(unsigned long s, unsigned long e, unsigned int nf);
int shim_populate(unsigned long va, unsigned long nr);
unsigned long shim_walk(unsigned long va, unsigned int *level,
                        uint64_t *entry);

#endif /* SHIM_PT_H */
