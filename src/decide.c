/*
 * decide.c — one decision and the episode that records it (see decide.h).
 * Policy-agnostic: the choice is agent_decide's; this file narrows the
 * client's offers to the eligible ones (the company's rules and contact
 * policy), then copies the decision, the version, the request and the
 * eligibility into the episode's fields.
 */
#include "decide.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "personalizer.h"
#include "util.h"

#define DECIDE_ELIGIBILITY_MAX (64 * 1024) /* bytes of the JSON text; 64 offers need ~7 KiB */

static const char *const contact_kind_names[] = {"", "cap", "cooldown", "not-last"};

/* The eligibility JSON text (malloc'd) of req's offers; NULL when it cannot be made. */
static char *eligibility_json(const predict_req *req, const unsigned char *eligible, char why[][32])
{
	buf b;
	int rc;
	int first = 1;

	buf_init(&b, DECIDE_ELIGIBILITY_MAX);
	rc = buf_adds(&b, "{\"eligible\":[");
	for (size_t i = 0; i < req->n_offers && rc == 0; i++) {
		if (!eligible[i])
			continue;
		if (!first)
			rc = buf_add(&b, ",", 1);
		if (rc == 0)
			rc = buf_add_json(&b, req->offers[i]);
		first = 0;
	}
	if (rc == 0)
		rc = buf_adds(&b, "],\"excluded\":[");
	first = 1;
	for (size_t i = 0; i < req->n_offers && rc == 0; i++) {
		if (eligible[i])
			continue;
		rc = buf_adds(&b, first ? "{\"offer\":" : ",{\"offer\":");
		if (rc == 0)
			rc = buf_add_json(&b, req->offers[i]);
		if (rc == 0)
			rc = buf_adds(&b, ",\"why\":");
		if (rc == 0)
			rc = buf_add_json(&b, why[i]);
		if (rc == 0)
			rc = buf_add(&b, "}", 1);
		first = 0;
	}
	if (rc == 0)
		rc = buf_adds(&b, "]}");
	if (rc != 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

/*
 * The states the rules read: the request's, or for a Personalizer rank
 * (whose episode keeps {"contextFeatures": [...]}) the scalar members of
 * the context's objects, the first of a name winning, as its tabular state
 * reads them (api_personalizer.c). A new reference, or NULL.
 */
static json_t *rules_states(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);
	json_t *ctx = json_object_get(j, "contextFeatures");
	json_t *states;

	if (!json_is_array(ctx))
		return j;
	states = pz_context_states(ctx);
	json_decref(j);
	return states;
}

/* Rules on the request's states: deny_line[i] is the line denying offer i, 0 when none. */
static void rules_lines(const rules *r, const predict_req *req, int *deny_line)
{
	int line[CUSTOMER_OFFER_NUM_MAX + 1];
	json_t *states;

	for (size_t i = 0; i < req->n_offers; i++)
		deny_line[i] = 0;
	if (r == NULL || rules_count(r) == 0 || req->states_text == NULL)
		return;
	states = rules_states(req->states_text);
	if (states == NULL)
		return;
	if (rules_deny_lines(r, states, line) > 0) {
		for (size_t i = 0; i < req->n_offers; i++) {
			int n;

			if (customer_offer_number(req->offers[i], &n) == 0)
				deny_line[i] = line[n];
		}
	}
	json_decref(states);
}

/*
 * Fills out->eligible and why[i] for each of req's offers: the client's
 * flag, then the rules, then the contact policy. Returns the number eligible.
 */
static size_t gate_apply(const decide_gate *g, const char *company, const predict_req *req,
                         decide_result *out, char why[][32])
{
	int deny_line[REQ_OFFERS_MAX];
	const rules_contact *hit[REQ_OFFERS_MAX];
	const char *names[REQ_OFFERS_MAX];
	size_t ncontact = 0;
	size_t n = 0;

	rules_lines(g->rules, req, deny_line);
	for (size_t i = 0; i < req->n_offers; i++) {
		why[i][0] = '\0';
		names[i] = req->offers[i];
		out->eligible[i] = 0;
		if (!req->allowed[i])
			util_strlcpy(why[i], "client flag", sizeof(why[i]));
		else if (deny_line[i] > 0)
			snprintf(why[i], sizeof(why[i]), "rule line %d", deny_line[i]);
		else
			out->eligible[i] = 1;
	}
	if (g->rules != NULL)
		(void)rules_contacts(g->rules, &ncontact);
	if (g->contacts != NULL && ncontact > 0 &&
	    contact_check(g->contacts, company, req->customer_id, g->rules, g->now, names, out->eligible,
	                  req->n_offers, hit) > 0) {
		for (size_t i = 0; i < req->n_offers; i++) {
			if (hit[i] == NULL)
				continue;
			out->eligible[i] = 0;
			snprintf(why[i], sizeof(why[i]), "%s line %d", contact_kind_names[hit[i]->kind],
			         hit[i]->line);
		}
	}
	for (size_t i = 0; i < req->n_offers; i++)
		n += out->eligible[i];
	return n;
}

/* out->why: every offer and why it was left out, cut short to fit. */
static void why_none(const predict_req *req, char why[][32], decide_result *out)
{
	size_t len;

	snprintf(out->why, sizeof(out->why),
	         "no offer is eligible for customer %.64s:", req->customer_id);
	for (size_t i = 0; i < req->n_offers; i++) {
		len = strlen(out->why);
		if (len + strlen(req->offers[i]) + strlen(why[i]) + 8 >= sizeof(out->why)) {
			util_strlcpy(out->why + len, " ...", sizeof(out->why) - len);
			return;
		}
		snprintf(out->why + len, sizeof(out->why) - len, "%s %s (%s)", i > 0 ? "," : "",
		         req->offers[i], why[i]);
	}
}

int decide_episode(const agent_conf *conf, values *v, rng *r, const char *company,
                   const predict_req *req, const char *rfm, const decide_gate *g, decide_result *out,
                   episode *ep)
{
	char why[REQ_OFFERS_MAX][32];
	predict_req narrow;
	const predict_req *use = req;
	int rc;

	memset(ep, 0, sizeof(*ep));
	out->eligibility = NULL;
	out->why[0] = '\0';
	if (strlen(company) >= sizeof(out->company))
		return ERR_RANGE;
	if (g != NULL) {
		out->n_eligible = gate_apply(g, company, req, out, why);
		if (out->n_eligible == 0) {
			why_none(req, why, out);
			return ERR_INVAL;
		}
		if (out->n_eligible < req->n_allowed) {
			/* A shallow copy: the agent reads only the flags and what they point at. */
			narrow = *req;
			memcpy(narrow.allowed, out->eligible, sizeof(narrow.allowed));
			narrow.n_allowed = out->n_eligible;
			use = &narrow;
		}
		out->eligibility = eligibility_json(req, out->eligible, why);
	} else {
		memcpy(out->eligible, req->allowed, sizeof(out->eligible));
		out->n_eligible = req->n_allowed;
	}
	out->conf = *conf;
	rc = agent_decide(&out->conf, v, r, company, use, rfm, &out->dec);
	if (rc != 0) {
		decide_result_free(out);
		return rc;
	}
	util_strlcpy(out->company, company, sizeof(out->company));
	util_strlcpy(out->customer_id, req->customer_id, sizeof(out->customer_id));
	util_strlcpy(out->request_ts, req->timestamp, sizeof(out->request_ts));
	ep->company = out->company;
	ep->customer_id = out->customer_id;
	ep->states = req->states_text;
	for (size_t k = 0; k < out->dec.n && k < OFFERS_SHOWN; k++) {
		util_strlcpy(out->offers[k], req->offers[out->dec.idx[k]], sizeof(out->offers[k]));
		ep->offers[k] = out->offers[k];
		ep->propensity[k] = out->dec.propensity[k];
	}
	ep->request_ts = out->request_ts;
	ep->state_key = out->dec.state_key;
	ep->policy = agent_policy_name(out->conf.policy);
	ep->agent_version = out->conf.version;
	/* Only epsilon-greedy explores with epsilon; the others store 0. */
	ep->epsilon = out->conf.policy == POLICY_EPSILON_GREEDY ? out->conf.epsilon : 0.0;
	ep->eligibility = out->eligibility;
	return 0;
}

/* The shadow's slate as {"version","policy","offers":[...],"propensities":[...]}. */
static void decide_shadow(const decide_arms *a, values *v, rng *r, const char *company,
                          const predict_req *req, const char *rfm, decide_result *out, episode *ep)
{
	agent_conf c = a->challenger;
	agent_decision d;
	predict_req narrow = *req; /* shallow: the shadow draws from the same eligible set */
	json_t *offers;
	json_t *props;
	json_t *j;
	size_t len;

	memcpy(narrow.allowed, out->eligible, sizeof(narrow.allowed));
	narrow.n_allowed = out->n_eligible;
	c.shadow = 1;
	if (agent_decide(&c, v, r, company, &narrow, rfm, &d) != 0)
		return;
	offers = json_array();
	props = json_array();
	for (size_t k = 0; k < d.n && k < OFFERS_SHOWN; k++) {
		json_array_append_new(offers, json_string(req->offers[d.idx[k]]));
		json_array_append_new(props, json_real(d.propensity[k]));
	}
	j = json_object();
	json_object_set_new(j, "version", json_string(c.version));
	json_object_set_new(j, "policy", json_string(agent_policy_name(c.policy)));
	json_object_set_new(j, "offers", offers);
	json_object_set_new(j, "propensities", props);
	len = json_dumpb(j, out->shadow, sizeof(out->shadow) - 1, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (len == 0 || len >= sizeof(out->shadow))
		return; /* longer than the column's limit: not logged rather than cut */
	out->shadow[len] = '\0';
	ep->shadow = out->shadow;
}

int decide_arms_episode(const decide_arms *a, values *v, rng *r, const char *company,
                        const predict_req *req, const char *rfm, const decide_gate *g,
                        decide_result *out, episode *ep)
{
	int challenger = experiment_serves_challenger(&a->x, company, req->customer_id);
	int rc;

	rc = decide_episode(challenger ? &a->challenger : &a->champion, v, r, company, req, rfm, g, out,
	                    ep);
	if (rc != 0)
		return rc;
	out->role = challenger ? EXPERIMENT_CHALLENGER : EXPERIMENT_CHAMPION;
	out->shadow[0] = '\0';
	if (a->x.shadow && a->x.challenger[0] != '\0')
		decide_shadow(a, v, r, company, req, rfm, out, ep);
	return 0;
}

void decide_result_free(decide_result *out)
{
	free(out->eligibility);
	out->eligibility = NULL;
}
