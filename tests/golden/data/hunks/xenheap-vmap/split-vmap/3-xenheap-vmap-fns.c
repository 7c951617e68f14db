#ifdef CONFIG_XENHEAP_VMAP
/*
 * Map a new xenheap allocation in VMAP_XENHEAP, unless the caller needs
 * it in the direct map.  The address is aligned to the allocation's size,
 * as its MFN is: stacks and xmalloc()'s trimming rely on natural alignment,
 * and an aligned part of the vmap range then maps an aligned part of the
 * MFN range, which free_xenheap_pages() may be given back separately.
 * Without room there, or memory to track it, the allocation stays in the
 * direct map, counted.
 */
static void xenheap_vmap(const struct page_info *pg, unsigned int order,
                         unsigned int memflags)
{
    mfn_t mfn = page_to_mfn(pg);
    void *va;

    if ( !xenheap_vmap_active || (memflags & MEMF_directmap) )
        return;

    va = __vmap(&mfn, 1U << order, 1, 1U << order, PAGE_HYPERVISOR,
                VMAP_XENHEAP);
    if ( va && xenheap_vmap_track(va, page_to_pdx(pg), 1U << order) )
    {
        vunmap_xenheap(va);
        va = NULL;
    }
    /* The pages are in the direct map all the same: serve them from there. */
    if ( !va )
        xenheap_vmap_fallback(order);
}

/*
 * Undo xenheap_vmap() for the 2^order pages from v, which is either their
 * vmap address or, as callers may free mfn_to_virt() results, the
 * direct-map alias of a vmapped page.  Returns the first page, or NULL
 * after a warning, with nothing freed, if the range is not an aligned
 * part of one tracked allocation or cannot be unmapped.
 */
static struct page_info *xenheap_vunmap(const void *v, unsigned int order)
{
    unsigned int i, nr = 1U << order;
    const void *va = (const void *)((unsigned long)v & PAGE_MASK);
    unsigned long pdx;

    if ( !xenheap_vmap_va((unsigned long)va) )
    {
        struct page_info *pg;

        /* No other vmap region holds xenheap pages. */
        if ( (unsigned long)va - VMAP_VIRT_START <
             VMAP_VIRT_END - VMAP_VIRT_START )
            goto bad;

        pg = virt_to_page(v);
        va = page_to_virt(pg);
        if ( !xenheap_vmap_va((unsigned long)va) )
            return pg;
    }

    pdx = xenheap_vmap_lookup(va);
    if ( pdx == XENHEAP_VMAP_NO_PDX ||
         !IS_ALIGNED(PFN_DOWN((unsigned long)va), nr) )
        goto bad;
    for ( i = 0; i < nr; i++ )
    {
        if ( xenheap_vmap_lookup(va + i * PAGE_SIZE) != pdx + i ||
             !is_xen_heap_page(pdx_to_page(pdx + i)) )
            goto bad;
    }

    /*
     * Untrack first: once the unmap drops vm_lock, another CPU may be
     * given this range and track it as its own.
     */
    xenheap_vmap_untrack(va, pdx, nr);
    if ( vunmap_partial(va, nr) )
    {
        /*
         * The range stays mapped and allocated: leak it, warned, tracked
         * as it was.  Its virt->page is backed, so tracking cannot fail.
         */
        xenheap_vmap_track(va, pdx, nr);
        return NULL;
    }

    return pdx_to_page(pdx);

 bad:
    printk(XENLOG_ERR "Xenheap on vmap: bad free of %p, order %u\n",
           v, order);
    WARN();

    return NULL;
}

/*
 * Debug key 'm': what the xenheap on vmap holds.  The pages come from
 * virt->page and the VA from vmap's bitmap, so a page or an address range
 * that a free failed to give back shows in one or the other.
 */
static void xenheap_vmap_info(void)
{
    unsigned long pages, allocs;

    if ( !xenheap_vmap_active )
        return;

    xenheap_vmap_usage(&pages, &allocs);
    printk("    Xenheap on vmap: %lu pages in %lu allocations, VA %u pages\n",
           pages, allocs, vm_used(VMAP_XENHEAP));
}
#else /* !CONFIG_XENHEAP_VMAP */
static void xenheap_vmap(const struct page_info *pg, unsigned int order,
                         unsigned int memflags)
{
}

static struct page_info *xenheap_vunmap(const void *v, unsigned int order)
{
    return virt_to_page(v);
}

static void xenheap_vmap_info(void)
{
}
#endif /* CONFIG_XENHEAP_VMAP */
