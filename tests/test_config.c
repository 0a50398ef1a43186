/*
 * test_config.c — the option table mechanism shared by offerd and every
 * offerctl command: defaults, then the environment, then argv; short and
 * long forms; --help anywhere; unknown options, missing values, values out
 * of bounds and extra arguments refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util.h"

typedef struct t_opts {
	char *output;
	char *url;
	char *name;
	int n;
	int64_t big;
	double x;
	int flag;
} t_opts;

#define O(f) offsetof(t_opts, f)

static const config_opt table[] = {
    {"o,output FILE", NULL, CONFIG_STR, O(output), NULL, 0, 0, "the output"},
    {"url URL", "TEST_CONFIG_URL", CONFIG_STR, O(url), "http://default", 0, 0, "the address"},
    {"name NAME", NULL, CONFIG_STR, O(name), NULL, 1, 4, "a name of 1 to 4 bytes"},
    {"n N", NULL, CONFIG_INT, O(n), "16", 1, 64, "a count"},
    {"big N", NULL, CONFIG_I64, O(big), "1", 0, 9.3e18, "a large count"},
    {"x X", NULL, CONFIG_DBL, O(x), "0.5", 0, 1, "a share"},
    {"flag", NULL, CONFIG_FLAG, O(flag), NULL, 0, 0, "a switch"},
};

/* Parses a NULL-terminated argument list (without argv[0]). */
static int parse(t_opts *o, const char **args, size_t max_args, size_t *nargs, ...)
{
	char *argv[16] = {"prog"};
	int argc = 1;
	va_list ap;
	const char *a;

	memset(o, 0, sizeof(*o));
	va_start(ap, nargs);
	while ((a = va_arg(ap, const char *)) != NULL)
		argv[argc++] = (char *)(uintptr_t)a;
	va_end(ap);
	return config_opts_parse("prog", table, UTIL_ARRAY_LEN(table), o, argc, argv, args, max_args,
	                         nargs);
}

static void test_defaults_env_flags(void **unused)
{
	t_opts o;
	const char *args[4];
	size_t n;

	(void)unused;
	unsetenv("TEST_CONFIG_URL");
	assert_int_equal(parse(&o, args, 2, &n, "in.csv", NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(args[0], "in.csv");
	assert_null(o.output);
	assert_string_equal(o.url, "http://default");
	assert_int_equal(o.n, 16);
	assert_true(o.x == 0.5);
	assert_int_equal(o.flag, 0);
	config_opts_free(table, UTIL_ARRAY_LEN(table), &o);

	setenv("TEST_CONFIG_URL", "http://env", 1);
	assert_int_equal(parse(&o, args, 2, &n, NULL), 0);
	assert_string_equal(o.url, "http://env");
	config_opts_free(table, UTIL_ARRAY_LEN(table), &o);
	/* The flag wins over the environment; every form of a value. */
	assert_int_equal(parse(&o, args, 2, &n, "-o", "out.csv", "--url=http://flag", "--n", "64",
	                       "--x=1", "--flag", "--big", "9223372036854775807", "-", NULL),
	                 0);
	assert_string_equal(o.output, "out.csv");
	assert_string_equal(o.url, "http://flag");
	assert_int_equal(o.n, 64);
	assert_true(o.x == 1.0);
	assert_int_equal(o.flag, 1);
	assert_true(o.big == INT64_MAX);
	assert_int_equal(n, 1);
	assert_string_equal(args[0], "-");
	config_opts_free(table, UTIL_ARRAY_LEN(table), &o);
	/* After "--" an argument that looks like an option is an argument. */
	assert_int_equal(parse(&o, args, 2, &n, "--", "--help", NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(args[0], "--help");
	config_opts_free(table, UTIL_ARRAY_LEN(table), &o);
	unsetenv("TEST_CONFIG_URL");
}

static void test_help_and_errors(void **unused)
{
	t_opts o;
	const char *args[4];
	size_t n;

	(void)unused;
	/* --help anywhere wins, even after a bad option. */
	assert_int_equal(parse(&o, args, 1, &n, "--bogus", "x", "--help", NULL), CONFIG_HELP);
	assert_int_equal(parse(&o, args, 1, &n, "release", "-h", NULL), CONFIG_HELP);
	config_opts_free(table, UTIL_ARRAY_LEN(table), &o);
	assert_int_equal(parse(&o, args, 1, &n, "--bogus", NULL), ERR_INVAL);
	config_opts_free(table, UTIL_ARRAY_LEN(table), &o);
	assert_int_equal(parse(&o, args, 1, &n, "-x", NULL), ERR_INVAL);
	config_opts_free(table, UTIL_ARRAY_LEN(table), &o);
	assert_int_equal(parse(&o, args, 1, &n, "--output", NULL), ERR_INVAL);
	config_opts_free(table, UTIL_ARRAY_LEN(table), &o);
	assert_int_equal(parse(&o, args, 1, &n, "--n", "65", NULL), ERR_INVAL);
	config_opts_free(table, UTIL_ARRAY_LEN(table), &o);
	assert_int_equal(parse(&o, args, 1, &n, "--n", "1x", NULL), ERR_INVAL);
	config_opts_free(table, UTIL_ARRAY_LEN(table), &o);
	assert_int_equal(parse(&o, args, 1, &n, "--x", "1.5", NULL), ERR_INVAL);
	config_opts_free(table, UTIL_ARRAY_LEN(table), &o);
	assert_int_equal(parse(&o, args, 1, &n, "--flag=1", NULL), ERR_INVAL);
	config_opts_free(table, UTIL_ARRAY_LEN(table), &o);
	/* A string with bounds: its length in bytes. */
	assert_int_equal(parse(&o, args, 1, &n, "--name", "abcd", NULL), 0);
	assert_string_equal(o.name, "abcd");
	config_opts_free(table, UTIL_ARRAY_LEN(table), &o);
	assert_int_equal(parse(&o, args, 1, &n, "--name", "abcde", NULL), ERR_INVAL);
	config_opts_free(table, UTIL_ARRAY_LEN(table), &o);
	assert_int_equal(parse(&o, args, 1, &n, "--name=", NULL), ERR_INVAL);
	config_opts_free(table, UTIL_ARRAY_LEN(table), &o);
	assert_int_equal(parse(&o, args, 1, &n, "--name",
	                       "a\x1f"
	                       "b",
	                       NULL),
	                 ERR_INVAL);
	config_opts_free(table, UTIL_ARRAY_LEN(table), &o);
	/* A prefix of a name is not the name. */
	assert_int_equal(parse(&o, args, 1, &n, "--out", "f", NULL), ERR_INVAL);
	config_opts_free(table, UTIL_ARRAY_LEN(table), &o);
	assert_int_equal(parse(&o, args, 1, &n, "a", "b", NULL), ERR_INVAL);
	config_opts_free(table, UTIL_ARRAY_LEN(table), &o);
	assert_int_equal(parse(&o, args, 0, &n, "a", NULL), ERR_INVAL);
	config_opts_free(table, UTIL_ARRAY_LEN(table), &o);
	setenv("TEST_CONFIG_URL", "", 1);
	assert_int_equal(parse(&o, args, 0, &n, NULL), 0);
	assert_string_equal(o.url, "http://default");
	config_opts_free(table, UTIL_ARRAY_LEN(table), &o);
	unsetenv("TEST_CONFIG_URL");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_env_flags),
	    cmocka_unit_test(test_help_and_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
