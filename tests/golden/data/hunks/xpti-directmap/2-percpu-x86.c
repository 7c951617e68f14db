/* Holds the TSS, which setup_cpu_root_pgt() clones for XPTI. */
if ( (p = alloc_xenheap_pages(PERCPU_ORDER, MEMF_directmap)) == NULL )
