/* SPDX-License-Identifier: GPL-2.0-only */
/* Fake <xen/init.h>: init annotations, meaningless in a host process. */
#include <shim/stubs.h>
