/*
 * The xenheap's vmap region, VMAP_XENHEAP (CONFIG_XENHEAP_VMAP): the upper
 * half of the vmap area, short of its last GB, which holds the fixmap.
 */
#define XENHEAP_VMAP_VIRT_START (VMAP_VIRT_START + GB(32))
#define XENHEAP_VMAP_VIRT_END   (VMAP_VIRT_END - GB(1))
