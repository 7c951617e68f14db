xenheap_vmap_init();

