/*
 * fuzz_date.c — libFuzzer driver for the date module (date.c): the request
 * parser (date_parse), the instant (date_time_parse, date_time_utc,
 * date_time_format) and the transaction-export parser (date_parse_export).
 *
 * The parsers take a C string, so the input is cut at its first NUL. An
 * accepted date is checked against the C library: the calendar date must
 * exist (timegm round trip) and the weekday must match; its day number must
 * come back as the same date (date_days / date_from_days). An accepted
 * date-time's instant is the C library's (timegm of its fields, less its
 * zone), and its text parses back to the same instant, as does its text as
 * a row's time (date_stamp_format, date_stamp_parse) with its milliseconds.
 * As the end of a window of the log (date_window_parse), an accepted window
 * runs forward, its bounds are rows' times that read back as written, and
 * the input at both ends is one day when it is a date and refused (empty)
 * when it is a date-time.
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

static void check_instant(const char *s)
{
	date_time t, back;
	struct tm tm;
	char text[DATE_TIME_TEXT_LEN];
	int64_t utc;

	if (date_time_parse(s, &t) != 0)
		return;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = t.date.year - 1900;
	tm.tm_mon = t.date.month - 1;
	tm.tm_mday = t.date.day;
	tm.tm_hour = t.hour;
	tm.tm_min = t.minute;
	tm.tm_sec = t.second;
	utc = date_time_utc(&t);
	if (utc != (int64_t)timegm(&tm) - t.offset)
		abort();
	/* A zone can move the instant out of years 1..9999, which have no text. */
	if (t.date.year == 1 || t.date.year == 9999)
		return;
	date_time_format(utc, text);
	if (date_time_parse(text, &back) != 0 || date_time_utc(&back) != utc)
		abort();
	if (t.millis < 0 || t.millis > 999)
		abort();
	{
		char stamp[DATE_STAMP_LEN];
		int64_t t2;
		int ms2;

		date_stamp_format(utc, t.millis, stamp);
		if (date_stamp_parse(stamp, &t2, &ms2) != 0 || t2 != utc || ms2 != t.millis)
			abort();
	}
}

/* A bound is a row's time that reads back as it is written. */
static void check_bound(const char *b)
{
	char again[DATE_STAMP_LEN];
	int64_t t;
	int ms;

	if (strlen(b) != DATE_STAMP_LEN - 1 || date_stamp_parse(b, &t, &ms) != 0)
		abort();
	date_stamp_format(t, ms, again);
	if (strcmp(again, b) != 0)
		abort();
}

static void check_window(const char *s)
{
	date_window w;
	const char *field;
	char err[160];
	int rc;

	for (int end = 0; end < 3; end++) {
		rc = date_window_parse(end != 1 ? s : NULL, end != 0 ? s : NULL, &w, &field, err,
		                       sizeof(err));
		if (rc != 0 && rc != ERR_INVAL)
			abort();
		if (rc != 0) {
			/* Both ends at one instant hold no time; else only text can fail. */
			if (strcmp(field, "from") != 0 && strcmp(field, "to") != 0)
				abort();
			if (end == 2 && strlen(s) == 10 &&
			    date_window_parse(s, NULL, &w, &field, err, sizeof(err)) == 0)
				abort(); /* a date both ends is that day */
			continue;
		}
		check_bound(w.from);
		check_bound(w.to);
		if (strcmp(w.from, w.to) >= 0)
			abort();
		if (end == 2 && s[0] != '\0' && strlen(s) != 10)
			abort(); /* a date-time both ends is an empty window ("" is open) */
	}
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
	check_instant(s);
	check_window(s);
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
