/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef FE_BLOB_H
#define FE_BLOB_H

/**
 * @file
 * What the front end knows of vstop's device state blob (lib/vs_devstate.h, M1): the
 * header, enough to check a saved blob and to damage one on purpose (M3 probes). The
 * front end treats the body as opaque.
 *
 *   header { magic "VSTOPDS\0" (8), u16 version, u16 header_len, u32 total_len,
 *            u32 crc32c } ; crc32c covers everything after the crc field.
 */

#include <stddef.h>
#include <stdint.h>

#define FE_BLOB_HDR_LEN   20
#define FE_BLOB_OFF_VER   8
#define FE_BLOB_OFF_HLEN  10
#define FE_BLOB_OFF_TLEN  12
#define FE_BLOB_OFF_CRC   16

enum fe_corrupt {
	FE_CORRUPT_NONE = 0,
	FE_CORRUPT_FLIP,      /**< flip one body byte: crc mismatch */
	FE_CORRUPT_TRUNCATE,  /**< send only half of it */
	FE_CORRUPT_VERSION,   /**< another version, crc fixed up */
	FE_CORRUPT_MAGIC,     /**< wrong magic */
};

/** CRC-32C (Castagnoli), reflected, init and final xor 0xffffffff. */
uint32_t fe_crc32c(const void *data, size_t len);

/**
 * Check the header of a blob: magic, lengths, crc. @return 0, or -EBADMSG with a reason
 * in @p why.
 */
int fe_blob_check(const uint8_t *b, size_t len, uint16_t *version, char *why, size_t wlen);

/** Damage @p b in place (length may shrink). */
void fe_blob_corrupt(uint8_t *b, size_t *len, enum fe_corrupt how);
const char *fe_corrupt_name(enum fe_corrupt how);
int fe_corrupt_parse(const char *s, enum fe_corrupt *how);

#endif /* FE_BLOB_H */
