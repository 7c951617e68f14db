/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Timing loops for gen bench, run here rather than from Python so that
 * cffi's overhead stays out of what is measured: the tree's page<->virt
 * conversions against the direct map's arithmetic, on the same pages.
 */
#include <time.h>

#include <xen/mm.h>

#include <shim/api.h>

#ifdef H_HAVE_XENHEAP_VMAP
static unsigned long now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1000000000UL + ts.tv_nsec;
}

/* What virt_to_page() and page_to_virt() are without the xenheap on vmap. */
static inline struct page_info *direct_virt_to_page(unsigned long va)
{
    return frame_table + ((va - DIRECTMAP_VIRT_START) >> PAGE_SHIFT);
}

static inline unsigned long direct_page_to_virt(const struct page_info *pg)
{
    unsigned long pdx = pg - frame_table;

    return DIRECTMAP_VIRT_START + (pdx << PAGE_SHIFT);
}

/* Keeps the compiler from dropping the loops' results. */
static volatile unsigned long sink;

static unsigned long conv(const unsigned long *va, unsigned long nr,
                          unsigned long rounds, int direct)
{
    unsigned long start = now_ns(), sum = 0, r, i;

    if ( direct )
        for ( r = 0; r < rounds; r++ )
            for ( i = 0; i < nr; i++ )
                sum += direct_page_to_virt(direct_virt_to_page(va[i]));
    else
        for ( r = 0; r < rounds; r++ )
            for ( i = 0; i < nr; i++ )
                sum += (unsigned long)page_to_virt(virt_to_page((void *)va[i]));
    sink = sum;

    return now_ns() - start;
}

H_WRAP(unsigned long, h_bench_conv,
       (const unsigned long *va, unsigned long nr, unsigned long rounds,
        int direct),
       conv(va, nr, rounds, direct))
#endif
