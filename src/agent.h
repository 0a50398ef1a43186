/*
 * agent.h — the decision maker behind /predict. An agent version (a
 * TB_AGENTS row) names a policy and its knobs; the tabular policies
 * (policy.h's table, one file each: weighted, epsilon-greedy, thompson, ucb,
 * random) read the same learned statistics (values.h) and return up to
 * three distinct allowed offers with the exact probability each was chosen
 * with (for off-policy evaluation). enum agent_policy is the table's order.
 */
#ifndef OFFERD_AGENT_H
#define OFFERD_AGENT_H

#include <stddef.h>

#include "db.h"
#include "request.h"
#include "rng.h"
#include "values.h"

/* Defaults of the PARAMS knobs shrink and forgetting (docs/simulation.md measures them). */
#define AGENT_SHRINK_DEFAULT 30.0
#define AGENT_FORGETTING_DEFAULT 0.999
/* A decision's segment and state key, as customer.h makes them. */
#define AGENT_STATE_MAX CUSTOMER_STATE_KEY_MAX
#define AGENT_SEGMENT_MAX CUSTOMER_SEGMENT_MAX

enum agent_policy {
	POLICY_WEIGHTED = 0,
	POLICY_EPSILON_GREEDY,
	POLICY_THOMPSON,
	POLICY_UCB,
	POLICY_RANDOM,
	POLICY_LINEAR_TS, /* contextual (model.c, policy_lints.c) */
	POLICY_SQUARECB,  /* contextual (model.c, policy_squarecb.c) */
};
/* How many policies there are: enum agent_policy's values are 0 to this - 1. */
#define AGENT_POLICY_COUNT (POLICY_SQUARECB + 1)

/* Whether p learns from the request's features (model.h) rather than values.h. */
static inline int agent_policy_contextual(enum agent_policy p)
{
	return p == POLICY_LINEAR_TS || p == POLICY_SQUARECB;
}

#define AGENT_PARAMS_MAX 1024
struct model_set;

typedef struct agent_conf {
	char version[DB_VERSION_MAX];
	enum agent_policy policy;
	double epsilon;     /* epsilon-greedy exploration, [0, 1] */
	double r_accept;    /* reward per shown offer when accepted (+5) */
	double r_click;     /* per clicked offer (+1) */
	double r_ignore;    /* per offer neither accepted nor clicked (-2) */
	double ucb_c;       /* UCB exploration weight */
	int ts_draws;       /* accepted from older versions' PARAMS; unused (thompson is exact) */
	double reward_wait; /* seconds; a later reward is logged, not learned (0: no limit) */
	char params[AGENT_PARAMS_MAX]; /* contextual policies: the version's PARAMS JSON */
	struct model_set *models;      /* contextual policies: the learned models (server) */
	double shrink;     /* pseudo-observations toward the segment and company (0: fallback only) */
	double forgetting; /* per decision, (0.9, 1] (1: never forget) */
	int shadow;        /* a shadow decision (experiment.h): it serves nothing, so it does
	                    * not advance the forgetting clock */
} agent_conf;

/* Returns the policy's name ("epsilon-greedy"...). */
const char *agent_policy_name(enum agent_policy p);
/* Every policy's name, in enum order, for help texts and messages that must be
 * constants; test_agent checks it against agent_policy_name. */
#define AGENT_POLICY_NAMES "weighted, epsilon-greedy, thompson, ucb, random, linear-ts, squarecb"
/* Parses a policy name (case-insensitive, with aliases); returns 0 or ERR_INVAL. */
int agent_policy_parse(const char *name, enum agent_policy *out);
/* Defaults for everything, version "0.0.0". */
void agent_conf_default(agent_conf *c);
/*
 * Builds a configuration from a TB_AGENTS row: policy, epsilon and the
 * PARAMS JSON ({"reward_accept": 5, "reward_click": 1, "reward_ignore": -2,
 * "ucb_c": 1, "thompson_draws": 64, "reward_wait_seconds": 0, "shrink": 10,
 * "forgetting": 0.9995}).
 * Unknown keys are an error so typos do not pass silently.
 */
int agent_conf_from_db(const db_agent *a, agent_conf *out, char *err, size_t errlen);

/*
 * The brief's weight of an offer for a customer (the `weighted` policy):
 * by gender, else region, else age band; OFFER_n takes weights[(n-1) mod len],
 * an offer without a number its position in the request. 1 when nothing is known.
 */
double agent_brief_weight(const customer_attrs *c, const char *offer, size_t position);

typedef struct agent_decision {
	size_t n;                        /* offers chosen, 1..3 */
	size_t idx[OFFERS_SHOWN];        /* indexes into the request's offers */
	double propensity[OFFERS_SHOWN]; /* P(chosen at slot k | slots before) */
	char segment[AGENT_SEGMENT_MAX];
	char state_key[AGENT_STATE_MAX];
} agent_decision;

/*
 * Decides for one request of company. rfm is the customer's known segment
 * or NULL. The request must have at least one allowed offer.
 */
int agent_decide(const agent_conf *c, values *v, rng *r, const char *company, const predict_req *req,
                 const char *rfm, agent_decision *out);

struct policy_explanation;

/*
 * Why decision dec (agent_decide's for req, same arguments) shows what it
 * shows, per slot into out[dec->n] (policy.h): a contextual policy's model
 * values and features (model_explain), or a tabular policy's score, the
 * state's value and count and the slot's choice probabilities. Reads the
 * values as they are now. Returns 0 or ERR_INVAL.
 */
int agent_explain(const agent_conf *c, values *v, const char *company, const predict_req *req,
                  const char *rfm, const agent_decision *dec, struct policy_explanation *out);

/*
 * The per-offer rewards of a /rewards call for the offers its episode showed:
 * accepted_offer gets r_accept and the others r_ignore (clicked ones r_click);
 * without accepted_offer, acceptance gives every shown offer r_accept (the
 * brief's scale) and rejection r_ignore, clicked ones r_click.
 * success[k] is the Bernoulli outcome used by Thompson sampling.
 */
void agent_rewards(const agent_conf *c, const char *const offers[], int n, int accepted,
                   const char *accepted_offer, const char *clicked, double *rewards, int *success);

#endif
