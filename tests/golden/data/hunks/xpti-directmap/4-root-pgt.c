/* The entry code writes it through the direct map. */
rpt = alloc_xenheap_pages(0, MEMF_directmap);
