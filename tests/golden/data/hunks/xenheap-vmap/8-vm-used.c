/* For debug keys: pages that a region's allocations hold, guards excluded. */
unsigned int vm_used(enum vmap_region type)
{
    unsigned int used;

    spin_lock(&vm_lock);
    used = bitmap_weight(vm_bitmap(type), vm_top[type]);
    spin_unlock(&vm_lock);

    /* The bitmap's own pages are marked allocated, but hold nothing. */
    return used - PFN_UP((vm_end[type] + 7) / 8);
}
