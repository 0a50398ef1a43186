/*
 * agent.c — the policies.
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
#include "util.h"

static const char *const policy_names[] = {"weighted", "epsilon-greedy", "thompson", "ucb",
                                           "random", "linear-ts", "squarecb"};

const char *agent_policy_name(enum agent_policy p)
{
	return (size_t)p < UTIL_ARRAY_LEN(policy_names) ? policy_names[p] : "unknown";
}

int agent_policy_parse(const char *name, enum agent_policy *out)
{
	for (size_t i = 0; i < UTIL_ARRAY_LEN(policy_names); i++) {
		if (util_streq_nocase(name, policy_names[i])) {
			*out = (enum agent_policy)i;
			return 0;
		}
	}
	if (util_streq_nocase(name, "epsilon_greedy") || util_streq_nocase(name, "egreedy")) {
		*out = POLICY_EPSILON_GREEDY;
		return 0;
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
		snprintf(err, errlen, "unknown policy \"%s\"", a->policy);
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

/* --- selection helpers ---------------------------------------------------- */

typedef struct cand {
	size_t idx;     /* index into the request's offers */
	double score;
	double weight;
	vstats st;
} cand;

/* Removes candidate i by swapping in the last one. */
static void take(cand *c, size_t *n, size_t i)
{
	c[i] = c[*n - 1];
	(*n)--;
}

static void choose(agent_decision *d, const cand *c, double p)
{
	d->idx[d->n] = c->idx;
	d->propensity[d->n] = p;
	d->n++;
}

static void pick_weighted(agent_decision *d, cand *c, size_t n, rng *r)
{
	while (d->n < AGENT_SHOWN && n > 0) {
		double total = 0;
		double x;
		size_t i;

		for (i = 0; i < n; i++)
			total += c[i].weight;
		x = rng_uniform(r) * total;
		for (i = 0; i + 1 < n; i++) {
			if (x < c[i].weight)
				break;
			x -= c[i].weight;
		}
		choose(d, &c[i], c[i].weight / total);
		take(c, &n, i);
	}
}

static void pick_epsilon(agent_decision *d, cand *c, size_t n, double eps, rng *r)
{
	while (d->n < AGENT_SHOWN && n > 0) {
		double best = -INFINITY;
		size_t ties = 0;
		size_t i;
		size_t pick;
		int is_best;

		for (i = 0; i < n; i++) {
			if (c[i].score > best) {
				best = c[i].score;
				ties = 1;
			} else if (c[i].score == best) {
				ties++;
			}
		}
		if (rng_uniform(r) < eps) {
			pick = (size_t)rng_below(r, n);
		} else {
			size_t k = (size_t)rng_below(r, ties);

			for (pick = 0; pick < n; pick++) {
				if (c[pick].score == best && k-- == 0)
					break;
			}
		}
		/* Exact: greedy mass split among the tied best, plus exploration. */
		is_best = c[pick].score == best;
		choose(d, &c[pick], (is_best ? (1.0 - eps) / (double)ties : 0.0) + eps / (double)n);
		take(c, &n, pick);
	}
}

/* Picks the top scores; ties broken at random; propensity 1/ties per slot. */
static void pick_top(agent_decision *d, cand *c, size_t n, rng *r)
{
	while (d->n < AGENT_SHOWN && n > 0) {
		double best = -INFINITY;
		size_t ties = 0;
		size_t k;
		size_t pick;

		for (size_t i = 0; i < n; i++) {
			if (c[i].score > best) {
				best = c[i].score;
				ties = 1;
			} else if (c[i].score == best) {
				ties++;
			}
		}
		k = (size_t)rng_below(r, ties);
		for (pick = 0; pick < n; pick++) {
			if (c[pick].score == best && k-- == 0)
				break;
		}
		choose(d, &c[pick], 1.0 / (double)ties);
		take(c, &n, pick);
	}
}

static double beta_a(const vstats *s)
{
	return 1.0 + s->pa + s->succ;
}

static double beta_b(const vstats *s)
{
	return 1.0 + s->pb + s->fail;
}

/*
 * Thompson sampling's propensities have no closed form; estimate
 * P(offer at slot k | earlier slots) by re-drawing `draws` times.
 */
static void thompson_propensities(agent_decision *d, const cand *all, size_t n, int draws,
                                  rng *r)
{
	size_t hits[AGENT_SHOWN] = {0};

	for (int t = 0; t < draws; t++) {
		unsigned char used[REQ_OFFERS_MAX] = {0};
		double s[REQ_OFFERS_MAX];

		for (size_t i = 0; i < n; i++)
			s[i] = rng_beta(r, beta_a(&all[i].st), beta_b(&all[i].st));
		for (size_t k = 0; k < d->n; k++) {
			size_t best = SIZE_MAX;

			for (size_t i = 0; i < n; i++) {
				if (!used[i] && (best == SIZE_MAX || s[i] > s[best]))
					best = i;
			}
			if (best != SIZE_MAX && all[best].idx == d->idx[k])
				hits[k]++;
			/* Condition on the slots actually shown. */
			for (size_t i = 0; i < n; i++) {
				if (all[i].idx == d->idx[k])
					used[i] = 1;
			}
		}
	}
	for (size_t k = 0; k < d->n; k++) {
		/* Never log 0: a shown offer had positive probability. */
		double p = ((double)hits[k] + 0.5) / ((double)draws + 1.0);

		d->propensity[k] = p > 1.0 ? 1.0 : p;
	}
}

int agent_decide(const agent_conf *c, values *v, rng *r, const char *company,
                 const predict_req *req, const char *rfm, agent_decision *out)
{
	cand cands[REQ_OFFERS_MAX];
	cand copy[REQ_OFFERS_MAX];
	const char *names[REQ_OFFERS_MAX];
	vstats st[REQ_OFFERS_MAX];
	int level[REQ_OFFERS_MAX];
	size_t n = 0;
	double total_n = 0;

	memset(out, 0, sizeof(*out));
	customer_segment(&req->customer, rfm, out->segment, sizeof(out->segment));
	customer_state_key(out->segment, &req->date, out->state_key, sizeof(out->state_key));
	for (size_t i = 0; i < req->n_offers; i++) {
		if (!req->allowed[i])
			continue;
		cands[n].idx = i;
		cands[n].weight = agent_brief_weight(&req->customer, req->offers[i], i);
		names[n] = req->offers[i];
		n++;
	}
	if (n == 0)
		return ERR_INVAL;
	if (agent_policy_contextual(c->policy))
		return model_decide(c, r, company, req, rfm, out);
	if (c->policy != POLICY_WEIGHTED && c->policy != POLICY_RANDOM) {
		values_lookup(v, company, out->state_key, out->segment, names, n, st, level);
		for (size_t i = 0; i < n; i++) {
			cands[i].st = st[i];
			total_n += st[i].n + st[i].pw;
		}
	}
	switch (c->policy) {
	case POLICY_WEIGHTED:
		pick_weighted(out, cands, n, r);
		break;
	case POLICY_RANDOM:
		for (size_t i = 0; i < n; i++)
			cands[i].weight = 1.0;
		pick_weighted(out, cands, n, r);
		break;
	case POLICY_EPSILON_GREEDY:
		/* Unseen offers value 0: above offers customers ignore (-2 mean),
		 * below the ones they accept, as the brief's initial values. */
		for (size_t i = 0; i < n; i++)
			cands[i].score = values_mean(&cands[i].st, 0.0);
		pick_epsilon(out, cands, n, c->epsilon, r);
		break;
	case POLICY_THOMPSON:
		memcpy(copy, cands, sizeof(cand) * n);
		for (size_t i = 0; i < n; i++)
			cands[i].score = rng_beta(r, beta_a(&cands[i].st), beta_b(&cands[i].st));
		pick_top(out, cands, n, r);
		thompson_propensities(out, copy, n, c->ts_draws, r);
		break;
	case POLICY_UCB: {
		double span = c->r_accept - c->r_ignore;

		for (size_t i = 0; i < n; i++) {
			double cnt = cands[i].st.n + cands[i].st.pw;
			double mean = (values_mean(&cands[i].st, c->r_ignore) - c->r_ignore) / span;

			if (cnt <= 0) {
				cands[i].score = INFINITY;  /* try every offer once */
				continue;
			}
			mean = mean < 0 ? 0 : mean > 1 ? 1 : mean;
			cands[i].score = mean + c->ucb_c * sqrt(2.0 * log(total_n + 1.0) / cnt);
		}
		pick_top(out, cands, n, r);
		break;
	}
	default:
		return ERR_INVAL;
	}
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

void agent_rewards(const agent_conf *c, const char offers[][64], int n, int accepted,
                   const char *accepted_offer, const char *clicked, double *rewards,
                   int *success)
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
