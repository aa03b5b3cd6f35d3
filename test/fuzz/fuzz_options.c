/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness: vstop's application command line (app/options.c). The input is split
 * into arguments at NUL bytes. Any input: no crash; a command line accepted is in range.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *argv[64];
	struct app_opts o;
	int argc = 0;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[argc++] = "vstop";
	for (size_t i = 0; i < size && argc < 63; ) {
		argv[argc++] = &buf[i];
		i += strlen(&buf[i]) + 1;
	}
	argv[argc] = NULL;
	optind = 0; /* glibc: full getopt re-initialisation */
	opterr = 0;
	memset(&o, 0, sizeof(o));
	if (opts_parse(argc, argv, &o) == 0) {
		if (o.nb_vhost > OPT_MAX_VHOST || o.nb_lmap > OPT_MAX_LCORE_MAP)
			abort();
		for (unsigned int i = 0; i < o.nb_vhost; i++)
			if (o.vhost[i].queues == 0 || o.vhost[i].queues > OPT_MAX_QUEUES ||
			    strnlen(o.vhost[i].path, OPT_PATH_MAX) == OPT_PATH_MAX)
				abort();
	}
	free(buf);
	return 0;
}
