/*
 * decide.h — one decision and the episode that records it.
 *
 * Every caller that decides for a customer (/predict, /predict-v2, /batch
 * and the simulator) goes through decide_episode(): it asks the agent
 * (agent_decide, whatever the policy) for up to three offers and fills the
 * episode the writer stores, so the episode's fields are set in one place.
 * The caller gathers the inputs (the agent version, the learned values,
 * the customer's segment) and owns what the episode borrows.
 *
 * Before the agent is asked, the company's eligibility (decide_gate: its
 * rules in force and the contact history) narrows the offers the client
 * allowed; the agent draws among the eligible ones only, so the episode's
 * propensities are over the eligible set. The episode records that set and,
 * for every offer left out, why (tb_episodes.eligibility).
 */
#ifndef OFFERD_DECIDE_H
#define OFFERD_DECIDE_H

#include <stddef.h>

#include "agent.h"
#include "contact.h"
#include "db.h"
#include "experiment.h"
#include "request.h"
#include "rng.h"
#include "rules.h"
#include "store.h"
#include "values.h"

#define DECIDE_WHY_MAX 512 /* the message when nothing is eligible */

/* What narrows a company's offers before the agent decides. */
typedef struct decide_gate {
	rules *rules;           /* the company's rules in force; NULL: none */
	contact_book *contacts; /* the contact history; NULL: no contact policy is checked */
	double now;             /* seconds since the epoch, for the contact policy's windows */
} decide_gate;

/*
 * What an episode points into: a copy of the agent version that decided,
 * the decision, and the request's strings. Owns no heap memory.
 */
typedef struct decide_result {
	agent_conf conf;
	agent_decision dec;
	char company[DB_COMPANY_MAX];
	char customer_id[CUSTOMER_ID_MAX + 1];
	char request_ts[40];
	char offers[OFFERS_SHOWN][REQ_OFFER_NAME_MAX + 1]; /* in slot order */
	unsigned char eligible[REQ_OFFERS_MAX]; /* by the request's offers: allowed and not excluded */
	size_t n_eligible;
	/*
	 * {"eligible":[...],"excluded":[{"offer","why"}]} as JSON text, owned
	 * (decide_result_free); NULL without a gate. why is "client flag",
	 * "rule line N", "cap line N", "cooldown line N" or "not-last line N".
	 */
	char *eligibility;
	char why[DECIDE_WHY_MAX];  /* when nothing was eligible: which offers were left out and why */
	enum experiment_role role; /* the arm that served: champion or challenger */
	char shadow[EXPERIMENT_SHADOW_MAX]; /* a shadow version's slate (JSON), "" when none */
} decide_result;

/*
 * Decides for req with agent version conf over the learned values v and
 * fills ep (id 0) with the episode that records the decision. rfm is the
 * customer's known segment or NULL; r is the caller's random stream; g (may
 * be NULL: only the client's flags count) the company's eligibility.
 * ep's strings point into out, except ep->states, which borrows
 * req->states_text: out (and that text) must outlive ep. The caller frees
 * out with decide_result_free() whatever the result.
 * Returns 0, ERR_INVAL when no offer is eligible (out->why says why), or
 * ERR_RANGE when company is too long.
 */
int decide_episode(const agent_conf *conf, values *v, rng *r, const char *company,
                   const predict_req *req, const char *rfm, const decide_gate *g, decide_result *out,
                   episode *ep);
/* Frees what out holds (not out itself); out may be zeroed or already freed. */
void decide_result_free(decide_result *out);

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
 * over the same eligible set (g, as decide_episode applies it), and its
 * slate and propensities go to out->shadow (ep->shadow points there);
 * it never serves, and a shadow that cannot decide leaves no slate.
 * Returns what decide_episode returns.
 */
int decide_arms_episode(const decide_arms *a, values *v, rng *r, const char *company,
                        const predict_req *req, const char *rfm, const decide_gate *g,
                        decide_result *out, episode *ep);

#endif
