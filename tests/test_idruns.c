/*
 * test_idruns.c — the id set the contact refresher uses to read only the
 * episodes it does not have: runs join in and out of order, holes of a
 * range against a brute-force bitmap over random adds, and forgetting the
 * ids below a cursor.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "idruns.h"

static void test_runs_join(void **unused)
{
	idruns s = {0};
	int64_t h[4][2];

	(void)unused;
	/* An empty set: everything is a hole, and forgetting is a no-op. */
	idruns_drop_to(&s, 5);
	assert_int_equal(idruns_holes(&s, 0, 3, h, 4), 1);
	assert_int_equal(h[0][0], 1);
	assert_int_equal(h[0][1], 3);
	for (int64_t id = 10; id <= 20; id++)
		idruns_add(&s, id);
	assert_int_equal(s.n, 1);
	idruns_add(&s, 25);
	idruns_add(&s, 23);
	idruns_add(&s, 22);
	assert_int_equal(s.n, 3);
	idruns_add(&s, 24); /* 22..25 is one run now */
	assert_int_equal(s.n, 2);
	idruns_add(&s, 21); /* and 10..25 */
	assert_int_equal(s.n, 1);
	assert_int_equal(s.run[0][0], 10);
	assert_int_equal(s.run[0][1], 25);
	idruns_add(&s, 15); /* already there */
	idruns_add(&s, 9);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.run[0][0], 9);
	assert_int_equal(idruns_holes(&s, 0, 30, h, 4), 2);
	assert_int_equal(h[0][0], 1);
	assert_int_equal(h[0][1], 8);
	assert_int_equal(h[1][0], 26);
	assert_int_equal(h[1][1], 30);
	assert_int_equal(idruns_holes(&s, 9, 25, h, 4), 0);
	idruns_drop_to(&s, 12);
	assert_int_equal(s.run[0][0], 13);
	idruns_drop_to(&s, 100);
	assert_int_equal(s.n, 0);
	idruns_clear(&s);
}

#define SPAN 2000

static void test_holes_match_a_bitmap(void **unused)
{
	static int64_t h[SPAN][2];

	(void)unused;
	srand(7);
	for (int round = 0; round < 50; round++) {
		unsigned char have[SPAN + 2] = {0};
		idruns s = {0};
		int adds = rand() % SPAN;
		int64_t from = rand() % SPAN;
		int64_t to = from + rand() % (SPAN - from);
		int64_t below = rand() % SPAN;
		size_t n;
		size_t k = 0;

		for (int i = 0; i < adds; i++) {
			/* mostly in order, as commits are, with stragglers */
			int64_t id = rand() % 4 ? 1 + (int64_t)i * (SPAN - 1) / (adds + 1)
			                        : 1 + rand() % SPAN;

			idruns_add(&s, id);
			have[id] = 1;
		}
		for (size_t i = 0; i + 1 < s.n; i++)
			assert_true(s.run[i][1] + 1 < s.run[i + 1][0]); /* sorted, never touching */
		n = idruns_holes(&s, from, to, h, SPAN);
		for (int64_t id = from + 1; id <= to; id++) {
			if (have[id])
				continue;
			/* id starts a hole: the next one listed */
			assert_true(k < n);
			assert_int_equal(h[k][0], id);
			while (id + 1 <= to && !have[id + 1])
				id++;
			assert_int_equal(h[k][1], id);
			k++;
		}
		assert_int_equal(k, n);
		idruns_drop_to(&s, below);
		for (int64_t id = 1; id <= SPAN; id++) {
			int64_t one[1][2];
			int listed = idruns_holes(&s, id - 1, id, one, 1) == 0;

			assert_int_equal(listed, id > below && have[id]);
		}
		idruns_clear(&s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_runs_join),
	    cmocka_unit_test(test_holes_match_a_bitmap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
