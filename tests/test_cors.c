/*
 * test_cors.c — the --cors-origin list (src/cors.c): what parses, what is
 * refused with a message, and which Origin headers match.
 *
 * Public API only; links against build/liboffer.a.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cors.h"
#include "util.h"

static void test_none_by_default(void **state)
{
	cors c;
	char err[256] = "";

	(void)state;
	assert_int_equal(cors_parse(&c, NULL, err, sizeof(err)), 0);
	assert_false(cors_enabled(&c));
	assert_false(cors_allowed(&c, "https://shop.example.com"));
	cors_free(&c);
	assert_int_equal(cors_parse(&c, "", err, sizeof(err)), 0);
	assert_false(cors_enabled(&c));
	cors_free(&c);
}

static void test_list_matches_exactly(void **state)
{
	cors c;
	char err[256] = "";

	(void)state;
	assert_int_equal(cors_parse(&c, " https://shop.example.com, http://127.0.0.1:8080 ,", err,
	                            sizeof(err)),
	                 0);
	assert_true(cors_enabled(&c));
	assert_int_equal(c.n, 2);
	assert_true(cors_allowed(&c, "https://shop.example.com"));
	assert_true(cors_allowed(&c, "HTTPS://SHOP.EXAMPLE.COM"));
	assert_true(cors_allowed(&c, "http://127.0.0.1:8080"));
	/* Another scheme, port, host or a suffix is another origin. */
	assert_false(cors_allowed(&c, "http://shop.example.com"));
	assert_false(cors_allowed(&c, "http://127.0.0.1:8081"));
	assert_false(cors_allowed(&c, "https://shop.example.com.evil.example"));
	assert_false(cors_allowed(&c, "https://evil.example/https://shop.example.com"));
	assert_false(cors_allowed(&c, "null"));
	assert_false(cors_allowed(&c, ""));
	assert_false(cors_allowed(&c, NULL));
	cors_free(&c);
}

static void test_star_allows_any(void **state)
{
	cors c;
	char err[256] = "";

	(void)state;
	assert_int_equal(cors_parse(&c, "*", err, sizeof(err)), 0);
	assert_true(cors_enabled(&c));
	assert_true(cors_allowed(&c, "https://anyone.example"));
	assert_false(cors_allowed(&c, NULL));
	cors_free(&c);
}

static void test_refuses_what_is_not_an_origin(void **state)
{
	static const char *const bad[] = {
	    "https://shop.example.com/",
	    "https://shop.example.com/page",
	    "shop.example.com",
	    "ftp://shop.example.com",
	    "https://",
	    "http://",
	    "https://a.example,/x",
	};
	cors c;
	char err[256];

	(void)state;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
		err[0] = '\0';
		assert_int_equal(cors_parse(&c, bad[i], err, sizeof(err)), ERR_INVAL);
		assert_non_null(strstr(err, "origin"));
		assert_false(cors_enabled(&c));
	}
}

static void test_at_most_cors_max(void **state)
{
	char list[2048] = "";
	size_t len = 0;
	cors c;
	char err[256] = "";

	(void)state;
	for (int i = 0; i <= CORS_MAX; i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "https://s%d.example,", i);
	assert_int_equal(cors_parse(&c, list, err, sizeof(err)), ERR_INVAL);
	assert_non_null(strstr(err, "at most"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_none_by_default),
	    cmocka_unit_test(test_list_matches_exactly),
	    cmocka_unit_test(test_star_allows_any),
	    cmocka_unit_test(test_refuses_what_is_not_an_origin),
	    cmocka_unit_test(test_at_most_cors_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
