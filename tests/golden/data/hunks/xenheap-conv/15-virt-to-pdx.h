#define virt_to_pdx(va)                                                 \
    ((unsigned long)(va) < DIRECTMAP_VIRT_START &&                      \
     xenheap_vmap_va((unsigned long)(va))                               \
     ? xenheap_vmap_virt_to_pdx((unsigned long)(va))                    \
     : ((unsigned long)(va) - DIRECTMAP_VIRT_START) >> PAGE_SHIFT)
