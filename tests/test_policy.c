/*
 * test_policy.c — the contextual policies behind policy.h, each of them
 * (linear-ts, squarecb) through the same cases:
 *   - parameters: defaults, the agent's keys accepted, unknown keys and
 *     out-of-range values refused with the key's name;
 *   - decide: distinct allowed offers, as many as allowed up to three;
 *   - learn: an offer that is always accepted by one kind of customer and
 *     never by another comes first for the first and not for the second;
 *   - merge: two processes that learn disjoint halves and exchange deltas
 *     hold the statistics of one process that learned everything (exactly,
 *     linear model; logistic: both processes hold the same statistics);
 *   - save and load round trip; malformed statistics change nothing;
 *   - forgetting: statistics decay by the factor per learned episode;
 *   - propensity exactness: one request decided 40,000 times, each slot's
 *     logged probability against the empirical frequency of that choice
 *     given the earlier slots; the same for every tabular policy
 *     (weighted, epsilon-greedy, thompson, ucb, random) through agent_decide.
 * Also the cascade credit and the ridge model against a direct solve.
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
#include "feat.h"
#include "linalg.h"
#include "policy.h"
#include "request.h"
#include "ridge.h"
#include "util.h"

#define NOFFERS 6

/* A request of a customer (states JSON) on date for OFFER_1..OFFER_n, allowed by mask. */
static void make_req(predict_req *r, const char *states, const char *date, size_t n, unsigned mask)
{
	json_error_t jerr;
	json_t *st;
	req_error e;

	memset(r, 0, sizeof(*r));
	util_strlcpy(r->customer_id, "c1", sizeof(r->customer_id));
	util_strlcpy(r->timestamp, date, sizeof(r->timestamp));
	assert_int_equal(date_parse(date, &r->date), 0);
	r->states_text = xstrdup(states);
	st = json_loads(states, 0, &jerr);
	assert_non_null(st);
	assert_int_equal(request_customer_from_states(st, &r->customer, &e), 0);
	json_decref(st);
	for (size_t i = 0; i < n; i++) {
		snprintf(r->offers[i], sizeof(r->offers[i]), "OFFER_%zu", i + 1);
		r->allowed[i] = (mask >> i) & 1u;
		r->n_allowed += r->allowed[i];
	}
	r->n_offers = n;
}

static const policy_type *type_of(void **state)
{
	return *state;
}

static policy *new_policy(const policy_type *t, const char *params)
{
	policy *p = NULL;
	char err[256] = "";

	if (policy_new(t, params, &p, err, sizeof(err)) != 0)
		fail_msg("policy_new(%s, %s): %s", t->name, params ? params : "NULL", err);
	return p;
}

static void test_params(void **state)
{
	const policy_type *t = type_of(state);
	policy *p = NULL;
	char err[256];

	assert_ptr_equal(policy_find(t->name), t);
	p = new_policy(t, NULL);
	assert_true(policy_params(p)->bits == 6);
	assert_true(policy_params(p)->r_accept == 5);
	policy_free(p);
	/* The agent version's own keys pass; typos and bad values do not. */
	p = new_policy(t, "{\"reward_accept\": 3, \"ucb_c\": 0.2, \"bits\": 4, \"forgetting\": 1}");
	assert_true(policy_params(p)->r_accept == 3);
	policy_free(p);
	assert_int_equal(policy_new(t, "{\"bitz\": 4}", &p, err, sizeof(err)), ERR_INVAL);
	assert_null(p);
	assert_non_null(strstr(err, "bitz"));
	assert_int_equal(policy_new(t, "{\"bits\": 9}", &p, err, sizeof(err)), ERR_INVAL);
	assert_non_null(strstr(err, "bits"));
	assert_int_equal(policy_new(t, "{\"bits\": 5.5}", &p, err, sizeof(err)), ERR_INVAL);
	assert_int_equal(policy_new(t, "{\"forgetting\": \"1\"}", &p, err, sizeof(err)), ERR_INVAL);
	assert_non_null(strstr(err, "forgetting"));
	assert_int_equal(policy_new(t, "[1]", &p, err, sizeof(err)), ERR_INVAL);
	assert_int_equal(policy_new(t, "{\"reward_accept\": -5}", &p, err, sizeof(err)), ERR_INVAL);
	/* Each policy's own keys belong to it only. */
	assert_int_equal(policy_new(t,
	                            t == &policy_lints_type ? "{\"gamma_scale\": 3}" : "{\"ts_v\": 1}",
	                            &p, err, sizeof(err)),
	                 ERR_INVAL);
}

static void test_decide(void **state)
{
	const policy_type *t = type_of(state);
	policy *p = new_policy(t, NULL);
	predict_req req;
	feat_ctx ctx;
	rng r;

	rng_seed(&r, 7);
	for (unsigned mask = 1; mask < (1u << NOFFERS); mask += 5) {
		policy_slate s;
		size_t allowed = 0;

		make_req(&req, "{\"age\": 30, \"gender\": \"F\"}", "2023-03-04", NOFFERS, mask);
		assert_int_equal(feat_context(&req, NULL, &ctx), 0);
		for (size_t i = 0; i < NOFFERS; i++)
			allowed += (mask >> i) & 1u;
		assert_int_equal(policy_decide(p, &ctx, &req, &r, &s), 0);
		assert_int_equal(s.n, allowed < 3 ? allowed : 3);
		for (size_t k = 0; k < s.n; k++) {
			assert_true(req.allowed[s.idx[k]]);
			assert_true(s.propensity[k] > 0 && s.propensity[k] <= 1.0);
			for (size_t j = 0; j < k; j++)
				assert_true(s.idx[j] != s.idx[k]);
		}
		request_predict_free(&req);
	}
	/* Nothing allowed: refused. */
	make_req(&req, "{}", "2023-03-04", NOFFERS, 0);
	assert_int_equal(feat_context(&req, NULL, &ctx), 0);
	{
		policy_slate s;

		assert_int_equal(policy_decide(p, &ctx, &req, &r, &s), ERR_INVAL);
	}
	request_predict_free(&req);
	policy_free(p);
}

/*
 * Customers: women accept OFFER_2 and nothing else, men OFFER_5. A random
 * slate each time (as logged data), rewards with cascade credit.
 */
static void teach(policy *p, rng *r, int episodes, int parity)
{
	for (int e = 0; e < episodes; e++) {
		int female = (e % 2) == parity;
		predict_req req;
		feat_ctx ctx;
		policy_slate s;
		policy_feedback fb;
		size_t good = female ? 1 : 4;
		int acc = -1;

		make_req(&req,
		         female ? "{\"age\": 30, \"gender\": \"F\"}"
		                : "{\"age\": 60, \"gender\": \"M\"}",
		         "2023-03-04", NOFFERS, (1u << NOFFERS) - 1);
		assert_int_equal(feat_context(&req, NULL, &ctx), 0);
		memset(&s, 0, sizeof(s));
		while (s.n < 3) {
			size_t j = (size_t)rng_below(r, NOFFERS);
			int dup = 0;

			for (size_t k = 0; k < s.n; k++)
				dup |= s.idx[k] == j;
			if (!dup) {
				s.idx[s.n] = j;
				s.propensity[s.n] = 1.0 / (double)(NOFFERS - s.n);
				s.n++;
			}
		}
		memset(&fb, 0, sizeof(fb));
		fb.n = 3;
		for (size_t k = 0; k < 3; k++) {
			if (acc < 0 && s.idx[k] == good)
				acc = (int)k;
			fb.reward[k] = acc == (int)k ? 5 : -2;
		}
		policy_cascade(3, acc, fb.credited);
		assert_int_equal(policy_learn(p, &ctx, &req, &s, &fb), 0);
		request_predict_free(&req);
	}
}

static double first_share(policy *p, const char *states, size_t offer, rng *r)
{
	predict_req req;
	feat_ctx ctx;
	int hits = 0;

	make_req(&req, states, "2023-03-04", NOFFERS, (1u << NOFFERS) - 1);
	assert_int_equal(feat_context(&req, NULL, &ctx), 0);
	for (int i = 0; i < 1000; i++) {
		policy_slate s;

		assert_int_equal(policy_decide(p, &ctx, &req, r, &s), 0);
		hits += s.idx[0] == offer;
	}
	request_predict_free(&req);
	return hits / 1000.0;
}

static void test_learn(void **state)
{
	const policy_type *t = type_of(state);
	policy *p = new_policy(t, NULL);
	rng r;

	rng_seed(&r, 11);
	teach(p, &r, 2000, 0);
	assert_true(first_share(p, "{\"age\": 30, \"gender\": \"F\"}", 1, &r) > 0.9);
	assert_true(first_share(p, "{\"age\": 60, \"gender\": \"M\"}", 4, &r) > 0.9);
	assert_true(first_share(p, "{\"age\": 60, \"gender\": \"M\"}", 1, &r) < 0.1);
	/* The decisions' fast path (context built once, offer and slot buckets added) is the full vector's. */
	{
		predict_req req;
		feat_ctx ctx;
		policy_view view;

		make_req(&req, "{\"age\": 30, \"gender\": \"F\", \"last_offer\": \"OFFER_2\"}",
		         "2023-03-04", NOFFERS, 0x3f);
		assert_int_equal(feat_context(&req, NULL, &ctx), 0);
		policy_view_init(p, &ctx, &view);
		for (size_t i = 0; i < NOFFERS; i++) {
			for (size_t k = 0; k < OFFERS_SHOWN; k++) {
				double m1;
				double v1;
				double m2;
				double v2;
				double m3;

				policy_predict(p, &ctx, &req, i, k, &m1, &v1);
				policy_view_predict(p, &view, &req, i, k, &m2, &v2);
				policy_view_predict(p, &view, &req, i, k, &m3, NULL);
				assert_true(fabs(m1 - m2) < 1e-9 && fabs(v1 - v2) < 1e-9 && m2 == m3);
				assert_true(v1 > 0);
			}
		}
		request_predict_free(&req);
	}
	policy_free(p);
}

/* The posterior means of every offer for one request, slot 0. */
static void means(policy *p, const char *states, double *m)
{
	predict_req req;
	feat_ctx ctx;

	make_req(&req, states, "2023-03-04", NOFFERS, (1u << NOFFERS) - 1);
	assert_int_equal(feat_context(&req, NULL, &ctx), 0);
	for (size_t i = 0; i < NOFFERS; i++) {
		double v;

		policy_predict(p, &ctx, &req, i, 0, &m[i], &v);
	}
	request_predict_free(&req);
}

static void exchange(policy *a, policy *b)
{
	buf da;
	buf db;
	char err[256];

	buf_init(&da, 1 << 24);
	buf_init(&db, 1 << 24);
	assert_int_equal(policy_save(a, 1, &da), 0);
	assert_int_equal(policy_save(b, 1, &db), 0);
	assert_int_equal(policy_merge(a, db.data, db.len, err, sizeof(err)), 0);
	assert_int_equal(policy_merge(b, da.data, da.len, err, sizeof(err)), 0);
	buf_free(&da);
	buf_free(&db);
}

static void test_merge(void **state)
{
	const policy_type *t = type_of(state);
	const char *lin = "{\"forgetting\": 1, \"logistic\": 0}";
	const char *logit = "{\"forgetting\": 1}";
	policy *a = new_policy(t, lin);
	policy *b = new_policy(t, lin);
	policy *c = new_policy(t, lin);
	double ma[NOFFERS];
	double mb[NOFFERS];
	double mc[NOFFERS];
	rng r1;
	rng r2;

	/* Process a learns the even episodes, b the odd ones, c all of them (same slates). */
	rng_seed(&r1, 3);
	teach(a, &r1, 300, 0);
	teach(b, &r1, 300, 1);
	rng_seed(&r2, 3);
	teach(c, &r2, 300, 0);
	teach(c, &r2, 300, 1);
	exchange(a, b);
	means(a, "{\"age\": 30, \"gender\": \"F\"}", ma);
	means(b, "{\"age\": 30, \"gender\": \"F\"}", mb);
	means(c, "{\"age\": 30, \"gender\": \"F\"}", mc);
	for (size_t i = 0; i < NOFFERS; i++) {
		assert_true(fabs(ma[i] - mc[i]) < 1e-9);
		assert_true(fabs(mb[i] - mc[i]) < 1e-9);
	}
	/* A second exchange with nothing new changes nothing: deltas were reset. */
	exchange(a, b);
	means(a, "{\"age\": 30, \"gender\": \"F\"}", ma);
	for (size_t i = 0; i < NOFFERS; i++)
		assert_true(fabs(ma[i] - mc[i]) < 1e-9);
	policy_free(a);
	policy_free(b);
	policy_free(c);
	/* Logistic: the two processes agree after the exchange. */
	a = new_policy(t, logit);
	b = new_policy(t, logit);
	rng_seed(&r1, 5);
	teach(a, &r1, 300, 0);
	teach(b, &r1, 300, 1);
	exchange(a, b);
	means(a, "{\"age\": 60, \"gender\": \"M\"}", ma);
	means(b, "{\"age\": 60, \"gender\": \"M\"}", mb);
	for (size_t i = 0; i < NOFFERS; i++)
		assert_true(fabs(ma[i] - mb[i]) < 1e-9);
	/* And the merged model knows what each learned: OFFER_5 is the men's. */
	for (size_t i = 0; i < NOFFERS; i++) {
		if (i != 4)
			assert_true(ma[4] > ma[i]);
	}
	policy_free(a);
	policy_free(b);
}

static void test_save_load(void **state)
{
	const policy_type *t = type_of(state);
	/* Forgetting 1: with forgetting, a's cache may lag the decay by up to 10 % (ridge.h). */
	policy *a = new_policy(t, "{\"forgetting\": 1}");
	policy *b = new_policy(t, "{\"forgetting\": 1}");
	policy *c = new_policy(t, "{\"bits\": 5}");
	double ma[NOFFERS];
	double mb[NOFFERS];
	buf out;
	buf again;
	char err[256];
	rng r;

	rng_seed(&r, 9);
	teach(a, &r, 400, 0);
	buf_init(&out, 1 << 24);
	buf_init(&again, 1 << 24);
	assert_int_equal(policy_save(a, 0, &out), 0);
	assert_int_equal(policy_load(b, out.data, out.len, err, sizeof(err)), 0);
	means(a, "{\"age\": 30, \"gender\": \"F\"}", ma);
	means(b, "{\"age\": 30, \"gender\": \"F\"}", mb);
	for (size_t i = 0; i < NOFFERS; i++)
		assert_true(fabs(ma[i] - mb[i]) < 1e-9);
	/* Saved again: the same text (lossless doubles). */
	assert_int_equal(policy_save(b, 0, &again), 0);
	assert_string_equal(out.data, again.data);
	/* Other bits, malformed statistics: refused, nothing changed. */
	assert_int_equal(policy_merge(c, out.data, out.len, err, sizeof(err)), ERR_INVAL);
	assert_non_null(strstr(err, "bits"));
	assert_int_equal(policy_merge(b, "{\"bits\": 6, \"offers\": [{\"offer\": \"X\", \"n\": 1}]}", 49,
	                              err, sizeof(err)),
	                 ERR_INVAL);
	assert_int_equal(policy_merge(b, "[]", 2, err, sizeof(err)), ERR_INVAL);
	means(b, "{\"age\": 30, \"gender\": \"F\"}", mb);
	for (size_t i = 0; i < NOFFERS; i++)
		assert_true(fabs(ma[i] - mb[i]) < 1e-9);
	buf_free(&out);
	buf_free(&again);
	policy_free(a);
	policy_free(b);
	policy_free(c);
}

/*
 * One request decided DRAWS times over learned statistics; for each slot,
 * the logged probability of the offer chosen given the earlier slots
 * against the frequency of that choice among draws with the same prefix.
 */
#define DRAWS 40000

/* Counts per prefix: slot 0 by offer; slot 1 by (o0, o1); slot 2 by (o0, o1, o2). */
static unsigned c1[NOFFERS];
static unsigned c2[NOFFERS][NOFFERS];
static unsigned c3[NOFFERS][NOFFERS][NOFFERS];
static double p1[NOFFERS];
static double p2[NOFFERS][NOFFERS];
static double p3[NOFFERS][NOFFERS][NOFFERS];

static void counts_reset(void)
{
	memset(c1, 0, sizeof(c1));
	memset(c2, 0, sizeof(c2));
	memset(c3, 0, sizeof(c3));
}

static void counts_add(const size_t *idx, const double *prop)
{
	c1[idx[0]]++;
	c2[idx[0]][idx[1]]++;
	c3[idx[0]][idx[1]][idx[2]]++;
	/* The same prefix must always log the same probability. */
	if (c1[idx[0]] > 1)
		assert_true(fabs(p1[idx[0]] - prop[0]) < 1e-12);
	p1[idx[0]] = prop[0];
	p2[idx[0]][idx[1]] = prop[1];
	p3[idx[0]][idx[1]][idx[2]] = prop[2];
}

/* Each slot's logged probability against its empirical frequency given the earlier slots. */
static int counts_check(const char *name)
{
	int checked = 0;

	for (size_t a = 0; a < NOFFERS; a++) {
		double f = (double)c1[a] / DRAWS;
		double tol = 4 * sqrt(p1[a] * (1 - p1[a]) / DRAWS) + 0.005;

		if (c1[a] > 0) {
			if (fabs(f - p1[a]) > tol)
				fail_msg("%s slot 1 OFFER_%zu: logged %.4f, drawn %.4f", name, a + 1,
				         p1[a], f);
			checked++;
		}
		for (size_t b = 0; b < NOFFERS; b++) {
			if (c2[a][b] == 0 || c1[a] < 2000)
				continue;
			f = (double)c2[a][b] / c1[a];
			tol = 4 * sqrt(p2[a][b] * (1 - p2[a][b]) / c1[a]) + 0.005;
			if (fabs(f - p2[a][b]) > tol)
				fail_msg("%s slot 2 after OFFER_%zu: OFFER_%zu logged %.4f, drawn %.4f",
				         name, a + 1, b + 1, p2[a][b], f);
			checked++;
			for (size_t c = 0; c < NOFFERS; c++) {
				if (c3[a][b][c] == 0 || c2[a][b] < 2000)
					continue;
				f = (double)c3[a][b][c] / c2[a][b];
				tol = 4 * sqrt(p3[a][b][c] * (1 - p3[a][b][c]) / c2[a][b]) + 0.005;
				if (fabs(f - p3[a][b][c]) > tol)
					fail_msg("%s slot 3: logged %.4f, drawn %.4f", name, p3[a][b][c],
					         f);
				checked++;
			}
		}
	}
	return checked;
}

static void test_propensity_exact(void **state)
{
	const policy_type *t = type_of(state);
	policy *p = new_policy(t, t == &policy_squarecb_type ? "{\"gamma_scale\": 2}" : NULL);
	predict_req req;
	feat_ctx ctx;
	rng r;

	counts_reset();
	rng_seed(&r, 21);
	teach(p, &r, 60, 0);
	make_req(&req, "{\"age\": 30, \"gender\": \"F\"}", "2023-03-04", NOFFERS, 0x3f);
	assert_int_equal(feat_context(&req, NULL, &ctx), 0);
	for (int i = 0; i < DRAWS; i++) {
		policy_slate s;

		assert_int_equal(policy_decide(p, &ctx, &req, &r, &s), 0);
		assert_int_equal(s.n, 3);
		counts_add(s.idx, s.propensity);
	}
	/* Enough prefixes were common to check all three slots. */
	assert_true(counts_check(t->name) >= 10);
	request_predict_free(&req);
	policy_free(p);
}

/*
 * The same for every tabular policy (policy_tab_at(i)), through agent_decide
 * as /predict calls it, over statistics where the offers differ: offer j
 * has 4 j observations with success rate j / 8 in the customer's state and
 * its segment, so Thompson's posteriors overlap and every slot is uncertain.
 */
static void test_tab_propensity_exact(void **state)
{
	size_t which = (size_t)(uintptr_t)*state;
	const policy_tab_type *t = policy_tab_at(which);
	values *v = values_new();
	agent_conf c;
	agent_decision d;
	predict_req req;
	rng r;
	int checked;

	assert_non_null(t);
	agent_conf_default(&c);
	c.policy = (enum agent_policy)which;
	c.epsilon = 0.3;
	c.forgetting = 1.0; /* the statistics stay as they are between draws */
	make_req(&req, "{\"age\": 30, \"gender\": \"F\", \"region\": \"Asia\"}", "2023-03-04", NOFFERS,
	         0x3f);
	rng_seed(&r, 22);
	assert_int_equal(agent_decide(&c, v, &r, "A", &req, NULL, &d), 0);
	for (size_t j = 0; j < NOFFERS; j++) {
		db_policy_row row;
		double n = 4.0 * (double)(j + 1);
		double succ = n * (double)(j + 1) / 8.0;

		memset(&row, 0, sizeof(row));
		row.company = "A";
		row.state_key = d.state_key;
		row.offer = req.offers[j];
		row.n = n;
		row.reward_sum = succ * c.r_accept + (n - succ) * c.r_ignore;
		row.alpha = 1 + succ;
		row.beta = 1 + n - succ;
		row.rev = (int64_t)j + 1;
		values_set(v, &row);
	}
	counts_reset();
	for (int i = 0; i < DRAWS; i++) {
		assert_int_equal(agent_decide(&c, v, &r, "A", &req, NULL, &d), 0);
		assert_int_equal(d.n, 3);
		counts_add(d.idx, d.propensity);
	}
	checked = counts_check(t->name);
	print_message("%-15s %d slot probabilities checked\n", t->name, checked);
	/* Greedy rules put their mass on few prefixes; the random ones check many. */
	assert_true(checked >= 3);
	request_predict_free(&req);
	values_free(v);
}

/*
 * Thompson's win probabilities by quadrature against the real thing: the
 * share of 400,000 joint Beta draws each offer wins, for posteriors from
 * flat to peaked (Beta(1, 1), Beta(1, 15), Beta(4, 8), Beta(30, 90),
 * Beta(500, 1500), Beta(26, 74)), also with offers taken.
 */
static void test_thompson_quadrature(void **unused)
{
	static const double ab[][2] = {{1, 1}, {1, 15}, {4, 8}, {30, 90}, {500, 1500}, {26, 74}};
	enum { N = 6, TS_DRAWS = 400000 };
	policy_tab *t = xcalloc(1, sizeof(*t));
	agent_conf c;
	rng r;

	(void)unused;
	agent_conf_default(&c);
	t->type = &policy_thompson_type;
	t->conf = &c;
	t->n = N;
	for (size_t i = 0; i < N; i++) {
		t->o[i].idx = i;
		t->o[i].st.succ = ab[i][0] - 1;
		t->o[i].st.fail = ab[i][1] - 1;
	}
	t->type->prepare(t);
	rng_seed(&r, 5);
	for (int round = 0; round < 2; round++) {
		unsigned char taken[N] = {0};
		double probs[N];
		unsigned wins[N] = {0};
		double sum = 0;

		if (round == 1)
			taken[0] = taken[3] = 1; /* the flat one and one in the middle */
		t->type->slot_probs(t, taken, probs);
		for (int k = 0; k < TS_DRAWS; k++) {
			size_t best = SIZE_MAX;
			double bx = -1;

			for (size_t i = 0; i < N; i++) {
				double x;

				if (taken[i])
					continue;
				x = rng_beta(&r, ab[i][0], ab[i][1]);
				if (x > bx) {
					bx = x;
					best = i;
				}
			}
			wins[best]++;
		}
		for (size_t i = 0; i < N; i++) {
			double f = (double)wins[i] / TS_DRAWS;
			double tol = 4 * sqrt(probs[i] * (1 - probs[i]) / TS_DRAWS) + 1e-3;

			sum += probs[i];
			print_message("round %d offer %zu Beta(%g, %g): quadrature %.5f, draws %.5f\n",
			              round, i, ab[i][0], ab[i][1], probs[i], f);
			if (taken[i])
				assert_true(probs[i] == 0);
			if (fabs(f - probs[i]) > tol)
				fail_msg("offer %zu: quadrature %.5f, draws %.5f", i, probs[i], f);
		}
		assert_true(fabs(sum - 1) < 1e-12);
	}
	policy_tab_clear(t);
	free(t);
}

static void test_forgetting(void **state)
{
	const policy_type *t = type_of(state);
	policy *p = new_policy(t, "{\"forgetting\": 0.99}");
	predict_req req;
	feat_ctx ctx;
	rng r;
	buf out;
	json_error_t jerr;
	json_t *root;
	double n0;
	double n1;

	rng_seed(&r, 4);
	teach(p, &r, 50, 0);
	buf_init(&out, 1 << 24);
	assert_int_equal(policy_save(p, 0, &out), 0);
	root = json_loads(out.data, 0, &jerr);
	n0 = json_number_value(json_object_get(json_array_get(json_object_get(root, "offers"), 0), "n"));
	json_decref(root);
	/* 100 episodes that show nothing: every statistic decays by 0.99^100. */
	make_req(&req, "{}", "2023-03-04", NOFFERS, 0x3f);
	assert_int_equal(feat_context(&req, NULL, &ctx), 0);
	for (int i = 0; i < 100; i++) {
		policy_slate s;
		policy_feedback fb;

		memset(&s, 0, sizeof(s));
		memset(&fb, 0, sizeof(fb));
		assert_int_equal(policy_learn(p, &ctx, &req, &s, &fb), 0);
	}
	buf_reset(&out);
	assert_int_equal(policy_save(p, 0, &out), 0);
	root = json_loads(out.data, 0, &jerr);
	n1 = json_number_value(json_object_get(json_array_get(json_object_get(root, "offers"), 0), "n"));
	json_decref(root);
	assert_true(n0 > 1);
	assert_true(fabs(n1 - n0 * pow(0.99, 100)) < 1e-9 * n0);
	request_predict_free(&req);
	buf_free(&out);
	policy_free(p);
}

static void test_cascade(void **unused)
{
	unsigned char c[3];

	(void)unused;
	policy_cascade(3, 1, c);
	assert_int_equal(c[0], 1);
	assert_int_equal(c[1], 1);
	assert_int_equal(c[2], 0);
	policy_cascade(3, -1, c);
	assert_int_equal(c[0] + c[1] + c[2], 3);
	policy_cascade(3, 0, c);
	assert_int_equal(c[0] + c[1] + c[2], 1);
}

/* linalg: a known SPD matrix, its factor, solve and inverse. */
static void test_linalg(void **unused)
{
	double a[9] = {4, 2, 0.4, 2, 5, 1, 0.4, 1, 3};
	double l[9];
	double inv[9];
	double x[3];
	double b[3] = {1, 2, 3};
	double bad[4] = {1, 2, 2, 1};
	double lb[4];

	(void)unused;
	assert_int_equal(linalg_cholesky(a, 3, l), 0);
	linalg_chol_solve(l, 3, b, x);
	for (size_t i = 0; i < 3; i++) {
		double s = 0;

		for (size_t j = 0; j < 3; j++)
			s += a[i * 3 + j] * x[j];
		assert_true(fabs(s - b[i]) < 1e-12);
	}
	linalg_chol_inverse(l, 3, inv);
	for (size_t i = 0; i < 3; i++) {
		for (size_t j = 0; j < 3; j++) {
			double s = 0;

			for (size_t k = 0; k < 3; k++)
				s += a[i * 3 + k] * inv[k * 3 + j];
			assert_true(fabs(s - (i == j ? 1.0 : 0.0)) < 1e-12);
		}
	}
	assert_int_equal(linalg_cholesky(bad, 2, lb), ERR_RANGE);
}

/* ridge: the cached Sherman-Morrison means equal a direct solve of the statistics. */
static void test_ridge_direct(void **unused)
{
	ridge *r = ridge_new(3, 1.0, 1.0);
	double a[64];
	double l[64];
	double b[8] = {0};
	double w[8];
	rng g;
	int i;

	(void)unused;
	assert_non_null(r);
	i = ridge_offer(r, "O", 1);
	assert_int_equal(i, 0);
	memset(a, 0, sizeof(a));
	for (size_t k = 0; k < 8; k++)
		a[k * 8 + k] = 1.0;
	rng_seed(&g, 1);
	for (int e = 0; e < 200; e++) {
		feat_vec x;
		double y = rng_uniform(&g);
		double m;
		double v;

		x.n = 3;
		x.idx[0] = 0;
		x.idx[1] = 1 + (uint32_t)rng_below(&g, 3);
		x.idx[2] = 4 + (uint32_t)rng_below(&g, 4);
		for (size_t p = 0; p < 3; p++)
			x.val[p] = 0.5 + rng_uniform(&g);
		ridge_predict(r, i, &x, &m,
		              &v); /* keeps the cache warm: updates go by Sherman-Morrison */
		ridge_add(r, i, &x, y, 1.0);
		for (size_t p = 0; p < 3; p++) {
			b[x.idx[p]] += y * x.val[p];
			for (size_t q = 0; q < 3; q++)
				a[x.idx[p] * 8 + x.idx[q]] += x.val[p] * x.val[q];
		}
		ridge_tick(r);
	}
	assert_int_equal(linalg_cholesky(a, 8, l), 0);
	linalg_chol_solve(l, 8, b, w);
	for (uint32_t k = 0; k < 8; k++) {
		feat_vec x;
		double m;
		double v;

		x.n = 1;
		x.idx[0] = k;
		x.val[0] = 1.0;
		ridge_predict(r, i, &x, &m, &v);
		assert_true(fabs(m - w[k]) < 1e-9);
	}
	assert_true(fabs(ridge_episodes(r) - 200) < 1e-9);
	ridge_free(r);
	assert_null(ridge_new(9, 1, 1));
	assert_null(ridge_new(6, 0, 1));
	assert_null(ridge_new(6, 1, 1.5));
}

#define EACH_TAB(fn)                                                                 \
	cmocka_unit_test_prestate(fn, (void *)(uintptr_t)POLICY_WEIGHTED),           \
	    cmocka_unit_test_prestate(fn, (void *)(uintptr_t)POLICY_EPSILON_GREEDY), \
	    cmocka_unit_test_prestate(fn, (void *)(uintptr_t)POLICY_THOMPSON),       \
	    cmocka_unit_test_prestate(fn, (void *)(uintptr_t)POLICY_UCB),            \
	    cmocka_unit_test_prestate(fn, (void *)(uintptr_t)POLICY_RANDOM)

#define EACH(fn)                                                              \
	cmocka_unit_test_prestate(fn, (void *)(uintptr_t)&policy_lints_type), \
	    cmocka_unit_test_prestate(fn, (void *)(uintptr_t)&policy_squarecb_type)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    EACH(test_params),
	    EACH(test_decide),
	    EACH(test_learn),
	    EACH(test_merge),
	    EACH(test_save_load),
	    EACH(test_propensity_exact),
	    EACH(test_forgetting),
	    EACH_TAB(test_tab_propensity_exact),
	    cmocka_unit_test(test_thompson_quadrature),
	    cmocka_unit_test(test_cascade),
	    cmocka_unit_test(test_linalg),
	    cmocka_unit_test(test_ridge_direct),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
