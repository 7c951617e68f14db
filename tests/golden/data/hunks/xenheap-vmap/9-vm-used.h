/* Pages that the allocations of a region hold, guard pages not counted. */
unsigned int vm_used(enum vmap_region type);
