/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Fake <xen/param.h>: no command line.  The tests set an option's
 * variable themselves, through the accessors of the unit that has it.
 */
#include <shim/stubs.h>

#define boolean_param(name, var)
