/*
 * test_features.c — the contextual policies' features (feat.h): every kind
 * of state value (number, numeric string, date as tenure, category, boolean,
 * null, last_offer), keys nobody declared, dirty values (blank, "unknown",
 * huge numbers, control bytes, nested objects, future dates), the calendar
 * and the RFM segment, and the hashed vectors per offer (bias at bucket 0,
 * distinct buckets, offer x context in the crossed mode, slot features).
 *
 * Public API only; links against build/liboffer.a.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "feat.h"
#include "request.h"
#include "util.h"

/* The context of a states JSON text on 2023-06-17 (a Saturday). */
static void ctx_of(const char *states_text, const char *rfm, feat_ctx *c)
{
	json_error_t jerr;
	json_t *states = json_loads(states_text, 0, &jerr);
	customer_attrs cust;
	req_error e;
	date_ymd d;

	assert_non_null(states);
	assert_int_equal(date_parse("2023-06-17", &d), 0);
	assert_int_equal(request_customer_from_states(states, &cust, &e), 0);
	assert_int_equal(feat_context_json(states, &d, &cust, rfm, c), 0);
	json_decref(states);
}

static void test_numbers(void **unused)
{
	feat_ctx c;

	(void)unused;
	ctx_of("{\"age\": 25, \"visits\": \"150\", \"score\": -3.5}", NULL, &c);
	assert_true(fabs(feat_ctx_value(&c, "bias") - 1.0) < 1e-12);
	assert_true(fabs(feat_ctx_value(&c, "age") - 25.0 / 75.0) < 1e-12);
	/* A bin as well: 2 log2(26) = 9.4 -> half-octave 9. */
	assert_true(feat_ctx_value(&c, "age#b9") == 1.0);
	/* Numbers sent as strings are numbers. */
	assert_true(fabs(feat_ctx_value(&c, "visits") - 150.0 / 200.0) < 1e-12);
	assert_true(feat_ctx_value(&c, "visits=150") == 0.0);
	assert_true(fabs(feat_ctx_value(&c, "score") - (-3.5 / 53.5)) < 1e-12);
	assert_true(feat_ctx_value(&c, "score#b-4") == 1.0);
}

static void test_categories_dates_flags(void **unused)
{
	feat_ctx c;

	(void)unused;
	ctx_of("{\"gender\": \"female\", \"region\": \"Europe\", \"Channel\": \"  Web \","
	       " \"client-since\": \"2021-06-17\", \"vip\": true, \"coupon\": null}",
	       NULL, &c);
	/* Normalised as the state key does. */
	assert_true(feat_ctx_value(&c, "gender=F") == 1.0);
	assert_true(feat_ctx_value(&c, "region=Europa") == 1.0);
	assert_true(feat_ctx_value(&c, "gender=female") == 0.0);
	/* A key nobody declared, lower-cased and trimmed. */
	assert_true(feat_ctx_value(&c, "channel=web") == 1.0);
	/* Two years of tenure on 2023-06-17: 2 / (2 + 5), octave log2(3) = 1.58 -> 1. */
	assert_true(fabs(feat_ctx_value(&c, "client-since") - (730.0 / 365.25) / (730.0 / 365.25 + 5)) <
	            1e-9);
	assert_true(feat_ctx_value(&c, "client-since#t1") == 1.0);
	assert_true(feat_ctx_value(&c, "vip=true") == 1.0);
	assert_true(feat_ctx_value(&c, "coupon=?") == 1.0);
	/* The calendar of Saturday 2023-06-17. */
	/* Day 167 of the year: the season wave. */
	assert_true(fabs(feat_ctx_value(&c, "season:sin") - sin(2 * M_PI * 167 / 365.25)) < 1e-12);
	assert_true(fabs(feat_ctx_value(&c, "season:cos") - cos(2 * M_PI * 167 / 365.25)) < 1e-12);
	assert_true(feat_ctx_value(&c, "half=1") == 1.0);
	assert_true(feat_ctx_value(&c, "wday=6") == 1.0);
	assert_true(feat_ctx_value(&c, "weekend") == 1.0);
	assert_true(feat_ctx_value(&c, "rfm=champions") == 0.0);
	ctx_of("{}", "Champions", &c);
	assert_true(feat_ctx_value(&c, "rfm=champions") == 1.0);
	assert_true(feat_ctx_value(&c, "gender=U") == 1.0);
	assert_true(feat_ctx_value(&c, "region=Unknown") == 1.0);
}

static void test_dirty(void **unused)
{
	feat_ctx c;

	(void)unused;
	ctx_of("{\"a\": \"\", \"b\": \"Unknown\", \"c\": 1e300, \"d\": \"x\\u0001y\","
	       " \"e\": {\"nested\": 1}, \"f\": [1, 2], \"g\": \"2099-01-01\","
	       " \"h\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
	       NULL, &c);
	assert_true(feat_ctx_value(&c, "a=?") == 1.0);
	assert_true(feat_ctx_value(&c, "b=?") == 1.0);
	/* Clamped, finite, below 1. */
	assert_true(feat_ctx_value(&c, "c") > 0.99 && feat_ctx_value(&c, "c") < 1.0);
	assert_true(feat_ctx_value(&c, "d=x_y") == 1.0);
	/* Nested values are counted, not used. */
	assert_int_equal(c.ignored, 2);
	assert_true(feat_ctx_value(&c, "g=future") == 1.0);
	/* Long values count up to FEAT_VALUE_MAX bytes. */
	assert_true(feat_ctx_value(&c, "h=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") == 1.0);
	for (size_t i = 0; i < c.n; i++)
		assert_true(isfinite(c.val[i]));
}

static void test_too_many(void **unused)
{
	json_t *states = json_object();
	date_ymd d;
	feat_ctx c;
	char key[16];

	(void)unused;
	for (int i = 0; i < 60; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		json_object_set_new(states, key, json_integer(i + 1));
	}
	assert_int_equal(date_parse("2023-01-02", &d), 0);
	assert_int_equal(feat_context_json(states, &d, NULL, NULL, &c), 0);
	/* Two features per number: the context is full and the rest is counted. */
	assert_int_equal(c.n, FEAT_CTX_MAX);
	assert_true(c.ignored > 0);
	json_decref(states);
	/* Not an object: refused (request.c refuses it first). */
	states = json_array();
	assert_int_equal(feat_context_json(states, &d, NULL, NULL, &c), ERR_INVAL);
	json_decref(states);
}

static int has(const feat_vec *v, uint32_t idx)
{
	for (size_t i = 0; i < v->n; i++) {
		if (v->idx[i] == idx)
			return 1;
	}
	return 0;
}

static void test_vectors(void **unused)
{
	feat_ctx c;
	feat_vec a;
	feat_vec b;
	feat_vec x;
	double sa = 0;

	(void)unused;
	ctx_of("{\"age\": 40, \"gender\": \"M\", \"last_offer\": \"OFFER_2\"}", NULL, &c);
	assert_string_equal(c.last_offer, "OFFER_2");
	assert_true(feat_ctx_value(&c, "lastoffer:any") == 1.0);
	feat_offer(&c, "OFFER_1", 0, 1, 6, FEAT_PER_OFFER, &a);
	feat_offer(&c, "OFFER_2", 0, 1, 6, FEAT_PER_OFFER, &b);
	/* The bias owns bucket 0; buckets are distinct and within 2^6. */
	assert_true(has(&a, 0));
	for (size_t i = 0; i < a.n; i++) {
		assert_true(a.idx[i] < 64);
		sa += a.val[i];
		for (size_t j = 0; j < i; j++)
			assert_true(a.idx[i] != a.idx[j]);
	}
	/* OFFER_2 was shown last: one more unit of mass than OFFER_1 (a new bucket or a collision). */
	{
		double sb = 0;

		for (size_t i = 0; i < b.n; i++)
			sb += b.val[i];
		assert_true(fabs(sb - sa - 1.0) < 1e-12);
	}
	/* Slot 2 adds its feature; slot 0 does not; without slot features nothing. */
	feat_offer(&c, "OFFER_1", 2, 1, 6, FEAT_PER_OFFER, &x);
	assert_true(x.n >= a.n);
	{
		double sx = 0;

		for (size_t i = 0; i < x.n; i++)
			sx += x.val[i];
		assert_true(fabs(sx - sa - 1.0) < 1e-12);
	}
	feat_offer(&c, "OFFER_1", 2, 0, 6, FEAT_PER_OFFER, &x);
	assert_int_equal(x.n, a.n);
	/* Crossed: every context feature twice (shared and salted by the offer) plus the offer. */
	feat_offer(&c, "OFFER_1", 0, 0, 7, FEAT_CROSS, &x);
	{
		double sx = 0;

		for (size_t i = 0; i < x.n; i++)
			sx += x.val[i];
		assert_true(fabs(sx - (2 * sa + 1.0)) < 1e-9);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_numbers), cmocka_unit_test(test_categories_dates_flags),
	    cmocka_unit_test(test_dirty),   cmocka_unit_test(test_too_many),
	    cmocka_unit_test(test_vectors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
