/* SPDX-License-Identifier: GPL-2.0-only */
/* Fake <asm/time.h>: nothing xmalloc uses. */
#include <shim/stubs.h>
