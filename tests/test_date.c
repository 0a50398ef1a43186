/*
 * test_date.c — the date module: every form date_parse() accepts and
 * refuses (plain dates, leap years, ISO 8601 date-times with zones), the
 * transaction-export form of offerctl train (date_parse_export: the shared
 * file's and the UCI original's), day numbers both ways, the names and the
 * half of the month that state keys are made of, a row's time in either
 * store's text (date_stamp_parse), and a window of the log from what a user
 * writes (date_window_parse: days taken in, instants in UTC, empty windows).
 *
 * Public API only; links against build/liboffer.a.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <string.h>

#include "date.h"
#include "util.h"

/* --- dates ------------------------------------------------------------------------ */

static void date_ok(const char *s, int y, int m, int d, int wd)
{
	date_ymd out;

	memset(&out, 0xff, sizeof(out));
	if (date_parse(s, &out) != 0)
		fail_msg("date \"%s\" rejected", s);
	if (out.year != y || out.month != m || out.day != d || out.weekday != wd)
		fail_msg("date \"%s\" -> %d-%d-%d wd %d, want %d-%d-%d wd %d", s, out.year, out.month,
		         out.day, out.weekday, y, m, d, wd);
}

static void date_bad(const char *s)
{
	date_ymd out;

	if (date_parse(s, &out) != ERR_INVAL)
		fail_msg("date \"%s\" accepted", s);
}

static void test_dates_plain(void **state)
{
	(void)state;
	date_ok("2022-01-01", 2022, 1, 1, 6);  /* Saturday */
	date_ok("2022-01-11", 2022, 1, 11, 2); /* Tuesday */
	date_ok("2018-12-11", 2018, 12, 11, 2);
	date_ok("1970-01-01", 1970, 1, 1, 4); /* Thursday */
	date_ok("1900-01-01", 1900, 1, 1, 1); /* Monday (Company B's placeholder) */
	date_ok("0001-01-01", 1, 1, 1, 1);    /* proleptic Gregorian Monday */
	date_ok("9999-12-31", 9999, 12, 31, 5);
	date_ok("2023-12-31", 2023, 12, 31, 0); /* Sunday */
	date_ok("2022-04-30", 2022, 4, 30, 6);
	date_bad("2022-04-31");
	date_bad("2022-13-01");
	date_bad("2022-00-10");
	date_bad("2022-01-00");
	date_bad("2022-01-32");
	date_bad("0000-01-01");
	date_bad("2022-1-01");
	date_bad("2022/01/01");
	date_bad("20220101");
	date_bad("22-01-01");
	date_bad("");
	date_bad("2022-01-0");
	date_bad("+022-01-01");
	date_bad("2022-01-01x");
	date_bad("2022-01-01 ");
	date_bad(" 2022-01-01");
}

static void test_dates_leap(void **state)
{
	(void)state;
	date_ok("2024-02-29", 2024, 2, 29, 4); /* divisible by 4 */
	date_ok("2000-02-29", 2000, 2, 29, 2); /* by 400 */
	date_ok("2400-02-29", 2400, 2, 29, 2);
	date_ok("2023-02-28", 2023, 2, 28, 2);
	date_ok("2024-03-01", 2024, 3, 1, 5);
	date_bad("2023-02-29");
	date_bad("1900-02-29"); /* by 100, not by 400 */
	date_bad("2100-02-29");
	date_bad("2024-02-30");
}

static void test_dates_times(void **state)
{
	(void)state;
	date_ok("2022-01-01T10:20", 2022, 1, 1, 6);
	date_ok("2022-01-01T10:20:30", 2022, 1, 1, 6);
	date_ok("2022-01-01 10:20:30", 2022, 1, 1, 6);
	date_ok("2022-01-01t10:20:30z", 2022, 1, 1, 6);
	date_ok("2022-01-01T10:20:30Z", 2022, 1, 1, 6);
	date_ok("2022-01-01T10:20:30.123Z", 2022, 1, 1, 6);
	date_ok("2022-01-01T10:20:30,5Z", 2022, 1, 1, 6);
	date_ok("2022-01-01T10:20:30.123456789+05:30", 2022, 1, 1, 6);
	date_ok("2022-01-01T10:20:30-0800", 2022, 1, 1, 6);
	date_ok("2022-01-01T10:20+01:00", 2022, 1, 1, 6);
	date_ok("2022-01-01 10:20:30.5+00", 2022, 1, 1, 6); /* PostgreSQL's text */
	date_ok("2016-12-31T23:59:60Z", 2016, 12, 31, 6);   /* a leap second */
	/* The date as the client wrote it, not converted to UTC. */
	date_ok("2022-01-01T23:30:00-05:00", 2022, 1, 1, 6);
	date_ok("2022-01-01T00:30:00+09:00", 2022, 1, 1, 6);
	date_bad("2022-01-01T");
	date_bad("2022-01-01T10");
	date_bad("2022-01-01T10:2");
	date_bad("2022-01-01T1:20");
	date_bad("2022-01-01T24:00");
	date_bad("2022-01-01T10:60");
	date_bad("2022-01-01T10:20:61");
	date_bad("2022-01-01T10:20:3");
	date_bad("2022-01-01T10:20:30.");
	date_bad("2022-01-01T10:20:30.Z");
	date_bad("2022-01-01T10:20:30ZZ");
	date_bad("2022-01-01T10:20:30+24:00");
	date_bad("2022-01-01T10:20:30+05:60");
	date_bad("2022-01-01T10:20:30+5:00");
	date_bad("2022-01-01T10:20:30+05:0");
	date_bad("2022-01-01T10:20:30+5");
	date_bad("2022-01-01T10:20:30+05x");
	date_bad("2022-01-01T10:20:30+05:");
	date_bad("2022-01-01T10:20:30 +05:00");
	date_bad("2022-01-01X10:20");
	date_bad("2022-01-01T10:20:30UTC");
}

/* Instants: the zone applied (Personalizer's evaluation windows). */
static void test_date_time_utc(void **state)
{
	date_time t;
	char out[DATE_TIME_TEXT_LEN];

	(void)state;
	assert_int_equal(date_time_parse("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(date_time_utc(&t), 0);
	assert_int_equal(date_time_parse("2019-01-19", &t), 0);
	assert_int_equal(date_time_utc(&t), 1547856000);
	assert_int_equal(date_time_parse("2019-01-19T02:00:00+02:00", &t), 0);
	assert_int_equal(t.hour, 2);
	assert_int_equal(t.offset, 7200);
	assert_int_equal(date_time_utc(&t), 1547856000);
	assert_int_equal(date_time_parse("2019-01-18T19:30:00.123-0430", &t), 0);
	assert_int_equal(date_time_utc(&t), 1547856000);
	assert_int_equal(date_time_parse("1969-12-31T23:59:59Z", &t), 0);
	assert_int_equal(date_time_utc(&t), -1);
	assert_int_equal(date_time_parse("2022-01-01T10:20:30ZZ", &t), ERR_INVAL);
	/* The fraction to the millisecond; a store's time in either store's text. */
	assert_int_equal(date_time_parse("2026-12-03 23:30:00.123456+02", &t), 0);
	assert_int_equal(t.millis, 123);
	assert_int_equal(t.offset, 7200);
	{
		char stamp[DATE_STAMP_LEN];

		date_stamp_format(date_time_utc(&t), t.millis, stamp);
		assert_string_equal(stamp, "2026-12-03T21:30:00.123Z");
		assert_int_equal(date_time_parse("2026-12-03T21:30:00.5Z", &t), 0);
		assert_int_equal(t.millis, 500);
		assert_int_equal(date_time_parse("2026-12-03T21:30:00Z", &t), 0);
		assert_int_equal(t.millis, 0);
		date_stamp_format(DATE_TIME_MAX, 999, stamp);
		assert_string_equal(stamp, "9999-12-31T23:59:59.999Z");
	}

	date_time_format(1547856000 + 3723, out);
	assert_string_equal(out, "2019-01-19T01:02:03Z");
	date_time_format(951782400, out); /* leap day 2000 */
	assert_string_equal(out, "2000-02-29T00:00:00Z");
	{
		/* The next day, and none after the calendar's last. */
		date_ymd d, next;

		assert_int_equal(date_make(2024, 2, 28, &d), 0);
		assert_int_equal(date_next(&d, &next), 0);
		assert_int_equal(next.month * 100 + next.day, 229);
		assert_int_equal(date_make(9999, 12, 30, &d), 0);
		assert_int_equal(date_next(&d, &next), 0);
		assert_int_equal(next.day, 31);
		assert_int_equal(date_next(&next, &d), ERR_RANGE);
	}
	date_time_format(-1, out);
	assert_string_equal(out, "1969-12-31T23:59:59Z");
	date_time_format(DATE_TIME_MAX, out);
	assert_string_equal(out, "9999-12-31T23:59:59Z");
	date_time_format(DATE_TIME_MIN, out);
	assert_string_equal(out, "0001-01-01T00:00:00Z");
}

/* A row's time in either store's text: the same instant, or refused. */
static void stamp_is(const char *text, int64_t want, int want_ms)
{
	int64_t got = 0;
	int ms = -1;

	if (date_stamp_parse(text, &got, &ms) != 0)
		fail_msg("\"%s\" refused", text);
	if (got != want || ms != want_ms)
		fail_msg("\"%s\": %lld.%03d, want %lld.%03d", text, (long long)got, ms, (long long)want,
		         want_ms);
}

static void test_stamps(void **state)
{
	/* 2026-12-03T22:04:05Z */
	const int64_t t0 = 1796335445;
	const char *bad[] = {"",
	                     "2026-12-03",
	                     "2026/12/03 22:04:05",
	                     "2026-12-03x22:04:05",
	                     "2026-12-03 22:4:05",
	                     "20x6-12-03 22:04:05",
	                     "2026-12-03 22:04:05 UTC",
	                     "2026-12-03 22:04:05+5",
	                     "2026-12-03 22:04:0"};
	int64_t t;
	int ms;

	(void)state;
	stamp_is("2026-12-03T22:04:05.123Z", t0, 123); /* SQLite's default */
	stamp_is("2026-12-03T22:04:05Z", t0, 0);
	stamp_is("2026-12-03 22:04:05.123456+00", t0, 123); /* PostgreSQL, TimeZone UTC */
	stamp_is("2026-12-04 03:34:05.5+05:30", t0, 500);   /* TimeZone Asia/Kolkata */
	stamp_is("2026-12-03 14:04:05-08", t0, 0);          /* TimeZone America/Los_Angeles */
	stamp_is("2026-12-03 22:04:05", t0, 0);             /* no zone: UTC */
	stamp_is("2026-12-03 22:04", t0 - 5, 0);            /* minute only */
	stamp_is("2024-02-29T00:00:00Z", 1709164800, 0);    /* a leap day */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (date_stamp_parse(bad[i], &t, &ms) == 0)
			fail_msg("\"%s\" accepted as %lld", bad[i], (long long)t);
	}
	assert_int_equal(date_stamp_parse(NULL, &t, &ms), ERR_INVAL);
}

/* A window of the log from what a user writes. */
static void window_is(const char *from, const char *to, const char *want_from, const char *want_to)
{
	date_window w;
	const char *field = NULL;
	char err[160] = "";

	if (date_window_parse(from, to, &w, &field, err, sizeof(err)) != 0)
		fail_msg("[%s, %s] refused: %s", from, to, err);
	if (strcmp(w.from, want_from) != 0 || strcmp(w.to, want_to) != 0)
		fail_msg("[%s, %s] -> [%s, %s), want [%s, %s)", from, to, w.from, w.to, want_from,
		         want_to);
}

static void window_bad(const char *from, const char *to, const char *want_field, const char *want)
{
	date_window w;
	const char *field = NULL;
	char err[160] = "";

	if (date_window_parse(from, to, &w, &field, err, sizeof(err)) != ERR_INVAL)
		fail_msg("[%s, %s] accepted", from, to);
	if (strcmp(field, want_field) != 0 || strstr(err, want) == NULL)
		fail_msg("[%s, %s]: %s: %s", from, to, field, err);
}

static void test_window(void **state)
{
	(void)state;
	/* A day is its start; the last day is taken in, up to the next day's start. */
	window_is("2026-02-28", "2026-02-28", "2026-02-28T00:00:00.000Z", "2026-03-01T00:00:00.000Z");
	window_is("2024-02-28", "2024-12-31", "2024-02-28T00:00:00.000Z", "2025-01-01T00:00:00.000Z");
	window_is("2024-02-28", "2024-02-28", "2024-02-28T00:00:00.000Z", "2024-02-29T00:00:00.000Z");
	/* Open ends, and the calendar's whole range (no day after 9999-12-31). */
	window_is(NULL, "", "0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z");
	window_is("0001-01-01", "9999-12-31", "0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z");
	/* A date-time is its instant, in UTC: the stores compare them as instants. */
	window_is("2026-01-05T10:00:00+05:00", "2026-01-05T10:00:00.250Z", "2026-01-05T05:00:00.000Z",
	          "2026-01-05T10:00:00.250Z");
	window_is("2026-01-05 10:00", "2026-01-05T23:30:00-01:00", "2026-01-05T10:00:00.000Z",
	          "2026-01-06T00:30:00.000Z");
	/* Past either end of the calendar is that end. */
	window_is("0001-01-01T00:30:00+01:00", "9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00.000Z",
	          "9999-12-31T23:59:59.999Z");
	window_bad("2026-02-30", NULL, "from", "from must be a date YYYY-MM-DD");
	window_bad(NULL, "2026-1-5", "to", "to must be a date YYYY-MM-DD");
	window_bad("yesterday", "2026-01-05", "from", "got \"yesterday\"");
	/* A window that holds no time. */
	window_bad("2026-01-06", "2026-01-05", "to", "must come before to");
	window_bad("2026-01-05T10:00:00Z", "2026-01-05T11:00:00+01:00", "to", "the window is empty");
	window_is("2026-01-05T10:00:00Z", "2026-01-05T10:00:00.001Z", "2026-01-05T10:00:00.000Z",
	          "2026-01-05T10:00:00.001Z");
}

/* Now and today, as the rows and the state keys take them. */
static void test_now(void **state)
{
	char day[DATE_TEXT_LEN];
	char iso[DATE_STAMP_LEN];

	(void)state;
	date_today(day);
	assert_int_equal(strlen(day), 10);
	assert_int_equal(day[4], '-');
	assert_int_equal(day[7], '-');
	date_stamp_now(iso);
	/* YYYY-MM-DDTHH:MM:SS.mmmZ */
	assert_int_equal(strlen(iso), 24);
	assert_int_equal(iso[10], 'T');
	assert_int_equal(iso[19], '.');
	assert_int_equal(iso[23], 'Z');
	for (int i = 20; i < 23; i++)
		assert_true(isdigit((unsigned char)iso[i]));
	/* Today's date in both (barring a run exactly at midnight). */
	if (strncmp(iso, day, 10) != 0) {
		date_today(day);
		assert_memory_equal(iso, day, 10);
	}
	/* A given instant, to the millisecond (the sweeps' and retention's cutoffs). */
	date_stamp_at(1700000000.25, iso);
	assert_string_equal(iso, "2023-11-14T22:13:20.250Z");
	date_stamp_at(0, iso);
	assert_string_equal(iso, "1970-01-01T00:00:00.000Z");
}

/* offerctl train's dates: the shared file's form and the UCI original's. */
static void test_dates_export(void **state)
{
	date_ymd d;
	int32_t day;

	(void)state;
	assert_int_equal(date_parse_export("2010-12-01 08:26:00", &d), 0);
	date_from_days(date_days(&d), &d);
	assert_int_equal(d.year, 2010);
	assert_int_equal(d.month, 12);
	assert_int_equal(d.day, 1);
	assert_int_equal(d.weekday, 3); /* a Wednesday */
	assert_int_equal(date_parse_export("12/1/2010 8:26", &d), 0);
	assert_int_equal(d.day, 1);
	assert_int_equal(d.month, 12);
	assert_int_equal(date_parse_export("2011-12-09", &d), 0);
	assert_int_equal(d.weekday, 5); /* the file's last day, a Friday */
	assert_int_equal(date_parse_export("2012-02-29 00:00:00", &d), 0);
	assert_int_equal(date_parse_export("2011-02-29 00:00:00", &d), ERR_INVAL);
	assert_int_equal(date_parse_export("2011-13-01", &d), ERR_INVAL);
	assert_int_equal(date_parse_export("yesterday", &d), ERR_INVAL);
	assert_int_equal(date_parse_export("2011-01-01x", &d), ERR_INVAL);
	assert_int_equal(date_parse_export("", &d), ERR_INVAL);
	/* Short forms a spreadsheet writes; years outside 1900..2200 are not sales. */
	assert_int_equal(date_parse_export("2011-1-5", &d), 0);
	assert_int_equal(d.month, 1);
	assert_int_equal(d.day, 5);
	assert_int_equal(date_parse_export("1/5/11 9:00", &d), 0);
	assert_int_equal(d.year, 2011);
	assert_int_equal(date_parse_export("2011-01-05T09:00:00Z", &d), 0);
	assert_int_equal(date_parse_export("1899-12-31", &d), ERR_INVAL);
	assert_int_equal(date_parse_export("2201-01-01", &d), ERR_INVAL);
	assert_int_equal(date_parse_export("12-1-2010", &d), ERR_INVAL);
	/* The day number of the epoch and of the day before it. */
	assert_int_equal(date_parse("1970-01-01", &d), 0);
	assert_int_equal(date_days(&d), 0);
	date_from_days(-1, &d);
	assert_int_equal(d.year, 1969);
	assert_int_equal(d.month, 12);
	assert_int_equal(d.day, 31);
	assert_int_equal(d.weekday, 3);
	/* Round trips from year 1 to year 9999. */
	for (day = -719162; day < 2932897; day += 997) {
		date_ymd back;

		date_from_days(day, &d);
		assert_int_equal(date_make(d.year, d.month, d.day, &back), 0);
		assert_memory_equal(&back, &d, sizeof(d));
		assert_int_equal(date_days(&d), day);
	}
}

static void test_calendar(void **state)
{
	date_ymd a, b;
	char text[DATE_TEXT_LEN];

	(void)state;
	assert_string_equal(date_month_name(1), "January");
	assert_string_equal(date_month_name(12), "December");
	assert_null(date_month_name(0));
	assert_null(date_month_name(13));
	assert_string_equal(date_weekday_name(0), "Sunday");
	assert_string_equal(date_weekday_name(6), "Saturday");
	assert_null(date_weekday_name(7));
	assert_null(date_weekday_name(-1));
	/* The brief's halves: the first fifteen days, then the rest. */
	assert_int_equal(date_half(1), 0);
	assert_int_equal(date_half(15), 0);
	assert_int_equal(date_half(16), 1);
	assert_int_equal(date_half(31), 1);
	assert_int_equal(date_parse("2024-02-28", &a), 0);
	assert_int_equal(date_parse("2024-03-01T12:00:00Z", &b), 0);
	assert_int_equal(date_days_between(&a, &b), 2); /* a leap year */
	assert_int_equal(date_days_between(&b, &a), -2);
	date_format(&b, text);
	assert_string_equal(text, "2024-03-01");
	assert_int_equal(date_make(1, 1, 1, &a), 0);
	date_format(&a, text);
	assert_string_equal(text, "0001-01-01");
	assert_int_equal(date_make(2023, 2, 29, &a), ERR_INVAL);
	assert_int_equal(date_make(10000, 1, 1, &a), ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dates_plain), cmocka_unit_test(test_dates_leap),
	    cmocka_unit_test(test_dates_times), cmocka_unit_test(test_date_time_utc),
	    cmocka_unit_test(test_stamps),      cmocka_unit_test(test_window),
	    cmocka_unit_test(test_now),         cmocka_unit_test(test_dates_export),
	    cmocka_unit_test(test_calendar),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
