static void vm_free_type(const void *va, enum vmap_region type)
{
    unsigned int bit = vm_index(va, type);

    if ( !bit )
    {
        WARN_ON(va != NULL);
        return;
    }

    spin_lock(&vm_lock);
    vm_hint_free(type, bit);
    if ( bit < vm_low[type] )
    {
        vm_low[type] = bit - 1;
        while ( !test_bit(vm_low[type] - 1, vm_bitmap(type)) )
            --vm_low[type];
    }
    while ( __test_and_clear_bit(bit, vm_bitmap(type)) )
        if ( ++bit == vm_top[type] )
            break;
    spin_unlock(&vm_lock);
}

/* VMAP_XENHEAP is left to vunmap_xenheap(). */
static void vm_free(const void *va)
{
    vm_free_type(va, vm_index(va, VMAP_DEFAULT) ? VMAP_DEFAULT : VMAP_XEN);
}
