/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device state blob (M1) and its defensive decoder (M3). Layout: see vs_devstate.h.
 *
 * Integers are written and read byte by byte in little endian, so the format does not
 * depend on the host's byte order, alignment or struct padding. The decoder trusts
 * nothing: it checks every length before it reads and never writes outside @ds and
 * @frames, since a blob may come from a file, a socket or a fuzzer.
 */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "vs_devstate.h"

#define OFF_VERSION 8
#define OFF_HDR_LEN 10
#define OFF_TOTAL   12
#define OFF_CRC     16

#define FEATURES_LEN 9
#define CONFIG_LEN   12
#define COUNTERS_LEN 40
#define VQ_ENTRY_LEN 4
#define RING_ENTRY_LEN 2
#define RING_LAYOUT_SPLIT  0
#define RING_LAYOUT_PACKED 1
#define RING_WRAP_AVAIL 0x1
#define RING_WRAP_USED  0x2
#define HELD_HDR_LEN 4
#define FRAME_HDR_LEN 2

/*
 * CRC-32C lookup table, reflected polynomial 0x82F63B78: entry n is the CRC register after
 * shifting the byte n through it eight times. A constant table keeps vs_crc32c() free of
 * lazy initialisation, so it is safe from any thread. test_devstate.c checks it against a
 * bit-at-a-time computation.
 */
static const uint32_t crc32c_table[256] = {
	0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4,
	0xc79a971f, 0x35f1141c, 0x26a1e7e8, 0xd4ca64eb,
	0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b,
	0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24,
	0x105ec76f, 0xe235446c, 0xf165b798, 0x030e349b,
	0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
	0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54,
	0x5d1d08bf, 0xaf768bbc, 0xbc267848, 0x4e4dfb4b,
	0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
	0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35,
	0xaa64d611, 0x580f5512, 0x4b5fa6e6, 0xb93425e5,
	0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
	0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45,
	0xf779deae, 0x05125dad, 0x1642ae59, 0xe4292d5a,
	0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a,
	0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595,
	0x417b1dbc, 0xb3109ebf, 0xa0406d4b, 0x522bee48,
	0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
	0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687,
	0x0c38d26c, 0xfe53516f, 0xed03a29b, 0x1f682198,
	0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
	0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38,
	0xdbfc821c, 0x2997011f, 0x3ac7f2eb, 0xc8ac71e8,
	0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
	0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096,
	0xa65c047d, 0x5437877e, 0x4767748a, 0xb50cf789,
	0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
	0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46,
	0x7198540d, 0x83f3d70e, 0x90a324fa, 0x62c8a7f9,
	0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
	0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36,
	0x3cdb9bdd, 0xceb018de, 0xdde0eb2a, 0x2f8b6829,
	0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c,
	0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93,
	0x082f63b7, 0xfa44e0b4, 0xe9141340, 0x1b7f9043,
	0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
	0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3,
	0x55326b08, 0xa759e80b, 0xb4091bff, 0x466298fc,
	0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c,
	0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033,
	0xa24bb5a6, 0x502036a5, 0x4370c551, 0xb11b4652,
	0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
	0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d,
	0xef087a76, 0x1d63f975, 0x0e330a81, 0xfc588982,
	0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
	0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622,
	0x38cc2a06, 0xcaa7a905, 0xd9f75af1, 0x2b9cd9f2,
	0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
	0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530,
	0x0417b1db, 0xf67c32d8, 0xe52cc12c, 0x1747422f,
	0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff,
	0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0,
	0xd3d3e1ab, 0x21b862a8, 0x32e8915c, 0xc083125f,
	0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
	0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90,
	0x9e902e7b, 0x6cfbad78, 0x7fab5e8c, 0x8dc0dd8f,
	0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee,
	0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1,
	0x69e9f0d5, 0x9b8273d6, 0x88d28022, 0x7ab90321,
	0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
	0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81,
	0x34f4f86a, 0xc69f7b69, 0xd5cf889d, 0x27a40b9e,
	0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
	0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

uint32_t
vs_crc32c(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;

	/* Undo the final inversion of the previous call, so that calls chain. */
	crc = ~crc;
	while (len-- > 0)
		crc = crc32c_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ---- little-endian helpers ---- */

static void
put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

static void
put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static uint16_t
get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t
get_le32(const uint8_t *p)
{
	return (uint32_t)get_le16(p) | ((uint32_t)get_le16(p + 2) << 16);
}

static uint64_t
get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | ((uint64_t)get_le32(p + 4) << 32);
}

/* ---- encoder ---- */

static const char *const tag_names[] = {
	[VS_DEVSTATE_TAG_FEATURES] = "features",
	[VS_DEVSTATE_TAG_CONFIG] = "config",
	[VS_DEVSTATE_TAG_VQS] = "vq indices",
	[VS_DEVSTATE_TAG_HELD] = "held frames",
	[VS_DEVSTATE_TAG_COUNTERS] = "counters",
	[VS_DEVSTATE_TAG_RINGS] = "ring layouts",
};

/* Payload length of @vq's HELD section, 0 if it holds nothing; -1 if out of range. */
static int64_t
held_section_len(const struct vs_devstate_vq *vq)
{
	int64_t n = HELD_HDR_LEN;
	uint16_t i;

	if (vq->nb_held == 0)
		return 0;
	if (vq->nb_held > VS_DEVSTATE_MAX_HELD || vq->held == NULL)
		return -1;
	for (i = 0; i < vq->nb_held; i++) {
		const struct vs_held_frame *f = &vq->held[i];

		if (f->len > VS_DEVSTATE_MAX_FRAME || (f->len > 0 && f->data == NULL))
			return -1;
		n += FRAME_HDR_LEN + f->len;
	}
	return n;
}

/* Total blob size for @ds, or -EINVAL if @ds cannot be encoded. */
static int64_t
encoded_size(const struct vs_devstate *ds)
{
	int64_t n = VS_DEVSTATE_HDR_LEN;
	uint16_t i;

	if (ds->nb_vqs > VS_MAX_VQS)
		return -EINVAL;
	n += VS_DEVSTATE_SEC_HDR_LEN + FEATURES_LEN;
	n += VS_DEVSTATE_SEC_HDR_LEN + CONFIG_LEN;
	n += VS_DEVSTATE_SEC_HDR_LEN + 2 + (int64_t)VQ_ENTRY_LEN * ds->nb_vqs;
	for (i = 0; i < ds->nb_vqs; i++) {
		int64_t h = held_section_len(&ds->vq[i]);

		if (h < 0)
			return -EINVAL;
		if (h > 0)
			n += VS_DEVSTATE_SEC_HDR_LEN + h;
	}
	n += VS_DEVSTATE_SEC_HDR_LEN + COUNTERS_LEN;
	n += VS_DEVSTATE_SEC_HDR_LEN + 2 + (int64_t)RING_ENTRY_LEN * ds->nb_vqs;
	/* total_len is a u32 on the wire and the size is returned as a long. */
	if ((uint64_t)n > UINT32_MAX || (uint64_t)n > (uint64_t)LONG_MAX)
		return -EINVAL;
	return n;
}

/* Write a section header at @p and return where its payload starts. */
static uint8_t *
put_sec(uint8_t *p, uint16_t tag, uint16_t flags, uint32_t len)
{
	put_le16(p, tag);
	put_le16(p + 2, flags);
	put_le32(p + 4, len);
	return p + VS_DEVSTATE_SEC_HDR_LEN;
}

static uint8_t *
put_features(uint8_t *p, const struct vs_devstate *ds)
{
	p = put_sec(p, VS_DEVSTATE_TAG_FEATURES, 0, FEATURES_LEN);
	put_le64(p, ds->features);
	p[8] = ds->status;
	return p + FEATURES_LEN;
}

static uint8_t *
put_config(uint8_t *p, const struct vs_dev_config *c)
{
	p = put_sec(p, VS_DEVSTATE_TAG_CONFIG, 0, CONFIG_LEN);
	memcpy(p, c->mac, 6);
	put_le16(p + 6, c->status);
	put_le16(p + 8, c->mtu);
	put_le16(p + 10, c->max_vq_pairs);
	return p + CONFIG_LEN;
}

static uint8_t *
put_vqs(uint8_t *p, const struct vs_devstate *ds)
{
	uint16_t i;

	p = put_sec(p, VS_DEVSTATE_TAG_VQS, 0, 2 + VQ_ENTRY_LEN * (uint32_t)ds->nb_vqs);
	put_le16(p, ds->nb_vqs);
	p += 2;
	for (i = 0; i < ds->nb_vqs; i++, p += VQ_ENTRY_LEN) {
		put_le16(p, ds->vq[i].st.avail_idx);
		put_le16(p + 2, ds->vq[i].st.used_idx);
	}
	return p;
}

/* @len: the payload length held_section_len() computed (non zero). */
static uint8_t *
put_held(uint8_t *p, uint16_t vqi, const struct vs_devstate_vq *vq, uint32_t len)
{
	uint16_t i;

	p = put_sec(p, VS_DEVSTATE_TAG_HELD, 0, len);
	put_le16(p, vqi);
	put_le16(p + 2, vq->nb_held);
	p += HELD_HDR_LEN;
	for (i = 0; i < vq->nb_held; i++) {
		put_le16(p, vq->held[i].len);
		p += FRAME_HDR_LEN;
		if (vq->held[i].len > 0)
			memcpy(p, vq->held[i].data, vq->held[i].len);
		p += vq->held[i].len;
	}
	return p;
}

static uint8_t *
put_counters(uint8_t *p, const struct vs_devstate_counters *c)
{
	/* Totals are nice to keep but not needed to run: an older reader may skip them. */
	p = put_sec(p, VS_DEVSTATE_TAG_COUNTERS, VS_DEVSTATE_SEC_OPTIONAL, COUNTERS_LEN);
	put_le64(p, c->rx_frames);
	put_le64(p + 8, c->tx_frames);
	put_le64(p + 16, c->held_drops);
	put_le64(p + 24, c->stops);
	put_le64(p + 32, c->resumes);
	return p + COUNTERS_LEN;
}

/* P1: mandatory for a packed device (a reader that does not know it must refuse). */
static uint8_t *
put_rings(uint8_t *p, const struct vs_devstate *ds)
{
	bool packed = vs_devstate_packed(ds);
	uint16_t i;

	p = put_sec(p, VS_DEVSTATE_TAG_RINGS, packed ? 0 : VS_DEVSTATE_SEC_OPTIONAL,
		    2 + RING_ENTRY_LEN * (uint32_t)ds->nb_vqs);
	put_le16(p, ds->nb_vqs);
	p += 2;
	for (i = 0; i < ds->nb_vqs; i++, p += RING_ENTRY_LEN) {
		p[0] = packed ? RING_LAYOUT_PACKED : RING_LAYOUT_SPLIT;
		p[1] = !packed ? 0 :
		       (uint8_t)(((ds->vq[i].st.avail_idx >> 15) ? RING_WRAP_AVAIL : 0) |
				 ((ds->vq[i].st.used_idx >> 15) ? RING_WRAP_USED : 0));
	}
	return p;
}

long
vs_devstate_encode(const struct vs_devstate *ds, uint8_t *buf, size_t len)
{
	int64_t size;
	uint8_t *p;
	uint16_t i;

	if (ds == NULL)
		return -EINVAL;
	size = encoded_size(ds);
	if (size < 0 || buf == NULL)
		return (long)size;
	if (len < (uint64_t)size)
		return -ENOSPC;

	/* Sizes were validated above, so the writers below need no bounds checks. */
	memcpy(buf, VS_DEVSTATE_MAGIC, 8);
	put_le16(buf + OFF_VERSION, VS_DEVSTATE_VERSION);
	put_le16(buf + OFF_HDR_LEN, VS_DEVSTATE_HDR_LEN);
	put_le32(buf + OFF_TOTAL, (uint32_t)size);
	p = buf + VS_DEVSTATE_HDR_LEN;
	p = put_features(p, ds);
	p = put_config(p, &ds->config);
	p = put_vqs(p, ds);
	for (i = 0; i < ds->nb_vqs; i++) {
		int64_t h = held_section_len(&ds->vq[i]);

		if (h > 0)
			p = put_held(p, i, &ds->vq[i], (uint32_t)h);
	}
	p = put_counters(p, &ds->counters);
	p = put_rings(p, ds);
	put_le32(buf + OFF_CRC, vs_crc32c(0, buf + OFF_CRC + 4, (size_t)size - (OFF_CRC + 4)));
	return (long)(p - buf);
}

/* ---- decoder ---- */

struct dec {
	struct vs_devstate *ds;
	struct vs_held_frame *frames;
	unsigned int max_frames;
	unsigned int nb_frames;        /**< frames stored so far (<= max_frames) */
	uint32_t seen;                 /**< bit per known tag already decoded */
	bool held_seen[VS_MAX_VQS];
	const uint8_t *rings;          /**< RINGS payload, checked once VQS is known */
	uint32_t rings_len;
	char *err;
	size_t errlen;
};

static void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

#define FAIL(d, rc, ...) (set_err((d)->err, (d)->errlen, __VA_ARGS__), (rc))

static const char *
tag_name(uint16_t tag)
{
	if (tag < sizeof(tag_names) / sizeof(tag_names[0]) && tag_names[tag] != NULL)
		return tag_names[tag];
	return "unknown";
}

static int
bad_len(struct dec *d, uint16_t tag, uint32_t len, uint32_t want)
{
	return FAIL(d, -EBADMSG, "malformed %s section: %" PRIu32 " bytes, expected %" PRIu32,
		    tag_name(tag), len, want);
}

static int
dec_features(struct dec *d, const uint8_t *p, uint32_t len)
{
	if (len != FEATURES_LEN)
		return bad_len(d, VS_DEVSTATE_TAG_FEATURES, len, FEATURES_LEN);
	d->ds->features = get_le64(p);
	d->ds->status = p[8];
	return 0;
}

static int
dec_config(struct dec *d, const uint8_t *p, uint32_t len)
{
	struct vs_dev_config *c = &d->ds->config;

	if (len != CONFIG_LEN)
		return bad_len(d, VS_DEVSTATE_TAG_CONFIG, len, CONFIG_LEN);
	memcpy(c->mac, p, 6);
	c->status = get_le16(p + 6);
	c->mtu = get_le16(p + 8);
	c->max_vq_pairs = get_le16(p + 10);
	return 0;
}

static int
dec_vqs(struct dec *d, const uint8_t *p, uint32_t len)
{
	uint16_t n, i;

	if (len < 2)
		return bad_len(d, VS_DEVSTATE_TAG_VQS, len, 2);
	n = get_le16(p);
	if (n > VS_MAX_VQS)
		return FAIL(d, -EINVAL, "nb_vqs %u out of range (at most %u)", n, VS_MAX_VQS);
	if (len != 2 + (uint32_t)VQ_ENTRY_LEN * n)
		return bad_len(d, VS_DEVSTATE_TAG_VQS, len, 2 + (uint32_t)VQ_ENTRY_LEN * n);
	d->ds->nb_vqs = n;
	for (i = 0, p += 2; i < n; i++, p += VQ_ENTRY_LEN) {
		d->ds->vq[i].st.avail_idx = get_le16(p);
		d->ds->vq[i].st.used_idx = get_le16(p + 2);
	}
	return 0;
}

/*
 * Walk the frames of a HELD section, storing those that fit in d->frames; the caller
 * checks afterwards that all of them did. Walking to the end first means a malformed
 * section is reported as such rather than as a lack of room.
 */
static int
dec_held_frames(struct dec *d, uint16_t vq, uint16_t count, const uint8_t *p, uint32_t len)
{
	uint32_t off = HELD_HDR_LEN;
	uint16_t i;

	for (i = 0; i < count; i++) {
		uint16_t flen;

		if (len - off < FRAME_HDR_LEN)
			return FAIL(d, -EBADMSG, "malformed held frames of vq %u: frame %u of %u "
				    "truncated", vq, i, count);
		flen = get_le16(p + off);
		off += FRAME_HDR_LEN;
		if (flen > VS_DEVSTATE_MAX_FRAME)
			return FAIL(d, -EINVAL, "held frame %u of vq %u is %u bytes (at most %u)",
				    i, vq, flen, VS_DEVSTATE_MAX_FRAME);
		if (len - off < flen)
			return FAIL(d, -EBADMSG, "malformed held frames of vq %u: frame %u says "
				    "%u bytes, %" PRIu32 " left", vq, i, flen, len - off);
		if (d->nb_frames + i < d->max_frames) {
			d->frames[d->nb_frames + i].len = flen;
			d->frames[d->nb_frames + i].data = p + off;
		}
		off += flen;
	}
	if (off != len)
		return FAIL(d, -EBADMSG, "malformed held frames of vq %u: %" PRIu32
			    " trailing bytes", vq, len - off);
	return 0;
}

static int
dec_held(struct dec *d, const uint8_t *p, uint32_t len)
{
	struct vs_devstate_vq *v;
	uint16_t vq, count;
	int rc;

	if (len < HELD_HDR_LEN)
		return bad_len(d, VS_DEVSTATE_TAG_HELD, len, HELD_HDR_LEN);
	vq = get_le16(p);
	count = get_le16(p + 2);
	if (vq >= VS_MAX_VQS)
		return FAIL(d, -EINVAL, "held frames for vq %u out of range (at most %u vqs)",
			    vq, VS_MAX_VQS);
	if (d->held_seen[vq])
		return FAIL(d, -EBADMSG, "duplicate held frames section for vq %u", vq);
	if (count > VS_DEVSTATE_MAX_HELD)
		return FAIL(d, -EINVAL, "vq %u holds %u frames (at most %u)", vq, count,
			    VS_DEVSTATE_MAX_HELD);
	rc = dec_held_frames(d, vq, count, p, len);
	if (rc < 0)
		return rc;
	if (count > d->max_frames - d->nb_frames)
		return FAIL(d, -ENOSPC, "blob holds more frames than the %u the caller has "
			    "room for", d->max_frames);
	d->held_seen[vq] = true;
	v = &d->ds->vq[vq];
	v->nb_held = count;
	v->held = count > 0 ? &d->frames[d->nb_frames] : NULL;
	d->nb_frames += count;
	return 0;
}

static int
dec_counters(struct dec *d, const uint8_t *p, uint32_t len)
{
	struct vs_devstate_counters *c = &d->ds->counters;

	if (len != COUNTERS_LEN)
		return bad_len(d, VS_DEVSTATE_TAG_COUNTERS, len, COUNTERS_LEN);
	c->rx_frames = get_le64(p);
	c->tx_frames = get_le64(p + 8);
	c->held_drops = get_le64(p + 16);
	c->stops = get_le64(p + 24);
	c->resumes = get_le64(p + 32);
	return 0;
}

/* One section whose payload @p of @len bytes is known to lie inside the blob. */
static int
dec_section(struct dec *d, uint16_t tag, uint16_t flags, const uint8_t *p, uint32_t len,
	    size_t off)
{
	switch (tag) {
	case VS_DEVSTATE_TAG_HELD:
		/* Several allowed, one per vq: dec_held() refuses duplicates. */
		return dec_held(d, p, len);
	case VS_DEVSTATE_TAG_FEATURES:
	case VS_DEVSTATE_TAG_CONFIG:
	case VS_DEVSTATE_TAG_VQS:
	case VS_DEVSTATE_TAG_COUNTERS:
	case VS_DEVSTATE_TAG_RINGS:
		if (d->seen & (1u << tag))
			return FAIL(d, -EBADMSG, "duplicate %s section at offset %zu",
				    tag_name(tag), off);
		d->seen |= 1u << tag;
		break;
	default:
		if (flags & VS_DEVSTATE_SEC_OPTIONAL)
			return 0;
		return FAIL(d, -EBADMSG, "unknown mandatory section tag %u (flags 0x%x) at "
			    "offset %zu", tag, flags, off);
	}
	switch (tag) {
	case VS_DEVSTATE_TAG_FEATURES:
		return dec_features(d, p, len);
	case VS_DEVSTATE_TAG_CONFIG:
		return dec_config(d, p, len);
	case VS_DEVSTATE_TAG_VQS:
		return dec_vqs(d, p, len);
	case VS_DEVSTATE_TAG_RINGS:
		/* Sections may come in any order: checked against VQS in dec_finish(). */
		d->rings = p;
		d->rings_len = len;
		return 0;
	default:
		return dec_counters(d, p, len);
	}
}

/* Sections in [VS_DEVSTATE_HDR_LEN, total); the header was checked already. */
static int
dec_body(struct dec *d, const uint8_t *buf, size_t total)
{
	size_t off = VS_DEVSTATE_HDR_LEN;
	int rc;

	while (off < total) {
		size_t rem = total - off;
		uint16_t tag, flags;
		uint32_t slen;

		if (rem < VS_DEVSTATE_SEC_HDR_LEN)
			return FAIL(d, -EBADMSG, "malformed: %zu stray bytes at offset %zu, a "
				    "section header needs %u", rem, off, VS_DEVSTATE_SEC_HDR_LEN);
		tag = get_le16(buf + off);
		flags = get_le16(buf + off + 2);
		slen = get_le32(buf + off + 4);
		if (slen > rem - VS_DEVSTATE_SEC_HDR_LEN)
			return FAIL(d, -EBADMSG, "malformed: section tag %u at offset %zu says "
				    "%" PRIu32 " bytes, only %zu left", tag, off, slen,
				    rem - VS_DEVSTATE_SEC_HDR_LEN);
		rc = dec_section(d, tag, flags, buf + off + VS_DEVSTATE_SEC_HDR_LEN, slen, off);
		if (rc < 0)
			return rc;
		off += VS_DEVSTATE_SEC_HDR_LEN + slen;
	}
	return 0;
}

/* P1: every vq's layout is the one the features say, and its wrap counters agree. */
static int
dec_rings(struct dec *d)
{
	const uint8_t *p = d->rings;
	bool packed = vs_devstate_packed(d->ds);
	uint16_t n, i;

	if (d->rings_len < 2)
		return bad_len(d, VS_DEVSTATE_TAG_RINGS, d->rings_len, 2);
	n = get_le16(p);
	if (n != d->ds->nb_vqs)
		return FAIL(d, -EINVAL, "ring layouts for %u vqs, the blob has %u", n,
			    d->ds->nb_vqs);
	if (d->rings_len != 2 + (uint32_t)RING_ENTRY_LEN * n)
		return bad_len(d, VS_DEVSTATE_TAG_RINGS, d->rings_len,
			       2 + (uint32_t)RING_ENTRY_LEN * n);
	for (i = 0, p += 2; i < n; i++, p += RING_ENTRY_LEN) {
		const struct vs_vq_state *st = &d->ds->vq[i].st;
		uint8_t want;

		if (p[0] != RING_LAYOUT_SPLIT && p[0] != RING_LAYOUT_PACKED)
			return FAIL(d, -EINVAL, "vq %u: unknown ring layout %u", i, p[0]);
		if ((p[0] == RING_LAYOUT_PACKED) != packed)
			return FAIL(d, -EINVAL, "vq %u: %s ring, but the features say %s rings",
				    i, p[0] == RING_LAYOUT_PACKED ? "packed" : "split",
				    packed ? "packed" : "split");
		want = !packed ? 0 :
		       (uint8_t)(((st->avail_idx >> 15) ? RING_WRAP_AVAIL : 0) |
				 ((st->used_idx >> 15) ? RING_WRAP_USED : 0));
		if (p[1] != want)
			return FAIL(d, -EINVAL, "vq %u: wrap counters 0x%x disagree with the "
				    "ring positions %u/%u (0x%x)", i, p[1], st->avail_idx,
				    st->used_idx, want);
	}
	return 0;
}

/* Whole-blob rules that no single section can check. */
static int
dec_finish(struct dec *d)
{
	static const uint16_t required[] = {
		VS_DEVSTATE_TAG_FEATURES, VS_DEVSTATE_TAG_CONFIG, VS_DEVSTATE_TAG_VQS,
	};
	unsigned int i;

	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (!(d->seen & (1u << required[i])))
			return FAIL(d, -EBADMSG, "missing %s section", tag_name(required[i]));
	/* Sections may come in any order, so this waits until nb_vqs is known. */
	for (i = d->ds->nb_vqs; i < VS_MAX_VQS; i++)
		if (d->held_seen[i])
			return FAIL(d, -EINVAL, "held frames for vq %u, but the blob has %u vqs",
				    i, d->ds->nb_vqs);
	return d->rings != NULL ? dec_rings(d) : 0;
}

/* Magic, version, lengths and crc. */
static int
dec_header(struct dec *d, const uint8_t *buf, size_t len)
{
	uint16_t version, hdr_len;
	uint32_t total, crc, want;

	if (len < VS_DEVSTATE_HDR_LEN)
		return FAIL(d, -EMSGSIZE, "truncated: %zu bytes, a header needs %u", len,
			    VS_DEVSTATE_HDR_LEN);
	if (memcmp(buf, VS_DEVSTATE_MAGIC, 8) != 0)
		return FAIL(d, -EBADMSG, "bad magic: not a vstop device state");
	version = get_le16(buf + OFF_VERSION);
	if (version != VS_DEVSTATE_VERSION)
		return FAIL(d, -EPROTO, "version %u not supported (this build reads %u)",
			    version, VS_DEVSTATE_VERSION);
	/*
	 * The crc does not cover the header's first 20 bytes, so each field there must be
	 * checked exactly: a version 1 header is 20 bytes and total_len is the blob's length.
	 */
	hdr_len = get_le16(buf + OFF_HDR_LEN);
	if (hdr_len != VS_DEVSTATE_HDR_LEN)
		return FAIL(d, -EBADMSG, "header length %u invalid (version %u uses %u)",
			    hdr_len, VS_DEVSTATE_VERSION, VS_DEVSTATE_HDR_LEN);
	total = get_le32(buf + OFF_TOTAL);
	if (total > len)
		return FAIL(d, -EMSGSIZE, "truncated: header says %" PRIu32 " bytes, got %zu",
			    total, len);
	if (total < len)
		return FAIL(d, -EMSGSIZE, "length mismatch: header says %" PRIu32
			    " bytes, got %zu", total, len);
	crc = get_le32(buf + OFF_CRC);
	want = vs_crc32c(0, buf + OFF_CRC + 4, total - (OFF_CRC + 4));
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	want = crc; /* fuzz builds only: let mutations reach the section parser */
#endif
	if (crc != want)
		return FAIL(d, -EBADMSG, "crc mismatch: blob says 0x%08" PRIx32
			    ", content gives 0x%08" PRIx32, crc, want);
	return 0;
}

int
vs_devstate_decode(const uint8_t *buf, size_t len, struct vs_devstate *ds,
		   struct vs_held_frame *frames, unsigned int max_frames,
		   char *err, size_t errlen)
{
	struct dec d = {
		.ds = ds,
		.frames = frames,
		.max_frames = frames != NULL ? max_frames : 0,
		.err = err,
		.errlen = errlen,
	};
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (ds == NULL || (buf == NULL && len > 0))
		return FAIL(&d, -EINVAL, "invalid arguments");
	if (buf == NULL)
		return FAIL(&d, -EMSGSIZE, "truncated: empty blob");
	memset(ds, 0, sizeof(*ds));
	rc = dec_header(&d, buf, len);
	if (rc == 0)
		rc = dec_body(&d, buf, len);
	if (rc == 0)
		rc = dec_finish(&d);
	return rc;
}

/* ---- compatibility ---- */

/* "3, 40, 41" for the set bits of @bits; truncated with "..." if @n is too small. */
static void
bits_str(uint64_t bits, char *s, size_t n)
{
	size_t used = 0;
	unsigned int b;

	s[0] = '\0';
	for (b = 0; b < 64; b++) {
		int w;

		if (!(bits & (UINT64_C(1) << b)))
			continue;
		w = snprintf(s + used, n - used, "%s%u", used > 0 ? ", " : "", b);
		if (w < 0 || (size_t)w >= n - used) {
			if (n >= 4)
				memcpy(s + n - 4, "...", 4);
			return;
		}
		used += (size_t)w;
	}
}

int
vs_devstate_compatible(const struct vs_devstate *ds, uint64_t offered, uint64_t negotiated,
		       char *err, size_t errlen)
{
	/* 64 bits of up to 2 digits + ", " fit in 256 bytes. */
	char a[256], b[256];
	uint64_t extra;

	if (ds == NULL) {
		set_err(err, errlen, "invalid arguments");
		return -EINVAL;
	}
	extra = ds->features & ~offered;
	if (extra != 0) {
		bits_str(extra, a, sizeof(a));
		set_err(err, errlen, "blob has feature bits this device does not offer: %s "
			"(blob 0x%" PRIx64 ", offered 0x%" PRIx64 ")", a, ds->features, offered);
		return -ENOTSUP;
	}
	if (negotiated != 0 &&
	    ((negotiated ^ ds->features) >> VS_DEVSTATE_F_RING_PACKED) & 1) {
		set_err(err, errlen, "blob is of a device with %s virtqueues, the driver "
			"negotiated %s ones (P1)", vs_devstate_packed(ds) ? "packed" : "split",
			vs_devstate_packed(ds) ? "split" : "packed");
		return -ENOTSUP;
	}
	if (negotiated != 0 && negotiated != ds->features) {
		bits_str(ds->features & ~negotiated, a, sizeof(a));
		bits_str(negotiated & ~ds->features, b, sizeof(b));
		set_err(err, errlen, "blob features 0x%" PRIx64 " differ from negotiated 0x%"
			PRIx64 " (only in blob: %s; only negotiated: %s)", ds->features,
			negotiated, a[0] ? a : "none", b[0] ? b : "none");
		return -ENOTSUP;
	}
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	return 0;
}
