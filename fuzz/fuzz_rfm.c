/*
 * fuzz_rfm.c — libFuzzer driver for the transactions reader of `offerctl
 * train` (rfm_read_mem: csvread with a fixed comma, the column map, the
 * row checks and the interning), then the segmentation when it read.
 *
 * Whatever the bytes, the reader returns 0, ERR_INVAL or ERR_TOOBIG; on 0
 * it kept no more rows than it read, every customer has an id, and the
 * segmentation runs.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz.h"
#include "rfm.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rfm_data d;
	int rc;

	rfm_data_init(&d);
	rc = rfm_read_mem(&d, (const char *)data, size);
	if (rc != 0 && rc != ERR_INVAL && rc != ERR_TOOBIG)
		abort();
	if (rc == 0) {
		if (d.nrows > (size_t)d.read.rows || (d.nrows > 0 && d.ncustomers == 0))
			abort();
		for (size_t i = 0; i < d.ncustomers; i++) {
			if (d.customers[i].id == NULL || d.customers[i].id[0] == '\0')
				abort();
		}
		(void)rfm_segment(&d);
	}
	rfm_data_free(&d);
	return 0;
}
