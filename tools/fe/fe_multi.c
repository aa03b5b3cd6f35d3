/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * --devices N: many devices from one front-end process, for the many-devices rule (E1)
 * and the scale benchmark. Each device is brought up to DRIVER_OK and stays up. With
 * --cycles, every cycle stops all of them together the way many guests would at once
 * (every status write first, then every poll) and resumes them. With --traffic, one
 * thread sends and checks sequence-numbered frames on every device (a thread per device
 * would be hundreds of threads waking every 50 us on 2 cores); at the end each device
 * drains and every frame must have come back exactly once, in order.
 */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fe.h"
#include "fe_app.h"
#include "vs_status.h"

static volatile sig_atomic_t multi_quit;

static void
on_signal(int sig)
{
	(void)sig;
	multi_quit = 1;
}

struct multi_poller {
	struct fe_net *nets;
	unsigned int n;
	int quit;
	pthread_t thr;
};

static void *
multi_poll_thread(void *arg)
{
	struct multi_poller *p = arg;

	while (!__atomic_load_n(&p->quit, __ATOMIC_ACQUIRE)) {
		uint64_t now = fe_now_ns();
		unsigned int work = 0;

		for (unsigned int i = 0; i < p->n; i++)
			work += fe_net_poll(&p->nets[i], now);
		if (!work)
			fe_sleep_us(200);
	}
	return NULL;
}

/* Pause every device, wait for its frames in flight; sum the counters; @return 0 if
 * every frame came back exactly once and in order. */
static int
multi_drain_check(struct fe_net *nets, unsigned int n, unsigned int drain_ms)
{
	uint64_t end = fe_now_ns() + drain_ms * 1000000ull, left = 0;
	unsigned int late = 0, i;
	struct fe_qstats t = { 0 };

	for (i = 0; i < n; i++)
		fe_net_set(&nets[i].pause, 1);
	for (i = 0; i < n; i++) {
		while (fe_net_inflight(&nets[i]) != 0 && fe_now_ns() < end)
			fe_sleep_us(1000);
	}
	for (i = 0; i < n; i++) {
		struct fe_qstats s;
		uint64_t in = fe_net_inflight(&nets[i]);

		fe_net_totals(&nets[i], &s);
		t.sent += s.sent;
		t.rcvd += s.rcvd;
		t.lost += s.lost;
		t.dup += s.dup;
		t.reord += s.reord;
		t.bad += s.bad;
		left += in;
		if (in || s.lost || s.dup || s.reord || s.bad) {
			if (late++ < 8)
				FE_LOG("device %u: sent %llu received %llu lost %llu duplicated %llu "
				       "reordered %llu bad %llu inflight %llu", i,
				       (unsigned long long)s.sent, (unsigned long long)s.rcvd,
				       (unsigned long long)s.lost, (unsigned long long)s.dup,
				       (unsigned long long)s.reord, (unsigned long long)s.bad,
				       (unsigned long long)in);
		}
	}
	printf("frames (%u devices): sent %llu received %llu lost %llu duplicated %llu "
	       "reordered %llu bad %llu inflight %llu\n", n, (unsigned long long)t.sent,
	       (unsigned long long)t.rcvd, (unsigned long long)(t.sent - t.rcvd),
	       (unsigned long long)t.dup, (unsigned long long)t.reord,
	       (unsigned long long)t.bad, (unsigned long long)left);
	if (left)
		return fe_err(-ETIMEDOUT, "%llu frame(s) still in flight after %u ms",
			      (unsigned long long)left, drain_ms);
	if (t.sent != t.rcvd || t.dup || t.reord || t.bad)
		return fe_err(-EIO, "%u device(s) lost, duplicated, reordered or damaged frames",
			      late);
	return 0;
}

/* Poll every device until @p want(bit) shows; @return 0 or -errno. */
static int
poll_all(struct fe_dev *d, unsigned int n, uint8_t bit, bool set, uint64_t deadline)
{
	unsigned int left = n;
	bool *done = calloc(n, sizeof(*done));

	if (done == NULL)
		return -ENOMEM;
	while (left > 0) {
		for (unsigned int i = 0; i < n; i++) {
			uint8_t st;

			if (done[i])
				continue;
			if (fe_dev_get_status(&d[i], &st)) {
				free(done);
				return -EIO;
			}
			if (((st & bit) != 0) == set) {
				done[i] = true;
				left--;
			}
		}
		if (left > 0 && fe_now_ns() > deadline) {
			free(done);
			return fe_err(-ETIME, "%u of %u devices did not show the change in time",
				      left, n);
		}
	}
	free(done);
	return 0;
}

/* One cycle: all stopped together, then all resumed. */
static int
cycle_all(struct fe_dev *d, unsigned int n, unsigned int deadline_ms, struct fe_meas *stop,
	  struct fe_meas *resume)
{
	const uint8_t bit = VS_STATUS_DEVICE_STOPPED;
	uint64_t t0, t1, ack;
	int ret;

	t0 = fe_now_ns();
	for (unsigned int i = 0; i < n; i++)
		if (fe_dev_set_status(&d[i], d[i].status | bit, &ack))
			return -EIO;
	ret = poll_all(d, n, bit, true, t0 + deadline_ms * 1000000ull);
	if (ret)
		return ret;
	t1 = fe_now_ns();
	fe_meas_add(stop, t1 - t0);
	for (unsigned int i = 0; i < n; i++)
		if (fe_dev_set_status(&d[i], d[i].status, &ack))
			return -EIO;
	ret = poll_all(d, n, bit, false, t1 + deadline_ms * 1000000ull);
	if (ret)
		return ret;
	fe_meas_add(resume, fe_now_ns() - t1);
	return 0;
}

int
fe_multi_run(struct fe_app *a)
{
	unsigned int n = a->o.devices, up = 0;
	struct fe_net *nets = calloc(n, sizeof(*nets));
	struct fe_dev *devs = calloc(n, sizeof(*devs));
	struct fe_meas stop = { 0 }, resume = { 0 };
	struct multi_poller poller = { .nets = nets };
	bool traffic = a->o.multi_traffic;
	uint64_t t0 = fe_now_ns();
	int ret = 0, rc = FE_EXIT_OK;

	if (nets == NULL || devs == NULL || strstr(a->o.sock, "%u") == NULL) {
		FE_LOG("error: --devices needs --socket with %%u in it (and memory)");
		free(nets);
		free(devs);
		return FE_EXIT_USAGE;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	for (up = 0; up < n && !multi_quit; up++) {
		char path[512];

		snprintf(path, sizeof(path), a->o.sock, up);
		ret = fe_net_init(&nets[up], &a->o.net);
		if (!ret && traffic) {
			nets[up].pause = 1;
			fe_net_post_rx(&nets[up]);
		}
		if (!ret)
			ret = fe_dev_start(&devs[up], &nets[up], path, &a->o.dev, 0);
		if (ret) {
			FE_LOG("error: device %u (%s): %s", up, path, fe_errmsg());
			fe_net_fini(&nets[up]);
			rc = FE_EXIT_FATAL;
			break;
		}
		if (!fe_dev_has(&devs[up], VS_F_DEVICE_STOP) && a->o.cycles) {
			FE_LOG("error: device %u (%s): VIRTIO_F_DEVICE_STOP not negotiated", up, path);
			fe_dev_close(&devs[up]);
			fe_net_fini(&nets[up]);
			rc = FE_EXIT_FATAL;
			break;
		}
	}
	printf("devices up: %u of %u in %.1f ms\n", up, n, (fe_now_ns() - t0) / 1e6);
	if (traffic && rc == FE_EXIT_OK) {
		poller.n = up;
		ret = pthread_create(&poller.thr, NULL, multi_poll_thread, &poller);
		if (ret) {
			FE_LOG("error: cannot start the data thread: %s", strerror(ret));
			poller.n = 0;
			rc = FE_EXIT_FATAL;
		}
		for (unsigned int i = 0; i < poller.n; i++)
			fe_net_set(&nets[i].pause, 0);
	}
	for (unsigned int c = 0; rc == FE_EXIT_OK && c < a->o.cycles && !multi_quit; c++) {
		ret = cycle_all(devs, up, a->o.dev.deadline_ms, &stop, &resume);
		if (ret) {
			FE_LOG("error: cycle %u: %s", c, fe_errmsg());
			rc = FE_EXIT_CHECK;
		}
	}
	if (stop.n > 0) {
		printf("stop all from the front ends (%u devices): %llu cycles, min %.1f avg %.1f "
		       "max %.1f us\n", up, (unsigned long long)stop.n, stop.min / 1e3,
		       (double)stop.sum / stop.n / 1e3, stop.max / 1e3);
		printf("resume all from the front ends (%u devices): min %.1f avg %.1f max %.1f us\n",
		       up, resume.min / 1e3, (double)resume.sum / resume.n / 1e3, resume.max / 1e3);
	}
	fflush(stdout);
	if (rc == FE_EXIT_OK && (a->o.duration_s > 0 || a->o.cycles == 0)) {
		uint64_t end = a->o.duration_s > 0 ?
			fe_now_ns() + (uint64_t)(a->o.duration_s * 1e9) : UINT64_MAX;

		while (!multi_quit && fe_now_ns() < end)
			fe_sleep_us(20000);
	}
	if (poller.n) {
		if (multi_drain_check(nets, poller.n, a->o.drain_ms)) {
			FE_LOG("error: %s", fe_errmsg());
			if (rc == FE_EXIT_OK)
				rc = FE_EXIT_CHECK;
		}
		fe_net_set(&poller.quit, 1);
		pthread_join(poller.thr, NULL);
	}
	for (unsigned int i = 0; i < up; i++) {
		fe_dev_close(&devs[i]);
		fe_net_fini(&nets[i]);
	}
	free(nets);
	free(devs);
	printf("result: %s\n", rc == FE_EXIT_OK ? "PASS" : "FAIL");
	return rc;
}
