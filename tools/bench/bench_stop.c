/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Micro-benchmark of the stop engine, with the real EAL and lcores:
 *  1. the per-iteration cost of the quiescent report (cycles), against the same loop
 *     without it, measured side by side in one run;
 *  2. stop latency (request -> bit shown) in wall time and in loop iterations of the
 *     owning polling lcores, for 1, 4, 16 and 64 queues spread over 2 polling lcores.
 * Usage: bench_stop [EAL args] -- [--cycles N] [--queues 1,4,16,64] [--work N] [--csv FILE]
 */
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include "vs_ctl.h"

struct queue {
	uint64_t n;
	unsigned int work;
};

static volatile int quit;
static struct vs_ctl *ctl;
static unsigned int work_per_burst = 64;

/* A synthetic burst: a fixed amount of work, like touching a few descriptors. */
static void
queue_burst(void *arg)
{
	struct queue *q = arg;

	for (unsigned int i = 0; i < q->work; i++)
		__asm__ volatile("" : : "r"(i) : "memory");
	q->n++;
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
		sched_yield(); /* two cores, four threads: let the control lcore run */
	}
	vs_poller_offline(p);
	return 0;
}

/* 1. Quiescent report cost: the same loop with and without it, alternating, best of 7. */
static __rte_noinline uint64_t
loop_with_report(struct vs_poller *pl, struct queue *q, uint64_t iters)
{
	uint64_t t0 = rte_rdtsc_precise();

	for (uint64_t i = 0; i < iters; i++) {
		queue_burst(q);
		vs_poller_quiescent(pl);
	}
	return rte_rdtsc_precise() - t0;
}

static __rte_noinline uint64_t
loop_without_report(struct vs_poller *pl, struct queue *q, uint64_t iters)
{
	uint64_t t0 = rte_rdtsc_precise();

	for (uint64_t i = 0; i < iters; i++) {
		queue_burst(q);
		__atomic_store_n(&pl->iterations, pl->iterations + 1, __ATOMIC_RELAXED);
	}
	return rte_rdtsc_precise() - t0;
}

static void
bench_quiescent(void)
{
	struct vs_ctl_params p = { .nb_pollers = 1 };
	struct vs_ctl *c = vs_ctl_create(&p);
	struct vs_poller *pl = vs_ctl_poller(c, 0);
	struct queue q = { .work = 16 };
	const uint64_t iters = 10000000;
	double best_with = 1e9, best_without = 1e9;

	vs_poller_online(pl);
	for (int run = 0; run < 7; run++) {
		double w = (double)loop_with_report(pl, &q, iters) / iters;
		double wo = (double)loop_without_report(pl, &q, iters) / iters;

		best_with = w < best_with ? w : best_with;
		best_without = wo < best_without ? wo : best_without;
	}
	vs_poller_offline(pl);
	vs_ctl_free(c);
	printf("quiescent report: loop of a 16-step burst: %.2f cycles/iteration with the report,"
	       " %.2f without: cost %.2f cycles (%.1f%%)\n", best_with, best_without,
	       best_with - best_without, 100.0 * (best_with - best_without) / best_without);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* 2. Stop latency for one device with nq queues spread over the two pollers. */
static void
bench_stop(unsigned int nq, unsigned int cycles, FILE *csv)
{
	struct queue *qs = calloc(nq, sizeof(*qs));
	uint64_t *ns = calloc(cycles, sizeof(uint64_t)), *it = calloc(cycles, sizeof(uint64_t));
	struct vs_op *op = vs_op_alloc(VS_OP_DEV_ADD, 0);
	int dev, streams[64];

	op->in.dev_add = (struct vs_dev_add){ .name = "bench", .nb_vqs = nq };
	dev = vs_ctl_call(ctl, op, 5000);
	vs_op_free(op);
	vs_ctl_simple(ctl, VS_OP_ATTACH, dev, 5000);
	vs_ctl_set_status(ctl, dev, 0x0f, 5000);
	for (unsigned int q = 0; q < nq; q++) {
		qs[q].work = work_per_burst;
		op = vs_op_alloc(VS_OP_STREAM_ADD, 0);
		op->in.stream = (struct vs_stream){ .fn = queue_burst, .arg = &qs[q],
						    .poller = q % 2, .rx_dev = dev, .rx_vq = q,
						    .tx_dev = dev, .tx_vq = q };
		streams[q] = vs_ctl_call(ctl, op, 5000);
		vs_op_free(op);
	}
	for (unsigned int c = 0; c < cycles; c++) {
		struct vs_dev_info info;

		vs_ctl_simple(ctl, VS_OP_STOP, dev, 5000);
		vs_ctl_dev_info(ctl, dev, &info, 5000);
		ns[c] = info.last_stop_ns;
		it[c] = info.last_stop_iters;
		vs_ctl_simple(ctl, VS_OP_RESUME, dev, 5000);
		if (csv != NULL)
			fprintf(csv, "%u,%u,%lu,%lu\n", nq, c, (unsigned long)ns[c],
				(unsigned long)it[c]);
	}
	qsort(ns, cycles, sizeof(*ns), cmp_u64);
	qsort(it, cycles, sizeof(*it), cmp_u64);
	printf("stop latency, %2u queues over 2 lcores: median %6.1f us (p99 %7.1f, max %7.1f);"
	       " iterations of the slowest owning lcore: median %lu p99 %lu max %lu\n", nq, ns[cycles / 2] / 1e3,
	       ns[cycles * 99 / 100] / 1e3, ns[cycles - 1] / 1e3, (unsigned long)it[cycles / 2],
	       (unsigned long)it[cycles * 99 / 100], (unsigned long)it[cycles - 1]);
	fflush(stdout);
	for (unsigned int q = 0; q < nq; q++) {
		op = vs_op_alloc(VS_OP_STREAM_DEL, 0);
		op->in.stream_id = streams[q];
		vs_ctl_call(ctl, op, 5000);
		vs_op_free(op);
	}
	vs_ctl_simple(ctl, VS_OP_DETACH, dev, 5000);
	vs_ctl_simple(ctl, VS_OP_DEV_DEL, dev, 5000);
	free(qs);
	free(ns);
	free(it);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "cycles", required_argument, NULL, 'c' }, { "queues", required_argument, NULL, 'q' },
		{ "work", required_argument, NULL, 'w' }, { "csv", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned int cycles = 1000, lc, k = 0;
	char queues[128] = "1,4,16,64";
	struct vs_ctl_params p = { .nb_pollers = 2 };
	FILE *csv = NULL;
	int ret, opt;

	ret = rte_eal_init(argc, argv);
	if (ret < 0) {
		fprintf(stderr, "bench_stop: EAL init failed\n");
		return 2;
	}
	argc -= ret;
	argv += ret;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': cycles = strtoul(optarg, NULL, 0); break;
		case 'q': snprintf(queues, sizeof(queues), "%s", optarg); break;
		case 'w': work_per_burst = strtoul(optarg, NULL, 0); break;
		case 'o': csv = fopen(optarg, "w"); break;
		default:
			fprintf(stderr, "usage: bench_stop [EAL] -- [--cycles N] [--queues LIST] "
				"[--work N] [--csv FILE]\n");
			return 2;
		}
	}
	if (cycles == 0 || rte_lcore_count() < 4) {
		fprintf(stderr, "bench_stop: need --cycles > 0 and 4 lcores (main, 2 pollers, control)\n");
		return 2;
	}
	if (csv != NULL)
		fprintf(csv, "queues,cycle,stop_ns,stop_iterations\n");
	bench_quiescent();

	ctl = vs_ctl_create(&p);
	RTE_LCORE_FOREACH_WORKER(lc) {
		if (k < 2)
			rte_eal_remote_launch(poller_main, vs_ctl_poller(ctl, k), lc);
		else if (k == 2)
			rte_eal_remote_launch(vs_ctl_main, ctl, lc);
		k++;
	}
	for (char *tok = strtok(queues, ","); tok != NULL; tok = strtok(NULL, ",")) {
		unsigned int nq = strtoul(tok, NULL, 0);

		if (nq == 0 || nq > 64) {
			fprintf(stderr, "bench_stop: queue count %s out of range 1..64\n", tok);
			continue;
		}
		bench_stop(nq, cycles, csv);
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
