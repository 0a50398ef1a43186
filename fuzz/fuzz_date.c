/*
 * fuzz_date.c — libFuzzer driver for the date module (date.c): the request
 * parser (date_parse) and the transaction-export parser (date_parse_export).
 *
 * The parsers take a C string, so the input is cut at its first NUL. An
 * accepted date is checked against the C library: the calendar date must
 * exist (timegm round trip) and the weekday must match; its day number must
 * come back as the same date (date_days / date_from_days).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz.h"
#include "date.h"
#include "util.h"

static void check(const date_ymd *d)
{
	struct tm tm;
	time_t t;
	date_ymd back;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = d->year - 1900;
	tm.tm_mon = d->month - 1;
	tm.tm_mday = d->day;
	tm.tm_hour = 12;
	t = timegm(&tm);
	memset(&tm, 0, sizeof(tm));
	gmtime_r(&t, &tm);
	if (tm.tm_year != d->year - 1900 || tm.tm_mon != d->month - 1 || tm.tm_mday != d->day ||
	    tm.tm_wday != d->weekday)
		abort();
	date_from_days(date_days(d), &back);
	if (memcmp(&back, d, sizeof(back)) != 0)
		abort();
	if (date_month_name(d->month) == NULL || date_weekday_name(d->weekday) == NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	date_ymd d;
	int rc;

	if (size > 256)
		return 0;
	s = xstrndup((const char *)data, size);
	memset(&d, 0, sizeof(d));
	rc = date_parse(s, &d);
	if (rc != 0 && rc != ERR_INVAL)
		abort();
	if (rc == 0) {
		check(&d);
		/* The date part is fixed-width digits; what follows is a time. */
		if (strlen(s) < 10)
			abort();
	}
	memset(&d, 0, sizeof(d));
	rc = date_parse_export(s, &d);
	if (rc != 0 && rc != ERR_INVAL)
		abort();
	if (rc == 0) {
		check(&d);
		if (d.year < 1900 || d.year > 2200)
			abort();
	}
	free(s);
	return 0;
}
