/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The prelude of the translation unit that gen/harness.py makes from the
 * tree's xenheap functions (alloc_xenheap_pages() and free_xenheap_pages()
 * of xen/common/page_alloc.c, and, in a tree with the xenheap series,
 * xenheap_vmap() and xenheap_vunmap(), taken out with cedit): what
 * page_alloc.c would have defined or included above them.
 */
#include <xen/mm.h>
#include <xen/pfn.h>
#include <xen/vmap.h>

/* No address limit on xenheap pages: the simulated RAM is small. */
static unsigned int __read_mostly xenheap_bits;
