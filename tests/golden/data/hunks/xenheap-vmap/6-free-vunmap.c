pg = xenheap_vunmap(v, order);
if ( !pg )
    return;
