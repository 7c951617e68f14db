/* VMAP_XENHEAP follows, up to the fixmap: see xenheap_vmap_init(). */
BUILD_BUG_ON(XENHEAP_VMAP_VIRT_END > FIXADDR_START);
/* vm_alloc() aligns relative to the start of a region. */
BUILD_BUG_ON(XENHEAP_VMAP_VIRT_START & ((PAGE_SIZE << MAX_ORDER) - 1));
if ( IS_ENABLED(CONFIG_XENHEAP_VMAP) )
    return (void *)XENHEAP_VMAP_VIRT_START;

