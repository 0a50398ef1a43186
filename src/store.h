/*
 * store.h — the database boundary. A store is a struct of function pointers;
 * store_sqlite.c is the only file that includes sqlite3.h and store_pg.c the
 * only one that includes libpq-fe.h. Everything above (db.c, the writer, the
 * handlers, offerctl) speaks this interface and portable SQL with $1..$n
 * placeholders and text parameters. Where the dialects differ, each store
 * provides the text in its store_sql table, which db.c runs without ever
 * asking which store it has: adding a store is writing one file.
 *
 * A store handle is used by one thread at a time. Functions return 0 or a
 * negative ERR_* code from util.h: ERR_CONFLICT for a unique violation,
 * ERR_UNAVAIL when the server cannot be reached (the caller may retry; the
 * store reconnects by itself on a later call), ERR_IO for anything else.
 */
#ifndef OFFERD_STORE_H
#define OFFERD_STORE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "customer.h"

enum store_dialect { STORE_SQLITE = 1, STORE_PG = 2 };

/* One /predict decision, as written to TB_EPISODES. Strings are borrowed. */
typedef struct episode {
	int64_t id; /* out: filled by episodes_insert */
	const char *company;
	const char *customer_id;
	const char *states;               /* the states as received (JSON text) */
	const char *offers[OFFERS_SHOWN]; /* NULL past the last shown */
	double propensity[OFFERS_SHOWN];  /* P(offer chosen at slot | earlier slots) */
	const char *request_ts;           /* the request's timestamp, ISO 8601 */
	const char *state_key;            /* Segment_Month_Half_Weekday */
	const char *policy;
	const char *agent_version;
	double epsilon;
	const char *eligibility; /* JSON text (decide.h) or NULL */
	const char *shadow;      /* a shadow version's slate as JSON text (experiment.h), or NULL */
} episode;

/*
 * Row callback: vals[i] is the text form of column i, NULL for SQL NULL.
 * Booleans come back as "t"/"f" (PostgreSQL) or "1"/"0" (SQLite): use
 * db_bool() to read them. A non-zero return stops the query and is returned.
 */
typedef int (*store_row_fn)(void *arg, int ncols, const char *const *vals);

/* One statement of a pipelined batch. */
typedef struct store_stmt {
	const char *sql;
	int nparams;
	const char *const *params; /* text; NULL means SQL NULL */
	store_row_fn fn;           /* may be NULL */
	void *arg;
	int rc;          /* out: 0 or ERR_* for this statement */
	int64_t changes; /* out: rows affected */
} store_stmt;

/* Schema versions db.c knows (its migrations are numbered 1..STORE_MIGRATIONS). */
#define STORE_MIGRATIONS 11

/*
 * One DDL statement of the schema and the version that adds it: 1 to
 * STORE_MIGRATIONS, run once and recorded, or 0, run at every start
 * (CREATE .. IF NOT EXISTS). db.c holds the portable ones.
 */
typedef struct store_migration {
	int version;
	const char *sql;
} store_migration;

/*
 * A dialect's statements: the text db.c needs that the dialects write
 * differently. Set-based statements take their rows as one JSON array in $1
 * (one statement, one executor start-up, whatever the number of rows); each
 * row's "ord" is its position, for statements that must keep the order.
 */
typedef struct store_sql {
	/* DDL: "@ID@" in a migration, an auto-increment primary key. */
	const char *id_column;
	/* DDL: "@TS@" in a migration, a timestamp that defaults to now. */
	const char *ts_column;
	/* The dialect's own DDL, each run after its version's portable statements. */
	const store_migration *migrations;
	size_t nmigrations;
	/* Run first in the migration transaction; NULL when begin already locks. */
	const char *migrate_lock;
	/* Records schema version $1 in tb_schema_migrations with the time. */
	const char *migration_done;
	/*
	 * Rows {ord, company, customer_id, episode_id (0: the latest unrewarded)}.
	 * One result row per input row, in ord order: ord, whether the customer
	 * has such an episode at all (rewarded or not), then the episode's id,
	 * state_key, policy, agent_version, predicted_offer_1..3, age in seconds,
	 * states, request_timestamp (all NULL when none is free).
	 */
	const char *reward_lookup;
	/*
	 * Rows {ord, company, customer_id, episode_id, accepted, accepted_offer,
	 * clicked, r1, r2, r3, ts, learned, source}, inserted in ord order;
	 * a reward whose episode already has one is skipped. Returns id,
	 * episode_id of each row inserted.
	 */
	const char *reward_insert;
	/*
	 * NULL, or reward_insert without the skip: a reward whose episode
	 * already has one fails the statement (and the transaction), so that
	 * the writer may send it with the upsert and the COMMIT before reading
	 * what it inserted (db_rewards_insert_policy_commit).
	 */
	const char *reward_insert_new;
	/*
	 * Rows {ord, company, state_key, offer, n, reward_sum, successes,
	 * failures} (distinct keys) added to TB_POLICY, with a new revision
	 * each. Returns each row as company, state_key, offer, n, reward_sum,
	 * successes, failures, prior_value, prior_weight, prior_alpha,
	 * prior_beta, rev.
	 */
	const char *policy_add;
	/* Rows {ord, company, state_key, offer, v, w, a, b}: the priors set, with a new revision. */
	const char *policy_priors;
	/* One row: the highest policy revision handed out so far. */
	const char *policy_rev_now;
	/*
	 * The oldest and newest last_update of company $1's learned rows
	 * (TB_POLICY, TB_MODEL) as Unix seconds; NULLs when it has none.
	 */
	const char *pz_model_times;
	/* TB_MODEL row ($1, $2, $3) = (company, version, offer), locked for the transaction. */
	const char *model_lock;
	/* Sets n $4, tick $5, stats $6 of row ($1, $2, $3) with a new revision; returns rev. */
	const char *model_put;
	/* Revokes the active API key whose prefix or id is $1, with the time. */
	const char *key_revoke;
	/*
	 * Idempotency keys (issue 15.2), in TB_IDEMPOTENCY (the dialect's
	 * migrations of version 0). idem_claim: rows {ord,
	 * company, idem_key, route, hash, episode_id} inserted in ord order
	 * unless the company already has the key; returns company, idem_key of
	 * each row inserted. idem_find: rows {ord, company, idem_key}; returns
	 * ord, request_hash, episode_id of each key stored. idem_release: rows
	 * {ord, company, idem_key} deleted. idem_purge: deletes keys older than
	 * $1 seconds.
	 */
	const char *idem_claim;
	const char *idem_find;
	const char *idem_release;
	const char *idem_purge;
	/*
	 * Personalizer configuration per company (issue 14), in TB_PZ_CONFIG
	 * (created like TB_IDEMPOTENCY). pz_config_get: $1 company; returns service, policy (JSON
	 * text, '' when unset). pz_service_put / pz_policy_put: $1 company,
	 * $2 the JSON text ('' unsets the policy), upserted.
	 */
	const char *pz_config_get;
	const char *pz_service_put;
	const char *pz_policy_put;
	/*
	 * Contact history (issue 16.2, contact.h), read by the refresher.
	 * contact_episodes: episodes with id > $1 decided less than $2 seconds
	 * ago, by id, at most $3: id, company, customer_id, predicted_offer_1..3,
	 * age in seconds. contact_rewards: accepting rewards with id > $1 made
	 * less than $2 seconds ago, by id, at most $3: id, company, customer_id,
	 * episode_id, accepted_offer_id, the episode's predicted_offer_1..3,
	 * age in seconds.
	 */
	const char *contact_episodes;
	const char *contact_rewards;
	/*
	 * Erasure (issue 16.3): $1 company, $2 customer_id; locks the
	 * customer's episodes for the transaction and returns their count.
	 */
	const char *customer_lock;
} store_sql;

typedef struct store store;

struct store_ops {
	/* Runs one statement; fn (may be NULL) is called for each result row. */
	int (*exec)(store *s, const char *sql, int nparams, const char *const *params, store_row_fn fn,
	            void *arg);
	/*
	 * Optional (NULL: exec). Like exec, but the statement is prepared once
	 * per connection and then run by name, skipping the server's parse and
	 * plan. Only for statements whose best plan cannot change as tables
	 * grow (inserts, upserts by key): a plan made while a table was empty
	 * would be kept.
	 */
	int (*exec_prepared)(store *s, const char *sql, int nparams, const char *const *params,
	                     store_row_fn fn, void *arg);
	/*
	 * Runs n statements in order, pipelined where the server allows it
	 * (libpq pipeline mode), within the caller's open transaction.
	 * Returns 0 when all succeeded, else the first error; each stmt's rc says
	 * which. After an error the transaction must be rolled back.
	 */
	int (*exec_batch)(store *s, store_stmt *stmts, size_t n);
	/*
	 * Optional (NULL: exec_prepared, then commit). Runs one statement as
	 * exec_prepared does, then commits the open transaction, in one round
	 * trip where the server allows it. The COMMIT is sent before the rows
	 * are read: a row callback's non-zero return no longer stops it. After
	 * an error the transaction must be rolled back.
	 */
	int (*exec_commit)(store *s, const char *sql, int nparams, const char *const *params,
	                   store_row_fn fn, void *arg);
	/*
	 * Optional (NULL: not offered). exec_commit for n prepared statements:
	 * all of them and the COMMIT in one round trip. After an error (the
	 * server skips the rest and the COMMIT) the caller rolls back.
	 */
	int (*exec_commit_batch)(store *s, store_stmt *stmts, size_t n);
	/*
	 * May defer the BEGIN to the transaction's first statement (PostgreSQL
	 * sends both in one round trip), so an unreachable server may be
	 * reported by that statement rather than by begin.
	 */
	int (*begin)(store *s);
	int (*commit)(store *s);
	int (*rollback)(store *s);
	/*
	 * Inserts n episodes inside the open transaction and fills eps[i].id in
	 * order. This is the hot path of /predict: one statement for the batch.
	 */
	int (*episodes_insert)(store *s, episode *eps, size_t n);
	/*
	 * Optional (NULL: begin, episodes_insert, commit). Inserts and commits
	 * n episodes atomically outside any transaction, in one round trip
	 * where the server allows it (PostgreSQL: one INSERT in autocommit).
	 */
	int (*episodes_commit)(store *s, episode *eps, size_t n);
	/* The last error's message; valid until the next call on s. */
	const char *(*errmsg)(store *s);
	void (*close)(store *s);
};

struct store {
	const struct store_ops *ops;
	const store_sql *sql;
	enum store_dialect dialect; /* for display and sizing only: db.c never reads it */
};

/*
 * Opens a store from a URL: "sqlite:PATH" (PATH may be relative; the file and
 * its directory are created), "postgresql://..." or "postgres://..." (any
 * libpq URI). The caller closes it with store_close().
 */
int store_open(const char *url, store **out);
/*
 * url for a message or a log: a password it carries, in the user part
 * (postgresql://user:PASSWORD@host) or as a parameter (?password=...), is
 * written as ***. Truncated to n.
 */
void store_url_safe(const char *url, char *out, size_t n);
void store_close(store *s);

/*
 * A store_slot is one connection that threads take in turn: opened on the
 * first take, and closed after a failed statement so that the next take
 * opens a fresh one. The HTTP side's own connections are slots (the
 * console's, /ready's, Personalizer's configuration, the evaluations' REST
 * calls), each apart from the writers' and the refresher's, so a slow page
 * never holds a decision. A static slot is STORE_SLOT_INIT; a slot in
 * allocated memory gets store_slot_init. Either is ended by store_slot_end.
 */
typedef struct store_slot {
	pthread_mutex_t lock;
	store *s; /* NULL until the first take, and after a failure */
} store_slot;

#define STORE_SLOT_INIT                         \
	{                                       \
		PTHREAD_MUTEX_INITIALIZER, NULL \
	}

void store_slot_init(store_slot *slot);
/*
 * Takes the slot, waiting at most wait seconds for it (wait <= 0: as long as
 * it takes), and returns its connection to url, opened if need be. NULL when
 * the wait ran out (*busy 1) or the connection cannot be opened (*busy 0):
 * the slot is then not held. busy may be NULL.
 */
store *store_slot_take(store_slot *slot, const char *url, double wait, int *busy);
/* Gives the slot back. failed: a statement failed, so the connection is closed. */
void store_slot_give(store_slot *slot, int failed);
/* Closes the connection and ends the slot (at exit: nobody holds it). */
void store_slot_end(store_slot *slot);

/* Backends; store_open() picks one. */
int store_sqlite_open(const char *path, store **out);
int store_pg_open(const char *conninfo, store **out);

/* Convenience wrappers. */
static inline int store_exec(store *s, const char *sql, int nparams, const char *const *params,
                             store_row_fn fn, void *arg)
{
	return s->ops->exec(s, sql, nparams, params, fn, arg);
}

/* exec_prepared where the store has it, else exec. */
static inline int store_exec_prepared(store *s, const char *sql, int nparams, const char *const *params,
                                      store_row_fn fn, void *arg)
{
	if (s->ops->exec_prepared == NULL)
		return s->ops->exec(s, sql, nparams, params, fn, arg);
	return s->ops->exec_prepared(s, sql, nparams, params, fn, arg);
}

/* exec_commit where the store has it, else exec_prepared and commit. */
static inline int store_exec_commit(store *s, const char *sql, int nparams, const char *const *params,
                                    store_row_fn fn, void *arg)
{
	int rc;

	if (s->ops->exec_commit != NULL)
		return s->ops->exec_commit(s, sql, nparams, params, fn, arg);
	rc = store_exec_prepared(s, sql, nparams, params, fn, arg);
	return rc != 0 ? rc : s->ops->commit(s);
}

#endif
