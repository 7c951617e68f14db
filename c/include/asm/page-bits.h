/* SPDX-License-Identifier: GPL-2.0-only */
/* Fake <asm/page-bits.h>: the x86-64 page geometry. */
#include <shim/stubs.h>
