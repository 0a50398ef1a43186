/*
 * policy.c — the tables of policies and what they share: for the tabular
 * ones, the statistics of a decision and the slot-by-slot draw; for the
 * contextual ones, parameters, learning with cascade credit, and the
 * statistics' save, merge and load (policy.h).
 */
#include "policy.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent.h"
#include "ridge.h"

/* --- tabular policies -------------------------------------------------------- */

/* The table, in agent.h's enum agent_policy order: a new policy is one file and one row. */
static const policy_tab_type *const tab_types[] = {
    &policy_weighted_type, &policy_egreedy_type, &policy_thompson_type,
    &policy_ucb_type,      &policy_random_type,
};

_Static_assert(UTIL_ARRAY_LEN(tab_types) == POLICY_RANDOM + 1,
               "one row per enum agent_policy value, in its order");

const policy_tab_type *policy_tab_at(size_t i)
{
	return i < UTIL_ARRAY_LEN(tab_types) ? tab_types[i] : NULL;
}

/* Whether name is a policy's own name or one of its aliases (case-insensitive). */
static int policy_named(const char *name, const char *own, const char *const *aliases)
{
	if (util_streq_nocase(name, own))
		return 1;
	for (size_t k = 0; k < POLICY_ALIASES_MAX && aliases[k] != NULL; k++) {
		if (util_streq_nocase(name, aliases[k]))
			return 1;
	}
	return 0;
}

const policy_tab_type *policy_tab_find(const char *name)
{
	for (size_t i = 0; i < UTIL_ARRAY_LEN(tab_types); i++) {
		if (policy_named(name, tab_types[i]->name, tab_types[i]->aliases))
			return tab_types[i];
	}
	return NULL;
}

void policy_tab_init(policy_tab *t, const agent_conf *conf, values *v, const char *company,
                     const char *state_key, const char *segment, const customer_attrs *customer,
                     const char *const *names, const size_t *idx, size_t n)
{
	t->type = policy_tab_at((size_t)conf->policy);
	t->conf = conf;
	t->n = n < REQ_OFFERS_MAX ? n : REQ_OFFERS_MAX;
	t->total_n = 0;
	t->scratch = NULL;
	for (size_t i = 0; i < t->n; i++) {
		memset(&t->o[i], 0, sizeof(t->o[i]));
		t->o[i].idx = idx[i];
		t->o[i].weight = agent_brief_weight(customer, names[i], idx[i]);
	}
	if (t->type->stats) {
		vstats st[REQ_OFFERS_MAX];
		int level[REQ_OFFERS_MAX];

		values_blend(v, company, state_key, segment, names, t->n, conf->shrink, st, level);
		for (size_t i = 0; i < t->n; i++) {
			t->o[i].st = st[i];
			t->total_n += st[i].n + st[i].pw;
		}
	}
	if (t->type->prepare != NULL)
		t->type->prepare(t);
}

void policy_tab_clear(policy_tab *t)
{
	free(t->scratch);
	t->scratch = NULL;
}

void policy_tab_decide(policy_tab *t, rng *r, policy_slate *out)
{
	unsigned char taken[REQ_OFFERS_MAX] = {0};

	memset(out, 0, sizeof(*out));
	while (out->n < OFFERS_SHOWN && out->n < t->n) {
		double probs[REQ_OFFERS_MAX];
		size_t pick;

		t->type->slot_probs(t, taken, probs);
		pick = policy_draw(r, probs, taken, t->n);
		if (pick == SIZE_MAX)
			break;
		taken[pick] = 1;
		policy_slate_add(out, t->o[pick].idx, probs[pick]);
	}
}

size_t policy_draw(rng *r, const double *probs, const unsigned char *skip, size_t n)
{
	double x = rng_uniform(r);
	size_t pick = SIZE_MAX;

	/* The last offer with positive probability absorbs rounding. */
	for (size_t i = 0; i < n; i++) {
		if ((skip != NULL && skip[i]) || !(probs[i] > 0))
			continue;
		pick = i;
		if (x < probs[i])
			break;
		x -= probs[i];
	}
	return pick;
}

void policy_slate_add(policy_slate *s, size_t idx, double propensity)
{
	s->idx[s->n] = idx;
	s->propensity[s->n] = propensity;
	s->n++;
}

/* Proportional to o[i].weight over the offers not taken, or uniform when !weighted. */
static void tab_proportional(const policy_tab *t, const unsigned char *taken, int weighted,
                             double *probs)
{
	double total = 0;

	for (size_t i = 0; i < t->n; i++)
		total += taken[i] ? 0 : weighted ? t->o[i].weight : 1.0;
	for (size_t i = 0; i < t->n; i++)
		probs[i] = taken[i] ? 0 : (weighted ? t->o[i].weight : 1.0) / total;
}

void policy_tab_uniform(const policy_tab *t, const unsigned char *taken, double *probs)
{
	tab_proportional(t, taken, 0, probs);
}

void policy_tab_weighted(const policy_tab *t, const unsigned char *taken, double *probs)
{
	tab_proportional(t, taken, 1, probs);
}

void policy_tab_best(const policy_tab *t, const unsigned char *taken, double *probs)
{
	policy_tab_greedy(t, taken, 0.0, probs);
}

void policy_tab_greedy(const policy_tab *t, const unsigned char *taken, double eps, double *probs)
{
	double best = -INFINITY;
	size_t ties = 0;
	size_t rem = 0;

	for (size_t i = 0; i < t->n; i++) {
		if (taken[i])
			continue;
		rem++;
		if (t->o[i].score > best) {
			best = t->o[i].score;
			ties = 1;
		} else if (t->o[i].score == best) {
			ties++;
		}
	}
	for (size_t i = 0; i < t->n; i++) {
		if (taken[i]) {
			probs[i] = 0;
			continue;
		}
		probs[i] = eps / (double)rem +
		           (t->o[i].score == best ? (1.0 - eps) / (double)ties : 0.0);
	}
}

/* --- contextual policies ------------------------------------------------------ */

/* The table, in agent.h's enum agent_policy order from POLICY_LINEAR_TS: a new policy is one
 * file and one row here. */
static const policy_type *const types[] = {
    &policy_lints_type,
    &policy_squarecb_type,
};

_Static_assert(UTIL_ARRAY_LEN(types) == AGENT_POLICY_COUNT - POLICY_LINEAR_TS,
               "one row per contextual enum agent_policy value, in its order");

#define COMMON(field) offsetof(policy_common, field)

static const policy_param common_params[] = {
    {"bits", FEAT_BITS_MIN, FEAT_BITS_MAX, 6, COMMON(bits)},
    {"lambda", 1e-6, 1e6, 1.0, COMMON(lambda)},
    {"forgetting", 0.9, 1.0, 0.9995, COMMON(forgetting)},
    {"slot_features", 0, 1, 1, COMMON(slot_features)},
    {"logistic", 0, 1, 1, COMMON(logistic)},
    {"reward_accept", -1e6, 1e6, 5, COMMON(r_accept)},
    {"reward_click", -1e6, 1e6, 1, COMMON(r_click)},
    {"reward_ignore", -1e6, 1e6, -2, COMMON(r_ignore)},
    {"prior_weight", 0, 1e6, 10, COMMON(prior_weight)},
};

/* Keys of the agent version that belong to the tabular policies or the writer. */
static const char *const agent_keys[] = {"ucb_c", "thompson_draws", "reward_wait_seconds", "shrink"};

const policy_type *policy_find(const char *name)
{
	for (size_t i = 0; i < UTIL_ARRAY_LEN(types); i++) {
		if (policy_named(name, types[i]->name, types[i]->aliases))
			return types[i];
	}
	return NULL;
}

const policy_type *policy_at(size_t i)
{
	return i < UTIL_ARRAY_LEN(types) ? types[i] : NULL;
}

static void set_defaults(const policy_param *t, size_t n, void *out)
{
	for (size_t i = 0; i < n; i++)
		*(double *)(void *)((char *)out + t[i].offset) = t[i].dflt;
}

/* Sets key from v when t names it: 1 set, 0 not in t, negative: bad value. */
static int set_param(const policy_param *t, size_t n, void *out, const char *key, json_t *v, char *err,
                     size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		double d;

		if (strcmp(key, t[i].name) != 0)
			continue;
		d = json_number_value(v);
		if (!json_is_number(v) || !(d >= t[i].min && d <= t[i].max)) {
			snprintf(err, errlen, "params.%s must be a number within [%g, %g]", key,
			         t[i].min, t[i].max);
			return ERR_INVAL;
		}
		*(double *)(void *)((char *)out + t[i].offset) = d;
		return 1;
	}
	return 0;
}

int policy_new(const policy_type *t, const char *params, policy **out, char *err, size_t errlen)
{
	json_t *root = NULL;
	json_error_t jerr;
	const char *key;
	json_t *v;
	policy *p = xcalloc(1, sizeof(*p));
	policy_common *c;
	int rc = 0;

	*out = NULL;
	p->type = t;
	p->params = xcalloc(1, t->params_size);
	c = p->params;
	set_defaults(common_params, UTIL_ARRAY_LEN(common_params), c);
	set_defaults(t->params, t->nparams, p->params);
	if (params != NULL && params[0] != '\0') {
		root = json_loads(params, 0, &jerr);
		if (!json_is_object(root)) {
			snprintf(err, errlen, "params must be a JSON object");
			rc = ERR_INVAL;
			goto out;
		}
	}
	json_object_foreach(root, key, v) {
		int known = 0;

		rc = set_param(common_params, UTIL_ARRAY_LEN(common_params), c, key, v, err, errlen);
		if (rc == 0)
			rc = set_param(t->params, t->nparams, p->params, key, v, err, errlen);
		if (rc < 0)
			goto out;
		for (size_t i = 0; i < UTIL_ARRAY_LEN(agent_keys); i++)
			known |= strcmp(key, agent_keys[i]) == 0;
		if (rc == 0 && !known) {
			snprintf(err, errlen, "params.%s is not a parameter of %s", key, t->name);
			rc = ERR_INVAL;
			goto out;
		}
		rc = 0;
	}
	if (!(c->r_accept > c->r_ignore)) {
		snprintf(err, errlen, "reward_accept must be greater than reward_ignore");
		rc = ERR_INVAL;
		goto out;
	}
	if (c->bits == (double)(unsigned)c->bits)
		p->stats = ridge_new((unsigned)c->bits, c->lambda, c->forgetting);
	if (p->stats == NULL) {
		snprintf(err, errlen, "bits must be an integer within [%d, %d]", FEAT_BITS_MIN,
		         FEAT_BITS_MAX);
		rc = ERR_INVAL;
		goto out;
	}
	if (t->init != NULL)
		rc = t->init(p);
out:
	json_decref(root);
	if (rc != 0) {
		policy_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void policy_free(policy *p)
{
	if (p == NULL)
		return;
	ridge_free(p->stats);
	free(p->params);
	free(p);
}

const policy_common *policy_params(const policy *p)
{
	return p->params;
}

void policy_features(const policy *p, const feat_ctx *ctx, const predict_req *req, size_t i, size_t slot,
                     feat_vec *out)
{
	const policy_common *c = p->params;

	feat_offer(ctx, req->offers[i], slot, c->slot_features > 0.5, ridge_bits(p->stats),
	           FEAT_PER_OFFER, out);
}

void policy_predict(policy *p, const feat_ctx *ctx, const predict_req *req, size_t i, size_t slot,
                    double *mean, double *var)
{
	feat_vec x;

	policy_features(p, ctx, req, i, slot, &x);
	ridge_predict(p->stats, ridge_offer(p->stats, req->offers[i], 0), &x, mean, var);
}

void policy_view_init(const policy *p, const feat_ctx *ctx, policy_view *out)
{
	unsigned bits = ridge_bits(p->stats);
	char name[32];

	/* No offer: the context alone (an empty name is never the offer shown last). */
	feat_offer(ctx, "", 0, 0, bits, FEAT_PER_OFFER, &out->x);
	out->last = feat_bucket("lastoffer=this", bits);
	for (size_t k = 0; k < OFFERS_SHOWN; k++) {
		snprintf(name, sizeof(name), "slot=%zu", k);
		out->slot[k] = feat_bucket(name, bits);
	}
	out->ctx = ctx;
}

void policy_view_predict(policy *p, const policy_view *v, const predict_req *req, size_t i, size_t slot,
                         double *mean, double *var)
{
	const policy_common *c = p->params;
	uint32_t extra[2];
	size_t n = 0;

	if (v->ctx->last_offer[0] != '\0' && strcmp(v->ctx->last_offer, req->offers[i]) == 0)
		extra[n++] = v->last;
	if (c->slot_features > 0.5 && slot > 0 && slot < OFFERS_SHOWN)
		extra[n++] = v->slot[slot];
	ridge_predict_plus(p->stats, ridge_offer(p->stats, req->offers[i], 0), &v->x, extra, n, mean,
	                   var);
}

/* One feature's contribution to offer o's score: its bucket's posterior mean weight x value. */
static double feature_weight(policy *p, int o, uint32_t bucket_idx, double value)
{
	feat_vec unit;
	double w = 0;
	double var = 0;

	unit.n = 1;
	unit.idx[0] = bucket_idx;
	unit.val[0] = 1.0;
	ridge_predict(p->stats, o, &unit, &w, &var);
	return w * value;
}

/* Keeps the POLICY_EXPLAIN_TOP largest |weight|, in order. */
static void top_add(policy_explanation *e, const char *name, double weight)
{
	size_t at = e->ntop;

	if (weight == 0 || !isfinite(weight))
		return;
	while (at > 0 && fabs(e->top[at - 1].weight) < fabs(weight))
		at--;
	if (at >= POLICY_EXPLAIN_TOP)
		return;
	if (e->ntop < POLICY_EXPLAIN_TOP)
		e->ntop++;
	memmove(&e->top[at + 1], &e->top[at], (e->ntop - 1 - at) * sizeof(e->top[0]));
	util_strlcpy(e->top[at].name, name, sizeof(e->top[at].name));
	e->top[at].weight = weight;
}

void policy_explain(policy *p, const feat_ctx *ctx, const feat_names *names, const predict_req *req,
                    const policy_slate *shown, policy_explanation *out)
{
	const policy_common *c = p->params;
	unsigned bits = ridge_bits(p->stats);

	for (size_t k = 0; k < shown->n && k < OFFERS_SHOWN; k++) {
		policy_explanation *e = &out[k];
		size_t i = shown->idx[k];
		int o = ridge_offer(p->stats, req->offers[i], 0);
		size_t cand[REQ_OFFERS_MAX];
		policy_slate before;
		double mean = 0;
		double var = 0;
		size_t n;

		memset(e, 0, sizeof(*e));
		policy_predict(p, ctx, req, i, k, &mean, &var);
		e->score = policy_value(p, mean);
		e->uncertainty = sqrt(var > 0 ? var : 0);
		if (c->logistic > 0.5)
			e->uncertainty *= e->score * (1.0 - e->score); /* the delta method onto [0, 1] */
		if (e->uncertainty > 0.5)
			e->uncertainty = 0.5; /* no value on [0, 1] varies more */
		/* Explored: an offer still free for this slot had a higher value. */
		memset(&before, 0, sizeof(before));
		before.n = k;
		for (size_t j = 0; j < k; j++)
			before.idx[j] = shown->idx[j];
		n = policy_remaining(req, &before, cand);
		for (size_t j = 0; j < n && !e->explored; j++) {
			double m = 0;
			double v = 0;

			if (cand[j] == i)
				continue;
			policy_predict(p, ctx, req, cand[j], k, &m, &v);
			e->explored = policy_value(p, m) > e->score + 1e-12;
		}
		for (size_t f = 0; f < ctx->n; f++)
			top_add(e, names->name[f],
			        feature_weight(p, o, feat_bucket(names->name[f], bits), ctx->val[f]));
		if (ctx->last_offer[0] != '\0' && strcmp(ctx->last_offer, req->offers[i]) == 0)
			top_add(e, "lastoffer=this",
			        feature_weight(p, o, feat_bucket("lastoffer=this", bits), 1.0));
		if (c->slot_features > 0.5 && k > 0) {
			char name[32];

			snprintf(name, sizeof(name), "slot=%zu", k);
			top_add(e, name, feature_weight(p, o, feat_bucket(name, bits), 1.0));
		}
	}
}

double policy_value(const policy *p, double mean)
{
	const policy_common *c = p->params;

	return c->logistic > 0.5 ? 1.0 / (1.0 + exp(-mean)) : mean;
}

size_t policy_remaining(const predict_req *req, const policy_slate *s, size_t *cand)
{
	size_t n = 0;

	for (size_t i = 0; i < req->n_offers; i++) {
		int used = 0;

		if (!req->allowed[i])
			continue;
		for (size_t k = 0; k < s->n; k++)
			used |= s->idx[k] == i;
		if (!used)
			cand[n++] = i;
	}
	return n;
}

/* The offers not yet in s, into cand, and cand_probs' probabilities for them; returns their number. */
static size_t slot_candidates(policy *p, const policy_view *view, const predict_req *req,
                              const policy_slate *s, size_t *cand, double *prob)
{
	size_t n = policy_remaining(req, s, cand);

	if (n > 0)
		p->type->cand_probs(p, view, req, cand, n, s->n, prob);
	return n;
}

/* Draws each slot from cand_probs: the propensity is the drawn offer's probability. */
static int decide_by_draw(policy *p, const feat_ctx *ctx, const predict_req *req, rng *r,
                          policy_slate *out)
{
	policy_view view;

	policy_view_init(p, ctx, &view);
	while (out->n < OFFERS_SHOWN) {
		size_t cand[REQ_OFFERS_MAX];
		double prob[REQ_OFFERS_MAX];
		size_t n = slot_candidates(p, &view, req, out, cand, prob);
		size_t pick;

		if (n == 0)
			break;
		/* Every candidate has a positive probability, so the draw always picks. */
		pick = policy_draw(r, prob, NULL, n);
		policy_slate_add(out, cand[pick], prob[pick]);
	}
	return 0;
}

int policy_decide(policy *p, const feat_ctx *ctx, const predict_req *req, rng *r, policy_slate *out)
{
	memset(out, 0, sizeof(*out));
	if (req->n_allowed == 0)
		return ERR_INVAL;
	if (p->type->decide == NULL)
		return decide_by_draw(p, ctx, req, r, out);
	return p->type->decide(p, ctx, req, r, out);
}

void policy_slot_probs(policy *p, const feat_ctx *ctx, const predict_req *req,
                       const policy_slate *before, double *probs)
{
	size_t cand[REQ_OFFERS_MAX];
	double prob[REQ_OFFERS_MAX];
	policy_view view;
	size_t n;

	memset(probs, 0, req->n_offers * sizeof(double));
	if (before->n >= OFFERS_SHOWN)
		return;
	if (p->type->slot_probs != NULL) {
		p->type->slot_probs(p, ctx, req, before, probs);
		return;
	}
	policy_view_init(p, ctx, &view);
	n = slot_candidates(p, &view, req, before, cand, prob);
	for (size_t j = 0; j < n; j++)
		probs[cand[j]] = prob[j];
}

void policy_cascade(size_t n, int accepted_slot, unsigned char *credited)
{
	for (size_t k = 0; k < n; k++)
		credited[k] = accepted_slot < 0 || (int)k <= accepted_slot;
}

int policy_examples(policy *p, struct ridge *into, const feat_ctx *ctx, const predict_req *req,
                    const policy_slate *shown, const policy_feedback *fb)
{
	const policy_common *c = p->params;
	double span = c->r_accept - c->r_ignore;

	if (fb->n != shown->n || shown->n > OFFERS_SHOWN)
		return ERR_INVAL;
	for (size_t k = 0; k < shown->n; k++) {
		const char *offer;
		feat_vec x;
		double y;
		int i;

		if (!fb->credited[k] || shown->idx[k] >= req->n_offers)
			continue;
		offer = req->offers[shown->idx[k]];
		i = ridge_offer(into, offer, 1);
		if (i < 0)
			return ERR_TOOBIG;
		/* Learned on [0, 1]: accepted 1, ignored 0, a click in between. */
		y = (fb->reward[k] - c->r_ignore) / span;
		policy_features(p, ctx, req, shown->idx[k], k, &x);
		if (c->logistic > 0.5) {
			double m;
			double v;
			double q;
			double w;

			/* One Laplace (Newton) step at the current mean: weight q(1-q), working response. */
			ridge_predict(p->stats, ridge_offer(p->stats, offer, 0), &x, &m, &v);
			q = 1.0 / (1.0 + exp(-m));
			if (q < 0.01)
				q = 0.01;
			if (q > 0.99)
				q = 0.99;
			w = q * (1 - q);
			ridge_add(into, i, &x, m + (y - q) / w, w);
		} else {
			ridge_add(into, i, &x, y, 1.0);
		}
	}
	return 0;
}

int policy_learn(policy *p, const feat_ctx *ctx, const predict_req *req, const policy_slate *shown,
                 const policy_feedback *fb)
{
	int rc = policy_examples(p, p->stats, ctx, req, shown, fb);

	if (rc == 0)
		ridge_tick(p->stats);
	return rc;
}

policy *policy_snapshot(policy *p, const struct ridge *prior)
{
	policy *c = xcalloc(1, sizeof(*c));

	c->type = p->type;
	c->params = xmalloc(p->type->params_size);
	memcpy(c->params, p->params, p->type->params_size);
	c->stats = ridge_snapshot(p->stats, prior);
	return c;
}

int policy_save(policy *p, int delta, buf *out)
{
	return ridge_save(p->stats, delta ? RIDGE_DELTA : RIDGE_TOTALS, out);
}

int policy_merge(policy *p, const char *json, size_t len, char *err, size_t errlen)
{
	return ridge_merge(p->stats, json, len, err, errlen);
}

int policy_load(policy *p, const char *json, size_t len, char *err, size_t errlen)
{
	return ridge_load(p->stats, json, len, err, errlen);
}
