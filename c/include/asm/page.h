/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Fake <asm/page.h>: PTE flags and page-table operations on the
 * simulated MMU.
 */
#include <shim/custom.h>
