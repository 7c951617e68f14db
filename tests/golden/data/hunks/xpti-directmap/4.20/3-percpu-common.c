/* x86 XPTI clones the TSS in it: see setup_cpu_root_pgt(). */
if ( (p = alloc_xenheap_pages(PERCPU_ORDER, MEMF_directmap)) == NULL )
