
if ( xenheap_vmap(pg, order, memflags) )
{
    free_domheap_pages(pg, order);
    return NULL;
}
