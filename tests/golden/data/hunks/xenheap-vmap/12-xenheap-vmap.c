/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Tracking of xenheap pages mapped in the vmap area: the page->virt and
 * virt->page arrays described in asm/xenheap-vmap.h, behind the interface
 * of xen/xenheap-vmap.h.
 */

#include <xen/bitmap.h>
#include <xen/init.h>
#include <xen/lib.h>
#include <xen/mm.h>
#include <xen/param.h>
#include <xen/pdx.h>
#include <xen/spinlock.h>
#include <xen/vmap.h>
#include <xen/xenheap-vmap.h>

#include <asm/xenheap-vmap.h>

/* Entries of virt->page: one per page of the vmap area. */
#define REV_NR          ((VMAP_VIRT_END - VMAP_VIRT_START) >> PAGE_SHIFT)
#define REV_PER_PAGE    (PAGE_SIZE / sizeof(*xenheap_vmap_rev))
/* Bytes of page->virt per PDX group; groups are backed as a whole. */
#define FWD_GROUP_BYTES (PDX_GROUP_COUNT * sizeof(*xenheap_vmap_fwd))
#define FWD_GROUPS      DIV_ROUND_UP(XENHEAP_VMAP_FWD_NR, PDX_GROUP_COUNT)

static bool __initdata opt_xenheap_vmap = true;
boolean_param("xenheap-vmap", opt_xenheap_vmap);

bool __ro_after_init xenheap_vmap_active;
unsigned long __ro_after_init xenheap_vmap_bytes;
/* Allocations left in the direct map for want of room in VMAP_XENHEAP. */
static unsigned long fallbacks;

/* Serialises the backing of both arrays. */
static DEFINE_SPINLOCK(xenheap_vmap_lock);
/* PDX groups whose part of page->virt is backed. */
static DECLARE_BITMAP(fwd_backed, FWD_GROUPS);
/* Pages of virt->page that are backed; read without the lock. */
static DECLARE_BITMAP(rev_backed, REV_NR / REV_PER_PAGE);

/*
 * Back [s, e) with zeroed memory, with 2M pages where possible.  Returns
 * the end of what got backed, which is e unless memory ran out.
 */
static unsigned long back_range(unsigned long s, unsigned long e)
{
    while ( s < e )
    {
        unsigned int order = 0;
        struct page_info *pg = NULL;

        if ( IS_ALIGNED(s, 1UL << L2_PAGETABLE_SHIFT) &&
             e - s >= (1UL << L2_PAGETABLE_SHIFT) )
        {
            order = PAGETABLE_ORDER;
            pg = alloc_domheap_pages(NULL, order, 0);
        }
        if ( !pg )
        {
            order = 0;
            pg = alloc_domheap_page(NULL, 0);
        }
        if ( !pg )
            break;

        if ( map_pages_to_xen(s, page_to_mfn(pg), 1UL << order,
                              PAGE_HYPERVISOR) )
        {
            free_domheap_pages(pg, order);
            break;
        }
        memset((void *)s, 0, PAGE_SIZE << order);
        s += PAGE_SIZE << order;
    }

    return s;
}

/*
 * Back page->virt for the PDX groups [sg, eg).  Called with the lock held,
 * or at boot before other CPUs are up.
 */
static int fwd_back(unsigned long sg, unsigned long eg)
{
    while ( (sg = find_next_zero_bit(fwd_backed, eg, sg)) < eg )
    {
        /* find_next_bit() may return more than eg. */
        unsigned long ng = min_t(unsigned long,
                                 find_next_bit(fwd_backed, eg, sg), eg);
        unsigned long s = XENHEAP_VMAP_FWD_START + sg * FWD_GROUP_BYTES;
        unsigned long e = XENHEAP_VMAP_FWD_START + ng * FWD_GROUP_BYTES;
        unsigned long done = back_range(s, e);

        for ( ; s + FWD_GROUP_BYTES <= done; s += FWD_GROUP_BYTES )
            __set_bit(sg++, fwd_backed);
        if ( done < e )
            return -ENOMEM;
    }

    return 0;
}

void __init xenheap_vmap_init(void)
{
    unsigned long max_idx = DIV_ROUND_UP(min(max_pdx, XENHEAP_VMAP_FWD_NR),
                                         PDX_GROUP_COUNT);
    unsigned long sidx, eidx;
    unsigned int groups;

    /* page->virt is kept apart so that struct page_info keeps its size. */
    BUILD_BUG_ON(sizeof(struct page_info) !=
                 (IS_ENABLED(CONFIG_BIGMEM) ? 48 : 32));
    BUILD_BUG_ON(XENHEAP_VMAP_REV_END > FRAMETABLE_VIRT_START);
    BUILD_BUG_ON(XENHEAP_VMAP_REV_START & ~PAGE_MASK);
    BUILD_BUG_ON(FWD_GROUP_BYTES & ~PAGE_MASK);
    /* A vmap page index fits a page->virt entry. */
    BUILD_BUG_ON(REV_NR > (1UL << 32));
    /* The pdx of every page page->virt covers fits a virt->page entry. */
    BUILD_BUG_ON(XENHEAP_VMAP_FWD_NR > (1UL << 32));

    if ( !opt_xenheap_vmap )
    {
        printk(XENLOG_INFO "Xenheap on vmap: disabled\n");
        return;
    }

    for ( sidx = 0;
          (sidx = find_next_bit(pdx_group_valid, max_idx, sidx)) < max_idx;
          sidx = eidx )
    {
        eidx = min_t(unsigned long,
                     find_next_zero_bit(pdx_group_valid, max_idx, sidx),
                     max_idx);
        if ( fwd_back(sidx, eidx) )
        {
            printk(XENLOG_WARNING
                   "Xenheap on vmap: no memory for page->virt\n");
            return;
        }
    }

    /*
     * Twice the RAM at boot: allocations of 2^k pages aligned to 2^k,
     * each after a guard page, pack one per 2^(k+1) pages, though holes
     * can still leave no aligned room, and memory hot-added later is not
     * counted.  What does not fit stays in the direct map.  vm_alloc()
     * grows the bitmap as the region fills: up front, the region costs
     * one bitmap page and the page tables for the rest of the bitmap's
     * range.
     */
    xenheap_vmap_bytes = min_t(unsigned long,
                               XENHEAP_VMAP_VIRT_END - XENHEAP_VMAP_VIRT_START,
                               total_pages << (PAGE_SHIFT + 1));
    vm_init_type(VMAP_XENHEAP, (void *)XENHEAP_VMAP_VIRT_START,
                 (void *)(XENHEAP_VMAP_VIRT_START + xenheap_vmap_bytes));
    xenheap_vmap_active = true;

    groups = bitmap_weight(fwd_backed, FWD_GROUPS);
    printk(XENLOG_INFO
           "Xenheap on vmap: VA %p-%p, page->virt %lukB for %u PDX groups, "
           "virt->page on demand (up to %lukB)\n",
           (void *)XENHEAP_VMAP_VIRT_START,
           (void *)(XENHEAP_VMAP_VIRT_START + xenheap_vmap_bytes),
           groups * (FWD_GROUP_BYTES >> 10), groups,
           (xenheap_vmap_bytes >> PAGE_SHIFT) *
           sizeof(*xenheap_vmap_rev) >> 10);
}

int xenheap_vmap_extend(unsigned long spdx, unsigned long epdx)
{
    int rc;

    epdx = min(epdx, XENHEAP_VMAP_FWD_NR);
    if ( !xenheap_vmap_active || spdx >= epdx )
        return 0;

    spin_lock(&xenheap_vmap_lock);
    rc = fwd_back(spdx / PDX_GROUP_COUNT, DIV_ROUND_UP(epdx, PDX_GROUP_COUNT));
    spin_unlock(&xenheap_vmap_lock);

    return rc;
}

int xenheap_vmap_track(const void *va, unsigned long pdx, unsigned int nr)
{
    unsigned long idx = ((unsigned long)va - VMAP_VIRT_START) >> PAGE_SHIFT;
    unsigned long last = (idx + nr - 1) / REV_PER_PAGE, p;
    unsigned int i;
    int rc = 0;

    if ( !nr || !idx || idx + nr > REV_NR ||
         pdx + nr > XENHEAP_VMAP_FWD_NR ||
         !test_bit(pdx / PDX_GROUP_COUNT, fwd_backed) ||
         !test_bit((pdx + nr - 1) / PDX_GROUP_COUNT, fwd_backed) )
        return -ERANGE;

    /* The lock is only needed to back a page of virt->page, once. */
    for ( p = idx / REV_PER_PAGE; p <= last && !rc; p++ )
    {
        unsigned long s = XENHEAP_VMAP_REV_START + p * PAGE_SIZE;

        if ( test_bit(p, rev_backed) )
            continue;

        spin_lock(&xenheap_vmap_lock);
        /* Another CPU may have backed it meanwhile. */
        if ( !test_bit(p, rev_backed) )
        {
            if ( back_range(s, s + PAGE_SIZE) == s + PAGE_SIZE )
            {
                /* Lock-free readers must see the mapping before the bit. */
                smp_wmb();
                set_bit(p, rev_backed);
            }
            else
                rc = -ENOMEM;
        }
        spin_unlock(&xenheap_vmap_lock);
    }

    if ( rc )
        return rc;

    for ( i = 0; i < nr; i++ )
        xenheap_vmap_rev[idx + i] = pdx + i;
    /* An entry is valid once page->virt points back at it: write that last. */
    smp_wmb();
    for ( i = 0; i < nr; i++ )
        xenheap_vmap_fwd[pdx + i] = idx + i;

    return 0;
}

void xenheap_vmap_untrack(const void *va, unsigned long pdx, unsigned int nr)
{
    unsigned long idx = ((unsigned long)va - VMAP_VIRT_START) >> PAGE_SHIFT;
    unsigned int i;

    for ( i = 0; i < nr; i++ )
        xenheap_vmap_fwd[pdx + i] = 0;
    smp_wmb();
    for ( i = 0; i < nr; i++ )
        xenheap_vmap_rev[idx + i] = 0;
}

unsigned long xenheap_vmap_lookup(const void *va)
{
    unsigned long idx = ((unsigned long)va - VMAP_VIRT_START) >> PAGE_SHIFT;
    unsigned long pdx;

    /* Index 0 is the vmap bitmap, and page->virt uses 0 for "none". */
    if ( !xenheap_vmap_active || !idx || idx >= REV_NR ||
         !test_bit(idx / REV_PER_PAGE, rev_backed) )
        return XENHEAP_VMAP_NO_PDX;
    smp_rmb();

    pdx = ACCESS_ONCE(xenheap_vmap_rev[idx]);
    if ( pdx >= XENHEAP_VMAP_FWD_NR ||
         !test_bit(pdx / PDX_GROUP_COUNT, fwd_backed) ||
         ACCESS_ONCE(xenheap_vmap_fwd[pdx]) != idx )
        return XENHEAP_VMAP_NO_PDX;

    return pdx;
}

unsigned long xenheap_vmap_virt_to_pdx(unsigned long va)
{
    unsigned long pdx = xenheap_vmap_lookup((const void *)va);

    /*
     * As in the direct map, anything but a xenheap page is the caller's
     * bug.  Release builds get frame_table[-1], which is not mapped.
     */
    ASSERT(pdx != XENHEAP_VMAP_NO_PDX);

    return pdx;
}

unsigned long xenheap_vmap_virt_to_maddr(unsigned long va)
{
    return pfn_to_paddr(pdx_to_pfn(xenheap_vmap_virt_to_pdx(va))) |
           PAGE_OFFSET(va);
}

void xenheap_vmap_fallback(unsigned int order)
{
    bool first;

    spin_lock(&xenheap_vmap_lock);
    first = !fallbacks++;
    spin_unlock(&xenheap_vmap_lock);

    if ( first )
        printk(XENLOG_WARNING
               "Xenheap on vmap: cannot map order %u, using the direct map\n",
               order);
}

void xenheap_vmap_usage(unsigned long *pages, unsigned long *allocs)
{
    unsigned long idx;

    *pages = *allocs = 0;
    for ( idx = 1; idx < REV_NR; idx++ )
    {
        const void *va = (void *)VMAP_VIRT_START + idx * PAGE_SIZE;

        /* Skip the rest of an unbacked page of virt->page. */
        if ( !test_bit(idx / REV_PER_PAGE, rev_backed) )
            idx |= REV_PER_PAGE - 1;
        else if ( xenheap_vmap_lookup(va) != XENHEAP_VMAP_NO_PDX )
        {
            ++*pages;
            /* Allocations are separated by guard pages, never tracked. */
            if ( xenheap_vmap_lookup(va - PAGE_SIZE) == XENHEAP_VMAP_NO_PDX )
                ++*allocs;
        }
    }
}

/* Show that the xenheap is really on vmap by the time dom0 is built. */
static int __init cf_check xenheap_vmap_report(void)
{
    unsigned long pages, allocs;

    if ( !xenheap_vmap_active )
        return 0;

    xenheap_vmap_usage(&pages, &allocs);
    printk(XENLOG_INFO
           "Xenheap on vmap: %lu pages in %lu allocations, %lu fallbacks\n",
           pages, allocs, fallbacks);

    return 0;
}
__initcall(xenheap_vmap_report);
