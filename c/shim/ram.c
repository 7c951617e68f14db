/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Simulated RAM: the memfd, the direct map, the frame table, a buddy
 * domheap and a boot allocator, with the counters and failure injection
 * the tests drive, and the PDX variables of <xen/pdx.h>.
 *
 * The buddy allocator behaves as Xen's does where it matters to the code
 * under test: blocks are naturally aligned, and any naturally aligned
 * sub-block of an allocation may be freed on its own (xmalloc's trimming
 * relies on that).  Freeing a frame that is not allocated is a bug in the
 * caller and traps, naming the caller's file:line.
 *
 * This file owns the whole reservation [SHIM_VA_BASE, SHIM_VA_END) of
 * layout.h; pt.c maps inside its first part.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ram.h"
#include "report.h"

_Static_assert(sizeof(struct page_info) == SHIM_PAGE_INFO_SIZE,
               "struct page_info must have x86's size");

struct shim_frame *shim_frames;
unsigned long shim_nr_frames;
int shim_ram_fd = -1;

/*
 * <xen/pdx.h>: PDX mask compression with masks that compress nothing, so
 * pdx == pfn; and the groups that hold RAM.
 */
unsigned long max_pdx;
unsigned long total_pages;
unsigned long pfn_pdx_bottom_mask = ~0UL, ma_va_bottom_mask = ~0UL;
unsigned int pfn_pdx_hole_shift;
unsigned long pfn_hole_mask;
unsigned long pfn_top_mask, ma_top_mask;
unsigned long pdx_group_valid[(SHIM_MAX_GROUPS + 63) / 64];
/* The physical address of the "Xen image"; nothing is there. */
unsigned long xen_phys_start;

/* shim_frames[].order of every frame that is not the head of a free block */
#define NOT_A_HEAD 0xff

static struct shim_frame *free_list[SHIM_MAX_ORDER + 1];
static unsigned long nr_free;
static unsigned long fail_nth;
static int reserved;

static unsigned long frame_of(const struct shim_frame *f)
{
    return (unsigned long)(f - shim_frames);
}

int shim_frame_present(unsigned long frame)
{
    unsigned long g = frame / SHIM_GROUP_FRAMES;

    return frame < shim_nr_frames && ((pdx_group_valid[g / 64] >> (g % 64)) & 1);
}

static int range_present(unsigned long first, unsigned long nr)
{
    unsigned long f;

    for ( f = first; f < first + nr; f += SHIM_GROUP_FRAMES )
        if ( !shim_frame_present(f) )
            return 0;

    return first + nr <= shim_nr_frames;
}

static void list_push(struct shim_frame *pg, unsigned int order)
{
    pg->order = order;
    pg->free_prev = NULL;
    pg->free_next = free_list[order];
    if ( pg->free_next )
        pg->free_next->free_prev = pg;
    free_list[order] = pg;
}

static void list_unlink(struct shim_frame *pg)
{
    if ( pg->free_prev )
        pg->free_prev->free_next = pg->free_next;
    else
        free_list[pg->order] = pg->free_next;
    if ( pg->free_next )
        pg->free_next->free_prev = pg->free_prev;
    pg->free_next = pg->free_prev = NULL;
    pg->order = NOT_A_HEAD;
}

static void set_state(unsigned long first, unsigned long nr,
                      enum shim_frame_state state)
{
    unsigned long i;

    for ( i = 0; i < nr; i++ )
        shim_frames[first + i].state = state;
}

/* Give [first, first + 2^order) to the buddy, merging with free buddies. */
static void heap_insert(unsigned long first, unsigned int order)
{
    set_state(first, 1UL << order, SHIM_FRAME_FREE);
    nr_free += 1UL << order;

    while ( order < SHIM_MAX_ORDER )
    {
        unsigned long buddy = first ^ (1UL << order);
        struct shim_frame *b;

        if ( buddy >= shim_nr_frames )
            break;
        b = &shim_frames[buddy];
        /* Only the head of a free block of the same order merges. */
        if ( b->state != SHIM_FRAME_FREE || b->order != order )
            break;
        list_unlink(b);
        first &= ~(1UL << order);
        order++;
    }
    list_push(&shim_frames[first], order);
}

/* Largest naturally aligned blocks covering [first, end), holes left out. */
static void heap_insert_range(unsigned long first, unsigned long end)
{
    while ( first < end )
    {
        unsigned int order = 0;

        if ( !shim_frame_present(first) )
        {
            first++;
            continue;
        }

        /* A group is a naturally aligned block: a hole is never crossed. */
        while ( order < SHIM_MAX_ORDER &&
                !(first & ((2UL << order) - 1)) &&
                first + (2UL << order) <= end &&
                ((2UL << order) <= SHIM_GROUP_FRAMES ||
                 range_present(first, 2UL << order)) )
            order++;
        heap_insert(first, order);
        first += 1UL << order;
    }
}

static int map_fixed(unsigned long va, unsigned long bytes, int fd,
                     unsigned long off)
{
    void *p = mmap((void *)va, bytes, PROT_READ | PROT_WRITE,
                   fd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
                            MAP_NORESERVE
                          : MAP_SHARED | MAP_FIXED,
                   fd, (off_t)off);

    return p == MAP_FAILED ? -1 : 0;
}

/*
 * The boot-time mappings of every present group: its part of the frame
 * table (2M, zeroed) and its frames in the direct map.
 */
static int map_groups(void)
{
    unsigned long g, first, nr;

    for ( g = 0; g * SHIM_GROUP_FRAMES < shim_nr_frames; g++ )
    {
        first = g * SHIM_GROUP_FRAMES;
        if ( !shim_frame_present(first) )
            continue;
        nr = shim_nr_frames - first < SHIM_GROUP_FRAMES
             ? shim_nr_frames - first : SHIM_GROUP_FRAMES;
        if ( map_fixed(FRAMETABLE_VIRT_START + first * SHIM_PAGE_INFO_SIZE,
                       SHIM_GROUP_FRAMES * SHIM_PAGE_INFO_SIZE, -1, 0) ||
             map_fixed((unsigned long)shim_frame_va(first),
                       nr << SHIM_PAGE_SHIFT, shim_ram_fd,
                       first << SHIM_PAGE_SHIFT) )
            return -1;
    }

    return 0;
}

int shim_ram_init(unsigned long nr_frames, unsigned long nr_boot,
                  unsigned long holes)
{
    size_t bytes = nr_frames << SHIM_PAGE_SHIFT;
    unsigned long i;
    void *p;

    if ( nr_frames < 2 || nr_frames > SHIM_MAX_FRAMES ||
         nr_boot >= nr_frames - 1 || (holes & 1) )
        return -1;

    /* All of it, PROT_NONE, refused if anything else is there. */
    p = mmap((void *)SHIM_VA_BASE, SHIM_VA_END - SHIM_VA_BASE, PROT_NONE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
             MAP_FIXED_NOREPLACE, -1, 0);
    if ( p != (void *)SHIM_VA_BASE )
    {
        if ( p != MAP_FAILED )
            munmap(p, SHIM_VA_END - SHIM_VA_BASE);
        return -1;
    }
    reserved = 1;

    shim_nr_frames = nr_frames;
    memset(pdx_group_valid, 0, sizeof(pdx_group_valid));
    for ( i = 0; i * SHIM_GROUP_FRAMES < nr_frames; i++ )
        if ( !((holes >> i) & 1) )
            pdx_group_valid[i / 64] |= 1UL << (i % 64);
    max_pdx = nr_frames;
    if ( nr_boot && !range_present(nr_frames - nr_boot, nr_boot) )
        goto fail;

    shim_ram_fd = memfd_create("xen-ram", MFD_CLOEXEC);
    if ( shim_ram_fd < 0 || ftruncate(shim_ram_fd, bytes) || map_groups() )
        goto fail;
    shim_frames = calloc(nr_frames, sizeof(*shim_frames));
    if ( !shim_frames )
        goto fail;
    for ( i = 0; i < nr_frames; i++ )
        shim_frames[i].order = NOT_A_HEAD;
    memset(free_list, 0, sizeof(free_list));
    nr_free = 0;
    fail_nth = 0;

    /* Frame 0 stays reserved, so a zeroed frame number is never valid. */
    heap_insert_range(1, nr_frames - nr_boot);
    set_state(nr_frames - nr_boot, nr_boot, SHIM_FRAME_BOOT);
    total_pages = nr_free + nr_boot;

    return 0;

 fail:
    shim_ram_fini();
    return -1;
}

void shim_ram_fini(void)
{
    if ( reserved )
        munmap((void *)SHIM_VA_BASE, SHIM_VA_END - SHIM_VA_BASE);
    reserved = 0;
    if ( shim_ram_fd >= 0 )
        close(shim_ram_fd);
    free(shim_frames);
    shim_frames = NULL;
    shim_ram_fd = -1;
    shim_nr_frames = 0;
    max_pdx = 0;
    total_pages = 0;
    memset(pdx_group_valid, 0, sizeof(pdx_group_valid));
}

void h_fail_alloc(unsigned long nth)
{
    fail_nth = nth;
}

/* Injected failure: the nth allocation from when it was armed fails. */
static int inject_failure(void)
{
    if ( !fail_nth || --fail_nth )
        return 0;

    return 1;
}

static struct page_info *alloc_pages(unsigned int order)
{
    unsigned int o = order;
    struct shim_frame *pg;
    unsigned long first, i;

    if ( order > SHIM_MAX_ORDER || inject_failure() )
        goto fail;
    while ( o <= SHIM_MAX_ORDER && !free_list[o] )
        o++;
    if ( o > SHIM_MAX_ORDER )
        goto fail;

    pg = free_list[o];
    list_unlink(pg);
    first = frame_of(pg);
    /* Keep the lower half, give the upper halves back. */
    while ( o > order )
    {
        o--;
        list_push(&shim_frames[first + (1UL << o)], o);
    }
    set_state(first, 1UL << order, SHIM_FRAME_INUSE);
    nr_free -= 1UL << order;
    shim_counters[H_HEAP_ALLOCS]++;
    /* Like alloc_heap_pages(): no flags, no owner (PFN_ORDER() is 0). */
    for ( i = 0; i < (1UL << order); i++ )
    {
        frame_table[first + i].count_info = 0;
        frame_table[first + i].v.free.order = 0;
    }

    return &frame_table[first];

 fail:
    shim_counters[H_HEAP_FAILS]++;
    return NULL;
}

static void free_pages(struct page_info *pg, unsigned int order,
                       const char *file, int line)
{
    unsigned long first, i;

    if ( pg < frame_table || pg >= frame_table + shim_nr_frames ||
         ((unsigned long)pg - FRAMETABLE_VIRT_START) % sizeof(*pg) )
        shim_trap(H_BUG, file, line, "free of a page outside RAM (%p)",
                  (void *)pg);
    first = shim_frame(pg);
    if ( order > SHIM_MAX_ORDER || (first & ((1UL << order) - 1)) ||
         first + (1UL << order) > shim_nr_frames )
        shim_trap(H_BUG, file, line,
                  "free of mfn %#lx order %u: not a naturally aligned block",
                  first, order);
    for ( i = 0; i < (1UL << order); i++ )
        if ( shim_frames[first + i].state != SHIM_FRAME_INUSE )
            shim_trap(H_BUG, file, line,
                      "free of mfn %#lx order %u: mfn %#lx is not allocated "
                      "(double free?)", first, order, first + i);

    heap_insert(first, order);
    shim_counters[H_HEAP_FREES]++;
}

/* The heap's entry points, under the shim's lock (Xen's heap_lock). */
struct page_info *shim_alloc_pages(unsigned int order)
{
    struct page_info *pg;

    shim_lock();
    pg = alloc_pages(order);
    shim_unlock();

    return pg;
}

void shim_free_pages(struct page_info *pg, unsigned int order,
                     const char *file, int line)
{
    shim_lock();
    free_pages(pg, order, file, line);
    shim_unlock();
}

/* Highest run of nr boot frames whose first frame is aligned to align. */
unsigned long shim_alloc_boot(unsigned long nr, unsigned long align)
{
    unsigned long first;

    if ( !align )
        align = 1;
    if ( !nr || nr >= shim_nr_frames )
        return SHIM_INVALID_FRAME;
    for ( first = (shim_nr_frames - nr) & ~(align - 1); first; first -= align )
    {
        unsigned long i;

        for ( i = 0; i < nr; i++ )
            if ( shim_frames[first + i].state != SHIM_FRAME_BOOT )
                break;
        if ( i == nr )
        {
            set_state(first, nr, SHIM_FRAME_INUSE);
            shim_counters[H_BOOT_ALLOCS]++;
            return first;
        }
        if ( first < align )
            break;
    }

    return SHIM_INVALID_FRAME;
}

void shim_free_boot(unsigned long first, unsigned long nr,
                    const char *file, int line)
{
    unsigned long i;

    for ( i = 0; i < nr; i++ )
        if ( first + i >= shim_nr_frames ||
             shim_frames[first + i].state != SHIM_FRAME_INUSE )
            shim_trap(H_BUG, file, line,
                      "boot free of mfn %#lx: not allocated", first + i);
    set_state(first, nr, SHIM_FRAME_BOOT);
}

/* Like end_boot_allocator(): what the boot allocator holds joins the heap. */
void shim_end_boot(void)
{
    unsigned long i;

    for ( i = 1; i < shim_nr_frames; i++ )
        if ( shim_frames[i].state == SHIM_FRAME_BOOT )
            heap_insert(i, 0);
}

unsigned long shim_free_frames(void)
{
    return nr_free;
}
