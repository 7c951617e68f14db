static void *cf_check xmalloc_pool_get(unsigned long size)
{
    void *p = xchg(&xmalloc_spare, NULL);

    ASSERT(size == PAGE_SIZE);
    if ( !p )
        p = alloc_xenheap_page();

    return p;
}
