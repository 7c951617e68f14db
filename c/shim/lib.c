/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The out-of-line helpers declared in stubs.h.  The bit searches count
 * their calls and the words they read, for gen bench.
 */
#include "report.h"
#include "stubs.h"

enum system_state system_state = SYS_STATE_active;

#define LONG_BITS (sizeof(unsigned long) * 8)

static unsigned long find_next(const unsigned long *addr, unsigned long size,
                               unsigned long offset, unsigned long invert)
{
    shim_counters[H_BITOP_CALLS]++;
    while ( offset < size )
    {
        unsigned long word;

        shim_counters[H_BITMAP_WORDS]++;
        word = (addr[offset / LONG_BITS] ^ invert) >> (offset % LONG_BITS);

        if ( word )
        {
            offset += __builtin_ctzl(word);
            return offset < size ? offset : size;
        }
        offset = (offset / LONG_BITS + 1) * LONG_BITS;
    }

    return size;
}

unsigned long find_next_bit(const unsigned long *addr, unsigned long size,
                            unsigned long offset)
{
    return find_next(addr, size, offset, 0);
}

unsigned long find_next_zero_bit(const unsigned long *addr,
                                 unsigned long size, unsigned long offset)
{
    return find_next(addr, size, offset, ~0UL);
}

/* Set bits [0, nbits); the rest of the last word is cleared. */
void bitmap_fill(unsigned long *dst, unsigned int nbits)
{
    unsigned int full = nbits / LONG_BITS;

    memset(dst, 0xff, full * sizeof(*dst));
    if ( nbits % LONG_BITS )
        dst[full] = (1UL << (nbits % LONG_BITS)) - 1;
}

unsigned int bitmap_weight(const unsigned long *src, unsigned int nbits)
{
    unsigned int i, n = 0;

    for ( i = 0; i < nbits; i++ )
        n += (src[i / LONG_BITS] >> (i % LONG_BITS)) & 1;

    return n;
}

void *memchr_inv(const void *s, int c, size_t n)
{
    const unsigned char *p = s;

    for ( ; n; n--, p++ )
        if ( *p != (unsigned char)c )
            return (void *)p;

    return NULL;
}

size_t shim_strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);

    if ( size )
    {
        size_t n = len < size - 1 ? len : size - 1;

        memcpy(dst, src, n);
        dst[n] = '\0';
    }

    return len;
}
