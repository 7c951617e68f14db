/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Fakes with side effects the tests observe: assertions and warnings that
 * are recorded with file:line, spinlocks that catch misuse, and the
 * memory-management interface (frame_table, the allocators, the page
 * tables) served by the simulated RAM and MMU of ram.c and pt.c.
 *
 * Functions that take or return the tree's mfn_t are static inline here,
 * boxing the raw frame numbers of the shim, so that mfn_t stays whatever
 * the tree's <xen/mm-frame.h> makes it (a struct: NDEBUG is never set).
 */
#ifndef SHIM_CUSTOM_H
#define SHIM_CUSTOM_H

#include "stubs.h"
#include "pt.h"
#include "ram.h"
#include "report.h"

#include <xen/errno.h>
#include <xen/mm-frame.h>
#include <xen/page-size.h>

/* Older trees define this in asm/page.h rather than xen/page-size.h. */
#ifndef PAGE_ALIGN
#define PAGE_ALIGN(x) (((x) + PAGE_SIZE - 1) & PAGE_MASK)
#endif

/* The x86-64 paging geometry beyond the page size. */
#define PAGETABLE_ORDER      9
#define L2_PAGETABLE_SHIFT   21
#define PAGE_ORDER_1G        18
#define GB(n)                ((unsigned long)(n) << 30)
#define MB(n)                ((unsigned long)(n) << 20)
#define __pfn_to_paddr(pfn)  ((paddr_t)(pfn) << PAGE_SHIFT)
#define __paddr_to_pfn(pa)   ((unsigned long)((pa) >> PAGE_SHIFT))
#define pfn_to_paddr(pfn)    __pfn_to_paddr(pfn)
#define paddr_to_pfn(pa)     __paddr_to_pfn(pa)

/* The tree's <xen/pdx.h>, on x86's PDX groups (2M of frame table). */
#define PDX_GROUP_SHIFT      L2_PAGETABLE_SHIFT
#define gcc11_wrap(x)        (x)
#pragma GCC diagnostic push
/*
 * Xen builds without -Wextra: 4.20's stubs for !CONFIG_PDX_COMPRESSION
 * ignore their parameters.
 */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <xen/pdx.h>
#pragma GCC diagnostic pop
_Static_assert(PDX_GROUP_COUNT == SHIM_GROUP_FRAMES,
               "the shim's PDX groups are the tree's");
extern unsigned long xen_phys_start;

/*
 * The tree's own MEMF_* flags (taken out of its xen/mm.h by the harness).
 * MEMF_node() takes the width of nodeid_t.
 */
typedef u8 nodeid_t;
#include <tree/memf.h>

/* Assertions: a failure leaves the guarded call, as Xen would crash. */
#define BUG() shim_trap(H_BUG, __FILE__, __LINE__, "BUG()")
#define BUG_ON(p) do {                                                  \
    if ( unlikely(p) )                                                  \
        shim_trap(H_BUG, __FILE__, __LINE__, "BUG_ON(%s)", #p);         \
} while ( 0 )
#ifndef SHIM_RELEASE
#define ASSERT(p) do {                                                  \
    if ( unlikely(!(p)) )                                               \
        shim_trap(H_ASSERT, __FILE__, __LINE__, "ASSERT(%s)", #p);      \
} while ( 0 )
#else
/* As a release build of Xen has them: compiled, never evaluated. */
#define ASSERT(p) do { if ( 0 && (p) ) {} } while ( 0 )
#endif

/* Warnings: recorded, and execution goes on as in Xen. */
#define WARN() shim_record(H_WARN, __FILE__, __LINE__, "WARN()")
#define WARN_ON(p) ({                                                   \
    bool w_ = !!(p);                                                    \
                                                                        \
    if ( unlikely(w_) )                                                 \
        shim_record(H_WARN, __FILE__, __LINE__, "WARN_ON(%s)", #p);     \
    w_;                                                                 \
})

#define printk         shim_printk
#define XENLOG_ERR     "<E>"
#define XENLOG_WARNING "<W>"
#define XENLOG_INFO    "<I>"

/*
 * Spinlocks, real ones: each CPU of h_stress() is a host thread.  Taking
 * a lock this CPU holds would deadlock Xen.  Where a CPU drops its last
 * lock another CPU may get in (h_preempt_at(), or a yield in h_stress()).
 * A CPU that waits for a lock gives up once another one has trapped,
 * since that one may hold it for ever.
 */
typedef struct {
    unsigned int holder;  /* shim_cpu + 1 of the CPU that holds it, or 0 */
} spinlock_t;

#define SPIN_LOCK_UNLOCKED   { 0 }
#define DEFINE_SPINLOCK(l)   spinlock_t l = SPIN_LOCK_UNLOCKED
#define spin_lock_init(l)    ((l)->holder = 0)
#define spin_lock(l)         shim_spin_lock(l, __FILE__, __LINE__)
#define spin_unlock(l)       shim_spin_unlock(l, __FILE__, __LINE__)

extern int shim_stop;

static inline void shim_spin_lock(spinlock_t *l, const char *file, int line)
{
    unsigned int me = shim_cpu + 1, was = 0;

    while ( !__atomic_compare_exchange_n(&l->holder, &was, me, false,
                                         __ATOMIC_ACQUIRE, __ATOMIC_RELAXED) )
    {
        if ( was == me )
            shim_trap(H_BUG, file, line, "spinlock taken twice: deadlock");
        if ( __atomic_load_n(&shim_stop, __ATOMIC_RELAXED) )
            shim_trap(H_BUG, file, line, "another CPU trapped holding the lock");
        was = 0;
        __builtin_ia32_pause();
    }
    shim_locks_held++;
}

static inline void shim_spin_unlock(spinlock_t *l, const char *file,
                                    int line)
{
    if ( __atomic_load_n(&l->holder, __ATOMIC_RELAXED) != shim_cpu + 1 )
        shim_trap(H_BUG, file, line, "spinlock released but not held");
    __atomic_store_n(&l->holder, 0, __ATOMIC_RELEASE);
    if ( !--shim_locks_held )
        shim_preempt_point();
}

/* Frames and the direct map. */
#define PGC_xen_heap          (1UL << 62)
#define PFN_ORDER(pg)         ((pg)->v.free.order)
#define is_xen_heap_page(pg)  ((pg)->count_info & PGC_xen_heap)

/* Stricter than Xen: a frame outside simulated RAM is a caller's bug. */
static inline struct page_info *shim_mfn_to_page(mfn_t mfn, const char *file,
                                                 int line)
{
    if ( mfn_x(mfn) >= shim_nr_frames )
        shim_trap(H_ASSERT, file, line, "mfn_to_page(%#lx): not RAM",
                  mfn_x(mfn));

    return &frame_table[mfn_x(mfn)];
}

#define mfn_to_page(mfn)     shim_mfn_to_page(mfn, __FILE__, __LINE__)
#define page_to_mfn(pg)      _mfn(shim_frame(pg))
#define mfn_to_maddr(mfn)    ((paddr_t)mfn_x(mfn) << PAGE_SHIFT)

#ifdef CONFIG_XENHEAP_VMAP
/*
 * The tree's own conversions (virt_to_page(), page_to_virt(),
 * virt_to_maddr(), virt_to_pdx(), pdx_to_virt()) with its
 * asm/xenheap-vmap.h, taken out of its x86 headers by the harness.
 */
#include <tree/conv.h>
#else
/* Like Xen's virt_to_maddr() ASSERT: only direct-map addresses convert. */
static inline struct page_info *shim_virt_to_page(const void *va,
                                                  const char *file, int line)
{
    unsigned long off = (unsigned long)va - DIRECTMAP_VIRT_START;

    if ( (unsigned long)va < DIRECTMAP_VIRT_START ||
         off >= shim_nr_frames << PAGE_SHIFT )
        shim_trap(H_ASSERT, file, line,
                  "virt_to_page(%p): not a direct-map address", va);

    return &frame_table[off >> PAGE_SHIFT];
}

#define page_to_virt(pg)     shim_frame_va(shim_frame(pg))
#define virt_to_page(va)     shim_virt_to_page(va, __FILE__, __LINE__)
#endif

/* The domheap and the boot allocator. */
struct domain;

/* One zone, all of it below any address limit: memflags are ignored. */
#define alloc_domheap_pages(d, order, memflags) \
    shim_alloc_domheap_pages(d, order, memflags, __FILE__, __LINE__)

static inline struct page_info *shim_alloc_domheap_pages(
    struct domain *d, unsigned int order, unsigned int memflags,
    const char *file, int line)
{
    (void)d;
#ifdef MEMF_directmap
    /* A flag of alloc_xenheap_pages() only: the domheap would take it as
     * something else. */
    if ( memflags & MEMF_directmap )
        shim_record(H_VIOLATION, file, line,
                    "MEMF_directmap passed to alloc_domheap_pages()");
#else
    (void)memflags;
    (void)file;
    (void)line;
#endif

    return shim_alloc_pages(order);
}

#define alloc_domheap_page(d, f)      alloc_domheap_pages(d, 0, f)
#define free_domheap_pages(pg, order) \
    shim_free_pages(pg, order, __FILE__, __LINE__)
#define free_domheap_page(pg)         free_domheap_pages(pg, 0)
/* page_alloc.c's own, for the xenheap code taken from the tree. */
#define free_heap_pages(pg, order, scrub) \
    shim_free_pages(pg, order, __FILE__, __LINE__)

static inline mfn_t alloc_boot_pages(unsigned long nr, unsigned long align)
{
    unsigned long frame = shim_alloc_boot(nr, align);

    /* Xen panics when the boot allocator runs dry. */
    if ( frame == SHIM_INVALID_FRAME )
        shim_trap(H_BUG, __FILE__, __LINE__, "boot allocator exhausted");

    return _mfn(frame);
}

#define init_boot_pages(ps, pe) \
    shim_free_boot((ps) >> PAGE_SHIFT, ((pe) - (ps)) >> PAGE_SHIFT, \
                   __FILE__, __LINE__)

/* The xenheap: the tree's own code (page_alloc.c), built by the harness. */
void *alloc_xenheap_pages(unsigned int order, unsigned int memflags);
void free_xenheap_pages(void *v, unsigned int order);
#define alloc_xenheap_page()  alloc_xenheap_pages(0, 0)
#define free_xenheap_page(v)  free_xenheap_pages(v, 0)

static inline unsigned int get_order_from_pages(unsigned long nr)
{
    return nr > 1 ? (unsigned int)flsl(nr - 1) : 0;
}

static inline unsigned int get_order_from_bytes(unsigned long size)
{
    return get_order_from_pages((size + PAGE_SIZE - 1) >> PAGE_SHIFT);
}

/* A caller's list of pages. */
struct page_list_head {
    struct page_info *next, *tail;
};

#define PAGE_LIST_HEAD(name) struct page_list_head name = { NULL, NULL }

static inline void page_list_add(struct page_info *pg,
                                 struct page_list_head *head)
{
    pg->list.prev = NULL;
    pg->list.next = head->next;
    if ( head->next )
        head->next->list.prev = pg;
    else
        head->tail = pg;
    head->next = pg;
}

static inline struct page_info *page_list_remove_head(
    struct page_list_head *head)
{
    struct page_info *pg = head->next;

    if ( !pg )
        return NULL;
    head->next = pg->list.next;
    if ( head->next )
        head->next->list.prev = NULL;
    else
        head->tail = NULL;
    pg->list.next = pg->list.prev = NULL;

    return pg;
}

/*
 * Page tables (asm/page.h and the arch side of xen/mm.h).  x86 defines
 * _PAGE_NONE, and its vunmap() maps the range to nothing, keeping the page
 * tables; Arm (SHIM_ARM) does not, and its vunmap() calls
 * destroy_xen_mappings() instead.
 */
#ifndef SHIM_ARM
#define _PAGE_NONE           0U
#endif
#define PAGE_HYPERVISOR_RO   SHIM_PAGE_HYPERVISOR_RO
#define PAGE_HYPERVISOR      SHIM_PAGE_HYPERVISOR

static inline int map_pages_to_xen(unsigned long virt, mfn_t mfn,
                                   unsigned long nr, unsigned int flags)
{
    return shim_map(virt, mfn_x(mfn), nr, flags);
}

static inline int modify_xen_mappings(unsigned long s, unsigned long e,
                                      unsigned int nf)
{
    ASSERT(IS_ALIGNED(s, PAGE_SIZE) && IS_ALIGNED(e, PAGE_SIZE));

    return shim_modify(s, e, nf);
}

#ifndef SHIM_ARM
static inline int destroy_xen_mappings(unsigned long s, unsigned long e)
{
    shim_counters[H_PT_DESTROYS]++;

    return modify_xen_mappings(s, e, _PAGE_NONE);
}
#else
/* As Arm's: ASSERTs, and in a release build a refusal of what they catch. */
static inline int destroy_xen_mappings(unsigned long s, unsigned long e)
{
    shim_counters[H_PT_DESTROYS]++;
    ASSERT(IS_ALIGNED(s, PAGE_SIZE));
    ASSERT(IS_ALIGNED(e, PAGE_SIZE));
    ASSERT(s <= e);
    if ( !IS_ALIGNED(s, PAGE_SIZE) || !IS_ALIGNED(e, PAGE_SIZE) || s > e )
        return -EINVAL;

    return shim_modify(s, e, 0);
}
#endif

static inline int populate_pt_range(unsigned long virt, unsigned long nr)
{
    return shim_populate(virt, nr);
}

static inline mfn_t xen_map_to_mfn(unsigned long va)
{
    return _mfn(shim_walk(va, NULL, NULL));
}

#define vmap_to_mfn(va)   xen_map_to_mfn((unsigned long)(va))
#define vmap_to_page(va)  mfn_to_page(vmap_to_mfn(va))

static inline void clear_page(void *p)
{
    memset(p, 0, PAGE_SIZE);
}

#endif /* SHIM_CUSTOM_H */
