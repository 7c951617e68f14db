static void cf_check xmalloc_pool_put(void *p)
{
    p = xchg(&xmalloc_spare, p);
    if ( p )
        free_xenheap_page(p);
}
