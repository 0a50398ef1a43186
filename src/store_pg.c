/*
 * store_pg.c — the PostgreSQL store, and the only file that includes
 * libpq-fe.h. It implements struct store_ops over one blocking libpq
 * connection:
 *
 *   exec             one statement, text parameters and text results.
 *   exec_batch       libpq pipeline mode: every statement is sent before any
 *                    result is read, so a batch costs one round trip.
 *   exec_prepared    the same, prepared once per connection (a cache by SQL
 *                    text) and then run by name.
 *   begin            deferred: the BEGIN travels with the transaction's first
 *                    statement (pipeline mode), one round trip for both.
 *   exec_commit      a prepared statement and the COMMIT in one round trip.
 *   episodes_insert  the hot path of /predict: one prepared INSERT .. SELECT
 *                    FROM unnest(arrays) per batch, whatever its size.
 *   pg_sql           the dialect's statements for db.c (struct store_sql):
 *                    DDL, rewards, learned values, expiry.
 *
 * Errors: SQLSTATE 23505 is ERR_CONFLICT; a lost connection (PQstatus bad,
 * SQLSTATE class 08, 57P01/57P02/57P03) is ERR_UNAVAIL; anything else is
 * ERR_IO. A lost connection is re-established by the next call (PQreset), at
 * most once per PG_RESET_INTERVAL, so a down server costs the callers one
 * cheap ERR_UNAVAIL per call instead of a connection attempt each.
 *
 * Waits are bounded without a non-blocking state machine:
 *   - connect_timeout=2 when the conninfo sets none, so a reconnect attempt
 *     to an unreachable host costs at most 2 s per host;
 *   - TCP keepalives (idle 10 s, then 3 probes 5 s apart) and
 *     tcp_user_timeout=30 s, so a vanished host or network breaks a blocked
 *     call instead of hanging it forever;
 *   - statement_timeout=30s unless the session has its own (from the
 *     conninfo's options, PGOPTIONS, the role, the database or
 *     postgresql.conf), so a statement stuck on a lock or a slow plan is
 *     cancelled by the server. Long offerctl jobs can lift it with
 *     ?options=-c%20statement_timeout%3D0 in the URL.
 *   - a client-side limit on every wait for an answer: the session's
 *     statement_timeout plus PG_TIMEOUT_SLACK. It catches what the others
 *     cannot see: a server that is alive but frozen (stopped, or stuck in
 *     uninterruptible I/O), whose kernel keeps acknowledging. The call then
 *     fails with ERR_UNAVAIL and the connection is replaced. A session with
 *     statement_timeout=0 waits without limit, as asked.
 * A stopped or crashed server closes its sockets and a blocked call fails
 * at once.
 */
#include "store.h"

#include <errno.h>
#include <limits.h>
#include <libpq-fe.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

/* Seconds between two reconnect attempts while the server is down. */
#define PG_RESET_INTERVAL 0.2
/* Applied only when the session has no statement_timeout of its own. */
#define PG_STATEMENT_TIMEOUT "30s"
/* Seconds a client waits for an answer beyond the session's statement_timeout. */
#define PG_TIMEOUT_SLACK 5.0
/* Hard limit of one array literal of episodes_insert (PostgreSQL's is 1 GB). */
#define PG_ARRAY_LIMIT ((size_t)256 << 20)
/* Array buffers larger than this are freed after use rather than kept. */
#define PG_ARRAY_KEEP ((size_t)4 << 20)
/* Row callbacks up to this many columns get their values from the stack. */
#define PG_STACK_COLS 32

/* The rc of a batch's statement still without a result (no callback returns it). */
#define PG_PENDING INT_MIN

/* Statements kept prepared per connection (exec_prepared, episodes_insert). */
#define PG_STMT_CACHE 16
#define PG_EP_TEXT_COLS 12
#define PG_EP_NCOLS 16

/*
 * One statement for a whole batch of episodes: each column travels as one
 * array parameter, unnest() zips them back into rows, and ORDER BY ordinality
 * makes the rows reach the INSERT in input order. PostgreSQL evaluates the id
 * default (nextval) as each row is inserted and emits RETURNING rows in
 * insert order for INSERT .. SELECT .. ORDER BY, so the k-th returned id
 * belongs to the k-th episode. The SQL standard does not promise the order
 * of RETURNING, so pg_episodes_insert() does not trust it blindly: ids of one
 * statement come from one sequence in insert order, hence the k-th smallest
 * id is the k-th episode's; it sorts the ids if they ever come back unsorted.
 */
static const char pg_ep_sql[] =
    "INSERT INTO tb_episodes (company, customer_id, states, predicted_offer_1,"
    " predicted_offer_2, predicted_offer_3, request_timestamp, state_key, policy,"
    " agent_version, eligibility, shadow, epsilon, propensity_1, propensity_2, propensity_3)"
    " SELECT u.company, u.customer_id, u.states, u.o1, u.o2, u.o3, u.ts, u.sk,"
    " u.policy, u.av, u.elig, u.sh, u.eps, u.p1, u.p2, u.p3"
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
    " $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],"
    " $12::text[], $13::float8[], $14::float8[], $15::float8[], $16::float8[])"
    " WITH ORDINALITY AS u(company, customer_id, states, o1, o2, o3, ts, sk,"
    " policy, av, elig, sh, eps, p1, p2, p3, ord)"
    " ORDER BY u.ord RETURNING id";

typedef struct pg_store {
	store base; /* first member: a store * of this backend is a pg_store * */
	PGconn *conn;
	char *stmt_sql[PG_STMT_CACHE]; /* prepared as "offerd_s<i>" on this connection */
	size_t nstmt;
	int in_tx;            /* a transaction was open when last looked */
	int begin_pending;    /* pg_begin's BEGIN goes with the next statement */
	int lost;             /* the connection must be re-established */
	double last_reset;    /* util_monotonic() of the last reconnect attempt */
	double wait_limit;    /* seconds to wait for an answer; 0: no limit */
	buf arr[PG_EP_NCOLS]; /* episodes_insert's array literals, reused */
	char err[1024];
	char why[512]; /* why the connection is down, for errmsg meanwhile */
} pg_store;

static pg_store *pg_of(store *s)
{
	return (pg_store *)s;
}

/* A new or reset session has no prepared statements. */
static void pg_forget_prepared(pg_store *p)
{
	for (size_t i = 0; i < p->nstmt; i++)
		free(p->stmt_sql[i]);
	p->nstmt = 0;
}

/* Keeps a copy of msg without libpq's trailing newline. */
static void pg_set_err(pg_store *p, const char *msg)
{
	size_t n;

	if (msg == NULL || *msg == '\0')
		msg = "unknown PostgreSQL error";
	util_strlcpy(p->err, msg, sizeof(p->err));
	n = strlen(p->err);
	while (n > 0 && (p->err[n - 1] == '\n' || p->err[n - 1] == ' '))
		p->err[--n] = '\0';
}

/* Marks the connection for a reset on the next call. */
static int pg_mark_lost(pg_store *p)
{
	if (!p->lost) {
		log_msg(LOG_WARN, "postgresql: connection lost: %s", p->err);
		util_strlcpy(p->why, p->err, sizeof(p->why));
	}
	p->lost = 1;
	pg_forget_prepared(p);
	return ERR_UNAVAIL;
}

/*
 * Maps a failed result (res may be NULL when libpq itself failed) to an
 * ERR_* code. The message is kept when keep is set, so a batch reports its
 * first error rather than its last.
 */
static int pg_error(pg_store *p, const PGresult *res, int keep)
{
	const char *state = NULL;
	const char *msg = NULL;

	if (res != NULL) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		msg = PQresultErrorMessage(res);
	}
	if (msg == NULL || *msg == '\0')
		msg = PQerrorMessage(p->conn);
	if (keep)
		pg_set_err(p, msg);
	if (PQstatus(p->conn) == CONNECTION_BAD)
		return pg_mark_lost(p);
	if (state != NULL) {
		if (strcmp(state, "23505") == 0)
			return ERR_CONFLICT;
		/*
		 * 08xxx: connection exceptions; 57P01/02/03: the server is
		 * shutting down, crashed, or not accepting connections yet.
		 * libpq may still report the connection as fine until its
		 * next read, so the reset is asked for here.
		 */
		if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
		    strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0)
			return pg_mark_lost(p);
		if (strcmp(state, "26000") == 0) {
			/* Someone ran DEALLOCATE: prepare again next time. */
			pg_forget_prepared(p);
		}
	}
	return ERR_IO;
}

/* 0 when res is a successful command or query result, else its ERR_* code. */
static int pg_check(pg_store *p, const PGresult *res)
{
	ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return 0;
	return pg_error(p, res, 1);
}

/*
 * Waits until a result can be read without blocking. On timeout the
 * connection is given up (the next call replaces it) and ERR_UNAVAIL is
 * returned. A read error is left for PQgetResult to report.
 */
static int pg_wait(pg_store *p)
{
	double deadline = util_monotonic() + p->wait_limit;

	while (PQisBusy(p->conn)) {
		struct pollfd pfd = {.fd = PQsocket(p->conn), .events = POLLIN};
		int ms = -1;
		int r;

		if (pfd.fd < 0)
			return 0;
		if (p->wait_limit > 0) {
			double left = deadline - util_monotonic();

			if (left <= 0) {
				int len = snprintf(p->err, sizeof(p->err),
				                   "no answer from the database within %.1f s",
				                   p->wait_limit);

				(void)len;
				return pg_mark_lost(p);
			}
			/* Wake at least once a minute: no int overflow for long limits. */
			ms = left > 60.0 ? 60000 : (int)(left * 1000.0) + 1;
		}
		r = poll(&pfd, 1, ms);
		if (r < 0 && errno != EINTR)
			return 0;
		if (r > 0 && !PQconsumeInput(p->conn))
			return 0;
	}
	return 0;
}

/*
 * Collects the results of the command just sent, like PQexec: returns the
 * last result, or the first failed one, or NULL (with *rc set) when the wait
 * timed out or libpq could not make a result.
 */
static PGresult *pg_result(pg_store *p, int *rc)
{
	PGresult *keep = NULL;
	PGresult *res;

	*rc = 0;
	for (;;) {
		*rc = pg_wait(p);
		if (*rc < 0)
			break;
		res = PQgetResult(p->conn);
		if (res == NULL)
			break;
		if (keep != NULL && PQresultStatus(keep) == PGRES_FATAL_ERROR) {
			PQclear(res);
			continue;
		}
		PQclear(keep);
		keep = res;
	}
	if (*rc < 0) {
		PQclear(keep);
		return NULL;
	}
	*rc = pg_check(p, keep);
	return keep;
}

/* Sends sql as one statement with text parameters and collects its result. */
static PGresult *pg_query(pg_store *p, const char *sql, int nparams, const char *const *params, int *rc)
{
	if (!PQsendQueryParams(p->conn, sql, nparams, NULL, params, NULL, NULL, 0)) {
		*rc = pg_error(p, NULL, 1);
		return NULL;
	}
	return pg_result(p, rc);
}

/* Remembers whether a transaction is open, for the reconnect rule below. */
static void pg_track_tx(pg_store *p)
{
	PGTransactionStatusType ts;

	if (p->lost || PQstatus(p->conn) != CONNECTION_OK)
		return;
	ts = PQtransactionStatus(p->conn);
	p->in_tx = ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR;
}

/* Server notices (e.g. "there is no transaction in progress") go to the log. */
static void pg_notice(void *arg, const char *msg)
{
	size_t n = strlen(msg);

	(void)arg;
	if (n > 0 && msg[n - 1] == '\n')
		n--;
	log_msg(LOG_DEBUG, "postgresql: %.*s", (int)n, msg);
}

/*
 * Per-session settings, run after every (re)connect. The statement_timeout
 * only fills a gap: a session whose value came from anywhere but the
 * built-in default (the conninfo's options, PGOPTIONS, the role, the
 * database, postgresql.conf) keeps it, even an explicit 0.
 */
static int pg_session_setup(pg_store *p)
{
	PGresult *res;
	int64_t ms = 0;
	int rc;

	pg_forget_prepared(p);
	p->in_tx = 0;
	/* Until the session's own limit is known, a reply to this is due at once. */
	p->wait_limit = PG_TIMEOUT_SLACK;
	res = pg_query(p,
	               "SELECT set_config('statement_timeout', '" PG_STATEMENT_TIMEOUT "', false)"
	               " FROM pg_settings WHERE name = 'statement_timeout' AND source = 'default'",
	               0, NULL, &rc);
	PQclear(res);
	/* Two statements: the second must see what the first may have set. */
	if (rc == 0)
		res = pg_query(p, "SELECT setting FROM pg_settings WHERE name = 'statement_timeout'", 0,
		               NULL, &rc);
	else
		res = NULL;
	if (rc == 0 &&
	    (PQntuples(res) != 1 || util_strtonum(PQgetvalue(res, 0, 0), 0, INT32_MAX, &ms) < 0)) {
		pg_set_err(p, "cannot read statement_timeout");
		rc = ERR_IO;
	}
	PQclear(res);
	if (rc == 0)
		p->wait_limit = ms > 0 ? (double)ms / 1000.0 + PG_TIMEOUT_SLACK : 0;
	return rc;
}

/*
 * Called first by every operation: 0 when the connection can be used.
 * A lost connection is reset, at most once per PG_RESET_INTERVAL. It is not
 * reset under an open transaction (in_tx_ok == 0): the statements of that
 * transaction died with the old session, and running the rest in autocommit
 * on a new one would commit half a transaction. The caller must roll back
 * (which then succeeds at once) before anything else runs.
 */
static int pg_ready(pg_store *p, int in_tx_ok)
{
	double now;

	if (!p->lost && PQstatus(p->conn) == CONNECTION_OK)
		return 0;
	if (!p->lost) {
		pg_set_err(p, PQerrorMessage(p->conn));
		pg_mark_lost(p);
	}
	if (p->in_tx && !in_tx_ok) {
		pg_set_err(p, "the database connection was lost inside a transaction; roll back");
		return ERR_UNAVAIL;
	}
	p->in_tx = 0;
	now = util_monotonic();
	if (now - p->last_reset < PG_RESET_INTERVAL) {
		int len = snprintf(p->err, sizeof(p->err), "the database is unavailable: %s", p->why);

		(void)len; /* a cut message is fine */
		return ERR_UNAVAIL;
	}
	p->last_reset = now;
	PQreset(p->conn);
	if (PQstatus(p->conn) != CONNECTION_OK) {
		pg_set_err(p, PQerrorMessage(p->conn));
		util_strlcpy(p->why, p->err, sizeof(p->why));
		return ERR_UNAVAIL;
	}
	if (pg_session_setup(p) < 0)
		return ERR_UNAVAIL;
	p->lost = 0;
	log_msg(LOG_INFO, "postgresql: reconnected");
	return 0;
}

/* Calls fn for every row of res; returns 0 or fn's first non-zero value. */
static int pg_rows(const PGresult *res, store_row_fn fn, void *arg)
{
	const char *stack_vals[PG_STACK_COLS];
	const char **vals = stack_vals;
	int nrows;
	int ncols;
	int rc = 0;

	if (fn == NULL)
		return 0;
	nrows = PQntuples(res);
	ncols = PQnfields(res);
	if (ncols > PG_STACK_COLS)
		vals = xcalloc((size_t)ncols, sizeof(*vals));
	for (int r = 0; r < nrows && rc == 0; r++) {
		for (int c = 0; c < ncols; c++)
			vals[c] = PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
		rc = fn(arg, ncols, vals);
	}
	if (vals != stack_vals)
		free(vals);
	return rc;
}

/* Rows affected by a command; 0 when the command does not report a count. */
static int64_t pg_changes(PGresult *res)
{
	const char *t = PQcmdTuples(res);
	int64_t v = 0;

	if (t == NULL || *t == '\0' || util_strtonum(t, 0, INT64_MAX, &v) < 0)
		return 0;
	return v;
}

/*
 * The name of sql's prepared statement on this connection, preparing it
 * (one round trip) on first use; "" when the cache is full and sql must go
 * unnamed; an ERR_* code when the prepare failed.
 */
static int pg_stmt_name(pg_store *p, const char *sql, int nparams, char name[32])
{
	PGresult *res = NULL;
	int rc = 0;

	name[0] = '\0';
	for (size_t i = 0; i < p->nstmt; i++) {
		if (strcmp(p->stmt_sql[i], sql) == 0) {
			snprintf(name, 32, "offerd_s%zu", i);
			return 0;
		}
	}
	if (p->nstmt == PG_STMT_CACHE)
		return 0;
	snprintf(name, 32, "offerd_s%zu", p->nstmt);
	if (PQsendPrepare(p->conn, name, sql, nparams, NULL))
		res = pg_result(p, &rc);
	else
		rc = pg_error(p, NULL, 1);
	PQclear(res);
	if (rc < 0) {
		name[0] = '\0';
		return rc;
	}
	p->stmt_sql[p->nstmt++] = xstrdup(sql);
	return 0;
}

/* Runs the prepared statement name, or sql unnamed when name is "". */
static PGresult *pg_query_as(pg_store *p, const char *name, const char *sql, int nparams,
                             const char *const *params, int *rc)
{
	if (name[0] == '\0')
		return pg_query(p, sql, nparams, params, rc);
	if (!PQsendQueryPrepared(p->conn, name, nparams, params, NULL, NULL, 0)) {
		*rc = pg_error(p, NULL, 1);
		return NULL;
	}
	return pg_result(p, rc);
}

static int pg_pipeline(pg_store *p, store_stmt *stmts, char (*names)[32], size_t n);

/* One statement; prepared once per connection when prepare is set. */
static int pg_run(store *s, int prepare, const char *sql, int nparams, const char *const *params,
                  store_row_fn fn, void *arg)
{
	pg_store *p = pg_of(s);
	PGresult *res = NULL;
	char name[32] = "";
	int rc;

	rc = pg_ready(p, 0);
	if (rc < 0)
		goto out;
	if (prepare) {
		rc = pg_stmt_name(p, sql, nparams, name);
		if (rc < 0)
			goto out;
	}
	if (p->begin_pending) {
		store_stmt st = {sql, nparams, params, fn, arg, PG_PENDING, 0};

		rc = pg_pipeline(p, &st, &name, 1);
		goto out;
	}
	res = pg_query_as(p, name, sql, nparams, params, &rc);
	if (rc < 0)
		goto out;
	rc = pg_rows(res, fn, arg);
out:
	PQclear(res);
	pg_track_tx(p);
	return rc;
}

static int pg_exec(store *s, const char *sql, int nparams, const char *const *params, store_row_fn fn,
                   void *arg)
{
	return pg_run(s, 0, sql, nparams, params, fn, arg);
}

static int pg_exec_prepared(store *s, const char *sql, int nparams, const char *const *params,
                            store_row_fn fn, void *arg)
{
	return pg_run(s, 1, sql, nparams, params, fn, arg);
}

/*
 * Pipeline mode: all statements are queued, then one Sync, then the results
 * are read in order. After a failing statement the server skips the rest up
 * to the Sync (PGRES_PIPELINE_ABORTED, reported as ERR_IO, or ERR_UNAVAIL
 * when the connection was lost), and reading up to the Sync leaves the
 * connection idle and usable again. A statement whose row callback returns
 * non-zero gets that value as its rc; the statements after it have already
 * run. Statements that never got a result because the connection went away
 * get ERR_UNAVAIL. names[i] (names may be NULL) is stmts[i]'s prepared
 * statement, "" to send it unnamed. A BEGIN that pg_begin deferred goes
 * first, in the same round trip. The caller has called pg_ready.
 */
static int pg_pipeline(pg_store *p, store_stmt *stmts, char (*names)[32], size_t n)
{
	PGresult *res;
	size_t lead = p->begin_pending ? 1 : 0; /* queued before stmts[0]: the BEGIN */
	size_t sent = 0;                        /* queued, the BEGIN included */
	size_t cur = 0;                         /* whose results are being read, likewise */
	int got = 0;                            /* cur has its result */
	int nulls = 0;
	int first = 0; /* the first error, for the return value and errmsg */
	int synced;

	p->begin_pending = 0;
	if (!PQenterPipelineMode(p->conn)) {
		first = pg_error(p, NULL, 1);
		goto out;
	}
	for (sent = 0; sent < n + lead; sent++) {
		store_stmt *st = sent < lead ? NULL : &stmts[sent - lead];
		int ok;

		if (st == NULL)
			ok = PQsendQueryParams(p->conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
		else if (names != NULL && names[sent - lead][0] != '\0')
			ok = PQsendQueryPrepared(p->conn, names[sent - lead], st->nparams, st->params,
			                         NULL, NULL, 0);
		else
			ok = PQsendQueryParams(p->conn, st->sql, st->nparams, NULL, st->params, NULL,
			                       NULL, 0);
		if (!ok) {
			first = pg_error(p, NULL, 1);
			if (st != NULL)
				st->rc = first;
			break;
		}
	}
	synced = PQpipelineSync(p->conn);
	if (!synced && first == 0)
		first = pg_error(p, NULL, 1);
	while (synced) {
		ExecStatusType st;

		if (pg_wait(p) < 0)
			break;
		res = PQgetResult(p->conn);
		if (res == NULL) {
			/*
			 * A NULL ends one statement's results. Two in a row mean
			 * nothing is pending any more: without a Sync coming (a
			 * broken connection) that must end the loop.
			 */
			if (PQstatus(p->conn) == CONNECTION_BAD || ++nulls >= 2)
				break;
			if (got && cur < sent) {
				cur++;
				got = 0;
			}
			continue;
		}
		nulls = 0;
		st = PQresultStatus(res);
		if (st == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			break;
		}
		if (cur < sent && !got) {
			store_stmt *t = cur < lead ? NULL : &stmts[cur - lead];
			int rc = 0;

			got = 1;
			if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
				if (t != NULL) {
					t->changes = pg_changes(res);
					t->rc = rc = pg_rows(res, t->fn, t->arg);
				}
				if (rc != 0 && first == 0) {
					first = rc;
					pg_set_err(p, "a row callback stopped the statement");
				}
			} else if (st != PGRES_PIPELINE_ABORTED) {
				/* (An aborted one was not run; the fill below says why.) */
				rc = pg_error(p, res, first == 0);
				if (t != NULL)
					t->rc = rc;
				if (first == 0)
					first = rc;
			}
		}
		PQclear(res);
	}
	if (PQpipelineStatus(p->conn) != PQ_PIPELINE_OFF && !PQexitPipelineMode(p->conn)) {
		/* Results still pending: only a broken connection leaves any. */
		if (first == 0 && !p->lost)
			pg_set_err(p, PQerrorMessage(p->conn));
		pg_mark_lost(p);
	}
out:
	for (size_t i = 0; i < n; i++) {
		if (stmts[i].rc != PG_PENDING)
			continue;
		/*
		 * Not run: skipped after an earlier error (ERR_IO), or lost
		 * with the connection (ERR_UNAVAIL: worth a retry).
		 */
		if (p->lost || PQstatus(p->conn) != CONNECTION_OK)
			stmts[i].rc = ERR_UNAVAIL;
		else
			stmts[i].rc = ERR_IO;
	}
	/* errmsg already says how the connection was lost. */
	if (first == 0 && p->lost)
		first = ERR_UNAVAIL;
	pg_track_tx(p);
	return first;
}

static void pg_stmts_pending(store_stmt *stmts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		stmts[i].rc = PG_PENDING;
		stmts[i].changes = 0;
	}
}

static int pg_exec_batch(store *s, store_stmt *stmts, size_t n)
{
	pg_store *p = pg_of(s);
	int rc;

	pg_stmts_pending(stmts, n);
	if (n == 0)
		return 0;
	rc = pg_ready(p, 0);
	if (rc < 0) {
		for (size_t i = 0; i < n; i++)
			stmts[i].rc = rc;
		pg_track_tx(p);
		return rc;
	}
	return pg_pipeline(p, stmts, NULL, n);
}

/* Statements that exec_commit_batch sends before its COMMIT, at most. */
#define PG_COMMIT_BATCH_MAX 4

/*
 * The statements (prepared) and the COMMIT in one round trip, with a deferred
 * BEGIN before them when the first is the transaction's first. If a
 * statement fails the server skips the rest and the COMMIT, and the caller
 * rolls back.
 */
static int pg_exec_commit_batch(store *s, store_stmt *stmts, size_t n)
{
	pg_store *p = pg_of(s);
	store_stmt st[PG_COMMIT_BATCH_MAX + 1];
	char names[PG_COMMIT_BATCH_MAX + 1][32];
	int rc;

	if (n == 0 || n > PG_COMMIT_BATCH_MAX) {
		pg_set_err(p, "exec_commit_batch: too many statements");
		return ERR_INVAL;
	}
	rc = pg_ready(p, 0);
	if (rc == 0 && !p->begin_pending && PQtransactionStatus(p->conn) == PQTRANS_INERROR) {
		/* Its COMMIT would "succeed" by rolling back. */
		pg_set_err(p, "the transaction had failed and was rolled back");
		rc = ERR_IO;
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		st[i] = stmts[i];
		rc = pg_stmt_name(p, stmts[i].sql, stmts[i].nparams, names[i]);
	}
	if (rc < 0) {
		pg_track_tx(p);
		return rc;
	}
	st[n] = (store_stmt){"COMMIT", 0, NULL, NULL, NULL, 0, 0};
	names[n][0] = '\0';
	pg_stmts_pending(st, n + 1);
	rc = pg_pipeline(p, st, names, n + 1);
	for (size_t i = 0; i < n; i++) {
		stmts[i].rc = st[i].rc;
		stmts[i].changes = st[i].changes;
	}
	return rc;
}

static int pg_exec_commit(store *s, const char *sql, int nparams, const char *const *params,
                          store_row_fn fn, void *arg)
{
	store_stmt st = {sql, nparams, params, fn, arg, 0, 0};

	return pg_exec_commit_batch(s, &st, 1);
}

/*
 * Ends the open transaction with COMMIT (commit != 0) or ROLLBACK. A
 * ROLLBACK may run on a reset connection (the transaction died with the old
 * session, which is what a rollback asks for); a COMMIT may not (pg_ready).
 */
static int pg_end_tx(pg_store *p, int commit)
{
	PGresult *res = NULL;
	int aborted;
	int rc;

	rc = pg_ready(p, !commit);
	if (rc < 0)
		goto out;
	/*
	 * COMMIT of a failed transaction "succeeds" and rolls back: the
	 * caller must hear that its writes are gone.
	 */
	aborted = PQtransactionStatus(p->conn) == PQTRANS_INERROR;
	res = pg_query(p, commit ? "COMMIT" : "ROLLBACK", 0, NULL, &rc);
	if (commit && rc == 0 && (aborted || strcmp(PQcmdStatus(res), "ROLLBACK") == 0)) {
		pg_set_err(p, "the transaction had failed and was rolled back");
		rc = ERR_IO;
	}
out:
	PQclear(res);
	pg_track_tx(p);
	return rc;
}

/*
 * The BEGIN is not sent at once but with the transaction's first statement,
 * in one round trip (pg_pipeline). A new transaction may start on a new
 * connection: the connection is made ready here, and again (in_tx is not
 * set yet) by the first statement.
 */
static int pg_begin(store *s)
{
	pg_store *p = pg_of(s);
	int rc;

	p->begin_pending = 0;
	rc = pg_ready(p, 1);
	if (rc < 0) {
		pg_track_tx(p);
		return rc;
	}
	if (p->in_tx) {
		/* As PostgreSQL would: a warning, and the open transaction goes on. */
		log_msg(LOG_DEBUG, "postgresql: BEGIN inside a transaction");
		return 0;
	}
	p->begin_pending = 1;
	return 0;
}

/* Sends a deferred BEGIN by itself, for a statement that cannot take it along. */
static int pg_flush_begin(pg_store *p)
{
	PGresult *res;
	int rc;

	if (!p->begin_pending)
		return 0;
	p->begin_pending = 0;
	res = pg_query(p, "BEGIN", 0, NULL, &rc);
	PQclear(res);
	pg_track_tx(p);
	return rc;
}

static int pg_commit(store *s)
{
	pg_store *p = pg_of(s);

	if (p->begin_pending) {
		p->begin_pending = 0; /* nothing ran: nothing to commit */
		return 0;
	}
	return pg_end_tx(p, 1);
}

static int pg_rollback(store *s)
{
	pg_store *p = pg_of(s);

	if (p->begin_pending) {
		p->begin_pending = 0; /* never sent */
		return 0;
	}
	/*
	 * A transaction on a lost connection is already gone: the server
	 * aborted it with the session. Nothing to do, and no reason to wait
	 * for a reconnect.
	 */
	if (p->lost || PQstatus(p->conn) != CONNECTION_OK) {
		p->in_tx = 0;
		return 0;
	}
	return pg_end_tx(p, 0);
}

/* Appends a double-quoted array element, backslash-escaping " and \. */
static int pg_arr_text(buf *b, const char *v)
{
	int rc;

	if (v == NULL)
		return buf_add(b, "NULL", 4);
	rc = buf_add(b, "\"", 1);
	while (rc == 0 && *v != '\0') {
		size_t run = strcspn(v, "\"\\");

		rc = buf_add(b, v, run);
		v += run;
		if (rc == 0 && *v != '\0') {
			char esc[2] = {'\\', *v};

			rc = buf_add(b, esc, 2);
			v++;
		}
	}
	if (rc == 0)
		rc = buf_add(b, "\"", 1);
	return rc;
}

/*
 * Appends a float8 element with 17 significant digits, which round-trip any
 * double exactly. NaN and infinities are stored as NULL: they mean a bug
 * upstream, and SQLite stores a NaN as NULL too.
 */
static int pg_arr_double(buf *b, double v)
{
	if (!isfinite(v))
		return buf_add(b, "NULL", 4);
	return buf_addf(b, "%.17g", v);
}

static int pg_cmp_id(const void *a, const void *b)
{
	return util_cmp_i64(*(const int64_t *)a, *(const int64_t *)b);
}

/* Fills the 16 array literals from the episodes. */
static int pg_ep_arrays(pg_store *p, const episode *eps, size_t n)
{
	int rc = 0;

	for (int c = 0; c < PG_EP_NCOLS; c++) {
		buf_reset(&p->arr[c]);
		p->arr[c].limit = PG_ARRAY_LIMIT;
	}
	for (int c = 0; c < PG_EP_NCOLS && rc == 0; c++)
		rc = buf_add(&p->arr[c], "{", 1);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const episode *e = &eps[i];
		const char *text[PG_EP_TEXT_COLS] = {
		    e->company,   e->customer_id,   e->states,      e->offers[0],
		    e->offers[1], e->offers[2],     e->request_ts,  e->state_key,
		    e->policy,    e->agent_version, e->eligibility, e->shadow,
		};
		double num[PG_EP_NCOLS - PG_EP_TEXT_COLS] = {
		    e->epsilon,
		    e->propensity[0],
		    e->propensity[1],
		    e->propensity[2],
		};

		/* A slot that showed no offer has no propensity: NULL, as in SQLite. */
		for (int k = 0; k < OFFERS_SHOWN; k++) {
			if (e->offers[k] == NULL)
				num[1 + k] = NAN;
		}

		for (int c = 0; c < PG_EP_NCOLS && rc == 0; c++) {
			buf *b = &p->arr[c];

			if (i > 0)
				rc = buf_add(b, ",", 1);
			if (rc != 0)
				break;
			if (c < PG_EP_TEXT_COLS)
				rc = pg_arr_text(b, text[c]);
			else
				rc = pg_arr_double(b, num[c - PG_EP_TEXT_COLS]);
		}
	}
	for (int c = 0; c < PG_EP_NCOLS && rc == 0; c++)
		rc = buf_add(&p->arr[c], "}", 1);
	return rc;
}

static int pg_episodes_insert(store *s, episode *eps, size_t n)
{
	pg_store *p = pg_of(s);
	PGresult *res = NULL;
	const char *values[PG_EP_NCOLS];
	char name[32];
	int64_t *ids = NULL;
	int rc;

	if (n == 0)
		return 0;
	if (n > INT32_MAX) {
		pg_set_err(p, "too many episodes in one batch");
		return ERR_TOOBIG;
	}
	rc = pg_ready(p, 0);
	if (rc < 0)
		goto out;
	/*
	 * Prepared on first use rather than at connect: the table may not
	 * exist before db_migrate. Prepared statements are not transactional,
	 * so one made inside a transaction that rolls back stays valid.
	 */
	rc = pg_stmt_name(p, pg_ep_sql, PG_EP_NCOLS, name);
	if (rc == 0)
		rc = pg_flush_begin(p);
	if (rc < 0)
		goto out;
	rc = pg_ep_arrays(p, eps, n);
	if (rc < 0) {
		pg_set_err(p, "episode batch too large for one statement");
		goto out;
	}
	for (int c = 0; c < PG_EP_NCOLS; c++)
		values[c] = p->arr[c].data;
	res = pg_query_as(p, name, pg_ep_sql, PG_EP_NCOLS, values, &rc);
	if (rc < 0)
		goto out;
	if (PQntuples(res) != (int)n || PQnfields(res) != 1) {
		pg_set_err(p, "episodes insert returned an unexpected number of ids");
		rc = ERR_IO;
		goto out;
	}
	ids = xcalloc(n, sizeof(*ids));
	for (size_t i = 0; i < n; i++) {
		rc = util_strtonum(PQgetvalue(res, (int)i, 0), 1, INT64_MAX, &ids[i]);
		if (rc < 0) {
			pg_set_err(p, "episodes insert returned a bad id");
			rc = ERR_IO;
			goto out;
		}
	}
	for (size_t i = 1; i < n; i++) {
		if (ids[i] <= ids[i - 1]) {
			qsort(ids, n, sizeof(*ids), pg_cmp_id);
			break;
		}
	}
	for (size_t i = 0; i < n; i++)
		eps[i].id = ids[i];
	rc = 0;
out:
	/* A rare huge batch must not pin its buffers for the life of the store. */
	for (int c = 0; c < PG_EP_NCOLS; c++) {
		if (p->arr[c].cap > PG_ARRAY_KEEP)
			buf_free(&p->arr[c]);
	}
	free(ids);
	PQclear(res);
	pg_track_tx(p);
	return rc;
}

/* A single INSERT commits by itself: no BEGIN and COMMIT round trips. */
static int pg_episodes_commit(store *s, episode *eps, size_t n)
{
	if (pg_of(s)->in_tx || pg_of(s)->begin_pending) {
		pg_set_err(pg_of(s), "episodes_commit inside a transaction");
		return ERR_IO;
	}
	return pg_episodes_insert(s, eps, n);
}

static const char *pg_errmsg(store *s)
{
	return pg_of(s)->err;
}

static void pg_close(store *s)
{
	pg_store *p = pg_of(s);

	if (p == NULL)
		return;
	PQfinish(p->conn);
	pg_forget_prepared(p);
	for (int c = 0; c < PG_EP_NCOLS; c++)
		buf_free(&p->arr[c]);
	free(p);
}

/* --- the dialect's statements (store_sql) ------------------------------- */

#define PG_POLICY_COLS                                                                              \
	"company, state_key, offer, n, reward_sum, successes, failures, prior_value, prior_weight," \
	" prior_alpha, prior_beta, rev"

/*
 * The dialect's own DDL (db.c has the portable statements). 1: TB_POLICY's
 * revisions come from a sequence, O(1) to read.
 *
 * 3: every reward updates a few hot TB_POLICY rows. An index on rev (which
 * every update changes) made each update non-HOT: new entries in every index
 * and a chain of dead row versions that each later update walks (a table of
 * 1,458 rows had grown to 13 MB under the rewards benchmark). Without it,
 * and with room left on each page, updates are HOT. The refresher no longer
 * needs the index: policy_rev_now reads the sequence.
 *
 * 4: TB_MODEL's revisions, as TB_POLICY's: a sequence.
 */
static const store_migration pg_migrations[] = {
    {1, "CREATE SEQUENCE tb_policy_rev_seq"},
    {3, "DROP INDEX IF EXISTS tb_policy_rev"},
    {3, "ALTER TABLE tb_policy SET (fillfactor = 50)"},
    {4, "CREATE SEQUENCE tb_model_rev_seq"},
};

/*
 * The rows travel as one JSON array (json_to_recordset), so the server
 * plans and starts one executor per statement instead of one per row, which
 * was most of its time per reward. The three statements of every reward
 * batch (lookup, insert, learned values) are prepared (db.c) and take json,
 * which the server reads as it parses it; jsonb would first build a binary
 * copy of every row and sort its keys (qsort_arg and jsonb_in, about 3% of
 * the server's time per reward). The rarer ones keep jsonb.
 *
 * The lookup's plan is made once per connection, often while TB_REWARDS is
 * empty, and kept. The OFFSET 0 in its NOT EXISTS keeps the planner from
 * turning that into a hashed subplan, cheap on an empty table and a scan of
 * every reward per batch once it has grown: it stays one index probe per
 * episode whatever the statistics said when it was planned.
 */
/* The rewards insert, up to its ORDER BY (reward_insert, reward_insert_new). */
#define PG_REWARD_INSERT                                                                           \
	"INSERT INTO tb_rewards (company, customer_id, episode_id, accepted_offer,"                \
	" accepted_offer_id, clicked_offers, reward_1, reward_2, reward_3,"                        \
	" request_timestamp, learned, source)"                                                     \
	" SELECT u.company, u.customer_id, u.episode_id, u.accepted, u.accepted_offer, u.clicked," \
	" u.r1, u.r2, u.r3, u.ts, u.learned, u.source"                                             \
	" FROM json_to_recordset($1::json) AS u(ord BIGINT, company TEXT, customer_id TEXT,"       \
	" episode_id BIGINT, accepted BOOLEAN, accepted_offer TEXT, clicked TEXT,"                 \
	" r1 DOUBLE PRECISION, r2 DOUBLE PRECISION, r3 DOUBLE PRECISION, ts TEXT,"                 \
	" learned BOOLEAN, source TEXT)"

static const store_sql pg_sql = {
    .id_column = "BIGSERIAL PRIMARY KEY",
    .ts_column = "TIMESTAMPTZ NOT NULL DEFAULT now()",
    .migrations = pg_migrations,
    .nmigrations = UTIL_ARRAY_LEN(pg_migrations),
    /* Two offerd processes starting together must not both migrate. */
    .migrate_lock = "SELECT pg_advisory_xact_lock(7346011)",
    .migration_done = "INSERT INTO tb_schema_migrations VALUES ($1, now()::text)",
    .reward_lookup = "SELECT i.ord, EXISTS (SELECT 1 FROM tb_episodes x WHERE x.company = i.company"
                     " AND x.customer_id = i.customer_id AND (i.episode_id = 0 OR x.id = i.episode_id)),"
                     " ep.id, ep.state_key, ep.policy, ep.agent_version, ep.p1, ep.p2, ep.p3, ep.age,"
                     " ep.states, ep.request_timestamp"
                     " FROM json_to_recordset($1::json) AS i(ord BIGINT, company TEXT, customer_id TEXT,"
                     " episode_id BIGINT)"
                     " LEFT JOIN LATERAL (SELECT e.id, e.state_key, e.policy, e.agent_version,"
                     " e.predicted_offer_1 AS p1, e.predicted_offer_2 AS p2, e.predicted_offer_3 AS p3,"
                     " EXTRACT(EPOCH FROM now() - e.last_update) AS age, e.states, e.request_timestamp"
                     " FROM tb_episodes e"
                     " WHERE e.company = i.company AND e.customer_id = i.customer_id AND CASE"
                     " WHEN i.episode_id = 0 THEN NOT EXISTS (SELECT 1 FROM tb_rewards r"
                     " WHERE r.episode_id = e.id OFFSET 0) ELSE e.id = i.episode_id END"
                     " ORDER BY e.id DESC LIMIT 1) AS ep ON TRUE ORDER BY i.ord",
    .model_lock = "SELECT company, version, offer, n, tick, stats, rev FROM tb_model"
                  " WHERE company = $1 AND version = $2 AND offer = $3 FOR UPDATE",
    .model_put = "UPDATE tb_model SET n = CAST($4 AS DOUBLE PRECISION), tick = CAST($5 AS BIGINT),"
                 " stats = $6, rev = nextval('tb_model_rev_seq'), last_update = now()"
                 " WHERE company = $1 AND version = $2 AND offer = $3 RETURNING rev",
    .reward_insert = PG_REWARD_INSERT
    " ORDER BY u.ord ON CONFLICT (episode_id) DO NOTHING RETURNING id, episode_id",
    .reward_insert_new = PG_REWARD_INSERT " ORDER BY u.ord RETURNING id, episode_id",
    .policy_add =
        "INSERT INTO tb_policy (company, state_key, offer, n, reward_sum, successes, failures,"
        " rev) SELECT d.company, d.state_key, d.offer, d.n, d.reward_sum, d.successes,"
        " d.failures, nextval('tb_policy_rev_seq')"
        " FROM json_to_recordset($1::json) AS d(ord BIGINT, company TEXT, state_key TEXT,"
        " offer TEXT, n DOUBLE PRECISION, reward_sum DOUBLE PRECISION,"
        " successes DOUBLE PRECISION, failures DOUBLE PRECISION) ORDER BY d.ord"
        " ON CONFLICT (company, state_key, offer) DO UPDATE SET"
        " n = tb_policy.n + excluded.n, reward_sum = tb_policy.reward_sum + excluded.reward_sum,"
        " successes = tb_policy.successes + excluded.successes,"
        " failures = tb_policy.failures + excluded.failures,"
        " rev = excluded.rev, last_update = now() RETURNING " PG_POLICY_COLS,
    .policy_priors =
        "INSERT INTO tb_policy (company, state_key, offer, prior_value, prior_weight,"
        " prior_alpha, prior_beta, rev) SELECT u.company, u.state_key, u.offer, u.v, u.w, u.a,"
        " u.b, nextval('tb_policy_rev_seq')"
        " FROM jsonb_to_recordset($1::jsonb) AS u(ord BIGINT, company TEXT, state_key TEXT,"
        " offer TEXT, v DOUBLE PRECISION, w DOUBLE PRECISION, a DOUBLE PRECISION,"
        " b DOUBLE PRECISION) ORDER BY u.ord"
        " ON CONFLICT (company, state_key, offer) DO UPDATE SET"
        " prior_value = excluded.prior_value, prior_weight = excluded.prior_weight,"
        " prior_alpha = excluded.prior_alpha, prior_beta = excluded.prior_beta,"
        " rev = excluded.rev, last_update = now()",
    /* O(1), where MAX(rev) would need the index migration 3 dropped. */
    .policy_rev_now = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM tb_policy_rev_seq",
    .pz_model_times =
        "SELECT CAST(EXTRACT(EPOCH FROM MIN(t)) AS BIGINT), CAST(EXTRACT(EPOCH FROM MAX(t)) AS BIGINT) "
        "FROM (SELECT last_update AS t FROM tb_policy WHERE company = $1"
        " UNION ALL SELECT last_update FROM tb_model WHERE company = $1) u",
    .key_revoke = "UPDATE tb_api_keys SET revoked_at = CAST(now() AS TEXT) WHERE revoked_at IS NULL AND"
                  " (key_prefix = $1 OR CAST(id AS TEXT) = $1)",
    .idem_claim = "INSERT INTO tb_idempotency (company, idem_key, route, request_hash, episode_id)"
                  " SELECT u.company, u.idem_key, u.route, u.hash, u.episode_id"
                  " FROM jsonb_to_recordset($1::jsonb) AS u(ord BIGINT, company TEXT, idem_key TEXT,"
                  " route TEXT, hash TEXT, episode_id BIGINT) ORDER BY u.ord"
                  " ON CONFLICT (company, idem_key) DO NOTHING RETURNING company, idem_key",
    .idem_find = "SELECT i.ord, t.request_hash, t.episode_id"
                 " FROM jsonb_to_recordset($1::jsonb) AS i(ord BIGINT, company TEXT, idem_key TEXT)"
                 " JOIN tb_idempotency t ON t.company = i.company AND t.idem_key = i.idem_key",
    .idem_release = "DELETE FROM tb_idempotency t USING jsonb_to_recordset($1::jsonb)"
                    " AS i(ord BIGINT, company TEXT, idem_key TEXT)"
                    " WHERE t.company = i.company AND t.idem_key = i.idem_key",
    .idem_purge = "DELETE FROM tb_idempotency"
                  " WHERE created_at < now() - make_interval(secs => CAST($1 AS DOUBLE PRECISION))",
    .pz_config_get = "SELECT service, policy FROM tb_pz_config WHERE company = $1",
    .pz_service_put = "INSERT INTO tb_pz_config (company, service) VALUES ($1, $2) ON CONFLICT (company)"
                      " DO UPDATE SET service = excluded.service, updated_at = now()",
    .pz_policy_put = "INSERT INTO tb_pz_config (company, policy) VALUES ($1, $2) ON CONFLICT (company)"
                     " DO UPDATE SET policy = excluded.policy, updated_at = now()",
    .contact_episodes =
        "SELECT id, company, customer_id, predicted_offer_1, predicted_offer_2, predicted_offer_3,"
        " EXTRACT(EPOCH FROM now() - last_update) FROM tb_episodes WHERE id > $1::bigint"
        " AND id <= $4::bigint AND last_update > now() - make_interval(secs => $2::float8) ORDER BY id LIMIT $3::bigint",
    .contact_rewards =
        "SELECT r.id, r.company, r.customer_id, r.episode_id, r.accepted_offer_id,"
        " e.predicted_offer_1, e.predicted_offer_2, e.predicted_offer_3,"
        " EXTRACT(EPOCH FROM now() - r.last_update) FROM tb_rewards r"
        " JOIN tb_episodes e ON e.id = r.episode_id WHERE r.id > $1::bigint AND r.id <= $4::bigint"
        " AND r.accepted_offer"
        " AND r.last_update > now() - make_interval(secs => $2::float8) ORDER BY r.id"
        " LIMIT $3::bigint",
    .customer_lock = "SELECT COUNT(*) FROM (SELECT id FROM tb_episodes"
                     " WHERE company = $1 AND customer_id = $2 FOR UPDATE) AS x",
};

static const struct store_ops pg_ops = {
    .exec = pg_exec,
    .exec_prepared = pg_exec_prepared,
    .exec_batch = pg_exec_batch,
    .exec_commit = pg_exec_commit,
    .exec_commit_batch = pg_exec_commit_batch,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .episodes_insert = pg_episodes_insert,
    .episodes_commit = pg_episodes_commit,
    .errmsg = pg_errmsg,
    .close = pg_close,
};

/*
 * Connects with conninfo (a URI or key=value string). Returns 0 and a store
 * the caller closes with store_close(), ERR_UNAVAIL when the server cannot
 * be reached (or refuses the login: libpq does not tell these apart), or
 * ERR_IO when the session setup fails.
 */
int store_pg_open(const char *conninfo, store **out)
{
	/*
	 * Our defaults come before dbname: with expand_dbname, anything the
	 * conninfo sets overrides them, and what it leaves out keeps them.
	 */
	static const char *const keys[] = {
	    "connect_timeout",
	    "fallback_application_name",
	    "keepalives",
	    "keepalives_idle",
	    "keepalives_interval",
	    "keepalives_count",
	    "tcp_user_timeout",
	    "dbname",
	    NULL,
	};
	const char *vals[] = {"2", "offerd", "1", "10", "5", "3", "30000", conninfo, NULL};
	pg_store *p;
	int rc;

	*out = NULL;
	if (conninfo == NULL) {
		log_msg(LOG_ERROR, "postgresql: no conninfo");
		return ERR_INVAL;
	}
	p = xcalloc(1, sizeof(*p));
	p->base.ops = &pg_ops;
	p->base.sql = &pg_sql;
	p->base.dialect = STORE_PG;
	for (int c = 0; c < PG_EP_NCOLS; c++)
		buf_init(&p->arr[c], PG_ARRAY_LIMIT);
	p->conn = PQconnectdbParams(keys, vals, 1);
	if (p->conn == NULL) {
		log_msg(LOG_ERROR, "postgresql: out of memory connecting");
		rc = ERR_NOMEM;
		goto out;
	}
	if (PQstatus(p->conn) != CONNECTION_OK) {
		pg_set_err(p, PQerrorMessage(p->conn));
		log_msg(LOG_ERROR, "postgresql: cannot connect: %s", p->err);
		rc = ERR_UNAVAIL;
		goto out;
	}
	PQsetNoticeProcessor(p->conn, pg_notice, NULL);
	rc = pg_session_setup(p);
	if (rc < 0) {
		log_msg(LOG_ERROR, "postgresql: session setup failed: %s", p->err);
		goto out;
	}
	*out = &p->base;
out:
	if (rc < 0)
		pg_close(&p->base);
	return rc;
}
