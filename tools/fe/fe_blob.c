/* SPDX-License-Identifier: BSD-3-Clause */
/* Device state blob header checks and deliberate damage (M1, M3 probes). */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fe.h"
#include "fe_blob.h"

static const uint8_t fe_blob_magic[8] = { 'V', 'S', 'T', 'O', 'P', 'D', 'S', 0 };

uint32_t
fe_crc32c(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t crc = 0xffffffffu;
	int k;

	/* Bitwise: the blob is small and this runs once per migration. */
	while (len--) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	return ~crc;
}

static uint32_t
get_le(const uint8_t *p, int n)
{
	uint32_t v = 0;
	int i;

	for (i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void
put_le(uint8_t *p, uint32_t v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		p[i] = v >> (8 * i);
}

int
fe_blob_check(const uint8_t *b, size_t len, uint16_t *version, char *why, size_t wlen)
{
	uint32_t tlen, crc, want;
	uint16_t hlen;

	if (len < FE_BLOB_HDR_LEN) {
		snprintf(why, wlen, "blob of %zu bytes is shorter than its header", len);
		return -EBADMSG;
	}
	if (memcmp(b, fe_blob_magic, sizeof(fe_blob_magic)) != 0) {
		snprintf(why, wlen, "bad magic");
		return -EBADMSG;
	}
	*version = get_le(b + FE_BLOB_OFF_VER, 2);
	hlen = get_le(b + FE_BLOB_OFF_HLEN, 2);
	tlen = get_le(b + FE_BLOB_OFF_TLEN, 4);
	crc = get_le(b + FE_BLOB_OFF_CRC, 4);
	if (hlen < FE_BLOB_HDR_LEN || hlen > len) {
		snprintf(why, wlen, "header_len %u out of range", hlen);
		return -EBADMSG;
	}
	if (tlen != len) {
		snprintf(why, wlen, "total_len %u but %zu bytes transferred", tlen, len);
		return -EBADMSG;
	}
	want = fe_crc32c(b + FE_BLOB_OFF_CRC + 4, len - FE_BLOB_OFF_CRC - 4);
	if (crc != want) {
		snprintf(why, wlen, "crc32c 0x%08x, computed 0x%08x", crc, want);
		return -EBADMSG;
	}
	return 0;
}

void
fe_blob_corrupt(uint8_t *b, size_t *len, enum fe_corrupt how)
{
	uint32_t crc;

	switch (how) {
	case FE_CORRUPT_FLIP:
		if (*len > FE_BLOB_HDR_LEN)
			b[FE_BLOB_HDR_LEN + (*len - FE_BLOB_HDR_LEN) / 2] ^= 0x5a;
		else if (*len)
			b[*len - 1] ^= 0x5a;
		break;
	case FE_CORRUPT_TRUNCATE:
		*len /= 2;
		break;
	case FE_CORRUPT_VERSION:
		if (*len < FE_BLOB_HDR_LEN)
			break;
		put_le(b + FE_BLOB_OFF_VER, get_le(b + FE_BLOB_OFF_VER, 2) + 100, 2);
		crc = fe_crc32c(b + FE_BLOB_OFF_CRC + 4, *len - FE_BLOB_OFF_CRC - 4);
		put_le(b + FE_BLOB_OFF_CRC, crc, 4);
		break;
	case FE_CORRUPT_MAGIC:
		if (*len)
			b[0] ^= 0xff;
		break;
	default:
		break;
	}
}

static const char *const corrupt_names[] = {
	[FE_CORRUPT_NONE] = "none",
	[FE_CORRUPT_FLIP] = "flip",
	[FE_CORRUPT_TRUNCATE] = "truncate",
	[FE_CORRUPT_VERSION] = "version",
	[FE_CORRUPT_MAGIC] = "magic",
};

const char *
fe_corrupt_name(enum fe_corrupt how)
{
	return how < FE_DIM(corrupt_names) ? corrupt_names[how] : "?";
}

int
fe_corrupt_parse(const char *s, enum fe_corrupt *how)
{
	unsigned int i;

	for (i = 0; i < FE_DIM(corrupt_names); i++) {
		if (strcmp(s, corrupt_names[i]) == 0) {
			*how = i;
			return 0;
		}
	}
	return -EINVAL;
}
