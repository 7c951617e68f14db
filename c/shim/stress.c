/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Several CPUs at once (h_stress()): each CPU is a host thread running the
 * tree's real xenheap and xmalloc code, with the shim's real spinlocks, and
 * allocates, checks and frees at random.  Where a CPU drops its last lock
 * it sometimes yields, so that another CPU gets in exactly there, as it
 * would between two critical sections in Xen.  Every xenheap allocation
 * must convert both ways while its owner holds it, and every allocation
 * must keep what its owner wrote into it until its owner frees it.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include <xen/mm.h>

#include <shim/api.h>
#include <tu/tu.h>

#define MAX_CPUS 8
#define HELD     24  /* allocations a CPU holds at most */

int shim_stop;
static unsigned int yield_every;
static __thread unsigned int seed;

struct held {
    void *va;
    unsigned long bytes;
    unsigned int order;     /* alloc_xenheap_pages()'s, if heap */
    bool heap;              /* else xmalloc() */
    unsigned char tag;
};

struct cpu {
    pthread_t thread;
    unsigned int id;
    unsigned long iters, ops;
    unsigned int seed;
    bool failed;
};

void shim_stress_point(void)
{
    if ( yield_every && !(rand_r(&seed) % yield_every) )
        sched_yield();
}

/* Every page of a xenheap allocation converts both ways. */
static bool converts(void *va, unsigned int order)
{
    const struct page_info *pg = virt_to_page(va);
    unsigned int i;

    for ( i = 0; i < (1U << order); i++ )
    {
        void *p = va + i * PAGE_SIZE;

        if ( virt_to_page(p) != pg + i || page_to_virt(pg + i) != p ||
             !is_xen_heap_page(pg + i) )
            return false;
    }

    return true;
}

static bool check(struct cpu *c, const struct held *x, const char *when)
{
    if ( memchr_inv(x->va, x->tag, x->bytes) )
        shim_record(H_VIOLATION, __FILE__, __LINE__,
                    "CPU %u: the %lu bytes at %p changed under it, %s",
                    c->id, x->bytes, x->va, when);
    else if ( x->heap && !converts(x->va, x->order) )
        shim_record(H_VIOLATION, __FILE__, __LINE__,
                    "CPU %u: order %u at %p does not convert, %s",
                    c->id, x->order, x->va, when);
    else
        return true;
    c->failed = true;

    return false;
}

static void release(const struct held *x)
{
    if ( x->heap )
        free_xenheap_pages(x->va, x->order);
    else
        xfree(x->va);
}

static void run(struct cpu *c)
{
    struct held h[HELD];
    unsigned int n = 0;
    unsigned long i;

    for ( i = 0; i < c->iters && !__atomic_load_n(&shim_stop, __ATOMIC_RELAXED);
          i++, c->ops++ )
    {
        unsigned int r = rand_r(&seed);
        struct held *x = &h[n];

        if ( n && (n == HELD || r % 2) )
        {
            unsigned int k = r % n;
            struct held old = h[k];

            h[k] = h[--n];
            if ( !check(c, &old, "before its free") )
                return;
            release(&old);
            continue;
        }

        x->heap = (r >> 1) % 2;
        x->tag = c->id * 16 + i % 16;
        if ( x->heap )
        {
            x->order = (r >> 2) % 3;
            x->bytes = PAGE_SIZE << x->order;
            x->va = alloc_xenheap_pages(x->order, 0);
        }
        else
        {
            x->order = 0;
            x->bytes = 1 + (r >> 2) % (3 * PAGE_SIZE);
            x->va = _xmalloc(x->bytes, 16);
        }
        if ( !x->va )
            continue;  /* out of memory: fine */
        memset(x->va, x->tag, x->bytes);
        if ( !check(c, x, "once allocated") )
            return;
        n++;
    }

    while ( n-- )
        if ( check(c, &h[n], "at the end") )
            release(&h[n]);
}

static void *cpu_main(void *arg)
{
    struct cpu *c = arg;
    struct shim_guard g;

    shim_cpu = c->id;
    seed = c->seed;
    if ( GUARD_ENTER(g) )
        run(c);
    else
        c->failed = true;  /* a BUG, an ASSERT or a fault */
    shim_guard_leave(&g);
    if ( c->failed )
        __atomic_store_n(&shim_stop, 1, __ATOMIC_RELAXED);

    return NULL;
}

unsigned int h_stress(unsigned int cpus, unsigned long iters,
                      unsigned int seed0, unsigned int every,
                      unsigned long *ops)
{
    struct cpu c[MAX_CPUS];
    unsigned int i, failed = 0;

    if ( !cpus || cpus > MAX_CPUS )
        return ~0U;

    shim_stop = 0;
    yield_every = every;
    *ops = 0;
    for ( i = 0; i < cpus; i++ )
    {
        c[i] = (struct cpu){ .id = i + 1, .iters = iters,
                             .seed = seed0 * MAX_CPUS + i };
        if ( pthread_create(&c[i].thread, NULL, cpu_main, &c[i]) )
            abort();
    }
    for ( i = 0; i < cpus; i++ )
    {
        pthread_join(c[i].thread, NULL);
        failed += c[i].failed;
        *ops += c[i].ops;
    }
    /*
     * shim_stop stays set after a failure: a lock the failed CPU held is
     * held for ever, and whoever waits for it must trap, not hang.
     */
    yield_every = 0;

    return failed;
}
