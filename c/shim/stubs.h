/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Plain stand-ins for Xen's infrastructure headers: compiler annotations,
 * types, arithmetic helpers, bit operations and lists.  Nothing here has a
 * side effect a test could observe; see custom.h for the fakes that do.
 * Written for the shim, from what the code under test needs.
 */
#ifndef SHIM_STUBS_H
#define SHIM_STUBS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Compiler and section annotations: no sections in a host process. */
#define likely(x)            __builtin_expect(!!(x), 1)
#define unlikely(x)          __builtin_expect(!!(x), 0)
#define __init
#define __initdata
#define __ro_after_init
#define __read_mostly
#define __iomem
#define __force
#define __must_check         __attribute__((warn_unused_result))
#define cf_check

/* Types. */
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef uint64_t paddr_t;
typedef char bool_t;
#define BITS_PER_LONG        64

/* Arithmetic. */
/* As Xen's: operands of different types do not compile (-Werror). */
#define min(x, y) ({                                                    \
    typeof(x) x_ = (x);                                                 \
    typeof(y) y_ = (y);                                                 \
                                                                        \
    (void)(&x_ == &y_);                                                 \
    x_ < y_ ? x_ : y_;                                                  \
})
#define max(x, y) ({                                                    \
    typeof(x) x_ = (x);                                                 \
    typeof(y) y_ = (y);                                                 \
                                                                        \
    (void)(&x_ == &y_);                                                 \
    x_ > y_ ? x_ : y_;                                                  \
})
#define min_t(t, x, y)       min((t)(x), (t)(y))
#define DIV_ROUND_UP(n, d)   (((n) + (d) - 1) / (d))
#define ISOLATE_LSB(x)       ((x) & -(x))
#define IS_ALIGNED(x, a)     (!((x) & ((a) - 1)))

/* A compile-time check, as in Xen: a true condition does not compile. */
#define BUILD_BUG_ON(cond)   ((void)sizeof(struct { int: -!!(cond); }))

/* x86's: stores are not reordered with stores, nor loads with loads. */
#define barrier()            __asm__ __volatile__ ( "" : : : "memory" )
#define smp_wmb()            barrier()
#define smp_rmb()            barrier()
#define smp_mb()             __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define ACCESS_ONCE(x)       (*(volatile typeof(x) *)&(x))
#define xchg(ptr, v)         __atomic_exchange_n(ptr, v, __ATOMIC_SEQ_CST)

/* The x86-64 page size. */
#define PAGE_SHIFT           12

/*
 * Bit operations, on 32-bit units as x86 Xen's are, so that code which
 * passes a u32 array (xmalloc's TLSF bitmaps) is served correctly.  The
 * __ ones are not atomic, as in Xen.
 */
static inline uint32_t *shim_bit_word(unsigned long nr, volatile void *addr)
{
    return (uint32_t *)addr + nr / 32;
}

static inline void __set_bit(unsigned long nr, volatile void *addr)
{
    *shim_bit_word(nr, addr) |= 1U << (nr % 32);
}

static inline void __clear_bit(unsigned long nr, volatile void *addr)
{
    *shim_bit_word(nr, addr) &= ~(1U << (nr % 32));
}

static inline int test_bit(unsigned long nr, const volatile void *addr)
{
    return (((const uint32_t *)addr)[nr / 32] >> (nr % 32)) & 1;
}

static inline int __test_and_clear_bit(unsigned long nr, volatile void *addr)
{
    int was = test_bit(nr, addr);

    __clear_bit(nr, addr);

    return was;
}

/* Atomic, as x86's (lock-prefixed): other CPUs may read the word. */
static inline void set_bit(unsigned long nr, volatile void *addr)
{
    __atomic_fetch_or(shim_bit_word(nr, addr), 1U << (nr % 32),
                      __ATOMIC_SEQ_CST);
}

static inline void clear_bit(unsigned long nr, volatile void *addr)
{
    __atomic_fetch_and(shim_bit_word(nr, addr), ~(1U << (nr % 32)),
                       __ATOMIC_SEQ_CST);
}

static inline int flsl(unsigned long x)
{
    return x ? BITS_PER_LONG - __builtin_clzl(x) : 0;
}

#define BITS_TO_LONGS(bits) DIV_ROUND_UP(bits, BITS_PER_LONG)
#define DECLARE_BITMAP(name, bits) unsigned long name[BITS_TO_LONGS(bits)]

unsigned long find_next_bit(const unsigned long *addr, unsigned long size,
                            unsigned long offset);
unsigned long find_next_zero_bit(const unsigned long *addr,
                                 unsigned long size, unsigned long offset);
void bitmap_fill(unsigned long *dst, unsigned int nbits);
unsigned int bitmap_weight(const unsigned long *src, unsigned int nbits);

/* Initcalls: the harness calls them itself, so only keep them used. */
#define __initcall(fn) \
    static int (*const shim_initcall_##fn)(void) __attribute__((used)) = fn

/* Doubly linked lists, as far as xmalloc uses them. */
struct list_head {
    struct list_head *next, *prev;
};

#define LIST_HEAD_INIT(name) { &(name), &(name) }
#define LIST_HEAD(name)      struct list_head name = LIST_HEAD_INIT(name)

static inline void INIT_LIST_HEAD(struct list_head *l)
{
    l->next = l->prev = l;
}

static inline void list_add_tail(struct list_head *n, struct list_head *h)
{
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
}

static inline void list_del_init(struct list_head *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    INIT_LIST_HEAD(n);
}

/* Strings: the C library's (ffs() too), plus two Xen has of its own. */
void *memchr_inv(const void *s, int c, size_t n);
size_t shim_strlcpy(char *dst, const char *src, size_t size);
#define strlcpy shim_strlcpy

/* Allocation context: always fine in a single-threaded process. */
#define ASSERT_ALLOC_CONTEXT() do { } while ( 0 )

/* xen/kernel.h's system state; the tests move it. */
extern enum system_state {
    SYS_STATE_early_boot,
    SYS_STATE_boot,
    SYS_STATE_smp_boot,
    SYS_STATE_active,
    SYS_STATE_suspend,
    SYS_STATE_resume
} system_state;

#endif /* SHIM_STUBS_H */
