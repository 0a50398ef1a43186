/*
 * test_console.c — the console's window (api_console.c): the minute index
 * of a row's time in either store's text, and nothing outside the window.
 * Reading those texts is date_stamp_parse's (test_date).
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

static void test_window(void **state)
{
	console_window w;

	(void)state;
	w.minutes = 3;
	w.start = T0 - 5 - 120; /* 22:02:00, 22:03:00, 22:04:00 */
	date_stamp_format(w.start, 0, w.from);
	assert_string_equal(w.from, "2026-12-03T22:02:00.000Z");
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
	    cmocka_unit_test(test_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
