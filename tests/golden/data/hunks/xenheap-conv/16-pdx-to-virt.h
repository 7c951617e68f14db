#define pdx_to_virt(pdx) ({                                             \
    unsigned long pdx_ = (pdx);                                         \
    void *va_ = xenheap_vmap_pdx_to_virt(pdx_);                         \
                                                                        \
    va_ ?: (void *)(DIRECTMAP_VIRT_START + (pdx_ << PAGE_SHIFT));       \
})
