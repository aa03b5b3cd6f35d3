/* SPDX-License-Identifier: BSD-3-Clause */
/* Time, sleep and per-thread error text. */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fe.h"

int fe_verbose;

static __thread char fe_errbuf[512];

uint64_t
fe_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void
fe_sleep_us(unsigned int us)
{
	struct timespec ts = {
		.tv_sec = us / 1000000,
		.tv_nsec = (long)(us % 1000000) * 1000,
	};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int
fe_err(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fe_errbuf, sizeof(fe_errbuf), fmt, ap);
	va_end(ap);
	return err < 0 ? err : -err;
}

const char *
fe_errmsg(void)
{
	return fe_errbuf[0] ? fe_errbuf : "unknown error";
}

void
fe_err_clear(void)
{
	fe_errbuf[0] = '\0';
}
