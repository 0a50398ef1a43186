/*
 * decide.h — one decision and the episode that records it.
 *
 * Every caller that decides for a customer (/predict, /predict-v2, /batch
 * and the simulator) goes through decide_episode(): it asks the agent
 * (agent_decide, whatever the policy) for up to three offers and fills the
 * episode the writer stores, so the episode's fields are set in one place.
 * The caller gathers the inputs (the agent version, the learned values,
 * the customer's segment) and owns what the episode borrows.
 */
#ifndef OFFERD_DECIDE_H
#define OFFERD_DECIDE_H

#include <stddef.h>

#include "agent.h"
#include "db.h"
#include "experiment.h"
#include "request.h"
#include "rng.h"
#include "store.h"
#include "values.h"

#define DECIDE_COMPANY_MAX 64

/*
 * What an episode points into: a copy of the agent version that decided,
 * the decision, and the request's strings. Owns no heap memory.
 */
typedef struct decide_result {
	agent_conf conf;
	agent_decision dec;
	char company[DECIDE_COMPANY_MAX];
	char customer_id[REQ_ID_MAX + 1];
	char request_ts[40];
	char offers[OFFERS_SHOWN][REQ_OFFER_NAME_MAX + 1]; /* in slot order */
	enum experiment_role role;          /* the arm that served: champion or challenger */
	char shadow[EXPERIMENT_SHADOW_MAX]; /* a shadow version's slate (JSON), "" when none */
} decide_result;

/*
 * Decides for req with agent version conf over the learned values v and
 * fills ep (id 0) with the episode that records the decision. rfm is the
 * customer's known segment or NULL; r is the caller's random stream.
 * ep's strings point into out, except ep->states, which borrows
 * req->states_text: out (and that text) must outlive ep.
 * Returns 0, ERR_INVAL when no offer is allowed, or ERR_RANGE when company
 * is too long.
 */
int decide_episode(const agent_conf *conf, values *v, rng *r, const char *company,
                   const predict_req *req, const char *rfm, decide_result *out, episode *ep);

/*
 * The versions a request may be decided with during an experiment
 * (experiment.h): the champion, and when x.challenger is set a challenger
 * that serves x.traffic percent of each company's customers, or a shadow
 * (x.shadow) that decides on every request without serving.
 */
typedef struct decide_arms {
	agent_conf champion;
	agent_conf challenger; /* meaningful when x.challenger is set */
	db_experiment x;
} decide_arms;

/*
 * The one place that picks a request's version: the challenger when the
 * customer falls in its share (experiment_serves_challenger), else the
 * champion; then decide_episode. With a shadow, the shadow decides too and
 * its slate and propensities go to out->shadow (ep->shadow points there);
 * it never serves, and a shadow that cannot decide leaves no slate.
 * Returns what decide_episode returns.
 */
int decide_arms_episode(const decide_arms *a, values *v, rng *r, const char *company,
                        const predict_req *req, const char *rfm, decide_result *out, episode *ep);

#endif
