
/*
 * Only the head of a whole-page allocation has a page count; its
 * absence means a double free or a foreign pointer, which the loop
 * below would turn into an endless loop or into freeing garbage.
 */
if ( !is_xen_heap_page(pg) || !size )
{
    printk(XENLOG_ERR "xfree: %p is not a live xmalloc() block\n", p);
    WARN();
    return;
}
