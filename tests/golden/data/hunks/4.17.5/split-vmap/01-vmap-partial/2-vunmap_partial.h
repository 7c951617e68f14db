/*
 * Unmaps part of a vmap allocation
 *
 * The pages must all lie within one live allocation: its head, its tail,
 * a range in its middle or all of it.  What remains on either side stays
 * mapped and is released later by vunmap() or vunmap_partial(), piece by
 * piece.  Anything else is refused with a warning and changes nothing.
 *
 * @param va Page-aligned virtual address of the first page to unmap
 * @param nr Number of pages to unmap
 */
void vunmap_partial(const void *va, unsigned int nr);
