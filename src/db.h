/*
 * db.h — offerd's schema and every domain query, written once in portable SQL
 * over the store interface. Where PostgreSQL and SQLite disagree (identity
 * columns, sequences, timestamps, set-based statements) each store provides
 * the text (struct store_sql); db.c never asks which store it has.
 *
 * Tables (all scoped by COMPANY, the tenant):
 *   TB_AGENTS    agent versions: VERSION, POLICY, EPSILON, PARAMS (JSON)
 *   TB_EPISODES  one row per /predict answer, with the decision's propensities
 *   TB_REWARDS   one row per /rewards call, tied to its episode (unique)
 *   TB_PRODUCTS  catalogue: OFFER_ID -> PRODUCT_NAME; view TB_PRODUCTS_A
 *   TB_POLICY    learned statistics per (company, state, offer)
 *   TB_SEGMENTS  RFM segment per known customer (from offerctl train)
 *   TB_API_KEYS  hashed API keys per company
 *   TB_IDEMPOTENCY  Idempotency-Keys per company (24 h): request fingerprint,
 *                the reward's episode; written with the reward it keys
 *   TB_MODEL     the contextual policies' learned statistics per (company,
 *                agent version, offer), and a clock row per (company, version)
 *   TB_ERASURES  one row per erased customer: counts and who asked, no customer id
 */
#ifndef OFFERD_DB_H
#define OFFERD_DB_H

#include <stddef.h>
#include <stdint.h>

#include "customer.h"
#include "store.h"

/* Applies pending migrations (idempotent) and seeds agent 1.0.0 if empty. */
int db_migrate(store *s);
int db_schema_version(store *s, int *out);
/* One round trip that proves the database answers (SELECT 1): 0 or ERR_*. */
int db_ping(store *s);

/* Reads a boolean column as stored by either backend. */
int db_bool(const char *v);
/* Reads a number column: 0 when NULL or not a number. */
double db_num(const char *v);

/* Bytes of a company's name (the tenant), with its NUL. Every buffer that holds one is this
 * size, and every way in refuses a longer name: cut, it would be another company's. */
#define DB_COMPANY_MAX 64

/* --- agents ----------------------------------------------------------- */
#define DB_VERSION_MAX 64
#define DB_POLICY_MAX 32

typedef struct db_agent {
	int64_t id;
	char version[DB_VERSION_MAX];
	char policy[DB_POLICY_MAX];
	double epsilon;
	char *params;      /* JSON text or NULL; owned, freed by db_agent_clear */
	char released[40]; /* LAST_UPDATE as text; only db_agents_all reads it */
} db_agent;

void db_agent_clear(db_agent *a);
/* The newest TB_AGENTS row (highest id). ERR_NOTFOUND when empty. */
int db_agent_latest(store *s, db_agent *out);
/* The newest TB_AGENTS row of a version. ERR_NOTFOUND when there is none. */
int db_agent_by_version(store *s, const char *version, db_agent *out);
/*
 * Calls fn for the newest TB_AGENTS row of every version, oldest version
 * first. The rows are read before the first call, so fn may query s.
 */
typedef int (*db_agent_fn)(void *arg, const db_agent *a);
int db_agents_each(store *s, db_agent_fn fn, void *arg);
/* Calls fn for every TB_AGENTS row, in release order, with its release time. */
int db_agents_all(store *s, db_agent_fn fn, void *arg);
/* Adds a TB_AGENTS row; params may be NULL. */
int db_agent_release(store *s, const char *version, const char *policy, double epsilon,
                     const char *params);

/* --- products --------------------------------------------------------- */
typedef struct db_product {
	char *offer_id;
	char *name;
} db_product;

/* Replaces a company's catalogue in one transaction. */
int db_products_replace(store *s, const char *company, const db_product *p, size_t n);
/* Calls fn(arg, company, offer_id, name) for every catalogue row. */
typedef int (*db_product_fn)(void *arg, const char *company, const char *offer_id, const char *name);
int db_products_each(store *s, db_product_fn fn, void *arg);
/* Calls fn with one column, offer_id, for each of a company's catalogue rows in order. */
int db_product_ids(store *s, const char *company, store_row_fn fn, void *arg);

/* --- rewards ---------------------------------------------------------- */
typedef struct db_reward_in {
	const char *company;
	const char *customer_id;
	int64_t episode_id;         /* 0: the customer's latest unrewarded episode */
	int accepted;               /* accepted_one_of_the_three_offers */
	const char *accepted_offer; /* may be NULL */
	const char *clicked;        /* comma-separated, may be NULL */
	const char *request_ts;
	int is_default; /* the agent's default reward after its wait */
	/* The client's Idempotency-Key (NULL: none) and the request's fingerprint
	 * (what it asked, e.g. hex SHA-256; NULL with no key): see db_rewards_lookup. */
	const char *idem_key;
	const char *idem_hash;
} db_reward_in;

/* Idempotency keys: at most this long, kept at least this long (issue 15.2). */
#define DB_IDEM_KEY_MAX 255
#define DB_IDEM_RETENTION_SECONDS 86400
/* States longer than this are not learned from by the contextual policies. */
#define DB_STATES_MAX 4096

/* What the writer learned from the episode a reward attached to. */
typedef struct db_reward_out {
	int rc; /* 0, ERR_NOTFOUND, ERR_CONFLICT */
	int64_t reward_id;
	int64_t episode_id;
	char state_key[128];
	char policy[DB_POLICY_MAX];
	char agent_version[DB_VERSION_MAX];
	char offers[OFFERS_SHOWN][CUSTOMER_OFFER_ID_MAX + 1];
	int n_offers;
	double episode_age;           /* seconds between the episode and now */
	double rewards[OFFERS_SHOWN]; /* per shown offer, set by the writer's scoring */
	int learned;                  /* set by the writer's scoring: 0 logs without learning */
	/*
	 * 1: in.idem_key was used before for the same request: nothing was
	 * stored, rc and episode_id are the first answer's. -1: it was used for
	 * another request: nothing was stored, rc is ERR_INVAL.
	 */
	int replayed;
	/* The episode's request, for the contextual policies' features ("" when longer). */
	char states[DB_STATES_MAX];
	char request_ts[40];
} db_reward_out;

/*
 * An Idempotency-Key claimed on its own, for requests that are not one
 * reward (POST /batch): hash is the request's fingerprint, route its path.
 */
typedef struct db_idem_in {
	const char *company;
	const char *key;
	const char *route;
	const char *hash;
	int result; /* out: 0 claimed; ERR_CONFLICT used before for this request; ERR_INVAL for another */
} db_idem_in;

/*
 * Claims in->key inside the caller's open transaction and sets in->result.
 * Returns 0 or the store's error.
 */
int db_idem_claim(store *s, db_idem_in *in);

/* --- learned statistics ------------------------------------------------ */
typedef struct db_policy_row {
	const char *company;
	const char *state_key;
	const char *offer;
	double n;            /* rewards observed */
	double reward_sum;   /* sum of rewards observed */
	double prior_value;  /* warm-start value (offerctl train) */
	double prior_weight; /* how many observations the prior is worth */
	/*
	 * For db_policy_add: observed successes and failures (Beta-Bernoulli).
	 * For db_policy_set_priors: the prior's pseudo-counts (Beta(alpha, beta)).
	 * For db_policy_since: prior pseudo-counts plus observations.
	 */
	double alpha, beta;
	int64_t rev; /* global change counter, for incremental reloads */
} db_policy_row;

typedef int (*db_policy_fn)(void *arg, const db_policy_row *row);
/*
 * The highest revision handed out so far (PostgreSQL: the sequence, O(1);
 * SQLite: MAX(rev)), committed or not.
 */
int db_policy_rev_now(store *s, int64_t *out);
/* Calls fn for every TB_POLICY row with REV > since; *max_rev gets the highest seen. */
int db_policy_since(store *s, int64_t since, db_policy_fn fn, void *arg, int64_t *max_rev);
/*
 * Adds deltas (n, reward_sum, alpha = successes, beta = failures) to rows,
 * creating them as needed, and calls fn (may be NULL) with each row's new
 * absolute values, as db_policy_since would report them.
 */
int db_policy_add(store *s, const db_policy_row *deltas, size_t n, db_policy_fn fn, void *arg);
/*
 * db_policy_add, then commits the open transaction, in one round trip on
 * PostgreSQL (store_exec_commit). On error the caller rolls back.
 */
int db_policy_add_commit(store *s, const db_policy_row *deltas, size_t n, db_policy_fn fn, void *arg);
/*
 * Whether db_rewards_insert_policy_commit can take these rewards: the store
 * has the statements, and no reward names its episode or has a key.
 */
int db_rewards_can_fold(store *s, const db_reward_in *in, size_t n);
/*
 * db_rewards_insert (scored rewards as set by the caller), then
 * db_policy_add_commit, in one round trip where the store allows it. A
 * reward whose episode got one since the lookup fails it all (the caller
 * rolls back). Only where db_rewards_can_fold says so; else ERR_INVAL.
 */
int db_rewards_insert_policy_commit(store *s, const db_reward_in *in, db_reward_out *out, size_t n,
                                    const db_policy_row *deltas, size_t nd, db_policy_fn fn, void *arg);
/* Sets the priors of rows (offerctl train), creating them as needed. */
int db_policy_set_priors(store *s, const db_policy_row *rows, size_t n);

/*
 * A TB_MODEL row (model.c): the sufficient statistics of one offer of a
 * contextual agent version, as they stood at clock tick (episodes learned
 * by the version for the company), stats {"b":[d],"S":[d(d+1)/2]}; the
 * clock row has offer "" with n the discounted episodes and stats "{}".
 */
typedef struct db_model_row {
	const char *company;
	const char *version;
	const char *offer;
	double n;
	int64_t tick;
	const char *stats;
	int64_t rev; /* global change counter, for incremental reloads */
} db_model_row;

typedef int (*db_model_fn)(void *arg, const db_model_row *row);
/*
 * Inside the caller's transaction: creates the row (company, version, offer)
 * when missing, locks it until the commit (PostgreSQL: FOR UPDATE; SQLite's
 * transactions hold the write lock) and calls fn with it.
 */
int db_model_lock(store *s, const char *company, const char *version, const char *offer, db_model_fn fn,
                  void *arg);
/* Writes row's n, tick and stats with a new revision, returned in *rev. */
int db_model_put(store *s, const db_model_row *row, int64_t *rev);
/* Calls fn for every TB_MODEL row with REV > since, in revision order. */
int db_model_since(store *s, int64_t since, db_model_fn fn, void *arg);

/* --- segments ---------------------------------------------------------- */
typedef struct db_segment {
	const char *customer_id;
	const char *segment;
} db_segment;

int db_segments_replace(store *s, const char *company, const db_segment *rows, size_t n);
typedef int (*db_segment_fn)(void *arg, const char *company, const char *customer_id,
                             const char *segment);
int db_segments_each(store *s, db_segment_fn fn, void *arg);
/*
 * The newest write time of TB_SEGMENTS as text ("" when empty), read from
 * its index: offerctl train rewrites a company's rows in one transaction,
 * so every train moves it, whatever the number of rows. Rows deleted alone
 * (an erasure) do not: TB_ERASURES tells those (db_erasures_top).
 */
#define DB_SEGMENTS_MARK_MAX 64
int db_segments_mark(store *s, char out[DB_SEGMENTS_MARK_MAX]);

/*
 * Finds each reward's episode inside the caller's open transaction, in one
 * statement for the set (PostgreSQL) or one per reward (SQLite):
 * in[i].episode_id, or the customer's latest episode without a reward.
 * Fills out[i]: rc 0 with the episode's id, state key, shown offers, agent
 * version and age; ERR_NOTFOUND when the customer has no such episode;
 * ERR_CONFLICT when it has one but every candidate is rewarded. The set must
 * hold at most one reward per customer (the writer's rounds see to it), or
 * two would find the same episode. Returns 0 or the store's error.
 *
 * A reward with an idem_key claims it in TB_IDEMPOTENCY, in the same
 * transaction (so a key is stored exactly when its reward is, and a second
 * process waits for the first one's commit on the key's unique index); a key
 * already stored makes the reward a replay (out[i].replayed), which
 * db_rewards_insert never inserts. Keys older than DB_IDEM_RETENTION_SECONDS
 * are deleted now and then.
 */
int db_rewards_lookup(store *s, const db_reward_in *in, db_reward_out *out, size_t n);
/*
 * Inserts the TB_REWARDS rows of the rewards with out[i].rc == 0 (episode_id,
 * n_offers, rewards, learned as set by the caller) and sets out[i].reward_id;
 * a reward whose episode another reward took meanwhile gets ERR_CONFLICT, which
 * does not fail the set. Returns 0 or the store error that aborts the
 * transaction.
 */
int db_rewards_insert(store *s, const db_reward_in *in, db_reward_out *out, size_t n);

/*
 * Calls fn(arg, company, customer_id, episode_id) for at most limit episodes
 * decided under agent version that are older than wait_seconds, written in
 * the last lookback_seconds, and have no reward, oldest first. An episode's
 * wait is its own version's: episodes of other versions are never listed
 * (issue 15.3). The times are offerd's clock against last_update.
 */
typedef int (*db_expired_fn)(void *arg, const char *company, const char *customer_id,
                             int64_t episode_id);
int db_episodes_expired(store *s, const char *version, double wait_seconds, double lookback_seconds,
                        int limit, db_expired_fn fn, void *arg);

/*
 * The logged decisions of a company (offerctl evaluate, evaluations),
 * oldest first, last_update in [from, to) (timestamps; NULL: unbounded),
 * read in keyset pages of a few thousand rows. fn gets 14 columns: id,
 * state_key, states, predicted_offer_1..3, propensity_1..3, policy, whether
 * a reward exists (0/1), its accepted_offer (boolean), its
 * accepted_offer_id, request_timestamp.
 */
int db_episodes_logged(store *s, const char *company, const char *from, const char *to, store_row_fn fn,
                       void *arg);

/* --- evaluation jobs (tb_evaluations, evaluation.c) ------------------------ */
/* A new job, status queued; created is an ISO time, heartbeat unix seconds. */
int db_evaluation_insert(store *s, const char *id, const char *company, const char *owner,
                         const char *request, const char *created, int64_t heartbeat);
/* A job's status, progress, result and error (JSON texts, may be NULL), finish time. */
int db_evaluation_update(store *s, const char *id, const char *status, double progress,
                         const char *result, const char *error, const char *finished, int64_t heartbeat);
int db_evaluation_progress(store *s, const char *id, double progress, int64_t heartbeat);
/* Every unfinished job of owner (a process) is alive at heartbeat. */
int db_evaluations_beat(store *s, const char *owner, int64_t heartbeat);
/* company's unfinished jobs not heard of since before: failed with error. */
int db_evaluations_expire(store *s, const char *company, int64_t before, const char *finished,
                          const char *error);
/* Deletes a job of company; *deleted is 0 or 1. */
int db_evaluation_delete(store *s, const char *company, const char *id, int64_t *deleted);
/*
 * One job of company (id) or its latest limit (id NULL), newest first. fn
 * gets 9 columns: id, status, progress, request, result, error, heartbeat,
 * created_at, finished_at.
 */
int db_evaluations_get(store *s, const char *company, const char *id, int limit, store_row_fn fn,
                       void *arg);

/* --- retention and export (issue 16.4, 16.5) ------------------------------ */

/*
 * One page of a company's decision log (export.c): at most limit episodes
 * with id > after_id written in [from, to) (timestamps
 * YYYY-MM-DDTHH:MM:SS.mmmZ), in id order, each joined with its reward. fn
 * gets 20 columns: id, customer_id, states, predicted_offer_1..3,
 * propensity_1..3, last_update, request_timestamp, state_key, policy,
 * agent_version, then the reward's id (NULL: none), accepted_offer,
 * accepted_offer_id, reward_1..3.
 */
int db_decisions_page(store *s, const char *company, int64_t after_id, const char *from, const char *to,
                      int limit, store_row_fn fn, void *arg);
/* The number of a company's episodes written in [from, to). */
int db_decisions_count(store *s, const char *company, const char *from, const char *to, int64_t *out);

/*
 * Retention: the ids of at most max episodes written before cutoff, oldest
 * first, into ids (*n of them): of company, or with company NULL of every
 * company but the nexcept in except (at most 64).
 */
int db_episodes_aged(store *s, const char *cutoff, const char *company, const char *const *except,
                     size_t nexcept, int64_t *ids, size_t max, size_t *n);
/*
 * Deletes the n episodes ids and their rewards in one transaction (rolled
 * back on error); *episodes and *rewards are the rows deleted (an id
 * already gone counts nothing), *held the seconds from the transaction's
 * start (its lock taken: SQLite's BEGIN IMMEDIATE may first wait for a
 * writer) to its commit: what a writer could have waited on it.
 */
int db_episodes_delete(store *s, const int64_t *ids, size_t n, int64_t *episodes, int64_t *rewards,
                       double *held);

/* --- Personalizer events -------------------------------------------------- */
/*
 * Deletes company's Personalizer events (the episodes whose customer_id
 * starts with "pz:") and their rewards in one transaction (DELETE
 * /personalizer/v1.0/logs); *deleted gets the episodes deleted.
 */
int db_pz_events_delete(store *s, const char *company, int64_t *deleted);

/* The Personalizer configuration of a company (tb_pz_config): JSON texts,
 * NULL when never put (or the policy deleted). Clear with db_pz_config_clear. */
typedef struct db_pz_config {
	char *service;
	char *policy;
} db_pz_config;
int db_pz_config_get(store *s, const char *company, db_pz_config *out);
void db_pz_config_clear(db_pz_config *c);
int db_pz_service_put(store *s, const char *company, const char *service);
/* policy NULL: deleted (offerd's own policy is reported again). */
int db_pz_policy_put(store *s, const char *company, const char *policy);
/*
 * The request timestamps (ISO 8601 text) of company's first and last
 * Personalizer events into from and to (len bytes each); "" when none.
 */
int db_pz_events_range(store *s, const char *company, char *from, char *to, size_t len);
/*
 * Calls fn(arg, company, customer_id, episode_id) for at most limit of
 * company's Personalizer episodes older than wait_seconds (and not older
 * than lookback_seconds) without a reward whose event is not deferred
 * (tb_pz_events), oldest first: the slots due their default reward.
 */
int db_pz_defaults_due(store *s, const char *company, double wait_seconds, double lookback_seconds,
                       int limit, db_expired_fn fn, void *arg);
/*
 * The Unix times of the oldest and newest last update of company's learned
 * rows (TB_POLICY, TB_MODEL) into created and modified; 0 when it has none.
 */
int db_pz_model_times(store *s, const char *company, int64_t *created, int64_t *modified);
/* Calls fn(arg, 1, {company}) for every company with a stored Personalizer configuration. */
int db_pz_config_companies(store *s, store_row_fn fn, void *arg);

/*
 * The state of Personalizer events that outlives a request (tb_pz_events),
 * so several offerd processes on one database agree: a deferred event and
 * the rewards held for it until its activation, a multi-slot event's slot
 * ids, and whether an Apprentice event's policy agreed with the baseline.
 * Only such events have a row; held[k] and the bit k of held_mask are slot
 * k's held reward (k 0 for a single-slot event).
 */
#define DB_PZ_SLOTS_MAX 3
typedef struct db_pz_event {
	double ranked_at; /* unix seconds */
	int deferred;     /* not activated yet */
	int apprentice;
	int agreed;    /* the policy chose the baseline (every slot) */
	char *slots;   /* multi-slot: the slot ids as a JSON array; NULL for single-slot */
	int held_mask; /* bit k: slot k holds a reward (meaningful while deferred) */
	double held[DB_PZ_SLOTS_MAX];
} db_pz_event;
/* Inserts the event's row (ERR_CONFLICT when the company has it already). */
int db_pz_event_put(store *s, const char *company, const char *event_id, const db_pz_event *ev);
/* Reads the row into out: returns 1 found, 0 not found, < 0 an error. Free with db_pz_event_clear. */
int db_pz_event_get(store *s, const char *company, const char *event_id, db_pz_event *out);
void db_pz_event_clear(db_pz_event *ev);
/*
 * Holds rewards for a deferred event: for each bit k of mask, value[k]
 * unless slot k already holds one (the first reward counts). Returns 1 when
 * the event was still deferred (the rewards are held), 0 when not (deliver
 * them now), < 0 an error. One statement: an activation racing it in
 * another process either sees the held reward or makes this return 0.
 */
int db_pz_event_hold(store *s, const char *company, const char *event_id, int mask,
                     const double value[DB_PZ_SLOTS_MAX]);
/*
 * Activates a deferred event: returns 1 with out filled (held_mask/held[]
 * the rewards to deliver; ranked_at and deferred not read), 0 when it has
 * no row or was not deferred, < 0 an error. Free with db_pz_event_clear.
 */
int db_pz_event_activate(store *s, const char *company, const char *event_id, db_pz_event *out);
/* Whether company has an episode of customer_id (1, 0, or < 0 an error). */
int db_pz_episode_exists(store *s, const char *company, const char *customer_id);

/*
 * The learned state a Personalizer model export holds: fn gets company's
 * TB_POLICY rows as state_key, offer, n, reward_sum, successes, failures,
 * prior_value, prior_weight, prior_alpha, prior_beta; db_pz_model_each the
 * TB_MODEL rows of (company, version), the clock row (offer "") first.
 */
int db_pz_values_each(store *s, const char *company, store_row_fn fn, void *arg);
int db_pz_model_each(store *s, const char *company, const char *version, db_model_fn fn, void *arg);

/* Apprentice mode's report per company (tb_pz_apprentice), added to atomically. */
typedef struct db_pz_apprentice {
	int64_t events, agreed, rewards, rewards_agreed;
	double reward_sum, agreed_sum;
} db_pz_apprentice;
int db_pz_apprentice_add(store *s, const char *company, const db_pz_apprentice *delta);
/* The report (zeros when none). */
int db_pz_apprentice_get(store *s, const char *company, db_pz_apprentice *out);

/* --- erasure (issue 16.3) ---------------------------------------------------- */
/*
 * Inside the caller's transaction: locks the customer's episodes until the
 * commit (PostgreSQL: FOR UPDATE, so a reward of another process waits and
 * then finds no episode; SQLite's transaction already holds the write lock)
 * and counts them and the customer's segment rows.
 */
int db_customer_lock(store *s, const char *company, const char *customer_id, int64_t *episodes,
                     int64_t *segments);

/*
 * One reward of a customer being erased: ep is its episode as the writer's
 * lookup fills it (db_reward_out), with rewards[] and learned as stored
 * with the reward, and the reward as it was asked.
 */
typedef struct db_erase_reward {
	db_reward_out ep;
	int accepted;
	char accepted_offer[CUSTOMER_OFFER_ID_MAX + 1]; /* "" when none */
	char *clicked;                                  /* owned; NULL when none */
	int is_default;
} db_erase_reward;

/*
 * The customer's next rewards, oldest first: at most DB_ERASE_CHUNK of those
 * with an id above after (0 at first, then the last one's ep.reward_id),
 * into *out (free with db_erase_rewards_free). Chunks keep an erasure's
 * memory bounded whatever the customer's history; *n < DB_ERASE_CHUNK
 * means there are no more.
 */
#define DB_ERASE_CHUNK 512
int db_customer_rewards(store *s, const char *company, const char *customer_id, int64_t after,
                        db_erase_reward **out, size_t *n);
void db_erase_rewards_free(db_erase_reward *r, size_t n);
/*
 * The age of a learned reward on its version's clock: how many learned
 * rewards of the company's episodes of that version have a higher id
 * (were learned after it). Returns 0 or the store's error.
 */
int db_erase_age(store *s, const char *company, const char *version, int64_t reward_id, int64_t *after);

/*
 * Inside the caller's transaction: deletes the customer's Idempotency-Keys
 * (those tied to its episodes), rewards, episodes and segment.
 */
int db_customer_delete(store *s, const char *company, const char *customer_id);

/* A row of TB_ERASURES: no customer id, by design (README, Erasure). */
typedef struct db_erasure {
	const char *company;
	const char *by; /* "key:" + the API key's prefix, or "offerctl" */
	int64_t episodes;
	int64_t rewards;
	int64_t learned; /* rewards whose contribution was subtracted */
	int64_t segments;
	int approximate; /* a model with forgetting < 1 was changed (approximate subtraction) */
} db_erasure;
int db_erasure_record(store *s, const db_erasure *e);

/* --- api keys ----------------------------------------------------------- */
/* An API key's row: role is DB_ROLE_CLIENT or DB_ROLE_ADMIN (issue 16.6). */
#define DB_ROLE_CLIENT "client"
#define DB_ROLE_ADMIN "admin"
typedef struct db_key {
	int64_t id;
	const char *company;
	const char *hash;
	const char *prefix;
	const char *created; /* NULL when inserting */
	const char *revoked; /* NULL while active */
	const char *role;
} db_key;

int db_key_insert(store *s, const db_key *k);
typedef int (*db_key_fn)(void *arg, const db_key *k);
int db_keys_each(store *s, db_key_fn fn, void *arg);
int db_key_revoke(store *s, const char *prefix_or_id);

/* --- experiments (issue 17.1, experiment.h) ---------------------------- */
#define DB_EXP_ACTION_MAX 16

/* The champion/challenger set-up in force. */
typedef struct db_experiment {
	int64_t id;                     /* the tb_experiments row; 0 when none is in force */
	char action[DB_EXP_ACTION_MAX]; /* release, promote, rollback ("" when none) */
	char champion[DB_VERSION_MAX];
	char challenger[DB_VERSION_MAX]; /* "" when none */
	double traffic;                  /* percent of each company's customers, [0, 100] */
	int shadow;                      /* the challenger decides on every request, never serves */
	int64_t agent_id;                /* the newest tb_agents row when it was written */
	int64_t from_episode;            /* its statistics count episodes with a higher id */
} db_experiment;

/*
 * The set-up in force: the newest tb_experiments row, unless an agent was
 * released after it without one (a plain `agent release`), which makes the
 * newest agent the champion with no challenger, counted from episode 0.
 * ERR_NOTFOUND when no agent was ever released.
 */
int db_experiment_current(store *s, db_experiment *out);
/*
 * Inside the caller's transaction, adds a tb_experiments row for x after
 * checking that x->champion and x->challenger (when set) are released
 * versions (ERR_NOTFOUND otherwise). Sets x->agent_id to the newest agent
 * and, when x->from_episode is negative, x->from_episode to the newest
 * episode (a new experiment's window starts now).
 */
int db_experiment_put(store *s, db_experiment *x);
/*
 * An experiment's counts over a range of new rows (experiment_tally):
 * db_experiment_decisions calls fn for each (company, version) among
 * version_a and version_b (version_b may be "") decided in episodes with
 * after < id <= upto: 4 columns company, agent_version, decisions,
 * decisions that carried a shadow slate. db_experiment_rewards does the
 * same for rewards with after < id <= upto of episodes with id >
 * from_episode: company, agent_version, rewards, accepted rewards. Both
 * read the rows by their primary key: the cost is the range's, not the
 * table's.
 */
int db_experiment_decisions(store *s, int64_t after, int64_t upto, const char *version_a,
                            const char *version_b, store_row_fn fn, void *arg);
int db_experiment_rewards(store *s, int64_t from_episode, int64_t after, int64_t upto,
                          const char *version_a, const char *version_b, store_row_fn fn, void *arg);

/* --- counts, for tests and offerctl ------------------------------------ */
/* COUNT(*) of a known table (whitelisted name). */
int db_count(store *s, const char *table, int64_t *out);

/* --- rules and contact history (issue 16) -------------------------------- */

/*
 * Stores body as company's next rules version (1 for the first) and puts
 * the number in *version. Runs its own transaction; two writers racing for
 * one number: the loser retries once.
 */
int db_rules_put(store *s, const char *company, const char *body, int64_t *version);
typedef int (*db_rules_fn)(void *arg, const char *company, int64_t version, const char *body,
                           const char *created_at);
/* The version in force (the latest) of each company, or of `company` only when not NULL. */
int db_rules_latest(store *s, const char *company, db_rules_fn fn, void *arg);

/* One episode or accepting reward read for the contact history (contact.h). */
typedef struct db_contact_row {
	int64_t id; /* the episode's or the reward's */
	const char *company;
	const char *customer_id;
	int64_t episode_id;
	const char *accepted_offer; /* rewards: NULL when the client named none */
	const char *offers[OFFERS_SHOWN];
	double age; /* seconds since it was stored */
} db_contact_row;
typedef int (*db_contact_fn)(void *arg, const db_contact_row *row);
/*
 * Episodes (rewards = 0) or accepting rewards (rewards = 1) with ids in
 * (after_id, upto_id] stored less than max_age seconds ago, by id, at most limit.
 */
int db_contact_each(store *s, int rewards, int64_t after_id, int64_t upto_id, double max_age,
                    int64_t limit, db_contact_fn fn, void *arg);
/* The highest id of tb_episodes (rewards = 0) or tb_rewards (1); 0 when empty. */
int db_contact_top(store *s, int rewards, int64_t *out);
/* The highest TB_ERASURES id (0: none): a new erasure makes the refresher rebuild the history. */
int db_erasures_top(store *s, int64_t *out);

/* --- the web console (api_console.c) ---------------------------------------------
 * Each calls fn with its rows as text; after_id bounds the rows read (the
 * newest id, db_contact_top, less the console's scan bound) and from is
 * the window's first timestamp (ISO 8601). */

/* Rows: the minute's first timestamp, agent version, decisions; per minute and version. */
int db_console_decisions(store *s, const char *company, const char *from, int64_t after_id,
                         store_row_fn fn, void *arg);
/* Rows: the minute's first timestamp, the episode's agent version, rewards, accepted. */
int db_console_rewards(store *s, const char *company, const char *from, int64_t after_id,
                       store_row_fn fn, void *arg);
/* Rows: the minute's first timestamp, the offer shown first, rewards, sum of its reward. */
int db_console_first_offer_rewards(store *s, const char *company, const char *from, int64_t after_id,
                                   store_row_fn fn, void *arg);
/* Rows: state_key, offer, n, reward_sum, prior_value, prior_weight; the most observed first. */
int db_console_policy(store *s, const char *company, int64_t limit, store_row_fn fn, void *arg);
/*
 * Rows, the newest first: id, customer_id, states, state_key, policy,
 * agent_version, epsilon, offer 1..3, propensity 1..3, request_timestamp,
 * last_update, rewarded, accepted, accepted_offer_id, reward 1..3, source,
 * eligibility.
 */
int db_console_episodes(store *s, const char *company, int64_t limit, int64_t after_id, store_row_fn fn,
                        void *arg);

#endif
