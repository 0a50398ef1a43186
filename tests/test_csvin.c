/*
 * test_csvin.c — the streaming CSV reader and the result writer: Company B's
 * real file, messy fixtures (BOM, CRLF and LF, quotes with embedded
 * delimiters and newlines, missing and extra columns, bad values), every
 * input fed in chunks of many sizes to prove the result does not depend on
 * where the bytes are cut, and the hard limits.
 *
 * Includes csvin.c to reach its static helpers (h2o's style); run from the
 * repository root (scripts/run-tests.sh does) so tests/data/ is found.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <csv.h>

#include "csvin.c"
#include "csvout.h"

#define TODAY "2030-06-15"

/* Everything the callback saw, flattened to one text per row for comparison. */
typedef struct seen {
	int n;
	int cap;
	char **line;   /* "ROW|ID|BODY-or-ERROR" */
	json_t **body; /* kept bodies (NULL for errors) */
	int stop_at;   /* return 1 from the callback at this row (0: never) */
} seen;

static int collect(void *arg, const csv_record *rec)
{
	seen *s = arg;
	char *text;
	json_t *body = NULL;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 32;
		s->line = xrealloc(s->line, (size_t)s->cap * sizeof(*s->line));
		s->body = xrealloc(s->body, (size_t)s->cap * sizeof(*s->body));
	}
	assert_int_equal(rec->row, s->n + 1);
	assert_true((rec->req == NULL) != (rec->error == NULL));
	if (rec->req != NULL) {
		/* The request as offerctl batch sends it. */
		char *js = request_predict_body(rec->req);

		assert_non_null(js);
		text = xasprintf("%lld|%s|%s", (long long)rec->row, rec->customer_id, js);
		body = json_loads(js, 0, NULL);
		assert_non_null(body);
		free(js);
	} else {
		text = xasprintf("%lld|%s|ERROR %s", (long long)rec->row, rec->customer_id, rec->error);
	}
	s->line[s->n] = text;
	s->body[s->n] = body;
	s->n++;
	if (s->stop_at != 0 && rec->row == s->stop_at)
		return 1;
	return 0;
}

static void seen_free(seen *s)
{
	for (int i = 0; i < s->n; i++) {
		free(s->line[i]);
		json_decref(s->body[i]);
	}
	free(s->line);
	free(s->body);
	memset(s, 0, sizeof(*s));
}

/* Feeds data in chunks of `chunk` bytes (0: all at once); returns the reader's result. */
static int run(const char *data, size_t len, size_t chunk, const rules *rs, seen *s, char *err,
               size_t errlen)
{
	csv_reader *rd = csv_reader_new(rs, collect, s);
	int rc = 0;

	assert_int_equal(csv_reader_set_today(rd, TODAY), 0);
	if (chunk == 0)
		chunk = len ? len : 1;
	for (size_t pos = 0; pos < len && rc == 0; pos += chunk)
		rc = csv_reader_feed(rd, data + pos, len - pos < chunk ? len - pos : chunk);
	if (rc == 0)
		rc = csv_reader_finish(rd);
	if (err != NULL)
		snprintf(err, errlen, "%s", csv_reader_error(rd));
	csv_reader_free(rd);
	return rc;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	buf b;
	char tmp[4096];
	size_t n;

	if (f == NULL)
		fail_msg("cannot open %s (run from the repository root)", path);
	buf_init(&b, 64 << 20);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		assert_int_equal(buf_add(&b, tmp, n), 0);
	fclose(f);
	*len = b.len;
	return buf_steal(&b);
}

static rules *default_rules(void)
{
	rules *rs = NULL;

	assert_int_equal(rules_default(&rs), 0);
	return rs;
}

/* Runs the whole input at many chunk sizes and checks every run saw the same rows. */
static void run_all_chunkings(const char *data, size_t len, const rules *rs, seen *out)
{
	static const size_t chunks[] = {1, 2, 3, 5, 7, 13, 64, 1000, 4096, 0};
	seen ref = {0};

	assert_int_equal(run(data, len, 0, rs, &ref, NULL, 0), 0);
	for (size_t c = 0; c < UTIL_ARRAY_LEN(chunks); c++) {
		seen s = {0};

		assert_int_equal(run(data, len, chunks[c], rs, &s, NULL, 0), 0);
		assert_int_equal(s.n, ref.n);
		for (int i = 0; i < s.n; i++)
			assert_string_equal(s.line[i], ref.line[i]);
		seen_free(&s);
	}
	*out = ref;
}

static int offer(const json_t *body, int n)
{
	char key[24];
	json_t *v;

	snprintf(key, sizeof(key), "OFFER_%d", n);
	v = json_object_get(json_object_get(body, "offers"), key);
	assert_non_null(v);
	return json_is_true(v);
}

static const char *state(const json_t *body, const char *key)
{
	json_t *v = json_object_get(json_object_get(body, "states"), key);

	assert_non_null(v);
	return json_string_value(v);
}

/* --- Company B's real file --------------------------------------------- */

static void test_company_b(void **unused)
{
	rules *rs = default_rules();
	size_t len;
	char *data = slurp("examples/company_B.csv", &len);
	seen s = {0};
	int europa = 0;
	int over65 = 0;

	(void)unused;
	run_all_chunkings(data, len, rs, &s);
	assert_int_equal(s.n, 19);
	for (int i = 0; i < s.n; i++) {
		json_t *b = s.body[i];
		char id[16];
		json_int_t age;

		assert_non_null(b);
		snprintf(id, sizeof(id), "%d", 2394823 + i);
		assert_string_equal(json_string_value(json_object_get(b, "customer_id")), id);
		/* The export's 1900-01-xx placeholders become the reader's today. */
		assert_string_equal(json_string_value(json_object_get(b, "timestamp")), TODAY);
		assert_string_equal(state(b, "client-since"), "unknown");
		age = json_integer_value(json_object_get(json_object_get(b, "states"), "age"));
		if (strcmp(state(b, "region"), "Europa") == 0) {
			europa++;
			assert_false(offer(b, 4));
			assert_false(offer(b, 5));
			assert_false(offer(b, 6));
		}
		if (age > 65) {
			over65++;
			assert_false(offer(b, 1));
			assert_false(offer(b, 3));
			assert_false(offer(b, 4));
		}
		if (strcmp(state(b, "region"), "Europa") != 0 && age <= 65) {
			for (int k = 1; k <= 10; k++)
				assert_true(offer(b, k));
		}
		for (int k = 7; k <= 10; k++)
			assert_true(offer(b, k));
	}
	assert_int_equal(europa, 8);
	assert_int_equal(over65, 2);
	/* Row 10 is 71 in Europa, row 14 is 80 in the Americas. */
	assert_string_equal(
	    s.line[9], "10|2394832|{\"customer_id\":\"2394832\",\"timestamp\":\"" TODAY "\",\"states\":"
	               "{\"age\":71,\"gender\":\"M\",\"client-since\":\"unknown\",\"region\":\"Europa\","
	               "\"last_offer\":\"OFFER_2\"},\"offers\":{\"OFFER_1\":false,\"OFFER_2\":true,"
	               "\"OFFER_3\":false,\"OFFER_4\":false,\"OFFER_5\":false,\"OFFER_6\":false,"
	               "\"OFFER_7\":true,\"OFFER_8\":true,\"OFFER_9\":true,\"OFFER_10\":true}}");
	assert_false(offer(s.body[13], 1));
	assert_true(offer(s.body[13], 5));
	/* Genders: M, f, Male, F, blank, MALE, female all normalised. */
	assert_string_equal(state(s.body[1], "gender"), "F");
	assert_string_equal(state(s.body[2], "gender"), "M");
	assert_string_equal(state(s.body[10], "gender"), "unknown");
	assert_string_equal(state(s.body[14], "gender"), "M");
	assert_string_equal(state(s.body[18], "gender"), "F");
	/* Blank region and last offer. */
	assert_string_equal(state(s.body[3], "region"), "unknown");
	assert_string_equal(state(s.body[4], "last_offer"), "unknown");
	assert_string_equal(state(s.body[16], "last_offer"), "OFFER_10");
	seen_free(&s);
	free(data);
	rules_free(rs);
}

/* Without rules every offer of Company B stays true. */
/*
 * The rules compare the region the agent uses, not the text of the file:
 * "Europe" and "EU" are Europa, so OFFER_4..6 are denied. The request keeps
 * the region as the file wrote it.
 */
static void test_rules_see_normalised_region(void **unused)
{
	const char *text = "customer_id;age;gender;region;Offer_1;Offer_4;Offer_5;Offer_6;Offer_7\n"
	                   "1;30;male;Europe;1;1;1;1;1\n"
	                   "2;30;F;EU;1;1;1;1;1\n"
	                   "3;70;woman;Asia;1;1;1;1;1\n";
	rules *rs = default_rules();
	seen s = {0};

	(void)unused;
	run_all_chunkings(text, strlen(text), rs, &s);
	assert_int_equal(s.n, 3);
	for (int i = 0; i < 2; i++) {
		assert_non_null(s.body[i]);
		assert_true(offer(s.body[i], 1));
		assert_false(offer(s.body[i], 4));
		assert_false(offer(s.body[i], 5));
		assert_false(offer(s.body[i], 6));
		assert_true(offer(s.body[i], 7));
	}
	assert_string_equal(state(s.body[0], "region"), "Europe");
	assert_string_equal(state(s.body[1], "region"), "EU");
	/* Over 65: OFFER_1 and OFFER_4 denied, whatever the region is called. */
	assert_false(offer(s.body[2], 1));
	assert_false(offer(s.body[2], 4));
	assert_true(offer(s.body[2], 5));
	seen_free(&s);
	rules_free(rs);
}

static void test_company_b_no_rules(void **unused)
{
	size_t len;
	char *data = slurp("examples/company_B.csv", &len);
	seen s = {0};

	(void)unused;
	assert_int_equal(run(data, len, 0, NULL, &s, NULL, 0), 0);
	assert_int_equal(s.n, 19);
	for (int i = 0; i < s.n; i++) {
		for (int k = 1; k <= 10; k++)
			assert_true(offer(s.body[i], k));
	}
	seen_free(&s);
	free(data);
}

/* --- messy fixtures ---------------------------------------------------- */

static void test_messy_semicolon(void **unused)
{
	rules *rs = default_rules();
	size_t len;
	char *data = slurp("tests/data/messy-semicolon-crlf-bom.csv", &len);
	seen s = {0};

	(void)unused;
	run_all_chunkings(data, len, rs, &s);
	/* 12 data rows and one blank line: every row is reported, in order. */
	assert_int_equal(s.n, 12);
	/* BOM stripped, "Customer ID" / "ClientSince" / "LastOffer" mapped, yes/Y/1 read. */
	assert_string_equal(
	    s.line[0],
	    "1|1001|{\"customer_id\":\"1001\",\"timestamp\":\"2022-01-01\",\"states\":{\"age\":30,"
	    "\"gender\":\"M\",\"client-since\":\"2020-05-06\",\"region\":\"Europa\",\"last_offer\":"
	    "\"OFFER_2\"},\"offers\":{\"OFFER_1\":true,\"OFFER_2\":true,\"OFFER_3\":true,"
	    "\"OFFER_4\":false,\"OFFER_5\":false,\"OFFER_6\":false}}");
	/* Date-time kept as its date; quoted field with ';' in an ignored column. */
	assert_string_equal(
	    s.line[1],
	    "2|1002|{\"customer_id\":\"1002\",\"timestamp\":\"2022-02-03\",\"states\":{\"age\":71,"
	    "\"gender\":\"F\",\"client-since\":\"unknown\",\"region\":\"Asia\",\"last_offer\":"
	    "\"unknown\"},\"offers\":{\"OFFER_1\":false,\"OFFER_2\":false,\"OFFER_3\":false,"
	    "\"OFFER_4\":false,\"OFFER_5\":false,\"OFFER_6\":true}}");
	assert_string_equal(s.line[2], "3|1003|ERROR age is not a number: 'abc'");
	assert_string_equal(s.line[3], "4||ERROR missing customer_id");
	assert_string_equal(
	    s.line[4], "5|1005|ERROR no eligible offer: every offer is false or denied by the rules");
	/* Quoted id, blank timestamp -> today, quoted region trimmed, newline inside quotes. */
	assert_string_equal(
	    s.line[5],
	    "6|1006|{\"customer_id\":\"1006\",\"timestamp\":\"" TODAY "\",\"states\":{\"age\":25,"
	    "\"gender\":\"F\",\"client-since\":\"unknown\",\"region\":\"Americas\",\"last_offer\":"
	    "\"OFFER_9\"},\"offers\":{\"OFFER_1\":true,\"OFFER_2\":true,\"OFFER_3\":true,"
	    "\"OFFER_4\":true,\"OFFER_5\":true,\"OFFER_6\":true}}");
	assert_string_equal(
	    s.line[6],
	    "7|1007|ERROR missing columns: the row has 10 of 14 (the first missing is OFFER_4)");
	assert_string_equal(s.line[7], "8|1008|ERROR too many columns: 15, the header has 14");
	assert_string_equal(s.line[8], "9|1009|ERROR OFFER_1 is not true or false: 'maybe'");
	/* After the blank line: 66, blank gender and region. */
	assert_string_equal(state(s.body[9], "gender"), "unknown");
	assert_string_equal(state(s.body[9], "region"), "unknown");
	assert_false(offer(s.body[9], 1));
	assert_true(offer(s.body[9], 2));
	assert_false(offer(s.body[9], 3));
	assert_false(offer(s.body[9], 4));
	/* A trailing empty extra field carries no data: accepted. */
	assert_non_null(s.body[10]);
	/* Doubled quotes inside a quoted field. */
	assert_string_equal(json_string_value(json_object_get(s.body[11], "customer_id")), "10\"12");
	seen_free(&s);
	free(data);
	rules_free(rs);
}

static void test_messy_comma(void **unused)
{
	rules *rs = default_rules();
	size_t len;
	char *data = slurp("tests/data/messy-comma-lf.csv", &len);
	seen s = {0};

	(void)unused;
	run_all_chunkings(data, len, rs, &s);
	assert_int_equal(s.n, 6);
	/* No timestamp / client-since / last_offer columns: defaults. */
	assert_string_equal(
	    s.line[0],
	    "1|C,1|{\"customer_id\":\"C,1\",\"timestamp\":\"" TODAY "\",\"states\":{\"age\":45,"
	    "\"gender\":\"M\",\"client-since\":\"unknown\",\"region\":\"Europa\",\"last_offer\":"
	    "\"unknown\"},\"offers\":{\"OFFER_1\":true,\"OFFER_2\":false,\"OFFER_3\":true}}");
	assert_non_null(s.body[1]);
	assert_string_equal(s.line[2],
	                    "3|C3|ERROR no eligible offer: every offer is false or denied by the rules");
	assert_string_equal(s.line[3], "4|C4|ERROR age is out of range 0..150: '200'");
	/* "18.0" is a whole number written by a spreadsheet; 18.5 is not an age. */
	assert_int_equal(json_integer_value(
	                     json_object_get(json_object_get(s.body[4], "states"), "age")),
	                 18);
	assert_string_equal(s.line[5], "6|C6|ERROR age is not a whole number of years: '18.5'");
	seen_free(&s);
	free(data);
	rules_free(rs);
}

static void test_header_without_customer_id(void **unused)
{
	size_t len;
	char *data = slurp("tests/data/no-customer-id.csv", &len);
	seen s = {0};
	char err[CSV_ERROR_MAX];

	(void)unused;
	assert_int_equal(run(data, len, 3, NULL, &s, err, sizeof(err)), ERR_INVAL);
	assert_int_equal(s.n, 0);
	assert_non_null(strstr(err, "no customer_id column"));
	seen_free(&s);
	free(data);
}

/* --- small inline cases ------------------------------------------------ */

static int run_text(const char *text, seen *s, char *err, size_t errlen)
{
	return run(text, strlen(text), 1, NULL, s, err, errlen);
}

static void test_header_errors(void **unused)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
	    {"", "empty input"},
	    {"\xEF\xBB\xBF", "empty input"},
	    {"customer_id;Offer_1\r\n1;true\r\n", "no age column"},
	    {"customer_id;age;region\r\n1;2;x\r\n", "no offer columns"},
	    {"customer_id;age;Age;Offer_1\n", "columns 2 and 3 are both age"},
	    {"customer_id;age;Offer_1;offer-1\n", "columns 3 and 4 are both OFFER_1"},
	    {"cust_id;age;client_since;Client-Since;offer1\n", "both client-since"},
	};

	(void)unused;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
		seen s = {0};
		char err[CSV_ERROR_MAX];

		assert_int_equal(run_text(cases[i].text, &s, err, sizeof(err)), ERR_INVAL);
		if (strstr(err, cases[i].msg) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
		assert_int_equal(s.n, 0);
		seen_free(&s);
	}
}

static void test_header_only_and_variants(void **unused)
{
	seen s = {0};

	(void)unused;
	/* A header without rows is a valid empty batch, with or without a line end. */
	assert_int_equal(run_text("customer_id;age;Offer_1", &s, NULL, 0), 0);
	assert_int_equal(s.n, 0);
	seen_free(&s);
	/* Header aliases; CR-only line ends; tab delimiter; quoted header names. */
	assert_int_equal(
	    run_text("\"Customer-Number\"\tAge\tSEX\tOFFER 2\tOffer_1\rX\t40\tmale\tno\tyes\r", &s, NULL,
	             0),
	    0);
	assert_int_equal(s.n, 1);
	assert_string_equal(
	    s.line[0],
	    "1|X|{\"customer_id\":\"X\",\"timestamp\":\"" TODAY "\",\"states\":{\"age\":40,"
	    "\"gender\":\"M\",\"client-since\":\"unknown\",\"region\":\"unknown\",\"last_offer\":"
	    "\"unknown\"},\"offers\":{\"OFFER_1\":true,\"OFFER_2\":false}}");
	seen_free(&s);
	/* A tab inside a ';' file is data, not a delimiter, and is trimmed. */
	assert_int_equal(run_text("customer_id;age;region;Offer_1\n 7 ;\t9\t;North America;1\n", &s,
	                          NULL, 0),
	                 0);
	assert_string_equal(json_string_value(json_object_get(s.body[0], "customer_id")), "7");
	assert_string_equal(state(s.body[0], "region"), "North America");
	seen_free(&s);
}

static void test_values(void **unused)
{
	static const struct {
		const char *row;
		const char *expect; /* substring of the record line */
	} cases[] = {
	    {"1;30;2022-13-01;;1", "ERROR timestamp is not a date (YYYY-MM-DD): '2022-13-01'"},
	    {"1;30;01/02/2022;;1", "ERROR timestamp is not a date"},
	    {"1;30;2023-02-29;;1", "ERROR timestamp is not a date"},
	    {"1;30;2024-02-29;;1", "\"timestamp\":\"2024-02-29\""},
	    {"1;30;2024-02-29 12:00;;1", "\"timestamp\":\"2024-02-29\""},
	    {"1;30;1969-12-31;;1", "\"timestamp\":\"" TODAY "\""},
	    {"1;30;2020-01-01;2020-01-0;1", "ERROR client-since is not a date"},
	    {"1;30;2020-01-01;1900-01-01;1", "\"client-since\":\"unknown\""},
	    {"1;;2020-01-01;;1", "ERROR missing age"},
	    {"1;-1;2020-01-01;;1", "ERROR age is out of range 0..150: '-1'"},
	    {"1;1e3;2020-01-01;;1", "ERROR age is out of range"},
	    {"1;1e308;2020-01-01;;1", "ERROR age is out of range 0..150: '1e308'"},
	    {"1;30.5;2020-01-01;;1", "ERROR age is not a whole number of years: '30.5'"},
	    {"1;30;2020-01-01;;2", "ERROR OFFER_1 is not true or false: '2'"},
	    {"1;30;2020-01-01;; YES ", "\"OFFER_1\":true"},
	};

	(void)unused;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
		char *text = xasprintf("customer_id;age;timestamp;client_since;Offer_1\n%s\n",
		                       cases[i].row);
		seen s = {0};

		assert_int_equal(run_text(text, &s, NULL, 0), 0);
		assert_int_equal(s.n, 1);
		if (strstr(s.line[0], cases[i].expect) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, s.line[0], cases[i].expect);
		seen_free(&s);
		free(text);
	}
}

static void test_helpers(void **unused)
{
	char d[11];
	int f;

	(void)unused;
	assert_string_equal(customer_gender_text(customer_gender("MALE")), "M");
	assert_string_equal(customer_gender_text(customer_gender("Female")), "F");
	assert_string_equal(customer_gender_text(customer_gender("x")), "unknown");
	assert_string_equal(customer_gender_text(customer_gender("")), "unknown");
	assert_int_equal(parse_date("2022-01-01T00:00:00Z", d), 1);
	assert_string_equal(d, "2022-01-01");
	assert_int_equal(parse_date("1900-01-19", d), 0);
	assert_int_equal(parse_date("", d), 0);
	assert_int_equal(parse_date("2022-01-01X", d), ERR_INVAL);
	assert_int_equal(parse_date("2022-04-31", d), ERR_INVAL);
	assert_int_equal(customer_flag("Y", CUSTOMER_CSV, &f), 0);
	assert_int_equal(f, 1);
	assert_int_equal(customer_flag("", CUSTOMER_CSV, &f), 0);
	assert_int_equal(f, 0);
	assert_int_equal(customer_flag("No", CUSTOMER_CSV, &f), 0);
	assert_int_equal(f, 0);
	assert_int_equal(customer_flag("nope", CUSTOMER_CSV, &f), ERR_INVAL);
}

static void test_field_limits(void **unused)
{
	buf b;
	seen s = {0};
	char err[CSV_ERROR_MAX];
	int rc;

	(void)unused;
	/* Over CSV_FIELD_MAX: a row error naming the field; the next row is fine. */
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_adds(&b, "customer_id;age;region;Offer_1\n1;30;"), 0);
	for (int i = 0; i <= CSV_FIELD_MAX; i++)
		assert_int_equal(buf_add(&b, "x", 1), 0);
	assert_int_equal(buf_adds(&b, ";1\n2;30;Asia;1\n"), 0);
	assert_int_equal(run(b.data, b.len, 100, NULL, &s, NULL, 0), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.line[0], "1|1|ERROR region is longer than 1024 bytes");
	assert_non_null(s.body[1]);
	seen_free(&s);
	buf_free(&b);

	/* An open quote swallowing the file: memory stays at CSV_FIELD_HARD_MAX, and
	 * the row says its quote is not closed; the rows before it are delivered. */
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_adds(&b, "customer_id;age;Offer_1\n1;30;1\n2;\""), 0);
	for (int i = 0; i < CSV_FIELD_HARD_MAX + 10; i++)
		assert_int_equal(buf_add(&b, i % 80 == 79 ? "\n" : "y", 1), 0);
	rc = run(b.data, b.len, 4096, NULL, &s, err, sizeof(err));
	assert_int_equal(rc, 0);
	assert_int_equal(s.n, 2);
	assert_non_null(strstr(s.line[1], "2|2|ERROR a quoted field is not closed"));
	seen_free(&s);
	buf_free(&b);

	/* A closed field over CSV_FIELD_HARD_MAX is its row's error; the file goes on. */
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_adds(&b, "customer_id;age;region;Offer_1\n1;30;x;1\n2;30;\""), 0);
	for (int i = 0; i < 100 * 1024; i++)
		assert_int_equal(buf_add(&b, i % 80 == 79 ? "\n" : "y", 1), 0);
	assert_int_equal(buf_adds(&b, "\";1\n3;30;x;1\n"), 0);
	rc = run(b.data, b.len, 4096, NULL, &s, err, sizeof(err));
	assert_int_equal(rc, 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.line[1], "2|2|ERROR region is longer than 1024 bytes");
	assert_null(strstr(s.line[2], "ERROR"));
	seen_free(&s);
	buf_free(&b);

	/* An open quote at the end of the file is reported on its row. */
	assert_int_equal(run_text("customer_id;age;Offer_1\n1;30;1\n2;30;\"1\n3;30;1\n", &s, NULL, 0),
	                 0);
	assert_int_equal(s.n, 2);
	assert_non_null(strstr(s.line[1], "2|2|ERROR a quoted field is not closed"));
	seen_free(&s);

	/* A NUL byte inside a field. */
	{
		static const char nul[] = "customer_id;age;Offer_1\n1;3\0"
		                          "0;1\n";

		assert_int_equal(run(nul, sizeof(nul) - 1, 0, NULL, &s, NULL, 0), 0);
	}
	assert_string_equal(s.line[0], "1|1|ERROR age holds a NUL byte");
	seen_free(&s);

	/* Invalid UTF-8 cannot go into JSON: named, not dropped. */
	assert_int_equal(run_text("customer_id;age;region;Offer_1\n1;30;Am\xE9rica;1\n", &s, NULL, 0),
	                 0);
	assert_string_equal(s.line[0], "1|1|ERROR region is not valid UTF-8 (save the file as UTF-8)");
	seen_free(&s);

	/* A customer_id over CUSTOMER_ID_MAX. */
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_adds(&b, "customer_id;age;Offer_1\n"), 0);
	for (int i = 0; i <= CUSTOMER_ID_MAX; i++)
		assert_int_equal(buf_add(&b, "9", 1), 0);
	assert_int_equal(buf_adds(&b, ";30;1\n"), 0);
	assert_int_equal(run(b.data, b.len, 0, NULL, &s, NULL, 0), 0);
	assert_string_equal(s.line[0], "1||ERROR customer_id is longer than 128 bytes");
	seen_free(&s);
	buf_free(&b);
}

static void test_column_and_row_limits(void **unused)
{
	buf b;
	seen s = {0};
	char err[CSV_ERROR_MAX];
	csv_reader *rd;
	const char *text = "customer_id;age;Offer_1\n1;30;1\n2;30;1\n3;30;1\n";

	(void)unused;
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_adds(&b, "customer_id;age;Offer_1"), 0);
	for (int i = 3; i <= CSV_COLUMNS_MAX; i++)
		assert_int_equal(buf_adds(&b, ";x"), 0);
	assert_int_equal(buf_adds(&b, "\n"), 0);
	assert_int_equal(run(b.data, b.len, 0, NULL, &s, err, sizeof(err)), ERR_INVAL);
	assert_non_null(strstr(err, "more than 256 columns"));
	seen_free(&s);
	buf_free(&b);

	/* The header line itself is bounded. */
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_adds(&b, "customer_id;age;Offer_1;"), 0);
	for (int i = 0; i < CSV_HEADER_MAX; i++)
		assert_int_equal(buf_add(&b, "h", 1), 0);
	assert_int_equal(run(b.data, b.len, 1000, NULL, &s, err, sizeof(err)), ERR_INVAL);
	assert_non_null(strstr(err, "first line is longer than"));
	seen_free(&s);
	buf_free(&b);

	/* The row limit stops the reader after delivering the rows it allows. */
	rd = csv_reader_new(NULL, collect, &s);
	csv_reader_set_max_rows(rd, 2);
	assert_int_equal(csv_reader_feed(rd, text, strlen(text)), ERR_TOOBIG);
	assert_non_null(strstr(csv_reader_error(rd), "row 3: more than 2 data rows"));
	assert_int_equal(csv_reader_finish(rd), ERR_TOOBIG);
	assert_int_equal(csv_reader_rows(rd), 2);
	csv_reader_free(rd);
	assert_int_equal(s.n, 2);
	seen_free(&s);

	/* A callback's non-zero return stops the reader and comes back. */
	s.stop_at = 1;
	rd = csv_reader_new(NULL, collect, &s);
	assert_int_equal(csv_reader_feed(rd, text, strlen(text)), 1);
	assert_int_equal(csv_reader_feed(rd, "4;30;1\n", 7), 1);
	csv_reader_free(rd);
	assert_int_equal(s.n, 1);
	seen_free(&s);
}

/* --- result CSV -------------------------------------------------------- */

static void test_write(void **unused)
{
	buf b;
	csv_result ok = {.customer_id = "2394823",
	                 .response_date = "2030-06-15",
	                 .offers = {"OFFER_2", "OFFER_1", "OFFER_9"}};
	csv_result two = {.customer_id = "a,b",
	                  .response_date = "2030-06-15",
	                  .offers = {"OFFER_2", "OFFER_1"},
	                  .products = {"IPHONE 13", NULL}};
	csv_result bad = {.customer_id = "", .error = "age is not a number: 'x\"y'\nz"};

	(void)unused;
	buf_init(&b, 4096);
	assert_int_equal(csv_write_header(&b, 0), 0);
	assert_int_equal(csv_write_result(&b, &ok, 0), 0);
	assert_int_equal(csv_write_result(&b, &bad, 0), 0);
	assert_string_equal(b.data, "customer_id,response_date,offer_1,offer_2,offer_3,status,error\r\n"
	                            "2394823,2030-06-15,OFFER_2,OFFER_1,OFFER_9,ok,\r\n"
	                            ",,,,,error,\"age is not a number: 'x\"\"y'\nz\"\r\n");
	buf_reset(&b);
	assert_int_equal(csv_write_header(&b, 1), 0);
	assert_int_equal(csv_write_result(&b, &two, 1), 0);
	assert_string_equal(
	    b.data, "customer_id,response_date,offer_1,offer_2,offer_3,product_1,product_2,product_3,"
	            "status,error\r\n"
	            "\"a,b\",2030-06-15,OFFER_2,OFFER_1,,IPHONE 13,,,ok,\r\n");
	buf_reset(&b);
	assert_int_equal(csv_write_field(&b, " lead"), 0);
	assert_int_equal(csv_write_field(&b, "\"\""), 0);
	/* " lead" then a field of two quotes: open, two doubled quotes, close. */
	assert_string_equal(b.data, "\" lead\""
	                            "\"\"\"\"\"\"");
	buf_free(&b);

	/* The buffer's limit holds: an over-long write fails instead of growing. */
	buf_init(&b, 16);
	assert_int_equal(csv_write_result(&b, &ok, 0), ERR_TOOBIG);
	buf_free(&b);
}

/* The writer's output reads back through libcsv as the same fields. */
static void cell(void *s, size_t len, void *arg)
{
	buf *b = arg;

	assert_int_equal(buf_add(b, "[", 1), 0);
	assert_int_equal(buf_add(b, s, len), 0);
	assert_int_equal(buf_add(b, "]", 1), 0);
}

static void endrow(int c, void *arg)
{
	(void)c;
	assert_int_equal(buf_add(arg, "\n", 1), 0);
}

static void test_write_roundtrip(void **unused)
{
	buf out;
	buf got;
	struct csv_parser p;
	csv_result r = {.customer_id = "x\"y,z", .error = "line1\r\nline2; \"q\""};

	(void)unused;
	buf_init(&out, 4096);
	buf_init(&got, 4096);
	csv_write_result(&out, &r, 1);
	assert_int_equal(csv_init(&p, 0), 0);
	assert_int_equal(csv_parse(&p, out.data, out.len, cell, endrow, &got), out.len);
	csv_fini(&p, cell, endrow, &got);
	csv_free(&p);
	assert_string_equal(got.data, "[x\"y,z][][][][][][][][error][line1\r\nline2; \"q\"]\n");
	buf_free(&out);
	buf_free(&got);
}

/*
 * A row's request is the request its JSON body gives: the CSV path and the
 * /predict path share one validation, so the customer, date, offers and
 * stored states agree field by field (rules applied, messy file included).
 */
static int same_as_json(void *arg, const csv_record *rec)
{
	int *n = arg;
	char *body;
	predict_req p;
	req_error e;

	if (rec->req == NULL)
		return 0;
	body = request_predict_body(rec->req);
	assert_non_null(body);
	if (request_parse_predict(body, strlen(body), &p, &e) != 0)
		fail_msg("row %lld: its body is refused (%s: %s): %s", (long long)rec->row, e.field,
		         e.message, body);
	assert_string_equal(p.customer_id, rec->req->customer_id);
	assert_string_equal(p.timestamp, rec->req->timestamp);
	assert_memory_equal(&p.date, &rec->req->date, sizeof(p.date));
	assert_int_equal(p.customer.age, rec->req->customer.age);
	assert_int_equal(p.customer.gender, rec->req->customer.gender);
	assert_string_equal(p.customer.region, rec->req->customer.region);
	assert_string_equal(p.states_text, rec->req->states_text);
	assert_int_equal(p.n_offers, rec->req->n_offers);
	assert_int_equal(p.n_allowed, rec->req->n_allowed);
	for (size_t i = 0; i < p.n_offers; i++) {
		assert_string_equal(p.offers[i], rec->req->offers[i]);
		assert_int_equal(p.allowed[i], rec->req->allowed[i]);
	}
	request_predict_free(&p);
	free(body);
	(*n)++;
	return 0;
}

static void test_row_request_equals_json_request(void **unused)
{
	static const char *const files[] = {"examples/company_B.csv",
	                                    "tests/data/messy-semicolon-crlf-bom.csv",
	                                    "tests/data/messy-comma-lf.csv"};
	rules *rs;

	(void)unused;
	assert_int_equal(rules_default(&rs), 0);
	for (size_t f = 0; f < UTIL_ARRAY_LEN(files); f++) {
		size_t len;
		char *data = slurp(files[f], &len);
		int n = 0;
		csv_reader *rd = csv_reader_new(rs, same_as_json, &n);

		assert_int_equal(csv_reader_feed(rd, data, len), 0);
		assert_int_equal(csv_reader_finish(rd), 0);
		assert_true(n > 0);
		csv_reader_free(rd);
		free(data);
	}
	rules_free(rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_company_b),
	    cmocka_unit_test(test_company_b_no_rules),
	    cmocka_unit_test(test_rules_see_normalised_region),
	    cmocka_unit_test(test_row_request_equals_json_request),
	    cmocka_unit_test(test_messy_semicolon),
	    cmocka_unit_test(test_messy_comma),
	    cmocka_unit_test(test_header_without_customer_id),
	    cmocka_unit_test(test_header_errors),
	    cmocka_unit_test(test_header_only_and_variants),
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_helpers),
	    cmocka_unit_test(test_field_limits),
	    cmocka_unit_test(test_column_and_row_limits),
	    cmocka_unit_test(test_write),
	    cmocka_unit_test(test_write_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
