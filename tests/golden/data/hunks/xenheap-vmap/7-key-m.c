xenheap_vmap_info();
