/*
 * test_intern.c — the string -> dense index table shared by rfm.c and
 * ope.c: indexes in order of first add, lookups by length-bounded keys,
 * growth past many keys, and handing the keys over.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intern.h"
#include "util.h"

static void test_add_find(void **unused)
{
	intern_table *t = intern_new();

	(void)unused;
	assert_int_equal(intern_find(t, "a", 1), -1);
	assert_int_equal(intern_add(t, "a", 1), 0);
	assert_int_equal(intern_add(t, "b", 1), 1);
	assert_int_equal(intern_add(t, "a", 1), 0);
	assert_int_equal(intern_find(t, "b", 1), 1);
	/* The length bounds the key: "17850.0" cut at 5 is "17850". */
	assert_int_equal(intern_add(t, "17850.0", 5), 2);
	assert_int_equal(intern_find(t, "17850", 5), 2);
	assert_int_equal(intern_find(t, "17850.0", 7), -1);
	assert_string_equal(t->keys[2], "17850");
	/* A key ends at a NUL, as its stored copy does; "" is a key like any other. */
	assert_int_equal(intern_find(t, "a\0zz", 4), 0);
	assert_int_equal(intern_add(t, "", 0), 3);
	assert_int_equal(intern_find(t, "", 0), 3);
	/* A prefix of a key is another key. */
	assert_int_equal(intern_add(t, "ab", 1), 0);
	assert_int_equal(intern_add(t, "ab", 2), 4);
	assert_int_equal(t->n, 5);
	intern_free(t);
	intern_free(NULL);
}

static void test_growth_and_steal(void **unused)
{
	intern_table *t = intern_new();
	char key[32];
	char **keys;
	size_t n;

	(void)unused;
	for (int i = 0; i < 100000; i++) {
		int len = snprintf(key, sizeof(key), "k%d", i);

		assert_int_equal(intern_add(t, key, (size_t)len), i);
	}
	for (int i = 99999; i >= 0; i -= 7) {
		int len = snprintf(key, sizeof(key), "k%d", i);

		assert_int_equal(intern_find(t, key, (size_t)len), i);
	}
	assert_true(t->cap >= 2 * t->n);
	keys = intern_steal_keys(t, &n);
	assert_int_equal(n, 100000);
	assert_string_equal(keys[12345], "k12345");
	/* The table is empty after the keys are handed over, and usable. */
	assert_int_equal(t->n, 0);
	assert_int_equal(intern_find(t, "k1", 2), -1);
	assert_int_equal(intern_add(t, "k1", 2), 0);
	intern_free(t);
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_add_find),
	    cmocka_unit_test(test_growth_and_steal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
