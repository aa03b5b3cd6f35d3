/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The stop engine with many devices (E1), real EAL and lcores: for each device count N,
 * N devices with one stream each (synthetic bursts) spread over 2 polling lcores; then
 *  - "all": N stops posted in one bulk (vs_ctl_submit_bulk, what 'device stop all'
 *    does): engine time (first request taken to last bit shown, the engine's own
 *    last_batch_ns), wall time (post to last completion seen), epochs started;
 *  - "each": the same N devices stopped one request at a time (post, wait, next):
 *    the sum of the engines' per-stop times, wall time, epochs.
 * Each followed by a resume of all. One CSV line per cycle and mode.
 * Usage: bench_scale [EAL args] -- [--devices 1,16,64,256,1024] [--cycles N] [--csv FILE]
 */
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include "vs_ctl.h"

#define TMO 10000

static volatile int quit;
static struct vs_ctl *ctl;

static void
burst(void *arg)
{
	uint64_t *n = arg;

	for (unsigned int i = 0; i < 16; i++)
		__asm__ volatile("" : : "r"(i) : "memory");
	(*n)++;
}

static int
poller_main(void *arg)
{
	struct vs_poller *p = arg;

	vs_poller_online(p);
	while (!quit) {
		const struct vs_stream_list *l = vs_poller_streams(p);

		for (uint32_t i = 0; i < l->n; i++)
			l->s[i].fn(l->s[i].arg);
		vs_poller_quiescent(p);
		sched_yield(); /* two cores, four threads */
	}
	vs_poller_offline(p);
	return 0;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Post op @p type for every device in one bulk, wait for all. @return 0 or -1. */
static int
bulk(const int *devs, unsigned int n, unsigned int type)
{
	struct vs_op **ops = calloc(n, sizeof(*ops));
	int rc = 0;

	for (unsigned int i = 0; i < n; i++)
		ops[i] = vs_op_alloc(type, (uint16_t)devs[i]);
	if (vs_ctl_submit_bulk(ctl, ops, n) != 0) {
		for (unsigned int i = 0; i < n; i++)
			vs_op_free(ops[i]);
		free(ops);
		return -1;
	}
	for (unsigned int i = 0; i < n; i++) {
		int r = vs_ctl_wait(ops[i], TMO);

		if (r != 0)
			rc = -1;
		if (r != -ETIMEDOUT)
			vs_op_free(ops[i]);
	}
	free(ops);
	return rc;
}

struct res {
	uint64_t engine_ns, wall_ns, epochs;
};

static void
report(const char *mode, unsigned int n, struct res *r, unsigned int cycles, FILE *csv)
{
	uint64_t *e = calloc(cycles, sizeof(*e)), *w = calloc(cycles, sizeof(*w));
	uint64_t ep = 0;

	for (unsigned int c = 0; c < cycles; c++) {
		e[c] = r[c].engine_ns;
		w[c] = r[c].wall_ns;
		ep += r[c].epochs;
		if (csv != NULL)
			fprintf(csv, "%s,%u,%u,%lu,%lu,%lu\n", mode, n, c,
				(unsigned long)r[c].engine_ns, (unsigned long)r[c].wall_ns,
				(unsigned long)r[c].epochs);
	}
	qsort(e, cycles, sizeof(*e), cmp_u64);
	qsort(w, cycles, sizeof(*w), cmp_u64);
	printf("%-4s %5u devices: engine median %9.1f us (max %9.1f), wall median %9.1f us "
	       "(max %9.1f), epochs per stop-all %.2f\n", mode, n, e[cycles / 2] / 1e3,
	       e[cycles - 1] / 1e3, w[cycles / 2] / 1e3, w[cycles - 1] / 1e3,
	       (double)ep / cycles);
	fflush(stdout);
	free(e);
	free(w);
}

static void
bench(unsigned int n, unsigned int cycles, FILE *csv)
{
	int *devs = calloc(n, sizeof(*devs)), *streams = calloc(n, sizeof(*streams));
	uint64_t *counts = calloc(n, sizeof(*counts));
	struct res *all = calloc(cycles, sizeof(*all)), *each = calloc(cycles, sizeof(*each));
	struct vs_engine_stats s0, s1;
	char name[32];

	for (unsigned int i = 0; i < n; i++) {
		struct vs_op *op = vs_op_alloc(VS_OP_DEV_ADD, 0);

		snprintf(name, sizeof(name), "dev%u", i);
		op->in.dev_add = (struct vs_dev_add){ .name = name, .nb_vqs = 2 };
		devs[i] = vs_ctl_call(ctl, op, TMO);
		vs_op_free(op);
		vs_ctl_simple(ctl, VS_OP_ATTACH, (uint16_t)devs[i], TMO);
		vs_ctl_set_status(ctl, (uint16_t)devs[i], 0x0f, TMO);
		op = vs_op_alloc(VS_OP_STREAM_ADD, 0);
		op->in.stream = (struct vs_stream){ .fn = burst, .arg = &counts[i], .poller = i % 2,
						    .rx_dev = (uint16_t)devs[i], .rx_vq = 1,
						    .tx_dev = (uint16_t)devs[i], .tx_vq = 0 };
		streams[i] = vs_ctl_call(ctl, op, TMO);
		vs_op_free(op);
	}
	for (unsigned int c = 0; c < cycles; c++) {
		uint64_t t0, t1;

		vs_ctl_engine_stats(ctl, &s0);
		t0 = now_ns();
		if (bulk(devs, n, VS_OP_STOP) != 0)
			fprintf(stderr, "bench_scale: a stop failed\n");
		t1 = now_ns();
		vs_ctl_engine_stats(ctl, &s1);
		all[c] = (struct res){ .engine_ns = s1.last_batch_ns, .wall_ns = t1 - t0,
				       .epochs = s1.epochs - s0.epochs };
		bulk(devs, n, VS_OP_RESUME);

		vs_ctl_engine_stats(ctl, &s0);
		t0 = now_ns();
		for (unsigned int i = 0; i < n; i++) {
			struct vs_dev_info info;

			vs_ctl_simple(ctl, VS_OP_STOP, (uint16_t)devs[i], TMO);
			vs_ctl_dev_info(ctl, (uint16_t)devs[i], &info, TMO);
			each[c].engine_ns += info.last_stop_ns;
		}
		t1 = now_ns();
		vs_ctl_engine_stats(ctl, &s1);
		/* the dev_info round trips are not part of the stops' wall time */
		each[c].wall_ns = t1 - t0;
		each[c].epochs = s1.epochs - s0.epochs;
		bulk(devs, n, VS_OP_RESUME);
	}
	report("all", n, all, cycles, csv);
	report("each", n, each, cycles, csv);
	for (unsigned int i = 0; i < n; i++) {
		struct vs_op *op = vs_op_alloc(VS_OP_STREAM_DEL, 0);

		op->in.stream_id = (uint32_t)streams[i];
		vs_ctl_call(ctl, op, TMO);
		vs_op_free(op);
		vs_ctl_simple(ctl, VS_OP_DETACH, (uint16_t)devs[i], TMO);
		vs_ctl_simple(ctl, VS_OP_DEV_DEL, (uint16_t)devs[i], TMO);
	}
	free(devs);
	free(streams);
	free(counts);
	free(all);
	free(each);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "devices", required_argument, NULL, 'd' },
		{ "cycles", required_argument, NULL, 'c' },
		{ "csv", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	char list[128] = "1,16,64,256,1024";
	unsigned int cycles = 50, lc, k = 0;
	struct vs_ctl_params p = { .nb_pollers = 2 };
	FILE *csv = NULL;
	int ret, opt;

	ret = rte_eal_init(argc, argv);
	if (ret < 0) {
		fprintf(stderr, "bench_scale: EAL init failed\n");
		return 2;
	}
	argc -= ret;
	argv += ret;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd': snprintf(list, sizeof(list), "%s", optarg); break;
		case 'c': cycles = strtoul(optarg, NULL, 0); break;
		case 'o': csv = fopen(optarg, "w"); break;
		default:
			fprintf(stderr, "usage: bench_scale [EAL] -- [--devices LIST] [--cycles N] "
				"[--csv FILE]\n");
			return 2;
		}
	}
	if (cycles == 0 || rte_lcore_count() < 4) {
		fprintf(stderr, "bench_scale: need --cycles > 0 and 4 lcores (main, 2 pollers, "
			"control)\n");
		return 2;
	}
	if (csv != NULL)
		fprintf(csv, "mode,devices,cycle,engine_ns,wall_ns,epochs\n");
	ctl = vs_ctl_create(&p);
	RTE_LCORE_FOREACH_WORKER(lc) {
		if (k < 2)
			rte_eal_remote_launch(poller_main, vs_ctl_poller(ctl, k), lc);
		else if (k == 2)
			rte_eal_remote_launch(vs_ctl_main, ctl, lc);
		k++;
	}
	for (char *tok = strtok(list, ","); tok != NULL; tok = strtok(NULL, ",")) {
		unsigned int n = strtoul(tok, NULL, 0);

		if (n == 0 || n > VS_MAX_DEVS) {
			fprintf(stderr, "bench_scale: device count %s out of range 1..%d\n", tok,
				VS_MAX_DEVS);
			continue;
		}
		bench(n, cycles, csv);
	}
	quit = 1;
	vs_ctl_quit(ctl);
	rte_eal_mp_wait_lcore();
	vs_ctl_free(ctl);
	if (csv != NULL)
		fclose(csv);
	rte_eal_cleanup();
	return 0;
}
