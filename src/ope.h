/*
 * ope.h — off-policy evaluation: how would a candidate policy have done on
 * the customers we logged, from the episodes and rewards in the database
 * and the propensities the logging policy recorded (agent.h).
 *
 * Two estimands, both acceptance rates over the logged contexts:
 *   slate   P(some offer of the slate is accepted). The action is the
 *           ordered slate; its logged probability is the product of the
 *           three logged slot propensities P(o_k | o_1..o_k-1), the
 *           candidate's the product of its own slot probabilities. No
 *           assumption on how customers read a slate; high variance, since
 *           one slate among n(n-1)(n-2) must match.
 *   first   P(the first slot's offer is accepted). The action is the first
 *           offer, logged with propensity_1; needs the accepted offer's id
 *           (accepted_offer in /rewards). Assumes the first slot's outcome
 *           does not depend on the offers below it (customers read top-down,
 *           as in a cascade); much lower variance.
 * For each: the logged policy's actual rate, IPS, self-normalised IPS,
 * doubly robust, clipped IPS and switch-DR estimates with 95%
 * normal-approximation intervals. DR's
 * reward model is fitted on the logs with two-fold cross-fitting (the model
 * for one half is fitted on the other half), shrunk state -> segment ->
 * offer -> overall.
 *
 * A tabular candidate is fixed: its policy's slot probabilities (policy.h,
 * the functions /predict draws from) over statistics that do not change
 * during the evaluation. A contextual candidate (linear-ts, squarecb) is
 * replayed: the episodes in log order (time order), each scored with the
 * policy's slot_probs for the episode's context (its states JSON and request
 * timestamp rebuilt into features as the writer does, model.h), then the
 * candidate learns the episode's logged reward (policy_learn, cascade credit,
 * as the simulator's agents do). So it is evaluated as it would have
 * learned, from the rewards the log holds (the log keeps no clicks: the
 * slots not accepted score r_ignore). Episodes without states or timestamp
 * cannot be replayed and are skipped (ope_result.skipped); one whose
 * accepted offer is unknown is scored but not learned.
 */
#ifndef OFFERD_OPE_H
#define OFFERD_OPE_H

#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "intern.h"
#include "request.h"
#include "rng.h"
#include "store.h"
#include "values.h"

#define OPE_OFFERS_MAX REQ_OFFERS_MAX /* the candidate chooses among at most these */
#define OPE_EPISODES_MAX 20000000     /* episodes read in one evaluation */
#define OPE_STATES_MAX 1000000
#define OPE_EXACT_MAX 16 /* offers up to which slate sums are exact */

/* Accepted-slot codes besides 0..2. */
#define OPE_SLOT_NONE (-1)    /* nothing accepted */
#define OPE_SLOT_UNKNOWN (-2) /* accepted, but the reward did not say which offer */

typedef struct ope_episode {
	uint32_t state;                  /* index into the log's state keys */
	uint8_t n;                       /* offers shown, 1..3 */
	int8_t slot;                     /* accepted slot, OPE_SLOT_NONE or OPE_SLOT_UNKNOWN */
	uint16_t shown[OFFERS_SHOWN];    /* indexes into the log's offers */
	double propensity[OFFERS_SHOWN]; /* logged P(shown[k] | shown[0..k-1]) */
	customer_attrs customer;         /* for the weighted policy */
	char *states;                    /* the request's states JSON and timestamp, or NULL */
	char *ts;                        /*   (ope_log_context; contextual candidates) */
} ope_episode;

/* The log's string -> index tables (intern.h). */
typedef intern_table ope_intern;

/* The episodes of one evaluation. Initialise with ope_log_init. */
typedef struct ope_log {
	ope_episode *eps;
	size_t n;
	size_t cap;
	ope_intern *states;      /* state keys */
	ope_intern *segments;    /* their segments */
	uint32_t *state_segment; /* segment index of each state */
	size_t state_cap;
	ope_intern *offers; /* the candidate's choice set */
	/* What was read but not used, for the report. */
	size_t read;
	size_t no_propensity; /* logged without state or propensities */
	size_t no_reward;     /* without a reward (counted or skipped: see missing) */
	size_t unknown_offer; /* an offer past OPE_OFFERS_MAX */
	char policies[256];   /* logged policies, "epsilon-greedy 1200, ucb 30" */
	/*
	 * Optional, set after ope_log_init: ope_load calls it every
	 * OPE_PROGRESS_EVERY rows read; a non-zero return stops the read
	 * (ope_load returns ERR_UNAVAIL).
	 */
	int (*on_read)(void *arg, size_t read);
	void *on_read_arg;
} ope_log;

void ope_log_init(ope_log *l);
void ope_log_free(ope_log *l);
/* Adds an offer to the choice set (idempotent); returns its index or ERR_TOOBIG. */
int ope_log_offer(ope_log *l, const char *offer);
size_t ope_log_noffers(const ope_log *l);
const char *ope_log_offer_name(const ope_log *l, size_t i);
const char *ope_log_state_key(const ope_log *l, size_t i);

/*
 * Adds one logged episode. offers[0..n-1] are the shown offers in slot
 * order with their logged propensities; accepted_offer (may be NULL) is the
 * exact credit when accepted. Returns 0, ERR_INVAL (bad propensities) or
 * ERR_TOOBIG (a limit).
 */
int ope_log_add(ope_log *l, const char *state_key, const customer_attrs *customer,
                const char *const *offers, const double *propensity, int n, int accepted,
                const char *accepted_offer);

/* Attaches the request's states JSON and timestamp to the episode added last. */
void ope_log_context(ope_log *l, const char *states, const char *timestamp);

enum ope_missing { OPE_MISSING_REJECT = 0, OPE_MISSING_SKIP = 1 };

/* "reject" or "skip" (offerctl evaluate --missing, POST /evaluations' "missing") into *out:
 * 0, or ERR_INVAL for anything else (NULL too). */
int ope_missing_parse(const char *s, enum ope_missing *out);
/* The name of m, as ope_missing_parse reads it. */
const char *ope_missing_name(enum ope_missing m);

/*
 * Reads company's episodes logged at or after `from` and before `to` (the
 * bounds of a date_window, compared with TB_EPISODES.LAST_UPDATE; NULL:
 * unbounded) with their
 * rewards. An episode without a reward counts as not accepted (the default
 * reward after the wait) or is skipped, as missing says. The choice set is
 * the company's catalogue when it has at most OPE_OFFERS_MAX offers, plus
 * every offer logged; offers (comma-separated, may be NULL) replaces it.
 */
int ope_load(store *s, const char *company, const char *from, const char *to, enum ope_missing missing,
             const char *offers, ope_log *out, char *err, size_t errlen);

typedef struct ope_candidate {
	agent_conf conf;        /* policy, epsilon, ucb_c... */
	values *v;              /* its statistics; borrowed */
	const char *company;    /* whose statistics in v */
	uint64_t seed;          /* slates sampled beyond OPE_EXACT_MAX offers */
	double tau;             /* switch-DR's and clipping's threshold; 0: chosen by estimated MSE */
	struct policy *learner; /* a contextual candidate (policy.h), replayed; NULL: tabular */
	/*
	 * Optional: called every OPE_PROGRESS_EVERY episodes with the episodes
	 * scored and their total; a non-zero return stops the evaluation
	 * (ope_evaluate returns ERR_UNAVAIL).
	 */
	int (*progress)(void *arg, size_t done, size_t total);
	void *progress_arg;
} ope_candidate;

#define OPE_PROGRESS_EVERY 1024

/* The thresholds tried when tau is 0, and their number. */
#define OPE_TAUS 12

typedef struct ope_interval {
	double value;
	double lo;
	double hi;
} ope_interval;

typedef struct ope_result {
	size_t n;            /* episodes in this estimand */
	ope_interval logged; /* the logging policy's actual rate */
	ope_interval ips;
	ope_interval snips;
	ope_interval dr;
	/*
	 * For tiny logged propensities (squarecb's can be 1/(K + gamma)):
	 * clipped IPS, mean(min(w, tau) r), and switch-DR (Wang, Agarwal and
	 * Dudik 2017), mean(dm + w (r - q) [w <= tau]), the reward model alone
	 * where the weight passes tau. Their intervals are of the variance only;
	 * bias_bound bounds switch-DR's bias (and clipping's): mean(w [w > tau]),
	 * the candidate's mass on actions weighted past tau, rewards in [0, 1].
	 */
	ope_interval clipped;
	ope_interval switch_dr;
	double tau; /* the threshold used: given, or of least estimated MSE */
	double bias_bound;
	double dm;  /* the reward model alone (no interval) */
	double ess; /* effective sample size (sum w)^2 / sum w^2 */
	double max_weight;
	double support; /* share of episodes with a positive weight */
	size_t skipped; /* episodes a contextual candidate could not replay */
} ope_result;

/*
 * Evaluates the candidate on the log: slate and first-slot estimands
 * (first->n is 0 when no episode says which offer was accepted).
 */
int ope_evaluate(const ope_log *l, const ope_candidate *c, ope_result *slate, ope_result *first);

/*
 * The candidate's probability of choosing each offer of the log's choice
 * set at the next slot, given the offers already taken (taken[i] != 0), for
 * an episode in state state_key with customer: the policy's slot_probs
 * (policy.h), exact for every tabular policy (thompson's by quadrature).
 * probs has ope_log_noffers(l) entries.
 */
int ope_slot_probs(const ope_log *l, const ope_candidate *c, const char *state_key,
                   const customer_attrs *customer, const unsigned char *taken, double *probs);

#endif
