/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device state blob: M1 (what it carries, round trips) and M3 (what it refuses).
 *
 * Blobs for the refusal tests are built here by hand from the documented layout (not by
 * the encoder), with a bit-at-a-time CRC, so that the tests check the format itself and
 * not only that the encoder and the decoder agree with each other. Every decode runs on a
 * heap copy of exactly the blob's length, so a sanitizer build catches any over-read.
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "vs_devstate.h"

#define ERRLEN 256

/* ---- reference CRC-32C, bit at a time, independent of the library's table ---- */

static uint32_t
ref_crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	size_t i;
	int b;

	for (i = 0; i < n; i++) {
		c ^= p[i];
		for (b = 0; b < 8; b++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
	}
	return ~c;
}

/* Deterministic PRNG (xorshift32): reproducible failures. */
static uint32_t
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* ---- hand-made blobs ---- */

struct bld {
	uint8_t *b;
	size_t len;
	size_t cap;
};

static void
w16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
w32(uint8_t *p, uint32_t v)
{
	w16(p, (uint16_t)v);
	w16(p + 2, (uint16_t)(v >> 16));
}

static void
w64(uint8_t *p, uint64_t v)
{
	w32(p, (uint32_t)v);
	w32(p + 4, (uint32_t)(v >> 32));
}

static uint16_t
r16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t
r32(const uint8_t *p)
{
	return (uint32_t)r16(p) | ((uint32_t)r16(p + 2) << 16);
}

static void
bld_init(struct bld *b)
{
	b->cap = 1 << 20;
	b->b = calloc(1, b->cap);
	cr_assert_not_null(b->b);
	memcpy(b->b, "VSTOPDS", 8);
	w16(b->b + 8, 1);
	w16(b->b + 10, 20);
	b->len = 20;
}

static uint8_t *
bld_sec(struct bld *b, uint16_t tag, uint16_t flags, uint32_t len)
{
	uint8_t *p = b->b + b->len;

	cr_assert_leq(b->len + 8 + len, b->cap);
	w16(p, tag);
	w16(p + 2, flags);
	w32(p + 4, len);
	b->len += 8 + len;
	return p + 8;
}

static void
bld_features(struct bld *b, uint64_t features, uint8_t status)
{
	uint8_t *p = bld_sec(b, 1, 0, 9);

	w64(p, features);
	p[8] = status;
}

static void
bld_config(struct bld *b)
{
	static const uint8_t mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
	uint8_t *p = bld_sec(b, 2, 0, 12);

	memcpy(p, mac, 6);
	w16(p + 6, 1);
	w16(p + 8, 1500);
	w16(p + 10, 2);
}

/* nb_vqs entries; vq i gets avail 100 + i, used 200 + i. */
static void
bld_vqs(struct bld *b, uint16_t nb_vqs)
{
	uint8_t *p = bld_sec(b, 3, 0, 2 + 4 * (uint32_t)nb_vqs);
	uint16_t i;

	w16(p, nb_vqs);
	for (i = 0; i < nb_vqs; i++) {
		w16(p + 2 + 4 * i, 100 + i);
		w16(p + 4 + 4 * i, 200 + i);
	}
}

/* @count frames of @flen bytes each, byte j of frame k = k + j. */
static void
bld_held(struct bld *b, uint16_t vq, uint16_t count, uint16_t flen)
{
	uint8_t *p = bld_sec(b, 4, 0, 4 + (uint32_t)count * (2u + flen));
	uint16_t k, j;

	w16(p, vq);
	w16(p + 2, count);
	p += 4;
	for (k = 0; k < count; k++) {
		w16(p, flen);
		for (j = 0; j < flen; j++)
			p[2 + j] = (uint8_t)(k + j);
		p += 2 + flen;
	}
}

/* The three required sections, @nb_vqs vqs. */
static void
bld_std(struct bld *b, uint16_t nb_vqs)
{
	bld_features(b, 0x130000001ull, 0x0f);
	bld_config(b);
	bld_vqs(b, nb_vqs);
}

static void
bld_seal(struct bld *b)
{
	w32(b->b + 12, (uint32_t)b->len);
	w32(b->b + 16, ref_crc32c(b->b + 20, b->len - 20));
}

/* Decode @len bytes of @src from an exact-size heap copy. */
static int
decode_copy(const uint8_t *src, size_t len, struct vs_devstate *ds,
	    struct vs_held_frame *frames, unsigned int max_frames, char *err)
{
	uint8_t *copy = malloc(len > 0 ? len : 1);
	int rc;

	cr_assert_not_null(copy);
	if (len > 0)
		memcpy(copy, src, len);
	err[0] = '\0';
	rc = vs_devstate_decode(copy, len, ds, frames, max_frames, err, ERRLEN);
	free(copy);
	return rc;
}

/* Decode a hand-made blob (frames are not inspected after the copy is freed). */
static int
decode_bld(struct bld *b, struct vs_devstate *ds, unsigned int max_frames, char *err)
{
	static struct vs_held_frame frames[VS_MAX_VQS * VS_DEVSTATE_MAX_HELD];

	bld_seal(b);
	return decode_copy(b->b, b->len, ds, frames, max_frames, err);
}

/* ---- a full device state for the round-trip tests ---- */

#define NB_FRAMES_MAX 64

struct sample {
	struct vs_devstate ds;
	struct vs_held_frame held[4][8];
	uint8_t data[4][8][64];
};

static void
sample_init(struct sample *s)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };
	unsigned int v, k, j;

	memset(s, 0, sizeof(*s));
	s->ds.features = 0x8000000130000021ull; /* high bits catch 32-bit truncation */
	s->ds.status = 0x4f;
	memcpy(s->ds.config.mac, mac, 6);
	s->ds.config.status = 1;
	s->ds.config.mtu = 9000;
	s->ds.config.max_vq_pairs = 2;
	s->ds.nb_vqs = 4;
	for (v = 0; v < 4; v++) {
		s->ds.vq[v].st.avail_idx = (uint16_t)(0xfff0 + v * 7); /* wraps the u16 */
		s->ds.vq[v].st.used_idx = (uint16_t)(0x1234 + v * 0x101);
	}
	/* vq 0 holds 3 frames, vq 1 none, vq 2 one, vq 3 eight of varied lengths. */
	s->ds.vq[0].nb_held = 3;
	s->ds.vq[2].nb_held = 1;
	s->ds.vq[3].nb_held = 8;
	for (v = 0; v < 4; v++) {
		s->ds.vq[v].held = s->ds.vq[v].nb_held ? s->held[v] : NULL;
		for (k = 0; k < s->ds.vq[v].nb_held; k++) {
			s->held[v][k].len = (uint16_t)(1 + (v * 13 + k * 7) % 64);
			for (j = 0; j < 64; j++)
				s->data[v][k][j] = (uint8_t)(v * 64 + k * 8 + j);
			s->held[v][k].data = s->data[v][k];
		}
	}
	s->ds.counters.rx_frames = 0x0102030405060708ull;
	s->ds.counters.tx_frames = 0x1112131415161718ull;
	s->ds.counters.held_drops = 3;
	s->ds.counters.stops = 0xffffffffffffffffull;
	s->ds.counters.resumes = 1ull << 40;
}

/* Encode into a fresh heap buffer of exactly the size needed. */
static uint8_t *
encode_alloc(const struct vs_devstate *ds, size_t *len)
{
	long n = vs_devstate_encode(ds, NULL, 0);
	uint8_t *buf;

	cr_assert_gt(n, 0, "size query failed: %ld", n);
	buf = malloc((size_t)n);
	cr_assert_not_null(buf);
	cr_assert_eq(vs_devstate_encode(ds, buf, (size_t)n), n);
	*len = (size_t)n;
	return buf;
}

static void
assert_same_state(const struct vs_devstate *a, const struct vs_devstate *b)
{
	unsigned int v, k;

	cr_assert_eq(a->features, b->features);
	cr_assert_eq(a->status, b->status);
	cr_assert_arr_eq(a->config.mac, b->config.mac, 6);
	cr_assert_eq(a->config.status, b->config.status);
	cr_assert_eq(a->config.mtu, b->config.mtu);
	cr_assert_eq(a->config.max_vq_pairs, b->config.max_vq_pairs);
	cr_assert_eq(a->nb_vqs, b->nb_vqs);
	for (v = 0; v < a->nb_vqs; v++) {
		cr_assert_eq(a->vq[v].st.avail_idx, b->vq[v].st.avail_idx, "vq %u", v);
		cr_assert_eq(a->vq[v].st.used_idx, b->vq[v].st.used_idx, "vq %u", v);
		cr_assert_eq(a->vq[v].nb_held, b->vq[v].nb_held, "vq %u", v);
		for (k = 0; k < a->vq[v].nb_held; k++) {
			cr_assert_eq(a->vq[v].held[k].len, b->vq[v].held[k].len);
			if (a->vq[v].held[k].len == 0)
				continue; /* data may be NULL: no memcmp on it */
			cr_assert_arr_eq(a->vq[v].held[k].data, b->vq[v].held[k].data,
					 a->vq[v].held[k].len, "vq %u frame %u", v, k);
		}
	}
	cr_assert_eq(a->counters.rx_frames, b->counters.rx_frames);
	cr_assert_eq(a->counters.tx_frames, b->counters.tx_frames);
	cr_assert_eq(a->counters.held_drops, b->counters.held_drops);
	cr_assert_eq(a->counters.stops, b->counters.stops);
	cr_assert_eq(a->counters.resumes, b->counters.resumes);
}

/* ---- CRC-32C ---- */

Test(devstate, M1_crc32c_known_vectors)
{
	uint8_t buf[32];
	unsigned int i;

	cr_assert_eq(vs_crc32c(0, "123456789", 9), 0xe3069283u);
	cr_assert_eq(vs_crc32c(0, "", 0), 0u);
	/* RFC 3720 (iSCSI) appendix B.4 vectors. */
	memset(buf, 0, sizeof(buf));
	cr_assert_eq(vs_crc32c(0, buf, 32), 0x8a9136aau);
	memset(buf, 0xff, sizeof(buf));
	cr_assert_eq(vs_crc32c(0, buf, 32), 0x62a8ab43u);
	for (i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	cr_assert_eq(vs_crc32c(0, buf, 32), 0x46dd794eu);
	for (i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	cr_assert_eq(vs_crc32c(0, buf, 32), 0x113fdb5cu);
}

Test(devstate, M1_crc32c_chaining)
{
	uint8_t buf[97];
	uint32_t whole, s = 7;
	size_t i, cut;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rnd(&s);
	whole = vs_crc32c(0, buf, sizeof(buf));
	for (cut = 0; cut <= sizeof(buf); cut++)
		cr_assert_eq(vs_crc32c(vs_crc32c(0, buf, cut), buf + cut, sizeof(buf) - cut),
			     whole, "split at %zu", cut);
}

Test(devstate, M1_crc32c_matches_bitwise_reference)
{
	uint8_t buf[300];
	uint32_t s = 12345;
	size_t i, n;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rnd(&s);
	/* Every byte value goes through the table somewhere in 300 random bytes x lengths. */
	for (n = 0; n <= sizeof(buf); n++)
		cr_assert_eq(vs_crc32c(0, buf, n), ref_crc32c(buf, n), "length %zu", n);
	for (i = 0; i < 256; i++) {
		uint8_t b = (uint8_t)i;

		cr_assert_eq(vs_crc32c(0, &b, 1), ref_crc32c(&b, 1), "byte 0x%02zx", i);
	}
}

/* ---- M1: encoding and round trips ---- */

Test(devstate, M1_roundtrip_all_fields)
{
	static struct sample s;
	struct vs_held_frame frames[NB_FRAMES_MAX];
	struct vs_devstate out;
	char err[ERRLEN];
	uint8_t *buf;
	size_t len;
	int rc;

	sample_init(&s);
	buf = encode_alloc(&s.ds, &len);
	memset(&out, 0xa5, sizeof(out));
	rc = vs_devstate_decode(buf, len, &out, frames, NB_FRAMES_MAX, err, sizeof(err));
	cr_assert_eq(rc, 0, "decode: %d %s", rc, err);
	assert_same_state(&s.ds, &out);
	/* vqs beyond nb_vqs are cleared, not left as they were. */
	cr_assert_eq(out.vq[4].nb_held, 0);
	cr_assert_eq(out.vq[VS_MAX_VQS - 1].st.avail_idx, 0);
	free(buf);
}

Test(devstate, M1_held_frames_roundtrip)
{
	static struct sample s;
	static uint8_t big[VS_DEVSTATE_MAX_FRAME];
	struct vs_held_frame frames[NB_FRAMES_MAX], extra[3];
	struct vs_devstate out;
	char err[ERRLEN];
	unsigned int v, k, total = 0;
	uint8_t *buf;
	size_t len, i;
	int rc;

	sample_init(&s);
	/* vq 1: a zero-length frame, a one-byte frame and one of the maximum size. */
	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 31);
	extra[0] = (struct vs_held_frame){ .len = 0, .data = NULL };
	extra[1] = (struct vs_held_frame){ .len = 1, .data = big + 5 };
	extra[2] = (struct vs_held_frame){ .len = VS_DEVSTATE_MAX_FRAME, .data = big };
	s.ds.vq[1].nb_held = 3;
	s.ds.vq[1].held = extra;
	buf = encode_alloc(&s.ds, &len);
	rc = vs_devstate_decode(buf, len, &out, frames, NB_FRAMES_MAX, err, sizeof(err));
	cr_assert_eq(rc, 0, "decode: %d %s", rc, err);
	assert_same_state(&s.ds, &out);
	for (v = 0; v < out.nb_vqs; v++) {
		for (k = 0; k < out.vq[v].nb_held; k++) {
			const struct vs_held_frame *f = &out.vq[v].held[k];

			/* held[] lives in the caller's frames array ... */
			cr_assert(f >= frames && f < frames + NB_FRAMES_MAX);
			/* ... and frame data points into the blob, not into a copy. */
			if (f->len > 0)
				cr_assert(f->data >= buf && f->data + f->len <= buf + len);
		}
		total += out.vq[v].nb_held;
	}
	cr_assert_eq(total, 3 + 3 + 1 + 8);
	cr_assert_null(out.vq[4].held);
	free(buf);
}

Test(devstate, M1_size_query)
{
	static struct sample s;
	uint8_t *buf;
	long n, m;
	size_t len, i;

	sample_init(&s);
	n = vs_devstate_encode(&s.ds, NULL, 0);
	cr_assert_gt(n, 20);
	/* The size does not depend on len when buf is NULL. */
	cr_assert_eq(vs_devstate_encode(&s.ds, NULL, 1 << 20), n);
	buf = malloc((size_t)n + 16);
	cr_assert_not_null(buf);
	/* Every buffer one byte short or more is refused and left untouched. */
	for (len = 0; len < (size_t)n; len++) {
		memset(buf, 0xa5, (size_t)n + 16);
		cr_assert_eq(vs_devstate_encode(&s.ds, buf, len), -ENOSPC, "len %zu", len);
		for (i = 0; i < (size_t)n + 16; i++)
			cr_assert_eq(buf[i], 0xa5, "len %zu: byte %zu written", len, i);
	}
	/* Exact and larger buffers: the same n bytes, nothing after them. */
	memset(buf, 0xa5, (size_t)n + 16);
	m = vs_devstate_encode(&s.ds, buf, (size_t)n + 16);
	cr_assert_eq(m, n);
	for (i = (size_t)n; i < (size_t)n + 16; i++)
		cr_assert_eq(buf[i], 0xa5);
	cr_assert_eq(r32(buf + 12), (uint32_t)n, "total_len in the header");
	free(buf);
}

/* The exact bytes of a small blob, from the documented layout. */
Test(devstate, M1_wire_format_golden)
{
	static const uint8_t want_body[] = {
		/* features: tag 1, flags 0, len 9, u64, u8 */
		1, 0, 0, 0, 9, 0, 0, 0, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0x0f,
		/* config: tag 2, len 12, mac, status 1, mtu 0x05dc, pairs 1 */
		2, 0, 0, 0, 12, 0, 0, 0, 0x02, 0, 0, 0, 0, 0x01, 1, 0, 0xdc, 0x05, 1, 0,
		/* vqs: tag 3, len 6, nb 1, avail 0x0102, used 0x0304 */
		3, 0, 0, 0, 6, 0, 0, 0, 1, 0, 0x02, 0x01, 0x04, 0x03,
		/* held: tag 4, len 9, vq 0, count 1, len 3, "abc" */
		4, 0, 0, 0, 9, 0, 0, 0, 0, 0, 1, 0, 3, 0, 'a', 'b', 'c',
		/* counters: tag 5, flags OPTIONAL, len 40 */
		5, 0, 1, 0, 40, 0, 0, 0,
		1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0,
		4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80,
		/* rings: tag 6, mandatory (feature bit 34 is set: packed), len 4, nb 1,
		 * layout packed, wrap counters 0 (bit 15 of both positions is 0) */
		6, 0, 0, 0, 4, 0, 0, 0, 1, 0, 1, 0,
	};
	struct vs_held_frame f = { .len = 3, .data = (const uint8_t *)"abc" };
	struct vs_devstate ds;
	uint8_t buf[256];
	long n;

	memset(&ds, 0, sizeof(ds));
	ds.features = 0x0102030405060708ull;
	ds.status = 0x0f;
	ds.config.mac[0] = 0x02;
	ds.config.mac[5] = 0x01;
	ds.config.status = 1;
	ds.config.mtu = 1500;
	ds.config.max_vq_pairs = 1;
	ds.nb_vqs = 1;
	ds.vq[0].st.avail_idx = 0x0102;
	ds.vq[0].st.used_idx = 0x0304;
	ds.vq[0].nb_held = 1;
	ds.vq[0].held = &f;
	ds.counters = (struct vs_devstate_counters){ 1, 2, 3, 4, 1ull << 63 };
	n = vs_devstate_encode(&ds, buf, sizeof(buf));
	cr_assert_eq(n, 20 + (long)sizeof(want_body));
	cr_assert_arr_eq(buf, "VSTOPDS\0", 8);
	cr_assert_eq(r16(buf + 8), 1, "version");
	cr_assert_eq(r16(buf + 10), 20, "header_len");
	cr_assert_eq(r32(buf + 12), (uint32_t)n, "total_len");
	cr_assert_eq(r32(buf + 16), ref_crc32c(buf + 20, (size_t)n - 20), "crc");
	cr_assert_arr_eq(buf + 20, want_body, sizeof(want_body));
}

Test(devstate, M1_empty_and_max_vqs_roundtrip)
{
	static struct vs_devstate ds, out;
	static struct vs_held_frame frames[VS_MAX_VQS];
	static uint8_t bytes[VS_MAX_VQS];
	static struct vs_held_frame held[VS_MAX_VQS];
	char err[ERRLEN];
	uint8_t *buf;
	size_t len;
	int v, rc;

	/* No vqs at all. */
	memset(&ds, 0, sizeof(ds));
	buf = encode_alloc(&ds, &len);
	rc = vs_devstate_decode(buf, len, &out, NULL, 0, err, sizeof(err));
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_eq(out.nb_vqs, 0);
	free(buf);

	/* VS_MAX_VQS vqs, each holding one frame. */
	ds.nb_vqs = VS_MAX_VQS;
	for (v = 0; v < VS_MAX_VQS; v++) {
		bytes[v] = (uint8_t)v;
		held[v] = (struct vs_held_frame){ .len = 1, .data = &bytes[v] };
		ds.vq[v].st.avail_idx = (uint16_t)(v * 3);
		ds.vq[v].st.used_idx = (uint16_t)(v * 5);
		ds.vq[v].nb_held = 1;
		ds.vq[v].held = &held[v];
	}
	buf = encode_alloc(&ds, &len);
	rc = vs_devstate_decode(buf, len, &out, frames, VS_MAX_VQS, err, sizeof(err));
	cr_assert_eq(rc, 0, "%s", err);
	assert_same_state(&ds, &out);
	free(buf);
}

Test(devstate, M1_encode_refuses_out_of_range)
{
	static struct sample s;
	static struct vs_held_frame many[VS_DEVSTATE_MAX_HELD + 1];
	uint8_t buf[4096];

	sample_init(&s);
	s.ds.nb_vqs = VS_MAX_VQS + 1;
	cr_assert_eq(vs_devstate_encode(&s.ds, buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(vs_devstate_encode(&s.ds, NULL, 0), -EINVAL, "size query too");

	sample_init(&s);
	s.ds.vq[1].nb_held = VS_DEVSTATE_MAX_HELD + 1;
	s.ds.vq[1].held = many;
	cr_assert_eq(vs_devstate_encode(&s.ds, buf, sizeof(buf)), -EINVAL, "too many held");
	s.ds.vq[1].nb_held = VS_DEVSTATE_MAX_HELD; /* the limit itself is fine */
	cr_assert_gt(vs_devstate_encode(&s.ds, NULL, 0), 0);

	sample_init(&s);
	s.held[0][1].len = VS_DEVSTATE_MAX_FRAME + 1;
	cr_assert_eq(vs_devstate_encode(&s.ds, buf, sizeof(buf)), -EINVAL, "frame too long");

	sample_init(&s);
	s.ds.vq[2].held = NULL;
	cr_assert_eq(vs_devstate_encode(&s.ds, buf, sizeof(buf)), -EINVAL, "held NULL");

	sample_init(&s);
	s.held[3][0].data = NULL;
	cr_assert_eq(vs_devstate_encode(&s.ds, buf, sizeof(buf)), -EINVAL, "data NULL");

	cr_assert_eq(vs_devstate_encode(NULL, buf, sizeof(buf)), -EINVAL);
}

/* ---- M3: refusals ---- */

Test(devstate, M3_truncated_every_length)
{
	static struct sample s;
	struct vs_held_frame frames[NB_FRAMES_MAX];
	struct vs_devstate out;
	char err[ERRLEN];
	uint8_t *buf;
	size_t len, n;
	int rc;

	sample_init(&s);
	buf = encode_alloc(&s.ds, &len);
	for (n = 0; n < len; n++) {
		rc = decode_copy(buf, n, &out, frames, NB_FRAMES_MAX, err);
		cr_assert(rc == -EMSGSIZE || rc == -EBADMSG, "prefix %zu: rc %d", n, rc);
		cr_assert(strstr(err, "truncated") != NULL, "prefix %zu: \"%s\"", n, err);
	}
	/* The message says how much was expected and how much came. */
	rc = decode_copy(buf, 40, &out, frames, NB_FRAMES_MAX, err);
	cr_assert_eq(rc, -EMSGSIZE);
	{
		char want[64];

		snprintf(want, sizeof(want), "truncated: header says %zu bytes, got 40", len);
		cr_assert_str_eq(err, want);
	}
	cr_assert_eq(decode_copy(buf, len, &out, frames, NB_FRAMES_MAX, err), 0, "%s", err);
	free(buf);
}

Test(devstate, M3_trailing_bytes_refused)
{
	static struct sample s;
	struct vs_held_frame frames[NB_FRAMES_MAX];
	struct vs_devstate out;
	char err[ERRLEN];
	uint8_t *buf, *longer;
	size_t len;

	sample_init(&s);
	buf = encode_alloc(&s.ds, &len);
	longer = calloc(1, len + 1);
	cr_assert_not_null(longer);
	memcpy(longer, buf, len);
	cr_assert_eq(decode_copy(longer, len + 1, &out, frames, NB_FRAMES_MAX, err),
		     -EMSGSIZE);
	cr_assert(strstr(err, "length mismatch") != NULL, "\"%s\"", err);
	free(longer);
	free(buf);
}

Test(devstate, M3_crc_single_bit_flip)
{
	static struct sample s;
	struct vs_held_frame frames[NB_FRAMES_MAX];
	struct vs_devstate out;
	char err[ERRLEN];
	uint8_t *buf;
	size_t len, i;
	int b, rc;

	sample_init(&s);
	buf = encode_alloc(&s.ds, &len);
	for (i = 0; i < len; i++) {
		for (b = 0; b < 8; b++) {
			buf[i] ^= (uint8_t)(1u << b);
			rc = decode_copy(buf, len, &out, frames, NB_FRAMES_MAX, err);
			cr_assert_lt(rc, 0, "flip byte %zu bit %d accepted", i, b);
			cr_assert_neq(err[0], '\0', "flip byte %zu bit %d: no reason", i, b);
			buf[i] ^= (uint8_t)(1u << b);
		}
	}
	/* A flip in the body is reported as a crc mismatch. */
	buf[len - 1] ^= 0x10;
	cr_assert_eq(decode_copy(buf, len, &out, frames, NB_FRAMES_MAX, err), -EBADMSG);
	cr_assert(strstr(err, "crc mismatch") != NULL, "\"%s\"", err);
	free(buf);
}

Test(devstate, M3_bad_magic)
{
	struct vs_devstate out;
	char err[ERRLEN];
	struct bld b;

	bld_init(&b);
	bld_std(&b, 1);
	b.b[7] = 'X'; /* the NUL is part of the magic too */
	cr_assert_eq(decode_bld(&b, &out, 0, err), -EBADMSG);
	cr_assert(strstr(err, "magic") != NULL, "\"%s\"", err);
	free(b.b);
}

Test(devstate, M3_other_version)
{
	struct vs_devstate out;
	char err[ERRLEN];
	struct bld b;

	bld_init(&b);
	bld_std(&b, 1);
	w16(b.b + 8, 2);
	cr_assert_eq(decode_bld(&b, &out, 0, err), -EPROTO);
	cr_assert_str_eq(err, "version 2 not supported (this build reads 1)");
	w16(b.b + 8, 0);
	cr_assert_eq(decode_bld(&b, &out, 0, err), -EPROTO);
	cr_assert_str_eq(err, "version 0 not supported (this build reads 1)");
	/* The same blob with version 1 is fine: only the version made the difference. */
	w16(b.b + 8, 1);
	cr_assert_eq(decode_bld(&b, &out, 0, err), 0, "%s", err);
	free(b.b);
}

Test(devstate, M3_header_len_tampered)
{
	struct vs_devstate out;
	char err[ERRLEN];
	struct bld b;

	bld_init(&b);
	bld_std(&b, 1);
	w16(b.b + 10, 24);
	cr_assert_eq(decode_bld(&b, &out, 0, err), -EBADMSG);
	cr_assert(strstr(err, "header length 24") != NULL, "\"%s\"", err);
	free(b.b);
}

Test(devstate, M3_incompatible_features)
{
	struct vs_devstate ds;
	char err[ERRLEN];

	memset(&ds, 0, sizeof(ds));
	ds.features = (1ull << 40) | (1ull << 32) | (1ull << 5);
	/* Offered covers everything; not negotiated yet. */
	cr_assert_eq(vs_devstate_compatible(&ds, ds.features | 1, 0, err, sizeof(err)), 0);
	/* Negotiated equal. */
	cr_assert_eq(vs_devstate_compatible(&ds, ~0ull, ds.features, err, sizeof(err)), 0);
	/* A bit the device does not offer: named in the message. */
	err[0] = '\0';
	cr_assert_eq(vs_devstate_compatible(&ds, (1ull << 32) | (1ull << 5), 0, err,
					    sizeof(err)), -ENOTSUP);
	cr_assert(strstr(err, "does not offer: 40 ") != NULL, "\"%s\"", err);
	/* Negotiated differs (a subset of the blob's): names the bits only in the blob. */
	err[0] = '\0';
	cr_assert_eq(vs_devstate_compatible(&ds, ~0ull, 1ull << 32, err, sizeof(err)),
		     -ENOTSUP);
	cr_assert(strstr(err, "only in blob: 5, 40") != NULL, "\"%s\"", err);
	/* Negotiated differs (a superset): names the bits only negotiated. */
	cr_assert_eq(vs_devstate_compatible(&ds, ~0ull, ds.features | (1ull << 33), err,
					    sizeof(err)), -ENOTSUP);
	cr_assert(strstr(err, "only negotiated: 33") != NULL, "\"%s\"", err);
	/* NULL err is fine. */
	cr_assert_eq(vs_devstate_compatible(&ds, 0, 0, NULL, 0), -ENOTSUP);
}

Test(devstate, M3_unknown_mandatory_section)
{
	struct vs_devstate out;
	char err[ERRLEN];
	struct bld b;

	bld_init(&b);
	bld_std(&b, 1);
	memset(bld_sec(&b, 0x77, 0x0002, 5), 0xee, 5); /* flags other than OPTIONAL */
	cr_assert_eq(decode_bld(&b, &out, 0, err), -EBADMSG);
	cr_assert(strstr(err, "unknown mandatory section tag 119") != NULL, "\"%s\"", err);
	free(b.b);
}

Test(devstate, M3_unknown_optional_section_skipped)
{
	struct vs_devstate out;
	char err[ERRLEN];
	struct bld b;

	bld_init(&b);
	/* Optional sections first, in the middle and last, one empty, one not. */
	memset(bld_sec(&b, 0x77, VS_DEVSTATE_SEC_OPTIONAL, 13), 0xee, 13);
	bld_features(&b, 0x130000001ull, 0x0f);
	bld_sec(&b, 0xfffe, VS_DEVSTATE_SEC_OPTIONAL | 0x8000, 0);
	bld_config(&b);
	bld_vqs(&b, 2);
	memset(bld_sec(&b, 0x77, VS_DEVSTATE_SEC_OPTIONAL, 3), 0x01, 3);
	cr_assert_eq(decode_bld(&b, &out, 0, err), 0, "%s", err);
	/* The known sections around them were read correctly. */
	cr_assert_eq(out.features, 0x130000001ull);
	cr_assert_eq(out.status, 0x0f);
	cr_assert_eq(out.config.mtu, 1500);
	cr_assert_eq(out.nb_vqs, 2);
	cr_assert_eq(out.vq[1].st.avail_idx, 101);
	cr_assert_eq(out.vq[1].st.used_idx, 201);
	free(b.b);
}

Test(devstate, M3_nb_vqs_out_of_range)
{
	struct vs_devstate out;
	char err[ERRLEN];
	struct bld b;

	bld_init(&b);
	bld_features(&b, 1, 0);
	bld_config(&b);
	bld_vqs(&b, VS_MAX_VQS + 1);
	cr_assert_eq(decode_bld(&b, &out, 0, err), -EINVAL);
	cr_assert(strstr(err, "nb_vqs 129 out of range") != NULL, "\"%s\"", err);
	free(b.b);

	/* VS_MAX_VQS itself is accepted. */
	bld_init(&b);
	bld_std(&b, VS_MAX_VQS);
	cr_assert_eq(decode_bld(&b, &out, 0, err), 0, "%s", err);
	cr_assert_eq(out.nb_vqs, VS_MAX_VQS);
	cr_assert_eq(out.vq[VS_MAX_VQS - 1].st.used_idx, 200 + VS_MAX_VQS - 1);
	free(b.b);
}

Test(devstate, M3_too_many_held_frames)
{
	struct vs_devstate out;
	char err[ERRLEN];
	struct bld b;

	bld_init(&b);
	bld_std(&b, 2);
	bld_held(&b, 1, VS_DEVSTATE_MAX_HELD + 1, 0);
	cr_assert_eq(decode_bld(&b, &out, VS_MAX_VQS * VS_DEVSTATE_MAX_HELD, err), -EINVAL);
	cr_assert(strstr(err, "vq 1 holds 1025 frames") != NULL, "\"%s\"", err);
	free(b.b);

	/* The limit itself is accepted. */
	bld_init(&b);
	bld_std(&b, 2);
	bld_held(&b, 1, VS_DEVSTATE_MAX_HELD, 2);
	cr_assert_eq(decode_bld(&b, &out, VS_MAX_VQS * VS_DEVSTATE_MAX_HELD, err), 0, "%s",
		     err);
	cr_assert_eq(out.vq[1].nb_held, VS_DEVSTATE_MAX_HELD);
	free(b.b);
}

Test(devstate, M3_held_frame_too_long)
{
	struct vs_devstate out;
	char err[ERRLEN];
	struct bld b;

	bld_init(&b);
	bld_std(&b, 1);
	bld_held(&b, 0, 1, VS_DEVSTATE_MAX_FRAME + 1);
	cr_assert_eq(decode_bld(&b, &out, 16, err), -EINVAL);
	cr_assert(strstr(err, "16385 bytes") != NULL, "\"%s\"", err);
	free(b.b);
}

Test(devstate, M3_held_frames_exceed_caller_room)
{
	struct vs_devstate out;
	char err[ERRLEN];
	struct bld b;

	bld_init(&b);
	bld_std(&b, 2);
	bld_held(&b, 0, 3, 4);
	bld_held(&b, 1, 2, 4);
	cr_assert_eq(decode_bld(&b, &out, 4, err), -ENOSPC);
	cr_assert_neq(err[0], '\0');
	cr_assert_eq(decode_bld(&b, &out, 5, err), 0, "%s", err);
	cr_assert_eq(out.vq[0].nb_held, 3);
	cr_assert_eq(out.vq[1].nb_held, 2);
	cr_assert_eq(out.vq[1].held - out.vq[0].held, 3, "vq 1's frames follow vq 0's");
	free(b.b);

	/* No frames array at all. */
	bld_init(&b);
	bld_std(&b, 1);
	bld_held(&b, 0, 1, 1);
	bld_seal(&b);
	cr_assert_eq(vs_devstate_decode(b.b, b.len, &out, NULL, 8, err, sizeof(err)),
		     -ENOSPC);
	free(b.b);
}

Test(devstate, M3_duplicate_sections)
{
	struct vs_devstate out;
	char err[ERRLEN];
	struct bld b;

	bld_init(&b);
	bld_std(&b, 1);
	bld_features(&b, 1, 0);
	cr_assert_eq(decode_bld(&b, &out, 0, err), -EBADMSG);
	cr_assert(strstr(err, "duplicate features") != NULL, "\"%s\"", err);
	free(b.b);

	bld_init(&b);
	bld_std(&b, 2);
	bld_held(&b, 1, 1, 1);
	bld_held(&b, 1, 1, 1);
	cr_assert_eq(decode_bld(&b, &out, 8, err), -EBADMSG);
	cr_assert(strstr(err, "duplicate held frames section for vq 1") != NULL, "\"%s\"",
		  err);
	free(b.b);

	/* Unknown optional sections may repeat. */
	bld_init(&b);
	bld_std(&b, 1);
	bld_sec(&b, 0x99, VS_DEVSTATE_SEC_OPTIONAL, 0);
	bld_sec(&b, 0x99, VS_DEVSTATE_SEC_OPTIONAL, 0);
	cr_assert_eq(decode_bld(&b, &out, 0, err), 0, "%s", err);
	free(b.b);
}

Test(devstate, M3_missing_required_section)
{
	static const char *const name[] = { "features", "config", "vq indices" };
	struct vs_devstate out;
	char err[ERRLEN], want[64];
	struct bld b;
	int skip;

	for (skip = 0; skip < 3; skip++) {
		bld_init(&b);
		if (skip != 0)
			bld_features(&b, 1, 0);
		if (skip != 1)
			bld_config(&b);
		if (skip != 2)
			bld_vqs(&b, 1);
		cr_assert_eq(decode_bld(&b, &out, 0, err), -EBADMSG, "without %s", name[skip]);
		snprintf(want, sizeof(want), "missing %s section", name[skip]);
		cr_assert_str_eq(err, want);
		free(b.b);
	}
	/* Only a header. */
	bld_init(&b);
	cr_assert_eq(decode_bld(&b, &out, 0, err), -EBADMSG);
	free(b.b);
}

Test(devstate, M3_held_vq_beyond_nb_vqs)
{
	struct vs_devstate out;
	char err[ERRLEN];
	struct bld b;

	/* HELD may come before VQS; the vq is checked once nb_vqs is known. */
	bld_init(&b);
	bld_held(&b, 2, 1, 1);
	bld_std(&b, 2);
	cr_assert_eq(decode_bld(&b, &out, 8, err), -EINVAL);
	cr_assert(strstr(err, "held frames for vq 2, but the blob has 2 vqs") != NULL,
		  "\"%s\"", err);
	free(b.b);

	bld_init(&b);
	bld_held(&b, 1, 1, 1);
	bld_std(&b, 2);
	cr_assert_eq(decode_bld(&b, &out, 8, err), 0, "%s", err);
	cr_assert_eq(out.vq[1].nb_held, 1);
	free(b.b);

	bld_init(&b);
	bld_std(&b, 2);
	bld_held(&b, 0xffff, 1, 1);
	cr_assert_eq(decode_bld(&b, &out, 8, err), -EINVAL);
	free(b.b);
}

Test(devstate, M3_malformed_sections)
{
	struct vs_devstate out;
	char err[ERRLEN];
	struct bld b;
	uint8_t *p;

	/* A section that claims more bytes than the blob has. */
	bld_init(&b);
	bld_std(&b, 1);
	p = bld_sec(&b, 0x77, VS_DEVSTATE_SEC_OPTIONAL, 4);
	w32(p - 4, 5);
	cr_assert_eq(decode_bld(&b, &out, 0, err), -EBADMSG);
	cr_assert(strstr(err, "says 5 bytes, only 4 left") != NULL, "\"%s\"", err);
	free(b.b);

	/* ... or 4 GiB - 1, which must not wrap an offset. */
	bld_init(&b);
	bld_std(&b, 1);
	p = bld_sec(&b, 0x77, VS_DEVSTATE_SEC_OPTIONAL, 0);
	w32(p - 4, 0xffffffffu);
	cr_assert_eq(decode_bld(&b, &out, 0, err), -EBADMSG);
	free(b.b);

	/* Stray bytes too short for a section header. */
	bld_init(&b);
	bld_std(&b, 1);
	b.len += 7;
	cr_assert_eq(decode_bld(&b, &out, 0, err), -EBADMSG);
	cr_assert(strstr(err, "7 stray bytes") != NULL, "\"%s\"", err);
	free(b.b);

	/* A fixed-size section of the wrong size. */
	bld_init(&b);
	bld_sec(&b, 1, 0, 10);
	bld_config(&b);
	bld_vqs(&b, 1);
	cr_assert_eq(decode_bld(&b, &out, 0, err), -EBADMSG);
	cr_assert_str_eq(err, "malformed features section: 10 bytes, expected 9");
	free(b.b);

	/* VQS whose length disagrees with nb_vqs. */
	bld_init(&b);
	bld_features(&b, 1, 0);
	bld_config(&b);
	p = bld_sec(&b, 3, 0, 2 + 4 * 2);
	w16(p, 3);
	cr_assert_eq(decode_bld(&b, &out, 0, err), -EBADMSG);
	free(b.b);

	/* HELD: a frame that runs past its section, then trailing bytes. */
	bld_init(&b);
	bld_std(&b, 1);
	p = bld_sec(&b, 4, 0, 4 + 2 + 3);
	w16(p, 0);
	w16(p + 2, 1);
	w16(p + 4, 4);
	cr_assert_eq(decode_bld(&b, &out, 8, err), -EBADMSG);
	cr_assert(strstr(err, "frame 0 says 4 bytes, 3 left") != NULL, "\"%s\"", err);
	w16(p + 4, 2);
	cr_assert_eq(decode_bld(&b, &out, 8, err), -EBADMSG);
	cr_assert(strstr(err, "1 trailing bytes") != NULL, "\"%s\"", err);
	w16(p + 2, 2); /* a second frame whose length field is cut */
	cr_assert_eq(decode_bld(&b, &out, 8, err), -EBADMSG);
	cr_assert(strstr(err, "frame 1 of 2 truncated") != NULL, "\"%s\"", err);
	free(b.b);
}

Test(devstate, M3_decode_bad_arguments)
{
	struct vs_devstate out;
	char err[ERRLEN];
	uint8_t byte = 0;

	cr_assert_eq(vs_devstate_decode(NULL, 10, &out, NULL, 0, err, sizeof(err)), -EINVAL);
	cr_assert_eq(vs_devstate_decode(NULL, 0, &out, NULL, 0, err, sizeof(err)), -EMSGSIZE);
	cr_assert_eq(vs_devstate_decode(&byte, 1, NULL, NULL, 0, err, sizeof(err)), -EINVAL);
	/* A NULL or zero-sized err buffer is allowed. */
	cr_assert_eq(vs_devstate_decode(&byte, 1, &out, NULL, 0, NULL, 0), -EMSGSIZE);
	err[0] = 'x';
	cr_assert_eq(vs_devstate_decode(&byte, 1, &out, NULL, 0, err, 0), -EMSGSIZE);
	cr_assert_eq(err[0], 'x', "errlen 0 must not write");
}

/*
 * Random mutations of valid blobs, resealed so the crc passes and the section parser is
 * reached: the decoder must answer with one of its documented errors or succeed with a
 * state that respects every limit. A tiny in-tree fuzzer until the libFuzzer one exists.
 */
Test(devstate, M3_mutations_never_escape_limits)
{
	static struct sample s;
	static struct vs_held_frame frames[NB_FRAMES_MAX];
	struct vs_devstate out;
	char err[ERRLEN];
	uint8_t *orig, *buf;
	uint32_t seed = 0xdecafbad;
	size_t len, i;
	unsigned int iter, v, k, ok = 0;
	int rc;

	sample_init(&s);
	orig = encode_alloc(&s.ds, &len);
	buf = malloc(len);
	cr_assert_not_null(buf);
	for (iter = 0; iter < 20000; iter++) {
		size_t n = len - rnd(&seed) % 16; /* sometimes cut the tail too */
		unsigned int nmut = 1 + rnd(&seed) % 4;

		memcpy(buf, orig, n);
		for (i = 0; i < nmut; i++) {
			size_t at = 20 + rnd(&seed) % (n - 20);

			buf[at] = (rnd(&seed) & 1) ? (uint8_t)rnd(&seed) : buf[at] ^ 0xff;
		}
		w32(buf + 12, (uint32_t)n);
		w32(buf + 16, ref_crc32c(buf + 20, n - 20));
		rc = vs_devstate_decode(buf, n, &out, frames, NB_FRAMES_MAX, err, sizeof(err));
		cr_assert(rc == 0 || rc == -EBADMSG || rc == -EINVAL || rc == -ENOSPC,
			  "iter %u: rc %d", iter, rc);
		if (rc < 0) {
			cr_assert_neq(err[0], '\0', "iter %u: no reason", iter);
			continue;
		}
		ok++;
		cr_assert_leq(out.nb_vqs, VS_MAX_VQS);
		for (v = 0; v < VS_MAX_VQS; v++) {
			if (v >= out.nb_vqs) {
				cr_assert_eq(out.vq[v].nb_held, 0);
				continue;
			}
			cr_assert_leq(out.vq[v].nb_held, VS_DEVSTATE_MAX_HELD);
			for (k = 0; k < out.vq[v].nb_held; k++) {
				const struct vs_held_frame *f = &out.vq[v].held[k];

				cr_assert(f >= frames && f < frames + NB_FRAMES_MAX);
				cr_assert_leq(f->len, VS_DEVSTATE_MAX_FRAME);
				cr_assert(f->len == 0 ||
					  (f->data >= buf && f->data + f->len <= buf + n));
			}
		}
	}
	/* Mutations inside frame data or counters keep the blob valid: some must pass. */
	cr_assert_gt(ok, 0);
	free(buf);
	free(orig);
}

/* ---- P1: ring layouts ---- */

#define F_PACKED (1ull << VS_DEVSTATE_F_RING_PACKED)

/* Offset of the section with @tag in an encoded blob, or 0. */
static size_t
find_sec(const uint8_t *buf, size_t len, uint16_t tag)
{
	size_t off = 20;

	while (off + 8 <= len) {
		if (r16(buf + off) == tag)
			return off;
		off += 8 + r32(buf + off + 4);
	}
	return 0;
}

Test(devstate, P1_packed_positions_and_wrap_counters_roundtrip)
{
	static struct sample s;
	static struct vs_devstate out;
	static struct vs_held_frame frames[NB_FRAMES_MAX];
	char err[ERRLEN];
	size_t len, off;
	uint8_t *buf;
	int v;

	sample_init(&s);
	s.ds.features |= F_PACKED;
	for (v = 0; v < 4; v++) { /* index in bits 0-14, wrap counter in bit 15 */
		s.ds.vq[v].st.avail_idx = (uint16_t)((v & 1) << 15 | (100 + v));
		s.ds.vq[v].st.used_idx = (uint16_t)((v >> 1) << 15 | (100 + v));
	}
	buf = encode_alloc(&s.ds, &len);
	off = find_sec(buf, len, VS_DEVSTATE_TAG_RINGS);
	cr_assert_neq(off, 0, "no RINGS section");
	cr_assert_eq(r16(buf + off + 2), 0, "mandatory for a packed device");
	cr_assert_eq(r16(buf + off + 8), 4, "nb_vqs");
	for (v = 0; v < 4; v++) {
		cr_assert_eq(buf[off + 10 + 2 * v], 1, "vq %d layout packed", v);
		cr_assert_eq(buf[off + 11 + 2 * v], (v & 1) | ((v >> 1) << 1), "vq %d wraps", v);
	}
	cr_assert_eq(vs_devstate_decode(buf, len, &out, frames, NB_FRAMES_MAX, err,
					sizeof(err)), 0, "%s", err);
	assert_same_state(&s.ds, &out);
	cr_assert(vs_devstate_packed(&out));
	free(buf);
}

Test(devstate, P1_split_rings_section_optional_for_older_readers)
{
	static struct sample s;
	size_t len, off;
	uint8_t *buf;

	sample_init(&s);
	cr_assert_eq(s.ds.features & F_PACKED, 0);
	buf = encode_alloc(&s.ds, &len);
	off = find_sec(buf, len, VS_DEVSTATE_TAG_RINGS);
	cr_assert_neq(off, 0, "no RINGS section");
	cr_assert_eq(r16(buf + off + 2), VS_DEVSTATE_SEC_OPTIONAL);
	for (int v = 0; v < 4; v++)
		cr_assert_eq(buf[off + 10 + 2 * v] | buf[off + 11 + 2 * v], 0, "vq %d", v);
	free(buf);
}

Test(devstate, P1_blob_without_rings_section_loads_as_before)
{
	struct vs_devstate out;
	char err[ERRLEN];
	struct bld b;

	/* What vstop wrote before RINGS existed: features, config, vqs (split). */
	bld_init(&b);
	bld_std(&b, 2);
	cr_assert_eq(decode_bld(&b, &out, 0, err), 0, "%s", err);
	cr_assert(!vs_devstate_packed(&out));
	cr_assert_eq(out.vq[1].st.avail_idx, 101);
	cr_assert_eq(vs_devstate_compatible(&out, ~0ull, out.features, err, sizeof(err)), 0);
	free(b.b);
}

/* A packed-features blob with a RINGS section of @n entries, entry i = {layout, wrap}. */
static int
decode_rings(uint64_t features, uint16_t n, const uint8_t *entries, uint32_t len, char *err)
{
	struct vs_devstate out;
	struct bld b;
	uint8_t *p;
	int rc;

	bld_init(&b);
	bld_features(&b, features, 0x0f);
	bld_config(&b);
	bld_vqs(&b, 2); /* positions 100/200 and 101/201: bit 15 clear */
	p = bld_sec(&b, VS_DEVSTATE_TAG_RINGS, 0, len);
	w16(p, n);
	memcpy(p + 2, entries, len - 2);
	rc = decode_bld(&b, &out, 0, err);
	free(b.b);
	return rc;
}

Test(devstate, P1_rings_that_contradict_the_blob_refused)
{
	static const uint8_t packed2[] = { 1, 0, 1, 0 }, split2[] = { 0, 0, 0, 0 };
	static const uint8_t mixed[] = { 1, 0, 0, 0 }, wrap[] = { 1, 1, 1, 0 };
	static const uint8_t bad_layout[] = { 7, 0, 7, 0 }, split_wrap[] = { 0, 2, 0, 0 };
	char err[ERRLEN];

	cr_assert_eq(decode_rings(F_PACKED | 1, 2, packed2, 6, err), 0, "%s", err);
	cr_assert_eq(decode_rings(1, 2, split2, 6, err), 0, "%s", err);
	cr_assert_eq(decode_rings(1, 2, packed2, 6, err), -EINVAL);
	cr_assert(strstr(err, "packed ring, but the features say split") != NULL, "%s", err);
	cr_assert_eq(decode_rings(F_PACKED, 2, mixed, 6, err), -EINVAL);
	cr_assert_eq(decode_rings(F_PACKED, 2, wrap, 6, err), -EINVAL);
	cr_assert(strstr(err, "wrap counters") != NULL, "%s", err);
	cr_assert_eq(decode_rings(1, 2, split_wrap, 6, err), -EINVAL);
	cr_assert_eq(decode_rings(F_PACKED, 2, bad_layout, 6, err), -EINVAL);
	cr_assert(strstr(err, "unknown ring layout 7") != NULL, "%s", err);
	cr_assert_eq(decode_rings(F_PACKED, 1, packed2, 4, err), -EINVAL);
	cr_assert(strstr(err, "for 1 vqs, the blob has 2") != NULL, "%s", err);
	cr_assert_eq(decode_rings(F_PACKED, 2, packed2, 5, err), -EBADMSG);
}

Test(devstate, P1_other_layout_refused_by_compatibility_check)
{
	struct vs_devstate ds;
	char err[ERRLEN];

	memset(&ds, 0, sizeof(ds));
	ds.features = F_PACKED | (1ull << 32);
	cr_assert_eq(vs_devstate_compatible(&ds, ~0ull, 1ull << 32, err, sizeof(err)),
		     -ENOTSUP);
	cr_assert(strstr(err, "packed virtqueues, the driver negotiated split") != NULL,
		  "%s", err);
	ds.features = 1ull << 32;
	cr_assert_eq(vs_devstate_compatible(&ds, ~0ull, F_PACKED | (1ull << 32), err,
					    sizeof(err)), -ENOTSUP);
	cr_assert(strstr(err, "split virtqueues, the driver negotiated packed") != NULL,
		  "%s", err);
}
