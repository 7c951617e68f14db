/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The tree's xen/common/xmalloc_tlsf.c, compiled as it is behind the fake
 * headers, followed by accessors for its statics.  gen/harness.py defines
 * XEN_XMALLOC_C as the path of the file.
 *
 * Its calls to alloc_xenheap_pages() and free_xenheap_pages() go through
 * the shim's log (shim/xlog.c), which passes them on to the tree's
 * functions unchanged: the tests replay the log to know which xenheap
 * allocations xmalloc made, in which order.
 */
#define alloc_xenheap_pages shim_logged_alloc_xenheap_pages
#define free_xenheap_pages shim_logged_free_xenheap_pages
#include XEN_XMALLOC_C
#undef alloc_xenheap_pages
#undef free_xenheap_pages

#include <shim/api.h>
#include <tu/tu.h>

void shim_xmalloc_reset(void)
{
#ifdef H_HAVE_XMALLOC_SPARE
    /* A page of the last machine's xenheap. */
    xmalloc_spare = NULL;
#endif
    if ( xenpool )
        xmem_pool_destroy(xenpool);
    xenpool = NULL;
}

unsigned long h_xmalloc_pool_used(void)
{
    return xenpool ? xmem_pool_get_used_size(xenpool) : 0;
}
