if ( xenheap_vmap_extend(mfn_to_pdx(spfn), mfn_to_pdx(epfn)) )
    return -ENOMEM;

