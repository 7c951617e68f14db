/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The simulated Xen's virtual address space, laid out in x86-64's order at
 * a fixed host address, so that every range is a compile-time constant as
 * in Xen (the code under test sizes static arrays and checks BUILD_BUG_ONs
 * with them):
 *
 *   SHIM_VA_BASE + 0G   vmap region VMAP_DEFAULT (VMAP_VIRT_START)  [1G]
 *                + 1G   vmap region VMAP_XENHEAP of the xenheap series
 *                       (XENHEAP_VMAP_VIRT_START), the end of the vmap
 *                       area (VMAP_VIRT_END)                        [1G]
 *                + 2G   vmap region VMAP_XEN                        [1G]
 *                + 3G   "Xen image" XEN_VIRT_START..XEN_VIRT_END    [1G]
 *                + 4G   whatever the tree puts after XEN_VIRT_END
 *                       (XENHEAP_VMAP_FWD/REV of the xenheap series)
 *                + 5G   frame table (FRAMETABLE_VIRT_START)       [128M]
 *                + 8G   direct map (DIRECTMAP_VIRT_START)          [16G]
 *
 * [SHIM_VA_BASE, FRAMETABLE_VIRT_START) is mapped through the simulated
 * page tables (pt.c mirrors them into the host MMU); the frame table and
 * the direct map are host mappings made at boot, as Xen's are, and exist
 * only for the PDX groups that hold RAM.  The Xen image range is never
 * mapped.  The base is above ASan's shadow and below its allocator.
 *
 * Macros only: this is included into every translation unit.
 */
#ifndef SHIM_LAYOUT_H
#define SHIM_LAYOUT_H

#define SHIM_GB(n)             ((unsigned long)(n) << 30)
#define SHIM_VA_BASE           0x200000000000UL

/*
 * The vmap regions, one window per enum vmap_region, each 1G at most; as
 * on x86, VMAP_XENHEAP is inside the vmap area and VMAP_XEN is not.
 */
#define SHIM_NR_WINDOWS        3
#define SHIM_WINDOW_BYTES      SHIM_GB(1)
#define VMAP_VIRT_START        SHIM_VA_BASE
/* unsigned long long, as x86's GB() makes the series' definitions. */
#define XENHEAP_VMAP_VIRT_START (VMAP_VIRT_START + SHIM_WINDOW_BYTES + 0ULL)
#define XENHEAP_VMAP_VIRT_END  (XENHEAP_VMAP_VIRT_START + SHIM_WINDOW_BYTES)
#define VMAP_VIRT_END          XENHEAP_VMAP_VIRT_END
#define SHIM_VMAP_XEN_START    VMAP_VIRT_END

/* Arm's VMAP_XEN, the livepatch area, is 2M (SHIM_ARM). */
#define SHIM_ARM_VMAP_XEN_BYTES (2UL << 20)

#define XEN_VIRT_START         (SHIM_VA_BASE + SHIM_GB(3))
#define XEN_VIRT_END           (XEN_VIRT_START + SHIM_GB(1))

/* Frames: up to 16G of RAM, with 32-byte struct page_info as on x86. */
#define SHIM_MAX_FRAMES        (1UL << 22)
#define SHIM_PAGE_INFO_SIZE    32
#define FRAMETABLE_VIRT_START  (SHIM_VA_BASE + SHIM_GB(5))
#define FRAMETABLE_SIZE        (SHIM_MAX_FRAMES * SHIM_PAGE_INFO_SIZE)
#define FRAMETABLE_NR          (FRAMETABLE_SIZE / sizeof(*frame_table))
#define frame_table            ((struct page_info *)FRAMETABLE_VIRT_START)

/* 4G-aligned, as the buddy's largest block is 2^20 pages. */
#define DIRECTMAP_VIRT_START   (SHIM_VA_BASE + SHIM_GB(8))
#define DIRECTMAP_SIZE         (SHIM_MAX_FRAMES << 12)
#define DIRECTMAP_VIRT_END     (DIRECTMAP_VIRT_START + DIRECTMAP_SIZE)
#define HYPERVISOR_VIRT_END    DIRECTMAP_VIRT_END

/* What pt.c mirrors into the host MMU, and the whole reservation. */
#define SHIM_PT_START          SHIM_VA_BASE
#define SHIM_PT_END            FRAMETABLE_VIRT_START
#define SHIM_VA_END            DIRECTMAP_VIRT_END

/*
 * A PDX group: the frames whose struct page_info fill 2M of frame table
 * (x86's PDX_GROUP_COUNT, checked against the tree's definition).
 */
#define SHIM_GROUP_FRAMES      ((1UL << 21) / SHIM_PAGE_INFO_SIZE)
#define SHIM_MAX_GROUPS        (SHIM_MAX_FRAMES / SHIM_GROUP_FRAMES)

#endif /* SHIM_LAYOUT_H */
