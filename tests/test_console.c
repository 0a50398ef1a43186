/*
 * test_console.c — the console's reading of stored timestamps
 * (api_console.c): SQLite's "YYYY-MM-DDTHH:MM:SS.fffZ" and PostgreSQL's
 * text of a timestamptz in any session time zone ("... HH:MM:SS.ffffff+00",
 * "+05:30", "-08") land on the same second, what is not a timestamp is
 * refused, and a window's minute index of each.
 *
 * Includes api_console.c to reach its static helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../src/api_console.c"

/* 2026-12-03T22:04:05Z */
#define T0 1796335445

static void ts_is(const char *text, int64_t want)
{
	int64_t got = 0;

	if (console_ts_epoch(text, &got) != 0)
		fail_msg("\"%s\" refused", text);
	if (got != want)
		fail_msg("\"%s\": %lld, want %lld", text, (long long)got, (long long)want);
}

static void test_stores(void **state)
{
	(void)state;
	ts_is("2026-12-03T22:04:05.123Z", T0); /* SQLite's default */
	ts_is("2026-12-03T22:04:05Z", T0);
	ts_is("2026-12-03 22:04:05.123456+00", T0); /* PostgreSQL, TimeZone UTC */
	ts_is("2026-12-04 03:34:05.5+05:30", T0);   /* TimeZone Asia/Kolkata */
	ts_is("2026-12-03 14:04:05-08", T0);        /* TimeZone America/Los_Angeles */
	ts_is("2026-12-03 22:04:05", T0);           /* no zone: UTC */
	ts_is("2026-12-03 22:04", T0 - 5);          /* minute only */
	ts_is("2024-02-29T00:00:00Z", 1709164800);  /* a leap day */
}

static void test_refused(void **state)
{
	const char *bad[] = {"",
	                     "2026-12-03",
	                     "2026/12/03 22:04:05",
	                     "2026-12-03x22:04:05",
	                     "2026-12-03 22:4:05",
	                     "20x6-12-03 22:04:05",
	                     "2026-12-03 22:04:05 UTC",
	                     "2026-12-03 22:04:05+5",
	                     "2026-12-03 22:04:0"};
	int64_t out;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (console_ts_epoch(bad[i], &out) == 0)
			fail_msg("\"%s\" accepted as %lld", bad[i], (long long)out);
	}
}

static void test_window(void **state)
{
	console_window w;

	(void)state;
	w.minutes = 3;
	w.start = T0 - 5 - 120; /* 22:02:00, 22:03:00, 22:04:00 */
	console_iso(w.start, w.from);
	assert_string_equal(w.from, "2026-12-03T22:02:00Z");
	assert_int_equal(console_window_index(&w, "2026-12-03T22:02:00.000Z"), 0);
	assert_int_equal(console_window_index(&w, "2026-12-03 22:03:59.999+00"), 1);
	assert_int_equal(console_window_index(&w, "2026-12-03 23:04:05+01"), 2);
	assert_int_equal(console_window_index(&w, "2026-12-03T22:01:59.999Z"), -1);
	assert_int_equal(console_window_index(&w, "2026-12-03T22:05:00Z"), -1);
	assert_int_equal(console_window_index(&w, NULL), -1);
	assert_int_equal(console_window_index(&w, "yesterday"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stores),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
