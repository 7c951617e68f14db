/* alloc_xenheap_pages() only: return memory mapped in the direct map. */
#define _MEMF_directmap   9
#define  MEMF_directmap   (1U << _MEMF_directmap)
