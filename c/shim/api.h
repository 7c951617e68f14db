/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The test API: everything the Python harness calls.
 *
 * gen/harness.py runs this header through the preprocessor with the
 * build's feature macros (H_HAVE_*) and turns the result into the cffi
 * cdef with pycparser, so it holds declarations only, in basic C types.
 * Frame numbers cross it as raw unsigned longs (~0UL is INVALID_MFN): the
 * wrappers box them into the tree's mfn_t, so the cdef never depends on
 * how the tree defines that type.
 *
 * Calls that run Xen code are guarded: a BUG(), a failed ASSERT() or a
 * fault inside them is recorded and returns to the wrapper, which returns
 * 0/NULL; h_trapped() then says so and the record tells where.
 */
#ifndef SHIM_API_H
#define SHIM_API_H

enum h_record_kind {
    H_WARN = 1,       /* WARN()/WARN_ON(): recorded, execution goes on */
    H_BUG = 2,        /* BUG()/BUG_ON(): the guarded call is abandoned */
    H_ASSERT = 3,     /* a failed ASSERT(): likewise */
    H_FAULT = 4,      /* a page fault inside a guarded call */
    H_VIOLATION = 5,  /* a broken rule of the shim (TLB, double mapping) */
};

enum h_counter {
    H_HEAP_ALLOCS = 0,  /* domheap allocations that succeeded */
    H_HEAP_FAILS = 1,   /* domheap allocations refused (injected or empty) */
    H_HEAP_FREES = 2,   /* domheap frees */
    H_BOOT_ALLOCS = 3,  /* boot allocator allocations */
    H_PT_PAGES = 4,     /* page-table pages held now (a level, not events) */
    H_PTE_WRITES = 5,   /* leaf entries written */
    H_TLB_FLUSHES = 6,  /* flush_area() calls as x86 Xen makes them: each is
                           one IPI round once other CPUs are up */
    H_MAP_FAILS = 7,    /* mapping calls failed by injection (not unmaps) */
    H_BITOP_CALLS = 8,  /* find_next_bit()/find_next_zero_bit() calls */
    H_BITMAP_WORDS = 9, /* bitmap words those calls read */
    H_TLB_FLUSH_ALL = 10, /* those that flush the whole TLB, global entries
                             included, rather than the range changed */
    H_PT_DESTROYS = 11, /* destroy_xen_mappings() calls, Arm's vunmap() path */
    H_NR_COUNTERS = 12,
};

/* Addresses of the fixed layout (shim/layout.h), for h_layout(). */
enum h_layout {
    H_XEN_VIRT_START = 0,
    H_XEN_VIRT_END = 1,
    H_FRAMETABLE_VIRT_START = 2,
    H_DIRECTMAP_VIRT_START = 3,
    H_DIRECTMAP_VIRT_END = 4,
    H_PDX_GROUP_COUNT = 5,
    H_MAX_PDX = 6,
    H_FWD_START = 7,  /* the xenheap series' arrays, 0 without them */
    H_FWD_END = 8,
    H_REV_START = 9,
    H_REV_END = 10,
    H_VMAP_VIRT_START = 11,  /* the vmap area, which virt->page covers */
    H_VMAP_VIRT_END = 12,
};

/* Kinds of entries in the log of xmalloc's xenheap calls. */
enum h_xlog_kind {
    H_XLOG_ALLOC = 1,  /* (kind, returned VA or 0, order, frame, 0) */
    H_XLOG_FREE = 2,   /* (kind, VA passed, order, frame, not freed) */
};

/*
 * Lifecycle: simulated RAM (bit g of holes leaves PDX group g out), the
 * vmap windows, the page tables.
 */
int h_init(unsigned long ram_pages, unsigned long boot_pages,
           unsigned long window_pages, unsigned long holes);
void h_fini(void);
unsigned long h_window(unsigned int type);
unsigned long h_region_pages(unsigned int type);  /* as h_vm_init() sets it up */
unsigned long h_layout(int which);
void h_set_system_state(int state);
void h_end_boot(void);

/* Traps and records. */
int h_trapped(void);
unsigned int h_record_count(void);
int h_record_kind(unsigned int i);
const char *h_record_file(unsigned int i);
int h_record_line(unsigned int i);
const char *h_record_msg(unsigned int i);
void h_records_clear(void);
unsigned int h_log_count(void);
const char *h_log_line(unsigned int i);
unsigned int h_locks_held(void);

/* Simulated RAM. */
unsigned long h_counter(int which);
unsigned long h_ram_pages(void);
unsigned long h_ram_free_pages(void);
unsigned long h_total_pages(void);  /* Xen's total_pages */
unsigned long h_ram_xenheap_pages(void);
unsigned long h_frames_inuse(unsigned long mfn, unsigned long nr);
unsigned long h_frames_xenheap(unsigned long mfn, unsigned long nr);
int h_frame_present(unsigned long mfn);
unsigned long h_frame_order(unsigned long mfn);
void *h_frame_ptr(unsigned long mfn);
unsigned long h_alloc_domheap_pages(unsigned int order);
void h_free_domheap_pages(unsigned long mfn, unsigned int order);
unsigned long h_alloc_boot_pages(unsigned long nr, unsigned long align);
void h_init_boot_pages(unsigned long mfn, unsigned long nr);
void h_fail_alloc(unsigned long nth);
void h_fail_map(unsigned long nth);

/* Page tables and the MMU mirror. */
int h_map_pages_to_xen(unsigned long va, unsigned long mfn,
                       unsigned long nr, unsigned int flags);
int h_modify_xen_mappings(unsigned long s, unsigned long e, unsigned int nf);
int h_destroy_xen_mappings(unsigned long s, unsigned long e);
int h_populate_pt_range(unsigned long va, unsigned long nr);
unsigned long h_pte(unsigned long va, unsigned int *level);
unsigned long h_pt_runs(unsigned long va, unsigned long nr,
                        unsigned long *out, unsigned long max);
void h_pt_zap_noflush(unsigned long va);
unsigned int h_page_hypervisor(void);
unsigned int h_page_hypervisor_ro(void);
int h_probe_read(const void *va, unsigned long len, void *out);
int h_probe_write(void *va, unsigned long len, unsigned int byte);
unsigned long h_fault_addr(void);

/* The tree's vmap.c: its statics, and its API behind guards. */
void h_vm_init(unsigned int type);
void *h_vm_base(unsigned int type);
unsigned int h_vm_low(unsigned int type);
unsigned int h_vm_top(unsigned int type);
unsigned int h_vm_size(const void *va, unsigned int type);
unsigned int h_vm_end(unsigned int type);
void *h_vmap(const unsigned long *mfn, unsigned int nr);
void *h_vmap_with(const unsigned long *mfn, unsigned int granularity,
                  unsigned int nr, unsigned int align, unsigned int flags,
                  unsigned int type);
void h_vunmap(const void *va);
void *h_vmalloc(unsigned long size);
void *h_vmalloc_xen(unsigned long size);
void *h_vzalloc(unsigned long size);
void h_vfree(void *va);
unsigned long h_vmap_to_mfn(const void *va);
#ifdef H_HAVE_VMAP_SIZE
unsigned int h_vmap_size(const void *va);
#endif
#ifdef H_HAVE_VUNMAP_PARTIAL
int h_vunmap_partial(const void *va, unsigned int nr);
#endif
#ifdef H_HAVE_VMAP_XENHEAP
void h_vunmap_xenheap(const void *va);
#endif
#ifdef H_HAVE_XENHEAP_FALLBACK
/* What debug key 'm' prints of the xenheap on vmap. */
unsigned int h_vm_used(unsigned int type);
void h_xenheap_vmap_usage(unsigned long *pages, unsigned long *allocs);
#endif

/* The tree's xenheap functions of page_alloc.c. */
void *h_alloc_xenheap_pages(unsigned int order, unsigned int memflags);
void h_free_xenheap_pages(void *v, unsigned int order);
unsigned int h_memf_directmap(void);  /* MEMF_directmap, or 0 */

/*
 * Another CPU.  The points where this CPU drops its last lock are where
 * another CPU can get in between two of its critical sections.  From now
 * on, at the nth such point (n > 0), alloc_xenheap_pages(order, 0) runs
 * once, as if on another CPU; h_preempt_result() gives what it returned.
 * h_preempt_points() counts the points passed since h_preempt_at(), so a
 * test can first count them (n = ~0UL) and then try each one.
 */
void h_preempt_at(unsigned long n, unsigned int order);
unsigned long h_preempt_points(void);
int h_preempt_fired(void);
void *h_preempt_result(void);

/*
 * cpus CPUs (host threads, at most 8) each make iters random xenheap and
 * xmalloc() allocations and frees, checking each allocation; a CPU yields
 * at one in `every` of the points where it drops its last lock.  Returns
 * how many CPUs failed (see the records), and the operations done in ops.
 */
unsigned int h_stress(unsigned int cpus, unsigned long iters,
                      unsigned int seed, unsigned int every,
                      unsigned long *ops);

#ifdef H_HAVE_XENHEAP_VMAP
/* The tree's conversions; frames are pdx (compression is off). */
unsigned long h_virt_to_page(const void *va);
void *h_page_to_virt(unsigned long pdx);
unsigned long h_virt_to_maddr(const void *va);
unsigned long h_virt_to_pdx(const void *va);
void *h_pdx_to_virt(unsigned long pdx);

/* The tree's xenheap-vmap.c. */
void h_xv_set_opt(int on);
int h_xv_active(void);
void h_xv_init(void);
int h_xv_extend(unsigned long spdx, unsigned long epdx);
int h_xv_track(const void *va, unsigned long pdx, unsigned int nr);
void h_xv_untrack(const void *va, unsigned long pdx, unsigned int nr);
unsigned long h_xv_lookup(const void *va);
unsigned long h_xv_virt_to_pdx(unsigned long va);
unsigned long h_xv_virt_to_maddr(unsigned long va);
int h_xv_report(void);
#ifdef H_HAVE_XENHEAP_FALLBACK
/* Allocations that alloc_xenheap_pages() left in the direct map. */
unsigned long h_xv_fallbacks(void);
#endif
unsigned long h_xv_fwd_groups(void);
unsigned long h_xv_rev_pages(void);
int h_xv_fwd_backed(unsigned long group);
int h_xv_rev_backed(unsigned long page);
unsigned long h_xv_scan_fwd(unsigned long *out, unsigned long max);
unsigned long h_xv_scan_rev(unsigned long *out, unsigned long max);
/*
 * Nanoseconds for rounds passes of virt_to_page() and page_to_virt() over
 * the nr addresses at va: with the tree's conversions, or (direct) with
 * the direct map's arithmetic alone.
 */
unsigned long h_bench_conv(const unsigned long *va, unsigned long nr,
                           unsigned long rounds, int direct);
#endif

#ifdef H_HAVE_XVFREE
/* The tree's xvfree() (vmap.c), which frees vmalloc() or xmalloc() memory. */
void h_xvfree(void *va);
#endif

/* The tree's xmalloc_tlsf.c. */
void *h_xmalloc(unsigned long size, unsigned long align);
void *h_xzalloc(unsigned long size, unsigned long align);
void *h_xrealloc(void *p, unsigned long size, unsigned long align);
void h_xfree(void *p);
unsigned long h_xmalloc_pool_used(void);
/* xmalloc's calls into the xenheap since the last call; empties the log. */
unsigned long h_xlog_take(unsigned long *out, unsigned long max);

#endif /* SHIM_API_H */
