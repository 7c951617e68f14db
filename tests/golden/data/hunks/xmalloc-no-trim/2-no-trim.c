/*
 * Part of a vmap allocation cannot be freed on its own: keep the whole
 * block, so that xfree() frees it in one go and _xrealloc() can grow
 * into it.  The loop below then has nothing to trim.
 */
if ( xenheap_vmap_va((unsigned long)res) )
    size = PAGE_SIZE << order;
