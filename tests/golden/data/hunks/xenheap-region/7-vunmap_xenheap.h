/* vunmap() for VMAP_XENHEAP, which vunmap() and vfree() refuse. */
int vunmap_xenheap(const void *va);
