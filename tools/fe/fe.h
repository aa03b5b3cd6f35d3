/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef FE_H
#define FE_H

/**
 * @file
 * vstop-fe: common helpers (time, logging, error text) shared by every file of the
 * front end. Plain libc: the front end plays the role of QEMU and a guest driver, so it
 * must not depend on the DPDK it tests.
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define FE_NAME "vstop-fe"

extern int fe_verbose;

/** Monotonic time in ns. */
uint64_t fe_now_ns(void);

/** Sleep @p us microseconds (restarts on EINTR). */
void fe_sleep_us(unsigned int us);

#define FE_LOG(fmt, ...) fprintf(stderr, FE_NAME ": " fmt "\n", ##__VA_ARGS__)
#define FE_DBG(fmt, ...) do { \
		if (fe_verbose) \
			FE_LOG(fmt, ##__VA_ARGS__); \
	} while (0)

/*
 * Error text: a failing function records one line saying what went wrong (which message,
 * which backend, what it answered) and returns -errno; the caller that decides to give
 * up prints it. Per thread, so the data thread never clobbers the control thread's.
 */
int fe_err(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *fe_errmsg(void);
void fe_err_clear(void);

/* Single writer counters read by other threads: relaxed is enough (no ordering needed). */
static inline void
fe_cnt_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
}

static inline uint64_t
fe_cnt_get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

#define FE_MIN(a, b) ((a) < (b) ? (a) : (b))
#define FE_MAX(a, b) ((a) > (b) ? (a) : (b))
#define FE_DIM(a) (sizeof(a) / sizeof((a)[0]))

#endif /* FE_H */
