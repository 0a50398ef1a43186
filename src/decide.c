/*
 * decide.c — one decision and the episode that records it (see decide.h).
 * Policy-agnostic: the choice is agent_decide's; this file only copies the
 * decision, the version and the request into the episode's fields.
 */
#include "decide.h"

#include <string.h>

#include <jansson.h>

#include "util.h"

_Static_assert(OFFERS_SHOWN == OFFERS_SHOWN, "an episode holds the offers a decision shows");

int decide_episode(const agent_conf *conf, values *v, rng *r, const char *company,
                   const predict_req *req, const char *rfm, decide_result *out, episode *ep)
{
	int rc;

	memset(ep, 0, sizeof(*ep));
	if (strlen(company) >= sizeof(out->company))
		return ERR_RANGE;
	out->conf = *conf;
	rc = agent_decide(&out->conf, v, r, company, req, rfm, &out->dec);
	if (rc != 0)
		return rc;
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
	return 0;
}

/* The shadow's slate as {"version","policy","offers":[...],"propensities":[...]}. */
static void decide_shadow(const decide_arms *a, values *v, rng *r, const char *company,
                          const predict_req *req, const char *rfm, decide_result *out, episode *ep)
{
	agent_conf c = a->challenger;
	agent_decision d;
	json_t *offers;
	json_t *props;
	json_t *j;
	size_t len;

	c.shadow = 1;
	if (agent_decide(&c, v, r, company, req, rfm, &d) != 0)
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
                        const predict_req *req, const char *rfm, decide_result *out, episode *ep)
{
	int challenger = experiment_serves_challenger(&a->x, company, req->customer_id);
	int rc;

	rc = decide_episode(challenger ? &a->challenger : &a->champion, v, r, company, req, rfm, out,
	                    ep);
	if (rc != 0)
		return rc;
	out->role = challenger ? EXPERIMENT_CHALLENGER : EXPERIMENT_CHAMPION;
	out->shadow[0] = '\0';
	if (a->x.shadow && a->x.challenger[0] != '\0')
		decide_shadow(a, v, r, company, req, rfm, out, ep);
	return 0;
}
