/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The log of xmalloc's calls into the xenheap (see tu/xmalloc.c): each
 * call is passed to the tree's function unchanged, and recorded with what
 * the shim itself sees of it: the frame behind the VA (from the page
 * tables for a VA they map, else as a direct-map address) and, for a
 * free, whether that frame is still allocated afterwards (not freed).
 */
#include <xen/mm.h>

#include <shim/api.h>
#include <tu/tu.h>

#define MAX_XLOG 512
#define WORDS 5

static unsigned long xlog[MAX_XLOG][WORDS];
static unsigned int nr_xlog;

static unsigned long frame_behind(const void *va)
{
    unsigned long a = (unsigned long)va;

    if ( a >= SHIM_PT_START && a < SHIM_PT_END )
        return shim_walk(a, NULL, NULL);
    if ( a >= DIRECTMAP_VIRT_START && a < DIRECTMAP_VIRT_END )
        return (a - DIRECTMAP_VIRT_START) >> PAGE_SHIFT;

    return SHIM_INVALID_FRAME;
}

static unsigned long *record(unsigned long kind, const void *va,
                             unsigned int order)
{
    static unsigned long lost[WORDS];
    unsigned long *e;

    shim_lock();
    e = nr_xlog < MAX_XLOG ? xlog[nr_xlog] : lost;
    e[0] = kind;
    e[1] = (unsigned long)va;
    e[2] = order;
    e[3] = va ? frame_behind(va) : SHIM_INVALID_FRAME;
    e[4] = 0;
    nr_xlog++;
    shim_unlock();

    return e;
}

void *shim_logged_alloc_xenheap_pages(unsigned int order,
                                      unsigned int memflags)
{
    void *va = alloc_xenheap_pages(order, memflags);

    record(H_XLOG_ALLOC, va, order);

    return va;
}

void shim_logged_free_xenheap_pages(void *v, unsigned int order)
{
    /* Recorded first: the call may trap. */
    unsigned long *e = record(H_XLOG_FREE, v, order);

    free_xenheap_pages(v, order);
    e[4] = e[3] < shim_nr_frames &&
           shim_frames[e[3]].state == SHIM_FRAME_INUSE;
}

/*
 * Entries recorded since the last h_xlog_take(), into out (5 words each:
 * kind, VA, order, frame, still allocated after a free), the first max of
 * them; the log is emptied.  More than MAX_XLOG is an error the caller
 * sees in the count.
 */
unsigned long h_xlog_take(unsigned long *out, unsigned long max)
{
    unsigned long n = nr_xlog, i, w;

    for ( i = 0; i < n && i < max && i < MAX_XLOG; i++ )
        for ( w = 0; w < WORDS; w++ )
            out[WORDS * i + w] = xlog[i][w];
    nr_xlog = 0;

    return n;
}

void shim_xlog_reset(void)
{
    nr_xlog = 0;
}
