/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the translation units built around the tree's real files provide
 * to the rest of the harness besides the test API.
 */
#ifndef SHIM_TU_H
#define SHIM_TU_H

/* Forget vmap.c's statics: every test starts with no region set up. */
void shim_vmap_reset(void);

/* Destroy xmalloc's pool (with the real xmem_pool_destroy()). */
void shim_xmalloc_reset(void);

/* Forget xenheap-vmap.c's statics (nothing if the tree has no such file). */
void shim_xenheap_vmap_reset(void);

/* The log of xmalloc's xenheap calls (shim/xlog.c). */
void *shim_logged_alloc_xenheap_pages(unsigned int order,
                                      unsigned int memflags);
void shim_logged_free_xenheap_pages(void *v, unsigned int order);
void shim_xlog_reset(void);

#endif /* SHIM_TU_H */
