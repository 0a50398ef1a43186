/*
 * policy_squarecb.c — squarecb: inverse-gap weighting over a regression
 * model (Foster & Rakhlin 2020, "Beyond UCB"; Vowpal Wabbit's
 * --cb_explore_adf --squarecb), one slot at a time.
 *
 * The regression is the per-offer model of ridge.h (logistic by default:
 * predicted acceptance on [0, 1]; its variance is not used). For slot k with K remaining allowed
 * offers, predicted values y_j and the best b (the first of the highest):
 *     p_j = 1 / (K + gamma (y_b - y_j))   for j != b,   p_b = 1 - sum of the others,
 * gamma = gamma_scale * t^gamma_exponent with t the episodes learned
 * (discounted by the forgetting factor, so exploration comes back after a
 * change), as VW's --gamma_scale (default 10) and --gamma_exponent (0.5).
 * Rewards are on [0, 1] (ridge targets), as VW's costs.
 *
 * The logged propensity is that p of the offer drawn: exact. Its smallest
 * value is about 1 / (K + gamma), which off-policy estimators must clip.
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "policy.h"
#include "ridge.h"
#include "util.h"

typedef struct squarecb_params {
	policy_common c;
	double gamma_scale;
	double gamma_exponent;
} squarecb_params;

static const policy_param squarecb_params_table[] = {
    {"gamma_scale", 1e-3, 1e6, 100, offsetof(squarecb_params, gamma_scale)},
    {"gamma_exponent", 0, 1, 0.5, offsetof(squarecb_params, gamma_exponent)},
};

/* The inverse-gap weights of the n candidates for slot `slot`; the best is the first highest. */
static void squarecb_weights(policy *p, const policy_view *view, const predict_req *req,
                             const size_t *cand, size_t n, size_t slot, double *prob)
{
	const squarecb_params *sp = p->params;
	double t = ridge_episodes(p->stats);
	double gamma = sp->gamma_scale * pow(t > 1 ? t : 1, sp->gamma_exponent);
	double y[REQ_OFFERS_MAX];
	size_t best = 0;
	double rest = 1.0;

	for (size_t j = 0; j < n; j++) {
		policy_view_predict(p, view, req, cand[j], slot, &y[j], NULL);
		y[j] = policy_value(p, y[j]);
		if (y[j] > y[best])
			best = j;
	}
	for (size_t j = 0; j < n; j++) {
		if (j == best)
			continue;
		prob[j] = 1.0 / ((double)n + gamma * (y[best] - y[j]));
		rest -= prob[j];
	}
	prob[best] = rest;
}

const policy_type policy_squarecb_type = {
    .name = "squarecb",
    POLICY_PARAMS(squarecb_params_table, squarecb_params),
    /* No init, and no decide of its own: each slot is drawn from its weights (policy_decide). */
    .cand_probs = squarecb_weights,
};
