/* A pool block's size counts from before its alignment padding. */
if ( (unsigned long)ptr & (PAGE_SIZE - 1) )
    curr_size -= ptr - strip_padding(ptr);
