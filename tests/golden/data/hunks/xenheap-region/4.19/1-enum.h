    /*
     * Region for the xenheap, on architectures that map it with vmap
     * (CONFIG_XENHEAP_VMAP).  Kept apart from VMAP_DEFAULT, so that
     * whether an address is vmalloc()'s or the xenheap's is a range check.
     */
    VMAP_XENHEAP,
