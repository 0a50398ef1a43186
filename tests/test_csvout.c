/*
 * test_csvout.c — the one CSV field writer: RFC 4180 quoting, and OWASP's
 * formula neutralisation (a leading =, +, -, @, TAB or CR gets a single
 * quote in front and the field is quoted), read back through libcsv.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <csv.h>
#include <string.h>

#include "csvout.h"

static char *field(buf *b, const char *s)
{
	buf_reset(b);
	assert_int_equal(csv_write_field(b, s), 0);
	return b->data != NULL ? b->data : "";
}

static void test_formula_cells(void **unused)
{
	buf b;

	(void)unused;
	buf_init(&b, 4096);
	assert_string_equal(field(&b, "=1+2"), "\"'=1+2\"");
	assert_string_equal(field(&b, "+33 1 23"), "\"'+33 1 23\"");
	assert_string_equal(field(&b, "-5"), "\"'-5\"");
	assert_string_equal(field(&b, "@SUM(A1:A9)"), "\"'@SUM(A1:A9)\"");
	assert_string_equal(field(&b, "\tx"), "\"'\tx\"");
	assert_string_equal(field(&b, "\rx"), "\"'\rx\"");
	/* Quotes inside are still doubled after the neutralising quote. */
	assert_string_equal(field(&b, "=HYPERLINK(\"http://x\",\"y\")"),
	                    "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
	/* Only the first character counts; plain cells are untouched. */
	assert_string_equal(field(&b, "a=1"), "a=1");
	assert_string_equal(field(&b, "OFFER_1"), "OFFER_1");
	assert_string_equal(field(&b, "2394823"), "2394823");
	assert_string_equal(field(&b, ""), "");
	assert_string_equal(field(&b, "a,b"), "\"a,b\"");
	buf_free(&b);
}

static void test_result_row(void **unused)
{
	buf b;
	csv_result bad = {.customer_id = "=cmd|' /C calc'!A0", .error = "-bad"};

	(void)unused;
	buf_init(&b, 4096);
	assert_int_equal(csv_write_result(&b, &bad, 0), 0);
	assert_string_equal(b.data, "\"'=cmd|' /C calc'!A0\",,,,,error,\"'-bad\"\r\n");
	buf_free(&b);
}

static void cell(void *s, size_t len, void *arg)
{
	assert_int_equal(buf_add(arg, "[", 1), 0);
	assert_int_equal(buf_add(arg, s, len), 0);
	assert_int_equal(buf_add(arg, "]", 1), 0);
}

/* What a reader gets back is the text with one quote in front, as one cell. */
static void test_roundtrip(void **unused)
{
	buf out;
	buf got;
	struct csv_parser p;

	(void)unused;
	buf_init(&out, 4096);
	buf_init(&got, 4096);
	assert_int_equal(csv_write_field(&out, "=A1,\"x\""), 0);
	assert_int_equal(csv_init(&p, 0), 0);
	assert_int_equal(csv_parse(&p, out.data, out.len, cell, NULL, &got), out.len);
	csv_fini(&p, cell, NULL, &got);
	csv_free(&p);
	assert_string_equal(got.data, "['=A1,\"x\"]");
	buf_free(&out);
	buf_free(&got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_formula_cells),
	    cmocka_unit_test(test_result_row),
	    cmocka_unit_test(test_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
