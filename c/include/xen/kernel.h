/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Fake <xen/kernel.h>: the real one declares linker symbols; only its
 * helpers and system_state are needed.
 */
#include <shim/stubs.h>
