/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * <asm/xenheap-vmap.h> is the tree's own x86 header, which the harness
 * names by path (XEN_ASM_XENHEAP_VMAP_H): the tree's other asm headers
 * are not on the include path.
 */
#include XEN_ASM_XENHEAP_VMAP_H
