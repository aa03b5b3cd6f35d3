/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Scenarios: traffic for a while, stop/resume cycles, migrations back and forth, all
 * under traffic; a progress line every second, a summary at the end. The verdict is the
 * driver's: every frame back exactly once and in order, every stop within its deadline.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fe.h"
#include "fe_app.h"
#include "fe_mig.h"

void
fe_meas_add(struct fe_meas *m, uint64_t v)
{
	if (!m->n || v < m->min)
		m->min = v;
	if (v > m->max)
		m->max = v;
	m->sum += v;
	m->last = v;
	__atomic_store_n(&m->n, m->n + 1, __ATOMIC_RELEASE);
}

static double
us(uint64_t ns)
{
	return ns / 1e3;
}

/* Microseconds from @p a to @p b, signed: two clocks read by two threads may cross. */
static double
us_between(uint64_t a, uint64_t b)
{
	return (double)(int64_t)(b - a) / 1e3;
}

static void
progress_tick(struct fe_net *net, void *arg)
{
	struct fe_app *a = arg;
	static uint64_t last_rx, last_ns;
	uint64_t now = fe_now_ns();
	struct fe_qstats s;
	double mpps;

	fe_net_totals(net, &s);
	mpps = last_ns ? (double)(s.rcvd - last_rx) * 1e3 / (double)(now - last_ns) : 0;
	last_rx = s.rcvd;
	last_ns = now;
	fprintf(stderr, FE_NAME ": [%5.1fs] tx %llu rx %llu %.3f Mpps | lost %llu dup %llu reord %llu bad %llu"
		" | stops %llu (last %.0f us, max %.0f us) miss %llu | migr %llu (last %.2f ms) refused %llu failed %llu\n",
		(now - a->t0) / 1e9, (unsigned long long)s.sent, (unsigned long long)s.rcvd, mpps,
		(unsigned long long)s.lost, (unsigned long long)s.dup,
		(unsigned long long)s.reord, (unsigned long long)s.bad,
		(unsigned long long)fe_cnt_get(&a->stop_ns.n), us(a->stop_ns.last),
		us(a->stop_ns.max), (unsigned long long)fe_cnt_get(&a->deadline_misses),
		(unsigned long long)fe_cnt_get(&a->mig_ok), a->downtime_ns.last / 1e6,
		(unsigned long long)fe_cnt_get(&a->mig_refused),
		(unsigned long long)fe_cnt_get(&a->mig_failed));
}

/* Sleep @p ms while watching the connection: a vanished backend ends the run. */
static int
idle_watch(struct fe_app *a, unsigned int ms)
{
	uint64_t end = fe_now_ns() + ms * 1000000ull;
	int ret;

	do {
		ret = vu_check_alive(&a->dev.vu);
		if (ret)
			return ret;
		fe_sleep_us(FE_MIN(ms * 1000u, 2000u));
	} while (fe_now_ns() < end);
	return 0;
}

static int
do_cycle(struct fe_app *a)
{
	enum fe_stop_kind k = fe_dev_stop_kind(&a->dev, a->o.stop_kind);
	struct fe_stop_res r;
	int ret;

	ret = fe_dev_stop(&a->dev, k, &r);
	if (ret == -ETIME) {
		/* R11: reported, counted, cancelled by fe_dev_stop; the run goes on. */
		fe_cnt_add(&a->deadline_misses, 1);
		fe_cnt_add(&a->cycles_done, 1);
		FE_LOG("%s", fe_errmsg());
		return 0;
	}
	if (ret)
		return ret;
	fe_meas_add(&a->stop_ns, r.ns);
	a->stop_polls += r.polls;
	a->stop_first_shown += r.first_shown;
	FE_DBG("stop %s: %.1f us, %u status reads", fe_stop_kind_name(k), us(r.ns), r.polls);
	if (a->o.hold_ms)
		fe_sleep_us(a->o.hold_ms * 1000);
	ret = fe_dev_resume(&a->dev, k, &r);
	if (ret == -ETIME) {
		fe_cnt_add(&a->deadline_misses, 1);
		return ret;
	}
	if (ret)
		return ret;
	fe_meas_add(&a->resume_ns, r.ns);
	fe_cnt_add(&a->cycles_done, 1);
	return 0;
}

static int
do_migrate(struct fe_app *a)
{
	const char *to = a->cur == a->o.sock ? a->o.peer : a->o.sock;
	struct fe_mig_opts mo = {
		.kind = a->o.mig_stop_kind,
		.corrupt = a->o.corrupt,
		.preconnect = !a->o.no_preconnect,
		.state_first = a->o.state_first,
		.first_frame_ms = FE_MAX(a->o.dev.deadline_ms, 2000u),
	};
	struct fe_mig_res r;
	struct fe_dev dst;
	char drv[96] = "";
	uint64_t wait;
	int ret;

	ret = fe_migrate(&a->dev, &dst, to, &mo, &r);
	a->base_mismatch += r.base_mismatch;
	if (ret) {
		if (ret == -ETIME)
			fe_cnt_add(&a->deadline_misses, 1);
		if (r.refused)
			fe_cnt_add(&a->mig_refused, 1);
		else
			fe_cnt_add(&a->mig_failed, 1);
		FE_LOG("migration %s -> %s failed: %s", a->cur, to, fe_errmsg());
		/* Only a migration that left the guest running lets the run go on. */
		return r.resumed_src ? 0 : ret;
	}
	a->dev = dst;
	a->cur = to;
	/* Nothing to wait for if the destination returned a frame before DRIVER_OK showed. */
	wait = r.t_work > r.t_started ? r.t_work - r.t_started : 0;
	fe_meas_add(&a->downtime_ns, r.t_first - r.t_stop);
	fe_meas_add(&a->drvwait_ns, wait);
	if (r.t_caught)
		fe_meas_add(&a->catchup_ns, r.t_caught - r.t_bases);
	fe_cnt_add(&a->mig_ok, 1);
	if (a->o.quiet)
		return 0;
	/*
	 * The parts of the downtime, in order; how much of the last one the destination had
	 * no frame to forward (DRIVER_OK shown -> a tx frame posted); then the driver's
	 * figures, which are not part of it: when it had taken the source's last frames
	 * (from the ring bases), and when it took the destination's first (from the end of
	 * downtime; may be negative: two threads watch). tools/bench/migration.py and test/fe
	 * parse this line.
	 */
	if (r.t_caught && r.t_drv_first)
		snprintf(drv, sizeof(drv), ", driver caught up %.1f us, driver first frame %+.1f us",
			 us_between(r.t_bases, r.t_caught), us_between(r.t_first, r.t_drv_first));
	FE_LOG("migrated to %s: downtime %.3f ms (stop %.1f us, ring bases %.1f us, save %.1f us [%zu B], destination %s %.1f us, start -> first frame %.1f us, of which waiting for the driver %.1f us%s)",
	       to, us_between(r.t_stop, r.t_first) / 1e3,
	       us_between(r.t_stop, r.t_shown), us_between(r.t_shown, r.t_bases),
	       us_between(r.t_bases, r.t_saved), r.blob_len,
	       a->o.state_first ? "load" : "rings + load",
	       us_between(r.t_saved, r.t_loaded), us_between(r.t_loaded, r.t_first),
	       us(wait), drv);
	return 0;
}

static void
print_meas(const char *what, const struct fe_meas *m, double div, const char *unit)
{
	if (!m->n) {
		printf("%s: none\n", what);
		return;
	}
	printf("%s: %llu, min %.3f avg %.3f max %.3f %s\n", what, (unsigned long long)m->n,
	       m->min / div, (double)m->sum / m->n / div, m->max / div, unit);
}

static int
summary(struct fe_app *a, int fatal)
{
	double secs = (fe_now_ns() - a->t0) / 1e9;
	struct fe_qstats s;
	bool ok;

	fe_net_totals(&a->net, &s);
	printf("frames: sent %llu received %llu lost %llu duplicated %llu reordered %llu bad %llu foreign %llu inflight %llu (%.3f Mpps avg over %.1f s)\n",
	       (unsigned long long)s.sent, (unsigned long long)s.rcvd,
	       (unsigned long long)(s.sent - s.rcvd), (unsigned long long)s.dup,
	       (unsigned long long)s.reord, (unsigned long long)s.bad,
	       (unsigned long long)s.foreign, (unsigned long long)(s.sent - s.rcvd - s.lost),
	       secs > 0 ? s.rcvd / secs / 1e6 : 0.0, secs);
	print_meas("stops (request -> shown)", &a->stop_ns, 1e3, "us");
	print_meas("resumes (request -> shown)", &a->resume_ns, 1e3, "us");
	if (a->stop_ns.n)
		printf("stop status reads: avg %.1f, first read already stopped %llu times\n",
		       (double)a->stop_polls / a->stop_ns.n,
		       (unsigned long long)a->stop_first_shown);
	printf("stop deadline misses: %llu\n", (unsigned long long)a->deadline_misses);
	print_meas("migrations (downtime)", &a->downtime_ns, 1e6, "ms");
	if (a->downtime_ns.n) {
		print_meas("driver wait in migrations (DRIVER_OK shown -> a frame posted, in downtime)",
			   &a->drvwait_ns, 1e6, "ms");
		print_meas("driver catch-up in migrations (ring bases -> source's last frame taken, not downtime)",
			   &a->catchup_ns, 1e6, "ms");
	}
	printf("migrations refused: %llu, failed: %llu, ring base mismatches: %llu\n",
	       (unsigned long long)a->mig_refused, (unsigned long long)a->mig_failed,
	       (unsigned long long)a->base_mismatch);
	printf("max gap between frames: %.3f ms\n", a->net.max_rx_gap_ns / 1e6);
	if (a->net.gaps != NULL) {
		unsigned int n = __atomic_load_n(&a->net.nb_gaps, __ATOMIC_ACQUIRE);

		/* tools/bench/takeover.py parses these (CLOCK_MONOTONIC seconds). */
		printf("receive gaps over %.3f ms: %u%s\n", a->o.net.gap_log_ns / 1e6, n,
		       n == FE_GAP_LOG_MAX ? " (log full)" : "");
		for (unsigned int i = 0; i < n; i++)
			printf("gap end=%.6f ms=%.3f\n", a->net.gaps[i].end_ns / 1e9,
			       a->net.gaps[i].len_ns / 1e6);
	}
	fe_net_print_laps(&a->net);
	/* Lost = sent but never received, after the drain: the strict definition. */
	ok = !fatal && s.sent == s.rcvd && !s.dup && !s.reord && !s.bad && !a->deadline_misses &&
	     !a->base_mismatch;
	if (a->o.expect_refused)
		ok = ok && a->mig_refused && !a->mig_ok && !a->mig_failed;
	else
		ok = ok && !a->mig_refused && !a->mig_failed;
	if (!s.sent)
		ok = false;
	printf("result: %s\n", ok ? "PASS" : "FAIL");
	if (fatal)
		return FE_EXIT_FATAL;
	return ok ? FE_EXIT_OK : FE_EXIT_CHECK;
}

int
fe_scenario_run(struct fe_app *a)
{
	uint64_t end = a->t0 + (uint64_t)(a->o.duration_s * 1e9);
	unsigned int migr_done = 0;
	int ret = 0, fatal = 0;

	if (!a->o.quiet) {
		a->net.tick = progress_tick;
		a->net.tick_arg = a;
	}
	ret = fe_net_wait_rx(&a->net, 1, FE_MAX(a->o.dev.deadline_ms, 2000u));
	if (ret) {
		FE_LOG("error: %s (backend %s)", fe_errmsg(), a->cur);
		fatal = 1;
		goto out;
	}
	while (a->cycles_done < a->o.cycles || migr_done < a->o.migrations ||
	       fe_now_ns() < end) {
		bool want_cycle = a->cycles_done < a->o.cycles;
		bool want_migr = migr_done < a->o.migrations;

		ret = idle_watch(a, (want_cycle || want_migr) ? a->o.gap_ms :
				 (unsigned int)FE_MIN((end - fe_now_ns()) / 1000000 + 1, 50ull));
		if (ret)
			break;
		/* Spread migrations evenly over the cycles. */
		if (want_migr && (!want_cycle ||
				  a->cycles_done * a->o.migrations >= migr_done * a->o.cycles)) {
			ret = do_migrate(a);
			migr_done++;
		} else if (want_cycle) {
			ret = do_cycle(a);
		}
		if (ret)
			break;
	}
	if (ret) {
		FE_LOG("error: %s", fe_errmsg());
		fatal = 1;
	}
out:
	/* Let what is in flight come home; a dead backend cannot return anything. */
	if (fe_net_drain(&a->net, fatal ? 200 : a->o.drain_ms) != 0 && !fatal)
		FE_LOG("warning: %s", fe_errmsg());
	fe_net_stop(&a->net);
	return summary(a, fatal);
}
