/*
 * policy_bench.c — the cost of one decision, in microseconds, for the
 * contextual policies (policy.h) beside the tabular epsilon-greedy and
 * thompson of agent.c, on the same request: 10 allowed offers, a customer
 * with age, gender, region, channel, client-since and last_offer.
 *
 *   make bench-policy            (mk/policy-bench.mk)
 *
 * Rows: features (feat_context: parse the states JSON, hash), decide with
 * warm caches (features of each offer and slot, prediction, exploration,
 * propensities), learn (three credited slots, rank-one updates), and the
 * full refresh of one offer's cache (Cholesky and inverse) per bits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "feat.h"
#include "policy.h"
#include "ridge.h"
#include "util.h"

#define STATES "{\"age\": 37, \"gender\": \"F\", \"region\": \"Asia\", \"channel\": \"app\"," \
               " \"client-since\": \"2019-04-02\", \"last_offer\": \"OFFER_3\"}"

static void make_req(predict_req *r)
{
	json_error_t jerr;
	json_t *st = json_loads(STATES, 0, &jerr);
	req_error e;

	memset(r, 0, sizeof(*r));
	date_parse("2023-06-17", &r->date);
	r->states_text = xstrdup(STATES);
	request_customer_from_states(st, &r->customer, &e);
	json_decref(st);
	for (size_t i = 0; i < 10; i++) {
		snprintf(r->offers[i], sizeof(r->offers[i]), "OFFER_%zu", i + 1);
		r->allowed[i] = 1;
	}
	r->n_offers = 10;
	r->n_allowed = 10;
}

/* Teaches p a few thousand random slates so every offer has statistics. */
static void warm(policy *p, const predict_req *req, const feat_ctx *ctx, rng *r)
{
	for (int e = 0; e < 3000; e++) {
		policy_slate s;
		policy_feedback fb;

		policy_decide(p, ctx, req, r, &s);
		memset(&fb, 0, sizeof(fb));
		fb.n = s.n;
		for (size_t k = 0; k < s.n; k++)
			fb.reward[k] = rng_uniform(r) < 0.2 ? 5 : -2;
		policy_cascade(s.n, -1, fb.credited);
		policy_learn(p, ctx, req, &s, &fb);
	}
}

static void bench_policy(const char *name, const char *params, int n)
{
	policy *p = NULL;
	predict_req req;
	feat_ctx ctx;
	policy_slate s;
	policy_feedback fb;
	char err[256];
	rng r;
	double t0;
	double td;
	double tl;

	if (policy_new(policy_find(name), params, &p, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", name, err);
		exit(1);
	}
	rng_seed(&r, 1);
	make_req(&req);
	feat_context(&req, NULL, &ctx);
	warm(p, &req, &ctx, &r);
	policy_decide(p, &ctx, &req, &r, &s);  /* caches refreshed */
	t0 = util_monotonic();
	for (int i = 0; i < n; i++)
		policy_decide(p, &ctx, &req, &r, &s);
	td = (util_monotonic() - t0) / n;
	memset(&fb, 0, sizeof(fb));
	fb.n = s.n;
	for (size_t k = 0; k < s.n; k++)
		fb.reward[k] = -2;
	policy_cascade(s.n, -1, fb.credited);
	t0 = util_monotonic();
	for (int i = 0; i < n / 10; i++)
		policy_learn(p, &ctx, &req, &s, &fb);
	tl = (util_monotonic() - t0) / (n / 10);
	printf("%-10s %-28s decide %7.2f us   learn %7.2f us\n", name, params ? params : "(defaults)",
	       1e6 * td, 1e6 * tl);
	request_predict_free(&req);
	policy_free(p);
}

static void bench_tabular(enum agent_policy pol, int n)
{
	agent_conf c;
	values *v = values_new();
	predict_req req;
	agent_decision d;
	rng r;
	double t0;
	char key[AGENT_STATE_MAX];
	char seg[AGENT_SEGMENT_MAX];

	agent_conf_default(&c);
	c.policy = pol;
	rng_seed(&r, 1);
	make_req(&req);
	customer_segment(&req.customer, NULL, seg, sizeof(seg));
	customer_state_key(seg, &req.date, key, sizeof(key));
	for (int i = 0; i < 10; i++) {
		db_policy_row row;

		memset(&row, 0, sizeof(row));
		row.company = "A";
		row.state_key = key;
		row.offer = req.offers[i];
		row.n = 10 + i;
		row.reward_sum = i;
		row.alpha = 2 + i;
		row.beta = 10;
		row.rev = i + 1;
		values_set(v, &row);
	}
	t0 = util_monotonic();
	for (int i = 0; i < n; i++)
		agent_decide(&c, v, &r, "A", &req, NULL, &d);
	printf("%-10s %-28s decide %7.2f us\n", agent_policy_name(pol), "(agent.c, defaults)",
	       1e6 * (util_monotonic() - t0) / n);
	request_predict_free(&req);
	values_free(v);
}

int main(void)
{
	predict_req req;
	feat_ctx ctx;
	double t0;
	int n = 20000;

	make_req(&req);
	t0 = util_monotonic();
	for (int i = 0; i < n; i++)
		feat_context(&req, NULL, &ctx);
	printf("%-10s %-28s        %7.2f us (%zu features)\n", "features", "feat_context",
	       1e6 * (util_monotonic() - t0) / n, ctx.n);
	{
		/* From the states request.c has already parsed, as /predict would call it. */
		json_error_t jerr;
		json_t *st = json_loads(STATES, 0, &jerr);

		t0 = util_monotonic();
		for (int i = 0; i < n; i++)
			feat_context_json(st, &req.date, &req.customer, NULL, &ctx);
		printf("%-10s %-28s        %7.2f us\n", "features", "feat_context_json (parsed)",
		       1e6 * (util_monotonic() - t0) / n);
		json_decref(st);
	}
	request_predict_free(&req);
	bench_tabular(POLICY_EPSILON_GREEDY, n);
	bench_tabular(POLICY_THOMPSON, n / 4);
	bench_policy("squarecb", NULL, n);
	bench_policy("squarecb", "{\"bits\": 7}", n);
	bench_policy("linear-ts", NULL, n / 4);
	bench_policy("linear-ts", "{\"ts_nodes\": 32}", n / 4);
	for (unsigned bits = 5; bits <= 7; bits++) {
		ridge *rg = ridge_new(bits, 1.0, 0.999);
		feat_vec x;
		double m;
		double var;
		int i = ridge_offer(rg, "O", 1);
		int reps = 200;

		x.n = 1;
		x.idx[0] = 0;
		x.val[0] = 1;
		t0 = util_monotonic();
		for (int k = 0; k < reps; k++) {
			/* A merge invalidates the cache: the next prediction refactors. */
			ridge_add(rg, i, &x, 1.0, 1.0);
			for (int tck = 0; tck < 200; tck++)
				ridge_tick(rg);
			ridge_predict(rg, i, &x, &m, &var);
		}
		printf("%-10s bits %u (d = %3u)              %7.2f us per offer (Cholesky + inverse)\n",
		       "refresh", bits, 1u << bits, 1e6 * (util_monotonic() - t0) / reps);
		ridge_free(rg);
	}
	return 0;
}
