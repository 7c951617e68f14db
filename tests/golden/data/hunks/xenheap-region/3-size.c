if ( !pages )
    pages = vm_size(va, VMAP_XENHEAP);
