/*
 * server.h — what offerd holds in memory between requests, and the thread
 * that keeps it fresh. offerd is stateless apart from these caches: every
 * fact lives in the database, and each process reloads what others changed
 * every `--refresh` seconds (agent version, learned values, catalogue,
 * segments, API keys), so several processes can share one PostgreSQL.
 */
#ifndef OFFERD_SERVER_H
#define OFFERD_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "agent.h"
#include "config.h"
#include "contact.h"
#include "decide.h"
#include "experiment.h"
#include "http.h"
#include "idruns.h"
#include "ratelimit.h"
#include "store.h"
#include "strmap.h"
#include "values.h"
#include "writer.h"

/* Agent versions with a reward wait whose sweeps the refresher remembers (more: swept in full). */
#define SERVER_SWEEPS_MAX 32

typedef struct server {
	offerd_config *cfg;
	char *share_dir;
	enum store_dialect dialect;
	store *reader; /* the refresher's own connection */
	writer *w;
	values *vals;
	struct model_set *models; /* the contextual policies' models (model.h) */
	http_server *http;
	ratelimit *rate;                 /* NULL when --rate 0 */
	contact_book *contacts;          /* each customer's recent contacts (contact.h) */
	struct retention *retention;     /* NULL when the log is kept for ever */
	struct evaluation_runner *evals; /* evaluation jobs (evaluation.h) */

	pthread_rwlock_t lock;      /* guards the fields below */
	agent_conf conf;            /* the champion (experiment.h) */
	agent_conf challenger;      /* the challenger or shadow, when exp.challenger is set */
	db_experiment exp;          /* the set-up in force */
	experiment_stats exp_stats; /* its counts, read by the refresher */
	experiment_tally exp_tally; /* ... which keeps them up to date (the refresher's own) */
	double exp_stats_at;        /* util_monotonic() of that read; 0: never */
	double exp_stats_cost;      /* seconds that read took */
	strmap *products;           /* company SEP offer -> product name */
	strmap *segments;           /* company SEP customer -> RFM segment */
	strmap *keys;               /* sha256(key) hex -> company */
	int64_t policy_rev;         /* the revision counter at the last refresh */
	int64_t policy_rev_prev;    /* ... and at the one before */
	int policy_loaded;
	char segments_mark[DB_SEGMENTS_MARK_MAX]; /* TB_SEGMENTS' newest write when loaded */
	int64_t segments_erasures;                /* ... and TB_ERASURES' highest id */
	struct server_rules *rules;               /* the rules in force, one per company (tb_rules) */
	size_t nrules;
	double contact_horizon;     /* seconds of contact history the policies need; 0: none */
	int64_t contact_seen[2][2]; /* refresher: [episodes|rewards][last refresh|the one before] */
	int64_t erasures_top;       /* refresher: TB_ERASURES' highest id, read once a refresh */
	int64_t erasures_seen;      /* refresher: the TB_ERASURES id the history was built after */
	int erasures_read;          /* erasures_seen was read once */
	/* refresher: per version with a reward wait, its last complete sweep (expire_version) */
	struct server_sweep {
		char version[DB_VERSION_MAX];
		double at;   /* util_now() of the sweep */
		double wait; /* the version's wait then */
	} sweeps[SERVER_SWEEPS_MAX];
	size_t nsweeps;

	/*
	 * The episode ids the contact history already has (this process's
	 * commits and what the refresher read), while any company has a
	 * contact policy: the refresher reads only the others (idruns.h).
	 */
	pthread_mutex_t contact_ids_lock;
	idruns contact_ids;
	int contact_ids_on;
	atomic_ullong contact_rows_read; /* rows the refresher read for the history */

	pthread_t refresher;
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	int stopping;
	int refresh_now;     /* SIGHUP: reload at once */
	atomic_int draining; /* SIGTERM: new requests get 503 and a close */
} server;

#define SERVER_SEP "\x1f"

/* Opens the stores, migrates, loads the caches; does not listen yet. */
int server_init(server *s, offerd_config *cfg, const char *argv0);
/* Starts the refresher thread. */
int server_start_refresher(server *s);
/* One reload of everything; the refresher calls it every --refresh seconds. */
int server_refresh(server *s);
/* Wakes the refresher for an immediate reload (SIGHUP). */
void server_refresh_soon(server *s);
/* Stops the refresher and drains the writer (requests then get 503). */
void server_shutdown(server *s);
/* Frees everything; no HTTP thread may use s any more. */
void server_free(server *s);

/* A copy of the current agent configuration (the champion's). */
void server_conf(server *s, agent_conf *out);
/* A copy of the versions a request may be decided with (decide_arms_episode). */
void server_arms(server *s, decide_arms *out);
/*
 * The arms of company's experiment (experiment_arms) with the counts the
 * refresher read last; x (may be NULL) replaces the set-up in force, for an
 * answer about a change not yet reloaded. Returns the number of arms.
 */
size_t server_experiment(server *s, const char *company, const db_experiment *x,
                         experiment_arm out[EXPERIMENT_ARMS_MAX]);
/* Calls fn for every company with counts in the last statistics read, with its arms. */
typedef void (*server_arms_fn)(void *arg, const char *company, const experiment_arm *arms, size_t n);
void server_experiment_each(server *s, server_arms_fn fn, void *arg);
/* Copies the product name of company's offer into out; returns 1 if found. */
int server_product(server *s, const char *company, const char *offer, char *out, size_t outlen);
/* Copies the customer's RFM segment into out; returns 1 if known. */
int server_segment(server *s, const char *company, const char *customer, char *out, size_t outlen);
/*
 * The company's eligibility for decide_episode: its rules in force (a
 * reference the caller lets go of with server_gate_release) and the contact
 * history.
 */
void server_gate(server *s, const char *company, decide_gate *g);
void server_gate_release(decide_gate *g);
/*
 * Parses body and puts it in force for company as `version` (a higher
 * version than the one held, or the same text again). Returns 0, or
 * ERR_INVAL with the parser's message in err.
 */
int server_rules_install(server *s, const char *company, int64_t version, const char *body, char *err,
                         size_t errlen);
/* The rules text in force for company (malloc'd, the caller frees) and its version; NULL: none. */
char *server_rules_text(server *s, const char *company, int64_t *version);
/*
 * A default-reward sweep (db_episodes_expired, db_pz_defaults_due): the
 * agent's reward wait and Personalizer's rewardWaitTime both end here.
 */
typedef struct server_due {
	server *s;
	int accepted; /* the default reward: accepted or not */
	int listed;   /* episodes listed so far */
} server_due;
/*
 * A db_expired_fn: counts the episode in the server_due arg and queues its
 * default reward (is_default) through the writer. Returns 1 when the
 * writer's queue is full (nothing queued: the next sweep tries again), else 0.
 */
int server_due_reward(void *arg, const char *company, const char *customer, int64_t episode_id);
/* Feeds the contact history from an operation the writer committed (api.c). */
void server_contact_op(server *s, const writer_op *op);
/* The company of an API key and whether it is an admin key (*admin 1);
 * returns 0 when the key is unknown or revoked. */
int server_key_company(server *s, const char *key, char *out, size_t outlen, int *admin);

#endif
