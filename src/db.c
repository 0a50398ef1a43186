/*
 * db.c — the schema (versioned, idempotent migrations) and the domain
 * queries, in SQL that PostgreSQL and SQLite both accept. Parameters are text
 * ($1..$n); numbers are cast with CAST(... AS DOUBLE PRECISION), which both
 * dialects understand. Where they differ (identity columns, timestamps, the
 * policy revision counter, set-based statements) the store provides the
 * text (s->sql, struct store_sql in store.h); nothing here asks which store
 * it runs on. Set-based statements take their rows as one JSON array.
 */
#include "db.h"

#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "date.h"
#include "log.h"
#include "util.h"

int db_bool(const char *v)
{
	return v != NULL && (v[0] == 't' || v[0] == '1' || v[0] == 'T');
}

double db_num(const char *v)
{
	double d;

	if (v == NULL || util_strtod(v, -1e300, 1e300, &d) != 0)
		return 0;
	return d;
}

static void fmt_double(char out[32], double v)
{
	snprintf(out, 32, "%.17g", v);
}

static void fmt_int(char out[24], int64_t v)
{
	snprintf(out, 24, "%" PRId64, v);
}

/*
 * The schema, one row per statement: the version that adds it, 1 to
 * STORE_MIGRATIONS (run once, in order, and recorded in
 * tb_schema_migrations), or 0 for what runs at every start (CREATE .. IF NOT
 * EXISTS). "@ID@" and "@TS@" are replaced by the store's identity column and
 * timestamp-with-default; each version's statements here run first, then
 * the store's own of that version (store_sql.migrations). Statements run one
 * by one (libpq's extended protocol takes one statement at a time).
 */
static const store_migration migrations[] = {
    /* 1: the brief's tables. */
    {1, "CREATE TABLE tb_agents (id @ID@, version TEXT NOT NULL,"
        " policy TEXT NOT NULL DEFAULT 'epsilon-greedy',"
        " epsilon DOUBLE PRECISION NOT NULL DEFAULT 0.1, params TEXT, last_update @TS@)"},
    {1, "CREATE TABLE tb_episodes (id @ID@, company TEXT NOT NULL, customer_id TEXT NOT NULL,"
        " states TEXT NOT NULL, predicted_offer_1 TEXT NOT NULL, predicted_offer_2 TEXT,"
        " predicted_offer_3 TEXT, request_timestamp TEXT, state_key TEXT, policy TEXT,"
        " agent_version TEXT, epsilon DOUBLE PRECISION, propensity_1 DOUBLE PRECISION,"
        " propensity_2 DOUBLE PRECISION, propensity_3 DOUBLE PRECISION, last_update @TS@)"},
    {1, "CREATE INDEX tb_episodes_customer ON tb_episodes (company, customer_id, id)"},
    {1, "CREATE TABLE tb_rewards (id @ID@, company TEXT NOT NULL,"
        " episode_id BIGINT NOT NULL REFERENCES tb_episodes (id), customer_id TEXT NOT NULL,"
        " accepted_offer BOOLEAN NOT NULL, accepted_offer_id TEXT, clicked_offers TEXT,"
        " reward_1 DOUBLE PRECISION, reward_2 DOUBLE PRECISION, reward_3 DOUBLE PRECISION,"
        " request_timestamp TEXT, learned BOOLEAN NOT NULL DEFAULT TRUE, last_update @TS@)"},
    {1, "CREATE UNIQUE INDEX tb_rewards_episode ON tb_rewards (episode_id)"},
    {1, "CREATE TABLE tb_products (id @ID@, company TEXT NOT NULL, offer_id TEXT NOT NULL,"
        " product_name TEXT, UNIQUE (company, offer_id))"},
    /* The brief names Company A's catalogue TB_PRODUCTS_A. */
    {1, "CREATE VIEW tb_products_a AS SELECT id, offer_id, product_name FROM tb_products"
        " WHERE company = 'A'"},
    {1, "CREATE TABLE tb_policy (company TEXT NOT NULL, state_key TEXT NOT NULL,"
        " offer TEXT NOT NULL, n DOUBLE PRECISION NOT NULL DEFAULT 0,"
        " reward_sum DOUBLE PRECISION NOT NULL DEFAULT 0,"
        " successes DOUBLE PRECISION NOT NULL DEFAULT 0,"
        " failures DOUBLE PRECISION NOT NULL DEFAULT 0,"
        " prior_value DOUBLE PRECISION NOT NULL DEFAULT 0,"
        " prior_weight DOUBLE PRECISION NOT NULL DEFAULT 0,"
        " prior_alpha DOUBLE PRECISION NOT NULL DEFAULT 1,"
        " prior_beta DOUBLE PRECISION NOT NULL DEFAULT 1,"
        " rev BIGINT NOT NULL DEFAULT 0, last_update @TS@,"
        " PRIMARY KEY (company, state_key, offer))"},
    {1, "CREATE INDEX tb_policy_rev ON tb_policy (rev)"},
    {1, "CREATE TABLE tb_segments (company TEXT NOT NULL, customer_id TEXT NOT NULL,"
        " segment TEXT NOT NULL, last_update @TS@, PRIMARY KEY (company, customer_id))"},
    {1, "CREATE TABLE tb_api_keys (id @ID@, company TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE,"
        " key_prefix TEXT NOT NULL, created_at @TS@, revoked_at TEXT)"},

    /* 2: default rewards (after an agent's reward wait) are told apart. */
    {2, "ALTER TABLE tb_rewards ADD COLUMN source TEXT NOT NULL DEFAULT 'client'"},

    /* 3: TB_POLICY tuned for frequent updates: only the store's own statements. */

    /* 4: the contextual policies' statistics (model.c), one row per offer and a clock row. */
    {4, "CREATE TABLE tb_model (company TEXT NOT NULL, version TEXT NOT NULL, offer TEXT NOT NULL,"
        " n DOUBLE PRECISION NOT NULL DEFAULT 0, tick BIGINT NOT NULL DEFAULT 0,"
        " stats TEXT NOT NULL DEFAULT '{}', rev BIGINT NOT NULL DEFAULT 0, last_update @TS@,"
        " PRIMARY KEY (company, version, offer))"},
    {4, "CREATE INDEX tb_model_rev ON tb_model (rev)"},

    /* 5: API keys get a role (issue 16.6): every existing key stays a client key. */
    {5, "ALTER TABLE tb_api_keys ADD COLUMN role TEXT NOT NULL DEFAULT 'client'"},

    /* 6: per-company rules and contact policy, versioned (issue 16), and each episode's eligibility. */
    {6, "CREATE TABLE tb_rules (id @ID@, company TEXT NOT NULL, version INTEGER NOT NULL,"
        " body TEXT NOT NULL, created_at @TS@, UNIQUE (company, version))"},
    {6, "ALTER TABLE tb_episodes ADD COLUMN eligibility TEXT"},

    /*
     * 7: the episodes' write time is indexed, for retention (the oldest first,
     * issue 16.4) and export by date range (16.5). IF NOT EXISTS: on a large
     * PostgreSQL table an operator may build it first with CREATE INDEX
     * CONCURRENTLY, so the upgrade does not hold the writers meanwhile.
     */
    {7, "CREATE INDEX IF NOT EXISTS tb_episodes_written ON tb_episodes (last_update)"},

    /*
     * 8: champion/challenger (issue 17.1). Each release with --traffic or
     * --shadow, promote and rollback adds a tb_experiments row; the newest is
     * in force unless an agent was released after it (agent_id). A shadow
     * version's slate is kept beside the served one, in tb_episodes.shadow.
     */
    {8, "CREATE TABLE tb_experiments (id @ID@, action TEXT NOT NULL, champion TEXT NOT NULL,"
        " challenger TEXT, traffic DOUBLE PRECISION NOT NULL DEFAULT 0,"
        " shadow INTEGER NOT NULL DEFAULT 0, agent_id BIGINT NOT NULL DEFAULT 0,"
        " from_episode BIGINT NOT NULL DEFAULT 0, created_at @TS@)"},
    {8, "ALTER TABLE tb_episodes ADD COLUMN shadow TEXT"},

    /*
     * 9: evaluation jobs (issue 17.2, evaluation.c): any process answers GET;
     * heartbeat (unix seconds) tells a job whose process died.
     */
    {9, "CREATE TABLE tb_evaluations (id TEXT PRIMARY KEY, company TEXT NOT NULL,"
        " status TEXT NOT NULL DEFAULT 'queued', progress DOUBLE PRECISION NOT NULL DEFAULT 0,"
        " request TEXT NOT NULL, result TEXT, error TEXT, owner TEXT NOT NULL,"
        " heartbeat BIGINT NOT NULL DEFAULT 0, created_at TEXT NOT NULL, finished_at TEXT)"},
    {9, "CREATE INDEX tb_evaluations_company ON tb_evaluations (company, created_at)"},

    /*
     * 10: the audit of erasures (issue 16.3): that a customer was erased, when, by
     * whom and how much, never who the customer was (db_erasure_record).
     */
    {10, "CREATE TABLE tb_erasures (id @ID@, company TEXT NOT NULL, erased_at @TS@,"
         " episodes BIGINT NOT NULL, rewards BIGINT NOT NULL, learned BIGINT NOT NULL,"
         " segments BIGINT NOT NULL, by_whom TEXT NOT NULL, approximate INTEGER NOT NULL DEFAULT 0)"},

    /*
     * 11: TB_SEGMENTS' write time is indexed: the refresher asks for the newest
     * at every refresh, to tell that offerctl train rewrote the segments
     * (db_segments_mark), which must not read the whole table.
     */
    {11, "CREATE INDEX IF NOT EXISTS tb_segments_written ON tb_segments (last_update)"},
    /*
     * 0, at every start (the tables came after the numbered versions began):
     * idempotency keys, one row per (company, key), stored with the answer's
     * episode (issue 15.2); the Personalizer configuration per company
     * (issue 14), its event state and Apprentice report (api_personalizer.c).
     */
    {0, "CREATE TABLE IF NOT EXISTS tb_idempotency (company TEXT NOT NULL, idem_key TEXT NOT NULL,"
        " route TEXT NOT NULL, request_hash TEXT NOT NULL, episode_id BIGINT,"
        " created_at @TS@, PRIMARY KEY (company, idem_key))"},
    {0, "CREATE INDEX IF NOT EXISTS tb_idempotency_created ON tb_idempotency (created_at)"},
    {0, "CREATE TABLE IF NOT EXISTS tb_pz_config (company TEXT PRIMARY KEY,"
        " service TEXT NOT NULL DEFAULT '', policy TEXT NOT NULL DEFAULT '', updated_at @TS@)"},
    {0, "CREATE TABLE IF NOT EXISTS tb_pz_events (company TEXT NOT NULL, event_id TEXT NOT NULL,"
        " ranked_at DOUBLE PRECISION NOT NULL, deferred INTEGER NOT NULL DEFAULT 0,"
        " apprentice INTEGER NOT NULL DEFAULT 0, agreed INTEGER NOT NULL DEFAULT 0, slots TEXT,"
        " held_mask INTEGER NOT NULL DEFAULT 0, h0 DOUBLE PRECISION NOT NULL DEFAULT 0,"
        " h1 DOUBLE PRECISION NOT NULL DEFAULT 0, h2 DOUBLE PRECISION NOT NULL DEFAULT 0,"
        " PRIMARY KEY (company, event_id))"},
    {0, "CREATE TABLE IF NOT EXISTS tb_pz_apprentice (company TEXT PRIMARY KEY,"
        " events BIGINT NOT NULL DEFAULT 0, agreed BIGINT NOT NULL DEFAULT 0,"
        " rewards BIGINT NOT NULL DEFAULT 0, rewards_agreed BIGINT NOT NULL DEFAULT 0,"
        " reward_sum DOUBLE PRECISION NOT NULL DEFAULT 0,"
        " agreed_sum DOUBLE PRECISION NOT NULL DEFAULT 0)"},
};

/* The statement tmpl with its @ID@ and @TS@ filled in; NULL past 1 MiB. */
static char *ddl_sql(const store *s, const char *tmpl)
{
	buf b;
	const char *p = tmpl;
	int rc = 0;

	buf_init(&b, 1 << 20);
	while (*p != '\0' && rc == 0) {
		if (strncmp(p, "@ID@", 4) == 0) {
			rc = buf_adds(&b, s->sql->id_column);
			p += 4;
		} else if (strncmp(p, "@TS@", 4) == 0) {
			rc = buf_adds(&b, s->sql->ts_column);
			p += 4;
		} else {
			rc = buf_add(&b, p, 1);
			p++;
		}
	}
	if (rc != 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

/* Runs the statements of version v in table m (n rows), in their order. */
static int run_version(store *s, const store_migration *m, size_t n, int v)
{
	for (size_t i = 0; i < n; i++) {
		char *sql;
		int rc;

		if (m[i].version != v)
			continue;
		sql = ddl_sql(s, m[i].sql);
		if (sql == NULL) {
			log_msg(LOG_ERROR, "migration %d failed: a statement is over 1 MiB", v);
			return ERR_TOOBIG;
		}
		rc = store_exec(s, sql, 0, NULL, NULL, NULL);
		if (rc != 0)
			log_msg(LOG_ERROR, "migration %d failed: %s: %s", v, s->ops->errmsg(s), sql);
		free(sql);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Version v's statements: the portable ones, then the store's own. */
static int run_migration(store *s, int v)
{
	int rc = run_version(s, migrations, UTIL_ARRAY_LEN(migrations), v);

	return rc != 0 ? rc : run_version(s, s->sql->migrations, s->sql->nmigrations, v);
}

/* Counts the rows into the int64_t at arg. */
static int count_row(void *arg, int ncols, const char *const *vals)
{
	(void)ncols;
	(void)vals;
	(*(int64_t *)arg)++;
	return 0;
}

static int int_row(void *arg, int ncols, const char *const *vals)
{
	int64_t *out = arg;

	if (ncols > 0 && vals[0] != NULL)
		util_strtonum(vals[0], INT64_MIN, INT64_MAX, out);
	return 0;
}

int db_schema_version(store *s, int *out)
{
	int64_t v = 0;
	int rc = store_exec(s, "SELECT COALESCE(MAX(version), 0) FROM tb_schema_migrations", 0, NULL,
	                    int_row, &v);

	*out = (int)v;
	return rc;
}

int db_ping(store *s)
{
	int64_t v = 0;
	int rc = store_exec(s, "SELECT 1", 0, NULL, int_row, &v);

	return rc == 0 && v != 1 ? ERR_IO : rc;
}

/* A database without agent versions gets the first: 1.0.0, epsilon-greedy, epsilon 0.1. */
static int seed_agent(store *s)
{
	int64_t agents = 0;
	int rc = store_exec(s, "SELECT COUNT(*) FROM tb_agents", 0, NULL, int_row, &agents);

	if (rc != 0 || agents > 0)
		return rc;
	log_msg(LOG_INFO, "recording agent version 1.0.0 (epsilon-greedy, epsilon 0.1)");
	return store_exec(s,
	                  "INSERT INTO tb_agents (version, policy, epsilon) VALUES "
	                  "('1.0.0', 'epsilon-greedy', 0.1)",
	                  0, NULL, NULL, NULL);
}

int db_migrate(store *s)
{
	int64_t current = 0;
	int rc;

	rc = store_exec(s,
	                "CREATE TABLE IF NOT EXISTS tb_schema_migrations (version INTEGER PRIMARY KEY,"
	                " applied_at TEXT NOT NULL)",
	                0, NULL, NULL, NULL);
	if (rc != 0)
		return rc;
	rc = s->ops->begin(s);
	if (rc != 0)
		return rc;
	/* Two offerd processes starting together must not both migrate. */
	if (s->sql->migrate_lock != NULL) {
		rc = store_exec(s, s->sql->migrate_lock, 0, NULL, NULL, NULL);
		if (rc != 0)
			goto out;
	}
	rc = store_exec(s, "SELECT COALESCE(MAX(version), 0) FROM tb_schema_migrations", 0, NULL,
	                int_row, &current);
	if (rc != 0)
		goto out;
	for (int v = (int)current + 1; v <= STORE_MIGRATIONS; v++) {
		char text[24];
		const char *params[1] = {text};

		log_msg(LOG_INFO, "applying schema migration %d", v);
		rc = run_migration(s, v);
		if (rc != 0)
			goto out;
		fmt_int(text, v);
		rc = store_exec(s, s->sql->migration_done, 1, params, NULL, NULL);
		if (rc != 0)
			goto out;
	}
	rc = run_migration(s, 0);
	if (rc != 0)
		goto out;
	rc = seed_agent(s);
	if (rc != 0)
		goto out;
	rc = s->ops->commit(s);
	return rc;
out:
	s->ops->rollback(s);
	return rc;
}

/* --- agents ----------------------------------------------------------- */

void db_agent_clear(db_agent *a)
{
	free(a->params);
	memset(a, 0, sizeof(*a));
}

static int agent_row(void *arg, int ncols, const char *const *vals)
{
	db_agent *a = arg;

	if (ncols < 5)
		return ERR_IO;
	util_strtonum(vals[0], 0, INT64_MAX, &a->id);
	util_strlcpy(a->version, vals[1] ? vals[1] : "", sizeof(a->version));
	util_strlcpy(a->policy, vals[2] ? vals[2] : "", sizeof(a->policy));
	a->epsilon = 0.1;
	if (vals[3] != NULL)
		util_strtod(vals[3], 0.0, 1.0, &a->epsilon);
	free(a->params);
	a->params = vals[4] ? xstrdup(vals[4]) : NULL;
	if (ncols > 5)
		util_strlcpy(a->released, vals[5] ? vals[5] : "", sizeof(a->released));
	return 0;
}

/* One TB_AGENTS row from sql (at most one row); ERR_NOTFOUND when none. */
static int agent_one(store *s, const char *sql, int nparams, const char *const *params, db_agent *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	rc = store_exec(s, sql, nparams, params, agent_row, out);
	if (rc == 0 && out->id == 0)
		rc = ERR_NOTFOUND;
	return rc;
}

int db_agent_latest(store *s, db_agent *out)
{
	return agent_one(
	    s, "SELECT id, version, policy, epsilon, params FROM tb_agents ORDER BY id DESC LIMIT 1", 0,
	    NULL, out);
}

int db_agent_by_version(store *s, const char *version, db_agent *out)
{
	const char *p[1] = {version};

	return agent_one(s,
	                 "SELECT id, version, policy, epsilon, params FROM tb_agents WHERE version = $1"
	                 " ORDER BY id DESC LIMIT 1",
	                 1, p, out);
}

typedef struct agent_list {
	db_agent *rows;
	size_t n;
	size_t cap;
} agent_list;

static int agent_list_row(void *arg, int ncols, const char *const *vals)
{
	agent_list *l = arg;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->rows = xrealloc(l->rows, l->cap * sizeof(*l->rows));
	}
	memset(&l->rows[l->n], 0, sizeof(l->rows[0]));
	return agent_row(&l->rows[l->n++], ncols, vals);
}

/* Reads every row of sql first, then calls fn for each (so fn may query s). */
static int agents_list(store *s, const char *sql, db_agent_fn fn, void *arg)
{
	agent_list l = {NULL, 0, 0};
	int rc;

	rc = store_exec(s, sql, 0, NULL, agent_list_row, &l);
	for (size_t i = 0; rc == 0 && i < l.n; i++)
		rc = fn(arg, &l.rows[i]);
	for (size_t i = 0; i < l.n; i++)
		db_agent_clear(&l.rows[i]);
	free(l.rows);
	return rc;
}

int db_agents_each(store *s, db_agent_fn fn, void *arg)
{
	return agents_list(
	    s,
	    "SELECT a.id, a.version, a.policy, a.epsilon, a.params FROM tb_agents a"
	    " WHERE a.id = (SELECT MAX(b.id) FROM tb_agents b WHERE b.version = a.version)"
	    " ORDER BY a.id",
	    fn, arg);
}

int db_agents_all(store *s, db_agent_fn fn, void *arg)
{
	return agents_list(s,
	                   "SELECT id, version, policy, epsilon, params, CAST(last_update AS TEXT)"
	                   " FROM tb_agents ORDER BY id",
	                   fn, arg);
}

int db_agent_release(store *s, const char *version, const char *policy, double epsilon,
                     const char *params)
{
	char eps[32];
	const char *p[4];

	fmt_double(eps, epsilon);
	p[0] = version;
	p[1] = policy;
	p[2] = eps;
	p[3] = params;
	return store_exec(s,
	                  "INSERT INTO tb_agents (version, policy, epsilon, params) VALUES "
	                  "($1, $2, CAST($3 AS DOUBLE PRECISION), $4)",
	                  4, p, NULL, NULL);
}

/* --- products --------------------------------------------------------- */

/*
 * The tables of a company's text pairs, each replaced whole in one
 * transaction and read back whole: the catalogue and the segments. The
 * caller's row struct holds the pair as two string pointers.
 */
typedef struct company_pairs {
	const char *table;
	const char *cols;   /* the pair's two columns, for the INSERT after company */
	const char *select; /* company and the pair, of every row */
	size_t row_size;
	size_t x_off; /* of the first string in the row struct */
	size_t y_off;
	int y_optional; /* a NULL second column is passed on, not skipped */
} company_pairs;

static const company_pairs products_pairs = {
    "tb_products",
    "offer_id, product_name",
    "SELECT company, offer_id, product_name FROM tb_products ORDER BY id",
    sizeof(db_product),
    offsetof(db_product, offer_id),
    offsetof(db_product, name),
    1,
};

static const company_pairs segments_pairs = {
    "tb_segments",
    "customer_id, segment",
    "SELECT company, customer_id, segment FROM tb_segments",
    sizeof(db_segment),
    offsetof(db_segment, customer_id),
    offsetof(db_segment, segment),
    0,
};

/* DELETE by company, then INSERT (company, x, y) for each of rows[0..n). */
static int company_pairs_replace(store *s, const company_pairs *t, const char *company, const void *rows,
                                 size_t n)
{
	char del[128];
	char ins[256];
	const char *p[3];
	int rc;

	snprintf(del, sizeof(del), "DELETE FROM %s WHERE company = $1", t->table);
	snprintf(ins, sizeof(ins), "INSERT INTO %s (company, %s) VALUES ($1, $2, $3)", t->table,
	         t->cols);
	rc = s->ops->begin(s);
	if (rc != 0)
		return rc;
	p[0] = company;
	rc = store_exec(s, del, 1, p, NULL, NULL);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const char *row = (const char *)rows + i * t->row_size;

		memcpy(&p[1], row + t->x_off, sizeof(p[1]));
		memcpy(&p[2], row + t->y_off, sizeof(p[2]));
		rc = store_exec(s, ins, 3, p, NULL, NULL);
	}
	if (rc != 0) {
		s->ops->rollback(s);
		return rc;
	}
	return s->ops->commit(s);
}

/* Calls fn(arg, company, x, y) for each row. */
typedef int (*triple_fn)(void *arg, const char *a, const char *b, const char *c);

typedef struct triple_each {
	triple_fn fn;
	void *arg;
	int third_optional; /* a NULL third column is passed on, not skipped */
} triple_each;

static int triple_row(void *arg, int ncols, const char *const *vals)
{
	triple_each *te = arg;

	if (ncols < 3 || vals[0] == NULL || vals[1] == NULL || (vals[2] == NULL && !te->third_optional))
		return 0;
	return te->fn(te->arg, vals[0], vals[1], vals[2]);
}

static int company_pairs_each(store *s, const company_pairs *t, triple_fn fn, void *arg)
{
	triple_each te = {fn, arg, t->y_optional};

	return store_exec(s, t->select, 0, NULL, triple_row, &te);
}

int db_products_replace(store *s, const char *company, const db_product *prods, size_t n)
{
	return company_pairs_replace(s, &products_pairs, company, prods, n);
}

int db_products_each(store *s, db_product_fn fn, void *arg)
{
	return company_pairs_each(s, &products_pairs, fn, arg);
}

/* --- rows as one JSON parameter ----------------------------------------- */

/* Appends row (a new reference) to rows; json_pack gives NULL only for text that is not UTF-8. */
static int json_rows_push(json_t *rows, json_t *row)
{
	return json_array_append_new(rows, row) == 0 ? 0 : ERR_IO;
}

/*
 * Runs one of the dialect's set-based statements with rows (consumed) as
 * its one JSON parameter; prepared when its plan cannot depend on table
 * sizes (store_exec_prepared).
 */
static int exec_json(store *s, const char *sql, int prepared, json_t *rows, store_row_fn fn, void *arg)
{
	char *param = json_dumps(rows, JSON_COMPACT);
	int rc;

	json_decref(rows);
	if (param == NULL)
		return ERR_NOMEM;
	rc = prepared ? store_exec_prepared(s, sql, 1, (const char *const *)&param, fn, arg)
	              : store_exec(s, sql, 1, (const char *const *)&param, fn, arg);
	free(param);
	return rc;
}

/*
 * The same array written as text straight into one buffer, for the writer's
 * statements that run every batch (rewards lookup and insert, the learned
 * values' upsert): no jansson object per row and no allocation per value,
 * which were most of the writer's CPU per reward. The first error sticks
 * (a non-finite number is ERR_IO, as json_pack would make it).
 */
#define JROWS_LIMIT ((size_t)256 << 20)

typedef struct jrows {
	buf b;
	size_t n; /* rows begun */
	int rc;
} jrows;

static void jr_add(jrows *j, const char *s, size_t len)
{
	if (j->rc == 0)
		j->rc = buf_add(&j->b, s, len);
}

static void jr_init(jrows *j)
{
	buf_init(&j->b, JROWS_LIMIT);
	j->n = 0;
	j->rc = 0;
	jr_add(j, "[", 1);
}

static void jr_key(jrows *j, const char *key)
{
	jr_add(j, ",\"", 2);
	jr_add(j, key, strlen(key));
	jr_add(j, "\":", 2);
}

static void jr_intval(jrows *j, int64_t v)
{
	char t[24];
	int len = snprintf(t, sizeof(t), "%" PRId64, v);

	jr_add(j, t, (size_t)len);
}

/* Starts a row: {"ord":ord. */
static void jr_row(jrows *j, int64_t ord)
{
	if (j->n++ > 0)
		jr_add(j, ",", 1);
	jr_add(j, "{\"ord\":", 7);
	jr_intval(j, ord);
}

static void jr_end(jrows *j)
{
	jr_add(j, "}", 1);
}

static void jr_int(jrows *j, const char *key, int64_t v)
{
	jr_key(j, key);
	jr_intval(j, v);
}

static void jr_bool(jrows *j, const char *key, int v)
{
	jr_key(j, key);
	jr_add(j, v ? "true" : "false", v ? 4 : 5);
}

static void jr_null(jrows *j, const char *key)
{
	jr_key(j, key);
	jr_add(j, "null", 4);
}

static void jr_num(jrows *j, const char *key, double v)
{
	char t[32];

	if (!isfinite(v)) {
		if (j->rc == 0)
			j->rc = ERR_IO;
		return;
	}
	jr_key(j, key);
	fmt_double(t, v);
	jr_add(j, t, strlen(t));
}

/* A JSON string, or null for NULL. */
static void jr_str(jrows *j, const char *key, const char *v)
{
	if (v == NULL) {
		jr_null(j, key);
		return;
	}
	jr_key(j, key);
	if (j->rc == 0)
		j->rc = buf_add_json(&j->b, v);
}

typedef int (*store_run_fn)(store *s, const char *sql, int nparams, const char *const *params,
                            store_row_fn fn, void *arg);

/* Closes the array and runs sql with it as $1 by run (store_exec_prepared...); frees j. */
static int jr_exec(store *s, jrows *j, const char *sql, store_run_fn run, store_row_fn fn, void *arg)
{
	const char *param;
	int rc;

	jr_add(j, "]", 1);
	rc = j->rc;
	param = j->b.data;
	if (rc == 0)
		rc = run(s, sql, 1, &param, fn, arg);
	buf_free(&j->b);
	return rc;
}

int db_product_ids(store *s, const char *company, store_row_fn fn, void *arg)
{
	const char *p[1] = {company};

	return store_exec(s, "SELECT offer_id FROM tb_products WHERE company = $1 ORDER BY id", 1, p, fn,
	                  arg);
}

/* --- episodes ---------------------------------------------------------- */

/* Pages of db_episodes_logged: bounded rows in memory per statement. */
#define EPISODES_PAGE 5000
#define EPISODES_PAGE_TEXT "5000"

typedef struct logged_page {
	store_row_fn fn;
	void *arg;
	int64_t last_id;
	size_t rows;
} logged_page;

static int logged_row(void *arg, int ncols, const char *const *vals)
{
	logged_page *p = arg;

	if (ncols < 1 || vals[0] == NULL || util_strtonum(vals[0], 0, INT64_MAX, &p->last_id) != 0)
		return ERR_IO;
	p->rows++;
	return p->fn(p->arg, ncols, vals);
}

int db_episodes_logged(store *s, const char *company, const char *from, const char *to, store_row_fn fn,
                       void *arg)
{
	static const char sql[] =
	    "SELECT e.id, e.state_key, e.states, e.predicted_offer_1,"
	    " e.predicted_offer_2, e.predicted_offer_3, e.propensity_1,"
	    " e.propensity_2, e.propensity_3, e.policy,"
	    " CASE WHEN r.id IS NULL THEN 0 ELSE 1 END, r.accepted_offer,"
	    " r.accepted_offer_id, e.request_timestamp FROM tb_episodes e"
	    " LEFT JOIN tb_rewards r ON r.episode_id = e.id"
	    " WHERE e.company = $1 AND e.last_update >= $2"
	    " AND e.last_update < $3 AND e.id > $4 ORDER BY e.id LIMIT " EPISODES_PAGE_TEXT;
	logged_page p = {fn, arg, 0, 0};
	char after[24];
	const char *params[4] = {company, from != NULL ? from : "0001-01-01",
	                         to != NULL ? to : "9999-12-31", after};
	int rc;

	/* Keyset pages by id: a long evaluation never holds one huge result set. */
	do {
		p.rows = 0;
		snprintf(after, sizeof(after), "%" PRId64, p.last_id);
		rc = store_exec(s, sql, 4, params, logged_row, &p);
	} while (rc == 0 && p.rows == EPISODES_PAGE);
	return rc;
}

/* --- evaluations ------------------------------------------------------- */

#define EVAL_COLS "id, status, progress, request, result, error, heartbeat, created_at, finished_at"

int db_evaluation_insert(store *s, const char *id, const char *company, const char *owner,
                         const char *request, const char *created, int64_t heartbeat)
{
	char beat[24];
	const char *params[6] = {id, company, request, owner, beat, created};

	snprintf(beat, sizeof(beat), "%" PRId64, heartbeat);
	return store_exec(s,
	                  "INSERT INTO tb_evaluations (id, company, status, progress, request, owner,"
	                  " heartbeat, created_at) VALUES ($1, $2, 'queued', 0, $3, $4,"
	                  " CAST($5 AS BIGINT), $6)",
	                  6, params, NULL, NULL);
}

int db_evaluation_update(store *s, const char *id, const char *status, double progress,
                         const char *result, const char *error, const char *finished, int64_t heartbeat)
{
	char prog[32];
	char beat[24];
	const char *params[7] = {status, prog, result, error, finished, beat, id};

	snprintf(prog, sizeof(prog), "%.6f", progress);
	snprintf(beat, sizeof(beat), "%" PRId64, heartbeat);
	return store_exec(
	    s,
	    "UPDATE tb_evaluations SET status = $1, progress = CAST($2 AS DOUBLE PRECISION),"
	    " result = $3, error = $4, finished_at = $5, heartbeat = CAST($6 AS BIGINT)"
	    " WHERE id = $7",
	    7, params, NULL, NULL);
}

int db_evaluation_progress(store *s, const char *id, double progress, int64_t heartbeat)
{
	char prog[32];
	char beat[24];
	const char *params[3] = {prog, beat, id};

	snprintf(prog, sizeof(prog), "%.6f", progress);
	snprintf(beat, sizeof(beat), "%" PRId64, heartbeat);
	return store_exec(s,
	                  "UPDATE tb_evaluations SET progress = CAST($1 AS DOUBLE PRECISION),"
	                  " heartbeat = CAST($2 AS BIGINT) WHERE id = $3",
	                  3, params, NULL, NULL);
}

int db_evaluations_beat(store *s, const char *owner, int64_t heartbeat)
{
	char beat[24];
	const char *params[2] = {beat, owner};

	snprintf(beat, sizeof(beat), "%" PRId64, heartbeat);
	return store_exec(s,
	                  "UPDATE tb_evaluations SET heartbeat = CAST($1 AS BIGINT)"
	                  " WHERE owner = $2 AND status IN ('queued', 'running')",
	                  2, params, NULL, NULL);
}

int db_evaluations_expire(store *s, const char *company, int64_t before, const char *finished,
                          const char *error)
{
	char beat[24];
	const char *params[4] = {error, finished, company, beat};

	snprintf(beat, sizeof(beat), "%" PRId64, before);
	return store_exec(s,
	                  "UPDATE tb_evaluations SET status = 'failed', error = $1, finished_at = $2"
	                  " WHERE company = $3 AND status IN ('queued', 'running')"
	                  " AND heartbeat < CAST($4 AS BIGINT)",
	                  4, params, NULL, NULL);
}

int db_evaluation_delete(store *s, const char *company, const char *id, int64_t *deleted)
{
	const char *params[2] = {company, id};

	*deleted = 0;
	return store_exec(s, "DELETE FROM tb_evaluations WHERE company = $1 AND id = $2 RETURNING id", 2,
	                  params, count_row, deleted);
}

int db_evaluations_get(store *s, const char *company, const char *id, int limit, store_row_fn fn,
                       void *arg)
{
	char lim[24];

	snprintf(lim, sizeof(lim), "%d", limit);
	if (id != NULL) {
		const char *params[2] = {company, id};

		return store_exec(s,
		                  "SELECT " EVAL_COLS
		                  " FROM tb_evaluations WHERE company = $1 AND id = $2",
		                  2, params, fn, arg);
	} else {
		const char *params[2] = {company, lim};

		return store_exec(s,
		                  "SELECT " EVAL_COLS " FROM tb_evaluations WHERE company = $1"
		                  " ORDER BY created_at DESC, id DESC LIMIT CAST($2 AS INTEGER)",
		                  2, params, fn, arg);
	}
}

/* --- retention and export ---------------------------------------------- */

int db_decisions_page(store *s, const char *company, int64_t after_id, const char *from, const char *to,
                      int limit, store_row_fn fn, void *arg)
{
	static const char sql[] =
	    "SELECT e.id, e.customer_id, e.states, e.predicted_offer_1, e.predicted_offer_2,"
	    " e.predicted_offer_3, e.propensity_1, e.propensity_2, e.propensity_3, e.last_update,"
	    " e.request_timestamp, e.state_key, e.policy, e.agent_version, r.id, r.accepted_offer,"
	    " r.accepted_offer_id, r.reward_1, r.reward_2, r.reward_3"
	    " FROM tb_episodes e LEFT JOIN tb_rewards r ON r.episode_id = e.id"
	    " WHERE e.company = $1 AND e.id > CAST($2 AS BIGINT) AND e.last_update >= $3"
	    " AND e.last_update < $4 ORDER BY e.id LIMIT CAST($5 AS INTEGER)";
	char after[24];
	char lim[24];
	const char *p[5] = {company, after, from, to, lim};

	fmt_int(after, after_id);
	fmt_int(lim, limit);
	return store_exec(s, sql, 5, p, fn, arg);
}

int db_decisions_count(store *s, const char *company, const char *from, const char *to, int64_t *out)
{
	const char *p[3] = {company, from, to};

	*out = 0;
	return store_exec(s,
	                  "SELECT COUNT(*) FROM tb_episodes WHERE company = $1 AND last_update >= $2"
	                  " AND last_update < $3",
	                  3, p, int_row, out);
}

typedef struct id_list {
	int64_t *ids;
	size_t max;
	size_t n;
} id_list;

static int id_row(void *arg, int ncols, const char *const *vals)
{
	id_list *l = arg;

	if (ncols < 1 || vals[0] == NULL || l->n == l->max ||
	    util_strtonum(vals[0], 1, INT64_MAX, &l->ids[l->n]) != 0)
		return ERR_IO;
	l->n++;
	return 0;
}

int db_episodes_aged(store *s, const char *cutoff, const char *company, const char *const *except,
                     size_t nexcept, int64_t *ids, size_t max, size_t *n)
{
	const char *p[66];
	id_list l = {ids, max, 0};
	buf sql;
	int np = 2;
	int rc;

	*n = 0;
	if (nexcept > 64 || max > INT32_MAX)
		return ERR_RANGE;
	buf_init(&sql, 4096);
	p[0] = cutoff;
	rc = buf_adds(&sql, "SELECT id FROM tb_episodes WHERE last_update < $1");
	if (company != NULL) {
		p[1] = company;
		rc = rc == 0 ? buf_adds(&sql, " AND company = $2") : rc;
	} else {
		np = 1;
		for (size_t i = 0; i < nexcept && rc == 0; i++) {
			p[np++] = except[i];
			rc = buf_addf(&sql, "%s$%d", i == 0 ? " AND company NOT IN (" : ", ", np);
		}
		if (nexcept > 0 && rc == 0)
			rc = buf_adds(&sql, ")");
	}
	if (rc == 0)
		rc = buf_addf(&sql, " ORDER BY last_update LIMIT %zu", max);
	if (rc == 0)
		rc = store_exec(s, sql.data, np, p, id_row, &l);
	buf_free(&sql);
	*n = l.n;
	return rc;
}

int db_episodes_delete(store *s, const int64_t *ids, size_t n, int64_t *episodes, int64_t *rewards,
                       double *held)
{
	double t0;
	store_stmt st[2];
	buf list;
	char *del_rewards = NULL;
	char *del_episodes = NULL;
	int rc = 0;

	*episodes = 0;
	*rewards = 0;
	*held = 0;
	if (n == 0)
		return 0;
	/* The ids go into the text: numbers only, and both deletes see the same set. */
	buf_init(&list, 24 * n + 1);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = buf_addf(&list, "%s%" PRId64, i > 0 ? "," : "", ids[i]);
	if (rc != 0)
		goto out;
	del_rewards = xasprintf("DELETE FROM tb_rewards WHERE episode_id IN (%s)", list.data);
	del_episodes = xasprintf("DELETE FROM tb_episodes WHERE id IN (%s)", list.data);
	memset(st, 0, sizeof(st));
	st[0].sql = del_rewards;
	st[1].sql = del_episodes;
	rc = s->ops->begin(s);
	if (rc != 0)
		goto out;
	t0 = util_monotonic();
	rc = s->ops->exec_batch(s, st, 2);
	if (rc == 0)
		rc = s->ops->commit(s);
	*held = util_monotonic() - t0;
	if (rc != 0) {
		s->ops->rollback(s);
		goto out;
	}
	*rewards = st[0].changes;
	*episodes = st[1].changes;
out:
	buf_free(&list);
	free(del_rewards);
	free(del_episodes);
	return rc;
}

/* --- rewards ---------------------------------------------------------- */

/*
 * Rewards are attached in two statements per set (the writer's round):
 * every episode lookup, then every insert. The lookup returns one row per
 * reward even when no episode matches: whether the customer has any
 * episode tells 404 from 409.
 */
static int reward_episode_row(void *arg, int ncols, const char *const *vals)
{
	db_reward_out *o = arg;

	if (ncols < 11)
		return ERR_IO;
	o->rc = db_bool(vals[0]) ? ERR_CONFLICT : ERR_NOTFOUND;
	if (vals[1] == NULL)
		return 0; /* no episode to attach to */
	o->rc = 0;
	util_strtonum(vals[1], 0, INT64_MAX, &o->episode_id);
	util_strlcpy(o->state_key, vals[2] ? vals[2] : "", sizeof(o->state_key));
	util_strlcpy(o->policy, vals[3] ? vals[3] : "", sizeof(o->policy));
	util_strlcpy(o->agent_version, vals[4] ? vals[4] : "", sizeof(o->agent_version));
	o->n_offers = 0;
	for (int k = 0; k < OFFERS_SHOWN; k++) {
		if (vals[5 + k] != NULL)
			util_strlcpy(o->offers[o->n_offers++], vals[5 + k], sizeof(o->offers[0]));
	}
	o->episode_age = 0;
	if (vals[8] != NULL)
		util_strtod(vals[8], -1e12, 1e12, &o->episode_age);
	o->states[0] = '\0';
	if (vals[9] != NULL && strlen(vals[9]) < sizeof(o->states))
		util_strlcpy(o->states, vals[9], sizeof(o->states));
	util_strlcpy(o->request_ts, vals[10] ? vals[10] : "", sizeof(o->request_ts));
	return 0;
}

/* One set of rewards on its way through the lookup or the insert. */
typedef struct slice {
	const db_reward_in *in;
	db_reward_out *out;
	size_t n;
	size_t seen; /* lookup rows: one per reward */
	size_t next; /* where the next RETURNING row most likely belongs */
} slice;

/* ord, then the columns of reward_episode_row. */
static int lookup_row(void *arg, int ncols, const char *const *vals)
{
	slice *sl = arg;
	int64_t ord = -1;

	if (ncols < 1 || vals[0] == NULL || util_strtonum(vals[0], 0, (int64_t)sl->n - 1, &ord) != 0)
		return ERR_IO;
	sl->seen++;
	return reward_episode_row(&sl->out[ord], ncols - 1, vals + 1);
}

/* RETURNING id, episode_id: episode ids are unique within a set. */
static int reward_id_row(void *arg, int ncols, const char *const *vals)
{
	slice *sl = arg;
	int64_t epid = 0;

	if (ncols < 2 || vals[1] == NULL || util_strtonum(vals[1], 1, INT64_MAX, &epid) != 0)
		return ERR_IO;
	for (size_t k = 0; k < sl->n; k++) {
		size_t i = (sl->next + k) % sl->n;

		if (sl->out[i].rc == 0 && sl->out[i].episode_id == epid) {
			if (vals[0] != NULL)
				util_strtonum(vals[0], 0, INT64_MAX, &sl->out[i].reward_id);
			sl->next = i + 1;
			return 0;
		}
	}
	return ERR_IO;
}

/* --- idempotency keys (issue 15.2) ---------------------------------------- */

/* Where the last purge of old keys ran (monotonic seconds), for every writer thread. */
static _Atomic double idem_purged_at;

/* RETURNING company, idem_key of a claim: the first unclaimed row with that key. */
static int idem_claimed_row(void *arg, int ncols, const char *const *vals)
{
	slice *sl = arg;

	if (ncols < 2 || vals[0] == NULL || vals[1] == NULL)
		return ERR_IO;
	for (size_t i = 0; i < sl->n; i++) {
		const db_reward_in *in = &sl->in[i];

		if (in->idem_key != NULL && sl->out[i].replayed == 0 && sl->out[i].reward_id == 0 &&
		    strcmp(in->company, vals[0]) == 0 && strcmp(in->idem_key, vals[1]) == 0) {
			sl->out[i].reward_id = -1; /* claimed, until the insert sets the id */
			return 0;
		}
	}
	return ERR_IO;
}

/* ord, request_hash, episode_id of a key already stored: this reward is a replay. */
static int idem_found_row(void *arg, int ncols, const char *const *vals)
{
	slice *sl = arg;
	int64_t ord = -1;
	db_reward_out *o;

	if (ncols < 3 || vals[0] == NULL || vals[1] == NULL ||
	    util_strtonum(vals[0], 0, (int64_t)sl->n - 1, &ord) != 0)
		return ERR_IO;
	o = &sl->out[ord];
	o->replayed = strcmp(vals[1], sl->in[ord].idem_hash) == 0 ? 1 : -1;
	o->episode_id = 0;
	if (vals[2] != NULL)
		util_strtonum(vals[2], 0, INT64_MAX, &o->episode_id);
	o->rc = ERR_CONFLICT; /* never inserted; db_rewards_insert sets the answer */
	return 0;
}

/* {ord, company, idem_key} of the keyed rewards selected by want(out). */
static json_t *idem_rows(const slice *sl, int (*want)(const db_reward_out *o), size_t *n)
{
	json_t *rows = json_array();

	*n = 0;
	for (size_t i = 0; i < sl->n; i++) {
		if (sl->in[i].idem_key == NULL || !want(&sl->out[i]))
			continue;
		json_array_append_new(rows,
		                      json_pack("{sIssss}", "ord", (json_int_t)i, "company",
		                                sl->in[i].company, "idem_key", sl->in[i].idem_key));
		(*n)++;
	}
	return rows;
}

static int idem_unclaimed(const db_reward_out *o)
{
	return o->reward_id == 0;
}

/* Claimed, but the insert found the episode taken meanwhile: the key goes. */
static int idem_lost(const db_reward_out *o)
{
	return o->replayed == 0 && o->reward_id == -1;
}

/*
 * After the lookup: claims the keys of the rewards that found an episode
 * (reward_id -1 marks a claim), then reads the stored keys of every keyed
 * reward not claimed: those are replays.
 */
static int idem_slice(store *s, slice *sl)
{
	json_t *rows = json_array();
	size_t n = 0;
	int rc = 0;
	double now = util_monotonic();
	double last = atomic_load(&idem_purged_at);

	if (last == 0 || now - last > 60) {
		char secs[24];
		const char *p[1] = {secs};

		atomic_store(&idem_purged_at, now);
		fmt_int(secs, DB_IDEM_RETENTION_SECONDS);
		rc = store_exec(s, s->sql->idem_purge, 1, p, NULL, NULL);
		if (rc != 0) {
			json_decref(rows);
			return rc;
		}
	}
	for (size_t i = 0; i < sl->n && rc == 0; i++) {
		if (sl->in[i].idem_key == NULL || sl->out[i].rc != 0)
			continue;
		rc = json_rows_push(rows, json_pack("{sIsssssssssI}", "ord", (json_int_t)i, "company",
		                                    sl->in[i].company, "idem_key", sl->in[i].idem_key,
		                                    "route", "/rewards", "hash", sl->in[i].idem_hash,
		                                    "episode_id", (json_int_t)sl->out[i].episode_id));
		n++;
	}
	if (rc != 0 || n == 0)
		json_decref(rows);
	else
		rc = exec_json(s, s->sql->idem_claim, 0, rows, idem_claimed_row, sl);
	if (rc != 0)
		return rc;
	rows = idem_rows(sl, idem_unclaimed, &n);
	if (n == 0) {
		json_decref(rows);
		return 0;
	}
	return exec_json(s, s->sql->idem_find, 0, rows, idem_found_row, sl);
}

/* After the insert: releases lost claims and turns replays into their first answers. */
static int idem_finish(store *s, slice *sl)
{
	size_t n = 0;
	json_t *rows = idem_rows(sl, idem_lost, &n);
	int rc = 0;

	if (n > 0)
		rc = exec_json(s, s->sql->idem_release, 0, rows, NULL, NULL);
	else
		json_decref(rows);
	for (size_t i = 0; i < sl->n; i++) {
		db_reward_out *o = &sl->out[i];

		if (o->replayed != 0) {
			o->rc = o->replayed > 0 ? 0 : ERR_INVAL;
			o->learned = 0;
			o->n_offers = 0;
		}
		if (o->reward_id < 0)
			o->reward_id = 0;
	}
	return rc;
}

static int hash_row(void *arg, int ncols, const char *const *vals)
{
	char *out = arg;

	if (ncols < 3 || vals[1] == NULL)
		return ERR_IO;
	util_strlcpy(out, vals[1], 128);
	return 0;
}

int db_idem_claim(store *s, db_idem_in *in)
{
	json_t *row = json_pack("{sIssssssss}", "ord", (json_int_t)0, "company", in->company, "idem_key",
	                        in->key, "route", in->route, "hash", in->hash);
	json_t *rows = json_array();
	char stored[128] = "";
	int64_t claimed = 0;
	int rc;

	if (row == NULL || json_rows_push(rows, json_incref(row)) != 0) {
		json_decref(row);
		json_decref(rows);
		return ERR_IO;
	}
	rc = exec_json(s, s->sql->idem_claim, 0, rows, count_row, &claimed);
	if (rc == 0 && !claimed) {
		rows = json_array();
		rc = json_rows_push(rows, json_incref(row));
		if (rc == 0)
			rc = exec_json(s, s->sql->idem_find, 0, rows, hash_row, stored);
		else
			json_decref(rows);
	}
	json_decref(row);
	if (rc != 0)
		return rc;
	in->result = claimed ? 0 : strcmp(stored, in->hash) == 0 ? ERR_CONFLICT : ERR_INVAL;
	return 0;
}

/*
 * Every reward's episode in one prepared statement. Its plan does not depend
 * on the rows in $1 (the planner cannot see into the JSON: a custom plan
 * would be the generic one), only on the tables, and the dialect writes it
 * so that the plan stays index lookups however small the tables were when
 * it was made (store_pg.c's reward_lookup). Planning it for every batch cost
 * PostgreSQL about 0.5 ms.
 */
static int lookup_slice(store *s, slice *sl)
{
	jrows rows;
	int rc;

	jr_init(&rows);
	for (size_t i = 0; i < sl->n; i++) {
		jr_row(&rows, (int64_t)i);
		jr_str(&rows, "company", sl->in[i].company);
		jr_str(&rows, "customer_id", sl->in[i].customer_id);
		jr_int(&rows, "episode_id", sl->in[i].episode_id);
		jr_end(&rows);
	}
	rc = jr_exec(s, &rows, s->sql->reward_lookup, store_exec_prepared, lookup_row, sl);
	if (rc == 0 && sl->seen != sl->n)
		rc = ERR_IO; /* every reward has its row, episode or not */
	for (size_t i = 0; rc == 0 && i < sl->n; i++) {
		if (sl->in[i].idem_key != NULL)
			return idem_slice(s, sl);
	}
	return rc;
}

/* Every scored reward's (out[i].rc == 0) row into rows (jr_init'ed); *nins: how many. */
static void insert_rows(const slice *sl, jrows *rows, size_t *nins)
{
	static const char *const rkey[] = {"r1", "r2", "r3"};

	_Static_assert(sizeof(rkey) / sizeof(rkey[0]) == OFFERS_SHOWN, "one reward column per slot");

	*nins = 0;
	for (size_t i = 0; i < sl->n; i++) {
		const db_reward_in *in = &sl->in[i];
		const db_reward_out *out = &sl->out[i];

		if (out->rc != 0)
			continue;
		jr_row(rows, (int64_t)(*nins)++);
		jr_str(rows, "company", in->company);
		jr_str(rows, "customer_id", in->customer_id);
		jr_int(rows, "episode_id", out->episode_id);
		jr_bool(rows, "accepted", in->accepted != 0);
		jr_str(rows, "accepted_offer", in->accepted_offer);
		jr_str(rows, "clicked", in->clicked);
		for (int k = 0; k < OFFERS_SHOWN; k++) {
			if (k < out->n_offers)
				jr_num(rows, rkey[k], out->rewards[k]);
			else
				jr_null(rows, rkey[k]);
		}
		jr_str(rows, "ts", in->request_ts);
		jr_bool(rows, "learned", out->learned);
		jr_str(rows, "source", in->is_default ? "default" : "client");
		jr_end(rows);
	}
}

/* Every scored reward (out[i].rc == 0) in one prepared statement; returns how many. */
static int insert_slice(store *s, slice *sl, size_t *nins)
{
	jrows rows;

	jr_init(&rows);
	insert_rows(sl, &rows, nins);
	if (*nins == 0) {
		buf_free(&rows.b);
		return 0;
	}
	return jr_exec(s, &rows, s->sql->reward_insert, store_exec_prepared, reward_id_row, sl);
}

#define DB_REWARD_SLICE_MAX 4096

int db_rewards_lookup(store *s, const db_reward_in *in, db_reward_out *out, size_t n)
{
	int rc = 0;

	memset(out, 0, n * sizeof(*out));
	for (size_t off = 0; off < n && rc == 0; off += DB_REWARD_SLICE_MAX) {
		size_t len = n - off < DB_REWARD_SLICE_MAX ? n - off : DB_REWARD_SLICE_MAX;
		slice sl = {in + off, out + off, len, 0, 0};

		rc = lookup_slice(s, &sl);
	}
	return rc;
}

int db_rewards_insert(store *s, const db_reward_in *in, db_reward_out *out, size_t n)
{
	int rc = 0;

	for (size_t off = 0; off < n && rc == 0; off += DB_REWARD_SLICE_MAX) {
		size_t len = n - off < DB_REWARD_SLICE_MAX ? n - off : DB_REWARD_SLICE_MAX;
		slice sl = {in + off, out + off, len, 0, 0};
		size_t nins = 0;

		int keyed = 0;

		for (size_t i = 0; i < len; i++) {
			keyed |= sl.in[i].idem_key != NULL;
			if (sl.in[i].idem_key == NULL || sl.out[i].reward_id != -1)
				sl.out[i].reward_id = 0; /* -1: an idempotency key claimed */
		}
		rc = insert_slice(s, &sl, &nins);
		/* A conflict does not raise an error (on PostgreSQL that would abort
		 * the batch's transaction): no row back means another reward won. */
		for (size_t i = 0; rc == 0 && i < len; i++) {
			if (sl.out[i].rc == 0 && sl.out[i].reward_id <= 0)
				sl.out[i].rc = ERR_CONFLICT;
		}
		if (rc == 0 && keyed)
			rc = idem_finish(s, &sl);
	}
	return rc;
}

/* A caller's row callback and its argument, for the store_row_fn adapters below (each knows which). */
typedef struct row_cb {
	union {
		db_expired_fn expired;
		db_key_fn key;
	} fn;
	void *arg;
} row_cb;

static int expired_row(void *arg, int ncols, const char *const *vals)
{
	const row_cb *cb = arg;
	int64_t id = 0;

	if (ncols < 3 || vals[0] == NULL || vals[1] == NULL || vals[2] == NULL ||
	    util_strtonum(vals[2], 1, INT64_MAX, &id) != 0)
		return 0;
	return cb->fn.expired(cb->arg, vals[0], vals[1], id);
}

/*
 * The default-reward sweeps' statement around its filter on $1: episodes
 * written between $4 and $2 without a reward, oldest first, at most $3.
 */
#define DUE_SELECT "SELECT e.company, e.customer_id, e.id FROM tb_episodes e WHERE "
#define DUE_WINDOW                                        \
	" AND e.last_update < $2 AND e.last_update >= $4" \
	" AND NOT EXISTS (SELECT 1 FROM tb_rewards r WHERE r.episode_id = e.id)"
#define DUE_ORDER " ORDER BY e.last_update, e.id LIMIT CAST($3 AS INTEGER)"

/*
 * Runs a default-reward sweep's statement: $1 key (a version or a company),
 * $2 the time wait_seconds ago, $3 the limit, $4 the time lookback_seconds
 * ago; its rows are (company, customer_id, episode id). The times are
 * offerd's clock as the stores' text timestamp (date_stamp_at), which both
 * compare with last_update, where the dialects would each write their own
 * time arithmetic.
 */
static int due_exec(store *s, const char *sql, const char *key, double wait_seconds,
                    double lookback_seconds, int limit, db_expired_fn fn, void *arg)
{
	row_cb cb = {.fn.expired = fn, .arg = arg};
	double now = util_now();
	char w[32];
	char l[24];
	char b[32];
	const char *p[4] = {key, w, l, b};

	date_stamp_at(now - wait_seconds, w);
	fmt_int(l, limit);
	date_stamp_at(now - lookback_seconds, b);
	return store_exec(s, sql, 4, p, expired_row, &cb);
}

int db_episodes_expired(store *s, const char *version, double wait_seconds, double lookback_seconds,
                        int limit, db_expired_fn fn, void *arg)
{
	/*
	 * One statement for both dialects: the cutoffs are computed here
	 * (due_exec). Oldest first by last_update, not id: ordered by id,
	 * PostgreSQL walks the primary key from the first episode, filtering
	 * out everything before the window (13 ms against 0.7 on 100,000
	 * episodes); ordered by time it reads the window from TB_EPISODES'
	 * index on last_update (db_pz_defaults_due too).
	 */
	static const char sql[] = DUE_SELECT "e.agent_version = $1" DUE_WINDOW DUE_ORDER;

	return due_exec(s, sql, version, wait_seconds, lookback_seconds, limit, fn, arg);
}

int db_pz_defaults_due(store *s, const char *company, double wait_seconds, double lookback_seconds,
                       int limit, db_expired_fn fn, void *arg)
{
	/* One statement for both dialects, as db_episodes_expired's. */
	static const char sql[] = DUE_SELECT
	    "e.company = $1 AND e.customer_id LIKE 'pz:%'" DUE_WINDOW
	    " AND NOT EXISTS (SELECT 1 FROM tb_pz_events p WHERE p.company = e.company AND p.deferred = 1"
	    " AND e.customer_id IN ('pz:' || p.event_id, 'pz:' || p.event_id || '#0',"
	    " 'pz:' || p.event_id || '#1', 'pz:' || p.event_id || '#2'))" DUE_ORDER;

	return due_exec(s, sql, company, wait_seconds, lookback_seconds, limit, fn, arg);
}

static int times_row(void *arg, int ncols, const char *const *vals)
{
	int64_t *t = arg;

	for (int k = 0; k < 2 && k < ncols; k++) {
		if (vals[k] == NULL || util_strtonum(vals[k], 0, INT64_MAX, &t[k]) != 0)
			t[k] = 0;
	}
	return 0;
}

int db_pz_model_times(store *s, const char *company, int64_t *created, int64_t *modified)
{
	const char *params[1] = {company};
	int64_t t[2] = {0, 0};
	int rc = store_exec(s, s->sql->pz_model_times, 1, params, times_row, t);

	*created = t[0];
	*modified = t[1];
	return rc;
}

int db_pz_config_companies(store *s, store_row_fn fn, void *arg)
{
	return store_exec(s, "SELECT company FROM tb_pz_config ORDER BY company", 0, NULL, fn, arg);
}

/* --- learned statistics ------------------------------------------------ */

static int policy_row(void *arg, int ncols, const char *const *vals);

#define DB_POLICY_COLS                                                                              \
	"company, state_key, offer, n, reward_sum, successes, failures, prior_value, prior_weight," \
	" prior_alpha, prior_beta, rev"

typedef struct policy_each {
	db_policy_fn fn;
	void *arg;
	int64_t max_rev;
} policy_each;

static int policy_noop(void *arg, const db_policy_row *row)
{
	(void)arg;
	(void)row;
	return 0;
}

/* The deltas' rows for policy_add's statement, into rows (jr_init'ed). */
static void policy_rows(jrows *rows, const db_policy_row *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		jr_row(rows, (int64_t)i);
		jr_str(rows, "company", d[i].company);
		jr_str(rows, "state_key", d[i].state_key);
		jr_str(rows, "offer", d[i].offer);
		jr_num(rows, "n", d[i].n);
		jr_num(rows, "reward_sum", d[i].reward_sum);
		jr_num(rows, "successes", d[i].alpha);
		jr_num(rows, "failures", d[i].beta);
		jr_end(rows);
	}
}

/*
 * The whole batch in one prepared statement (rows as one JSON array), since
 * one upsert per row cost PostgreSQL an executor start-up each. The rows
 * must have distinct keys (the writer sums its deltas per key).
 */
static int policy_add(store *s, const db_policy_row *d, size_t n, db_policy_fn fn, void *arg, int commit)
{
	policy_each pe = {fn ? fn : policy_noop, arg, 0};
	jrows rows;

	if (n == 0)
		return commit ? s->ops->commit(s) : 0;
	jr_init(&rows);
	policy_rows(&rows, d, n);
	return jr_exec(s, &rows, s->sql->policy_add, commit ? store_exec_commit : store_exec_prepared,
	               policy_row, &pe);
}

int db_policy_add(store *s, const db_policy_row *d, size_t n, db_policy_fn fn, void *arg)
{
	return policy_add(s, d, n, fn, arg, 0);
}

int db_policy_add_commit(store *s, const db_policy_row *d, size_t n, db_policy_fn fn, void *arg)
{
	return policy_add(s, d, n, fn, arg, 1);
}

int db_rewards_can_fold(store *s, const db_reward_in *in, size_t n)
{
	if (s->sql->reward_insert_new == NULL || s->ops->exec_commit_batch == NULL || n == 0 ||
	    n > DB_REWARD_SLICE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		/* An explicit episode may have its reward already (the insert
		 * skips it); a key is recorded after the insert. */
		if (in[i].episode_id != 0 || in[i].idem_key != NULL)
			return 0;
	}
	return 1;
}

/*
 * The insert of db_rewards_insert, the upsert of db_policy_add and the
 * COMMIT in one round trip. The insert is reward_insert_new: where
 * db_rewards_insert would skip a reward (another process rewarded the
 * episode since the lookup) it fails, the server skips the rest, and the
 * caller rolls back and retries, as after any failed batch.
 */
int db_rewards_insert_policy_commit(store *s, const db_reward_in *in, db_reward_out *out, size_t n,
                                    const db_policy_row *d, size_t nd, db_policy_fn fn, void *arg)
{
	policy_each pe = {fn ? fn : policy_noop, arg, 0};
	slice sl = {in, out, n, 0, 0};
	jrows ins;
	jrows pol;
	const char *p0;
	const char *p1;
	store_stmt st[2];
	size_t nins = 0;
	size_t nst = 0;
	int rc;

	if (!db_rewards_can_fold(s, in, n))
		return ERR_INVAL;
	for (size_t i = 0; i < n; i++)
		out[i].reward_id = 0;
	jr_init(&ins);
	jr_init(&pol);
	insert_rows(&sl, &ins, &nins);
	jr_add(&ins, "]", 1);
	if (nd > 0) {
		policy_rows(&pol, d, nd);
		jr_add(&pol, "]", 1);
	}
	rc = ins.rc != 0 ? ins.rc : pol.rc;
	if (rc != 0)
		goto out;
	p0 = ins.b.data;
	p1 = pol.b.data;
	if (nins > 0)
		st[nst++] = (store_stmt){s->sql->reward_insert_new, 1, &p0, reward_id_row, &sl, 0, 0};
	if (nd > 0)
		st[nst++] = (store_stmt){s->sql->policy_add, 1, &p1, policy_row, &pe, 0, 0};
	rc = nst > 0 ? s->ops->exec_commit_batch(s, st, nst) : s->ops->commit(s);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		/* Cannot happen (the insert fails instead): counted as a conflict. */
		if (out[i].rc == 0 && out[i].reward_id <= 0)
			out[i].rc = ERR_CONFLICT;
	}
out:
	buf_free(&ins.b);
	buf_free(&pol.b);
	return rc;
}

#define PRIORS_CHUNK 5000

/*
 * One statement per chunk, instead of a round trip per row (259k priors on
 * PostgreSQL: ~35 s -> a few seconds), all in one transaction.
 */
int db_policy_set_priors(store *s, const db_policy_row *r, size_t n)
{
	int rc;

	rc = s->ops->begin(s);
	if (rc != 0)
		return rc;
	for (size_t start = 0; rc == 0 && start < n; start += PRIORS_CHUNK) {
		size_t end = start + PRIORS_CHUNK < n ? start + PRIORS_CHUNK : n;
		json_t *rows = json_array();

		for (size_t i = start; i < end && rc == 0; i++)
			rc = json_rows_push(rows,
			                    json_pack("{sIsssssssfsfsfsf}", "ord",
			                              (json_int_t)(i - start), "company", r[i].company,
			                              "state_key", r[i].state_key, "offer", r[i].offer,
			                              "v", r[i].prior_value, "w", r[i].prior_weight, "a",
			                              r[i].alpha > 0 ? r[i].alpha : 1.0, "b",
			                              r[i].beta > 0 ? r[i].beta : 1.0));
		if (rc != 0) {
			json_decref(rows);
			break;
		}
		rc = exec_json(s, s->sql->policy_priors, 0, rows, NULL, NULL);
	}
	if (rc != 0) {
		s->ops->rollback(s);
		return rc;
	}
	return s->ops->commit(s);
}

static int policy_row(void *arg, int ncols, const char *const *vals)
{
	policy_each *pe = arg;
	db_policy_row r;

	if (ncols < 12)
		return ERR_IO;
	memset(&r, 0, sizeof(r));
	r.company = vals[0];
	r.state_key = vals[1];
	r.offer = vals[2];
	r.n = db_num(vals[3]);
	r.reward_sum = db_num(vals[4]);
	r.prior_value = db_num(vals[7]);
	r.prior_weight = db_num(vals[8]);
	r.alpha = db_num(vals[9]) + db_num(vals[5]); /* the prior's, plus successes */
	r.beta = db_num(vals[10]) + db_num(vals[6]); /* and failures */
	util_strtonum(vals[11], INT64_MIN, INT64_MAX, &r.rev);
	if (r.rev > pe->max_rev)
		pe->max_rev = r.rev;
	return pe->fn(pe->arg, &r);
}

int db_policy_rev_now(store *s, int64_t *out)
{
	*out = 0;
	return store_exec(s, s->sql->policy_rev_now, 0, NULL, int_row, out);
}

int db_policy_since(store *s, int64_t since, db_policy_fn fn, void *arg, int64_t *max_rev)
{
	policy_each pe = {fn, arg, since};
	char v[24];
	const char *p[1];
	int rc;

	fmt_int(v, since);
	p[0] = v;
	rc = store_exec(s,
	                "SELECT " DB_POLICY_COLS
	                " FROM tb_policy WHERE rev > CAST($1 AS BIGINT) ORDER BY rev",
	                1, p, policy_row, &pe);
	*max_rev = pe.max_rev;
	return rc;
}

/* --- segments ---------------------------------------------------------- */

int db_segments_replace(store *s, const char *company, const db_segment *rows, size_t n)
{
	return company_pairs_replace(s, &segments_pairs, company, rows, n);
}

int db_segments_each(store *s, db_segment_fn fn, void *arg)
{
	return company_pairs_each(s, &segments_pairs, fn, arg);
}

static int mark_row(void *arg, int ncols, const char *const *vals)
{
	char *out = arg;

	if (ncols < 1)
		return ERR_IO;
	util_strlcpy(out, vals[0] != NULL ? vals[0] : "", DB_SEGMENTS_MARK_MAX);
	return 0;
}

int db_segments_mark(store *s, char out[DB_SEGMENTS_MARK_MAX])
{
	out[0] = '\0';
	return store_exec(s, "SELECT MAX(last_update) FROM tb_segments", 0, NULL, mark_row, out);
}

/* --- api keys ----------------------------------------------------------- */

int db_key_insert(store *s, const db_key *k)
{
	const char *p[4] = {k->company, k->hash, k->prefix, k->role};

	return store_exec(
	    s, "INSERT INTO tb_api_keys (company, key_hash, key_prefix, role) VALUES ($1, $2, $3, $4)",
	    4, p, NULL, NULL);
}

static int key_row(void *arg, int ncols, const char *const *vals)
{
	const row_cb *cb = arg;
	db_key k = {0};

	if (ncols < 7)
		return ERR_IO;
	util_strtonum(vals[0], 0, INT64_MAX, &k.id);
	k.company = vals[1];
	k.hash = vals[2];
	k.prefix = vals[3];
	k.created = vals[4];
	k.revoked = vals[5];
	k.role = vals[6];
	return cb->fn.key(cb->arg, &k);
}

int db_keys_each(store *s, db_key_fn fn, void *arg)
{
	row_cb cb = {.fn.key = fn, .arg = arg};

	return store_exec(
	    s,
	    "SELECT id, company, key_hash, key_prefix, CAST(created_at AS TEXT), revoked_at, role"
	    " FROM tb_api_keys ORDER BY id",
	    0, NULL, key_row, &cb);
}

int db_key_revoke(store *s, const char *prefix_or_id)
{
	const char *p[1] = {prefix_or_id};

	return store_exec(s, s->sql->key_revoke, 1, p, NULL, NULL);
}

/* --- contextual models ------------------------------------------------------ */

typedef struct model_cb {
	db_model_fn fn;
	void *arg;
} model_cb;

static int model_row(void *arg, int ncols, const char *const *vals)
{
	const model_cb *cb = arg;
	db_model_row r;

	if (ncols < 7 || vals[0] == NULL || vals[1] == NULL || vals[2] == NULL)
		return ERR_IO;
	memset(&r, 0, sizeof(r));
	r.company = vals[0];
	r.version = vals[1];
	r.offer = vals[2];
	if (vals[3] != NULL && util_strtod(vals[3], -1e300, 1e300, &r.n) != 0)
		return ERR_IO;
	if (vals[4] != NULL && util_strtonum(vals[4], 0, INT64_MAX, &r.tick) != 0)
		return ERR_IO;
	r.stats = vals[5] ? vals[5] : "{}";
	if (vals[6] != NULL && util_strtonum(vals[6], 0, INT64_MAX, &r.rev) != 0)
		return ERR_IO;
	return cb->fn(cb->arg, &r);
}

int db_model_lock(store *s, const char *company, const char *version, const char *offer, db_model_fn fn,
                  void *arg)
{
	const char *p[3] = {company, version, offer};
	model_cb cb = {fn, arg};
	int rc;

	rc = store_exec_prepared(s,
	                         "INSERT INTO tb_model (company, version, offer) VALUES ($1, $2, $3)"
	                         " ON CONFLICT (company, version, offer) DO NOTHING",
	                         3, p, NULL, NULL);
	if (rc == 0)
		rc = store_exec_prepared(s, s->sql->model_lock, 3, p, model_row, &cb);
	return rc;
}

int db_model_put(store *s, const db_model_row *row, int64_t *rev)
{
	char n[32];
	char tick[24];
	const char *p[6];

	fmt_double(n, row->n);
	fmt_int(tick, row->tick);
	p[0] = row->company;
	p[1] = row->version;
	p[2] = row->offer;
	p[3] = n;
	p[4] = tick;
	p[5] = row->stats;
	*rev = 0;
	return store_exec_prepared(s, s->sql->model_put, 6, p, int_row, rev);
}

int db_model_since(store *s, int64_t since, db_model_fn fn, void *arg)
{
	char from[24];
	const char *p[1] = {from};
	model_cb cb = {fn, arg};

	fmt_int(from, since);
	return store_exec(s,
	                  "SELECT company, version, offer, n, tick, stats, rev FROM tb_model"
	                  " WHERE rev > CAST($1 AS BIGINT) ORDER BY rev",
	                  1, p, model_row, &cb);
}

/* --- experiments ------------------------------------------------------------ */

static int experiment_row(void *arg, int ncols, const char *const *vals)
{
	db_experiment *x = arg;

	if (ncols < 8)
		return ERR_IO;
	util_strtonum(vals[0], 1, INT64_MAX, &x->id);
	util_strlcpy(x->action, vals[1] ? vals[1] : "", sizeof(x->action));
	util_strlcpy(x->champion, vals[2] ? vals[2] : "", sizeof(x->champion));
	util_strlcpy(x->challenger, vals[3] ? vals[3] : "", sizeof(x->challenger));
	if (vals[4] == NULL || util_strtod(vals[4], 0.0, 100.0, &x->traffic) != 0)
		x->traffic = 0;
	x->shadow = vals[5] != NULL && strcmp(vals[5], "0") != 0;
	if (vals[6] == NULL || util_strtonum(vals[6], 0, INT64_MAX, &x->agent_id) != 0)
		x->agent_id = 0;
	if (vals[7] == NULL || util_strtonum(vals[7], 0, INT64_MAX, &x->from_episode) != 0)
		x->from_episode = 0;
	return 0;
}

int db_experiment_current(store *s, db_experiment *out)
{
	db_agent a;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = db_agent_latest(s, &a);
	if (rc != 0)
		return rc;
	rc = store_exec(s,
	                "SELECT id, action, champion, challenger, traffic, shadow, agent_id,"
	                " from_episode FROM tb_experiments ORDER BY id DESC LIMIT 1",
	                0, NULL, experiment_row, out);
	if (rc == 0 && (out->id == 0 || a.id > out->agent_id)) {
		memset(out, 0, sizeof(*out));
		util_strlcpy(out->champion, a.version, sizeof(out->champion));
		out->agent_id = a.id;
	}
	db_agent_clear(&a);
	return rc;
}

int db_experiment_put(store *s, db_experiment *x)
{
	char traffic[32];
	char shadow[8];
	char agent_id[24];
	char from[24];
	const char *p[7];
	db_agent a;
	int rc;

	memset(&a, 0, sizeof(a));
	rc = db_agent_by_version(s, x->champion, &a);
	db_agent_clear(&a);
	if (rc == 0 && x->challenger[0] != '\0') {
		rc = db_agent_by_version(s, x->challenger, &a);
		db_agent_clear(&a);
	}
	if (rc == 0)
		rc = store_exec(s, "SELECT COALESCE(MAX(id), 0) FROM tb_agents", 0, NULL, int_row,
		                &x->agent_id);
	if (rc == 0 && x->from_episode < 0)
		rc = store_exec(s, "SELECT COALESCE(MAX(id), 0) FROM tb_episodes", 0, NULL, int_row,
		                &x->from_episode);
	if (rc != 0)
		return rc;
	fmt_double(traffic, x->traffic);
	snprintf(shadow, sizeof(shadow), "%d", x->shadow ? 1 : 0);
	fmt_int(agent_id, x->agent_id);
	fmt_int(from, x->from_episode);
	p[0] = x->action;
	p[1] = x->champion;
	p[2] = x->challenger[0] != '\0' ? x->challenger : NULL;
	p[3] = traffic;
	p[4] = shadow;
	p[5] = agent_id;
	p[6] = from;
	return store_exec(s,
	                  "INSERT INTO tb_experiments (action, champion, challenger, traffic, shadow,"
	                  " agent_id, from_episode) VALUES ($1, $2, $3, CAST($4 AS DOUBLE PRECISION),"
	                  " CAST($5 AS INTEGER), CAST($6 AS BIGINT), CAST($7 AS BIGINT))",
	                  7, p, NULL, NULL);
}

int db_experiment_decisions(store *s, int64_t after, int64_t upto, const char *version_a,
                            const char *version_b, store_row_fn fn, void *arg)
{
	char lo[24];
	char hi[24];
	const char *p[4] = {lo, hi, version_a, version_b};

	fmt_int(lo, after);
	fmt_int(hi, upto);
	return store_exec(s,
	                  "SELECT company, agent_version, COUNT(*),"
	                  " SUM(CASE WHEN shadow IS NULL THEN 0 ELSE 1 END) FROM tb_episodes"
	                  " WHERE id > CAST($1 AS BIGINT) AND id <= CAST($2 AS BIGINT)"
	                  " AND agent_version IN ($3, $4) GROUP BY company, agent_version",
	                  4, p, fn, arg);
}

int db_experiment_rewards(store *s, int64_t from_episode, int64_t after, int64_t upto,
                          const char *version_a, const char *version_b, store_row_fn fn, void *arg)
{
	char from[24];
	char lo[24];
	char hi[24];
	const char *p[5] = {lo, hi, from, version_a, version_b};

	fmt_int(from, from_episode);
	fmt_int(lo, after);
	fmt_int(hi, upto);
	return store_exec(s,
	                  "SELECT e.company, e.agent_version, COUNT(*),"
	                  " SUM(CASE WHEN r.accepted_offer THEN 1 ELSE 0 END)"
	                  " FROM tb_rewards r JOIN tb_episodes e ON e.id = r.episode_id"
	                  " WHERE r.id > CAST($1 AS BIGINT) AND r.id <= CAST($2 AS BIGINT)"
	                  " AND e.id > CAST($3 AS BIGINT) AND e.agent_version IN ($4, $5)"
	                  " GROUP BY e.company, e.agent_version",
	                  5, p, fn, arg);
}

int db_count(store *s, const char *table, int64_t *out)
{
	static const char *const allowed[] = {"tb_agents",      "tb_episodes",   "tb_rewards",
	                                      "tb_products",    "tb_policy",     "tb_segments",
	                                      "tb_api_keys",    "tb_products_a", "tb_model",
	                                      "tb_experiments", "tb_erasures",   "tb_rules"};
	char sql[96];

	*out = 0;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(allowed); i++) {
		if (util_streq_nocase(table, allowed[i])) {
			snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", allowed[i]);
			return store_exec(s, sql, 0, NULL, int_row, out);
		}
	}
	return ERR_INVAL;
}

/* --- Personalizer events (api_personalizer.c) ------------------------------ */

/* The episodes of Personalizer events: customer_id "pz:" + the event id. */
#define DB_PZ_EVENTS "company = $1 AND customer_id LIKE 'pz:%'"

int db_pz_events_delete(store *s, const char *company, int64_t *deleted)
{
	const char *params[] = {company};
	int rc;

	*deleted = 0;
	rc = s->ops->begin(s);
	if (rc != 0)
		return rc;
	rc = store_exec(s,
	                "DELETE FROM tb_rewards WHERE company = $1 AND episode_id IN"
	                " (SELECT id FROM tb_episodes WHERE " DB_PZ_EVENTS ")",
	                1, params, NULL, NULL);
	if (rc == 0)
		rc = store_exec(s, "SELECT COUNT(*) FROM tb_episodes WHERE " DB_PZ_EVENTS, 1, params,
		                int_row, deleted);
	if (rc == 0)
		rc = store_exec(s, "DELETE FROM tb_episodes WHERE " DB_PZ_EVENTS, 1, params, NULL, NULL);
	if (rc == 0)
		rc = store_exec(s, "DELETE FROM tb_pz_events WHERE company = $1", 1, params, NULL, NULL);
	if (rc != 0) {
		s->ops->rollback(s);
		return rc;
	}
	return s->ops->commit(s);
}

typedef struct range_ctx {
	char *from;
	char *to;
	size_t len;
} range_ctx;

static int range_row(void *arg, int ncols, const char *const *vals)
{
	range_ctx *r = arg;

	if (ncols >= 2 && vals[0] != NULL && vals[1] != NULL) {
		util_strlcpy(r->from, vals[0], r->len);
		util_strlcpy(r->to, vals[1], r->len);
	}
	return 0;
}

int db_pz_events_range(store *s, const char *company, char *from, char *to, size_t len)
{
	const char *params[] = {company};
	range_ctx r = {from, to, len};

	from[0] = '\0';
	to[0] = '\0';
	return store_exec(s,
	                  "SELECT MIN(request_timestamp), MAX(request_timestamp) FROM tb_episodes"
	                  " WHERE " DB_PZ_EVENTS,
	                  1, params, range_row, &r);
}

/* --- personalizer configuration ----------------------------------------- */

static int pz_config_row(void *arg, int ncols, const char *const *vals)
{
	db_pz_config *c = arg;

	if (ncols < 2)
		return ERR_IO;
	free(c->service);
	free(c->policy);
	c->service = vals[0] != NULL && vals[0][0] != '\0' ? xstrdup(vals[0]) : NULL;
	c->policy = vals[1] != NULL && vals[1][0] != '\0' ? xstrdup(vals[1]) : NULL;
	return 0;
}

int db_pz_config_get(store *s, const char *company, db_pz_config *out)
{
	const char *params[1] = {company};

	out->service = NULL;
	out->policy = NULL;
	return store_exec(s, s->sql->pz_config_get, 1, params, pz_config_row, out);
}

void db_pz_config_clear(db_pz_config *c)
{
	free(c->service);
	free(c->policy);
	c->service = NULL;
	c->policy = NULL;
}

int db_pz_service_put(store *s, const char *company, const char *service)
{
	const char *params[2] = {company, service};

	return store_exec(s, s->sql->pz_service_put, 2, params, NULL, NULL);
}

int db_pz_policy_put(store *s, const char *company, const char *policy)
{
	const char *params[2] = {company, policy != NULL ? policy : ""};

	return store_exec(s, s->sql->pz_policy_put, 2, params, NULL, NULL);
}

/* --- rules and contact history (issue 16) -------------------------------- */

static int rules_put_once(store *s, const char *company, const char *body, int64_t *version)
{
	const char *p[3] = {company, NULL, body};
	char v[24];
	int64_t last = 0;
	int rc;

	rc = s->ops->begin(s);
	if (rc != 0)
		return rc;
	rc = store_exec(s, "SELECT COALESCE(MAX(version), 0) FROM tb_rules WHERE company = $1", 1, p,
	                int_row, &last);
	if (rc == 0) {
		fmt_int(v, last + 1);
		p[1] = v;
		rc = store_exec(s, "INSERT INTO tb_rules (company, version, body) VALUES ($1, $2, $3)",
		                3, p, NULL, NULL);
	}
	if (rc == 0)
		rc = s->ops->commit(s);
	if (rc != 0) {
		s->ops->rollback(s);
		return rc;
	}
	*version = last + 1;
	return 0;
}

int db_rules_put(store *s, const char *company, const char *body, int64_t *version)
{
	int rc = rules_put_once(s, company, body, version);

	if (rc == ERR_CONFLICT)
		rc = rules_put_once(s, company, body, version);
	return rc;
}

typedef struct rules_each {
	db_rules_fn fn;
	void *arg;
} rules_each;

static int rules_row(void *arg, int ncols, const char *const *vals)
{
	rules_each *re = arg;
	int64_t version = 0;

	if (ncols < 4 || vals[0] == NULL || vals[1] == NULL || vals[2] == NULL ||
	    util_strtonum(vals[1], 1, INT64_MAX, &version) != 0)
		return ERR_IO;
	return re->fn(re->arg, vals[0], version, vals[2], vals[3] != NULL ? vals[3] : "");
}

int db_rules_latest(store *s, const char *company, db_rules_fn fn, void *arg)
{
	static const char all[] = "SELECT company, version, body, created_at FROM tb_rules r"
	                          " WHERE version = (SELECT MAX(version) FROM tb_rules q"
	                          " WHERE q.company = r.company) ORDER BY company";
	static const char one[] = "SELECT company, version, body, created_at FROM tb_rules"
	                          " WHERE company = $1 ORDER BY version DESC LIMIT 1";
	rules_each re = {fn, arg};
	const char *p[1] = {company};

	if (company != NULL)
		return store_exec(s, one, 1, p, rules_row, &re);
	return store_exec(s, all, 0, NULL, rules_row, &re);
}

typedef struct contact_each {
	int rewards;
	db_contact_fn fn;
	void *arg;
} contact_each;

static int contact_row(void *arg, int ncols, const char *const *vals)
{
	contact_each *ce = arg;
	db_contact_row row;
	int c = 3;

	memset(&row, 0, sizeof(row));
	if (ncols < (ce->rewards ? 9 : 7) || vals[0] == NULL || vals[1] == NULL || vals[2] == NULL ||
	    util_strtonum(vals[0], 1, INT64_MAX, &row.id) != 0)
		return ERR_IO;
	row.company = vals[1];
	row.customer_id = vals[2];
	row.episode_id = row.id;
	if (ce->rewards) {
		if (vals[3] == NULL || util_strtonum(vals[3], 1, INT64_MAX, &row.episode_id) != 0)
			return ERR_IO;
		row.accepted_offer = vals[4];
		c = 5;
	}
	for (int k = 0; k < OFFERS_SHOWN; k++)
		row.offers[k] = vals[c + k];
	if (vals[c + OFFERS_SHOWN] == NULL ||
	    util_strtod(vals[c + OFFERS_SHOWN], -1e12, 1e12, &row.age) != 0)
		row.age = 0;
	return ce->fn(ce->arg, &row);
}

int db_contact_each(store *s, int rewards, int64_t after_id, int64_t upto_id, double max_age,
                    int64_t limit, db_contact_fn fn, void *arg)
{
	contact_each ce = {rewards, fn, arg};
	char a[24];
	char m[32];
	char l[24];
	char u[24];
	const char *p[4] = {a, m, l, u};

	fmt_int(a, after_id);
	fmt_double(m, max_age);
	fmt_int(l, limit);
	fmt_int(u, upto_id);
	return store_exec(s, rewards ? s->sql->contact_rewards : s->sql->contact_episodes, 4, p,
	                  contact_row, &ce);
}

int db_erasures_top(store *s, int64_t *out)
{
	*out = 0;
	return store_exec(s, "SELECT COALESCE(MAX(id), 0) FROM tb_erasures", 0, NULL, int_row, out);
}

int db_contact_top(store *s, int rewards, int64_t *out)
{
	*out = 0;
	return store_exec(s,
	                  rewards ? "SELECT COALESCE(MAX(id), 0) FROM tb_rewards"
	                          : "SELECT COALESCE(MAX(id), 0) FROM tb_episodes",
	                  0, NULL, int_row, out);
}

/* --- personalizer event state -------------------------------------------- */

static int row_int(const char *v)
{
	int64_t n = 0;

	if (v != NULL && util_strtonum(v, INT32_MIN, INT32_MAX, &n) != 0)
		n = 0;
	return (int)n;
}

int db_pz_event_put(store *s, const char *company, const char *event_id, const db_pz_event *ev)
{
	char at[32];
	char deferred[24], apprentice[24], agreed[24];
	const char *params[7] = {company, event_id, at, deferred, apprentice, agreed, ev->slots};

	fmt_double(at, ev->ranked_at);
	fmt_int(deferred, ev->deferred != 0);
	fmt_int(apprentice, ev->apprentice != 0);
	fmt_int(agreed, ev->agreed != 0);
	return store_exec(s,
	                  "INSERT INTO tb_pz_events (company, event_id, ranked_at, deferred, apprentice,"
	                  " agreed, slots) VALUES ($1, $2, CAST($3 AS DOUBLE PRECISION),"
	                  " CAST($4 AS INTEGER), CAST($5 AS INTEGER), CAST($6 AS INTEGER), $7)",
	                  7, params, NULL, NULL);
}

/* The columns db_pz_event_get and db_pz_event_activate read, in pz_event_row's order. */
#define DB_PZ_EVENT_COLS "ranked_at, deferred, apprentice, agreed, slots, held_mask, h0, h1, h2"

typedef struct pz_event_rd {
	db_pz_event *ev;
	int found;
} pz_event_rd;

static int pz_event_row(void *arg, int ncols, const char *const *vals)
{
	pz_event_rd *rd = arg;
	db_pz_event *ev = rd->ev;

	if (ncols < 9)
		return ERR_IO;
	ev->ranked_at = db_num(vals[0]);
	ev->deferred = row_int(vals[1]);
	ev->apprentice = row_int(vals[2]);
	ev->agreed = row_int(vals[3]);
	free(ev->slots);
	ev->slots = vals[4] != NULL ? xstrdup(vals[4]) : NULL;
	ev->held_mask = row_int(vals[5]);
	for (int k = 0; k < DB_PZ_SLOTS_MAX; k++)
		ev->held[k] = db_num(vals[6 + k]);
	rd->found = 1;
	return 0;
}

/* Runs sql ($1 company, $2 event id) reading one event into out: 1 found, 0 not, < 0 an error. */
static int pz_event_one(store *s, const char *sql, const char *company, const char *event_id,
                        db_pz_event *out)
{
	const char *params[2] = {company, event_id};
	pz_event_rd rd = {out, 0};
	int rc;

	memset(out, 0, sizeof(*out));
	rc = store_exec(s, sql, 2, params, pz_event_row, &rd);
	return rc != 0 ? rc : rd.found;
}

int db_pz_event_get(store *s, const char *company, const char *event_id, db_pz_event *out)
{
	return pz_event_one(s,
	                    "SELECT " DB_PZ_EVENT_COLS
	                    " FROM tb_pz_events WHERE company = $1 AND event_id = $2",
	                    company, event_id, out);
}

void db_pz_event_clear(db_pz_event *ev)
{
	free(ev->slots);
	ev->slots = NULL;
}

static int pz_found_row(void *arg, int ncols, const char *const *vals)
{
	(void)ncols;
	(void)vals;
	*(int *)arg = 1;
	return 0;
}

int db_pz_event_hold(store *s, const char *company, const char *event_id, int mask,
                     const double value[DB_PZ_SLOTS_MAX])
{
	char m[24];
	char v[DB_PZ_SLOTS_MAX][32];
	const char *params[6] = {company, event_id, m, v[0], v[1], v[2]};
	int found = 0;
	int rc;

	fmt_int(m, mask);
	for (int k = 0; k < DB_PZ_SLOTS_MAX; k++)
		fmt_double(v[k], value[k]);
	/* Every SET expression reads the row as it was: held_mask is the old mask. */
	rc = store_exec(s,
	                "UPDATE tb_pz_events SET"
	                " h0 = CASE WHEN (held_mask & 1) = 0 AND (CAST($3 AS INTEGER) & 1) <> 0"
	                " THEN CAST($4 AS DOUBLE PRECISION) ELSE h0 END,"
	                " h1 = CASE WHEN (held_mask & 2) = 0 AND (CAST($3 AS INTEGER) & 2) <> 0"
	                " THEN CAST($5 AS DOUBLE PRECISION) ELSE h1 END,"
	                " h2 = CASE WHEN (held_mask & 4) = 0 AND (CAST($3 AS INTEGER) & 4) <> 0"
	                " THEN CAST($6 AS DOUBLE PRECISION) ELSE h2 END,"
	                " held_mask = held_mask | CAST($3 AS INTEGER)"
	                " WHERE company = $1 AND event_id = $2 AND deferred = 1 RETURNING held_mask",
	                6, params, pz_found_row, &found);
	return rc != 0 ? rc : found;
}

int db_pz_event_activate(store *s, const char *company, const char *event_id, db_pz_event *out)
{
	/* The held rewards stay in the row: only a deferred row takes new ones. */
	return pz_event_one(s,
	                    "UPDATE tb_pz_events SET deferred = 0"
	                    " WHERE company = $1 AND event_id = $2 AND deferred = 1"
	                    " RETURNING " DB_PZ_EVENT_COLS,
	                    company, event_id, out);
}

int db_pz_episode_exists(store *s, const char *company, const char *customer_id)
{
	const char *params[2] = {company, customer_id};
	int64_t n = 0;
	int rc = store_exec(s,
	                    "SELECT COUNT(*) FROM tb_episodes WHERE company = $1 AND customer_id = $2",
	                    2, params, int_row, &n);

	return rc != 0 ? rc : n > 0;
}

int db_pz_apprentice_add(store *s, const char *company, const db_pz_apprentice *d)
{
	char n[4][24];
	char sum[2][32];
	const char *params[7] = {company, n[0], n[1], n[2], n[3], sum[0], sum[1]};

	fmt_int(n[0], d->events);
	fmt_int(n[1], d->agreed);
	fmt_int(n[2], d->rewards);
	fmt_int(n[3], d->rewards_agreed);
	fmt_double(sum[0], d->reward_sum);
	fmt_double(sum[1], d->agreed_sum);
	return store_exec(
	    s,
	    "INSERT INTO tb_pz_apprentice (company, events, agreed, rewards, rewards_agreed, reward_sum,"
	    " agreed_sum) VALUES ($1, CAST($2 AS BIGINT), CAST($3 AS BIGINT), CAST($4 AS BIGINT),"
	    " CAST($5 AS BIGINT), CAST($6 AS DOUBLE PRECISION), CAST($7 AS DOUBLE PRECISION))"
	    " ON CONFLICT (company) DO UPDATE SET events = tb_pz_apprentice.events + excluded.events,"
	    " agreed = tb_pz_apprentice.agreed + excluded.agreed,"
	    " rewards = tb_pz_apprentice.rewards + excluded.rewards,"
	    " rewards_agreed = tb_pz_apprentice.rewards_agreed + excluded.rewards_agreed,"
	    " reward_sum = tb_pz_apprentice.reward_sum + excluded.reward_sum,"
	    " agreed_sum = tb_pz_apprentice.agreed_sum + excluded.agreed_sum",
	    7, params, NULL, NULL);
}

static int pz_apprentice_row(void *arg, int ncols, const char *const *vals)
{
	db_pz_apprentice *a = arg;
	int64_t *n[4] = {&a->events, &a->agreed, &a->rewards, &a->rewards_agreed};

	if (ncols < 6)
		return ERR_IO;
	for (int k = 0; k < 4; k++) {
		if (vals[k] == NULL || util_strtonum(vals[k], 0, INT64_MAX, n[k]) != 0)
			*n[k] = 0;
	}
	a->reward_sum = db_num(vals[4]);
	a->agreed_sum = db_num(vals[5]);
	return 0;
}

int db_pz_apprentice_get(store *s, const char *company, db_pz_apprentice *out)
{
	const char *params[1] = {company};

	memset(out, 0, sizeof(*out));
	return store_exec(s,
	                  "SELECT events, agreed, rewards, rewards_agreed, reward_sum, agreed_sum"
	                  " FROM tb_pz_apprentice WHERE company = $1",
	                  1, params, pz_apprentice_row, out);
}

/* --- personalizer model export, import ------------------------------------ */

int db_pz_values_each(store *s, const char *company, store_row_fn fn, void *arg)
{
	const char *params[1] = {company};

	return store_exec(s,
	                  "SELECT state_key, offer, n, reward_sum, successes, failures, prior_value,"
	                  " prior_weight, prior_alpha, prior_beta FROM tb_policy WHERE company = $1"
	                  " ORDER BY state_key, offer",
	                  1, params, fn, arg);
}

int db_pz_model_each(store *s, const char *company, const char *version, db_model_fn fn, void *arg)
{
	const char *p[2] = {company, version};
	model_cb cb = {fn, arg};

	return store_exec(s,
	                  "SELECT company, version, offer, n, tick, stats, rev FROM tb_model"
	                  " WHERE company = $1 AND version = $2 ORDER BY offer",
	                  2, p, model_row, &cb);
}

/* --- erasure (issue 16.3) --------------------------------------------------- */

int db_customer_lock(store *s, const char *company, const char *customer_id, int64_t *episodes,
                     int64_t *segments)
{
	const char *params[] = {company, customer_id};
	int rc;

	*episodes = 0;
	*segments = 0;
	rc = store_exec(s, s->sql->customer_lock, 2, params, int_row, episodes);
	if (rc == 0)
		rc = store_exec(
		    s, "SELECT COUNT(*) FROM tb_segments WHERE company = $1 AND customer_id = $2", 2,
		    params, int_row, segments);
	return rc;
}

/* The text of a number macro, for a constant LIMIT. */
#define DB_STR_(x) #x
#define DB_STR(x) DB_STR_(x)

typedef struct erase_rows {
	db_erase_reward *r;
	size_t n;
	size_t cap;
} erase_rows;

/* The episode's columns (reward_episode_row's), then the reward's eight. */
static int erase_row(void *arg, int ncols, const char *const *vals)
{
	erase_rows *e = arg;
	db_erase_reward *r;
	int rc;

	if (ncols < 20)
		return ERR_IO;
	if (e->n == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 16;
		e->r = xrealloc(e->r, e->cap * sizeof(*e->r));
	}
	r = &e->r[e->n];
	memset(r, 0, sizeof(*r));
	rc = reward_episode_row(&r->ep, 11, vals);
	if (rc != 0 || r->ep.rc != 0)
		return rc != 0 ? rc : ERR_IO;
	e->n++;
	r->accepted = db_bool(vals[11]);
	util_strlcpy(r->accepted_offer, vals[12] ? vals[12] : "", sizeof(r->accepted_offer));
	r->clicked = vals[13] != NULL ? xstrdup(vals[13]) : NULL;
	for (int k = 0; k < OFFERS_SHOWN; k++)
		r->ep.rewards[k] = db_num(vals[14 + k]);
	r->ep.learned = db_bool(vals[17]);
	r->is_default = vals[18] != NULL && strcmp(vals[18], "default") == 0;
	if (vals[19] == NULL || util_strtonum(vals[19], 1, INT64_MAX, &r->ep.reward_id) != 0)
		return ERR_IO;
	return 0;
}

int db_customer_rewards(store *s, const char *company, const char *customer_id, int64_t after,
                        db_erase_reward **out, size_t *n)
{
	char after_text[24];
	const char *params[] = {company, customer_id, after_text};
	erase_rows e = {NULL, 0, 0};
	int rc;

	fmt_int(after_text, after);
	/* In reward order: the order they were learned in. */
	rc = store_exec(s,
	                "SELECT 1, e.id, e.state_key, e.policy, e.agent_version, e.predicted_offer_1,"
	                " e.predicted_offer_2, e.predicted_offer_3, 0, e.states, e.request_timestamp,"
	                " r.accepted_offer, r.accepted_offer_id, r.clicked_offers, r.reward_1,"
	                " r.reward_2, r.reward_3, r.learned, r.source, r.id"
	                " FROM tb_rewards r JOIN tb_episodes e ON e.id = r.episode_id"
	                " WHERE e.company = $1 AND e.customer_id = $2 AND r.id > CAST($3 AS BIGINT)"
	                " ORDER BY r.id LIMIT " DB_STR(DB_ERASE_CHUNK),
	                3, params, erase_row, &e);
	if (rc != 0) {
		db_erase_rewards_free(e.r, e.n);
		e.r = NULL;
		e.n = 0;
	}
	*out = e.r;
	*n = e.n;
	return rc;
}

void db_erase_rewards_free(db_erase_reward *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(r[i].clicked);
	free(r);
}

int db_erase_age(store *s, const char *company, const char *version, int64_t reward_id, int64_t *after)
{
	char id[24];
	const char *params[] = {company, version, id};

	fmt_int(id, reward_id);
	*after = 0;
	return store_exec(s,
	                  "SELECT COUNT(*) FROM tb_rewards r JOIN tb_episodes e ON e.id = r.episode_id"
	                  " WHERE r.company = $1 AND e.agent_version = $2 AND r.learned"
	                  " AND r.id > CAST($3 AS BIGINT)",
	                  3, params, int_row, after);
}

int db_customer_delete(store *s, const char *company, const char *customer_id)
{
	const char *params[] = {company, customer_id};
	/* Children first: the keys and rewards point at the episodes. */
	static const char *const stmts[] = {
	    "DELETE FROM tb_idempotency WHERE company = $1 AND episode_id IN"
	    " (SELECT id FROM tb_episodes WHERE company = $1 AND customer_id = $2)",
	    "DELETE FROM tb_rewards WHERE episode_id IN"
	    " (SELECT id FROM tb_episodes WHERE company = $1 AND customer_id = $2)",
	    "DELETE FROM tb_episodes WHERE company = $1 AND customer_id = $2",
	    "DELETE FROM tb_segments WHERE company = $1 AND customer_id = $2",
	};
	int rc = 0;

	for (size_t i = 0; i < UTIL_ARRAY_LEN(stmts) && rc == 0; i++)
		rc = store_exec(s, stmts[i], 2, params, NULL, NULL);
	return rc;
}

int db_erasure_record(store *s, const db_erasure *e)
{
	char episodes[24];
	char rewards[24];
	char learned[24];
	char segments[24];
	const char *params[] =
	    {e->company, episodes, rewards, learned, segments, e->by, e->approximate ? "1" : "0"};

	fmt_int(episodes, e->episodes);
	fmt_int(rewards, e->rewards);
	fmt_int(learned, e->learned);
	fmt_int(segments, e->segments);
	return store_exec(s,
	                  "INSERT INTO tb_erasures (company, episodes, rewards, learned, segments,"
	                  " by_whom, approximate) VALUES ($1, CAST($2 AS BIGINT), CAST($3 AS BIGINT),"
	                  " CAST($4 AS BIGINT), CAST($5 AS BIGINT), $6, CAST($7 AS INTEGER))",
	                  7, params, NULL, NULL);
}

/* --- the web console (api_console.c) ------------------------------------------------ */

/*
 * Every console query walks the primary key from after_id (the newest id
 * less the console's scan bound, from db_contact_top) and tests the
 * company as "company || '' = $1", so that no store plans it with the
 * (company, ...) index instead, which would read every row of the company.
 * Timestamps come back as text in the store's own form; the per-minute
 * grouping is on their first 16 characters (YYYY-MM-DD HH:MM in both).
 */

/*
 * A per-minute count of the rows x of `from` (TB_EPISODES or TB_REWARDS) by
 * key, then `sum` (", SUM(..)" or ""): rows of the first time in the minute,
 * the key, COUNT(*) and the sum. $1 company, $2 the first time, $3 the id to
 * scan after.
 */
#define CONSOLE_MINUTES(key, sum, from)                                                     \
	"SELECT MIN(CAST(x.last_update AS TEXT)), " key ", COUNT(*)" sum " FROM " from      \
	" WHERE x.id > CAST($3 AS BIGINT) AND x.company || '' = $1 AND x.last_update >= $2" \
	" GROUP BY substr(CAST(x.last_update AS TEXT), 1, 16), " key
#define CONSOLE_REWARDS "tb_rewards x JOIN tb_episodes e ON e.id = x.episode_id"

static int console_window(store *s, const char *sql, const char *company, const char *from,
                          int64_t after_id, store_row_fn fn, void *arg)
{
	char after[24];
	const char *p[3] = {company, from, after};

	fmt_int(after, after_id);
	return store_exec(s, sql, 3, p, fn, arg);
}

int db_console_decisions(store *s, const char *company, const char *from, int64_t after_id,
                         store_row_fn fn, void *arg)
{
	return console_window(s, CONSOLE_MINUTES("x.agent_version", "", "tb_episodes x"), company, from,
	                      after_id, fn, arg);
}

int db_console_rewards(store *s, const char *company, const char *from, int64_t after_id,
                       store_row_fn fn, void *arg)
{
	return console_window(s,
	                      CONSOLE_MINUTES("e.agent_version",
	                                      ", SUM(CASE WHEN x.accepted_offer THEN 1 ELSE 0 END)",
	                                      CONSOLE_REWARDS),
	                      company, from, after_id, fn, arg);
}

int db_console_first_offer_rewards(store *s, const char *company, const char *from, int64_t after_id,
                                   store_row_fn fn, void *arg)
{
	return console_window(s,
	                      CONSOLE_MINUTES("e.predicted_offer_1", ", SUM(COALESCE(x.reward_1, 0))",
	                                      CONSOLE_REWARDS),
	                      company, from, after_id, fn, arg);
}

int db_console_policy(store *s, const char *company, int64_t limit, store_row_fn fn, void *arg)
{
	char lim[24];
	const char *p[2] = {company, lim};

	fmt_int(lim, limit);
	return store_exec(s,
	                  "SELECT state_key, offer, n, reward_sum, prior_value, prior_weight"
	                  " FROM tb_policy WHERE company = $1 ORDER BY n DESC LIMIT CAST($2 AS INTEGER)",
	                  2, p, fn, arg);
}

int db_console_episodes(store *s, const char *company, int64_t limit, int64_t after_id, store_row_fn fn,
                        void *arg)
{
	char lim[24];
	char after[24];
	const char *p[3] = {company, lim, after};

	fmt_int(lim, limit);
	fmt_int(after, after_id);
	return store_exec(s,
	                  "SELECT e.id, e.customer_id, e.states, e.state_key, e.policy,"
	                  " e.agent_version, e.epsilon, e.predicted_offer_1, e.predicted_offer_2,"
	                  " e.predicted_offer_3, e.propensity_1, e.propensity_2, e.propensity_3,"
	                  " e.request_timestamp, CAST(e.last_update AS TEXT),"
	                  " CASE WHEN r.id IS NULL THEN 0 ELSE 1 END, r.accepted_offer,"
	                  " r.accepted_offer_id, r.reward_1, r.reward_2, r.reward_3, r.source,"
	                  " e.eligibility"
	                  " FROM tb_episodes e LEFT JOIN tb_rewards r ON r.episode_id = e.id"
	                  " WHERE e.id > CAST($3 AS BIGINT) AND e.company || '' = $1"
	                  " ORDER BY e.id DESC LIMIT CAST($2 AS INTEGER)",
	                  3, p, fn, arg);
}
