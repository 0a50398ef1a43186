/*
 * sim_policy.c — a contextual policy of policy.h in front of the simulated
 * population (sim.h): the request /predict would receive (sim_request),
 * its features (feat_context), policy_decide, then the customer's answer
 * scored on the agent's scale with cascade credit and policy_learn. In
 * memory: the writer and the store do not yet carry these statistics
 * (issue 13 point 5 comes after issue 12's reshaping of the reward path).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feat.h"
#include "policy.h"
#include "sim.h"
#include "util.h"

struct sim_policy {
	policy *pol;
	rng r;
	predict_req req; /* the last decision's request, until it is learned */
	feat_ctx ctx;
	policy_slate slate;
	int pending;
	double decide_s;
	double learn_s;
	uint64_t decisions;
};

int sim_policy_new(const policy_type *t, const char *params, uint64_t seed, sim_policy **out, char *err,
                   size_t errlen)
{
	sim_policy *p = xcalloc(1, sizeof(*p));
	int rc = policy_new(t, params, &p->pol, err, errlen);

	if (rc != 0) {
		free(p);
		return rc;
	}
	/* Each policy its own stream, the same for every run with this seed. */
	rng_seed(&p->r, seed * 0x2545f4914f6cdd1dULL + util_hash(t->name));
	*out = p;
	return 0;
}

void sim_policy_free(sim_policy *p)
{
	if (p == NULL)
		return;
	if (p->pending)
		request_predict_free(&p->req);
	policy_free(p->pol);
	free(p);
}

void sim_policy_timing(const sim_policy *p, double *decide_s, double *learn_s, uint64_t *n)
{
	*decide_s = p->decide_s;
	*learn_s = p->learn_s;
	*n = p->decisions;
}

static int sp_decide(void *arg, const sim_context *c, size_t *slate, size_t *n)
{
	sim_policy *p = arg;
	double t0;
	int rc;

	if (p->pending) {
		request_predict_free(&p->req);
		p->pending = 0;
	}
	rc = sim_request(c, &p->req);
	if (rc != 0)
		return rc;
	p->pending = 1;
	t0 = util_monotonic();
	rc = feat_context(&p->req, NULL, &p->ctx);
	if (rc == 0)
		rc = policy_decide(p->pol, &p->ctx, &p->req, &p->r, &p->slate);
	p->decide_s += util_monotonic() - t0;
	p->decisions++;
	if (rc != 0)
		return rc;
	/* The offers of the request are OFFER_1..OFFER_10 in order. */
	for (size_t k = 0; k < p->slate.n; k++)
		slate[k] = p->slate.idx[k];
	*n = p->slate.n;
	return 0;
}

static int sp_learn(void *arg, const sim_context *c, const size_t *slate, size_t n, const sim_outcome *o)
{
	sim_policy *p = arg;
	const policy_common *pc = policy_params(p->pol);
	policy_feedback fb;
	double t0 = util_monotonic();
	int rc;

	(void)c;
	(void)slate;
	if (!p->pending || n != p->slate.n)
		return ERR_INVAL;
	memset(&fb, 0, sizeof(fb));
	fb.n = n;
	for (size_t k = 0; k < n; k++) {
		if (o->slot == (int)k)
			fb.reward[k] = pc->r_accept;
		else if (o->clicked & (1u << k))
			fb.reward[k] = pc->r_click;
		else
			fb.reward[k] = pc->r_ignore;
	}
	policy_cascade(n, o->slot, fb.credited);
	rc = policy_learn(p->pol, &p->ctx, &p->req, &p->slate, &fb);
	request_predict_free(&p->req);
	p->pending = 0;
	p->learn_s += util_monotonic() - t0;
	return rc;
}

void sim_policy_agent(sim_policy *p, sim_agent *out)
{
	memset(out, 0, sizeof(*out));
	out->label = p->pol->type->name;
	out->decide = sp_decide;
	out->learn = sp_learn;
	out->arg = p;
}
