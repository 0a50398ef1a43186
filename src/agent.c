/*
 * agent.c — an agent version's configuration, and a decision: the
 * customer's segment and state, then the version's policy (policy.h's
 * table, one file per policy) draws the slate. The brief's weights are
 * here too (agent_brief_weight, the `weighted` policy's).
 *
 * Porting the brief's rl_agent (case-study.txt), its intent kept and its
 * defects fixed:
 *  - Its three if-blocks each overwrite `weights`, so the final weights come
 *    from gender (as the brief runs); we keep that order of precedence and
 *    fall back to region, then age, when a value is unknown instead of
 *    raising.
 *  - It compared region and gender with 0/1/2 while clients send strings;
 *    we map "M"/"F" and "Europa"/"Americas"/"Asia" (customer.c normalises
 *    "Male", "f", "Europe"...).
 *  - Its weight lists are shorter than the offers (5 or 6 weights for 10
 *    offers): the weight of OFFER_n is weights[(n-1) mod len], so an offer
 *    keeps its weight whatever else is allowed; offers without a number use
 *    their position in the request.
 *  - random.choices samples with replacement and may return duplicates and
 *    disallowed offers: we sample allowed offers without replacement.
 */
#include "agent.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "model.h"
#include "policy.h"
#include "util.h"

const char *agent_policy_name(enum agent_policy p)
{
	const policy_tab_type *t = policy_tab_at((size_t)p);
	const policy_type *c = p >= POLICY_LINEAR_TS ? policy_at((size_t)(p - POLICY_LINEAR_TS)) : NULL;

	if (t != NULL)
		return t->name;
	return c != NULL ? c->name : "unknown";
}

int agent_policy_parse(const char *name, enum agent_policy *out)
{
	const policy_tab_type *t = policy_tab_find(name);
	const policy_type *c = policy_find(name);

	for (int p = 0; p < AGENT_POLICY_COUNT; p++) {
		if ((t != NULL && policy_tab_at((size_t)p) == t) ||
		    (c != NULL && p >= POLICY_LINEAR_TS &&
		     policy_at((size_t)(p - POLICY_LINEAR_TS)) == c)) {
			*out = (enum agent_policy)p;
			return 0;
		}
	}
	return ERR_INVAL;
}

void agent_conf_default(agent_conf *c)
{
	memset(c, 0, sizeof(*c));
	util_strlcpy(c->version, "0.0.0", sizeof(c->version));
	c->policy = POLICY_EPSILON_GREEDY;
	c->epsilon = 0.1;
	c->r_accept = 5;
	c->r_click = 1;
	c->r_ignore = -2;
	c->ucb_c = 1.0;
	c->ts_draws = 64;
	c->reward_wait = 0;
	c->shrink = AGENT_SHRINK_DEFAULT;
	c->forgetting = AGENT_FORGETTING_DEFAULT;
}

int agent_conf_from_db(const db_agent *a, agent_conf *out, char *err, size_t errlen)
{
	json_t *params = NULL;
	json_error_t jerr;
	const char *key;
	json_t *v;
	int rc = 0;

	agent_conf_default(out);
	util_strlcpy(out->version, a->version, sizeof(out->version));
	if (agent_policy_parse(a->policy, &out->policy) != 0) {
		snprintf(err, errlen, "unknown policy \"%.40s\" (policies: %s)", a->policy,
		         AGENT_POLICY_NAMES);
		return ERR_INVAL;
	}
	if (!(a->epsilon >= 0 && a->epsilon <= 1)) {
		snprintf(err, errlen, "epsilon must be within [0, 1]");
		return ERR_INVAL;
	}
	out->epsilon = a->epsilon;
	if (agent_policy_contextual(out->policy))
		return model_conf(a->params, out, err, errlen);
	if (a->params == NULL || a->params[0] == '\0')
		return 0;
	params = json_loads(a->params, 0, &jerr);
	if (!json_is_object(params)) {
		snprintf(err, errlen, "params must be a JSON object");
		rc = ERR_INVAL;
		goto out;
	}
	json_object_foreach(params, key, v) {
		double d;

		if (!json_is_number(v)) {
			snprintf(err, errlen, "params.%s must be a number", key);
			rc = ERR_INVAL;
			goto out;
		}
		d = json_number_value(v);
		if (strcmp(key, "reward_accept") == 0) {
			out->r_accept = d;
		} else if (strcmp(key, "reward_click") == 0) {
			out->r_click = d;
		} else if (strcmp(key, "reward_ignore") == 0) {
			out->r_ignore = d;
		} else if (strcmp(key, "ucb_c") == 0 && d >= 0) {
			out->ucb_c = d;
		} else if (strcmp(key, "thompson_draws") == 0 && d >= 1 && d <= 10000) {
			out->ts_draws = (int)d;
		} else if (strcmp(key, "reward_wait_seconds") == 0 && d >= 0) {
			out->reward_wait = d;
		} else if (strcmp(key, "shrink") == 0 && d >= 0 && d <= 1e6) {
			out->shrink = d;
		} else if (strcmp(key, "forgetting") == 0 && d > 0.9 && d <= 1) {
			out->forgetting = d;
		} else {
			snprintf(err, errlen, "params.%s is unknown or out of range", key);
			rc = ERR_INVAL;
			goto out;
		}
	}
	if (!(out->r_accept > out->r_ignore)) {
		snprintf(err, errlen, "reward_accept must be greater than reward_ignore");
		rc = ERR_INVAL;
	}
out:
	json_decref(params);
	return rc;
}

/* --- the brief's weighted agent ----------------------------------------- */

static const double w_young[] = {10, 8, 6, 6, 6, 4};
static const double w_older[] = {8, 6, 10, 6, 4};
static const double w_europa[] = {10, 8, 6, 6, 10, 10};
static const double w_americas[] = {4, 8, 6, 6, 10, 10};
static const double w_asia[] = {4, 10, 10, 6, 4, 4};
static const double w_male[] = {10, 10, 10, 6, 4, 4};
static const double w_female[] = {4, 4, 6, 10, 10, 10};

double agent_brief_weight(const customer_attrs *c, const char *offer, size_t position)
{
	const double *w;
	size_t len;
	int num;
	size_t i;

	if (c->gender == 'M') {
		w = w_male;
		len = UTIL_ARRAY_LEN(w_male);
	} else if (c->gender == 'F') {
		w = w_female;
		len = UTIL_ARRAY_LEN(w_female);
	} else if (strcmp(c->region, "Europa") == 0) {
		w = w_europa;
		len = UTIL_ARRAY_LEN(w_europa);
	} else if (strcmp(c->region, "Americas") == 0) {
		w = w_americas;
		len = UTIL_ARRAY_LEN(w_americas);
	} else if (strcmp(c->region, "Asia") == 0) {
		w = w_asia;
		len = UTIL_ARRAY_LEN(w_asia);
	} else if (c->age >= 0) {
		w = c->age < 30 ? w_young : w_older;
		len = c->age < 30 ? UTIL_ARRAY_LEN(w_young) : UTIL_ARRAY_LEN(w_older);
	} else {
		return 1.0;
	}
	i = customer_offer_number(offer, &num) == 0 ? (size_t)(num - 1) : position;
	return w[i % len];
}

/* The offers the request allows, in request order: their names and their indexes in req. */
static size_t allowed_offers(const predict_req *req, const char **names, size_t *idx)
{
	size_t n = 0;

	for (size_t i = 0; i < req->n_offers; i++) {
		if (!req->allowed[i])
			continue;
		idx[n] = i;
		names[n] = req->offers[i];
		n++;
	}
	return n;
}

int agent_decide(const agent_conf *c, values *v, rng *r, const char *company, const predict_req *req,
                 const char *rfm, agent_decision *out)
{
	const char *names[REQ_OFFERS_MAX];
	size_t idx[REQ_OFFERS_MAX];
	policy_slate s;
	policy_tab *t;
	size_t n;

	memset(out, 0, sizeof(*out));
	customer_segment(&req->customer, rfm, out->segment, sizeof(out->segment));
	customer_state_key(out->segment, &req->date, out->state_key, sizeof(out->state_key));
	n = allowed_offers(req, names, idx);
	if (n == 0)
		return ERR_INVAL;
	if (agent_policy_contextual(c->policy))
		return model_decide(c, r, company, req, rfm, out);
	if (policy_tab_at((size_t)c->policy) == NULL)
		return ERR_INVAL;
	if (policy_tab_at((size_t)c->policy)->stats && !c->shadow)
		values_tick(v, company, c->forgetting);
	/* About 6 KB: on the heap, so a decision's stack stays small. */
	t = xmalloc(sizeof(*t));
	policy_tab_init(t, c, v, company, out->state_key, out->segment, &req->customer, names, idx, n);
	policy_tab_decide(t, r, &s);
	policy_tab_clear(t);
	free(t);
	out->n = s.n;
	for (size_t k = 0; k < s.n; k++) {
		out->idx[k] = s.idx[k];
		out->propensity[k] = s.propensity[k];
	}
	return 0;
}

int agent_explain(const agent_conf *c, values *v, const char *company, const predict_req *req,
                  const char *rfm, const agent_decision *dec, policy_explanation *out)
{
	const char *names[REQ_OFFERS_MAX];
	size_t idx[REQ_OFFERS_MAX];
	unsigned char taken[REQ_OFFERS_MAX] = {0};
	double probs[REQ_OFFERS_MAX];
	policy_tab *t;
	size_t n;

	if (agent_policy_contextual(c->policy))
		return model_explain(c, company, req, rfm, dec, out);
	if (policy_tab_at((size_t)c->policy) == NULL)
		return ERR_INVAL;
	n = allowed_offers(req, names, idx);
	t = xmalloc(sizeof(*t));
	policy_tab_init(t, c, v, company, dec->state_key, dec->segment, &req->customer, names, idx, n);
	for (size_t k = 0; k < dec->n && k < OFFERS_SHOWN; k++) {
		policy_explanation *e = &out[k];
		size_t j = 0;
		double best = 0;

		while (j < t->n && t->o[j].idx != dec->idx[k])
			j++;
		memset(e, 0, sizeof(*e));
		if (j == t->n)
			continue;
		t->type->slot_probs(t, taken, probs);
		for (size_t i = 0; i < t->n; i++)
			best = probs[i] > best ? probs[i] : best;
		{
			const vstats *st = &t->o[j].st;
			double a = st->succ + 1.0 + st->pa;
			double b = st->fail + 1.0 + st->pb;

			e->tabular = t->type->stats;
			e->value = values_mean(st, 0.0);
			e->count = st->n;
			e->score = t->type->prepare != NULL ? t->o[j].score : e->value;
			/* The acceptance rate's Beta posterior standard deviation (uniform without data). */
			e->uncertainty = sqrt(a * b / ((a + b) * (a + b) * (a + b + 1.0)));
		}
		/* Random explores every slot; the others when the offer was not their likeliest. */
		e->explored = c->policy == POLICY_RANDOM || probs[j] < best - 1e-12;
		if (e->tabular) {
			e->ntop = 1;
			snprintf(e->top[0].name, sizeof(e->top[0].name), "state=%s", dec->state_key);
			e->top[0].weight = e->value;
		} else if (c->policy == POLICY_WEIGHTED) {
			/* The brief's weight of the offer for this customer is the whole reason. */
			e->ntop = 1;
			snprintf(e->top[0].name, sizeof(e->top[0].name), "brief weight");
			e->top[0].weight = t->o[j].weight;
			e->score = t->o[j].weight;
		}
		taken[j] = 1;
	}
	policy_tab_clear(t);
	free(t);
	return 0;
}

static int in_list(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p != NULL && *p != '\0';) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len == n && memcmp(p, name, n) == 0)
			return 1;
		p = comma ? comma + 1 : NULL;
	}
	return 0;
}

void agent_rewards(const agent_conf *c, const char *const offers[], int n, int accepted,
                   const char *accepted_offer, const char *clicked, double *rewards, int *success)
{
	int exact = accepted_offer != NULL && accepted_offer[0] != '\0';

	for (int k = 0; k < n; k++) {
		int acc = exact ? strcmp(offers[k], accepted_offer) == 0 : accepted;

		if (acc)
			rewards[k] = c->r_accept;
		else if (clicked != NULL && in_list(clicked, offers[k]))
			rewards[k] = c->r_click;
		else
			rewards[k] = c->r_ignore;
		success[k] = acc;
	}
}
