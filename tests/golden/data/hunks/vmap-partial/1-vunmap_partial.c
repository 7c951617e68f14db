/*
 * Find the first bit of [va, va + nr pages) if the whole range lies inside
 * one live allocation.  Guard pages, free pages and the bitmap's own pages
 * are refused.  Must be called with vm_lock held.
 */
static unsigned int vm_index_range(const void *va, unsigned int nr,
                                   enum vmap_region *type)
{
    unsigned long addr = (unsigned long)va;
    unsigned int t;

    if ( !nr || PAGE_OFFSET(addr) )
        return 0;

    for ( t = 0; t < VMAP_REGION_NR; t++ )
    {
        unsigned long start = (unsigned long)vm_base[t], idx;

        if ( !start || addr < start )
            continue;

        idx = PFN_DOWN(addr - start);
        if ( idx >= vm_top[t] )
            continue;

        /* The bitmap's own pages are marked allocated, but are not ours. */
        if ( idx < PFN_UP((vm_end[t] + 7) / 8) || nr > vm_top[t] - idx ||
             find_next_zero_bit(vm_bitmap(t), idx + nr, idx) < idx + nr )
            return 0;

        *type = t;
        return idx;
    }

    return 0;
}

int vunmap_partial(const void *va, unsigned int nr)
{
    unsigned long addr = (unsigned long)va;
    enum vmap_region type = VMAP_DEFAULT;
    unsigned int bit, end;
    int rc;

    spin_lock(&vm_lock);
    bit = vm_index_range(va, nr, &type);
    spin_unlock(&vm_lock);

    if ( !bit )
    {
        printk(XENLOG_WARNING "vmap: bad partial unmap of %p, %u pages\n",
               va, nr);
        WARN();
        return -EINVAL;
    }

#ifdef _PAGE_NONE
    /*
     * As vunmap() does, keep the page tables for one page: x86's
     * map_pages_to_xen() flushes that page alone.  It flushes once per
     * present PTE, though, so clear more than one page in a single call
     * that flushes once, at the price of freeing a page table it empties.
     */
    if ( nr == 1 )
        rc = map_pages_to_xen(addr, INVALID_MFN, 1, _PAGE_NONE);
    else
#endif
        rc = destroy_xen_mappings(addr, addr + PAGE_SIZE * nr);
    /*
     * Splitting a superpage needs memory.  Without it, keep the range
     * allocated: freeing its bits while pages may still be mapped would
     * hand them to the next allocation.
     */
    if ( rc )
    {
        printk(XENLOG_WARNING "vmap: cannot unmap %p, %u pages: %d\n",
               va, nr, rc);
        WARN();
        return rc;
    }

    spin_lock(&vm_lock);
    for ( end = bit + nr; bit < end; bit++ )
        __clear_bit(bit, vm_bitmap(type));

    /*
     * vm_free() may take bit - 1 as the guard of the freed range, but a
     * range starting inside an allocation has a set bit there.  Use the
     * start of the hole the range joins instead.
     */
    bit = end - nr;
    if ( bit < vm_low[type] )
    {
        vm_low[type] = bit;
        while ( !test_bit(vm_low[type] - 1, vm_bitmap(type)) )
            --vm_low[type];
    }
    vm_hint_free(type, bit);
    spin_unlock(&vm_lock);

    return 0;
}
