/*
 * test_customer.c — the customer module: dirty genders and regions as
 * clients and spreadsheets write them, ages as text and numbers, offer flags
 * in JSON and in CSV cells, offer numbers and offer ids, segments, state
 * keys, and that offerctl train's state key is /predict's for the same
 * customer and date.
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

#include "agent.h"
#include "customer.h"
#include "request.h"
#include "rfm.h"
#include "util.h"
#include "values.h"

static void test_fields(void **unused)
{
	static const struct {
		const char *name;
		int field; /* -1: none */
	} cases[] = {
	    {"customer_id", CUSTOMER_F_ID},
	    {"Customer ID", CUSTOMER_F_ID},
	    {"cust.id", CUSTOMER_F_ID},
	    {"Date", CUSTOMER_F_TIMESTAMP},
	    {"AGE", CUSTOMER_F_AGE},
	    {"Sex", CUSTOMER_F_GENDER},
	    {"region", CUSTOMER_F_REGION},
	    {"last-offer", CUSTOMER_F_LAST_OFFER},
	    {"client_since", CUSTOMER_F_CLIENT_SINCE},
	    {"customer since", CUSTOMER_F_CLIENT_SINCE},
	    {"regoin", -1},
	    {"", -1},
	    {"offer_1", -1},
	};
	static const char *const keys[CUSTOMER_F_COUNT] = {
	    "customer_id", "timestamp", "age", "gender", "region", "last_offer", "client-since",
	};

	(void)unused;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
		enum customer_field f = CUSTOMER_F_COUNT;
		int rc = customer_field_find(cases[i].name, &f);

		if (cases[i].field < 0 ? rc != ERR_INVAL : rc != 0 || (int)f != cases[i].field)
			fail_msg("'%s': rc %d field %d, want %d", cases[i].name, rc, (int)f,
			         cases[i].field);
	}
	for (int f = 0; f < CUSTOMER_F_COUNT; f++)
		assert_string_equal(customer_field_key((enum customer_field)f), keys[f]);
	assert_string_equal(customer_field_key(CUSTOMER_F_COUNT), "");
}

static void test_customer_id(void **unused)
{
	char id[CUSTOMER_ID_MAX + 2];
	char err[160];

	(void)unused;
	/* Data as sent: '/', a tab, quotes, non-ASCII. */
	assert_int_equal(customer_id_check("a/b", err, sizeof(err)), 0);
	assert_int_equal(customer_id_check("tab\tin", err, sizeof(err)), 0);
	assert_int_equal(customer_id_check("'; DROP TABLE x; --", err, sizeof(err)), 0);
	assert_int_equal(customer_id_check("\xc3\xbcn\xc3\xaf", err, sizeof(err)), 0);
	assert_int_equal(customer_id_check("", err, sizeof(err)), ERR_INVAL);
	assert_string_equal(err, "missing customer_id");
	/* Bytes that are not UTF-8 (PostgreSQL refuses them), a lone continuation, an overlong '/'. */
	assert_int_equal(customer_id_check("a\xff"
	                                   "b",
	                                   err, sizeof(err)),
	                 ERR_INVAL);
	assert_string_equal(err, "customer_id is not valid UTF-8");
	assert_int_equal(customer_id_check("\x80", err, sizeof(err)), ERR_INVAL);
	assert_int_equal(customer_id_check("\xc0\xaf", NULL, 0), ERR_INVAL);
	/* CUSTOMER_ID_MAX bytes pass, one more does not. */
	memset(id, 'x', CUSTOMER_ID_MAX);
	id[CUSTOMER_ID_MAX] = '\0';
	assert_int_equal(customer_id_check(id, err, sizeof(err)), 0);
	id[CUSTOMER_ID_MAX] = 'x';
	id[CUSTOMER_ID_MAX + 1] = '\0';
	assert_int_equal(customer_id_check(id, err, sizeof(err)), ERR_INVAL);
	assert_string_equal(err, "customer_id is longer than 128 bytes");
}

static void test_gender(void **unused)
{
	static const struct {
		const char *in;
		char want;
	} cases[] = {
	    {"M", 'M'},         {"m", 'M'},     {"Male", 'M'},    {"MALE", 'M'}, {" male ", 'M'},
	    {"\tman\r\n", 'M'}, {"Man", 'M'},   {"F", 'F'},       {"f", 'F'},    {"Female", 'F'},
	    {"FEMALE ", 'F'},   {"woman", 'F'}, {"", 'U'},        {"  ", 'U'},   {"x", 'U'},
	    {"Mal", 'U'},       {"other", 'U'}, {"unknown", 'U'}, {"M F", 'U'},  {"male.", 'U'},
	};

	(void)unused;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
		char g = customer_gender(cases[i].in);

		if (g != cases[i].want)
			fail_msg("gender \"%s\" -> %c, want %c", cases[i].in, g, cases[i].want);
	}
	/* A very long value is no gender, not a crash. */
	{
		char big[300];

		memset(big, 'm', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		assert_int_equal(customer_gender(big), 'U');
	}
	assert_string_equal(customer_gender_text('M'), "M");
	assert_string_equal(customer_gender_text('F'), "F");
	assert_string_equal(customer_gender_text('U'), "unknown");
}

static void test_region(void **unused)
{
	static const struct {
		const char *in;
		const char *want;
	} cases[] = {
	    {"Europa", "Europa"},
	    {"europa", "Europa"},
	    {"Europe", "Europa"},
	    {" EU ", "Europa"},
	    {"Americas", "Americas"},
	    {"america", "Americas"},
	    {"North America", "Americas"},
	    {"LATAM", "Americas"},
	    {"south america", "Americas"},
	    {"Asia", "Asia"},
	    {"APAC", "Asia"},
	    {"", "Unknown"},
	    {"Mars", "Unknown"},
	    {"Europa!", "Unknown"},
	    {"NorthAmerica", "Unknown"},
	};

	(void)unused;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++)
		assert_string_equal(customer_region(cases[i].in), cases[i].want);
}

static void test_age(void **unused)
{
	double d;
	int age;

	(void)unused;
	assert_int_equal(customer_age_text("45", &d), 0);
	assert_int_equal(customer_age(d, &age), 0);
	assert_int_equal(age, 45);
	assert_int_equal(customer_age_text("71.0", &d), 0);
	assert_int_equal(customer_age(d, &age), 0);
	assert_int_equal(age, 71);
	assert_int_equal(customer_age_text("29.9", &d), 0);
	assert_int_equal(customer_age(d, &age), 0);
	assert_int_equal(age, 29); /* truncated: still under 30 */
	assert_int_equal(customer_age_text("1e3", &d), 0);
	assert_int_equal(customer_age(d, &age), ERR_RANGE);
	assert_int_equal(customer_age_text("-1", &d), 0);
	assert_int_equal(customer_age(d, &age), ERR_RANGE);
	/* A number however large is a number, out of range (it was "not a number" past 1e9). */
	assert_int_equal(customer_age_text("1e308", &d), 0);
	assert_int_equal(customer_age(d, &age), ERR_RANGE);
	assert_int_equal(customer_age(150, &age), 0);
	assert_int_equal(age, 150);
	assert_int_equal(customer_age(150.5, &age), ERR_RANGE);
	assert_int_equal(customer_age(0, &age), 0);
	assert_int_equal(age, 0);
	static const char *const bad[] = {"",    " 45",   "abc",      "0x10", "nan",
	                                  "inf", "1e400", "45 years", "4 5"};
	for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
		if (customer_age_text(bad[i], &d) != ERR_INVAL)
			fail_msg("age \"%s\" read as a number", bad[i]);
	}
}

static void test_flags(void **unused)
{
	static const struct {
		const char *in;
		int json; /* -1: not a flag */
		int csv;
	} cases[] = {
	    {"true", 1, 1}, {"True", 1, 1},         {"TRUE", 1, 1},    {"tRuE", 1, 1},
	    {"1", 1, 1},    {"false", 0, 0},        {"False", 0, 0},   {"FALSE", 0, 0},
	    {"0", 0, 0},    {"yes", -1, 1},         {"Y", -1, 1},      {"t", -1, 1},
	    {"T", -1, 1},   {"no", -1, 0},          {"N", -1, 0},      {"f", -1, 0},
	    {"", -1, 0},    {" true", -1, -1},      {"maybe", -1, -1}, {"2", -1, -1},
	    {"-1", -1, -1}, {"yes please", -1, -1}, {"01", -1, -1},
	};

	(void)unused;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
		int f = -1;
		int rc = customer_flag(cases[i].in, CUSTOMER_JSON, &f);

		if (cases[i].json < 0 ? rc != ERR_INVAL : rc != 0 || f != cases[i].json)
			fail_msg("JSON flag \"%s\": rc %d flag %d", cases[i].in, rc, f);
		f = -1;
		rc = customer_flag(cases[i].in, CUSTOMER_CSV, &f);
		if (cases[i].csv < 0 ? rc != ERR_INVAL : rc != 0 || f != cases[i].csv)
			fail_msg("CSV flag \"%s\": rc %d flag %d", cases[i].in, rc, f);
	}
}

static void test_offer_number(void **unused)
{
	static const struct {
		const char *s;
		int n;
	} ok[] = {{"OFFER_4", 4}, {"offer_4", 4},     {"Offer-10", 10}, {"offer 7", 7},
	          {"OFFER4", 4},  {"OFFER_999", 999}, {"offer_01", 1}};
	static const char *const bad[] = {"OFFER_",   "OFFER_0",  "OFFER_1000", "OFFER_-1", "OFFER_ 1",
	                                  "OFFER__1", "OFFER_1x", "OFF_1",      "",         "4"};

	(void)unused;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(ok); i++) {
		int n = 0;

		assert_int_equal(customer_offer_number(ok[i].s, &n), 0);
		assert_int_equal(n, ok[i].n);
	}
	for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
		int n = 0;

		if (customer_offer_number(bad[i], &n) == 0)
			fail_msg("'%s' accepted as %d", bad[i], n);
	}
}

static void test_offer_ids(void **unused)
{
	static const struct {
		const char *in;
		const char *want;
	} ok[] = {
	    {"OFFER_1", "OFFER_1"},
	    {"offer_1", "OFFER_1"},
	    {"Offer_1", "OFFER_1"},
	    {"offer-1", "OFFER_1"},
	    {"Offer 1", "OFFER_1"},
	    {"OFFER1", "OFFER_1"},
	    {"offer_01", "OFFER_1"},
	    {"OFFER_999", "OFFER_999"},
	    /* Not an offer number: kept as written, case included. */
	    {"A", "A"},
	    {"85123A", "85123A"},
	    {"OFFER_1000", "OFFER_1000"},
	    {"offer_0", "offer_0"},
	    {"Offer_1x", "Offer_1x"},
	    {"OFFER__1", "OFFER__1"},
	};
	static const char *const bad[] =
	    {"", "a,b", "x\ty", "line\n",
	     "0123456789012345678901234567890123456789012345678901234567890123"};
	char out[CUSTOMER_OFFER_ID_MAX + 1];
	char small[7];

	(void)unused;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(ok); i++) {
		assert_int_equal(customer_offer_id(ok[i].in, out, sizeof(out)), 0);
		assert_string_equal(out, ok[i].want);
	}
	for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
		if (customer_offer_id(bad[i], out, sizeof(out)) != ERR_INVAL)
			fail_msg("offer id \"%s\" accepted", bad[i]);
	}
	/* 63 bytes is the longest id. */
	assert_int_equal(
	    customer_offer_id("012345678901234567890123456789012345678901234567890123456789012", out,
	                      sizeof(out)),
	    0);
	assert_int_equal(customer_offer_id("OFFER_12", small, sizeof(small)), ERR_RANGE);
	assert_int_equal(customer_offer_name(7, out, sizeof(out)), 0);
	assert_string_equal(out, "OFFER_7");
}

static void test_segment_and_state_key(void **state)
{
	customer_attrs cu;
	date_ymd d = {2022, 1, 1, 6};
	char seg[CUSTOMER_SEGMENT_MAX];
	char key[CUSTOMER_STATE_KEY_MAX];
	char small[12];

	(void)state;
	customer_state_key("Q1", &d, key, sizeof(key));
	assert_string_equal(key, "Q1_January_0_Saturday");
	d.month = 12;
	d.day = 31;
	d.weekday = 0;
	customer_state_key("Q4", &d, key, sizeof(key));
	assert_string_equal(key, "Q4_December_1_Sunday");
	/* Days 1..15 are half 0, 16.. half 1. */
	d.month = 2;
	d.day = 15;
	d.weekday = 2;
	customer_state_key("Q2", &d, key, sizeof(key));
	assert_string_equal(key, "Q2_February_0_Tuesday");
	d.day = 16;
	d.weekday = 3;
	customer_state_key("Q2", &d, key, sizeof(key));
	assert_string_equal(key, "Q2_February_1_Wednesday");

	memset(&cu, 0, sizeof(cu));
	cu.age = 18;
	cu.gender = 'M';
	util_strlcpy(cu.region, "Europa", sizeof(cu.region));
	customer_segment(&cu, NULL, seg, sizeof(seg));
	assert_string_equal(seg, "Europa-M-lt30");
	cu.age = 29;
	customer_segment(&cu, "", seg, sizeof(seg)); /* an empty RFM segment is none */
	assert_string_equal(seg, "Europa-M-lt30");
	cu.age = 30;
	cu.gender = 'F';
	util_strlcpy(cu.region, "Americas", sizeof(cu.region));
	customer_segment(&cu, NULL, seg, sizeof(seg));
	assert_string_equal(seg, "Americas-F-30to65");
	cu.age = 65;
	customer_segment(&cu, NULL, seg, sizeof(seg));
	assert_string_equal(seg, "Americas-F-30to65");
	cu.age = 66;
	customer_segment(&cu, NULL, seg, sizeof(seg));
	assert_string_equal(seg, "Americas-F-gt65");
	cu.age = -1;
	cu.gender = 'U';
	util_strlcpy(cu.region, "Unknown", sizeof(cu.region));
	customer_segment(&cu, NULL, seg, sizeof(seg));
	assert_string_equal(seg, "Unknown-U-ageU");
	/* A known RFM segment wins. */
	customer_segment(&cu, "Q3", seg, sizeof(seg));
	assert_string_equal(seg, "Q3");
	/* What is not a key. */
	assert_int_equal(customer_state_key("Q1", &d, key, sizeof(key)), 0);
	assert_int_equal(customer_state_key("", &d, key, sizeof(key)), ERR_INVAL);
	d.month = 13;
	assert_int_equal(customer_state_key("Q1", &d, key, sizeof(key)), ERR_INVAL);
	d.month = 1;
	d.weekday = 7;
	assert_int_equal(customer_state_key("Q1", &d, key, sizeof(key)), ERR_INVAL);
	d.weekday = 0;
	assert_int_equal(customer_state_key("Q1", &d, small, sizeof(small)), ERR_RANGE);
	/* And back: the segment of a key. */
	customer_state_segment("Europa-M-lt30_January_0_Saturday", seg, sizeof(seg));
	assert_string_equal(seg, "Europa-M-lt30");
	customer_state_segment("Q4", seg, sizeof(seg));
	assert_string_equal(seg, "Q4");
	customer_state_segment("Q4_May_0_Monday", small, 3);
	assert_string_equal(small, "Q4");
}

/*
 * The join key: for every day of two years and every RFM segment, the key
 * offerctl train gives a transaction (its export date read by rfm.c's parser,
 * through day numbers, rfm_state_key) is the key /predict computes for a
 * request of that date from a customer of that segment (request_parse_predict,
 * agent_decide). If they drifted, the warm start would be silently lost.
 */
static void test_train_key_is_predict_key(void **state)
{
	agent_conf conf;
	values *v = values_new();
	rng g;
	date_ymd first, end;

	(void)state;
	agent_conf_default(&conf);
	rng_seed(&g, 7);
	assert_int_equal(date_make(2023, 1, 1, &first), 0);
	assert_int_equal(date_make(2025, 1, 1, &end), 0);
	for (int32_t day = date_days(&first); day < date_days(&end); day++) {
		date_ymd d;
		date_ymd export_date;
		char export_text[48];
		char *body;
		predict_req req;
		req_error e;

		date_from_days(day, &d);
		/* The UCI original's M/D/YYYY H:MM, as train reads it. */
		snprintf(export_text, sizeof(export_text), "%d/%d/%d 8:26", d.month, d.day, d.year);
		assert_int_equal(date_parse_export(export_text, &export_date), 0);
		date_from_days(date_days(&export_date), &export_date);
		body = xasprintf(
		    "{\"customer_id\": \"c1\", \"timestamp\": \"%04d-%02d-%02dT23:30:00-05:00\", "
		    "\"states\": {\"age\": 40, \"gender\": \"woman\", \"region\": \"Europe\"}, "
		    "\"offers\": {\"OFFER_1\": true, \"OFFER_2\": true}}",
		    d.year, d.month, d.day);
		assert_int_equal(request_parse_predict(body, strlen(body), &req, &e), 0);
		for (int seg = 0; seg < RFM_SEGMENTS; seg++) {
			const char *rfm = rfm_segment_name(seg);
			char train_key[RFM_STATE_KEY_MAX];
			agent_decision dec;

			assert_int_equal(rfm_state_key(seg, export_date.month, export_date.day,
			                               export_date.weekday, train_key,
			                               sizeof(train_key)),
			                 0);
			assert_int_equal(agent_decide(&conf, v, &g, "A", &req, rfm, &dec), 0);
			assert_string_equal(dec.state_key, train_key);
		}
		/* Without an RFM segment the key is the demographic one, of the same date. */
		{
			agent_decision dec;
			char want[CUSTOMER_STATE_KEY_MAX];

			assert_int_equal(agent_decide(&conf, v, &g, "A", &req, NULL, &dec), 0);
			assert_string_equal(dec.segment, "Europa-F-30to65");
			assert_int_equal(customer_state_key("Europa-F-30to65", &d, want, sizeof(want)),
			                 0);
			assert_string_equal(dec.state_key, want);
		}
		request_predict_free(&req);
		free(body);
	}
	values_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fields),
	    cmocka_unit_test(test_customer_id),
	    cmocka_unit_test(test_gender),
	    cmocka_unit_test(test_region),
	    cmocka_unit_test(test_age),
	    cmocka_unit_test(test_flags),
	    cmocka_unit_test(test_offer_number),
	    cmocka_unit_test(test_offer_ids),
	    cmocka_unit_test(test_segment_and_state_key),
	    cmocka_unit_test(test_train_key_is_predict_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
