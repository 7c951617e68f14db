/* VMAP_XENHEAP follows, up to the fixmap: see xenheap_vmap_init(). */
BUILD_BUG_ON(XENHEAP_VMAP_VIRT_END > FIXADDR_START);
if ( IS_ENABLED(CONFIG_XENHEAP_VMAP) )
    return (void *)XENHEAP_VMAP_VIRT_START;

