va = xenheap_vmap_pdx_to_virt(pg - frame_table);
if ( va )
    return va;
