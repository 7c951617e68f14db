if ( type == VMAP_XENHEAP )
    vunmap_xenheap(va);
else
    vunmap(va);
