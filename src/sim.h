/*
 * sim.h — a simulated customer population with hidden acceptance
 * probabilities, and a runner that puts an agent in front of it: the real
 * policies (agent_decide, one file each: policy.h) learning through the
 * real writer (writer_run_batch on a SQLite or PostgreSQL store), the same
 * statistics updated in memory only,
 * an oracle that knows the truth, or (ctl_simulate.c) a live offerd over HTTP.
 *
 * The world (docs/simulation.md has the full description):
 *   - 10 offers OFFER_1..OFFER_10, all allowed in every request;
 *   - 4 demographic segments (the agent's REGION-GENDER-AGEBAND buckets)
 *     with shares 40/30/20/10 %;
 *   - states = segment x {January, February, March} x half {0, 1} x
 *     weekday {Wednesday, Saturday}: 48 states, each context drawn
 *     uniformly within its segment;
 *   - per segment 2 strong offers; per state, strong offers accept with
 *     p ~ Beta(4, 8) (mean 1/3), the others with p ~ Beta(1, 15) (mean 1/16);
 *   - drift: from episode drift_at on, a second table holds, drawn the same
 *     way with 2 new strong offers per segment among its 8 former ordinary ones;
 *   - the customer reads the slate top-down (a cascade): slot k is accepted
 *     with p(state, offer_k) if no earlier slot was; every shown offer that is
 *     not accepted is clicked with the same p. The uniforms behind these
 *     choices depend only on (seed, episode, offer), so every policy meets
 *     the same customers (common random numbers): differences between
 *     policies are differences of decisions, not of luck.
 *
 * The contextual world (--world contextual, issue 13 point 7): customers
 * with a continuous age (18-85), gender, region, a sales channel (a key no
 * policy was told about), a client-since date (tenure), the offer shown
 * last, and a date anywhere in 2023. Offer j is accepted with
 * p = sigmoid(a_j + age effects (linear and quadratic) + gender + region +
 * channel + tenure + "shown last" + a seasonal wave + weekend), every
 * coefficient per offer (offer x context interactions); the drift redraws
 * the intercepts and the gender, region and channel effects. The cascade,
 * the clicks and the common random numbers are today's.
 */
#ifndef OFFERD_SIM_H
#define OFFERD_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "request.h"
#include "store.h"
#include "values.h"

#define SIM_OFFERS 10
#define SIM_SEGMENTS 4
#define SIM_MONTHS 3
#define SIM_HALVES 2
#define SIM_WEEKDAYS 2
#define SIM_STATES (SIM_SEGMENTS * SIM_MONTHS * SIM_HALVES * SIM_WEEKDAYS)
#define SIM_STRONG 2
#define SIM_EPISODES_MAX 100000000ULL
/* The contextual world: the agent's state keys it can produce (18 segments x 12 x 2 x 7). */
#define SIM_CSTATES (18 * 12 * 2 * 7)
#define SIM_STATES_MAX SIM_CSTATES

enum sim_kind { SIM_WORLD_TODAY = 0, SIM_WORLD_CONTEXTUAL = 1 };

/* One offer's coefficients in the contextual world (logit scale). */
typedef struct sim_coef {
	double a;          /* intercept */
	double age1, age2; /* z and z^2, z = (age - 50) / 20 */
	double female;
	double region[3];  /* Europa, Americas, Asia */
	double channel[3]; /* web, app, store */
	double tenure;     /* (years - 5) / 4 */
	double last;       /* this offer was shown last */
	double season_amp, season_phase;
	double weekend;
} sim_coef;

typedef struct sim_world {
	enum sim_kind kind;
	uint64_t seed;
	uint64_t drift_at;                   /* 0: no drift */
	double p[2][SIM_STATES][SIM_OFFERS]; /* [regime][state][offer] */
	int strong[2][SIM_SEGMENTS][SIM_STRONG];
	char dates[SIM_MONTHS][SIM_HALVES][SIM_WEEKDAYS][11]; /* YYYY-MM-DD per calendar cell */
	sim_coef coef[2][SIM_OFFERS];                         /* contextual: [regime][offer] */
} sim_world;

/* One simulated customer arriving at episode t. */
typedef struct sim_context {
	uint64_t t;
	size_t state; /* the agent's state: 0..SIM_STATES-1 (contextual: SIM_CSTATES) */
	size_t segment;
	const char *date;            /* borrowed from the world, or date_buf */
	const char *states;          /* the request's states JSON: borrowed, or states_buf */
	double p[SIM_OFFERS];        /* the true acceptance probabilities at t */
	double accept_u[SIM_OFFERS]; /* accepts offer j at its slot iff accept_u[j] < p */
	double click_u[SIM_OFFERS];
	char customer_id[48];
	char date_buf[11];
	char states_buf[192];
} sim_context;

typedef struct sim_outcome {
	int accepted;     /* some slot was accepted */
	int slot;         /* that slot, or -1 */
	unsigned clicked; /* bit k: slot k was clicked */
} sim_outcome;

/* Draws the world from seed (deterministic). drift_at 0 means no drift. */
int sim_world_init(sim_world *w, uint64_t seed, uint64_t drift_at);
/* The same for a kind of world (sim_world_init is SIM_WORLD_TODAY). */
int sim_world_init_kind(sim_world *w, enum sim_kind kind, uint64_t seed, uint64_t drift_at);
/* Parses "today" or "contextual"; returns 0 or ERR_INVAL. */
int sim_kind_parse(const char *name, enum sim_kind *out);
/* "OFFER_<j+1>". */
const char *sim_offer_name(size_t j);
/* The offer index of a name "OFFER_n" with 1 <= n <= SIM_OFFERS, or -1. */
int sim_offer_index(const char *name);
/* The customer attributes of a segment as /predict's "states" JSON text. */
const char *sim_states_json(size_t segment);
/* The true acceptance probabilities of state at episode t (SIM_OFFERS values). */
const double *sim_probs(const sim_world *w, uint64_t t, size_t state);
/* The customer of episode t (deterministic in (seed, t)). */
void sim_context_at(const sim_world *w, uint64_t t, sim_context *out);
/*
 * Fills req as request_parse_predict would for this customer: timestamp,
 * date, states, customer, and every offer allowed. The caller frees it with
 * request_predict_free.
 */
int sim_request(const sim_context *c, predict_req *req);
/* The customer's response to a slate of n offer indexes, in slot order. */
void sim_respond(const sim_world *w, const sim_context *c, const size_t *slate, size_t n,
                 sim_outcome *out);
/* P(some slot is accepted) for the slate shown to c (either world). */
double sim_expected_ctx(const sim_context *c, const size_t *slate, size_t n);
/* The oracle's slate for c: the top three of c->p. */
void sim_oracle_ctx(const sim_context *c, size_t out[OFFERS_SHOWN]);
/* P(some slot is accepted) = 1 - prod(1 - p) for the slate, at episode t (today's world). */
double sim_expected(const sim_world *w, uint64_t t, size_t state, const size_t *slate, size_t n);
/* The best slate (top three by p): what the oracle shows. */
void sim_oracle_slate(const sim_world *w, uint64_t t, size_t state, size_t out[OFFERS_SHOWN]);

/* --- agents facing the simulation ------------------------------------- */

/*
 * An agent for sim_run: decide() chooses a slate for a context, learn()
 * receives the customer's response. flush() (may be NULL) is called at the
 * end. Each returns 0 or a negative ERR_*.
 */
typedef struct sim_agent {
	const char *label;
	int (*decide)(void *arg, const sim_context *c, size_t *slate, size_t *n);
	int (*learn)(void *arg, const sim_context *c, const size_t *slate, size_t n,
	             const sim_outcome *o);
	int (*flush)(void *arg);
	void *arg;
} sim_agent;

/* What sim_run measured for one agent. */
typedef struct sim_stats {
	uint64_t episodes;
	uint64_t accepts;
	uint64_t episodes_after; /* from drift_at on */
	uint64_t accepts_after;
	double expected; /* sum of P(accept) of the slates shown */
	double oracle;   /* the same for the oracle's slates */
	double reward;   /* sum of agent_rewards over shown offers */
	double regret;   /* oracle - expected: expected accepts lost */
	double oracle2;  /* oracle and regret over the second half of the run */
	double regret2;
} sim_stats;

/* Called every `every` episodes and after the last one. */
typedef void (*sim_curve_fn)(void *arg, const char *label, const sim_stats *s);

/*
 * Runs episodes 0..n-1 of the world through agent. rewards scores the
 * reward column with the agent's scale (NULL: the defaults).
 */
int sim_run(const sim_world *w, uint64_t n, const sim_agent *agent, const agent_conf *rewards,
            sim_curve_fn curve, void *curve_arg, uint64_t every, sim_stats *out);

/* The oracle: shows sim_oracle_slate. arg is the world. */
void sim_oracle_agent(const sim_world *w, sim_agent *out);

/*
 * The real agent in process: agent_decide with conf over its own values,
 * learning through writer_run_batch on store s (episodes, then their rewards
 * with episode_id, batch episodes per transaction), exactly as offerd's
 * writer does; with s NULL, the same statistics are updated in memory only
 * (values_set with the rows the writer would have committed).
 * company scopes the rows (e.g. "sim-ucb"). The store stays the caller's.
 */
typedef struct sim_inproc sim_inproc;

int sim_inproc_new(const agent_conf *conf, store *s, const char *company, uint64_t seed, size_t batch,
                   sim_inproc **out);
/* Fills out (label = the policy name); valid while p lives. */
void sim_inproc_agent(sim_inproc *p, sim_agent *out);
/* The learned statistics (owned by p), e.g. to evaluate a candidate after the run. */
values *sim_inproc_values(sim_inproc *p);
void sim_inproc_free(sim_inproc *p);

/*
 * The true value of a fixed candidate (conf over values v, not learning) on
 * the contexts of episodes [from, to): the mean over episodes of
 * P(some slot accepted) in *slate and of P(slot 1 accepted) in *first,
 * averaged over draws decisions per episode (its own randomness).
 */
int sim_truth(const sim_world *w, uint64_t from, uint64_t to, const agent_conf *conf, values *v,
              const char *company, int draws, uint64_t seed, double *slate, double *first);

/* --- the contextual policies of policy.h facing the simulation (sim_policy.c) --- */

struct policy_type;
typedef struct sim_policy sim_policy;

/*
 * A policy of type t with params (JSON text or NULL) learning in memory from
 * every episode (one decision sees every earlier reward). Its draws come
 * from (seed, its name). Errors about params are written to err.
 */
int sim_policy_new(const struct policy_type *t, const char *params, uint64_t seed, sim_policy **out,
                   char *err, size_t errlen);
void sim_policy_agent(sim_policy *p, sim_agent *out);
/* Seconds spent in decisions and in learning so far, and the decisions made. */
void sim_policy_timing(const sim_policy *p, double *decide_s, double *learn_s, uint64_t *n);
void sim_policy_free(sim_policy *p);

#endif
