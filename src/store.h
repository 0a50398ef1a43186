/*
 * store.h — the database boundary. A store is a struct of function pointers;
 * store_sqlite.c is the only file that includes sqlite3.h and store_pg.c the
 * only one that includes libpq-fe.h. Everything above (db.c, the writer, the
 * handlers, offerctl) speaks this interface and portable SQL with $1..$n
 * placeholders and text parameters.
 *
 * A store handle is used by one thread at a time. Functions return 0 or a
 * negative ERR_* code from util.h: ERR_CONFLICT for a unique violation,
 * ERR_UNAVAIL when the server cannot be reached (the caller may retry; the
 * store reconnects by itself on a later call), ERR_IO for anything else.
 */
#ifndef OFFERD_STORE_H
#define OFFERD_STORE_H

#include <stddef.h>
#include <stdint.h>

enum store_dialect { STORE_SQLITE = 1, STORE_PG = 2 };

#define EPISODE_SHOWN_MAX 3

/* One /predict decision, as written to TB_EPISODES. Strings are borrowed. */
typedef struct episode {
	int64_t id;                /* out: filled by episodes_insert */
	const char *company;
	const char *customer_id;
	const char *states;        /* the states as received (JSON text) */
	const char *offers[EPISODE_SHOWN_MAX];  /* NULL past the last shown */
	double propensity[EPISODE_SHOWN_MAX];   /* P(offer chosen at slot | earlier slots) */
	const char *request_ts;    /* the request's timestamp, ISO 8601 */
	const char *state_key;     /* Segment_Month_Half_Weekday */
	const char *policy;
	const char *agent_version;
	double epsilon;
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
	const char *const *params;  /* text; NULL means SQL NULL */
	store_row_fn fn;            /* may be NULL */
	void *arg;
	int rc;                     /* out: 0 or ERR_* for this statement */
	int64_t changes;            /* out: rows affected */
} store_stmt;

typedef struct store store;

struct store_ops {
	/* Runs one statement; fn (may be NULL) is called for each result row. */
	int (*exec)(store *s, const char *sql, int nparams, const char *const *params,
	            store_row_fn fn, void *arg);
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
	enum store_dialect dialect;
};

/*
 * Opens a store from a URL: "sqlite:PATH" (PATH may be relative; the file and
 * its directory are created), "postgresql://..." or "postgres://..." (any
 * libpq URI). The caller closes it with store_close().
 */
int store_open(const char *url, store **out);
void store_close(store *s);

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
static inline int store_exec_prepared(store *s, const char *sql, int nparams,
                                      const char *const *params, store_row_fn fn, void *arg)
{
	if (s->ops->exec_prepared == NULL)
		return s->ops->exec(s, sql, nparams, params, fn, arg);
	return s->ops->exec_prepared(s, sql, nparams, params, fn, arg);
}

#endif
