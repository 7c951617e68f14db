 *       They do handle xenheap pages mapped in the vmap area, as struct
 *       domain is one.
