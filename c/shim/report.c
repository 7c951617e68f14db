/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Records and traps.  A WARN() or a rule the shim enforces is recorded and
 * execution goes on; a BUG(), a failed ASSERT() or a fault is recorded and
 * unwinds to the innermost guard, because the code under test cannot go on
 * past it (Xen would have crashed).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define MAX_RECORDS 256
#define MAX_LOG 64
#define MSG_LEN 200

struct record {
    enum h_record_kind kind;
    const char *file;
    int line;
    char msg[MSG_LEN];
};

/* Shared by the CPUs (h_stress()), under report_lock. */
static struct record records[MAX_RECORDS];
static unsigned int nr_records;
static char log_lines[MAX_LOG][MSG_LEN];
static unsigned int nr_log;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

/* Each CPU's own. */
static __thread struct shim_guard *guards;
static __thread int trapped;
__thread unsigned int shim_locks_held;
__thread unsigned int shim_cpu;

unsigned long shim_counters[H_NR_COUNTERS];

/*
 * The shim's own lock, for the simulated RAM and page tables, which stand
 * for Xen's heap_lock and map_pgdir_lock.  Recursive, as the page tables
 * take frames from RAM; a trap drops it on the way out.
 */
static pthread_mutex_t big_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread unsigned int big_depth;

void shim_lock(void)
{
    if ( !big_depth++ )
        pthread_mutex_lock(&big_lock);
}

void shim_unlock(void)
{
    if ( !--big_depth )
        pthread_mutex_unlock(&big_lock);
}

int shim_guard_push(struct shim_guard *g)
{
    g->prev = guards;
    guards = g;
    trapped = 0;

    return 1;
}

void shim_guard_leave(struct shim_guard *g)
{
    guards = g->prev;
}

int shim_guard_active(void)
{
    return guards != NULL;
}

static void vrecord(enum h_record_kind kind, const char *file, int line,
                    const char *fmt, va_list ap)
{
    struct record *r;

    pthread_mutex_lock(&report_lock);
    /* Keep the first records: the earliest is the one that explains. */
    r = &records[nr_records < MAX_RECORDS ? nr_records : MAX_RECORDS - 1];
    r->kind = kind;
    r->file = file;
    r->line = line;
    vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
    if ( nr_records < MAX_RECORDS )
        nr_records++;
    pthread_mutex_unlock(&report_lock);
}

void shim_record(enum h_record_kind kind, const char *file, int line,
                 const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vrecord(kind, file, line, fmt, ap);
    va_end(ap);
}

void shim_trap(enum h_record_kind kind, const char *file, int line,
               const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vrecord(kind, file, line, fmt, ap);
    va_end(ap);

    if ( !guards )
    {
        /* Nowhere to return to: the process cannot go on safely. */
        fprintf(stderr, "shim: %s:%d: %s (outside any guarded call)\n",
                file, line, records[nr_records - 1].msg);
        abort();
    }
    if ( big_depth )
    {
        big_depth = 0;
        pthread_mutex_unlock(&big_lock);
    }
    trapped = 1;
    siglongjmp(guards->env, 1);
}

void shim_printk(const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&report_lock);
    va_start(ap, fmt);
    vsnprintf(log_lines[nr_log % MAX_LOG], MSG_LEN, fmt, ap);
    va_end(ap);
    nr_log++;
    pthread_mutex_unlock(&report_lock);
}

void shim_report_reset(void)
{
    nr_records = 0;
    nr_log = 0;
    trapped = 0;
    guards = NULL;
    shim_locks_held = 0;
    memset(shim_counters, 0, sizeof(shim_counters));
}

int h_trapped(void)
{
    int was = trapped;

    trapped = 0;

    return was;
}

unsigned int h_record_count(void)
{
    return nr_records;
}

int h_record_kind(unsigned int i)
{
    return i < nr_records ? (int)records[i].kind : 0;
}

const char *h_record_file(unsigned int i)
{
    return i < nr_records ? records[i].file : "";
}

int h_record_line(unsigned int i)
{
    return i < nr_records ? records[i].line : 0;
}

const char *h_record_msg(unsigned int i)
{
    return i < nr_records ? records[i].msg : "";
}

void h_records_clear(void)
{
    nr_records = 0;
}

/* The last MAX_LOG lines of printk() output, oldest first. */
unsigned int h_log_count(void)
{
    return nr_log < MAX_LOG ? nr_log : MAX_LOG;
}

const char *h_log_line(unsigned int i)
{
    unsigned int first = nr_log < MAX_LOG ? 0 : nr_log - MAX_LOG;

    return i < h_log_count() ? log_lines[(first + i) % MAX_LOG] : "";
}

unsigned int h_locks_held(void)
{
    return shim_locks_held;
}

unsigned long h_counter(int which)
{
    return which >= 0 && which < H_NR_COUNTERS ? shim_counters[which] : 0;
}
