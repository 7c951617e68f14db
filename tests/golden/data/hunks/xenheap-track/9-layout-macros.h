/*
 * Slot 261: xenheap page->virt array, 4 bytes per page below
 * HYPERVISOR_VIRT_END in the direct map, where the xenheap is (see
 * xenheap_max_mfn()), then virt->page array, 4 bytes per vmap page
 * (CONFIG_XENHEAP_VMAP).
 */
#define XENHEAP_VMAP_FWD_NR     ((HYPERVISOR_VIRT_END - \
                                  DIRECTMAP_VIRT_START) >> PAGE_SHIFT)
#define XENHEAP_VMAP_FWD_START  XEN_VIRT_END
#define XENHEAP_VMAP_FWD_END    (XENHEAP_VMAP_FWD_START + \
                                 XENHEAP_VMAP_FWD_NR * 4)
#define XENHEAP_VMAP_REV_START  XENHEAP_VMAP_FWD_END
#define XENHEAP_VMAP_REV_END    (XENHEAP_VMAP_REV_START + \
                                 ((VMAP_VIRT_END - VMAP_VIRT_START) >> \
                                  (PAGE_SHIFT - 2)))
