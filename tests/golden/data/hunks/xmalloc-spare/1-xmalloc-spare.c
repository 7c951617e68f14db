/*
 * One emptied pool page, kept for the next time the pool grows: a short
 * xmalloc()/xfree() pair that empties the pool then neither frees nor
 * allocates a xenheap page, which on vmap means a map, an unmap and a
 * TLB flush on every CPU each time.
 */
static void *xmalloc_spare;
