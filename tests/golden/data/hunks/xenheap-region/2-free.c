
if ( !bit )
{
    type = VMAP_XENHEAP;
    bit = vm_index(va, type);
}
