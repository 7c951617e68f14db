/*
 * Unmaps part of a vmap allocation
 *
 * The pages must all lie within one live allocation: its head, its tail,
 * a range in its middle or all of it.  What remains on either side stays
 * mapped and is released later by vunmap() or vunmap_partial(), piece by
 * piece.  A range that is not wholly inside one live allocation is
 * refused with a warning and changes nothing.  If the pages cannot be
 * unmapped (splitting a superpage needs memory), they stay allocated.
 *
 * @param va Page-aligned virtual address of the first page to unmap
 * @param nr Number of pages to unmap
 * @return 0 on success, -EINVAL for a bad range, or the unmap's error
 */
int vunmap_partial(const void *va, unsigned int nr);
