/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Page tables for the simulated Xen, and the host MMU as their mirror.
 *
 * The tables are real x86-64 four-level tables, kept in frames of the
 * simulated domheap and addressed with the host virtual addresses of the
 * Xen windows, so the indices are those a real walk would use.  After
 * every change the affected range of the window is re-mapped on the host:
 * a present leaf becomes a MAP_SHARED mapping of its frame in the memfd,
 * anything else PROT_NONE.  Reads and writes through a Xen virtual address
 * therefore reach the frame the tables name, and a guard page faults.
 *
 * TLB flushes are counted where x86 Xen issues them: one per replaced
 * present 4k leaf or superpage in map_pages_to_xen(), and in
 * modify/destroy_xen_mappings() a whole-TLB flush before each page table
 * freed and one at the end.  A page unmapped since the last flush is
 * "stale"; mapping it again, or mapping over a present leaf, is recorded as
 * an H_VIOLATION.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "pt.h"
#include "ram.h"
#include "report.h"

typedef uint64_t pte_t;

#define ADDR_MASK    0x000ffffffffff000ULL
#define TABLE_FLAGS  (SHIM_PTE_P | SHIM_PTE_RW | SHIM_PTE_A | SHIM_PTE_D)
#define L2_BYTES     (1UL << 21)
#define L3_BYTES     (1UL << 30)
#define ENTRIES      512

static unsigned long root = SHIM_INVALID_FRAME;
/* The range mirrored: [SHIM_PT_START, SHIM_PT_END) of layout.h. */
static unsigned char *const reserved = (unsigned char *)SHIM_PT_START;
static const unsigned long reserved_bytes = SHIM_PT_END - SHIM_PT_START;
static unsigned char *stale;          /* per page of the reservation */
static unsigned long *stale_list;     /* which pages are stale */
static unsigned long nr_stale;
static unsigned long fail_nth_map;

static pte_t *table(unsigned long frame)
{
    return shim_frame_va(frame);
}

static unsigned int slot_index(unsigned long va, unsigned int level)
{
    return (va >> (SHIM_PAGE_SHIFT + 9 * (level - 1))) & (ENTRIES - 1);
}

static pte_t pte_make(unsigned long frame, unsigned int flags)
{
    return (((pte_t)frame << SHIM_PAGE_SHIFT) & ADDR_MASK) |
           ((pte_t)(flags & ~0xfffU) << 40) | (flags & 0xfffU);
}

static unsigned int pte_flags(pte_t e)
{
    return (unsigned int)(((e >> 40) & 0xfff000U) | (e & 0xfffU));
}

static unsigned long pte_frame(pte_t e)
{
    return (e & ADDR_MASK) >> SHIM_PAGE_SHIFT;
}

static bool present(pte_t e)
{
    return e & SHIM_PTE_P;
}

static bool is_leaf(pte_t e, unsigned int level)
{
    return level == 1 || (e & SHIM_PTE_PSE);
}

static int new_table(pte_t *slot)
{
    struct page_info *pg = shim_alloc_pages(0);

    if ( !pg )
        return -ENOMEM;
    memset(shim_frame_va(shim_frame(pg)), 0, SHIM_PAGE_SIZE);
    shim_counters[H_PT_PAGES]++;
    *slot = pte_make(shim_frame(pg), TABLE_FLAGS);

    return 0;
}

static void free_table(pte_t *slot)
{
    shim_free_pages(&frame_table[pte_frame(*slot)], 0, __FILE__, __LINE__);
    shim_counters[H_PT_PAGES]--;
    *slot = 0;
}

static bool table_empty(pte_t e)
{
    const pte_t *t = table(pte_frame(e));
    unsigned int i;

    for ( i = 0; i < ENTRIES; i++ )
        if ( present(t[i]) )
            return false;

    return true;
}

static bool in_reservation(unsigned long va)
{
    return va >= (unsigned long)reserved &&
           va - (unsigned long)reserved < reserved_bytes;
}

/* all: FLUSH_TLB_GLOBAL, rather than the range changed. */
static void flush_tlb(bool all)
{
    unsigned long i;

    shim_counters[H_TLB_FLUSHES]++;
    if ( all )
        shim_counters[H_TLB_FLUSH_ALL]++;
    for ( i = 0; i < nr_stale; i++ )
        stale[stale_list[i]] = 0;
    nr_stale = 0;
}

/*
 * Account for one leaf page changing from old to new.  Only a mapping
 * (map set) is checked: modify_xen_mappings() may legitimately rewrite a
 * present leaf.
 */
static void leaf_changed(unsigned long va, pte_t old, pte_t new, bool map)
{
    unsigned long page;

    shim_counters[H_PTE_WRITES]++;
    if ( !in_reservation(va) )
        return;
    page = (va - (unsigned long)reserved) >> SHIM_PAGE_SHIFT;
    if ( map && present(new) && present(old) )
        shim_record(H_VIOLATION, __FILE__, __LINE__,
                    "mapping over the present PTE of %#lx", va);
    else if ( map && present(new) && stale[page] )
        shim_record(H_VIOLATION, __FILE__, __LINE__,
                    "%#lx mapped again without a TLB flush since its unmap",
                    va);
    if ( present(old) && old != new && !stale[page] )
    {
        stale[page] = 1;
        stale_list[nr_stale++] = page;
    }
}

/* The leaf for page i of a 2M entry, as a 4k entry. */
static pte_t super_leaf(pte_t l2, unsigned int i)
{
    if ( !present(l2) )
        return 0;

    return pte_make(pte_frame(l2) + i, pte_flags(l2) & ~SHIM_PTE_PSE);
}

/*
 * Replace a 2M leaf by a table of 512 4k leaves mapping the same.  x86
 * Xen flushes after it in map_pages_to_xen() (flush set), not in
 * modify_xen_mappings(), which flushes at its end.
 */
static int split(pte_t *l2, bool flush)
{
    pte_t old = *l2, *t;
    unsigned int i;

    if ( new_table(l2) )
        return -ENOMEM;
    t = table(pte_frame(*l2));
    for ( i = 0; i < ENTRIES; i++ )
        t[i] = super_leaf(old, i);
    if ( flush )
        flush_tlb(false);

    return 0;
}

/*
 * The entry for va at level (1 or 2), creating the tables above it when
 * alloc is set (splitting a 2M leaf on the way to level 1).  NULL when a
 * table is missing and alloc is not set, or on failure (*rc = -ENOMEM).
 */
static pte_t *walk_to(unsigned long va, unsigned int level, bool alloc,
                      int *rc)
{
    pte_t *t = table(root);
    unsigned int l;

    for ( l = 4; l > level; l-- )
    {
        pte_t *e = &t[slot_index(va, l)];

        if ( present(*e) && is_leaf(*e, l) )
        {
            if ( !alloc || l != 2 )
                return NULL;
            *rc = split(e, true);
            if ( *rc )
                return NULL;
        }
        if ( !present(*e) )
        {
            if ( !alloc )
                return NULL;
            *rc = new_table(e);
            if ( *rc )
                return NULL;
        }
        t = table(pte_frame(*e));
    }

    return &t[slot_index(va, level)];
}

static unsigned long walk(unsigned long va, unsigned int *level,
                          uint64_t *entry)
{
    pte_t e = 0;
    unsigned int l;

    if ( root == SHIM_INVALID_FRAME )
        return SHIM_INVALID_FRAME;
    e = table(root)[slot_index(va, 4)];
    for ( l = 4; ; l-- )
    {
        if ( level )
            *level = l;
        if ( entry )
            *entry = e;
        if ( !present(e) )
            return SHIM_INVALID_FRAME;
        if ( is_leaf(e, l) )
            break;
        e = table(pte_frame(e))[slot_index(va, l - 1)];
    }

    return pte_frame(e) + (l == 2 ? slot_index(va, 1) : 0);
}

/* Re-map [s, e) of the reservation on the host as the tables say. */
static void mirror(unsigned long s, unsigned long e)
{
    unsigned long va = s;

    if ( e <= s || !in_reservation(s) || !in_reservation(e - 1) )
        return;
    while ( va < e )
    {
        uint64_t ent;
        unsigned long frame = shim_walk(va, NULL, &ent);
        unsigned long end = va + SHIM_PAGE_SIZE, next;
        int prot = PROT_NONE;
        void *p;

        if ( frame != SHIM_INVALID_FRAME )
            prot = ent & SHIM_PTE_RW ? PROT_READ | PROT_WRITE : PROT_READ;
        for ( ; end < e; end += SHIM_PAGE_SIZE )
        {
            uint64_t ent2;

            next = shim_walk(end, NULL, &ent2);
            if ( frame == SHIM_INVALID_FRAME ? next != SHIM_INVALID_FRAME
                 : next != frame + ((end - va) >> SHIM_PAGE_SHIFT) ||
                   ((ent2 ^ ent) & SHIM_PTE_RW) )
                break;
        }
        if ( frame == SHIM_INVALID_FRAME )
            p = mmap((void *)va, end - va, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
                     -1, 0);
        else
            p = mmap((void *)va, end - va, prot, MAP_SHARED | MAP_FIXED,
                     shim_ram_fd, (off_t)frame << SHIM_PAGE_SHIFT);
        if ( p == MAP_FAILED )
            shim_trap(H_BUG, __FILE__, __LINE__,
                      "host mmap of %#lx+%#lx failed (errno %d)",
                      va, end - va, errno);
        va = end;
    }
}

/*
 * Like x86 Xen: after a 4k leaf is written with PAGE_HYPERVISOR, a table
 * that now maps one aligned 2M run with the same flags becomes a 2M leaf.
 */
static void try_merge(unsigned long va)
{
    pte_t *l2 = walk_to(va, 2, false, NULL);
    const pte_t *t;
    unsigned long base;
    unsigned int i;

    if ( !l2 || !present(*l2) || (*l2 & SHIM_PTE_PSE) )
        return;
    t = table(pte_frame(*l2));
    base = pte_frame(t[0]);
    if ( base & (ENTRIES - 1) )
        return;
    for ( i = 0; i < ENTRIES; i++ )
        if ( t[i] != pte_make(base + i, SHIM_PAGE_HYPERVISOR) )
            return;
    free_table(l2);
    *l2 = pte_make(base, SHIM_PAGE_HYPERVISOR | SHIM_PTE_PSE);
    flush_tlb(false);
}

static int map_super(unsigned long va, unsigned long frame,
                     unsigned int flags)
{
    int rc = 0;
    pte_t *l2 = walk_to(va, 2, true, &rc), old, new;
    bool flush = false;
    unsigned int i;

    if ( !l2 )
        return rc;
    old = *l2;
    new = pte_make(frame, flags | SHIM_PTE_PSE);
    for ( i = 0; i < ENTRIES; i++ )
    {
        pte_t was = super_leaf(old, i);

        if ( present(old) && !(old & SHIM_PTE_PSE) )
            was = table(pte_frame(old))[i];
        flush |= present(was);
        leaf_changed(va + i * SHIM_PAGE_SIZE, was, super_leaf(new, i), true);
    }
    if ( present(old) && !(old & SHIM_PTE_PSE) )
        free_table(l2);
    *l2 = new;
    if ( flush )
        flush_tlb(false);

    return 0;
}

static int map_small(unsigned long va, unsigned long frame,
                     unsigned int flags)
{
    int rc = 0;
    pte_t *l1 = walk_to(va, 1, true, &rc), old;

    if ( !l1 )
        return rc;
    old = *l1;
    *l1 = pte_make(frame, flags);
    leaf_changed(va, old, *l1, true);
    if ( present(old) )
        flush_tlb(false);

    return 0;
}

/*
 * The frame bits that an unmap's superpage alignment is checked with: none
 * where the tree's map_pages_to_xen() checks only the VA (H_X86_UNMAP_...,
 * see gen/harness/extract.py), else INVALID_MFN's, which are never aligned,
 * so that every superpage unmapped is shattered first.
 */
#ifdef H_X86_UNMAP_KEEPS_SUPERPAGES
#define UNMAP_FRAME_BITS 0UL
#else
#define UNMAP_FRAME_BITS SHIM_INVALID_FRAME
#endif

void h_fail_map(unsigned long nth)
{
    fail_nth_map = nth;
}

static int map(unsigned long va, unsigned long frame, unsigned long nr,
               unsigned int flags)
{
    bool small = flags & SHIM_MAP_SMALL, valid = frame != SHIM_INVALID_FRAME;
    unsigned long start = va;
    int rc = 0;

    /*
     * Injected failures hit mappings only: unmapping 4k leaves needs no
     * memory in Xen, and splitting a superpage fails through the table
     * allocation, which h_fail_alloc() reaches.
     */
    if ( valid && fail_nth_map && !--fail_nth_map )
    {
        shim_counters[H_MAP_FAILS]++;
        return -ENOMEM;
    }
    flags &= ~SHIM_MAP_SMALL;
    while ( nr )
    {
        bool super = !small && nr >= ENTRIES &&
                     !(((va >> SHIM_PAGE_SHIFT) |
                        (valid ? frame : UNMAP_FRAME_BITS)) & (ENTRIES - 1));
        unsigned long step = super ? ENTRIES : 1;

        rc = super ? map_super(va, frame, flags) : map_small(va, frame, flags);
        if ( rc )
            break;
        va += step << SHIM_PAGE_SHIFT;
        nr -= step;
        if ( valid )
            frame += step;
        if ( !super && flags == SHIM_PAGE_HYPERVISOR && valid &&
             (!nr || !(((va >> SHIM_PAGE_SHIFT) | frame) & (ENTRIES - 1))) )
            try_merge(va - SHIM_PAGE_SIZE);
    }
    /* Like a page walk, the mapping ignores the offset bits of va. */
    mirror(start & ~(SHIM_PAGE_SIZE - 1), va & ~(SHIM_PAGE_SIZE - 1));

    return rc;
}

/* Change or clear the present leaves of the table l2 points to. */
static void modify_l1(pte_t *l2, unsigned long va, unsigned long e,
                      unsigned int nf)
{
    pte_t *t = table(pte_frame(*l2));
    unsigned int i;

    for ( i = slot_index(va, 1); i < ENTRIES && va < e;
          i++, va += SHIM_PAGE_SIZE )
    {
        pte_t old = t[i];

        if ( !present(old) )
            continue;
        t[i] = nf & SHIM_PTE_P ? pte_make(pte_frame(old), nf) : 0;
        leaf_changed(va, old, t[i], false);
    }
    if ( !(nf & SHIM_PTE_P) && table_empty(*l2) )
    {
        flush_tlb(true); /* Xen flushes before it frees the table. */
        free_table(l2);
    }
}

/* Free the L2 tables left without any present entry in [s, e). */
static void free_empty_l2(unsigned long s, unsigned long e)
{
    unsigned long va;

    for ( va = s & ~(L3_BYTES - 1); va < e; va += L3_BYTES )
    {
        pte_t *l3 = walk_to(va, 3, false, NULL);

        if ( l3 && present(*l3) && !(*l3 & SHIM_PTE_PSE) && table_empty(*l3) )
        {
            flush_tlb(true);
            free_table(l3);
        }
    }
}

static int modify(unsigned long s, unsigned long e, unsigned int nf)
{
    unsigned long va = s;
    int rc = 0;

    while ( va < e )
    {
        unsigned long next = (va & ~(L2_BYTES - 1)) + L2_BYTES;
        pte_t *l2 = walk_to(va, 2, false, NULL);

        if ( l2 && present(*l2) && (*l2 & SHIM_PTE_PSE) )
        {
            if ( !(va & (L2_BYTES - 1)) && next <= e )
            {
                pte_t old = *l2;
                unsigned int i;

                *l2 = nf & SHIM_PTE_P ? pte_make(pte_frame(old),
                                                 nf | SHIM_PTE_PSE) : 0;
                for ( i = 0; i < ENTRIES; i++ )
                    leaf_changed(va + i * SHIM_PAGE_SIZE, super_leaf(old, i),
                                 super_leaf(*l2, i), false);
                va = next;
                continue;
            }
            rc = split(l2, false);
            if ( rc )
                break;
        }
        if ( l2 && present(*l2) )
            modify_l1(l2, va, e, nf);
        va = next;
    }
    /* Like Xen's, a failure skips the rest, the final flush included. */
    if ( !rc && !(nf & SHIM_PTE_P) )
        free_empty_l2(s, e);
    if ( !rc )
        flush_tlb(true);
    mirror(s, va < e ? va : e);

    return rc;
}

/* Tables down to L1 for the range; leaves, and 2M leaves, are left alone. */
static int populate(unsigned long va, unsigned long nr)
{
    unsigned long e = va + (nr << SHIM_PAGE_SHIFT);
    int rc = 0;

    for ( ; va < e; va = (va & ~(L2_BYTES - 1)) + L2_BYTES )
    {
        pte_t *l2 = walk_to(va, 2, true, &rc);

        if ( !l2 )
            return rc;
        if ( !present(*l2) && new_table(l2) )
            return -ENOMEM;
    }

    return 0;
}

/* After shim_ram_init(): the range is reserved, PROT_NONE, by ram.c. */
/* The entry points, under the shim's lock (Xen's map_pgdir_lock). */
unsigned long shim_walk(unsigned long va, unsigned int *level,
                        uint64_t *entry)
{
    unsigned long frame;

    shim_lock();
    frame = walk(va, level, entry);
    shim_unlock();

    return frame;
}

int shim_map(unsigned long va, unsigned long frame, unsigned long nr,
             unsigned int flags)
{
    int rc;

    shim_lock();
    rc = map(va, frame, nr, flags);
    shim_unlock();

    return rc;
}

int shim_modify(unsigned long s, unsigned long e, unsigned int nf)
{
    int rc;

    shim_lock();
    rc = modify(s, e, nf);
    shim_unlock();

    return rc;
}

int shim_populate(unsigned long va, unsigned long nr)
{
    int rc;

    shim_lock();
    rc = populate(va, nr);
    shim_unlock();

    return rc;
}

int shim_pt_init(void)
{
    unsigned long pages = reserved_bytes >> SHIM_PAGE_SHIFT;
    struct page_info *pg;

    stale = calloc(pages, 1);
    stale_list = calloc(pages, sizeof(*stale_list));
    nr_stale = 0;
    fail_nth_map = 0;
    pg = shim_alloc_pages(0);
    if ( !stale || !stale_list || !pg )
        return -1;
    root = shim_frame(pg);
    memset(table(root), 0, SHIM_PAGE_SIZE);
    shim_counters[H_PT_PAGES] = 1;

    return 0;
}

void shim_pt_fini(void)
{
    free(stale);
    free(stale_list);
    stale = NULL;
    stale_list = NULL;
    root = SHIM_INVALID_FRAME;
}

/* The window of region i of enum vmap_region: DEFAULT, XEN, XENHEAP. */
unsigned long shim_window(unsigned int i)
{
    static const unsigned long window[SHIM_NR_WINDOWS] = {
        VMAP_VIRT_START, SHIM_VMAP_XEN_START, XENHEAP_VMAP_VIRT_START,
    };

    return i < SHIM_NR_WINDOWS ? window[i] : 0;
}

unsigned long h_pte(unsigned long va, unsigned int *level)
{
    uint64_t e = 0;

    shim_walk(va, level, &e);

    return e;
}

/*
 * Present pages of [va, va + nr pages) as runs of (offset in pages, pages,
 * first frame, flags without PSE), a run continuing while the frames are
 * consecutive and the flags equal.  Returns the number of runs; only the
 * first max fit in out (4 words each).
 */
unsigned long h_pt_runs(unsigned long va, unsigned long nr,
                        unsigned long *out, unsigned long max)
{
    unsigned long i = 0, n = 0;
    unsigned long *cur = NULL;

    while ( i < nr )
    {
        unsigned long at = (va >> SHIM_PAGE_SHIFT) + i, frame, flags, span;
        unsigned int level;
        uint64_t e;

        frame = shim_walk(va + (i << SHIM_PAGE_SHIFT), &level, &e);
        /* A missing entry, or a 2M leaf, covers the rest of its span. */
        span = 1UL << (9 * (level - 1));
        span -= at & (span - 1);
        if ( span > nr - i )
            span = nr - i;
        i += span;
        if ( frame == SHIM_INVALID_FRAME )
        {
            cur = NULL;
            continue;
        }
        flags = pte_flags(e) & ~SHIM_PTE_PSE;
        if ( cur && cur[2] + cur[1] == frame && cur[3] == flags )
        {
            cur[1] += span;
            continue;
        }
        cur = n < max ? &out[4 * n] : NULL;
        if ( cur )
        {
            cur[0] = i - span;
            cur[1] = span;
            cur[2] = frame;
            cur[3] = flags;
        }
        n++;
    }

    return n;
}

/*
 * Clear one 4k leaf without a TLB flush, as buggy code might: for the
 * tests of the stale-TLB rule itself.
 */
void h_pt_zap_noflush(unsigned long va)
{
    pte_t *l1 = walk_to(va, 1, false, NULL), old;

    if ( !l1 )
        return;
    old = *l1;
    *l1 = 0;
    leaf_changed(va, old, 0, false);
    mirror(va, va + SHIM_PAGE_SIZE);
}
