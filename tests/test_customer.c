/*
 * test_customer.c — the customer module: dirty genders and regions as
 * clients and spreadsheets write them, ages as text and numbers, offer flags
 * in JSON and in CSV cells, offer numbers and offer ids.
 *
 * Public API only; links against build/liboffer.a.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "customer.h"
#include "util.h"

static void test_gender(void **unused)
{
	static const struct {
		const char *in;
		char want;
	} cases[] = {
	    {"M", 'M'},       {"m", 'M'},      {"Male", 'M'},  {"MALE", 'M'},   {" male ", 'M'},
	    {"\tman\r\n", 'M'}, {"Man", 'M'},    {"F", 'F'},     {"f", 'F'},      {"Female", 'F'},
	    {"FEMALE ", 'F'}, {"woman", 'F'},  {"", 'U'},      {"  ", 'U'},     {"x", 'U'},
	    {"Mal", 'U'},     {"other", 'U'},  {"unknown", 'U'}, {"M F", 'U'},  {"male.", 'U'},
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
	    {"Europa", "Europa"},          {"europa", "Europa"},     {"Europe", "Europa"},
	    {" EU ", "Europa"},            {"Americas", "Americas"}, {"america", "Americas"},
	    {"North America", "Americas"}, {"LATAM", "Americas"},    {"south america", "Americas"},
	    {"Asia", "Asia"},              {"APAC", "Asia"},         {"", "Unknown"},
	    {"Mars", "Unknown"},           {"Europa!", "Unknown"},   {"NorthAmerica", "Unknown"},
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
	assert_int_equal(age, 29);  /* truncated: still under 30 */
	assert_int_equal(customer_age_text("1e3", &d), 0);
	assert_int_equal(customer_age(d, &age), ERR_RANGE);
	assert_int_equal(customer_age_text("-1", &d), 0);
	assert_int_equal(customer_age(d, &age), ERR_RANGE);
	assert_int_equal(customer_age(150, &age), 0);
	assert_int_equal(age, 150);
	assert_int_equal(customer_age(150.5, &age), ERR_RANGE);
	assert_int_equal(customer_age(0, &age), 0);
	assert_int_equal(age, 0);
	static const char *const bad[] = {"", " 45", "abc", "0x10", "nan", "inf", "1e400", "45 years",
	                                  "4 5"};
	for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
		if (customer_age_text(bad[i], &d) != ERR_INVAL)
			fail_msg("age \"%s\" read as a number", bad[i]);
	}
}

static void test_flags(void **unused)
{
	static const struct {
		const char *in;
		int json;  /* -1: not a flag */
		int csv;
	} cases[] = {
	    {"true", 1, 1},  {"True", 1, 1},  {"TRUE", 1, 1},  {"tRuE", 1, 1},  {"1", 1, 1},
	    {"false", 0, 0}, {"False", 0, 0}, {"FALSE", 0, 0}, {"0", 0, 0},     {"yes", -1, 1},
	    {"Y", -1, 1},    {"t", -1, 1},    {"T", -1, 1},    {"no", -1, 0},   {"N", -1, 0},
	    {"f", -1, 0},    {"", -1, 0},     {" true", -1, -1}, {"maybe", -1, -1}, {"2", -1, -1},
	    {"-1", -1, -1},  {"yes please", -1, -1}, {"01", -1, -1},
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
	} ok[] = {{"OFFER_4", 4}, {"offer_4", 4}, {"Offer-10", 10}, {"offer 7", 7},
	          {"OFFER4", 4}, {"OFFER_999", 999}, {"offer_01", 1}};
	static const char *const bad[] = {"OFFER_", "OFFER_0", "OFFER_1000", "OFFER_-1",
	                                  "OFFER_ 1", "OFFER__1", "OFFER_1x", "OFF_1", "", "4"};

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
	    {"OFFER_1", "OFFER_1"},   {"offer_1", "OFFER_1"}, {"Offer_1", "OFFER_1"},
	    {"offer-1", "OFFER_1"},   {"Offer 1", "OFFER_1"}, {"OFFER1", "OFFER_1"},
	    {"offer_01", "OFFER_1"},  {"OFFER_999", "OFFER_999"},
	    /* Not an offer number: kept as written, case included. */
	    {"A", "A"},               {"85123A", "85123A"},   {"OFFER_1000", "OFFER_1000"},
	    {"offer_0", "offer_0"},   {"Offer_1x", "Offer_1x"}, {"OFFER__1", "OFFER__1"},
	};
	static const char *const bad[] = {"", "a,b", "x\ty", "line\n",
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
	assert_int_equal(customer_offer_id("012345678901234567890123456789012345678901234567890123456789012",
	                                   out, sizeof(out)), 0);
	assert_int_equal(customer_offer_id("OFFER_12", small, sizeof(small)), ERR_RANGE);
	assert_int_equal(customer_offer_name(7, out, sizeof(out)), 0);
	assert_string_equal(out, "OFFER_7");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gender),
		cmocka_unit_test(test_region),
		cmocka_unit_test(test_age),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_offer_number),
		cmocka_unit_test(test_offer_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
