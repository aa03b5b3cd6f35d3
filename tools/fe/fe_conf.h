/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef FE_CONF_H
#define FE_CONF_H

/**
 * @file
 * Conformance probes, private: the probe context and the helpers the rule files share
 * (fe_conf.c: framework; fe_conf_stop.c: R and S rules; fe_conf_vhost.c: V and M rules).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fe_app.h"

enum verdict { V_PASS, V_FAIL, V_SKIP };

struct conf {
	struct fe_app *a;
	struct fe_qstats base;  /**< counters when the probe's device came up */
	uint64_t features;      /**< what the backend offers (first connection) */
	uint64_t proto;         /**< protocol features negotiated on it */
	char why[512];
};

/** A copy of every used ring (index and entries). */
struct snap {
	unsigned int n;
	uint16_t idx[FE_MAX_VRINGS];
	uint8_t *rings;   /* n used rings, copied */
	size_t ring_len;
};

#define QUIET_MS  100  /* how long "nothing happens" is watched */
#define SETTLE_MS 10

/** Record the reason of a verdict in c->why. */
enum verdict verdict(struct conf *c, enum verdict v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define FAIL(...) verdict(c, V_FAIL, __VA_ARGS__)
#define SKIP(...) verdict(c, V_SKIP, __VA_ARGS__)
/* A driver-side step that must work for the probe to mean anything. */
#define STEP(expr, what) do { \
		if ((expr) != 0) \
			return FAIL("%s: %s", what, fe_errmsg()); \
	} while (0)

struct fe_dev *dev(struct conf *c);
struct fe_net *net(struct conf *c);
void snap_take(struct conf *c, struct snap *s);
bool snap_same(const struct snap *a, const struct snap *b, char *why, size_t len);
bool has_status(struct conf *c);
bool offered(struct conf *c, unsigned int bit);
void conf_mark(struct conf *c);
int conf_fresh(struct conf *c, uint64_t drop);
enum verdict conf_clean(struct conf *c);
int status_until(struct conf *c, uint8_t mask, uint8_t want, unsigned int ms, uint8_t *st);
bool status_ever(struct conf *c, uint8_t bit, unsigned int ms, uint8_t *st);
enum verdict need_stop(struct conf *c, unsigned int feat);
enum verdict quiet_while_stopped(struct conf *c, const char *what);
enum verdict config_frozen(struct conf *c, enum fe_stop_kind k);

/* Rules. */
enum verdict chk_r1(struct conf *c);
enum verdict chk_r2(struct conf *c);
enum verdict chk_r3(struct conf *c);
enum verdict chk_r4(struct conf *c);
enum verdict chk_r5(struct conf *c);
enum verdict chk_r6(struct conf *c);
enum verdict chk_r7(struct conf *c);
enum verdict chk_r8(struct conf *c);
enum verdict chk_r9(struct conf *c);
enum verdict chk_r10(struct conf *c);
enum verdict chk_r11(struct conf *c);
enum verdict chk_r12(struct conf *c);
enum verdict chk_s1(struct conf *c);
enum verdict chk_s2(struct conf *c);
enum verdict chk_s3(struct conf *c);
enum verdict chk_s4(struct conf *c);
enum verdict chk_v1(struct conf *c);
enum verdict chk_v2(struct conf *c);
enum verdict chk_v3(struct conf *c);
enum verdict chk_m1(struct conf *c);
enum verdict chk_m2(struct conf *c);
enum verdict chk_m3(struct conf *c);

#endif /* FE_CONF_H */
