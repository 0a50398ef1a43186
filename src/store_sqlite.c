/*
 * store_sqlite.c — the embedded default backend, and the only file that
 * includes sqlite3.h.
 *
 * Durability: WAL journal with synchronous=FULL, so a committed transaction
 * survives a power cut, not only a crash of offerd. The writer batches many
 * episodes per transaction, which makes the fsync cost per request small.
 * Prepared statements are cached by SQL text because the hot statements are
 * the same few strings over and over. sqlite_sql holds the dialect's
 * statements for db.c (struct store_sql).
 */
#include <errno.h>
#include <libgen.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "store.h"
#include "util.h"

#define SQLITE_STMT_CACHE 32
#define SQLITE_BUSY_MS 5000

typedef struct cached_stmt {
	char *sql;
	sqlite3_stmt *stmt;
} cached_stmt;

typedef struct store_sqlite {
	store base;
	sqlite3 *db;
	char errmsg[512];
	cached_stmt cache[SQLITE_STMT_CACHE];
	size_t ncache;
} store_sqlite;

static int map_rc(store_sqlite *s, int rc)
{
	snprintf(s->errmsg, sizeof(s->errmsg), "%s", sqlite3_errmsg(s->db));
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW: return 0;
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return ERR_CONFLICT;
		return ERR_INVAL;
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return ERR_UNAVAIL;
	case SQLITE_NOMEM: return ERR_NOMEM;
	default: return ERR_IO;
	}
}

/* Returns a cached prepared statement for sql, reset and unbound. */
static int prepare(store_sqlite *s, const char *sql, sqlite3_stmt **out)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	for (size_t i = 0; i < s->ncache; i++) {
		if (strcmp(s->cache[i].sql, sql) == 0) {
			sqlite3_reset(s->cache[i].stmt);
			sqlite3_clear_bindings(s->cache[i].stmt);
			*out = s->cache[i].stmt;
			return 0;
		}
	}
	rc = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return map_rc(s, rc);
	if (s->ncache == SQLITE_STMT_CACHE) {
		/* Evict the oldest; the hot statements come back at once. */
		sqlite3_finalize(s->cache[0].stmt);
		free(s->cache[0].sql);
		memmove(&s->cache[0], &s->cache[1], sizeof(s->cache[0]) * (SQLITE_STMT_CACHE - 1));
		s->ncache--;
	}
	s->cache[s->ncache].sql = xstrdup(sql);
	s->cache[s->ncache].stmt = stmt;
	s->ncache++;
	*out = stmt;
	return 0;
}

/* Binds $1..$n by name: SQLite numbers named parameters by first appearance. */
static int bind_params(store_sqlite *s, sqlite3_stmt *stmt, int nparams, const char *const *params)
{
	char name[16];

	for (int i = 0; i < nparams; i++) {
		int idx;
		int rc;

		snprintf(name, sizeof(name), "$%d", i + 1);
		idx = sqlite3_bind_parameter_index(stmt, name);
		if (idx == 0)
			continue; /* a parameter the statement does not use */
		if (params[i] == NULL)
			rc = sqlite3_bind_null(stmt, idx);
		else
			rc = sqlite3_bind_text(stmt, idx, params[i], -1, SQLITE_STATIC);
		if (rc != SQLITE_OK)
			return map_rc(s, rc);
	}
	return 0;
}

static int run_stmt(store_sqlite *s, const char *sql, int nparams, const char *const *params,
                    store_row_fn fn, void *arg, int64_t *changes)
{
	sqlite3_stmt *stmt = NULL;
	const char *vals[64];
	int rc;
	int step;

	rc = prepare(s, sql, &stmt);
	if (rc != 0)
		goto out;
	rc = bind_params(s, stmt, nparams, params);
	if (rc != 0)
		goto out;
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		int ncols = sqlite3_column_count(stmt);

		if (ncols > (int)UTIL_ARRAY_LEN(vals))
			ncols = (int)UTIL_ARRAY_LEN(vals);
		for (int i = 0; i < ncols; i++)
			vals[i] = (const char *)sqlite3_column_text(stmt, i);
		if (fn != NULL) {
			rc = fn(arg, ncols, vals);
			if (rc != 0)
				goto out;
		}
	}
	if (step != SQLITE_DONE) {
		rc = map_rc(s, step);
		goto out;
	}
	if (changes != NULL)
		*changes = sqlite3_changes64(s->db);
	rc = 0;
out:
	if (stmt != NULL)
		sqlite3_reset(stmt);
	return rc;
}

static int sq_exec(store *base, const char *sql, int nparams, const char *const *params, store_row_fn fn,
                   void *arg)
{
	return run_stmt((store_sqlite *)base, sql, nparams, params, fn, arg, NULL);
}

static int sq_exec_batch(store *base, store_stmt *stmts, size_t n)
{
	store_sqlite *s = (store_sqlite *)base;
	int first = 0;

	for (size_t i = 0; i < n; i++) {
		stmts[i].changes = 0;
		stmts[i].rc = run_stmt(s, stmts[i].sql, stmts[i].nparams, stmts[i].params, stmts[i].fn,
		                       stmts[i].arg, &stmts[i].changes);
		if (stmts[i].rc != 0 && first == 0)
			first = stmts[i].rc;
	}
	return first;
}

static int simple(store *base, const char *sql)
{
	store_sqlite *s = (store_sqlite *)base;
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : map_rc(s, rc);
}

static int sq_begin(store *base)
{
	/* IMMEDIATE takes the write lock now, so a busy database fails here
	 * (after the busy timeout) rather than in the middle of the batch. */
	return simple(base, "BEGIN IMMEDIATE");
}

static int sq_commit(store *base)
{
	return simple(base, "COMMIT");
}

static int sq_rollback(store *base)
{
	return simple(base, "ROLLBACK");
}

static int sq_episodes_insert(store *base, episode *eps, size_t n)
{
	static const char sql[] =
	    "INSERT INTO tb_episodes (company, customer_id, states, predicted_offer_1, "
	    "predicted_offer_2, predicted_offer_3, request_timestamp, state_key, policy, "
	    "agent_version, epsilon, propensity_1, propensity_2, propensity_3, eligibility, shadow) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";
	store_sqlite *s = (store_sqlite *)base;
	sqlite3_stmt *stmt = NULL;
	int rc;

	rc = prepare(s, sql, &stmt);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		episode *e = &eps[i];
		int col = 1;

		sqlite3_reset(stmt);
		sqlite3_bind_text(stmt, col++, e->company, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, col++, e->customer_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, col++, e->states, -1, SQLITE_STATIC);
		for (int k = 0; k < OFFERS_SHOWN; k++) {
			if (e->offers[k] != NULL)
				sqlite3_bind_text(stmt, col++, e->offers[k], -1, SQLITE_STATIC);
			else
				sqlite3_bind_null(stmt, col++);
		}
		sqlite3_bind_text(stmt, col++, e->request_ts, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, col++, e->state_key, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, col++, e->policy, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, col++, e->agent_version, -1, SQLITE_STATIC);
		sqlite3_bind_double(stmt, col++, e->epsilon);
		for (int k = 0; k < OFFERS_SHOWN; k++) {
			if (e->offers[k] != NULL)
				sqlite3_bind_double(stmt, col++, e->propensity[k]);
			else
				sqlite3_bind_null(stmt, col++);
		}
		if (e->eligibility != NULL)
			sqlite3_bind_text(stmt, col++, e->eligibility, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(stmt, col++);
		if (e->shadow != NULL)
			sqlite3_bind_text(stmt, col++, e->shadow, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(stmt, col++);
		rc = sqlite3_step(stmt);
		if (rc != SQLITE_DONE) {
			rc = map_rc(s, rc);
			sqlite3_reset(stmt);
			return rc;
		}
		e->id = sqlite3_last_insert_rowid(s->db);
	}
	sqlite3_reset(stmt);
	return 0;
}

static const char *sq_errmsg(store *base)
{
	return ((store_sqlite *)base)->errmsg;
}

static void sq_close(store *base)
{
	store_sqlite *s = (store_sqlite *)base;

	for (size_t i = 0; i < s->ncache; i++) {
		sqlite3_finalize(s->cache[i].stmt);
		free(s->cache[i].sql);
	}
	sqlite3_close(s->db);
	free(s);
}

/* --- the dialect's statements (store_sql) ------------------------------- */

#define SQ_NOW "strftime('%Y-%m-%dT%H:%M:%fZ','now')"
/* The value of one field of a json_each row. */
#define SQ_J(field) "json_extract(value, '$." field "')"

/*
 * Rows arrive as one JSON array, read with json_each (SQLite 3.38 and later
 * have it built in), like PostgreSQL's jsonb_to_recordset: db.c has one path
 * for both. "WHERE true" before ON CONFLICT is SQLite's documented way to
 * keep an INSERT .. SELECT from reading the upsert as a join constraint.
 * Revisions: MAX(rev) + 1 + ord, one each, in order (no sequences here).
 */
static const store_sql sqlite_sql = {
    .id_column = "INTEGER PRIMARY KEY AUTOINCREMENT",
    .ts_column = "TEXT NOT NULL DEFAULT (" SQ_NOW ")",
    .migrate_lock = NULL, /* BEGIN IMMEDIATE takes the database's write lock */
    .migration_done = "INSERT INTO tb_schema_migrations VALUES ($1, datetime('now'))",
    .reward_lookup =
        "SELECT i.ord, EXISTS (SELECT 1 FROM tb_episodes x WHERE x.company = i.company"
        " AND x.customer_id = i.customer_id AND (i.episode_id = 0 OR x.id = i.episode_id)),"
        " e.id, e.state_key, e.policy, e.agent_version, e.predicted_offer_1,"
        " e.predicted_offer_2, e.predicted_offer_3,"
        " (julianday('now') - julianday(e.last_update)) * 86400.0, e.states, e.request_timestamp"
        " FROM (SELECT " SQ_J("ord") " AS ord, " SQ_J("company") " AS company, " SQ_J("customer_id") " AS customer_id, " SQ_J(
            "episode_id") " AS episode_id"
                          " FROM json_each($1)) AS i"
                          " LEFT JOIN tb_episodes e ON e.id = (SELECT x.id FROM tb_episodes x"
                          " WHERE x.company = i.company AND x.customer_id = i.customer_id AND CASE"
                          " WHEN i.episode_id = 0 THEN NOT EXISTS (SELECT 1 FROM tb_rewards r"
                          " WHERE r.episode_id = x.id) ELSE x.id = i.episode_id END"
                          " ORDER BY x.id DESC LIMIT 1) ORDER BY i.ord",
    /* BEGIN IMMEDIATE already holds the write lock: no row lock to take. */
    .model_lock = "SELECT company, version, offer, n, tick, stats, rev FROM tb_model"
                  " WHERE company = $1 AND version = $2 AND offer = $3",
    .model_put = "UPDATE tb_model SET n = CAST($4 AS DOUBLE PRECISION), tick = CAST($5 AS INTEGER),"
                 " stats = $6, rev = (SELECT COALESCE(MAX(rev), 0) + 1 FROM tb_model),"
                 " last_update = datetime('now') WHERE company = $1 AND version = $2 AND offer = $3"
                 " RETURNING rev",
    .reward_insert =
        "INSERT INTO tb_rewards (company, customer_id, episode_id, accepted_offer,"
        " accepted_offer_id, clicked_offers, reward_1, reward_2, reward_3,"
        " request_timestamp, learned, source) SELECT " SQ_J("company") ", " SQ_J("customer_id") ", " SQ_J("episode_id") ", " SQ_J("accepted") ", " SQ_J("accepted_offer") ", " SQ_J(
            "clicked") ", " SQ_J("r1") ", " SQ_J("r2") ", " SQ_J("r3") ", " SQ_J("ts") ", " SQ_J("learned") ", " SQ_J("source") " FROM json_each($1) WHERE true ORDER BY " SQ_J("ord") " ON CONFLICT (episode_id) DO NOTHING RETURNING id, episode_id",
    .policy_add =
        "INSERT INTO tb_policy (company, state_key, offer, n, reward_sum, successes,"
        " failures, rev) SELECT " SQ_J("company") ", " SQ_J("state_key") ", " SQ_J("offer") ", " SQ_J("n") ", " SQ_J("reward_sum") ", " SQ_J("successes") ", " SQ_J("failures") ", (SELECT COALESCE(MAX(rev), 0) FROM tb_policy) + 1 + " SQ_J(
            "ord") " FROM json_each($1) WHERE true ORDER BY " SQ_J("ord") " ON CONFLICT (company, state_key, offer) DO UPDATE SET"
                                                                          " n = tb_policy.n + excluded.n, reward_sum = tb_policy.reward_sum + excluded.reward_sum,"
                                                                          " successes = tb_policy.successes + excluded.successes,"
                                                                          " failures = tb_policy.failures + excluded.failures,"
                                                                          " rev = excluded.rev, last_update = " SQ_NOW
                                                                          " RETURNING company, state_key, offer, n, reward_sum, successes, failures,"
                                                                          " prior_value, prior_weight, prior_alpha, prior_beta, rev",
    .policy_priors =
        "INSERT INTO tb_policy (company, state_key, offer, prior_value, prior_weight,"
        " prior_alpha, prior_beta, rev) SELECT " SQ_J("company") ", " SQ_J("state_key") ", " SQ_J("offer") ", " SQ_J("v") ", " SQ_J("w") ", " SQ_J(
            "a") ", " SQ_J("b") ", (SELECT COALESCE(MAX(rev), 0) FROM tb_policy) + 1 + " SQ_J("ord") " FROM json_each($1) WHERE true ORDER BY " SQ_J("ord") " ON CONFLICT (company, state_key, offer) DO UPDATE SET"
                                                                                                                                                            " prior_value = excluded.prior_value, prior_weight = excluded.prior_weight,"
                                                                                                                                                            " prior_alpha = excluded.prior_alpha, prior_beta = excluded.prior_beta,"
                                                                                                                                                            " rev = excluded.rev, last_update = " SQ_NOW,
    .policy_rev_now = "SELECT COALESCE(MAX(rev), 0) FROM tb_policy",
    .pz_model_times =
        "SELECT CAST(strftime('%s', MIN(t)) AS INTEGER), CAST(strftime('%s', MAX(t)) AS INTEGER) "
        "FROM (SELECT last_update AS t FROM tb_policy WHERE company = $1"
        " UNION ALL SELECT last_update FROM tb_model WHERE company = $1) u",
    .key_revoke = "UPDATE tb_api_keys SET revoked_at = CAST(" SQ_NOW " AS TEXT) WHERE revoked_at IS NULL"
                  " AND (key_prefix = $1 OR CAST(id AS TEXT) = $1)",
    .idem_claim =
        "INSERT INTO tb_idempotency (company, idem_key, route, request_hash, episode_id)"
        " SELECT " SQ_J("company") ", " SQ_J("idem_key") ", " SQ_J("route") ", " SQ_J("hash") ", " SQ_J(
            "episode_id") " FROM json_each($1) WHERE true ORDER BY " SQ_J("ord") " ON CONFLICT (company, idem_key) DO NOTHING RETURNING company, idem_key",
    .idem_find = "SELECT " SQ_J("ord") ", t.request_hash, t.episode_id FROM json_each($1)"
                                       " JOIN tb_idempotency t ON t.company = " SQ_J(
                                           "company") " AND t.idem_key = " SQ_J("idem_key"),
    .idem_release = "DELETE FROM tb_idempotency WHERE EXISTS (SELECT 1 FROM json_each($1)"
                    " WHERE " SQ_J("company") " = tb_idempotency.company AND " SQ_J(
                        "idem_key") " = tb_idempotency.idem_key)",
    .idem_purge = "DELETE FROM tb_idempotency WHERE julianday(created_at)"
                  " < julianday('now') - CAST($1 AS REAL) / 86400.0",
    .pz_config_get = "SELECT service, policy FROM tb_pz_config WHERE company = $1",
    .pz_service_put = "INSERT INTO tb_pz_config (company, service) VALUES ($1, $2) ON CONFLICT (company)"
                      " DO UPDATE SET service = excluded.service, updated_at = " SQ_NOW,
    .pz_policy_put = "INSERT INTO tb_pz_config (company, policy) VALUES ($1, $2) ON CONFLICT (company)"
                     " DO UPDATE SET policy = excluded.policy, updated_at = " SQ_NOW,
    .contact_episodes =
        "SELECT id, company, customer_id, predicted_offer_1, predicted_offer_2, predicted_offer_3,"
        " (julianday('now') - julianday(last_update)) * 86400.0 FROM tb_episodes WHERE id > $1"
        " AND id <= $4 AND (julianday('now') - julianday(last_update)) * 86400.0 < $2 ORDER BY id LIMIT $3",
    .contact_rewards =
        "SELECT r.id, r.company, r.customer_id, r.episode_id, r.accepted_offer_id,"
        " e.predicted_offer_1, e.predicted_offer_2, e.predicted_offer_3,"
        " (julianday('now') - julianday(r.last_update)) * 86400.0 FROM tb_rewards r"
        " JOIN tb_episodes e ON e.id = r.episode_id WHERE r.id > $1 AND r.id <= $4"
        " AND r.accepted_offer"
        " AND (julianday('now') - julianday(r.last_update)) * 86400.0 < $2 ORDER BY r.id LIMIT $3",
    /* BEGIN IMMEDIATE already holds the write lock: counting is enough. */
    .customer_lock = "SELECT COUNT(*) FROM tb_episodes WHERE company = $1 AND customer_id = $2",
};

static const struct store_ops sqlite_ops = {
    .exec = sq_exec,
    .exec_batch = sq_exec_batch,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .episodes_insert = sq_episodes_insert,
    .errmsg = sq_errmsg,
    .close = sq_close,
};

/* Creates the directory that will hold path, one level, if missing. */
static void make_parent_dir(const char *path)
{
	char *copy = xstrdup(path);
	char *dir = dirname(copy);

	if (strcmp(dir, ".") != 0 && mkdir(dir, 0755) != 0 && errno != EEXIST)
		log_msg(LOG_WARN, "cannot create %s: %s", dir, strerror(errno));
	free(copy);
}

int store_sqlite_open(const char *path, store **out)
{
	store_sqlite *s = xcalloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	s->base.ops = &sqlite_ops;
	s->base.sql = &sqlite_sql;
	s->base.dialect = STORE_SQLITE;
	make_parent_dir(path);
	rc = sqlite3_open_v2(path, &s->db,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		log_msg(LOG_ERROR, "cannot open sqlite database %s: %s", path,
		        s->db ? sqlite3_errmsg(s->db) : "out of memory");
		sqlite3_close(s->db);
		free(s);
		return ERR_IO;
	}
	sqlite3_busy_timeout(s->db, SQLITE_BUSY_MS);
	sqlite3_extended_result_codes(s->db, 1);
	rc = sqlite3_exec(s->db,
	                  "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
	                  "PRAGMA foreign_keys=ON;",
	                  NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		log_msg(LOG_ERROR, "cannot configure sqlite database %s: %s", path,
		        sqlite3_errmsg(s->db));
		sq_close(&s->base);
		return ERR_IO;
	}
	*out = &s->base;
	return 0;
}
