/*
 * store_cases.h — the store tests every backend must pass, written against
 * the store interface only, so that the same table runs on PostgreSQL
 * (tests/test_store_pg.c) and SQLite.
 *
 * A backend's test file includes this header, opens a store on an empty
 * database (a fresh schema, a fresh file) in its cmocka group setup, puts
 * the store * in *state, and lists the cases in its test table:
 *
 *     static const struct CMUnitTest tests[] = { STORE_CASES, ... };
 *     return cmocka_run_group_tests(tests, my_setup, my_teardown);
 *
 * Each case creates the tables it uses (named sc_*), plus tb_episodes with
 * the store's identity and timestamp columns (sc_episodes_table) unless
 * db_migrate made it.
 * Only portable SQL is used: $n placeholders, text parameters, TEXT/INTEGER
 * columns. Doubles are compared with a relative tolerance because SQLite
 * prints REALs with 15 digits; exact round trips are backend-specific tests.
 */
#ifndef OFFERD_TEST_STORE_CASES_H
#define OFFERD_TEST_STORE_CASES_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "db.h"
#include "store.h"
#include "util.h"

/* Fails the test with the store's message when expr is not 0. */
#define SC_OK(s, expr)                                                                 \
	do {                                                                           \
		int sc_rc_ = (expr);                                                   \
		if (sc_rc_ != 0)                                                       \
			fail_msg("%s: rc %d: %s", #expr, sc_rc_, (s)->ops->errmsg(s)); \
	} while (0)

/* Rows collected by sc_collect; v[row * ncols + col], NULL for SQL NULL. */
typedef struct sc_rows {
	int ncols;
	size_t n;
	size_t cap;
	char **v;
} sc_rows;

static int sc_collect(void *arg, int ncols, const char *const *vals)
{
	sc_rows *r = arg;

	if (r->n > 0 && ncols != r->ncols)
		return ERR_INVAL;
	r->ncols = ncols;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->v = xrealloc(r->v, r->cap * (size_t)ncols * sizeof(*r->v));
	}
	for (int c = 0; c < ncols; c++)
		r->v[r->n * (size_t)ncols + (size_t)c] = vals[c] ? xstrdup(vals[c]) : NULL;
	r->n++;
	return 0;
}

static void sc_rows_free(sc_rows *r)
{
	for (size_t i = 0; i < r->n * (size_t)r->ncols; i++)
		free(r->v[i]);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

static const char *sc_cell(const sc_rows *r, size_t row, int col)
{
	assert_true(row < r->n);
	assert_true(col < r->ncols);
	return r->v[row * (size_t)r->ncols + (size_t)col];
}

/* Runs sql and collects its rows into *r (freed first). */
static int sc_query(store *s, sc_rows *r, const char *sql, int nparams, const char *const *params)
{
	sc_rows_free(r);
	return store_exec(s, sql, nparams, params, sc_collect, r);
}

/* The single integer a query returns. */
static int64_t sc_int(store *s, const char *sql, int nparams, const char *const *params)
{
	sc_rows r = {0};
	int64_t v = -1;

	SC_OK(s, sc_query(s, &r, sql, nparams, params));
	assert_int_equal(r.n, 1);
	assert_non_null(sc_cell(&r, 0, 0));
	assert_int_equal(util_strtonum(sc_cell(&r, 0, 0), INT64_MIN, INT64_MAX, &v), 0);
	sc_rows_free(&r);
	return v;
}

static void sc_assert_str(const char *got, const char *want)
{
	if (want == NULL) {
		if (got != NULL)
			fail_msg("expected NULL, got \"%s\"", got);
		return;
	}
	if (got == NULL)
		fail_msg("expected \"%s\", got NULL", want);
	assert_string_equal(got, want);
}

static void sc_assert_near(const char *got, double want)
{
	double v = 0;

	assert_non_null(got);
	assert_int_equal(util_strtod(got, -1e308, 1e308, &v), 0);
	if (fabs(v - want) > 1e-12 * fmax(1.0, fabs(want)))
		fail_msg("expected %.17g, got %s", want, got);
}

/* TB_EPISODES with the store's identity and timestamp columns (struct store_sql). */
static char *sc_tb_episodes_ddl(const store *s)
{
	return xasprintf("CREATE TABLE IF NOT EXISTS tb_episodes (id %s,"
	                 " company TEXT NOT NULL, customer_id TEXT NOT NULL, states TEXT NOT NULL,"
	                 " predicted_offer_1 TEXT NOT NULL, predicted_offer_2 TEXT,"
	                 " predicted_offer_3 TEXT, request_timestamp TEXT, state_key TEXT,"
	                 " policy TEXT, agent_version TEXT, epsilon DOUBLE PRECISION,"
	                 " propensity_1 DOUBLE PRECISION, propensity_2 DOUBLE PRECISION,"
	                 " propensity_3 DOUBLE PRECISION, last_update %s, eligibility TEXT)",
	                 s->sql->id_column, s->sql->ts_column);
}

/*
 * Every case starts here: a case that failed half-way may have left a
 * transaction open, and the next case must not inherit it.
 */
static store *sc_fresh(void **state)
{
	store *s = *state;

	(void)s->ops->rollback(s);
	return s;
}

/* Creates tb_episodes unless it exists (db_migrate will own this DDL). */
static void sc_episodes_table(store *s)
{
	char *ddl = sc_tb_episodes_ddl(s);
	int rc = store_exec(s, ddl, 0, NULL, NULL, NULL);

	free(ddl);
	SC_OK(s, rc);
}

/* Strings that break naive quoting of SQL, CSV, JSON or array literals. */
static const char *const sc_tricky[] = {
    "plain",
    "with \"double quotes\"",
    "back\\slash\\",
    "comma, and {braces}",
    "{\"json\": [1, 2], \"k\": \"v\"}",
    "caf\xc3\xa9 \xe2\x98\x95 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\x81",
    "NULL",
    "",
    "  spaced  ",
    "line\nbreak\ttab\r",
    "\\\"",
    "'single' quotes; --",
    "}",
    "{",
    ",",
    "\"",
    "\\",
    "null",
};

/* A batch of episodes whose strings the cases own and free. */
typedef struct sc_batch {
	size_t n;
	episode *eps;
	char **owned; /* 2 per episode */
} sc_batch;

static void sc_batch_make(sc_batch *b, size_t n, unsigned seed)
{
	const size_t nt = UTIL_ARRAY_LEN(sc_tricky);

	b->n = n;
	b->eps = xcalloc(n, sizeof(*b->eps));
	b->owned = xcalloc(2 * n, sizeof(*b->owned));
	for (size_t i = 0; i < n; i++) {
		episode *e = &b->eps[i];
		size_t k = i + seed;

		b->owned[2 * i] = xasprintf("cust-%zu-%s", i, sc_tricky[(k + 1) % nt]);
		b->owned[2 * i + 1] = xasprintf("{\"segment\": \"%s\", \"i\": %zu}",
		                                sc_tricky[(k + 2) % nt], i);
		e->company = sc_tricky[k % nt];
		e->customer_id = b->owned[2 * i];
		e->states = b->owned[2 * i + 1];
		e->offers[0] = sc_tricky[(k + 3) % nt];
		e->offers[1] = k % 3 == 0 ? NULL : sc_tricky[(k + 4) % nt];
		e->offers[2] = k % 3 != 2 ? NULL : sc_tricky[(k + 5) % nt];
		e->propensity[0] = 1.0 / (double)(k + 3);
		e->propensity[1] = (double)(k % 7) / 7.0;
		e->propensity[2] = 0.25;
		e->request_ts = k % 5 == 0 ? NULL : "2024-03-04T05:06:07.089Z";
		e->state_key = k % 4 == 0 ? NULL : "Champions_March_FirstHalf_Monday";
		e->policy = k % 6 == 0 ? NULL : "epsilon_greedy";
		e->agent_version = sc_tricky[(k + 6) % nt];
		e->epsilon = k % 2 ? 0.1 : 1e-300;
		e->eligibility = k % 3 == 1 ? NULL : sc_tricky[(k + 7) % nt];
		e->id = 0;
	}
}

static void sc_batch_free(sc_batch *b)
{
	for (size_t i = 0; i < 2 * b->n; i++)
		free(b->owned[i]);
	free(b->owned);
	free(b->eps);
	memset(b, 0, sizeof(*b));
}

/* Reads the batch back by id and compares every column. */
static void sc_batch_check(store *s, const sc_batch *b)
{
	char lo[32];
	char hi[32];
	const char *params[2] = {lo, hi};
	sc_rows r = {0};

	for (size_t i = 0; i < b->n; i++) {
		assert_true(b->eps[i].id > 0);
		if (i > 0 && b->eps[i].id <= b->eps[i - 1].id)
			fail_msg("ids not strictly increasing at %zu: %lld then %lld", i,
			         (long long)b->eps[i - 1].id, (long long)b->eps[i].id);
	}
	snprintf(lo, sizeof(lo), "%lld", (long long)b->eps[0].id);
	snprintf(hi, sizeof(hi), "%lld", (long long)b->eps[b->n - 1].id);
	SC_OK(s, sc_query(s, &r,
	                  "SELECT id, company, customer_id, states, predicted_offer_1,"
	                  " predicted_offer_2, predicted_offer_3, request_timestamp, state_key,"
	                  " policy, agent_version, epsilon, propensity_1, propensity_2,"
	                  " propensity_3, eligibility FROM tb_episodes WHERE id >= $1 AND id <= $2"
	                  " ORDER BY id",
	                  2, params));
	assert_int_equal(r.n, b->n);
	for (size_t i = 0; i < b->n; i++) {
		const episode *e = &b->eps[i];
		int64_t id = 0;

		assert_int_equal(util_strtonum(sc_cell(&r, i, 0), 1, INT64_MAX, &id), 0);
		assert_int_equal(id, e->id);
		sc_assert_str(sc_cell(&r, i, 1), e->company);
		sc_assert_str(sc_cell(&r, i, 2), e->customer_id);
		sc_assert_str(sc_cell(&r, i, 3), e->states);
		sc_assert_str(sc_cell(&r, i, 4), e->offers[0]);
		sc_assert_str(sc_cell(&r, i, 5), e->offers[1]);
		sc_assert_str(sc_cell(&r, i, 6), e->offers[2]);
		sc_assert_str(sc_cell(&r, i, 7), e->request_ts);
		sc_assert_str(sc_cell(&r, i, 8), e->state_key);
		sc_assert_str(sc_cell(&r, i, 9), e->policy);
		sc_assert_str(sc_cell(&r, i, 10), e->agent_version);
		sc_assert_near(sc_cell(&r, i, 11), e->epsilon);
		/* A slot without an offer has no propensity. */
		for (int k = 0; k < OFFERS_SHOWN; k++) {
			if (e->offers[k] == NULL)
				assert_null(sc_cell(&r, i, 12 + k));
			else
				sc_assert_near(sc_cell(&r, i, 12 + k), e->propensity[k]);
		}
		sc_assert_str(sc_cell(&r, i, 15), e->eligibility);
	}
	sc_rows_free(&r);
}

/* ---------------------------------------------------------------------- */

/* Parameters go in as text, rows come out as text, callbacks can stop. */
static int sc_stop_after_one(void *arg, int ncols, const char *const *vals)
{
	(void)ncols;
	(void)vals;
	(*(int *)arg)++;
	return 7;
}

static void sc_exec_params_rows(void **state)
{
	store *s = sc_fresh(state);
	const char *a[3] = {"a", "alpha", "1"};
	const char *b[3] = {"b", "beta, \"quoted\"", "2"};
	const char *c[3] = {"c", "gamma \\ \xe2\x82\xac", "3"};
	const char *two[1] = {"2"};
	sc_rows r = {0};
	int calls = 0;

	SC_OK(s, store_exec(s, "CREATE TABLE sc_kv (k TEXT PRIMARY KEY, v TEXT, n INTEGER)", 0, NULL,
	                    NULL, NULL));
	SC_OK(s, store_exec(s, "INSERT INTO sc_kv (k, v, n) VALUES ($1, $2, $3)", 3, a, NULL, NULL));
	SC_OK(s, store_exec(s, "INSERT INTO sc_kv (k, v, n) VALUES ($1, $2, $3)", 3, b, NULL, NULL));
	SC_OK(s, store_exec(s, "INSERT INTO sc_kv (k, v, n) VALUES ($1, $2, $3)", 3, c, NULL, NULL));
	SC_OK(s, sc_query(s, &r, "SELECT k, v, n FROM sc_kv WHERE n >= $1 ORDER BY k", 1, two));
	assert_int_equal(r.n, 2);
	assert_int_equal(r.ncols, 3);
	sc_assert_str(sc_cell(&r, 0, 0), "b");
	sc_assert_str(sc_cell(&r, 0, 1), b[1]);
	sc_assert_str(sc_cell(&r, 0, 2), "2");
	sc_assert_str(sc_cell(&r, 1, 0), "c");
	sc_assert_str(sc_cell(&r, 1, 1), c[1]);
	sc_assert_str(sc_cell(&r, 1, 2), "3");
	/* No rows: the callback is not called. */
	SC_OK(s, sc_query(s, &r, "SELECT k FROM sc_kv WHERE k = $1", 1, (const char *const[]){"zz"}));
	assert_int_equal(r.n, 0);
	/* A callback's non-zero return stops the rows and is returned. */
	assert_int_equal(store_exec(s, "SELECT k FROM sc_kv ORDER BY k", 0, NULL, sc_stop_after_one,
	                            &calls),
	                 7);
	assert_int_equal(calls, 1);
	/* A syntax error is an error, and the store goes on working. */
	assert_true(store_exec(s, "SELEC nonsense", 0, NULL, NULL, NULL) < 0);
	assert_true(strlen(s->ops->errmsg(s)) > 0);
	assert_int_equal(sc_int(s, "SELECT COUNT(*) FROM sc_kv", 0, NULL), 3);
	sc_rows_free(&r);
}

/*
 * store_exec_prepared gives what store_exec gives: for more distinct
 * statements than a connection keeps prepared, each run several times, in
 * and out of a transaction, and after a failed prepare.
 */
static void sc_exec_prepared(void **state)
{
	store *s = sc_fresh(state);

	SC_OK(s, store_exec(s, "CREATE TABLE sc_prep (k TEXT PRIMARY KEY, n INTEGER)", 0, NULL, NULL,
	                    NULL));
	for (int round = 0; round < 3; round++) {
		SC_OK(s, s->ops->begin(s));
		for (int i = 0; i < 40; i++) {
			char sql[96];
			char key[32];
			char want[32];
			const char *p[1] = {key};
			sc_rows r = {0};

			snprintf(key, sizeof(key), "k%d_%d", i, round);
			snprintf(sql, sizeof(sql), "INSERT INTO sc_prep (k, n) VALUES ($1, %d)", i);
			SC_OK(s, store_exec_prepared(s, sql, 1, p, NULL, NULL));
			snprintf(sql, sizeof(sql), "SELECT n + %d FROM sc_prep WHERE k = $1", i);
			SC_OK(s, store_exec_prepared(s, sql, 1, p, sc_collect, &r));
			snprintf(want, sizeof(want), "%d", 2 * i);
			assert_int_equal(r.n, 1);
			sc_assert_str(sc_cell(&r, 0, 0), want);
			sc_rows_free(&r);
		}
		SC_OK(s, s->ops->commit(s));
	}
	assert_int_equal(sc_int(s, "SELECT COUNT(*) FROM sc_prep", 0, NULL), 120);
	/* A statement that cannot be prepared is an error, and nothing sticks. */
	assert_true(store_exec_prepared(s, "SELEC $1", 1, (const char *const[]){"x"}, NULL, NULL) < 0);
	assert_int_equal(sc_int(s, "SELECT COUNT(*) FROM sc_prep", 0, NULL), 120);
}

static void sc_null_params_results(void **state)
{
	store *s = sc_fresh(state);
	const char *p[3] = {"k1", NULL, NULL};
	const char *key[1] = {"k1"};
	sc_rows r = {0};

	SC_OK(s, store_exec(s, "CREATE TABLE sc_nulls (k TEXT PRIMARY KEY, v TEXT, n INTEGER)", 0, NULL,
	                    NULL, NULL));
	SC_OK(s, store_exec(s, "INSERT INTO sc_nulls (k, v, n) VALUES ($1, $2, $3)", 3, p, NULL, NULL));
	SC_OK(s, sc_query(s, &r, "SELECT v, n, k FROM sc_nulls WHERE k = $1", 1, key));
	assert_int_equal(r.n, 1);
	assert_null(sc_cell(&r, 0, 0));
	assert_null(sc_cell(&r, 0, 1));
	sc_assert_str(sc_cell(&r, 0, 2), "k1");
	/* NULL is not the string "NULL" nor the empty string. */
	assert_int_equal(sc_int(s, "SELECT COUNT(*) FROM sc_nulls WHERE v IS NULL AND n IS NULL", 0,
	                        NULL),
	                 1);
	SC_OK(s, store_exec(s, "INSERT INTO sc_nulls (k, v) VALUES ($1, $2)", 2,
	                    (const char *const[]){"k2", "NULL"}, NULL, NULL));
	SC_OK(s, store_exec(s, "INSERT INTO sc_nulls (k, v) VALUES ($1, $2)", 2,
	                    (const char *const[]){"k3", ""}, NULL, NULL));
	SC_OK(s, sc_query(s, &r, "SELECT k, v FROM sc_nulls ORDER BY k", 0, NULL));
	assert_int_equal(r.n, 3);
	assert_null(sc_cell(&r, 0, 1));
	sc_assert_str(sc_cell(&r, 1, 1), "NULL");
	sc_assert_str(sc_cell(&r, 2, 1), "");
	sc_rows_free(&r);
}

static void sc_unique_conflict(void **state)
{
	store *s = sc_fresh(state);
	const char *p[2] = {"dup", "first"};
	const char *q[2] = {"dup", "second"};
	sc_rows r = {0};

	SC_OK(s,
	      store_exec(s, "CREATE TABLE sc_uniq (k TEXT PRIMARY KEY, v TEXT)", 0, NULL, NULL, NULL));
	SC_OK(s, store_exec(s, "INSERT INTO sc_uniq (k, v) VALUES ($1, $2)", 2, p, NULL, NULL));
	assert_int_equal(store_exec(s, "INSERT INTO sc_uniq (k, v) VALUES ($1, $2)", 2, q, NULL, NULL),
	                 ERR_CONFLICT);
	assert_true(strlen(s->ops->errmsg(s)) > 0);
	/* Outside a transaction the store is usable at once. */
	SC_OK(s, sc_query(s, &r, "SELECT v FROM sc_uniq", 0, NULL));
	assert_int_equal(r.n, 1);
	sc_assert_str(sc_cell(&r, 0, 0), "first");
	/* Inside one, the conflict is reported the same way. */
	SC_OK(s, s->ops->begin(s));
	assert_int_equal(store_exec(s, "INSERT INTO sc_uniq (k, v) VALUES ($1, $2)", 2, q, NULL, NULL),
	                 ERR_CONFLICT);
	SC_OK(s, s->ops->rollback(s));
	assert_int_equal(sc_int(s, "SELECT COUNT(*) FROM sc_uniq", 0, NULL), 1);
	sc_rows_free(&r);
}

static void sc_begin_rollback_commit(void **state)
{
	store *s = sc_fresh(state);
	const char *a[1] = {"a"};
	const char *b[1] = {"b"};

	SC_OK(s, store_exec(s, "CREATE TABLE sc_tx (k TEXT PRIMARY KEY)", 0, NULL, NULL, NULL));
	SC_OK(s, s->ops->begin(s));
	SC_OK(s, store_exec(s, "INSERT INTO sc_tx (k) VALUES ($1)", 1, a, NULL, NULL));
	/* The transaction sees its own write... */
	assert_int_equal(sc_int(s, "SELECT COUNT(*) FROM sc_tx", 0, NULL), 1);
	SC_OK(s, s->ops->rollback(s));
	/* ...and the rollback really discards it. */
	assert_int_equal(sc_int(s, "SELECT COUNT(*) FROM sc_tx", 0, NULL), 0);
	SC_OK(s, s->ops->begin(s));
	SC_OK(s, store_exec(s, "INSERT INTO sc_tx (k) VALUES ($1)", 1, b, NULL, NULL));
	SC_OK(s, s->ops->commit(s));
	assert_int_equal(sc_int(s, "SELECT COUNT(*) FROM sc_tx WHERE k = 'b'", 0, NULL), 1);
	/* Episodes too: an insert rolled back leaves no rows. */
	sc_episodes_table(s);
	{
		sc_batch eb;
		int64_t before = sc_int(s, "SELECT COUNT(*) FROM tb_episodes", 0, NULL);

		sc_batch_make(&eb, 3, 11);
		SC_OK(s, s->ops->begin(s));
		SC_OK(s, s->ops->episodes_insert(s, eb.eps, eb.n));
		assert_int_equal(sc_int(s, "SELECT COUNT(*) FROM tb_episodes", 0, NULL), before + 3);
		SC_OK(s, s->ops->rollback(s));
		assert_int_equal(sc_int(s, "SELECT COUNT(*) FROM tb_episodes", 0, NULL), before);
		sc_batch_free(&eb);
	}
}

/*
 * store_exec_commit: the statement and the COMMIT together (one round trip
 * on PostgreSQL, whose BEGIN also waits for the first statement).
 */
static void sc_exec_commit(void **state)
{
	store *s = sc_fresh(state);
	const char *a[1] = {"a"};
	const char *b[1] = {"b"};
	const char *c[1] = {"c"};
	sc_rows r = {0};
	store_stmt st[2];

	SC_OK(s, store_exec(s, "CREATE TABLE sc_ec (k TEXT PRIMARY KEY)", 0, NULL, NULL, NULL));
	/* The transaction's only statement: committed, its rows delivered. */
	SC_OK(s, s->ops->begin(s));
	SC_OK(s, store_exec_commit(s, "INSERT INTO sc_ec (k) VALUES ($1) RETURNING k", 1, a, sc_collect,
	                           &r));
	assert_int_equal(r.n, 1);
	sc_assert_str(sc_cell(&r, 0, 0), "a");
	assert_int_equal(sc_int(s, "SELECT COUNT(*) FROM sc_ec", 0, NULL), 1);
	/* After other statements: all of them committed. */
	SC_OK(s, s->ops->begin(s));
	SC_OK(s, store_exec_prepared(s, "INSERT INTO sc_ec (k) VALUES ($1)", 1, b, NULL, NULL));
	SC_OK(s, store_exec_commit(s, "INSERT INTO sc_ec (k) VALUES ($1)", 1, c, NULL, NULL));
	/* Nothing is left open: a new transaction begins and rolls back alone. */
	SC_OK(s, s->ops->begin(s));
	SC_OK(s, s->ops->rollback(s));
	assert_int_equal(sc_int(s, "SELECT COUNT(*) FROM sc_ec", 0, NULL), 3);
	/* A failing statement: no commit; the rollback discards the rest. */
	SC_OK(s, s->ops->begin(s));
	SC_OK(s, store_exec(s, "INSERT INTO sc_ec (k) VALUES ('d')", 0, NULL, NULL, NULL));
	assert_int_equal(store_exec_commit(s, "INSERT INTO sc_ec (k) VALUES ($1)", 1, a, NULL, NULL),
	                 ERR_CONFLICT);
	SC_OK(s, s->ops->rollback(s));
	assert_int_equal(sc_int(s, "SELECT COUNT(*) FROM sc_ec WHERE k = 'd'", 0, NULL), 0);
	/* A transaction that ran nothing commits and rolls back cleanly. */
	SC_OK(s, s->ops->begin(s));
	SC_OK(s, s->ops->commit(s));
	SC_OK(s, s->ops->begin(s));
	SC_OK(s, s->ops->rollback(s));
	/* A batch as the first statement is inside the transaction too. */
	memset(st, 0, sizeof(st));
	st[0].sql = "INSERT INTO sc_ec (k) VALUES ('e')";
	st[1].sql = "INSERT INTO sc_ec (k) VALUES ('f')";
	SC_OK(s, s->ops->begin(s));
	SC_OK(s, s->ops->exec_batch(s, st, 2));
	SC_OK(s, s->ops->rollback(s));
	assert_int_equal(sc_int(s, "SELECT COUNT(*) FROM sc_ec WHERE k IN ('e', 'f')", 0, NULL), 0);
	/* And a prepared statement as the first. */
	SC_OK(s, s->ops->begin(s));
	SC_OK(s, store_exec_prepared(s, "INSERT INTO sc_ec (k) VALUES ($1)", 1,
	                             (const char *const[]){"g"}, NULL, NULL));
	assert_int_equal(sc_int(s, "SELECT COUNT(*) FROM sc_ec WHERE k = 'g'", 0, NULL), 1);
	SC_OK(s, s->ops->rollback(s));
	assert_int_equal(sc_int(s, "SELECT COUNT(*) FROM sc_ec WHERE k = 'g'", 0, NULL), 0);
	sc_rows_free(&r);
}

static void sc_batch_with_failure(void **state)
{
	store *s = sc_fresh(state);
	const char *a[2] = {"a", "1"};
	const char *b[2] = {"b", "2"};
	const char *c[2] = {"c", "3"};
	sc_rows r = {0};
	store_stmt ok[3];
	store_stmt bad[5];

	SC_OK(s, store_exec(s, "CREATE TABLE sc_batch (k TEXT PRIMARY KEY, n INTEGER)", 0, NULL, NULL,
	                    NULL));

	/* All statements succeed: rc 0, changes counted, rows delivered. */
	memset(ok, 0, sizeof(ok));
	ok[0] = (store_stmt){.sql = "INSERT INTO sc_batch (k, n) VALUES ($1, $2)",
	                     .nparams = 2,
	                     .params = a};
	ok[1] = (store_stmt){.sql = "INSERT INTO sc_batch (k, n) VALUES ($1, $2)",
	                     .nparams = 2,
	                     .params = b};
	ok[2] = (store_stmt){.sql = "SELECT k, n FROM sc_batch ORDER BY k", .fn = sc_collect, .arg = &r};
	SC_OK(s, s->ops->begin(s));
	SC_OK(s, s->ops->exec_batch(s, ok, 3));
	SC_OK(s, s->ops->commit(s));
	for (int i = 0; i < 3; i++)
		assert_int_equal(ok[i].rc, 0);
	assert_int_equal(ok[0].changes, 1);
	assert_int_equal(ok[1].changes, 1);
	assert_int_equal(r.n, 2);
	sc_assert_str(sc_cell(&r, 1, 0), "b");
	sc_assert_str(sc_cell(&r, 1, 1), "2");
	sc_rows_free(&r);

	/* An UPDATE reports the rows it changed. */
	memset(ok, 0, sizeof(ok));
	ok[0] = (store_stmt){.sql = "UPDATE sc_batch SET n = n + 10"};
	SC_OK(s, s->ops->begin(s));
	SC_OK(s, s->ops->exec_batch(s, ok, 1));
	SC_OK(s, s->ops->commit(s));
	assert_int_equal(ok[0].changes, 2);

	/* The fourth of five fails: rc says which; the caller rolls back. */
	memset(bad, 0, sizeof(bad));
	bad[0] = (store_stmt){.sql = "INSERT INTO sc_batch (k, n) VALUES ($1, $2)",
	                      .nparams = 2,
	                      .params = c};
	bad[1] = (store_stmt){.sql = "UPDATE sc_batch SET n = 0 WHERE k = $1",
	                      .nparams = 1,
	                      .params = a};
	bad[2] = (store_stmt){.sql = "SELECT COUNT(*) FROM sc_batch", .fn = sc_collect, .arg = &r};
	bad[3] = (store_stmt){.sql = "INSERT INTO sc_batch (k, n) VALUES ($1, $2)",
	                      .nparams = 2,
	                      .params = a};
	bad[4] = (store_stmt){.sql = "DELETE FROM sc_batch"};
	SC_OK(s, s->ops->begin(s));
	assert_int_equal(s->ops->exec_batch(s, bad, 5), ERR_CONFLICT);
	assert_int_equal(bad[0].rc, 0);
	assert_int_equal(bad[1].rc, 0);
	assert_int_equal(bad[1].changes, 1);
	assert_int_equal(bad[2].rc, 0);
	assert_int_equal(bad[3].rc, ERR_CONFLICT);
	/*
	 * After the failing statement the interface promises nothing:
	 * PostgreSQL's pipeline skips the rest (ERR_IO), SQLite runs it.
	 * Either way the caller rolls the transaction back.
	 */
	if (s->dialect == STORE_PG)
		assert_int_equal(bad[4].rc, ERR_IO);
	assert_int_equal(r.n, 1);
	sc_assert_str(sc_cell(&r, 0, 0), "3");
	assert_true(strlen(s->ops->errmsg(s)) > 0);
	SC_OK(s, s->ops->rollback(s));
	sc_rows_free(&r);

	/* Nothing of the failed batch stayed, and the store works as before. */
	SC_OK(s, sc_query(s, &r, "SELECT k, n FROM sc_batch ORDER BY k", 0, NULL));
	assert_int_equal(r.n, 2);
	sc_assert_str(sc_cell(&r, 0, 0), "a");
	sc_assert_str(sc_cell(&r, 0, 1), "11");
	sc_assert_str(sc_cell(&r, 1, 0), "b");
	sc_rows_free(&r);
	memset(ok, 0, sizeof(ok));
	ok[0] = (store_stmt){.sql = "INSERT INTO sc_batch (k, n) VALUES ($1, $2)",
	                     .nparams = 2,
	                     .params = c};
	SC_OK(s, s->ops->begin(s));
	SC_OK(s, s->ops->exec_batch(s, ok, 1));
	SC_OK(s, s->ops->commit(s));
	assert_int_equal(sc_int(s, "SELECT COUNT(*) FROM sc_batch", 0, NULL), 3);
	/* A row callback's non-zero return is its statement's rc. */
	{
		int calls = 0;

		memset(ok, 0, sizeof(ok));
		ok[0] = (store_stmt){.sql = "SELECT k FROM sc_batch ORDER BY k",
		                     .fn = sc_stop_after_one,
		                     .arg = &calls};
		ok[1] = (store_stmt){.sql = "SELECT COUNT(*) FROM sc_batch"};
		SC_OK(s, s->ops->begin(s));
		assert_int_equal(s->ops->exec_batch(s, ok, 2), 7);
		assert_int_equal(ok[0].rc, 7);
		assert_int_equal(calls, 1);
		SC_OK(s, s->ops->rollback(s));
	}
	/* An empty batch is a no-op. */
	SC_OK(s, s->ops->exec_batch(s, ok, 0));
}

static void sc_episodes_round_trip(store *s, size_t n, unsigned seed)
{
	sc_batch b;

	sc_episodes_table(s);
	sc_batch_make(&b, n, seed);
	SC_OK(s, s->ops->begin(s));
	SC_OK(s, s->ops->episodes_insert(s, b.eps, b.n));
	SC_OK(s, s->ops->commit(s));
	sc_batch_check(s, &b);
	sc_batch_free(&b);
}

static void sc_episodes_1(void **state)
{
	sc_episodes_round_trip(sc_fresh(state), 1, 0);
}

static void sc_episodes_3(void **state)
{
	sc_episodes_round_trip(sc_fresh(state), 3, 1);
}

static void sc_episodes_2000(void **state)
{
	sc_episodes_round_trip(sc_fresh(state), 2000, 2);
}

/* Two batches in one transaction: the second's ids follow the first's. */
static void sc_episodes_two_batches(void **state)
{
	store *s = sc_fresh(state);
	sc_batch a;
	sc_batch b;

	sc_episodes_table(s);
	sc_batch_make(&a, 5, 3);
	sc_batch_make(&b, 7, 4);
	SC_OK(s, s->ops->begin(s));
	SC_OK(s, s->ops->episodes_insert(s, a.eps, a.n));
	SC_OK(s, s->ops->episodes_insert(s, b.eps, b.n));
	SC_OK(s, s->ops->episodes_insert(s, b.eps, 0));
	SC_OK(s, s->ops->commit(s));
	assert_true(b.eps[0].id > a.eps[a.n - 1].id);
	sc_batch_check(s, &a);
	sc_batch_check(s, &b);
	sc_batch_free(&a);
	sc_batch_free(&b);
}

/* A NOT NULL violation fails the batch; after a rollback all is well. */
static void sc_episodes_bad_row(void **state)
{
	store *s = sc_fresh(state);
	sc_batch b;
	int64_t before;

	sc_episodes_table(s);
	before = sc_int(s, "SELECT COUNT(*) FROM tb_episodes", 0, NULL);
	sc_batch_make(&b, 4, 5);
	b.eps[2].company = NULL;
	SC_OK(s, s->ops->begin(s));
	assert_true(s->ops->episodes_insert(s, b.eps, b.n) < 0);
	assert_true(strlen(s->ops->errmsg(s)) > 0);
	SC_OK(s, s->ops->rollback(s));
	assert_int_equal(sc_int(s, "SELECT COUNT(*) FROM tb_episodes", 0, NULL), before);
	b.eps[2].company = "fixed";
	SC_OK(s, s->ops->begin(s));
	SC_OK(s, s->ops->episodes_insert(s, b.eps, b.n));
	SC_OK(s, s->ops->commit(s));
	sc_batch_check(s, &b);
	sc_batch_free(&b);
}

/*
 * The store provides every statement db.c runs (struct store_sql): db.c
 * never checks, so a new store that forgot one would crash there.
 */
static void sc_sql_table_complete(void **state)
{
	store *s = sc_fresh(state);
	const store_sql *q = s->sql;
	const char *const required[] = {
	    q->id_column,     q->ts_column,        q->migration_done,  q->reward_lookup,
	    q->reward_insert, q->policy_add,       q->policy_priors,   q->policy_rev_now,
	    q->key_revoke,    q->contact_episodes, q->contact_rewards,
	};

	assert_non_null(q);
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		assert_non_null(required[i]);
		assert_true(required[i][0] != '\0');
	}
	/* The dialect's own DDL: versions db.c knows (0: every start), each with a statement. */
	for (size_t i = 0; i < q->nmigrations; i++) {
		assert_in_range(q->migrations[i].version, 0, STORE_MIGRATIONS);
		assert_non_null(q->migrations[i].sql);
	}
}

/* Rules are versioned per company; the latest is in force (issue 16). */
typedef struct sc_rules_seen {
	int n;
	int64_t version[4];
	char body[4][64];
	char company[4][16];
} sc_rules_seen;

static int sc_rules_cb(void *arg, const char *company, int64_t version, const char *body,
                       const char *created_at)
{
	sc_rules_seen *seen = arg;

	assert_non_null(created_at);
	if (seen->n >= 4)
		return ERR_RANGE;
	seen->version[seen->n] = version;
	util_strlcpy(seen->body[seen->n], body, sizeof(seen->body[0]));
	util_strlcpy(seen->company[seen->n], company, sizeof(seen->company[0]));
	seen->n++;
	return 0;
}

static void sc_rules_versions(void **state)
{
	store *s = sc_fresh(state);
	sc_rules_seen seen = {0};
	int64_t v = 0;

	SC_OK(s, db_rules_latest(s, "sc-rules-B", sc_rules_cb, &seen));
	assert_int_equal(seen.n, 0);
	SC_OK(s, db_rules_put(s, "sc-rules-B", "cap * 5 per 1d\n", &v));
	assert_int_equal(v, 1);
	SC_OK(s, db_rules_put(s, "sc-rules-B", "not-last\n", &v));
	assert_int_equal(v, 2);
	SC_OK(s, db_rules_put(s, "sc-rules-C", "", &v));
	assert_int_equal(v, 1);
	SC_OK(s, db_rules_latest(s, "sc-rules-B", sc_rules_cb, &seen));
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.version[0], 2);
	assert_string_equal(seen.body[0], "not-last\n");
	memset(&seen, 0, sizeof(seen));
	SC_OK(s, db_rules_latest(s, NULL, sc_rules_cb, &seen));
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.company[0], "sc-rules-B");
	assert_int_equal(seen.version[0], 2);
	assert_string_equal(seen.company[1], "sc-rules-C");
	assert_string_equal(seen.body[1], "");
}

/* What db_contact_each read for company "sc-contact". */
typedef struct sc_contact_seen {
	int n;
	int64_t id[8];
	int64_t episode[8];
	char accepted[8][16];
	char offers[8][3][16];
	double age[8];
} sc_contact_seen;

static int sc_contact_cb(void *arg, const db_contact_row *row)
{
	sc_contact_seen *seen = arg;

	if (strcmp(row->company, "sc-contact") != 0)
		return 0;
	if (seen->n >= 8)
		return ERR_RANGE;
	assert_string_equal(row->customer_id, "cust-1");
	seen->id[seen->n] = row->id;
	seen->episode[seen->n] = row->episode_id;
	util_strlcpy(seen->accepted[seen->n], row->accepted_offer ? row->accepted_offer : "-", 16);
	for (int k = 0; k < 3; k++)
		util_strlcpy(seen->offers[seen->n][k], row->offers[k] ? row->offers[k] : "-", 16);
	seen->age[seen->n] = row->age;
	seen->n++;
	return 0;
}

/* The refresher's reads of recent episodes and accepting rewards (contact.h). */
static void sc_contact_rows(void **state)
{
	store *s = sc_fresh(state);
	episode eps[2];
	sc_contact_seen seen = {0};
	char e0[24];
	char e1[24];

	memset(eps, 0, sizeof(eps));
	for (int i = 0; i < 2; i++) {
		eps[i].company = "sc-contact";
		eps[i].customer_id = "cust-1";
		eps[i].states = "{}";
		eps[i].offers[0] = i == 0 ? "OFFER_1" : "OFFER_3";
		eps[i].offers[1] = i == 0 ? "OFFER_2" : NULL;
		eps[i].propensity[0] = 0.5;
		eps[i].propensity[1] = 0.5;
	}
	SC_OK(s, s->ops->begin(s));
	SC_OK(s, s->ops->episodes_insert(s, eps, 2));
	SC_OK(s, s->ops->commit(s));
	SC_OK(s, db_contact_each(s, 0, eps[0].id - 1, INT64_MAX, 3600, 100, sc_contact_cb, &seen));
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.id[0], eps[0].id);
	assert_string_equal(seen.offers[0][0], "OFFER_1");
	assert_string_equal(seen.offers[0][1], "OFFER_2");
	assert_string_equal(seen.offers[0][2], "-");
	assert_string_equal(seen.offers[1][0], "OFFER_3");
	assert_true(seen.age[0] > -5 && seen.age[0] < 60);
	/* After the first one's id only the second; a limit of 1 stops at one. */
	memset(&seen, 0, sizeof(seen));
	SC_OK(s, db_contact_each(s, 0, eps[0].id, INT64_MAX, 3600, 100, sc_contact_cb, &seen));
	assert_int_equal(seen.n, 1);
	memset(&seen, 0, sizeof(seen));
	SC_OK(s, db_contact_each(s, 0, eps[0].id - 1, INT64_MAX, 3600, 1, sc_contact_cb, &seen));
	assert_int_equal(seen.n, 1);
	/* Up to the first one's id (the refresher's holes): only the first. */
	memset(&seen, 0, sizeof(seen));
	SC_OK(s, db_contact_each(s, 0, eps[0].id - 1, eps[0].id, 3600, 100, sc_contact_cb, &seen));
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.id[0], eps[0].id);
	/* Rewards: only the accepting ones, with the accepted offer when named. */
	snprintf(e0, sizeof(e0), "%lld", (long long)eps[0].id);
	snprintf(e1, sizeof(e1), "%lld", (long long)eps[1].id);
	{
		const char *p0[3] = {e0, "1", "OFFER_2"};
		const char *p1[3] = {e1, "0", NULL};

		SC_OK(s, store_exec(s,
		                    "INSERT INTO tb_rewards (company, episode_id, customer_id,"
		                    " accepted_offer, accepted_offer_id) VALUES ('sc-contact', $1,"
		                    " 'cust-1', $2, $3)",
		                    3, p0, NULL, NULL));
		SC_OK(s, store_exec(s,
		                    "INSERT INTO tb_rewards (company, episode_id, customer_id,"
		                    " accepted_offer, accepted_offer_id) VALUES ('sc-contact', $1,"
		                    " 'cust-1', $2, $3)",
		                    3, p1, NULL, NULL));
	}
	memset(&seen, 0, sizeof(seen));
	SC_OK(s, db_contact_each(s, 1, 0, INT64_MAX, 3600, 100, sc_contact_cb, &seen));
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.episode[0], eps[0].id);
	assert_string_equal(seen.accepted[0], "OFFER_2");
	assert_string_equal(seen.offers[0][0], "OFFER_1");
	/* The highest ids: the refresher's cursor after its first read. */
	{
		int64_t top = 0;

		SC_OK(s, db_contact_top(s, 0, &top));
		assert_true(top >= eps[1].id);
		SC_OK(s, db_contact_top(s, 1, &top));
		assert_true(top >= 2);
	}
	/* A zero window reads nothing. */
	memset(&seen, 0, sizeof(seen));
	SC_OK(s, db_contact_each(s, 0, 0, INT64_MAX, 0, 100, sc_contact_cb, &seen));
	assert_int_equal(seen.n, 0);
}

#define STORE_CASES                                                                              \
	cmocka_unit_test(sc_exec_params_rows), cmocka_unit_test(sc_exec_prepared),               \
	    cmocka_unit_test(sc_null_params_results), cmocka_unit_test(sc_unique_conflict),      \
	    cmocka_unit_test(sc_begin_rollback_commit), cmocka_unit_test(sc_batch_with_failure), \
	    cmocka_unit_test(sc_exec_commit), cmocka_unit_test(sc_episodes_1),                   \
	    cmocka_unit_test(sc_episodes_3), cmocka_unit_test(sc_episodes_2000),                 \
	    cmocka_unit_test(sc_episodes_two_batches), cmocka_unit_test(sc_episodes_bad_row),    \
	    cmocka_unit_test(sc_sql_table_complete), cmocka_unit_test(sc_rules_versions),        \
	    cmocka_unit_test(sc_contact_rows)

#endif
