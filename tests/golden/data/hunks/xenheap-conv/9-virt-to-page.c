if ( va < XEN_VIRT_END )
{
    if ( xenheap_vmap_va(va) )
        return frame_table + xenheap_vmap_virt_to_pdx(va);
    ASSERT(va >= XEN_VIRT_START);
    va += DIRECTMAP_VIRT_START - XEN_VIRT_START + xen_phys_start;
}
