/*
 * vunmap() for VMAP_XENHEAP, where only the xenheap allocates.  vunmap()
 * and vfree() do not look there: given an xmalloc()'d pointer, they warn
 * rather than unmap memory that the xenheap still hands out.  If the
 * pages cannot be unmapped (splitting a superpage needs memory), they
 * stay allocated, with a warning, and the error is returned.
 */
int vunmap_xenheap(const void *va)
{
    unsigned long addr = (unsigned long)va;
    unsigned int pages = vm_size(va, VMAP_XENHEAP);
    int rc;

#ifndef _PAGE_NONE
    rc = destroy_xen_mappings(addr, addr + PAGE_SIZE * pages);
#else /* Avoid tearing down intermediate page tables. */
    rc = map_pages_to_xen(addr, INVALID_MFN, pages, _PAGE_NONE);
#endif
    if ( rc )
    {
        printk(XENLOG_WARNING "vmap: cannot unmap %p, %u pages: %d\n",
               va, pages, rc);
        WARN();
        return rc;
    }
    vm_free_type(va, VMAP_XENHEAP);

    return 0;
}
