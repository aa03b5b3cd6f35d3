/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness: the device-state blob parser (M3). Any input: no crash, no read out
 * of bounds; whatever decodes must re-encode to a blob that decodes to the same state.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vs_devstate.h"

static struct vs_held_frame frames[4 * VS_DEVSTATE_MAX_HELD];
static struct vs_held_frame frames2[4 * VS_DEVSTATE_MAX_HELD];
static struct vs_devstate ds, ds2;
static uint8_t out[1 << 20];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	long n;

	if (vs_devstate_decode(data, size, &ds, frames, RTE_DIM(frames), err, sizeof(err)) != 0)
		return 0;
	vs_devstate_compatible(&ds, ~0ull, 0, err, sizeof(err));
	n = vs_devstate_encode(&ds, out, sizeof(out));
	if (n < 0)
		abort(); /* a state we accepted must be encodable */
	if (vs_devstate_decode(out, n, &ds2, frames2, RTE_DIM(frames2), err, sizeof(err)) != 0)
		abort();
	if (ds2.features != ds.features || ds2.status != ds.status || ds2.nb_vqs != ds.nb_vqs ||
	    memcmp(&ds2.config, &ds.config, sizeof(ds.config)) != 0)
		abort();
	for (unsigned int v = 0; v < ds.nb_vqs; v++) {
		if (ds2.vq[v].st.avail_idx != ds.vq[v].st.avail_idx ||
		    ds2.vq[v].nb_held != ds.vq[v].nb_held)
			abort();
		for (unsigned int f = 0; f < ds.vq[v].nb_held; f++)
			if (ds2.vq[v].held[f].len != ds.vq[v].held[f].len ||
			    memcmp(ds2.vq[v].held[f].data, ds.vq[v].held[f].data,
				   ds.vq[v].held[f].len) != 0)
				abort();
	}
	return 0;
}
