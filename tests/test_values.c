/*
 * test_values.c — the in-memory learned statistics: lookups fall back from
 * the state to its segment to the company; the segment and company
 * aggregates follow every update by its difference (never double
 * counting); the revision guard drops stale rows; alpha/beta are split into
 * successes and failures; the table grows without losing entries.
 *
 * Public API only; links against build/liboffer.a.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "values.h"

#define STATE_A "Europa-M-lt30_January_0_Saturday"
#define STATE_B "Europa-M-lt30_March_1_Monday"   /* same segment as A */
#define STATE_C "Asia-F-gt65_January_0_Saturday" /* another segment */

static void set_row(values *v, const char *company, const char *state_key, const char *offer, double n,
                    double sum, double alpha, double beta, int64_t rev)
{
	db_policy_row r;

	memset(&r, 0, sizeof(r));
	r.company = company;
	r.state_key = state_key;
	r.offer = offer;
	r.n = n;
	r.reward_sum = sum;
	r.alpha = alpha;
	r.beta = beta;
	r.rev = rev;
	values_set(v, &r);
}

/* Looks up one offer; returns its level and fills *st. */
static int lookup1(values *v, const char *company, const char *state_key, const char *segment,
                   const char *offer, vstats *st)
{
	const char *offers[1] = {offer};
	int level = -1;

	values_lookup(v, company, state_key, segment, offers, 1, st, &level);
	return level;
}

static void test_fallback_levels(void **state)
{
	values *v = values_new();
	vstats st;

	(void)state;
	/* Nothing known: level NONE and zeroed stats. */
	memset(&st, 0x5a, sizeof(st));
	assert_int_equal(lookup1(v, "A", STATE_A, "Europa-M-lt30", "OFFER_1", &st), VALUES_NONE);
	assert_true(st.n == 0 && st.sum == 0 && st.succ == 0 && st.pw == 0);

	set_row(v, "A", STATE_A, "OFFER_1", 4, 12, 3, 3, 1);
	/* The state itself. */
	assert_int_equal(lookup1(v, "A", STATE_A, "Europa-M-lt30", "OFFER_1", &st), VALUES_STATE);
	assert_true(st.n == 4 && st.sum == 12);
	/* Another state of the same segment: the segment's aggregate. */
	assert_int_equal(lookup1(v, "A", STATE_B, "Europa-M-lt30", "OFFER_1", &st), VALUES_SEGMENT);
	assert_true(st.n == 4 && st.sum == 12);
	/* Another segment: the company-wide aggregate. */
	assert_int_equal(lookup1(v, "A", STATE_C, "Asia-F-gt65", "OFFER_1", &st), VALUES_GLOBAL);
	assert_true(st.n == 4 && st.sum == 12);
	/* Another offer or another company: nothing. */
	assert_int_equal(lookup1(v, "A", STATE_A, "Europa-M-lt30", "OFFER_2", &st), VALUES_NONE);
	assert_int_equal(lookup1(v, "B", STATE_A, "Europa-M-lt30", "OFFER_1", &st), VALUES_NONE);

	/* The state level wins over the aggregates once it has data. */
	set_row(v, "A", STATE_C, "OFFER_1", 1, -2, 1, 2, 2);
	assert_int_equal(lookup1(v, "A", STATE_C, "Asia-F-gt65", "OFFER_1", &st), VALUES_STATE);
	assert_true(st.n == 1 && st.sum == -2);
	/* The company aggregate now holds both states. */
	assert_int_equal(lookup1(v, "A", "Q1_May_0_Friday", "Q1", "OFFER_1", &st), VALUES_GLOBAL);
	assert_true(st.n == 5 && st.sum == 10);
	values_free(v);
}

static void test_lookup_many(void **state)
{
	values *v = values_new();
	const char *offers[4] = {"OFFER_1", "OFFER_2", "OFFER_3", "OFFER_4"};
	vstats st[4];
	int level[4];

	(void)state;
	set_row(v, "A", STATE_A, "OFFER_1", 1, 5, 2, 1, 1);
	set_row(v, "A", STATE_B, "OFFER_2", 2, 10, 3, 1, 2);
	set_row(v, "A", STATE_C, "OFFER_3", 3, 15, 4, 1, 3);
	values_lookup(v, "A", STATE_A, "Europa-M-lt30", offers, 4, st, level);
	assert_int_equal(level[0], VALUES_STATE);
	assert_int_equal(level[1], VALUES_SEGMENT);
	assert_int_equal(level[2], VALUES_GLOBAL);
	assert_int_equal(level[3], VALUES_NONE);
	assert_true(st[0].n == 1 && st[1].n == 2 && st[2].n == 3 && st[3].n == 0);
	values_free(v);
}

static void test_aggregates_by_difference(void **state)
{
	values *v = values_new();
	vstats st;

	(void)state;
	set_row(v, "A", STATE_A, "OFFER_1", 2, 4, 2, 2, 1);
	/* The same entry updated to new absolute values: aggregates move by the
	 * difference (2 -> 5), they do not add 5 on top of 2. */
	set_row(v, "A", STATE_A, "OFFER_1", 5, 7, 4, 3, 2);
	assert_int_equal(lookup1(v, "A", STATE_A, "Europa-M-lt30", "OFFER_1", &st), VALUES_STATE);
	assert_true(st.n == 5 && st.sum == 7);
	assert_int_equal(lookup1(v, "A", STATE_B, "Europa-M-lt30", "OFFER_1", &st), VALUES_SEGMENT);
	assert_true(st.n == 5 && st.sum == 7);
	assert_true(st.succ == 3 && st.fail == 2);
	assert_int_equal(lookup1(v, "A", STATE_C, "Asia-F-gt65", "OFFER_1", &st), VALUES_GLOBAL);
	assert_true(st.n == 5 && st.sum == 7);
	/* A second state of the segment adds to the segment and the company. */
	set_row(v, "A", STATE_B, "OFFER_1", 3, -6, 1, 4, 3);
	assert_int_equal(lookup1(v, "A", "Europa-M-lt30_June_0_Sunday", "Europa-M-lt30", "OFFER_1", &st),
	                 VALUES_SEGMENT);
	assert_true(st.n == 8 && st.sum == 1);
	assert_true(st.succ == 3 && st.fail == 5);
	/* A decrease (a reset from the database) is followed too. */
	set_row(v, "A", STATE_A, "OFFER_1", 1, 1, 1, 1, 4);
	assert_int_equal(lookup1(v, "A", "Europa-M-lt30_June_0_Sunday", "Europa-M-lt30", "OFFER_1", &st),
	                 VALUES_SEGMENT);
	assert_true(st.n == 4 && st.sum == -5);
	assert_int_equal(lookup1(v, "A", STATE_C, "Asia-F-gt65", "OFFER_1", &st), VALUES_GLOBAL);
	assert_true(st.n == 4 && st.sum == -5);
	/* Only state-level entries are counted. */
	assert_int_equal(values_count(v), 2);
	values_free(v);
}

static void test_revision_guard(void **state)
{
	values *v = values_new();
	vstats st;

	(void)state;
	set_row(v, "A", STATE_A, "OFFER_1", 3, 9, 1, 1, 10);
	/* Older and equal revisions are stale: ignored, aggregates untouched. */
	set_row(v, "A", STATE_A, "OFFER_1", 1, 1, 1, 1, 9);
	set_row(v, "A", STATE_A, "OFFER_1", 100, 100, 1, 1, 10);
	lookup1(v, "A", STATE_A, "Europa-M-lt30", "OFFER_1", &st);
	assert_true(st.n == 3 && st.sum == 9);
	assert_int_equal(lookup1(v, "A", STATE_B, "Europa-M-lt30", "OFFER_1", &st), VALUES_SEGMENT);
	assert_true(st.n == 3 && st.sum == 9);
	/* A newer one applies. */
	set_row(v, "A", STATE_A, "OFFER_1", 4, 14, 1, 1, 11);
	lookup1(v, "A", STATE_A, "Europa-M-lt30", "OFFER_1", &st);
	assert_true(st.n == 4 && st.sum == 14);
	assert_int_equal(lookup1(v, "A", STATE_C, "Asia-F-gt65", "OFFER_1", &st), VALUES_GLOBAL);
	assert_true(st.n == 4 && st.sum == 14);
	/* Revision 0 means "no revision": always applied. */
	set_row(v, "A", STATE_A, "OFFER_1", 6, 18, 1, 1, 0);
	lookup1(v, "A", STATE_A, "Europa-M-lt30", "OFFER_1", &st);
	assert_true(st.n == 6 && st.sum == 18);
	assert_int_equal(lookup1(v, "A", STATE_C, "Asia-F-gt65", "OFFER_1", &st), VALUES_GLOBAL);
	assert_true(st.n == 6 && st.sum == 18);
	values_free(v);
}

static void test_priors_and_beta(void **state)
{
	values *v = values_new();
	db_policy_row r;
	vstats st;

	(void)state;
	/* A prior only (offerctl train): counts as data with n = 0. */
	memset(&r, 0, sizeof(r));
	r.company = "A";
	r.state_key = STATE_A;
	r.offer = "OFFER_1";
	r.prior_value = 3;
	r.prior_weight = 2;
	r.alpha = 1;
	r.beta = 1;
	r.rev = 1;
	values_set(v, &r);
	assert_int_equal(lookup1(v, "A", STATE_A, "Europa-M-lt30", "OFFER_1", &st), VALUES_STATE);
	assert_true(st.pw == 2 && st.pvw == 6 && st.n == 0);
	assert_true(values_mean(&st, -99) == 3);
	/* With observations the mean blends prior and data: (6 + 4) / (2 + 2). */
	r.n = 2;
	r.reward_sum = 4;
	r.alpha = 3; /* prior 1 + 2 successes */
	r.beta = 2;  /* prior 1 + 1 failure */
	r.rev = 2;
	values_set(v, &r);
	lookup1(v, "A", STATE_A, "Europa-M-lt30", "OFFER_1", &st);
	assert_true(fabs(values_mean(&st, -99) - 2.5) < 1e-12);
	/* alpha and beta come back as successes and failures over Beta(1, 1). */
	assert_true(st.succ == 2 && st.fail == 1);
	assert_true(st.pa == 0 && st.pb == 0);
	/* The segment aggregate carries the prior too. */
	assert_int_equal(lookup1(v, "A", STATE_B, "Europa-M-lt30", "OFFER_1", &st), VALUES_SEGMENT);
	assert_true(st.pw == 2 && st.pvw == 6 && st.n == 2);

	/* An entry without data falls through to the next level. */
	set_row(v, "A", STATE_B, "OFFER_2", 5, 5, 1, 1, 3);
	set_row(v, "A", STATE_A, "OFFER_2", 0, 0, 1, 1, 4);
	assert_int_equal(lookup1(v, "A", STATE_A, "Europa-M-lt30", "OFFER_2", &st), VALUES_SEGMENT);
	assert_true(st.n == 5);
	values_free(v);
}

static void test_mean(void **state)
{
	vstats s;

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_true(values_mean(&s, 0.0) == 0.0);
	assert_true(values_mean(&s, -2.0) == -2.0);
	s.n = 4;
	s.sum = 10;
	assert_true(values_mean(&s, 0) == 2.5);
	s.pw = 1;
	s.pvw = 5;
	assert_true(values_mean(&s, 0) == 3.0);
}

static void test_growth(void **state)
{
	values *v = values_new();
	char key[64];
	char offer[16];
	vstats st;

	(void)state;
	/* Far more entries than the initial 1024 slots (each row adds aggregates too). */
	for (int i = 0; i < 3000; i++) {
		snprintf(key, sizeof(key), "S%d_January_0_Monday", i % 50);
		snprintf(offer, sizeof(offer), "OFFER_%d", i / 50);
		set_row(v, "A", key, offer, i + 1, 2.0 * (i + 1), 1, 1, i + 1);
	}
	assert_int_equal(values_count(v), 3000);
	for (int i = 0; i < 3000; i++) {
		snprintf(key, sizeof(key), "S%d_January_0_Monday", i % 50);
		snprintf(offer, sizeof(offer), "OFFER_%d", i / 50);
		assert_int_equal(lookup1(v, "A", key, "S0", offer, &st), VALUES_STATE);
		assert_true(st.n == i + 1);
		assert_true(st.sum == 2.0 * (i + 1));
	}
	/* Segment S7, OFFER_3: row i = 3 * 50 + 7. */
	assert_int_equal(lookup1(v, "A", "S7_May_1_Friday", "S7", "OFFER_3", &st), VALUES_SEGMENT);
	assert_true(st.n == 158);
	/* The company aggregate of OFFER_0 sums rows 0..49: 1 + ... + 50. */
	assert_int_equal(lookup1(v, "A", "X_May_1_Friday", "X", "OFFER_0", &st), VALUES_GLOBAL);
	assert_true(st.n == 1275);
	values_free(v);
	values_free(NULL);
}

static void test_segment_without_underscore(void **state)
{
	values *v = values_new();
	vstats st;

	(void)state;
	/* A state key with no '_' is its own segment. */
	set_row(v, "A", "plain", "OFFER_1", 2, 2, 1, 1, 1);
	assert_int_equal(lookup1(v, "A", "plain_x", "plain", "OFFER_1", &st), VALUES_SEGMENT);
	assert_true(st.n == 2);
	values_free(v);
}

/* Looks up one offer with shrinkage k. */
static int blend1(values *v, const char *state_key, const char *offer, double k, vstats *st)
{
	const char *offers[1] = {offer};
	int level = -1;

	values_blend(v, "A", state_key, "Europa-M-lt30", offers, 1, k, st, &level);
	return level;
}

/*
 * Shrinkage: (n mean + k parent) / (n + k), the parent the segment's blend
 * with the company's; a state never seen is its parent worth k observations.
 */
static void test_blend(void **unused)
{
	values *v = values_new();
	vstats st;

	(void)unused;
	/* State A: 2 observations of mean 5; state B (same segment): 98 of mean -2. */
	set_row(v, "A", STATE_A, "OFFER_1", 2, 10, 3, 1, 1);
	set_row(v, "A", STATE_B, "OFFER_1", 98, -196, 1, 99, 2);
	/* k 0: the state alone, as values_lookup. */
	assert_int_equal(blend1(v, STATE_A, "OFFER_1", 0, &st), 0);
	assert_true(fabs(values_mean(&st, 0) - 5.0) < 1e-12);
	/*
	 * k 10: the segment (100 obs, mean (10 - 196) / 100 = -1.86) equals the
	 * company (same rows), so its blend keeps mean -1.86; the state's
	 * estimate is (2 * 5 + 10 * -1.86) / 12.
	 */
	assert_int_equal(blend1(v, STATE_A, "OFFER_1", 10, &st), 0);
	assert_true(fabs(st.n - 12.0) < 1e-12);
	assert_true(fabs(values_mean(&st, 0) - (10.0 - 18.6) / 12.0) < 1e-12);
	/* Beta counts blend the same way: succ 2 + 10 * 2 / 100 ... of the segment's. */
	assert_true(fabs(st.succ - (2.0 + 10.0 * 2.0 / 100.0)) < 1e-12);
	/* More evidence, less shrinkage: with 200 observations the state dominates. */
	set_row(v, "A", STATE_A, "OFFER_1", 200, 1000, 201, 1, 3);
	blend1(v, STATE_A, "OFFER_1", 10, &st);
	assert_true(values_mean(&st, 0) > 4.5);
	/* A state never seen: its segment's mean, worth 10 observations. */
	assert_int_equal(blend1(v, "Europa-M-lt30_March_0_Monday", "OFFER_1", 10, &st), 1);
	assert_true(fabs(st.n - 10.0) < 1e-12);
	/* A parent with less evidence than k gives what it has. */
	assert_int_equal(blend1(v, STATE_A, "OFFER_9", 10, &st), 3);
	assert_true(st.n == 0);
	values_free(v);
}

/* Forgetting: gamma^(decisions since) per statistic; gamma 1 forgets nothing. */
static void test_forgetting(void **unused)
{
	values *v = values_new();
	vstats st;

	(void)unused;
	set_row(v, "A", STATE_A, "OFFER_1", 10, 50, 11, 1, 1);
	for (int i = 0; i < 100; i++)
		values_tick(v, "A", 1.0);
	assert_int_equal(lookup1(v, "A", STATE_A, "Europa-M-lt30", "OFFER_1", &st), 0);
	assert_true(st.n == 10 && st.sum == 50);
	/* A new factor applies from each statistic's last update: 200 decisions here. */
	for (int i = 0; i < 100; i++)
		values_tick(v, "A", 0.99);
	lookup1(v, "A", STATE_A, "Europa-M-lt30", "OFFER_1", &st);
	assert_true(fabs(st.n - 10 * pow(0.99, 200)) < 1e-9);
	/* A company deciding with 0.99 from the start. */
	values_tick(v, "C", 0.99);
	set_row(v, "C", STATE_A, "OFFER_1", 10, 50, 11, 1, 1);
	for (int i = 0; i < 100; i++)
		values_tick(v, "C", 0.99);
	lookup1(v, "C", STATE_A, "Europa-M-lt30", "OFFER_1", &st);
	assert_true(fabs(st.n - 10 * pow(0.99, 100)) < 1e-9);
	/* The mean is unchanged by decay alone. */
	assert_true(fabs(values_mean(&st, 0) - 5.0) < 1e-12);
	/* New evidence counts in full: 5 observations of -2 on top of the decayed 10 of 5. */
	set_row(v, "C", STATE_A, "OFFER_1", 15, 40, 11, 6, 2);
	lookup1(v, "C", STATE_A, "Europa-M-lt30", "OFFER_1", &st);
	assert_true(fabs(st.n - (10 * pow(0.99, 100) + 5)) < 1e-9);
	assert_true(fabs(st.sum - (50 * pow(0.99, 100) - 10)) < 1e-9);
	/* The segment and company aggregates forget alike. */
	assert_int_equal(lookup1(v, "C", STATE_B, "Europa-M-lt30", "OFFER_1", &st), 1);
	assert_true(fabs(st.n - (10 * pow(0.99, 100) + 5)) < 1e-9);
	/* Another company's clock did not move. */
	set_row(v, "B", STATE_A, "OFFER_1", 10, 50, 11, 1, 3);
	lookup1(v, "B", STATE_A, "Europa-M-lt30", "OFFER_1", &st);
	assert_true(st.n == 10);
	values_free(v);
}

/*
 * Erasure lowers a row's sums (issue 16.3). Without forgetting the entry
 * and its aggregates drop by the difference; with it, the discounted copy
 * keeps the share forgetting had left (it does not know when the removed
 * observations were learned) and never goes below zero.
 */
static void test_decrement(void **unused)
{
	values *v = values_new();
	vstats st;

	(void)unused;
	set_row(v, "A", STATE_A, "OFFER_1", 4, 8, 3, 3, 1);
	set_row(v, "A", STATE_B, "OFFER_1", 2, 2, 2, 2, 2);
	set_row(v, "A", STATE_A, "OFFER_1", 1, 5, 2, 1, 3);
	assert_int_equal(lookup1(v, "A", STATE_A, "Europa-M-lt30", "OFFER_1", &st), 0);
	assert_true(st.n == 1 && st.sum == 5 && st.succ == 1 && st.fail == 0);
	assert_int_equal(lookup1(v, "A", "Europa-M-lt30_June_0_Monday", "Europa-M-lt30", "OFFER_1", &st),
	                 1);
	assert_true(st.n == 3 && st.sum == 7 && st.succ == 2 && st.fail == 1);
	/* To nothing: the state falls back to its segment, as if never seen. */
	set_row(v, "A", STATE_A, "OFFER_1", 0, 0, 1, 1, 4);
	assert_int_equal(lookup1(v, "A", STATE_A, "Europa-M-lt30", "OFFER_1", &st), 1);
	assert_true(st.n == 2 && st.sum == 2);

	/* Forgetting 0.5: 4 observations three decisions ago weigh 0.5. */
	set_row(v, "F", STATE_A, "OFFER_1", 4, 8, 1, 5, 5);
	for (int i = 0; i < 3; i++)
		values_tick(v, "F", 0.5);
	lookup1(v, "F", STATE_A, "Europa-M-lt30", "OFFER_1", &st);
	assert_true(fabs(st.n - 0.5) < 1e-12);
	/* Erasing 3 of them: a plain difference would give 0.5 - 3 < 0. */
	set_row(v, "F", STATE_A, "OFFER_1", 1, 2, 1, 2, 6);
	lookup1(v, "F", STATE_A, "Europa-M-lt30", "OFFER_1", &st);
	assert_true(fabs(st.n - 0.125) < 1e-12 && fabs(st.sum - 0.25) < 1e-12);
	assert_int_equal(lookup1(v, "F", STATE_B, "Europa-M-lt30", "OFFER_1", &st), 1);
	assert_true(fabs(st.n - 0.125) < 1e-12);
	values_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fallback_levels),
	    cmocka_unit_test(test_lookup_many),
	    cmocka_unit_test(test_aggregates_by_difference),
	    cmocka_unit_test(test_revision_guard),
	    cmocka_unit_test(test_priors_and_beta),
	    cmocka_unit_test(test_mean),
	    cmocka_unit_test(test_growth),
	    cmocka_unit_test(test_segment_without_underscore),
	    cmocka_unit_test(test_blend),
	    cmocka_unit_test(test_forgetting),
	    cmocka_unit_test(test_decrement),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
