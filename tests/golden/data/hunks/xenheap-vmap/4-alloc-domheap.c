pg = alloc_domheap_pages(NULL, order,
                         (memflags & ~MEMF_directmap) | MEMF_no_scrub);
