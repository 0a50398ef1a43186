/*
 * test_pylit.c — the Python-literal parser that reads `states` and `offers`
 * when clients send a dict repr: dicts and nesting, every escape, the
 * Python constants, trailing commas, numbers, and the errors, each with the
 * byte offset it names (depth limit, NUL bytes, invalid UTF-8, bad escapes).
 *
 * Public API only; links against build/liboffer.a.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pylit.h"
#include "util.h"

/* Parses text (its strlen) and expects success. */
static json_t *ok(const char *text)
{
	char err[128];
	json_t *v = pylit_parse(text, strlen(text), err, sizeof(err));

	if (v == NULL)
		fail_msg("pylit_parse(%s) failed: %s", text, err);
	return v;
}

/* Parses text[0..len) and expects failure with exactly want as the message. */
static void bad_n(const char *text, size_t len, const char *want)
{
	char err[128];
	json_t *v = pylit_parse(text, len, err, sizeof(err));

	if (v != NULL) {
		char *s = json_dumps(v, JSON_ENCODE_ANY);

		fail_msg("pylit_parse(%.*s) should fail, got %s", (int)len, text, s);
	}
	assert_string_equal(err, want);
}

static void bad(const char *text, const char *want)
{
	bad_n(text, strlen(text), want);
}

/* Dumps v compactly with keys in insertion order and frees v. */
static void expect_json(json_t *v, const char *want)
{
	char *s = json_dumps(v,
	                     JSON_ENCODE_ANY | JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);

	assert_non_null(s);
	assert_string_equal(s, want);
	free(s);
	json_decref(v);
}

static void test_dict(void **state)
{
	(void)state;
	/* The case study's states and offers, as Python prints them. */
	expect_json(ok("{'age': 18, 'gender': 'M', 'client-since': '2020-01-01', "
	               "'region': 'Europa', 'last_offer': 'OFFER_5'}"),
	            "{\"age\":18,\"gender\":\"M\",\"client-since\":\"2020-01-01\","
	            "\"region\":\"Europa\",\"last_offer\":\"OFFER_5\"}");
	expect_json(ok("{'OFFER_1': True, 'OFFER_2': False,'OFFER_3':None}"),
	            "{\"OFFER_1\":true,\"OFFER_2\":false,\"OFFER_3\":null}");
	expect_json(ok("{}"), "{}");
	expect_json(ok("  {\n\t'a' :\r\n 1 }  \n"), "{\"a\":1}");
	/* Double quotes are Python strings too. */
	expect_json(ok("{\"a\": \"it's\"}"), "{\"a\":\"it's\"}");
	/* Python keeps the last of duplicate keys. */
	expect_json(ok("{'a': 1, 'a': 2}"), "{\"a\":2}");
	/* Non-string keys become their str(). */
	expect_json(ok("{1: 'one', -2: 'x', True: 't', False: 'f', None: 'n', 1.5: 'h'}"),
	            "{\"1\":\"one\",\"-2\":\"x\",\"True\":\"t\",\"False\":\"f\",\"None\":\"n\","
	            "\"1.5\":\"h\"}");
}

static void test_nested(void **state)
{
	(void)state;
	expect_json(ok("{'a': {'b': [1, (2, 3), []], 'c': ()}, 'd': [{'e': None}]}"),
	            "{\"a\":{\"b\":[1,[2,3],[]],\"c\":[]},\"d\":[{\"e\":null}]}");
	/* Top-level values other than dicts parse too; request.c refuses them. */
	expect_json(ok("[1, 'a']"), "[1,\"a\"]");
	expect_json(ok("'x'"), "\"x\"");
	expect_json(ok("None"), "null");
	expect_json(ok("(1,)"), "[1]");
}

static void test_trailing_commas(void **state)
{
	(void)state;
	expect_json(ok("{'a': 1,}"), "{\"a\":1}");
	expect_json(ok("{'a': 1 , }"), "{\"a\":1}");
	expect_json(ok("[1, 2,]"), "[1,2]");
	expect_json(ok("(1, 2, )"), "[1,2]");
	/* A comma needs something before it. */
	bad("{,}", "unexpected character at offset 1");
	bad("[,]", "unexpected character at offset 1");
	bad("{'a': 1,,}", "unexpected character at offset 8");
}

static void test_constants(void **state)
{
	(void)state;
	expect_json(ok("[True, False, None]"), "[true,false,null]");
	/* Python's constants are case-sensitive and whole words. */
	bad("true", "unexpected character at offset 0");
	bad("[TRUE]", "unexpected character at offset 1");
	bad("[Truex]", "unexpected character at offset 1");
	bad("[True_]", "unexpected character at offset 1");
	bad("[Non]", "unexpected character at offset 1");
	/* A constant followed by punctuation is fine. */
	expect_json(ok("[True,False]"), "[true,false]");
}

static void test_numbers(void **state)
{
	(void)state;
	expect_json(ok("[0, -5, +7, 1_000, 9223372036854775807, -9223372036854775808]"),
	            "[0,-5,7,1000,9223372036854775807,-9223372036854775808]");
	expect_json(ok("[1.5, -0.25, 1e3, 2.5E-1, .5, 5., 1_0.5]"),
	            "[1.5,-0.25,1000.0,0.25,0.5,5.0,10.5]");
	bad("9223372036854775808", "integer out of range at offset 19");
	bad("[1e999]", "bad number at offset 6");
	bad("[1.2.3]", "bad number at offset 6");
	bad("[1e]", "bad number at offset 3");
	/* A hexadecimal literal is an expression as far as we care. */
	bad("0x10", "unexpected text after the value at offset 1");
	/* Longer than any number we want (63 characters). */
	{
		char longnum[80];

		memset(longnum, '1', 70);
		longnum[70] = '\0';
		bad(longnum, "bad number at offset 70");
	}
}

static void test_escapes(void **state)
{
	json_t *v;

	(void)state;
	expect_json(ok("'a\\nb\\tc\\rd\\\\e\\'f\\\"g'"), "\"a\\nb\\tc\\rd\\\\e'f\\\"g\"");
	/* \xHH and \uHHHH are code points, written as UTF-8. */
	expect_json(ok("'\\x41\\xe9\\u00e9\\u263a'"), "\"A\\u00E9\\u00E9\\u263A\"");
	/* Python keeps an unknown escape as written. */
	expect_json(ok("'\\q\\d'"), "\"\\\\q\\\\d\"");
	/* \0 is a NUL inside the value (jansson keeps the length). */
	v = ok("'a\\0b'");
	assert_int_equal(json_string_length(v), 3);
	assert_memory_equal(json_string_value(v), "a\0b", 3);
	json_decref(v);
	/* Raw UTF-8 passes through. */
	expect_json(ok("'caf\xc3\xa9'"), "\"caf\\u00E9\"");
	/* Malformed escapes. */
	bad("'\\x4'", "bad escape in string at offset 4");
	bad("'\\u12G4'", "bad escape in string at offset 5");
	bad("'\\x", "bad escape in string at offset 3");
	/* A surrogate is not a code point; no lone surrogate reaches UTF-8. */
	bad("'\\ud800'", "bad code point in string at offset 7");
	bad("'\\udfff'", "bad code point in string at offset 7");
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	/* Raw bytes that are not UTF-8: refused, never passed on to JSON. */
	bad("{'a': '\xff'}", "invalid UTF-8 in string at offset 9");
	bad("'\xc3\x28'", "invalid UTF-8 in string at offset 4");
	/* An overlong encoding of '/' */
	bad("'\xc0\xaf'", "invalid UTF-8 in string at offset 4");
	/* A CESU-style encoded surrogate */
	bad("'\xed\xa0\x80'", "invalid UTF-8 in string at offset 5");
	/* Also in keys. */
	bad("{'\xff': 1}", "invalid UTF-8 in string at offset 4");
}

static void test_unterminated(void **state)
{
	(void)state;
	bad("'abc", "unterminated string at offset 4");
	/* A string ends at its line: Python's EOL while scanning. */
	bad("'ab\ncd'", "unterminated string at offset 3");
	bad("'ab\\", "unterminated string at offset 4");
	bad("{'a': 1", "expected ',' or '}' at offset 7");
	bad("[1, 2", "expected ',' or closing bracket at offset 5");
	bad("{'a' 1}", "expected ':' at offset 5");
	bad("{'a': }", "unexpected character at offset 6");
	bad("", "unexpected end of input at offset 0");
	bad("   ", "unexpected end of input at offset 3");
	bad("{'a': 1} x", "unexpected text after the value at offset 9");
	bad("{'a': 1}}", "unexpected text after the value at offset 8");
	/* Mismatched brackets. */
	bad("[1, 2}", "expected ',' or closing bracket at offset 5");
	bad("(1]", "expected ',' or closing bracket at offset 2");
}

static void test_rejects_expressions(void **state)
{
	(void)state;
	bad("{'a': 1 + 2}", "expected ',' or '}' at offset 8");
	bad("{'a': len('x')}", "unexpected character at offset 6");
	bad("{'a': __import__('os')}", "unexpected character at offset 6");
	bad("{'a': {1, 2}}", "expected ':' at offset 8"); /* a set */
	/* Unhashable keys. */
	bad("{(1, 2): 'x'}", "dict key must be a string or number at offset 7");
	bad("{[1]: 'x'}", "dict key must be a string or number at offset 4");
	bad("{{}: 'x'}", "dict key must be a string or number at offset 3");
}

/* Brackets nested n deep, e.g. "[[[]]]" for 3. */
static char *nest(int n, char open, char close)
{
	char *s = malloc((size_t)n * 2 + 1);

	for (int i = 0; i < n; i++) {
		s[i] = open;
		s[2 * n - 1 - i] = close;
	}
	s[2 * n] = '\0';
	return s;
}

static void test_depth_limit(void **state)
{
	char *s;
	char err[128];
	json_t *v;

	(void)state;
	s = nest(PYLIT_DEPTH_MAX, '[', ']');
	v = ok(s);
	json_decref(v);
	free(s);
	s = nest(PYLIT_DEPTH_MAX + 1, '[', ']');
	bad(s, "nesting too deep at offset 33");
	free(s);
	/* Dicts count the same; far deeper input fails fast, no stack overflow. */
	s = nest(100000, '(', ')');
	v = pylit_parse(s, strlen(s), err, sizeof(err));
	assert_null(v);
	assert_string_equal(err, "nesting too deep at offset 33");
	free(s);
	{
		char nested[1024] = "";
		size_t len = 0;

		for (int i = 0; i <= PYLIT_DEPTH_MAX; i++)
			len += util_strlcpy(nested + len, "{'a':", sizeof(nested) - len);
		len += util_strlcpy(nested + len, "1", sizeof(nested) - len);
		for (int i = 0; i <= PYLIT_DEPTH_MAX; i++)
			len += util_strlcpy(nested + len, "}", sizeof(nested) - len);
		assert_true(len < sizeof(nested));
		v = pylit_parse(nested, strlen(nested), err, sizeof(err));
		assert_null(v);
		assert_string_equal(err, "nesting too deep at offset 161");
	}
}

static void test_nul_bytes(void **state)
{
	(void)state;
	/* A NUL byte anywhere fails at its offset, before any parsing. */
	bad_n("{'a': 1}\0", 9, "NUL byte at offset 8");
	bad_n("{'a\0': 1}", 9, "NUL byte at offset 3");
	bad_n("\0", 1, "NUL byte at offset 0");
	/* The length is what counts, not a terminator. */
	{
		char err[128];
		json_t *v = pylit_parse("[1][2]", 3, err, sizeof(err));

		assert_non_null(v);
		json_decref(v);
	}
}

static void test_error_buffer(void **state)
{
	char tiny[8];
	json_t *v;

	(void)state;
	/* No error buffer at all. */
	assert_null(pylit_parse("{", 1, NULL, 0));
	/* A small one is truncated, still terminated. */
	memset(tiny, 'x', sizeof(tiny));
	assert_null(pylit_parse("{", 1, tiny, sizeof(tiny)));
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
	/* Success clears a stale message. */
	v = pylit_parse("1", 1, tiny, sizeof(tiny));
	assert_non_null(v);
	assert_string_equal(tiny, "");
	json_decref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dict),
	    cmocka_unit_test(test_nested),
	    cmocka_unit_test(test_trailing_commas),
	    cmocka_unit_test(test_constants),
	    cmocka_unit_test(test_numbers),
	    cmocka_unit_test(test_escapes),
	    cmocka_unit_test(test_invalid_utf8),
	    cmocka_unit_test(test_unterminated),
	    cmocka_unit_test(test_rejects_expressions),
	    cmocka_unit_test(test_depth_limit),
	    cmocka_unit_test(test_nul_bytes),
	    cmocka_unit_test(test_error_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
