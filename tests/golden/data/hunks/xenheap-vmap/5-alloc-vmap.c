xenheap_vmap(pg, order, memflags);
