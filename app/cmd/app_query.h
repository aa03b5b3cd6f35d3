/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VSTOP_APP_QUERY_H
#define VSTOP_APP_QUERY_H

/*
 * What the console, the control socket and telemetry read from (and, for forwarding,
 * do to) the application, in one place, so that they never reach into struct app
 * themselves. Reads are lock-free snapshots of counters written by polling lcores.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "options.h"
#include "vstop.h"

/* 1 + the highest port id in use (ids of detached ports may be holes). */
unsigned int aq_nb_ports(void);
/* Ports in use. */
unsigned int aq_nb_ports_used(void);
/* @return the port, or NULL if @p id is not a port. */
const struct app_port *aq_port(uint16_t id);
bool aq_port_is_vhost(uint16_t id);
/* Timeout for an engine op that may wait for a stop: the stop deadline plus a margin. */
int aq_op_timeout_ms(void);

/* Counters of one queue pair of a port (what its streams and the control side moved). */
struct aq_queue_stats {
	uint64_t rx;          /* frames received from this queue */
	uint64_t tx;          /* frames sent to this queue */
	uint64_t drop;        /* frames the queue did not take */
	uint64_t held;        /* frames held for this (stopped) queue */
	uint64_t held_drop;   /* frames dropped: hold buffer full */
	uint64_t delivered;   /* vhost: held or loaded frames delivered after resume */
	uint64_t held_dropped;/* vhost: held frames dropped on the control side */
	uint64_t loaded;      /* vhost: frames that came in a device state */
	uint64_t held_now;    /* vhost: frames held right now (hold + loaded rings) */
};

/* Since the last aq_clear_stats() when @p cleared, else since start. @return 0 or -EINVAL. */
int aq_queue_stats(uint16_t port, uint16_t q, bool cleared, struct aq_queue_stats *s);
int aq_port_stats(uint16_t port, bool cleared, struct port_counters *c);
/* Frames a vhost port holds for its guest right now (M1). */
uint64_t aq_frames_held(uint16_t port);
/* "clear port stats": ethdev counters reset, stream counters rebased. Command lock held. */
void aq_clear_stats(uint16_t port);

/* One polling lcore. */
struct aq_lcore {
	unsigned int lcore_id;
	unsigned int poller;
	uint64_t iterations;
	uint64_t moved;
	unsigned int nb_streams; /* active streams it runs */
};
unsigned int aq_nb_lcores(void);
int aq_lcore(unsigned int i, struct aq_lcore *l);

/* One forwarding stream, as "show queue map" prints it. */
struct aq_stream {
	unsigned int lcore_id;
	int rx_port, rx_q;   /* -1: none (txonly) */
	int tx_port, tx_q;   /* -1: none (rxonly) */
	bool parks;          /* holds frames for a stopped tx device */
};
/* Active streams, @p i in 0..aq_nb_active_streams()-1. */
unsigned int aq_nb_active_streams(void);
int aq_active_stream(unsigned int i, struct aq_stream *s);

/* Forwarding (testpmd's start / stop / set fwd). Command lock held. @return 0 or -errno. */
bool aq_fwd_started(void);
enum fwd_mode aq_fwd_mode(void);
int aq_fwd_start(char *err, size_t errlen);
int aq_fwd_stop(char *err, size_t errlen);
/* Change the mode; restarts forwarding if it runs. */
int aq_fwd_set_mode(enum fwd_mode m, char *err, size_t errlen);
/*
 * Runtime ports (port_rt.c). Command lock held. A port added while forwarding runs gets
 * its own streams at once (in io/macswap it forwards to itself, as the odd port out
 * does); the next start after a stop builds the usual layout over every port.
 * Removing a port deletes every stream that names it (its peer's included) from the
 * engine, then marks them dead. @return 0 or -errno.
 */
int aq_fwd_port_added(uint16_t port, char *err, size_t errlen);
int aq_fwd_port_removed(uint16_t port);
/* @return the mode named @p name, or -1. */
int aq_fwd_mode_parse(const char *name);

#endif /* VSTOP_APP_QUERY_H */
