/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Fake <xen/config.h>, force-included into every translation unit as Xen's
 * build does: the configuration the harness builds the real files for.
 * Macros only, so that the shim's own files can include it harmlessly.
 */
#ifndef SHIM_XEN_CONFIG_H
#define SHIM_XEN_CONFIG_H

#include <shim/layout.h>

/*
 * Kconfig: x86-64 with vmap, xmalloc's free-block poisoning on, and PDX
 * mask compression (with masks that compress nothing).  The harness adds
 * CONFIG_XENHEAP_VMAP for trees that have it.
 */
#define CONFIG_X86 1
#define CONFIG_X86_64 1
#define CONFIG_HAS_VMAP 1
#define CONFIG_XMEM_POOL_POISON 1
#define CONFIG_HAS_PDX 1
#define CONFIG_PDX_MASK_COMPRESSION 1

/* IS_ENABLED(CONFIG_FOO): 1 if CONFIG_FOO is defined to 1, else 0. */
#define SHIM_PLACEHOLDER_1 0,
#define shim_second(ignored, val, ...) val
#define shim_enabled_(arg_or_junk) shim_second(arg_or_junk 1, 0, 0)
#define shim_enabled(val) shim_enabled_(SHIM_PLACEHOLDER_##val)
#define IS_ENABLED(option) shim_enabled(option)

/* Like x86: a non-canonical address, so a dereference faults. */
#define ZERO_BLOCK_PTR ((void *)0xBAD0BAD0BAD0BAD0UL)

#endif /* SHIM_XEN_CONFIG_H */
