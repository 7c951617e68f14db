/*
 * The xenheap's vmap region, VMAP_XENHEAP (CONFIG_XENHEAP_VMAP): at most
 * the upper half of the vmap area, leaving its last GB to the fixmap.
 * xenheap_vmap_init() sizes it at boot.
 */
#define XENHEAP_VMAP_VIRT_START (VMAP_VIRT_START + GB(32))
#define XENHEAP_VMAP_VIRT_END   (VMAP_VIRT_END - GB(1))
