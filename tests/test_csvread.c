/*
 * test_csvread.c — the CSV byte reader shared by csvin, rfm and products
 * import: delimiter sniffing, BOM, line ends, quoting, blank lines, the
 * limits (columns, field length, hard field length, header line, rows),
 * the callback's stop, and header name folding. Every input is also fed
 * one byte at a time: where the bytes are cut must not change the rows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csvread.h"
#include "util.h"

static const csvr_options small = {
    .delim = 0,
    .columns_max = 8,
    .field_max = 16,
    .field_hard_max = 4096,
    .field_hard_rc = ERR_INVAL,
    .header_max = 256,
    .rows_max = 100,
};

/* Every row as "N:nfields:[f0][f1]..." with markers for problems, one per line. */
typedef struct trace {
	buf b;
	csvr *r;
	int64_t stop_at; /* a data row whose callback returns 7; 0 for never */
	int fail_at;     /* a data row whose callback calls csvr_fail; 0 for never */
} trace;

static int on_row(void *arg, const csvr_row *row)
{
	trace *t = arg;

	assert_int_equal(buf_addf(&t->b, "%lld:%d:", (long long)row->row, row->nfields), 0);
	for (int c = 0; c < row->nkept; c++) {
		if (row->problem[c] == CSVR_FIELD_TOO_LONG)
			assert_int_equal(buf_adds(&t->b, "[LONG]"), 0);
		else if (row->problem[c] == CSVR_FIELD_NUL)
			assert_int_equal(buf_adds(&t->b, "[NUL]"), 0);
		else
			assert_int_equal(buf_addf(&t->b, "[%s]", row->field[c]), 0);
	}
	if (row->extra_nonempty)
		assert_int_equal(buf_adds(&t->b, "+extra"), 0);
	if (row->unterminated)
		assert_int_equal(buf_adds(&t->b, "+open"), 0);
	assert_int_equal(buf_adds(&t->b, "\n"), 0);
	if (t->fail_at != 0 && row->row == t->fail_at)
		return csvr_fail(t->r, ERR_INVAL, "row %lld: no good", (long long)row->row);
	if (t->stop_at != 0 && row->row == t->stop_at)
		return 7;
	return 0;
}

/*
 * Reads text with opt, whole and byte by byte; both must agree. Returns the
 * result, the trace in *out (caller frees) and the error into err.
 */
static int read_text(const csvr_options *opt, const char *text, size_t len, trace *tmpl, char **out,
                     char *err, size_t errlen)
{
	char *got[2];
	int rcs[2];
	char errs[2][CSVR_ERROR_MAX];

	for (int pass = 0; pass < 2; pass++) {
		trace t = *tmpl;
		int rc = 0;

		buf_init(&t.b, 1 << 20);
		t.r = csvr_new(opt, on_row, &t);
		if (pass == 0) {
			rc = csvr_feed(t.r, text, len);
		} else {
			for (size_t i = 0; i < len && rc == 0; i++)
				rc = csvr_feed(t.r, text + i, 1);
		}
		if (rc == 0)
			rc = csvr_finish(t.r);
		assert_int_equal(buf_adds(&t.b, ""), 0);
		rcs[pass] = rc;
		snprintf(errs[pass], sizeof(errs[pass]), "%s", csvr_error(t.r));
		got[pass] = buf_steal(&t.b);
		csvr_free(t.r);
	}
	assert_string_equal(got[0], got[1]);
	assert_int_equal(rcs[0], rcs[1]);
	assert_string_equal(errs[0], errs[1]);
	free(got[1]);
	*out = got[0];
	if (err != NULL)
		snprintf(err, errlen, "%s", errs[0]);
	return rcs[0];
}

static void expect(const csvr_options *opt, const char *text, int rc, const char *rows,
                   const char *err_part)
{
	trace t = {0};
	char *got;
	char err[CSVR_ERROR_MAX];

	assert_int_equal(read_text(opt, text, strlen(text), &t, &got, err, sizeof(err)), rc);
	assert_string_equal(got, rows);
	if (err_part != NULL && strstr(err, err_part) == NULL)
		fail_msg("error '%s' does not contain '%s'", err, err_part);
	free(got);
}

static void test_delimiters(void **unused)
{
	csvr_options fixed = small;

	(void)unused;
	expect(&small, "a;b,c;d\n1;2,3;4\n", 0, "0:3:[a][b,c][d]\n1:3:[1][2,3][4]\n", NULL);
	expect(&small, "a,b;c,d\n1,2;3,4\n", 0, "0:3:[a][b;c][d]\n1:3:[1][2;3][4]\n", NULL);
	/* A tab delimiter is not trimmed as white space; spaces around fields are. */
	expect(&small, "a\tb\n 1 \t\t\n", 0, "0:2:[a][b]\n1:3:[1][]\n", NULL);
	/* Ties go to ';', then ','; delimiters inside quotes do not count. */
	expect(&small, "a;b,c\n", 0, "0:2:[a][b,c]\n", NULL);
	expect(&small, "\"a;b;c\",d\n", 0, "0:2:[a;b;c][d]\n", NULL);
	expect(&small, "single\n1\n", 0, "0:1:[single]\n1:1:[1]\n", NULL);
	/* A fixed delimiter is not sniffed. */
	fixed.delim = ',';
	expect(&fixed, "a;b;c,d\n1;2,3\n", 0, "0:2:[a;b;c][d]\n1:2:[1;2][3]\n", NULL);
}

static void test_bom_line_ends_quotes(void **unused)
{
	(void)unused;
	expect(&small,
	       "\xEF\xBB\xBF"
	       "a,b\r\n1,2\r\n",
	       0, "0:2:[a][b]\n1:2:[1][2]\n", NULL);
	expect(&small, "a,b\r1,2\r3,4", 0, "0:2:[a][b]\n1:2:[1][2]\n2:2:[3][4]\n", NULL);
	/* Blank lines are skipped and not counted. */
	expect(&small, "a,b\n\n\r\n1,2\n\n3,4\n\n", 0, "0:2:[a][b]\n1:2:[1][2]\n2:2:[3][4]\n", NULL);
	expect(&small, "a,b\n\"x,\"\"y\"\"\nz\",2\n", 0, "0:2:[a][b]\n1:2:[x,\"y\"\nz][2]\n", NULL);
	/* A quoted header line end does not end the header. */
	expect(&small, "\"a\nb\",c\n1,2\n", 0, "0:2:[a\nb][c]\n1:2:[1][2]\n", NULL);
	/* A quote left open at the end of the input is flagged on its row. */
	expect(&small, "a,b\n1,\"2\n3,4\n", 0, "0:2:[a][b]\n1:2:[1][2\n3,4\n]+open\n", NULL);
}

static void test_widths_and_field_limits(void **unused)
{
	csvr_options two = small;

	(void)unused;
	/* Data rows keep the header's width; text past it is flagged, blanks are not. */
	expect(&small, "a,b\n1,2,3\n1,2, \n1\n", 0,
	       "0:2:[a][b]\n1:3:[1][2]+extra\n2:3:[1][2]\n3:1:[1]\n", NULL);
	/* The header keeps at most columns_max fields but counts them all. */
	two.columns_max = 2;
	expect(&two, "a,b,c\n1,2,3\n", 0, "0:3:[a][b]+extra\n1:3:[1][2]+extra\n", NULL);
	/* A field over field_max is not kept; nor is one with a NUL. */
	expect(&small, "a,b\n12345678901234567,2\n", 0, "0:2:[a][b]\n1:2:[LONG][2]\n", NULL);
	{
		const char text[] = "a,b\n1,x\0y\n";
		trace t = {0};
		char *got;

		assert_int_equal(read_text(&small, text, sizeof(text) - 1, &t, &got, NULL, 0), 0);
		assert_string_equal(got, "0:2:[a][b]\n1:2:[1][NUL]\n");
		free(got);
	}
}

static void test_hard_limits(void **unused)
{
	csvr_options opt = small;
	buf b;
	trace t = {0};
	char *got;
	char err[CSVR_ERROR_MAX];

	(void)unused;
	/* The header line is bounded. */
	buf_init(&b, 1 << 20);
	for (int i = 0; i < 300; i++)
		assert_int_equal(buf_add(&b, "h", 1), 0);
	assert_int_equal(read_text(&opt, b.data, b.len, &t, &got, err, sizeof(err)), ERR_INVAL);
	assert_non_null(strstr(err, "first line is longer than 256 bytes"));
	assert_string_equal(got, "");
	free(got);
	buf_free(&b);

	/* A field swallowing the input stops at field_hard_max with the chosen code. */
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_adds(&b, "a,b\n1,2\n3,\""), 0);
	for (int i = 0; i < 5000; i++)
		assert_int_equal(buf_add(&b, "y", 1), 0);
	opt.field_hard_rc = ERR_TOOBIG;
	assert_int_equal(read_text(&opt, b.data, b.len, &t, &got, err, sizeof(err)), ERR_TOOBIG);
	assert_non_null(strstr(err, "row 2: a field is longer than 4096 bytes"));
	assert_string_equal(got, "0:2:[a][b]\n1:2:[1][2]\n");
	free(got);
	buf_free(&b);

	/* The row limit delivers the rows it allows, then fails. */
	opt = small;
	opt.rows_max = 2;
	expect(&opt, "a\n1\n2\n3\n", ERR_TOOBIG, "0:1:[a]\n1:1:[1]\n2:1:[2]\n",
	       "row 3: more than 2 data rows");
	expect(&opt, "a\n1\n2\n", 0, "0:1:[a]\n1:1:[1]\n2:1:[2]\n", NULL);

	/* No header at all. */
	expect(&small, "", ERR_INVAL, "", "empty input: no header line");
	expect(&small, "\xEF\xBB\xBF", ERR_INVAL, "", "empty input: no header line");
	expect(&small, "\n\n", ERR_INVAL, "", "empty input: no header line");
}

static void test_callback_stops(void **unused)
{
	const char *text = "a\n1\n2\n3\n";
	trace t = {0};
	char *got;
	char err[CSVR_ERROR_MAX];
	csvr *r;

	(void)unused;
	t.stop_at = 2;
	assert_int_equal(read_text(&small, text, strlen(text), &t, &got, err, sizeof(err)), 7);
	assert_string_equal(got, "0:1:[a]\n1:1:[1]\n2:1:[2]\n");
	assert_string_equal(err, "row 2: stopped by the caller (7)");
	free(got);

	t.stop_at = 0;
	t.fail_at = 1;
	assert_int_equal(read_text(&small, text, strlen(text), &t, &got, err, sizeof(err)), ERR_INVAL);
	assert_string_equal(got, "0:1:[a]\n1:1:[1]\n");
	assert_string_equal(err, "row 1: no good");
	free(got);

	/* After an error nothing more is accepted; after the end neither. */
	memset(&t, 0, sizeof(t));
	buf_init(&t.b, 1 << 16);
	r = csvr_new(&small, on_row, &t);
	t.r = r;
	assert_int_equal(csvr_feed(r, "a\n1\n", 4), 0);
	assert_int_equal(csvr_finish(r), 0);
	assert_int_equal(csvr_rows(r), 1);
	assert_int_equal(csvr_delim(r), ',');
	assert_int_equal(csvr_finish(r), 0);
	assert_int_equal(csvr_feed(r, "2\n", 2), ERR_INVAL);
	assert_non_null(strstr(csvr_error(r), "after the end"));
	csvr_free(r);
	buf_free(&t.b);
}

static void test_names(void **unused)
{
	char out[16];

	(void)unused;
	assert_int_equal(csvr_name_fold("Customer_ID", out, sizeof(out)), 0);
	assert_string_equal(out, "customerid");
	assert_int_equal(csvr_name_fold("a_very_long header name", out, sizeof(out)), ERR_RANGE);
	assert_int_equal(csvr_name_fold("A-b c", out, sizeof(out)), 0);
	assert_string_equal(out, "abc");
	assert_true(csvr_name_is("Invoice No", "InvoiceNo"));
	assert_true(csvr_name_is("OFFER-ID", "offer_id"));
	assert_true(csvr_name_is("customerid", "CustomerID"));
	assert_false(csvr_name_is("customer", "CustomerID"));
	assert_false(csvr_name_is("", "x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_delimiters),
	    cmocka_unit_test(test_bom_line_ends_quotes),
	    cmocka_unit_test(test_widths_and_field_limits),
	    cmocka_unit_test(test_hard_limits),
	    cmocka_unit_test(test_callback_stops),
	    cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
