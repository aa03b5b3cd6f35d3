/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The polling lcore's loop. Everything a polling lcore does for stop support is the two
 * vs_poller calls: read the list the control lcore published, report quiescence once per
 * iteration.
 */
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_lcore.h>

#include "vs_poller.h"
#include "vstop.h"

/* How long an lcore spins with nothing to do before it sleeps (when back-off is on). */
#define IDLE_SPIN_US 200

int
lcore_poll_main(void *arg)
{
	struct lcore_ctx *lc = arg;
	struct vs_poller *p = lc->poller;
	const uint64_t backoff_us = app.opts.idle_backoff_us;
	const uint64_t idle_spin_tsc = rte_get_tsc_hz() / 1000000 * IDLE_SPIN_US;
	uint64_t last_moved = 0, busy_tsc = rte_rdtsc();

	APP_LOG(INFO, "polling lcore %u (poller %u) running", lc->lcore_id, lc->idx);
	vs_poller_online(p);
	while (!app.quit) {
		const struct vs_stream_list *l = vs_poller_streams(p);
		uint32_t i;

		for (i = 0; i < l->n; i++)
			l->s[i].fn(l->s[i].arg);
		vs_poller_quiescent(p);

		if (backoff_us == 0)
			continue;
		/*
		 * Idle back-off, so that polling lcores sharing a core with other work (tests,
		 * the demo) do not starve it. Offline while asleep: a stop under way does not
		 * wait for a sleeping lcore.
		 */
		if (lc->moved != last_moved) {
			last_moved = lc->moved;
			busy_tsc = rte_rdtsc();
			continue;
		}
		if (rte_rdtsc() - busy_tsc < idle_spin_tsc)
			continue;
		vs_poller_offline(p);
		usleep(backoff_us);
		vs_poller_online(p);
	}
	vs_poller_offline(p);
	APP_LOG(INFO, "polling lcore %u stopped", lc->lcore_id);
	return 0;
}
