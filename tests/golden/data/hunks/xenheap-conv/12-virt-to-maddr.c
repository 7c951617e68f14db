if ( xenheap_vmap_va(va) )
    return xenheap_vmap_virt_to_maddr(va);

