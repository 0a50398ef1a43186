/*
 * policy_lints.c — linear-ts: Thompson sampling over a Bayesian ridge model
 * per offer (Chapelle & Li 2011; Agrawal & Goyal 2013's linear Thompson
 * sampling), one slot at a time.
 *
 * For slot k and each remaining allowed offer j with features x_j (the
 * slot among them), the posterior of the offer's value is
 * N(m_j, s_j^2), m_j = x_j . A_j^-1 b_j and s_j = v sqrt(x_j^T A_j^-1 x_j)
 * (ts_v = v scales the posterior: the noise of a reward on [0, 1]).
 * Sampling the weights and scoring x_j is the same as sampling the score
 * from that normal, so a decision costs a few sparse products per offer.
 * The offer with the highest draw takes the slot; each slot draws afresh.
 *
 * Propensities by design, not by re-sampling: with independent draws per
 * slot, P(j wins the slot) = E_z[ prod_{i != j} Phi((m_j + s_j z - m_i) / s_i) ],
 * a one-dimensional integral over z ~ N(0, 1), computed by the midpoint
 * rule on ts_nodes quantiles of z (64 by default: each factor's error is
 * below 1/(2 ts_nodes); tests/test_policy.c compares it with the empirical
 * frequency of 40,000 draws).
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "policy.h"
#include "ridge.h"
#include "util.h"

#define NODES_MAX 1024

typedef struct lints_params {
	policy_common c;
	double v;
	double nodes;
	double z[NODES_MAX]; /* Phi^-1((u + 0.5) / nodes), filled by init */
} lints_params;

static const policy_param lints_params_table[] = {
    {"ts_v", 1e-4, 100, 0.25, offsetof(lints_params, v)},
    {"ts_nodes", 8, NODES_MAX, 64, offsetof(lints_params, nodes)},
};

static double phi_cdf(double t)
{
	return 0.5 * erfc(-t * M_SQRT1_2);
}

static int lints_init(policy *p)
{
	lints_params *lp = p->params;
	size_t n = (size_t)lp->nodes;

	for (size_t u = 0; u < n; u++) {
		double target = ((double)u + 0.5) / (double)n;
		double lo = -12;
		double hi = 12;

		for (int it = 0; it < 80; it++) {
			double mid = 0.5 * (lo + hi);

			if (phi_cdf(mid) < target)
				lo = mid;
			else
				hi = mid;
		}
		lp->z[u] = 0.5 * (lo + hi);
	}
	return 0;
}

/* P(candidate w has the highest of the independent normal draws). */
static double win_probability(const lints_params *lp, const double *m, const double *s, size_t n,
                              size_t w)
{
	size_t nodes = (size_t)lp->nodes;
	double sum = 0;

	for (size_t u = 0; u < nodes; u++) {
		double t = m[w] + s[w] * lp->z[u];
		double prod = 1.0;

		for (size_t i = 0; i < n && prod > 1e-300; i++) {
			double arg;

			if (i == w)
				continue;
			arg = (t - m[i]) / s[i];
			/* Phi(8.3) = 1 - 5e-17: 1 in double precision, no erfc needed. */
			if (arg < 8.3)
				prod *= phi_cdf(arg);
		}
		sum += prod;
	}
	return sum / (double)nodes;
}

/* The means and spreads of the n candidates for slot `slot`. */
static void lints_normals(policy *p, const policy_view *view, const predict_req *req, const size_t *cand,
                          size_t n, size_t slot, double *m, double *s)
{
	const lints_params *lp = p->params;

	for (size_t j = 0; j < n; j++) {
		double var;

		/* On the logit scale when logistic: the order, hence the choice, is the same. */
		policy_view_predict(p, view, req, cand[j], slot, &m[j], &var);
		s[j] = lp->v * sqrt(var);
		if (s[j] < 1e-9)
			s[j] = 1e-9;
	}
}

/* The logged propensity of candidate w: its win probability, floored (a shown offer had some). */
static double lints_propensity(const lints_params *lp, const double *m, const double *s, size_t n,
                               size_t w)
{
	double prop = n == 1 ? 1.0 : win_probability(lp, m, s, n, w);

	if (prop < 1e-12)
		prop = 1e-12;
	return prop > 1.0 ? 1.0 : prop;
}

static int lints_decide(policy *p, const feat_ctx *ctx, const predict_req *req, rng *r,
                        policy_slate *out)
{
	const lints_params *lp = p->params;
	policy_view view;

	policy_view_init(p, ctx, &view);
	while (out->n < OFFERS_SHOWN) {
		size_t cand[REQ_OFFERS_MAX];
		double m[REQ_OFFERS_MAX];
		double s[REQ_OFFERS_MAX];
		size_t n = policy_remaining(req, out, cand);
		size_t best = 0;
		double best_score = -INFINITY;

		if (n == 0)
			break;
		lints_normals(p, &view, req, cand, n, out->n, m, s);
		for (size_t j = 0; j < n; j++) {
			double score = m[j] + s[j] * rng_normal(r);

			if (score > best_score) {
				best_score = score;
				best = j;
			}
		}
		policy_slate_add(out, cand[best], lints_propensity(lp, m, s, n, best));
	}
	return 0;
}

/* The probability that lints_decide's sampled scores pick each of the n candidates for slot `slot`. */
static void lints_probs(policy *p, const policy_view *view, const predict_req *req, const size_t *cand,
                        size_t n, size_t slot, double *prob)
{
	const lints_params *lp = p->params;
	double m[REQ_OFFERS_MAX];
	double s[REQ_OFFERS_MAX];

	lints_normals(p, view, req, cand, n, slot, m, s);
	for (size_t j = 0; j < n; j++)
		prob[j] = lints_propensity(lp, m, s, n, j);
}

const policy_type policy_lints_type = {
    .name = "linear-ts",
    .aliases = {"lints", "linear_ts"},
    POLICY_PARAMS(lints_params_table, lints_params),
    .init = lints_init,
    .decide = lints_decide,
    .cand_probs = lints_probs,
};
