/*
 * fuzz_date.c — libFuzzer driver for the timestamp parser
 * (request_parse_date).
 *
 * The parser takes a C string, so the input is cut at its first NUL. An
 * accepted date is checked against the C library: the calendar date must
 * exist (timegm round trip) and the weekday must match.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "request.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	req_date d;
	int rc;

	if (size > 256)
		return 0;
	s = xstrndup((const char *)data, size);
	memset(&d, 0, sizeof(d));
	rc = request_parse_date(s, &d);
	if (rc != 0 && rc != ERR_INVAL)
		abort();
	if (rc == 0) {
		struct tm tm;
		time_t t;

		memset(&tm, 0, sizeof(tm));
		tm.tm_year = d.year - 1900;
		tm.tm_mon = d.month - 1;
		tm.tm_mday = d.day;
		tm.tm_hour = 12;
		t = timegm(&tm);
		memset(&tm, 0, sizeof(tm));
		gmtime_r(&t, &tm);
		if (tm.tm_year != d.year - 1900 || tm.tm_mon != d.month - 1 || tm.tm_mday != d.day ||
		    tm.tm_wday != d.weekday)
			abort();
		/* The date part is fixed-width digits; what follows is a time. */
		if (strlen(s) < 10)
			abort();
	}
	free(s);
	return 0;
}
