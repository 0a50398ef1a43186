/*
 * test_agent.c — the policies behind /predict.
 *
 * Over 10,000 seeded draws each: no policy returns a duplicate or an offer
 * that is not allowed; for the weighted (the brief's rl_agent), random and
 * epsilon-greedy policies the logged propensity of every (slot, offer) given
 * the earlier slots is the exact probability, checked two ways: against the
 * formula, and against the empirical frequency of that choice. When one
 * offer clearly dominates the learned values, epsilon-greedy, Thompson
 * sampling and UCB put it first at least 90% of the time. Also: state keys
 * and segments, the precedence of the brief's weights, configuration from a
 * TB_AGENTS row (unknown parameters are errors), and the reward scale.
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

#include "agent.h"
#include "util.h"

#define DRAWS 10000
#define MAXO 16 /* offers in the requests built here */

/* --- building requests --------------------------------------------------------- */

/*
 * A request for Saturday 2022-01-01 with offers OFFER_1..OFFER_n, allowed
 * where mask has bit (i - 1) set for OFFER_i.
 */
static void make_req(predict_req *r, int age, char gender, const char *region, int n, unsigned mask)
{
	memset(r, 0, sizeof(*r));
	util_strlcpy(r->customer_id, "152467", sizeof(r->customer_id));
	util_strlcpy(r->timestamp, "2022-01-01", sizeof(r->timestamp));
	r->date.year = 2022;
	r->date.month = 1;
	r->date.day = 1;
	r->date.weekday = 6;
	r->customer.age = age;
	r->customer.gender = gender;
	util_strlcpy(r->customer.region, region, sizeof(r->customer.region));
	for (int i = 0; i < n; i++) {
		snprintf(r->offers[i], sizeof(r->offers[i]), "OFFER_%d", i + 1);
		r->allowed[i] = (mask >> i) & 1u;
		r->n_allowed += r->allowed[i];
	}
	r->n_offers = (size_t)n;
}

/* The brief's example: OFFER_1, 2, 4, 5, 8 and 10 allowed out of ten. */
#define BRIEF_MASK ((1u << 0) | (1u << 1) | (1u << 3) | (1u << 4) | (1u << 7) | (1u << 9))

/* The state key agent_decide computes for r (no RFM segment). */
static void state_of(const predict_req *r, char *key, size_t keylen, char *seg, size_t seglen)
{
	customer_segment(&r->customer, NULL, seg, seglen);
	customer_state_key(seg, &r->date, key, keylen);
}

/* Sets the learned statistics of one offer at a state. */
static void learn(values *v, const char *state_key, const char *offer, double n, double mean,
                  double succ, double fail)
{
	db_policy_row row;
	static int64_t rev;

	memset(&row, 0, sizeof(row));
	row.company = "A";
	row.state_key = state_key;
	row.offer = offer;
	row.n = n;
	row.reward_sum = n * mean;
	row.alpha = 1 + succ;
	row.beta = 1 + fail;
	row.rev = ++rev;
	values_set(v, &row);
}

/* --- checking decisions ----------------------------------------------------------- */

/*
 * Per slot, draws grouped by the offers chosen before it: how often each
 * offer came next, and the propensity logged for it (which must be the same
 * every time for a deterministic-probability policy).
 */
typedef struct tracker {
	int exact; /* propensities must be constant per group */
	size_t n0, c0[MAXO];
	double p0[MAXO];
	size_t n1[MAXO], c1[MAXO][MAXO];
	double p1[MAXO][MAXO];
	size_t n2[MAXO][MAXO], c2[MAXO][MAXO][MAXO];
	double p2[MAXO][MAXO][MAXO];
	size_t first[MAXO]; /* slot-0 counts, for every policy */
	size_t shown[MAXO]; /* shown in any slot */
} tracker;

static tracker *tracker_new(int exact)
{
	tracker *t = xcalloc(1, sizeof(*t));
	double *all[] = {t->p0, &t->p1[0][0], &t->p2[0][0][0]};
	size_t lens[] = {MAXO, MAXO * MAXO, MAXO * MAXO * MAXO};

	t->exact = exact;
	for (size_t k = 0; k < 3; k++) {
		for (size_t i = 0; i < lens[k]; i++)
			all[k][i] = -1;
	}
	return t;
}

static void note_p(double *slot, double p, int exact)
{
	if (*slot < 0 || !exact) {
		*slot = p;
		return;
	}
	if (fabs(*slot - p) > 1e-12)
		fail_msg("propensity changed between identical situations: %.17g vs %.17g", *slot, p);
}

/* Checks the structural rules of one decision and records it. */
static void record(tracker *t, const predict_req *r, const agent_decision *d)
{
	size_t want = r->n_allowed < OFFERS_SHOWN ? r->n_allowed : OFFERS_SHOWN;

	assert_int_equal(d->n, want);
	for (size_t k = 0; k < d->n; k++) {
		assert_true(d->idx[k] < r->n_offers);
		if (!r->allowed[d->idx[k]])
			fail_msg("slot %zu holds %s, which is not allowed", k, r->offers[d->idx[k]]);
		for (size_t j = 0; j < k; j++) {
			if (d->idx[j] == d->idx[k])
				fail_msg("%s shown twice", r->offers[d->idx[k]]);
		}
		if (!(d->propensity[k] > 0.0 && d->propensity[k] <= 1.0))
			fail_msg("slot %zu propensity %g outside (0, 1]", k, d->propensity[k]);
		t->shown[d->idx[k]]++;
	}
	t->first[d->idx[0]]++;
	t->n0++;
	t->c0[d->idx[0]]++;
	note_p(&t->p0[d->idx[0]], d->propensity[0], t->exact);
	if (d->n > 1) {
		t->n1[d->idx[0]]++;
		t->c1[d->idx[0]][d->idx[1]]++;
		note_p(&t->p1[d->idx[0]][d->idx[1]], d->propensity[1], t->exact);
	}
	if (d->n > 2) {
		t->n2[d->idx[0]][d->idx[1]]++;
		t->c2[d->idx[0]][d->idx[1]][d->idx[2]]++;
		note_p(&t->p2[d->idx[0]][d->idx[1]][d->idx[2]], d->propensity[2], t->exact);
	}
}

/*
 * One group: n draws, counts c[o], logged p[o] (-1 never chosen), with
 * `remaining` offers available. Frequencies must match the logged
 * probabilities (4.5 standard deviations), and the probabilities of all
 * remaining offers must sum to 1.
 */
static void check_group(const char *what, size_t n, const size_t *c, const double *p, size_t remaining)
{
	double sum = 0;
	size_t seen = 0;

	if (n < 300)
		return; /* too few draws to compare frequencies */
	for (size_t o = 0; o < MAXO; o++) {
		double f, sd;

		if (p[o] < 0)
			continue;
		seen++;
		sum += p[o];
		f = (double)c[o] / (double)n;
		sd = sqrt(p[o] * (1 - p[o]) / (double)n);
		if (fabs(f - p[o]) > 4.5 * sd + 1e-9)
			fail_msg("%s: offer index %zu chosen %.4f of %zu draws, logged propensity %.4f",
			         what, o, f, n, p[o]);
	}
	if (sum > 1 + 1e-9)
		fail_msg("%s: propensities sum to %.12f > 1", what, sum);
	if (seen == remaining && fabs(sum - 1) > 1e-9)
		fail_msg("%s: propensities of all %zu offers sum to %.12f", what, seen, sum);
}

static void check_tracker(const tracker *t, size_t allowed)
{
	char what[64];

	check_group("slot 0", t->n0, t->c0, t->p0, allowed);
	for (size_t a = 0; a < MAXO; a++) {
		snprintf(what, sizeof(what), "slot 1 after %zu", a);
		check_group(what, t->n1[a], t->c1[a], t->p1[a], allowed - 1);
		for (size_t b = 0; b < MAXO; b++) {
			snprintf(what, sizeof(what), "slot 2 after %zu,%zu", a, b);
			check_group(what, t->n2[a][b], t->c2[a][b], t->p2[a][b], allowed - 2);
		}
	}
}

/* Runs DRAWS decisions with conf on r and checks them; returns the tracker. */
static tracker *run_policy(const agent_conf *c, values *v, const predict_req *r, uint64_t seed,
                           int exact)
{
	tracker *t = tracker_new(exact);
	agent_conf fixed = *c;
	rng g;
	agent_decision d;

	/* The statistics stay as given: no forgetting between the draws. */
	fixed.forgetting = 1.0;
	c = &fixed;
	rng_seed(&g, seed);
	for (int i = 0; i < DRAWS; i++) {
		assert_int_equal(agent_decide(c, v, &g, "A", r, NULL, &d), 0);
		record(t, r, &d);
	}
	return t;
}

/* --- the weighted policy ------------------------------------------------------------ */

static void test_weighted_frequencies(void **state)
{
	agent_conf c;
	predict_req r;
	values *v = values_new();
	tracker *t;
	/* Male weights {10, 10, 10, 6, 4, 4} by (n - 1) mod 6, for the allowed offers. */
	static const double w[10] = {10, 10, 0, 6, 4, 0, 0, 10, 0, 6};
	const double total = 46;

	(void)state;
	agent_conf_default(&c);
	c.policy = POLICY_WEIGHTED;
	make_req(&r, 18, 'M', "Europa", 10, BRIEF_MASK);
	t = run_policy(&c, v, &r, 1, 1);
	check_tracker(t, 6);
	/* The logged slot-0 propensities are the brief's weights, normalised. */
	for (int o = 0; o < 10; o++) {
		if (w[o] == 0) {
			assert_int_equal(t->shown[o], 0);
			continue;
		}
		if (fabs(t->p0[o] - w[o] / total) > 1e-12)
			fail_msg("OFFER_%d slot 0 propensity %g, want %g", o + 1, t->p0[o],
			         w[o] / total);
	}
	/* Slot 1 after OFFER_1: weights renormalised without it (46 - 10). */
	assert_true(fabs(t->p1[0][3] - 6.0 / 36) < 1e-12);
	/* Slot 2 after OFFER_1, OFFER_2: 46 - 20. */
	if (t->p2[0][1][4] >= 0)
		assert_true(fabs(t->p2[0][1][4] - 4.0 / 26) < 1e-12);
	free(t);
	values_free(v);
}

static void test_weighted_few_allowed(void **state)
{
	agent_conf c;
	predict_req r;
	values *v = values_new();
	tracker *t;

	(void)state;
	agent_conf_default(&c);
	c.policy = POLICY_WEIGHTED;
	/* Two allowed: both shown, never a third. */
	make_req(&r, 40, 'F', "Asia", 10, (1u << 2) | (1u << 6));
	t = run_policy(&c, v, &r, 2, 1);
	assert_int_equal(t->shown[2] + t->shown[6], 2 * DRAWS);
	/* Female weights {4, 4, 6, 10, 10, 10}: OFFER_3 -> 6, OFFER_7 -> 4. */
	assert_true(fabs(t->p0[2] - 0.6) < 1e-12);
	assert_true(fabs(t->p0[6] - 0.4) < 1e-12);
	/* The second slot is then certain. */
	assert_true(fabs(t->p1[2][6] - 1.0) < 1e-12);
	check_tracker(t, 2);
	free(t);
	/* One allowed: shown alone, with probability 1. */
	make_req(&r, 40, 'F', "Asia", 10, 1u << 9);
	t = run_policy(&c, v, &r, 3, 1);
	assert_int_equal(t->first[9], DRAWS);
	assert_true(t->p0[9] == 1.0);
	free(t);
	/* None allowed: an error, not a decision. */
	{
		agent_decision d;
		rng g;

		rng_seed(&g, 1);
		make_req(&r, 40, 'F', "Asia", 10, 0);
		assert_int_equal(agent_decide(&c, v, &g, "A", &r, NULL, &d), ERR_INVAL);
	}
	values_free(v);
}

/* The slot-0 propensity of OFFER_i under the weighted policy for one customer. */
static double weighted_p0(int age, char gender, const char *region, int offer_no, int n, unsigned mask)
{
	agent_conf c;
	predict_req r;
	values *v = values_new();
	rng g;
	agent_decision d;

	agent_conf_default(&c);
	c.policy = POLICY_WEIGHTED;
	make_req(&r, age, gender, region, n, mask);
	rng_seed(&g, 5);
	for (int i = 0; i < 2000; i++) {
		assert_int_equal(agent_decide(&c, v, &g, "A", &r, NULL, &d), 0);
		if (d.idx[0] == (size_t)(offer_no - 1)) {
			values_free(v);
			return d.propensity[0];
		}
	}
	values_free(v);
	fail_msg("OFFER_%d never drawn first", offer_no);
	return -1;
}

static void test_weighted_precedence(void **state)
{
	const unsigned all = (1u << 10) - 1;

	(void)state;
	/* Gender wins over region and age (the brief's last if-block). */
	/* Male {10, 10, 10, 6, 4, 4} over ten offers: 44 + 36 = 80. */
	assert_true(fabs(weighted_p0(18, 'M', "Asia", 1, 10, all) - 10.0 / 80) < 1e-12);
	/* Female {4, 4, 6, 10, 10, 10}: 44 + 24 = 68. */
	assert_true(fabs(weighted_p0(18, 'F', "Europa", 4, 10, all) - 10.0 / 68) < 1e-12);
	/* Unknown gender: region. Europa {10, 8, 6, 6, 10, 10}: 50 + 30 = 80. */
	assert_true(fabs(weighted_p0(18, 'U', "Europa", 2, 10, all) - 8.0 / 80) < 1e-12);
	/* Americas {4, 8, 6, 6, 10, 10}: 4+8+6+6+10+10+4+8+6+6 = 68. */
	assert_true(fabs(weighted_p0(70, 'U', "Americas", 1, 10, all) - 4.0 / 68) < 1e-12);
	/* Asia {4, 10, 10, 6, 4, 4}: 4+10+10+6+4+4+4+10+10+6 = 68. */
	assert_true(fabs(weighted_p0(70, 'U', "Asia", 3, 10, all) - 10.0 / 68) < 1e-12);
	/* Neither: age. Young {10, 8, 6, 6, 6, 4}: 10+8+6+6+6+4+10+8+6+6 = 70. */
	assert_true(fabs(weighted_p0(29, 'U', "Unknown", 1, 10, all) - 10.0 / 70) < 1e-12);
	/* Older {8, 6, 10, 6, 4} (five weights): 8+6+10+6+4+8+6+10+6+4 = 68; OFFER_6 -> 8. */
	assert_true(fabs(weighted_p0(30, 'U', "Unknown", 6, 10, all) - 8.0 / 68) < 1e-12);
	/* Nothing known: uniform. */
	assert_true(fabs(weighted_p0(-1, 'U', "Unknown", 7, 10, all) - 0.1) < 1e-12);
	/* An offer keeps its weight whatever else is allowed: OFFER_7 is 10 for a man. */
	assert_true(fabs(weighted_p0(18, 'M', "Europa", 7, 10, (1u << 6) | (1u << 3)) - 10.0 / 16) <
	            1e-12);
}

static void test_weighted_unnumbered_offers(void **state)
{
	agent_conf c;
	predict_req r;
	values *v = values_new();
	rng g;
	agent_decision d;
	int seen_first[3] = {0};

	(void)state;
	agent_conf_default(&c);
	c.policy = POLICY_WEIGHTED;
	make_req(&r, 18, 'F', "Europa", 3, 7u);
	/* Names without a number: weights by position, female {4, 4, 6}. */
	util_strlcpy(r.offers[0], "gold", sizeof(r.offers[0]));
	util_strlcpy(r.offers[1], "silver", sizeof(r.offers[1]));
	util_strlcpy(r.offers[2], "bronze", sizeof(r.offers[2]));
	rng_seed(&g, 9);
	for (int i = 0; i < 3000; i++) {
		assert_int_equal(agent_decide(&c, v, &g, "A", &r, NULL, &d), 0);
		assert_int_equal(d.n, 3);
		if (!seen_first[d.idx[0]]) {
			double want[3] = {4.0 / 14, 4.0 / 14, 6.0 / 14};

			assert_true(fabs(d.propensity[0] - want[d.idx[0]]) < 1e-12);
			seen_first[d.idx[0]] = 1;
		}
	}
	assert_true(seen_first[0] && seen_first[1] && seen_first[2]);
	values_free(v);
}

/* --- random and epsilon-greedy -------------------------------------------------------- */

static void test_random_policy(void **state)
{
	agent_conf c;
	predict_req r;
	values *v = values_new();
	tracker *t;

	(void)state;
	agent_conf_default(&c);
	c.policy = POLICY_RANDOM;
	make_req(&r, 18, 'M', "Europa", 10, BRIEF_MASK);
	t = run_policy(&c, v, &r, 11, 1);
	check_tracker(t, 6);
	for (int o = 0; o < 10; o++) {
		if ((BRIEF_MASK >> o) & 1u)
			assert_true(fabs(t->p0[o] - 1.0 / 6) < 1e-12);
	}
	assert_true(fabs(t->p1[0][1] - 1.0 / 5) < 1e-12);
	free(t);
	values_free(v);
}

static void test_epsilon_greedy_exact_propensities(void **state)
{
	agent_conf c;
	predict_req r;
	values *v = values_new();
	tracker *t;
	char key[AGENT_STATE_MAX];
	char seg[AGENT_SEGMENT_MAX];
	const double eps = 0.3;

	(void)state;
	agent_conf_default(&c);
	c.policy = POLICY_EPSILON_GREEDY;
	c.epsilon = eps;
	/* Five allowed: OFFER_1..OFFER_5 with means 4, 1, 1, -1, unseen (0). */
	make_req(&r, 18, 'M', "Europa", 5, 0x1f);
	state_of(&r, key, sizeof(key), seg, sizeof(seg));
	learn(v, key, "OFFER_1", 10, 4, 8, 2);
	learn(v, key, "OFFER_2", 10, 1, 5, 5);
	learn(v, key, "OFFER_3", 10, 1, 5, 5);
	learn(v, key, "OFFER_4", 10, -1, 2, 8);
	t = run_policy(&c, v, &r, 21, 1);
	check_tracker(t, 5);
	/* Slot 0: the best takes 1 - eps plus its share of eps / 5. */
	assert_true(fabs(t->p0[0] - ((1 - eps) + eps / 5)) < 1e-12);
	for (int o = 1; o < 5; o++)
		assert_true(fabs(t->p0[o] - eps / 5) < 1e-12);
	/* Slot 1 after OFFER_1: OFFER_2 and OFFER_3 tie for best and split 1 - eps. */
	assert_true(fabs(t->p1[0][1] - ((1 - eps) / 2 + eps / 4)) < 1e-12);
	assert_true(fabs(t->p1[0][2] - ((1 - eps) / 2 + eps / 4)) < 1e-12);
	assert_true(fabs(t->p1[0][3] - eps / 4) < 1e-12);
	assert_true(fabs(t->p1[0][4] - eps / 4) < 1e-12);
	/* Slot 2 after OFFER_1, OFFER_2: OFFER_3 is the best of three. */
	assert_true(fabs(t->p2[0][1][2] - ((1 - eps) + eps / 3)) < 1e-12);
	assert_true(fabs(t->p2[0][1][3] - eps / 3) < 1e-12);
	assert_true(fabs(t->p2[0][1][4] - eps / 3) < 1e-12);
	free(t);

	/* Epsilon 0 is pure greedy: always the same three, probability 1. */
	c.epsilon = 0;
	t = run_policy(&c, v, &r, 22, 0);
	assert_int_equal(t->first[0], DRAWS);
	assert_true(t->p0[0] == 1.0);
	/* OFFER_2 and OFFER_3 tie: each half the time in slot 1. */
	assert_true(fabs((double)t->c1[0][1] / DRAWS - 0.5) < 0.03);
	assert_true(t->p1[0][1] == 0.5);
	assert_int_equal(t->shown[3], 0);
	assert_int_equal(t->shown[4], 0);
	free(t);
	/* An unseen offer (value 0) ranks above one customers ignore (-1). */
	make_req(&r, 18, 'M', "Europa", 5, (1u << 3) | (1u << 4));
	t = run_policy(&c, v, &r, 24, 1);
	assert_int_equal(t->first[4], DRAWS);
	assert_int_equal(t->c1[4][3], DRAWS);
	free(t);
	make_req(&r, 18, 'M', "Europa", 5, 0x1f);
	/* Epsilon 1 is uniform. */
	c.epsilon = 1;
	t = run_policy(&c, v, &r, 23, 1);
	check_tracker(t, 5);
	assert_true(fabs(t->p0[0] - 0.2) < 1e-12);
	assert_true(fabs(t->p0[4] - 0.2) < 1e-12);
	free(t);
	values_free(v);
}

/* --- a dominant offer ------------------------------------------------------------------ */

/* OFFER_7 is accepted 90% of the time, every other offer 10%. */
static values *dominant_values(const predict_req *r)
{
	values *v = values_new();
	char key[AGENT_STATE_MAX];
	char seg[AGENT_SEGMENT_MAX];

	state_of(r, key, sizeof(key), seg, sizeof(seg));
	for (int o = 1; o <= 10; o++) {
		char name[16];

		snprintf(name, sizeof(name), "OFFER_%d", o);
		if (o == 7)
			learn(v, key, name, 100, 4.3, 90, 10);
		else
			learn(v, key, name, 100, -1.3, 10, 90);
	}
	return v;
}

static void test_dominant_offer(void **state)
{
	static const enum agent_policy policies[] = {POLICY_EPSILON_GREEDY, POLICY_THOMPSON, POLICY_UCB};
	predict_req r;
	values *v;

	(void)state;
	make_req(&r, 18, 'M', "Europa", 10, (1u << 10) - 1);
	v = dominant_values(&r);
	for (size_t i = 0; i < UTIL_ARRAY_LEN(policies); i++) {
		agent_conf c;
		tracker *t;
		double first;
		double shown;

		agent_conf_default(&c);
		c.policy = policies[i];
		c.epsilon = 0.1;
		t = run_policy(&c, v, &r, 100 + i, 1);
		first = (double)t->first[6] / DRAWS;
		shown = (double)t->shown[6] / DRAWS;
		print_message("%-15s OFFER_7 first %.4f, shown %.4f\n", agent_policy_name(c.policy),
		              first, shown);
		if (first < 0.90 || shown < 0.97)
			fail_msg("%s put OFFER_7 first %.4f and showed it %.4f of the time",
			         agent_policy_name(c.policy), first, shown);
		if (policies[i] == POLICY_EPSILON_GREEDY) {
			/* Exactly 0.9 + 0.1 / 10 in expectation. */
			assert_true(fabs(t->p0[6] - 0.91) < 1e-12);
			check_tracker(t, 10);
		}
		if (policies[i] == POLICY_THOMPSON)
			check_tracker(t, 10); /* exact propensities, by quadrature */
		if (policies[i] == POLICY_UCB) {
			/* All offers tried as often: UCB is deterministic here. */
			assert_true(t->p0[6] == 1.0);
			assert_int_equal(t->first[6], DRAWS);
		}
		free(t);
	}
	values_free(v);
}

static void test_thompson_propensities(void **state)
{
	agent_conf c;
	predict_req r;
	values *v;
	rng g;
	agent_decision d;
	double sum7 = 0;
	int n7 = 0;

	(void)state;
	make_req(&r, 18, 'M', "Europa", 10, (1u << 10) - 1);
	v = dominant_values(&r);
	agent_conf_default(&c);
	c.policy = POLICY_THOMPSON;
	c.forgetting = 1.0;
	rng_seed(&g, 31);
	for (int i = 0; i < 2000; i++) {
		assert_int_equal(agent_decide(&c, v, &g, "A", &r, NULL, &d), 0);
		for (size_t k = 0; k < d.n; k++)
			assert_true(d.propensity[k] > 0 && d.propensity[k] <= 1);
		if (d.idx[0] == 6) {
			sum7 += d.propensity[0];
			n7++;
		}
	}
	/* Beta(91, 11) against nine Beta(11, 91): OFFER_7 first essentially always,
	 * and the quadrature says so. */
	assert_true(n7 > 1980);
	assert_true(sum7 / n7 > 0.97);
	values_free(v);
}

static void test_ucb_tries_unseen_first(void **state)
{
	agent_conf c;
	predict_req r;
	values *v;
	tracker *t;

	(void)state;
	make_req(&r, 18, 'M', "Europa", 11, (1u << 11) - 1);
	v = dominant_values(&r); /* OFFER_11 has no data at any level */
	agent_conf_default(&c);
	c.policy = POLICY_UCB;
	t = run_policy(&c, v, &r, 41, 1);
	assert_int_equal(t->first[10], DRAWS);
	assert_true(t->p0[10] == 1.0);
	/* Then the dominant one. */
	assert_int_equal(t->c1[10][6], DRAWS);
	free(t);
	values_free(v);
}

static void test_learning_policies_use_fallback(void **state)
{
	agent_conf c;
	predict_req r;
	values *v;
	tracker *t;

	(void)state;
	/* Values learned on Saturday 1 January; the request is on another day
	 * of the same segment, so the segment's aggregate decides. */
	make_req(&r, 18, 'M', "Europa", 10, (1u << 10) - 1);
	v = dominant_values(&r);
	r.date.month = 3;
	r.date.day = 20;
	r.date.weekday = 0;
	agent_conf_default(&c);
	c.policy = POLICY_EPSILON_GREEDY;
	c.epsilon = 0.1;
	t = run_policy(&c, v, &r, 51, 1);
	assert_true(fabs(t->p0[6] - 0.91) < 1e-12);
	free(t);
	values_free(v);
}

/* --- state keys, segments, configuration, rewards ----------------------------------------- */

/* The key and segment rules are customer.c's (test_customer.c); the decision carries both. */
static void test_state_keys(void **state)
{
	(void)state;
	/* The decision carries both. */
	{
		agent_conf c;
		predict_req r;
		values *v = values_new();
		rng g;
		agent_decision dec;

		agent_conf_default(&c);
		make_req(&r, 18, 'M', "Europa", 3, 7u);
		rng_seed(&g, 1);
		assert_int_equal(agent_decide(&c, v, &g, "A", &r, NULL, &dec), 0);
		assert_string_equal(dec.segment, "Europa-M-lt30");
		assert_string_equal(dec.state_key, "Europa-M-lt30_January_0_Saturday");
		assert_int_equal(agent_decide(&c, v, &g, "A", &r, "Q1", &dec), 0);
		assert_string_equal(dec.segment, "Q1");
		assert_string_equal(dec.state_key, "Q1_January_0_Saturday");
		values_free(v);
	}
}

static int conf_from(const char *policy, double eps, const char *params, agent_conf *out, char *err,
                     size_t errlen)
{
	db_agent a;

	memset(&a, 0, sizeof(a));
	util_strlcpy(a.version, "2.0.0", sizeof(a.version));
	util_strlcpy(a.policy, policy, sizeof(a.policy));
	a.epsilon = eps;
	a.params = (char *)(uintptr_t)params;
	err[0] = '\0';
	return agent_conf_from_db(&a, out, err, errlen);
}

static void conf_bad(const char *policy, double eps, const char *params, const char *part)
{
	agent_conf c;
	char err[256];

	assert_int_equal(conf_from(policy, eps, params, &c, err, sizeof(err)), ERR_INVAL);
	if (strstr(err, part) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, part);
}

static void test_conf_from_db(void **state)
{
	agent_conf c;
	enum agent_policy p;
	char err[256];

	(void)state;
	agent_conf_default(&c);
	assert_string_equal(c.version, "0.0.0");
	assert_int_equal(c.policy, POLICY_EPSILON_GREEDY);
	assert_true(c.epsilon == 0.1 && c.r_accept == 5 && c.r_click == 1 && c.r_ignore == -2);

	assert_int_equal(conf_from("thompson", 0.2,
	                           "{\"reward_accept\": 10, \"reward_click\": 2, \"reward_ignore\": -1,"
	                           " \"ucb_c\": 0.5, \"thompson_draws\": 128,"
	                           " \"reward_wait_seconds\": 3600}",
	                           &c, err, sizeof(err)),
	                 0);
	assert_string_equal(c.version, "2.0.0");
	assert_int_equal(c.policy, POLICY_THOMPSON);
	assert_true(c.epsilon == 0.2);
	assert_true(c.r_accept == 10 && c.r_click == 2 && c.r_ignore == -1);
	assert_true(c.ucb_c == 0.5 && c.ts_draws == 128 && c.reward_wait == 3600);
	/* No params, empty params: defaults. */
	assert_int_equal(conf_from("ucb", 0, NULL, &c, err, sizeof(err)), 0);
	assert_int_equal(c.policy, POLICY_UCB);
	assert_true(c.r_accept == 5);
	assert_int_equal(conf_from("Epsilon-Greedy", 1, "", &c, err, sizeof(err)), 0);
	assert_int_equal(c.policy, POLICY_EPSILON_GREEDY);
	assert_int_equal(conf_from("weighted", 0.1, "{}", &c, err, sizeof(err)), 0);
	assert_int_equal(c.policy, POLICY_WEIGHTED);
	/* Shrinkage and forgetting (issue 13 point 4): defaults, and set. */
	assert_true(c.shrink == AGENT_SHRINK_DEFAULT && c.forgetting == AGENT_FORGETTING_DEFAULT);
	assert_int_equal(conf_from("thompson", 0, "{\"shrink\": 0, \"forgetting\": 1}", &c, err,
	                           sizeof(err)),
	                 0);
	assert_true(c.shrink == 0 && c.forgetting == 1);
	conf_bad("thompson", 0, "{\"forgetting\": 0.5}", "out of range");
	conf_bad("thompson", 0, "{\"forgetting\": 1.01}", "out of range");
	conf_bad("thompson", 0, "{\"shrink\": -1}", "out of range");

	/* Typos and nonsense are errors, not silently ignored. */
	conf_bad("epsilon-greedy", 0.1, "{\"reward_acept\": 5}", "params.reward_acept is unknown");
	conf_bad("epsilon-greedy", 0.1, "{\"epsilon\": 0.2}", "params.epsilon is unknown");
	conf_bad("epsilon-greedy", 0.1, "{\"ucb_c\": \"1\"}", "params.ucb_c must be a number");
	conf_bad("epsilon-greedy", 0.1, "{\"ucb_c\": -1}", "out of range");
	conf_bad("epsilon-greedy", 0.1, "{\"thompson_draws\": 0}", "out of range");
	conf_bad("epsilon-greedy", 0.1, "{\"thompson_draws\": 10001}", "out of range");
	conf_bad("epsilon-greedy", 0.1, "{\"reward_wait_seconds\": -5}", "out of range");
	conf_bad("epsilon-greedy", 0.1, "{\"reward_accept\": -2}",
	         "reward_accept must be greater than reward_ignore");
	conf_bad("epsilon-greedy", 0.1, "[1]", "params must be a JSON object");
	conf_bad("epsilon-greedy", 0.1, "{bad json", "params must be a JSON object");
	conf_bad("greedy", 0.1, NULL, "unknown policy \"greedy\" (policies: " AGENT_POLICY_NAMES ")");
	conf_bad("", 0.1, NULL, "unknown policy");
	conf_bad("ucb", 1.5, NULL, "epsilon must be within [0, 1]");
	conf_bad("ucb", -0.1, NULL, "epsilon");
	conf_bad("ucb", NAN, NULL, "epsilon");

	/* Names round-trip, the contextual policies' too; the aliases parse. */
	for (int i = 0; i < AGENT_POLICY_COUNT; i++) {
		assert_int_equal(agent_policy_parse(agent_policy_name((enum agent_policy)i), &p), 0);
		assert_int_equal(p, i);
	}
	assert_string_equal(agent_policy_name(POLICY_SQUARECB), "squarecb");
	assert_int_equal(agent_policy_parse("LinTS", &p), 0);
	assert_int_equal(p, POLICY_LINEAR_TS);
	{
		/* The constant list of the help texts is the table's, in its order. */
		char names[160] = "";
		size_t len = 0;

		for (int i = 0; i < AGENT_POLICY_COUNT; i++)
			len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
			                        i > 0 ? ", " : "",
			                        agent_policy_name((enum agent_policy)i));
		assert_string_equal(names, AGENT_POLICY_NAMES);
	}
	assert_int_equal(agent_policy_parse("epsilon_greedy", &p), 0);
	assert_int_equal(p, POLICY_EPSILON_GREEDY);
	assert_int_equal(agent_policy_parse("egreedy", &p), 0);
	assert_int_equal(agent_policy_parse("UCB", &p), 0);
	assert_int_equal(p, POLICY_UCB);
	assert_int_equal(agent_policy_parse("ucb1", &p), ERR_INVAL);
	assert_string_equal(agent_policy_name((enum agent_policy)99), "unknown");
}

static void test_rewards_scale(void **state)
{
	agent_conf c;
	const char *const offers[3] = {"OFFER_1", "OFFER_10", "OFFER_4"};
	double rw[3];
	int succ[3];

	(void)state;
	agent_conf_default(&c);
	/* Accepted, no offer named: every shown offer gets +5 (the brief's scale). */
	agent_rewards(&c, offers, 3, 1, NULL, NULL, rw, succ);
	for (int k = 0; k < 3; k++) {
		assert_true(rw[k] == 5);
		assert_int_equal(succ[k], 1);
	}
	/* Rejected: -2 each, clicked ones +1. */
	agent_rewards(&c, offers, 3, 0, "", "OFFER_10", rw, succ);
	assert_true(rw[0] == -2 && rw[1] == 1 && rw[2] == -2);
	assert_true(succ[0] == 0 && succ[1] == 0 && succ[2] == 0);
	/* The accepted offer named: it alone gets +5 and the success. */
	agent_rewards(&c, offers, 3, 0, "OFFER_4", "OFFER_1", rw, succ);
	assert_true(rw[0] == 1 && rw[1] == -2 && rw[2] == 5);
	assert_true(succ[0] == 0 && succ[1] == 0 && succ[2] == 1);
	/* Clicked lists match whole names: OFFER_1 is not OFFER_10. */
	agent_rewards(&c, offers, 3, 0, NULL, "OFFER_1,OFFER_44,X", rw, succ);
	assert_true(rw[0] == 1 && rw[1] == -2 && rw[2] == -2);
	agent_rewards(&c, offers, 3, 0, NULL, "OFFER_4", rw, succ);
	assert_true(rw[0] == -2 && rw[1] == -2 && rw[2] == 1);
	/* A named offer that was not shown: no one accepted (the writer refuses
	 * such a reward before it gets here; agent_rewards stays total). */
	agent_rewards(&c, offers, 3, 1, "OFFER_9", NULL, rw, succ);
	assert_true(rw[0] == -2 && rw[1] == -2 && rw[2] == -2);
	/* The configured scale is used. */
	c.r_accept = 10;
	c.r_click = 0.5;
	c.r_ignore = -1;
	agent_rewards(&c, offers, 2, 0, "OFFER_10", "OFFER_1", rw, succ);
	assert_true(rw[0] == 0.5 && rw[1] == 10);
	/* Fewer than three shown. */
	rw[2] = 123;
	agent_rewards(&c, offers, 1, 1, NULL, NULL, rw, succ);
	assert_true(rw[0] == 10 && rw[2] == 123);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_weighted_frequencies),
	    cmocka_unit_test(test_weighted_few_allowed),
	    cmocka_unit_test(test_weighted_precedence),
	    cmocka_unit_test(test_weighted_unnumbered_offers),
	    cmocka_unit_test(test_random_policy),
	    cmocka_unit_test(test_epsilon_greedy_exact_propensities),
	    cmocka_unit_test(test_dominant_offer),
	    cmocka_unit_test(test_thompson_propensities),
	    cmocka_unit_test(test_ucb_tries_unseen_first),
	    cmocka_unit_test(test_learning_policies_use_fallback),
	    cmocka_unit_test(test_state_keys),
	    cmocka_unit_test(test_conf_from_db),
	    cmocka_unit_test(test_rewards_scale),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
