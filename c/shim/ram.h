/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Simulated RAM.  The frames live in a memfd, mapped as the direct map at
 * DIRECTMAP_VIRT_START; each has a struct page_info in the frame table at
 * FRAMETABLE_VIRT_START (layout.h).  Both exist only for the PDX groups
 * that hold RAM: a group may be left out, a hole, as on a machine whose
 * RAM is not contiguous.  A buddy allocator serves the domheap, a range
 * allocator the boot allocator.  This layer speaks raw frame numbers: the
 * fake Xen headers box them into the tree's mfn_t, so nothing here
 * depends on the tree.  PDX compression is off (its masks are identity),
 * so a frame number is also its pdx.
 */
#ifndef SHIM_RAM_H
#define SHIM_RAM_H

#include "layout.h"

#define SHIM_PAGE_SHIFT 12
#define SHIM_PAGE_SIZE (1UL << SHIM_PAGE_SHIFT)
#define SHIM_MAX_ORDER 20
#define SHIM_INVALID_FRAME (~0UL)

struct page_info;

/* A caller's page list (Xen's page_list_*); the links belong to the owner. */
struct page_list_entry {
    struct page_info *next, *prev;
};

/*
 * What Xen code reads and writes, and nothing else: 32 bytes, as on x86
 * (the xenheap series checks that size).  Allocation clears count_info
 * and v, as Xen's alloc_heap_pages() does.
 */
struct page_info {
    struct page_list_entry list;
    unsigned long count_info;     /* PGC_* flags, written by Xen code */
    union {
        struct {
            unsigned int order;   /* PFN_ORDER(): the owner's scratch */
        } free;
    } v;
    unsigned int shim_pad;
};

/* The shim's own bookkeeping of a frame, beside the frame table. */
struct shim_frame {
    struct shim_frame *free_next, *free_prev;
    unsigned char state;          /* enum shim_frame_state */
    unsigned char order;          /* order of a free block, at its head */
};

enum shim_frame_state {
    SHIM_FRAME_RESERVED = 0,  /* never handed out (frame 0, holes) */
    SHIM_FRAME_FREE = 1,      /* in the buddy allocator */
    SHIM_FRAME_BOOT = 2,      /* free in the boot allocator */
    SHIM_FRAME_INUSE = 3,     /* allocated */
};

extern struct shim_frame *shim_frames;
extern unsigned long shim_nr_frames;
/* Xen's count of RAM pages: those of the heap and the boot allocator. */
extern unsigned long total_pages;
extern int shim_ram_fd;

/*
 * nr_frames of RAM (frame 0 reserved), the top nr_boot of them in the boot
 * allocator; bit g of holes leaves PDX group g out.  0 or -1.
 */
int shim_ram_init(unsigned long nr_frames, unsigned long nr_boot,
                  unsigned long holes);
void shim_ram_fini(void);
/* Whether frame is in a PDX group that holds RAM (its page_info exists). */
int shim_frame_present(unsigned long frame);

struct page_info *shim_alloc_pages(unsigned int order);
void shim_free_pages(struct page_info *pg, unsigned int order,
                     const char *file, int line);
unsigned long shim_alloc_boot(unsigned long nr, unsigned long align);
void shim_free_boot(unsigned long first, unsigned long nr,
                    const char *file, int line);
void shim_end_boot(void);
unsigned long shim_free_frames(void);

/* Frame number of a page_info, and its address in the direct map. */
static inline unsigned long shim_frame(const struct page_info *pg)
{
    return (unsigned long)(pg - frame_table);
}

static inline void *shim_frame_va(unsigned long frame)
{
    return (void *)(DIRECTMAP_VIRT_START + (frame << SHIM_PAGE_SHIFT));
}

#endif /* SHIM_RAM_H */
