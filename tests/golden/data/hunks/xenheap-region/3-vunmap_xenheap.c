#ifdef CONFIG_XENHEAP_VMAP
/*
 * vunmap() for VMAP_XENHEAP, where only the xenheap allocates.  vunmap()
 * and vfree() do not look there: given an xmalloc()'d pointer, they warn
 * rather than unmap memory that the xenheap still hands out.
 */
void vunmap_xenheap(const void *va)
{
    unsigned long addr = (unsigned long)va;
    unsigned int pages = vm_size(va, VMAP_XENHEAP);

#ifndef _PAGE_NONE
    destroy_xen_mappings(addr, addr + PAGE_SIZE * pages);
#else /* Avoid tearing down intermediate page tables. */
    map_pages_to_xen(addr, INVALID_MFN, pages, _PAGE_NONE);
#endif
    vm_free_type(va, VMAP_XENHEAP);
}
#endif
