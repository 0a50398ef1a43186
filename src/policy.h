/*
 * policy.h — one interface for every policy (issue 13 point 1). A policy
 * is one file (policy_<name>.c) and one row of a table in policy.c.
 *
 * Tabular policies read values.h's statistics of the customer's state,
 * shrunk toward its segment's and the company's (values_blend). Each says,
 * for the offers not yet taken, the exact probability of each being chosen
 * at the next slot (slot_probs); policy_tab_decide draws every slot from
 * those probabilities and logs the probability it drew with, and
 * `offerctl evaluate` (ope.c) scores a candidate with the same function, so
 * decisions, logged propensities and evaluation cannot disagree:
 *   weighted        the brief's rl_agent weights (policy_weighted.c)
 *   epsilon-greedy  best mean with prob 1-epsilon, else uniform (policy_egreedy.c)
 *   thompson        Beta-Bernoulli Thompson sampling, one draw per slot,
 *                   win probabilities by quadrature (policy_thompson.c)
 *   ucb             UCB1 on rewards rescaled to [0, 1] (policy_ucb.c)
 *   random          uniform (policy_random.c)
 *
 * Contextual policies: its name, its parameters (a table of bounded numbers parsed
 * from the agent version's PARAMS JSON), how it decides a slate of up to
 * OFFERS_SHOWN distinct allowed offers with the exact probability of each
 * slot's choice given the earlier slots, how it learns from the rewards of
 * a slate, and how its learned state is saved, merged and loaded as
 * additive sufficient statistics (ridge.h states the merge rule).
 *
 * Policies:
 *   linear-ts   Bayesian ridge model per offer over the request's features,
 *               Thompson sampling slot by slot (policy_lints.c)
 *   squarecb    the same regression, inverse-gap weighting slot by slot
 *               (Foster & Rakhlin 2020; Vowpal Wabbit's --squarecb)
 *
 * Slates are learned as slates: each slot is one decision with the slot as
 * a feature (slot_features), and a reward teaches only the slots the
 * customer plausibly looked at (cascade: the slots above and including the
 * accepted one; every slot when none was accepted).
 *
 * Not synchronised: a policy is used by one thread at a time.
 */
#ifndef OFFERD_POLICY_H
#define OFFERD_POLICY_H

#include <stddef.h>

#include "feat.h"
#include "request.h"
#include "rng.h"
#include "util.h"
#include "values.h"

typedef struct policy policy;

typedef struct policy_slate {
	size_t n;                        /* offers chosen, 1..OFFERS_SHOWN */
	size_t idx[OFFERS_SHOWN];        /* indexes into the request's offers */
	double propensity[OFFERS_SHOWN]; /* P(chosen at slot k | slots before k) */
} policy_slate;

/* What a customer did with a slate, on the agent's reward scale. */
typedef struct policy_feedback {
	size_t n;
	double reward[OFFERS_SHOWN];          /* r_accept, r_click or r_ignore */
	unsigned char credited[OFFERS_SHOWN]; /* 1: the customer looked at this slot */
} policy_feedback;

/* One bounded numeric parameter: PARAMS key, bounds, default, where it goes. */
typedef struct policy_param {
	const char *name;
	double min;
	double max;
	double dflt;
	size_t offset; /* of a double in the policy's parameter struct */
} policy_param;

/* The parameters every ridge-based policy shares. */
typedef struct policy_common {
	double bits;          /* feature buckets 2^bits (3..7, default 6) */
	double lambda;        /* ridge prior precision (default 1) */
	double forgetting;    /* per learned episode, (0.9, 1] (default 0.9995) */
	double slot_features; /* 1: the slot is a feature of each decision */
	double logistic;      /* 1: logistic model (Laplace), 0: linear on [0, 1] */
	double r_accept;      /* the agent's reward scale, to map rewards to [0, 1] */
	double r_click;
	double r_ignore;
	double prior_weight; /* observations offerctl train's priors are worth per offer (offerd) */
} policy_common;

struct policy_view;

/* How many other names a policy answers to (policy_find, policy_tab_find). */
#define POLICY_ALIASES_MAX 2

typedef struct policy_type {
	const char *name;
	const char *aliases[POLICY_ALIASES_MAX]; /* other spellings it answers to, or NULL */
	const policy_param *params;              /* the policy's own keys */
	size_t nparams;
	size_t params_size; /* its parameter struct, policy_common first */
	/* Fills the policy's own state after the common part is set; may be NULL. */
	int (*init)(policy *p);
	/* May be NULL: then each slot is drawn from cand_probs (policy_decide). */
	int (*decide)(policy *p, const feat_ctx *ctx, const predict_req *req, rng *r, policy_slate *out);
	/*
	 * P(request offer i is chosen at slot before->n | the slots of before)
	 * for every offer (0 for those taken or not allowed): the probabilities
	 * decide draws from, for offerctl evaluate (ope.c). May be NULL when
	 * cand_probs is set (policy_slot_probs).
	 */
	void (*slot_probs)(policy *p, const feat_ctx *ctx, const predict_req *req,
	                   const policy_slate *before, double *probs);
	/*
	 * The same probabilities over only the n offers not yet shown, cand[]
	 * (policy_remaining's, n >= 1), into prob[0..n): the one place a policy
	 * that has it says how it weighs a slot, for deciding and for slot_probs.
	 */
	void (*cand_probs)(policy *p, const struct policy_view *view, const predict_req *req,
	                   const size_t *cand, size_t n, size_t slot, double *prob);
} policy_type;

/* A policy_type's own parameters: their table and the struct they fill (policy_common first). */
#define POLICY_PARAMS(table, params_type) \
	.params = (table), .nparams = UTIL_ARRAY_LEN(table), .params_size = sizeof(params_type)

struct policy {
	const policy_type *type;
	void *params; /* policy_common first, owned */
	struct ridge *stats;
};

/* The policy named name (case-insensitive, with aliases), or NULL. */
const policy_type *policy_find(const char *name);
/* Row i of the table (agent.h's enum agent_policy order from POLICY_LINEAR_TS), or NULL past the end. */
const policy_type *policy_at(size_t i);

/*
 * A new policy of type t with empty statistics, parameters from params (a
 * JSON object text, or NULL). The agent's keys (reward_*, epsilon-greedy's
 * and Thompson's) are accepted; any other unknown key or value out of bounds
 * is an error written to err. The caller frees *out with policy_free.
 */
int policy_new(const policy_type *t, const char *params, policy **out, char *err, size_t errlen);
void policy_free(policy *p);
const policy_common *policy_params(const policy *p);

/* Decides for req (at least one allowed offer); ctx from feat_context(req). */
int policy_decide(policy *p, const feat_ctx *ctx, const predict_req *req, rng *r, policy_slate *out);
/* The policy's slot_probs (policy_type): the exact probabilities of the next slot. */
void policy_slot_probs(policy *p, const feat_ctx *ctx, const predict_req *req,
                       const policy_slate *before, double *probs);
/*
 * The examples of the credited slots of a slate shown for ctx, added to
 * into (p's own statistics, or a delta with p's bits): a logistic model's
 * Laplace step reads p's current mean. No tick of the clock.
 */
int policy_examples(policy *p, struct ridge *into, const feat_ctx *ctx, const predict_req *req,
                    const policy_slate *shown, const policy_feedback *fb);
/* Learns the credited slots of a slate shown for ctx (policy_examples into p, one tick). */
int policy_learn(policy *p, const feat_ctx *ctx, const predict_req *req, const policy_slate *shown,
                 const policy_feedback *fb);
/*
 * The model's value of request offer i at slot: the posterior mean on the
 * model's scale (a logit when logistic) and its variance factor.
 */
void policy_predict(policy *p, const feat_ctx *ctx, const predict_req *req, size_t i, size_t slot,
                    double *mean, double *var);
/*
 * The same, fast, for the decisions of one request: the context's vector is
 * built once (policy_view_init) and each (offer, slot) adds its own buckets
 * (shown last, slot). var may be NULL when only the mean is wanted.
 */
typedef struct policy_view {
	feat_vec x;                  /* the context, bias included */
	uint32_t last;               /* bucket of lastoffer=this */
	uint32_t slot[OFFERS_SHOWN]; /* bucket of slot=k (k >= 1) */
	const feat_ctx *ctx;
} policy_view;

void policy_view_init(const policy *p, const feat_ctx *ctx, policy_view *out);
void policy_view_predict(policy *p, const policy_view *v, const predict_req *req, size_t i, size_t slot,
                         double *mean, double *var);
/*
 * A copy of p whose caches are all solved (ridge_snapshot), with the prior's
 * pseudo-observations added (may be NULL): decisions with
 * it only read it, so HTTP threads may share one. Freed with policy_free;
 * never learned.
 */
policy *policy_snapshot(policy *p, const struct ridge *prior);
/* A mean of policy_predict as a value on [0, 1]. */
double policy_value(const policy *p, double mean);
/* Credits slots 0..accepted_slot, or all n when accepted_slot < 0 (cascade). */
void policy_cascade(size_t n, int accepted_slot, unsigned char *credited);

/* --- explanations (issue 17.3: /predict?explain=1) ---------------------------- */

#define POLICY_EXPLAIN_TOP 5        /* features reported per shown offer */
#define POLICY_EXPLAIN_NAME_MAX 160 /* a feature's or "state=KEY"'s name, with its NUL */

/* Why one shown offer took its slot. */
typedef struct policy_explanation {
	double score;       /* contextual: the model's value on [0, 1]; tabular: the policy's score */
	double uncertainty; /* the score's posterior standard deviation */
	int explored;       /* the slot's offer was not the policy's first choice for the slot */
	int tabular;        /* value and count below are set, top[] names the state */
	double value;       /* tabular: the state's (blended) mean reward */
	double count;       /* tabular: rewards observed for the offer in the state */
	size_t ntop;
	struct {
		char name[POLICY_EXPLAIN_NAME_MAX];
		double
		    weight; /* contribution to the score: weight x value (logit scale when logistic) */
	} top[POLICY_EXPLAIN_TOP];
} policy_explanation;

/*
 * Explains the slate shown for ctx: per slot, the model's value of the
 * offer and its uncertainty, whether an offer the model valued higher was
 * left for the slot (explored), and the context features (names, from
 * feat_context_named) whose posterior mean weight x value moved the score
 * most. Reads p only (a snapshot is safe to share).
 */
void policy_explain(policy *p, const feat_ctx *ctx, const feat_names *names, const predict_req *req,
                    const policy_slate *shown, policy_explanation *out);

/* The learned state as JSON (ridge.h's format): totals, or the delta since the last delta. */
int policy_save(policy *p, int delta, buf *out);
/* Adds another process's delta (or totals) to the statistics. */
int policy_merge(policy *p, const char *json, size_t len, char *err, size_t errlen);
/* Replaces the statistics. */
int policy_load(policy *p, const char *json, size_t len, char *err, size_t errlen);

/* --- tabular policies ---------------------------------------------------------- */

struct agent_conf;

/* One allowed offer as a tabular policy sees it. */
typedef struct policy_tab_offer {
	size_t idx;    /* index into the request's offers (or ope's choice set) */
	double weight; /* the brief's weight of the offer for this customer */
	vstats st;     /* statistics of the state, shrunk (values_blend) */
	double score;  /* the policy's score, from prepare */
} policy_tab_offer;

typedef struct policy_tab policy_tab;

typedef struct policy_tab_type {
	const char *name;
	const char *aliases[POLICY_ALIASES_MAX]; /* other spellings it answers to, or NULL */
	int stats;                               /* 1: reads values.h's statistics */
	/* Scores t's offers once per decision; may allocate t->scratch. May be NULL. */
	void (*prepare)(policy_tab *t);
	/*
	 * P(offer i is chosen at the next slot) for every offer of t, given the
	 * offers already taken (taken[i] != 0, probability 0); exact, summing to
	 * 1 over the others (at least one is not taken).
	 */
	void (*slot_probs)(const policy_tab *t, const unsigned char *taken, double *probs);
} policy_tab_type;

struct policy_tab {
	const policy_tab_type *type;
	const struct agent_conf *conf;
	size_t n;
	policy_tab_offer o[REQ_OFFERS_MAX];
	double total_n; /* sum of the offers' evidence (UCB's log term) */
	void *scratch;  /* the policy's own, freed by policy_tab_clear */
};

/* The tabular policy named name (case-insensitive, with aliases), or NULL. */
const policy_tab_type *policy_tab_find(const char *name);
/* Row i of the table (agent.h's enum agent_policy order), or NULL past the end. */
const policy_tab_type *policy_tab_at(size_t i);

/*
 * Sets t up for one decision of conf's policy among the n offers names
 * (idx[i] their indexes in the caller's list) for customer in state_key of
 * segment, reading v's statistics of company. The caller calls
 * policy_tab_clear(t) afterwards.
 */
void policy_tab_init(policy_tab *t, const struct agent_conf *conf, values *v, const char *company,
                     const char *state_key, const char *segment, const customer_attrs *customer,
                     const char *const *names, const size_t *idx, size_t n);
void policy_tab_clear(policy_tab *t);
/*
 * Fills up to OFFERS_SHOWN distinct offers slot by slot, each drawn from
 * slot_probs; out->idx are the offers' idx, out->propensity the exact
 * probability each was drawn with.
 */
void policy_tab_decide(policy_tab *t, rng *r, policy_slate *out);
/* Draws one index of probs[0..n) by its probability, skipping skip[i] (skip
 * may be NULL) and non-positive entries; the last drawable index absorbs
 * rounding. SIZE_MAX when none is drawable. Consumes one rng_uniform. */
size_t policy_draw(rng *r, const double *probs, const unsigned char *skip, size_t n);
/* Appends offer idx with its propensity to the slate (caller keeps n < OFFERS_SHOWN). */
void policy_slate_add(policy_slate *s, size_t idx, double propensity);
/* Helpers for slot_probs, to name in a policy_tab_type: uniform over the offers not taken, */
void policy_tab_uniform(const policy_tab *t, const unsigned char *taken, double *probs);
/* proportional to o[i].weight, */
void policy_tab_weighted(const policy_tab *t, const unsigned char *taken, double *probs);
/* split among the best scores; */
void policy_tab_best(const policy_tab *t, const unsigned char *taken, double *probs);
/* eps uniform over the offers not taken, 1 - eps split among the best scores. */
void policy_tab_greedy(const policy_tab *t, const unsigned char *taken, double eps, double *probs);

/* --- helpers for the policies' files ------------------------------------------ */

/* The features of request offer i at slot, as the policy's parameters say. */
void policy_features(const policy *p, const feat_ctx *ctx, const predict_req *req, size_t i, size_t slot,
                     feat_vec *out);
/* The allowed offers of req not yet in s, into cand; returns their number. */
size_t policy_remaining(const predict_req *req, const policy_slate *s, size_t *cand);

extern const policy_tab_type policy_weighted_type;
extern const policy_tab_type policy_egreedy_type;
extern const policy_tab_type policy_thompson_type;
extern const policy_tab_type policy_ucb_type;
extern const policy_tab_type policy_random_type;

extern const policy_type policy_lints_type;
extern const policy_type policy_squarecb_type;

#endif
