/* SPDX-License-Identifier: GPL-2.0-only */
/* Fake <xen/irq.h>: no interrupts in a single-threaded process. */
#include <shim/stubs.h>
