/* setup_cpu_root_pgt() clones it into the XPTI page tables. */
stack = alloc_xenheap_pages(STACK_ORDER, memflags | MEMF_directmap);
