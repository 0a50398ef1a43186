/*
 * test_util.c — the small shared modules: util (the one bounded number
 * parser, the size-limited buffer that frees itself, string and time
 * helpers), strmap and strtab (the string map and the table under it), rng (the seeded generator
 * and its distributions), auth (API key format, SHA-256 hashing, prefix) and
 * log (a line too long says it was cut).
 *
 * Public API only; links against build/liboffer.a.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "auth.h"
#include "log.h"
#include "rng.h"
#include "strmap.h"
#include "util.h"

/* --- util_strtonum / util_strtod ---------------------------------------- */

static void test_strtonum_accepts(void **state)
{
	int64_t v = 0;

	(void)state;
	assert_int_equal(util_strtonum("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(util_strtonum("-42", -100, 100, &v), 0);
	assert_int_equal(v, -42);
	assert_int_equal(util_strtonum("+7", 0, 10, &v), 0);
	assert_int_equal(v, 7);
	/* The bounds are inclusive. */
	assert_int_equal(util_strtonum("10", 0, 10, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(util_strtonum("-5", -5, 5, &v), 0);
	assert_int_equal(v, -5);
	/* The full int64 range. */
	assert_int_equal(util_strtonum("9223372036854775807", INT64_MIN, INT64_MAX, &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(util_strtonum("-9223372036854775808", INT64_MIN, INT64_MAX, &v), 0);
	assert_true(v == INT64_MIN);
	/* Base 10 even with a leading zero (no octal). */
	assert_int_equal(util_strtonum("010", 0, 100, &v), 0);
	assert_int_equal(v, 10);
}

static void test_strtonum_rejects(void **state)
{
	int64_t v = 1234;

	(void)state;
	assert_int_equal(util_strtonum(NULL, 0, 10, &v), ERR_INVAL);
	assert_int_equal(util_strtonum("", 0, 10, &v), ERR_INVAL);
	assert_int_equal(util_strtonum(" 1", 0, 10, &v), ERR_INVAL);
	assert_int_equal(util_strtonum("1 ", 0, 10, &v), ERR_INVAL);
	assert_int_equal(util_strtonum("12a", 0, 100, &v), ERR_INVAL);
	assert_int_equal(util_strtonum("0x10", 0, 100, &v), ERR_INVAL);
	assert_int_equal(util_strtonum("1.0", 0, 100, &v), ERR_INVAL);
	assert_int_equal(util_strtonum("-", 0, 100, &v), ERR_INVAL);
	/* Out of the caller's bounds, by one. */
	assert_int_equal(util_strtonum("11", 0, 10, &v), ERR_RANGE);
	assert_int_equal(util_strtonum("-1", 0, 10, &v), ERR_RANGE);
	/* Out of int64 itself. */
	assert_int_equal(util_strtonum("9223372036854775808", INT64_MIN, INT64_MAX, &v), ERR_RANGE);
	assert_int_equal(util_strtonum("-9223372036854775809", INT64_MIN, INT64_MAX, &v), ERR_RANGE);
	assert_int_equal(util_strtonum("99999999999999999999999", 0, INT64_MAX, &v), ERR_RANGE);
	/* A failed parse leaves the output alone. */
	assert_int_equal(v, 1234);
}

static void test_strtod(void **state)
{
	double d = -7;

	(void)state;
	assert_int_equal(util_strtod("1.5", 0, 2, &d), 0);
	assert_true(d == 1.5);
	assert_int_equal(util_strtod("-1e3", -1e4, 0, &d), 0);
	assert_true(d == -1000);
	assert_int_equal(util_strtod("2", 0, 2, &d), 0); /* inclusive */
	assert_int_equal(util_strtod("2.0000001", 0, 2, &d), ERR_RANGE);
	assert_int_equal(util_strtod("1e400", -1e308, 1e308, &d), ERR_RANGE);
	/* Decimal numbers only: not NaN, infinities or hex. */
	assert_int_equal(util_strtod("nan", -1e308, 1e308, &d), ERR_INVAL);
	assert_int_equal(util_strtod("inf", -INFINITY, INFINITY, &d), ERR_INVAL);
	assert_int_equal(util_strtod("-infinity", -INFINITY, INFINITY, &d), ERR_INVAL);
	assert_int_equal(util_strtod("0x10", 0, 100, &d), ERR_INVAL);
	assert_int_equal(util_strtod("", 0, 1, &d), ERR_INVAL);
	assert_int_equal(util_strtod(NULL, 0, 1, &d), ERR_INVAL);
	assert_int_equal(util_strtod(" 1", 0, 1, &d), ERR_INVAL);
	assert_int_equal(util_strtod("1x", 0, 10, &d), ERR_INVAL);
	assert_int_equal(util_strtod("1.5.2", 0, 10, &d), ERR_INVAL);
	/* Decimal only: strtod alone would take hex, inf and nan spelled many ways. */
	assert_int_equal(util_strtod("0x10", 0, 100, &d), ERR_INVAL);
	assert_int_equal(util_strtod("0X1p3", 0, 100, &d), ERR_INVAL);
	assert_int_equal(util_strtod("INF", -INFINITY, INFINITY, &d), ERR_INVAL);
	assert_int_equal(util_strtod("NaN", -1e308, 1e308, &d), ERR_INVAL);
	assert_int_equal(util_strtod("1,5", 0, 10, &d), ERR_INVAL);
	assert_true(d == 2);
	assert_int_equal(util_strtod("2.5e-1", 0, 10, &d), 0);
	assert_true(d == 0.25);
	assert_int_equal(util_strtod("+.5", 0, 10, &d), 0);
	assert_true(d == 0.5);
}

static void test_hexval(void **state)
{
	(void)state;
	assert_int_equal(util_hexval('0'), 0);
	assert_int_equal(util_hexval('9'), 9);
	assert_int_equal(util_hexval('a'), 10);
	assert_int_equal(util_hexval('F'), 15);
	assert_int_equal(util_hexval('g'), -1);
	assert_int_equal(util_hexval('G'), -1);
	assert_int_equal(util_hexval('/'), -1);
	assert_int_equal(util_hexval(0), -1);
	assert_int_equal(util_hexval(0xe9), -1); /* a Latin-1 byte is not a digit */
}

/* --- buf ------------------------------------------------------------------ */

static void test_utf8(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(util_utf8_len((const unsigned char *)"a"), 1);
	assert_int_equal(util_utf8_len((const unsigned char *)"\xc3\xbc"), 2);         /* ü */
	assert_int_equal(util_utf8_len((const unsigned char *)"\xe2\x82\xac"), 3);     /* € */
	assert_int_equal(util_utf8_len((const unsigned char *)"\xf0\x9f\x98\x80"), 4); /* 😀 */
	assert_int_equal(util_utf8_len((const unsigned char *)"\xff"), 0);
	assert_int_equal(util_utf8_len((const unsigned char *)"\x80"), 0);     /* a lone continuation */
	assert_int_equal(util_utf8_len((const unsigned char *)"\xc0\xaf"), 0); /* an overlong '/' */
	assert_int_equal(util_utf8_len((const unsigned char *)"\xed\xa0\x80"), 0); /* a surrogate */
	assert_int_equal(util_utf8_len((const unsigned char *)"\xf4\x90\x80\x80"),
	                 0);                                                   /* past U+10FFFF */
	assert_int_equal(util_utf8_len((const unsigned char *)"\xe2\x82"), 0); /* cut short by the NUL */
	assert_true(util_utf8_valid(""));
	assert_true(util_utf8_valid("ab \xc3\xbc\xe2\x82\xac"));
	assert_false(util_utf8_valid("ab\xff"
	                             "c"));
	/* Repair: each byte that starts no sequence is U+FFFD; truncated on a character. */
	util_utf8_repair("a\xff"
	                 "b",
	                 out, sizeof(out));
	assert_string_equal(out, "a\xef\xbf\xbd"
	                         "b");
	util_utf8_repair("\xe2\x82"
	                 "x",
	                 out, sizeof(out));
	assert_string_equal(out, "\xef\xbf\xbd\xef\xbf\xbd"
	                         "x");
	util_utf8_repair("ab\xe2\x82\xac", out, 5);
	assert_string_equal(out, "ab");
	assert_true(util_utf8_valid(out));
	/* fixed: NULL for UTF-8, else the whole text repaired (three bytes for each bad one). */
	assert_null(util_utf8_fixed("ab \xc3\xbc"));
	{
		char *f = util_utf8_fixed("\xff\xff\xff\xff\xff"
		                          "x");

		assert_string_equal(f, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
		                       "x");
		free(f);
	}
}

static void test_buf_grows_and_terminates(void **state)
{
	buf b;
	char big[1000];

	(void)state;
	buf_init(&b, 1 << 20);
	assert_null(b.data);
	assert_int_equal(buf_adds(&b, "abc"), 0);
	assert_int_equal(b.len, 3);
	assert_string_equal(b.data, "abc");
	memset(big, 'x', sizeof(big));
	assert_int_equal(buf_add(&b, big, sizeof(big)), 0);
	assert_int_equal(b.len, 1003);
	assert_true(b.cap > b.len);
	assert_int_equal(b.data[b.len], '\0');
	/* buf_addf: short and long (over its 256-byte stack buffer) results. */
	assert_int_equal(buf_addf(&b, "%d-%s", 12, "z"), 0);
	assert_int_equal(b.len, 1007);
	assert_memory_equal(b.data + 1003, "12-z", 4);
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_int_equal(buf_addf(&b, "%.*s|", 600, big), 0);
	assert_int_equal(b.len, 601);
	assert_int_equal(b.data[600], '|');
	/* Binary data with NUL bytes keeps its length. */
	buf_reset(&b);
	assert_int_equal(buf_add(&b, "a\0b", 3), 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "a\0b", 3);
	buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
}

static void test_buf_limit_frees_itself(void **state)
{
	buf b;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_add(&b, "12345678", 8), 0);
	assert_int_equal(buf_add(&b, "90", 2), 0); /* exactly the limit */
	assert_int_equal(b.len, 10);
	/* One byte more: the buffer frees itself and reports ERR_TOOBIG. */
	assert_int_equal(buf_add(&b, "x", 1), ERR_TOOBIG);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	/* The limit stays, so the next write starts empty, not half-filled. */
	assert_int_equal(b.limit, 10);
	assert_int_equal(buf_adds(&b, "ok"), 0);
	assert_string_equal(b.data, "ok");
	/* A length that would overflow size_t arithmetic is refused, not wrapped. */
	assert_int_equal(buf_add(&b, "", SIZE_MAX), ERR_TOOBIG);
	assert_null(b.data);
	assert_int_equal(buf_add(&b, "", SIZE_MAX - 1), ERR_TOOBIG);
	/* Formatted output over the limit too. */
	assert_int_equal(buf_addf(&b, "%s", "0123456789A"), ERR_TOOBIG);
	assert_null(b.data);
	buf_free(&b);

	/* A limit of 0 accepts nothing but empty writes. */
	buf_init(&b, 0);
	assert_int_equal(buf_add(&b, "", 0), 0);
	assert_int_equal(buf_add(&b, "a", 1), ERR_TOOBIG);
	buf_free(&b);
}

static void test_buf_steal(void **state)
{
	buf b;
	char *s;

	(void)state;
	buf_init(&b, 100);
	/* Nothing written: still a string the caller can free. */
	s = buf_steal(&b);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(buf_adds(&b, "hello"), 0);
	s = buf_steal(&b);
	assert_string_equal(s, "hello");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	free(s);
	/* Usable again after a steal. */
	assert_int_equal(buf_adds(&b, "again"), 0);
	assert_string_equal(b.data, "again");
	buf_free(&b);
}

static void test_hex(void **state)
{
	static const unsigned char raw[] = {0x00, 0x0f, 0xf0, 0xff, 0x5a};
	char out[2 * sizeof(raw) + 1];
	char id[33];

	(void)state;
	memset(out, 'x', sizeof(out));
	util_hex(raw, sizeof(raw), out);
	assert_string_equal(out, "000ff0ff5a");
	util_hex(raw, 0, out);
	assert_string_equal(out, "");
	/* util_random_hex writes through it: len digits of [0-9a-f]. */
	assert_int_equal(util_random_hex(id, 32), 0);
	assert_int_equal(strlen(id), 32);
	assert_int_equal(strspn(id, "0123456789abcdef"), 32);
}

/* buf_add_json: what jansson writes (test_personalizer compares them byte for byte), and valid
 * JSON (jansson reads back the string) whatever the bytes. */
static void test_buf_add_json(void **state)
{
	static const struct {
		const char *in;
		const char *text;    /* what buf_add_json writes */
		const char *decoded; /* what a JSON parser reads back */
	} cases[] = {
	    {"", "\"\"", ""},
	    {"OFFER_1", "\"OFFER_1\"", "OFFER_1"},
	    {"a\"b\\c", "\"a\\\"b\\\\c\"", "a\"b\\c"},
	    {"tab\there\n\r\b\f", "\"tab\\there\\n\\r\\b\\f\"", "tab\there\n\r\b\f"},
	    {"bell\x07\x1f del\x7f", "\"bell\\u0007\\u001f del\x7f\"", "bell\x07\x1f del\x7f"},
	    {"caf\xc3\xa9 \xe2\x82\xac", "\"caf\xc3\xa9 \xe2\x82\xac\"", "caf\xc3\xa9 \xe2\x82\xac"},
	    /* Not UTF-8: a lone continuation byte, a cut sequence, an overlong '/'. */
	    {"a\x80"
	     "b",
	     "\"a\\ufffdb\"",
	     "a\xef\xbf\xbd"
	     "b"},
	    {"x\xe2\x82", "\"x\\ufffd\\ufffd\"", "x\xef\xbf\xbd\xef\xbf\xbd"},
	    {"\xc0\xaf", "\"\\ufffd\\ufffd\"", "\xef\xbf\xbd\xef\xbf\xbd"},
	};
	buf b;

	(void)state;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
		json_t *j;
		json_error_t err;

		buf_init(&b, 1024);
		assert_int_equal(buf_add_json(&b, cases[i].in), 0);
		assert_string_equal(b.data, cases[i].text);
		j = json_loads(b.data, JSON_DECODE_ANY, &err);
		assert_non_null(j);
		assert_string_equal(json_string_value(j), cases[i].decoded);
		json_decref(j);
		buf_free(&b);
	}
	/* Past the limit: ERR_TOOBIG and the buffer freed, as every buf_add. */
	buf_init(&b, 8);
	assert_int_equal(buf_add_json(&b, "12345678"), ERR_TOOBIG);
	assert_null(b.data);
}

/* --- strings and time ------------------------------------------------------ */

static void test_strings(void **state)
{
	char small[4];
	char t[32];
	char *p;

	(void)state;
	assert_int_equal(util_strlcpy(small, "abcdef", sizeof(small)), 6);
	assert_string_equal(small, "abc");
	assert_int_equal(util_strlcpy(small, "ab", sizeof(small)), 2);
	assert_string_equal(small, "ab");
	small[0] = 'Q';
	assert_int_equal(util_strlcpy(small, "zz", 0), 2); /* nothing written */
	assert_int_equal(small[0], 'Q');

	util_strlcpy(t, " \t hi there \r\n", sizeof(t));
	assert_string_equal(util_trim(t), "hi there");
	util_strlcpy(t, "   ", sizeof(t));
	assert_string_equal(util_trim(t), "");
	util_strlcpy(t, "x", sizeof(t));
	assert_string_equal(util_trim(t), "x");

	assert_true(util_streq_nocase("True", "tRUE"));
	assert_false(util_streq_nocase("True", "Tru"));
	{
		static const char *const names[] = {"Online", "Apprentice", "LoggingOnly"};

		assert_int_equal(util_name_index(names, 3, "online"), 0);
		assert_int_equal(util_name_index(names, 3, "LOGGINGONLY"), 2);
		assert_int_equal(util_name_index(names, 3, "Logging"), -1);
		assert_int_equal(util_name_index(names, 2, "LoggingOnly"), -1);
	}

	p = xasprintf("%s-%03d", "a", 7);
	assert_string_equal(p, "a-007");
	free(p);
	p = xstrndup("abcdef", 3);
	assert_string_equal(p, "abc");
	free(p);
	p = xstrdup("");
	assert_string_equal(p, "");
	free(p);
	/* Zero-sized allocations still return memory the caller can free. */
	p = xmalloc(0);
	assert_non_null(p);
	free(p);
	p = xcalloc(0, 0);
	assert_non_null(p);
	free(p);
}

static void test_pair_find(void **state)
{
	static const util_pair t[] = {{"eu", "Europa"}, {".json", "application/json"}, {"EU", "x"}};

	(void)state;
	assert_string_equal(util_pair_find(t, 3, "eu", 0, "none"), "Europa");
	assert_string_equal(util_pair_find(t, 3, "Eu", 1, "none"), "Europa");
	assert_string_equal(util_pair_find(t, 3, "EU", 0, "none"), "x");
	assert_string_equal(util_pair_find(t, 3, "Eu", 0, "none"), "none");
	assert_string_equal(util_pair_find(t, 3, ".JSON", 0, "none"), "none");
	assert_string_equal(util_pair_find(t, 3, ".JSON", 1, "none"), "application/json");
	assert_string_equal(util_pair_find(t, 3, "", 1, "none"), "none");
	assert_null(util_pair_find(t, 3, NULL, 1, NULL));
	assert_string_equal(util_pair_find(t, 0, "eu", 1, "none"), "none");
}

static void test_time_helpers(void **state)
{
	double a, b;

	(void)state;
	a = util_monotonic();
	b = util_monotonic();
	assert_true(b >= a);
	assert_true(util_now() > 1.6e9);
}

/* --- strmap ------------------------------------------------------------------ */

static void test_strmap(void **state)
{
	strmap *m = strmap_new();
	const char *v = "untouched";
	char key[32];
	char val[32];

	(void)state;
	assert_int_equal(strmap_size(m), 0);
	assert_int_equal(strmap_get(m, "missing", &v), 0);
	assert_string_equal(v, "untouched");
	strmap_put(m, "OFFER_1", "IPHONE 13");
	strmap_put(m, "OFFER_2", NULL);
	assert_int_equal(strmap_get(m, "OFFER_1", &v), 1);
	assert_string_equal(v, "IPHONE 13");
	/* Present with a NULL value is not the same as absent. */
	assert_int_equal(strmap_get(m, "OFFER_2", &v), 1);
	assert_null(v);
	/* Replacing keeps the size. */
	strmap_put(m, "OFFER_1", "IPHONE 14");
	assert_int_equal(strmap_size(m), 2);
	assert_int_equal(strmap_get(m, "OFFER_1", &v), 1);
	assert_string_equal(v, "IPHONE 14");
	/* Copies, not borrowed pointers. */
	util_strlcpy(key, "k", sizeof(key));
	util_strlcpy(val, "v", sizeof(val));
	strmap_put(m, key, val);
	key[0] = 'X';
	val[0] = 'Y';
	assert_int_equal(strmap_get(m, "k", &v), 1);
	assert_string_equal(v, "v");
	/* Growth past the initial 64 slots keeps every entry. */
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		snprintf(val, sizeof(val), "val-%d", i * 3);
		strmap_put(m, key, val);
	}
	assert_int_equal(strmap_size(m), 5003);
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		snprintf(val, sizeof(val), "val-%d", i * 3);
		assert_int_equal(strmap_get(m, key, &v), 1);
		assert_string_equal(v, val);
	}
	assert_int_equal(strmap_get(m, "key-5000", &v), 0);
	assert_int_equal(strmap_get(m, "", &v), 0);
	strmap_put(m, "", "empty");
	assert_int_equal(strmap_get(m, "", &v), 1);
	assert_string_equal(v, "empty");
	strmap_free(m);
	strmap_free(NULL);
}

/* The table under strmap and values.c, with an entry wider than a key. */
typedef struct wide_entry {
	char *key;
	double x;
	int64_t n;
} wide_entry;

static void test_strtab(void **state)
{
	strtab t;
	wide_entry *e;
	int added = -1;
	char key[32];

	(void)state;
	strtab_init(&t, sizeof(wide_entry), 8);
	assert_null(strtab_find(&t, "a"));
	e = strtab_add(&t, "a", &added);
	assert_int_equal(added, 1);
	assert_string_equal(e->key, "a");
	/* A new entry is zeroed but for its key. */
	assert_true(e->x == 0.0);
	assert_int_equal(e->n, 0);
	e->x = 2.5;
	e->n = 7;
	/* Adding a present key finds it, as it was. */
	e = strtab_add(&t, "a", &added);
	assert_int_equal(added, 0);
	assert_true(e->x == 2.5);
	assert_int_equal(t.used, 1);
	/* Growing from 8 slots moves whole entries, and keeps the 70 % bound. */
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		e = strtab_add(&t, key, &added);
		assert_int_equal(added, 1);
		e->n = i;
	}
	assert_int_equal(t.used, 1001);
	assert_true(t.used * 10 <= t.cap * 7);
	assert_int_equal(t.cap & (t.cap - 1), 0);
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		e = strtab_find(&t, key);
		assert_non_null(e);
		assert_string_equal(e->key, key);
		assert_int_equal(e->n, i);
	}
	e = strtab_find(&t, "a");
	assert_non_null(e);
	assert_true(e->x == 2.5);
	assert_null(strtab_find(&t, "k1000"));
	strtab_release(&t);
	assert_null(t.slots);
	assert_int_equal(t.used, 0);
}

/* --- rng ------------------------------------------------------------------- */

static void test_rng_deterministic(void **state)
{
	rng a, b, c;

	(void)state;
	rng_seed(&a, 42);
	rng_seed(&b, 42);
	rng_seed(&c, 43);
	for (int i = 0; i < 100; i++) {
		uint64_t x = rng_next(&a);

		assert_true(x == rng_next(&b));
		(void)rng_next(&c);
	}
	rng_seed(&a, 42);
	rng_seed(&c, 43);
	assert_true(rng_next(&a) != rng_next(&c));
	/* The thread generator is seeded once and stays the same object. */
	assert_ptr_equal(rng_thread(), rng_thread());
}

static void test_rng_ranges(void **state)
{
	rng r;
	size_t counts[7] = {0};
	const int n = 70000;
	double sum = 0;

	(void)state;
	rng_seed(&r, 7);
	for (int i = 0; i < n; i++) {
		double u = rng_uniform(&r);
		uint64_t k = rng_below(&r, 7);

		assert_true(u >= 0.0 && u < 1.0);
		assert_true(k < 7);
		counts[k]++;
		sum += u;
	}
	/* Mean 0.5 with sd 1/sqrt(12 n): 0.0011 here; 5 sd. */
	assert_true(fabs(sum / n - 0.5) < 0.006);
	/* Each bucket 10000 +- 5 sd (sd ~ 92). */
	for (int k = 0; k < 7; k++)
		assert_true(counts[k] > 9540 && counts[k] < 10460);
	assert_int_equal(rng_below(&r, 0), 0);
	assert_int_equal(rng_below(&r, 1), 0);
}

static void test_rng_distributions(void **state)
{
	rng r;
	const int n = 20000;
	double sn = 0, sn2 = 0, sb = 0, sg = 0;

	(void)state;
	rng_seed(&r, 99);
	for (int i = 0; i < n; i++) {
		double z = rng_normal(&r);
		double b = rng_beta(&r, 2.0, 6.0);
		double g = rng_gamma(&r, 0.5); /* the shape < 1 branch */

		assert_true(isfinite(z));
		assert_true(b >= 0.0 && b <= 1.0);
		assert_true(g >= 0.0 && isfinite(g));
		sn += z;
		sn2 += z * z;
		sb += b;
		sg += g;
	}
	assert_true(fabs(sn / n) < 0.05);
	assert_true(fabs(sn2 / n - 1.0) < 0.05);
	/* Beta(2, 6) has mean 0.25; Gamma(0.5, 1) mean 0.5. */
	assert_true(fabs(sb / n - 0.25) < 0.01);
	assert_true(fabs(sg / n - 0.5) < 0.03);
}

/* --- auth ------------------------------------------------------------------- */

static void test_auth(void **state)
{
	char k1[AUTH_KEY_LEN + 1];
	char k2[AUTH_KEY_LEN + 1];
	char h[AUTH_HASH_LEN + 1];
	char prefix[AUTH_PREFIX_LEN + 1];

	(void)state;
	assert_int_equal(auth_key_new(k1), 0);
	assert_int_equal(auth_key_new(k2), 0);
	assert_int_equal(strlen(k1), AUTH_KEY_LEN);
	assert_memory_equal(k1, "ofr_", 4);
	for (size_t i = 4; i < AUTH_KEY_LEN; i++)
		assert_true(isalnum((unsigned char)k1[i]));
	assert_string_not_equal(k1, k2);
	/* SHA-256 test vector (FIPS 180-2). */
	auth_hash("abc", h);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	auth_hash("", h);
	assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	auth_prefix(k1, prefix);
	assert_int_equal(strlen(prefix), AUTH_PREFIX_LEN);
	assert_memory_equal(prefix, k1, AUTH_PREFIX_LEN);
	/* A short input gives a short prefix, never an over-read. */
	auth_prefix("ofr_ab", prefix);
	assert_string_equal(prefix, "ofr_ab");
}

/* --- log -------------------------------------------------------------------- */

/* One log_msg of msg, as written to stderr, into out. */
static void capture_log(int json, const char *msg, char *out, size_t cap)
{
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n;

	assert_non_null(f);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
	log_setup(LOG_INFO, json);
	log_msg(LOG_INFO, "%s", msg);
	log_setup(LOG_INFO, 0);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	rewind(f);
	n = fread(out, 1, cap - 1, f);
	out[n] = '\0';
	fclose(f);
}

/* A message longer than the line's 2 KiB is cut with a marker, not silently. */
static void test_log_long_message_marked(void **state)
{
	static char msg[3000];
	static char out[8192];
	size_t n;

	(void)state;
	memset(msg, 'a', sizeof(msg) - 1);
	capture_log(0, msg, out, sizeof(out));
	n = strlen(out);
	assert_true(n > 2047 && n < 2200);
	assert_string_equal(out + n - strlen("a [truncated]\n"), "a [truncated]\n");
	capture_log(1, msg, out, sizeof(out));
	n = strlen(out);
	assert_true(n > 2047 && n < 2200);
	assert_string_equal(out + n - strlen("a [truncated]\"}\n"), "a [truncated]\"}\n");
	/* A message that fits is written whole. */
	capture_log(0, "short message", out, sizeof(out));
	assert_non_null(strstr(out, " info  short message\n"));
	assert_null(strstr(out, "[truncated]"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_strtonum_accepts),
	    cmocka_unit_test(test_strtonum_rejects),
	    cmocka_unit_test(test_strtod),
	    cmocka_unit_test(test_hexval),
	    cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_buf_grows_and_terminates),
	    cmocka_unit_test(test_buf_limit_frees_itself),
	    cmocka_unit_test(test_buf_steal),
	    cmocka_unit_test(test_buf_add_json),
	    cmocka_unit_test(test_hex),
	    cmocka_unit_test(test_strings),
	    cmocka_unit_test(test_pair_find),
	    cmocka_unit_test(test_time_helpers),
	    cmocka_unit_test(test_strmap),
	    cmocka_unit_test(test_strtab),
	    cmocka_unit_test(test_rng_deterministic),
	    cmocka_unit_test(test_rng_ranges),
	    cmocka_unit_test(test_rng_distributions),
	    cmocka_unit_test(test_auth),
	    cmocka_unit_test(test_log_long_message_marked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
