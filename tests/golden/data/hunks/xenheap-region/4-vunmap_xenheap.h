#ifdef CONFIG_XENHEAP_VMAP
/* vunmap() for VMAP_XENHEAP, which vunmap() and vfree() refuse. */
void vunmap_xenheap(const void *va);
#endif
