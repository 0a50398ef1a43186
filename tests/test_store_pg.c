/*
 * test_store_pg.c — store_pg against a real PostgreSQL server.
 *
 * Group 1 runs the backend-neutral cases of store_cases.h, plus a few
 * PostgreSQL-specific ones, on the server in $OFFERD_TEST_PG_URL (set by
 * scripts/run-tests.sh), in a schema of its own so that runs can share the
 * server. Without that variable it starts a private server with
 * scripts/pg.sh; if that fails the test fails: it never passes silently.
 *
 * Group 2 stops and restarts a server under an open store, so it always
 * runs on a private server of its own (scripts/pg.sh with its own state
 * file) and never disturbs the shared one.
 */
#include "store_cases.h"

#include <float.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "log.h"

/* A server started by scripts/pg.sh with a state file of its own. */
typedef struct pg_server {
	char dir[128];
	char url[256];
	int up;
} pg_server;

static const char *pg_sh_path(void)
{
	static char path[512];
	const char *env = getenv("OFFERD_PG_SH");
	const char *slash;

	if (env != NULL && *env != '\0')
		return env;
	if (access("scripts/pg.sh", X_OK) == 0)
		return "scripts/pg.sh";
	/* Run from elsewhere: find it next to this source file. */
	slash = strrchr(__FILE__, '/');
	if (slash != NULL) {
		snprintf(path, sizeof(path), "%.*s/../scripts/pg.sh", (int)(slash - __FILE__), __FILE__);
		if (access(path, X_OK) == 0)
			return path;
	}
	return "scripts/pg.sh";
}

/* Runs `pg.sh CMD` for sv; returns the exit status. */
static int pg_server_cmd(const pg_server *sv, const char *cmd)
{
	char line[1024];
	int rc;

	snprintf(line, sizeof(line),
	         "OFFERD_PG_STATE='%s/pg.state' OFFERD_PG_OWNER_PID=%ld '%s' %s >/dev/null", sv->dir,
	         (long)getpid(), pg_sh_path(), cmd);
	rc = system(line);
	return rc == 0 ? 0 : -1;
}

static int pg_server_start(pg_server *sv)
{
	char line[1024];
	FILE *f;
	size_t n;
	int rc = -1;

	memset(sv, 0, sizeof(*sv));
	util_strlcpy(sv->dir, "/tmp/offerd-test-pg.XXXXXX", sizeof(sv->dir));
	if (mkdtemp(sv->dir) == NULL) {
		perror("mkdtemp");
		return -1;
	}
	snprintf(line, sizeof(line), "OFFERD_PG_STATE='%s/pg.state' OFFERD_PG_OWNER_PID=%ld '%s' start",
	         sv->dir, (long)getpid(), pg_sh_path());
	f = popen(line, "r");
	if (f == NULL)
		goto out;
	if (fgets(sv->url, sizeof(sv->url), f) == NULL)
		sv->url[0] = '\0';
	n = strlen(sv->url);
	while (n > 0 && (sv->url[n - 1] == '\n' || sv->url[n - 1] == '\r'))
		sv->url[--n] = '\0';
	if (pclose(f) == 0 && strncmp(sv->url, "postgresql://", 13) == 0)
		rc = 0;
out:
	if (rc < 0) {
		fprintf(stderr, "test_store_pg: `%s start` failed (see its messages above)\n",
		        pg_sh_path());
		snprintf(line, sizeof(line), "%s/pg.state.lock", sv->dir);
		unlink(line);
		rmdir(sv->dir);
		return -1;
	}
	sv->up = 1;
	return 0;
}

static void pg_server_stop(pg_server *sv)
{
	char path[256];

	if (!sv->up)
		return;
	pg_server_cmd(sv, "stop");
	snprintf(path, sizeof(path), "%s/pg.state", sv->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/pg.state.lock", sv->dir);
	unlink(path);
	if (rmdir(sv->dir) != 0)
		fprintf(stderr, "test_store_pg: could not remove %s\n", sv->dir);
	sv->up = 0;
}

static double now_s(void)
{
	return util_monotonic();
}

/* ---------------------------------------------------------------------- */
/* Group 1: the shared cases, in a schema of their own.                   */

static pg_server g1_server;
static char g1_schema[64];

static int g1_setup(void **state)
{
	const char *url = getenv("OFFERD_TEST_PG_URL");
	store *boot = NULL;
	store *s = NULL;
	char *sql = NULL;
	char *scoped = NULL;
	int rc = -1;

	if (url == NULL || *url == '\0') {
		fprintf(stderr, "test_store_pg: OFFERD_TEST_PG_URL is not set; starting a private "
		                "server with scripts/pg.sh\n");
		if (pg_server_start(&g1_server) < 0) {
			fprintf(stderr, "test_store_pg: FAIL: no PostgreSQL to test against\n");
			return -1;
		}
		url = g1_server.url;
	}
	snprintf(g1_schema, sizeof(g1_schema), "sc_%ld_%ld", (long)getpid(), (long)time(NULL));
	if (store_pg_open(url, &boot) != 0) {
		fprintf(stderr, "test_store_pg: FAIL: cannot connect to %s\n", url);
		goto out;
	}
	sql = xasprintf("CREATE SCHEMA %s", g1_schema);
	if (store_exec(boot, sql, 0, NULL, NULL, NULL) != 0) {
		fprintf(stderr, "test_store_pg: FAIL: %s: %s\n", sql, boot->ops->errmsg(boot));
		goto out;
	}
	/* Every connection of the store resolves bare table names in the schema. */
	scoped = xasprintf("%s%coptions=-csearch_path%%3D%s", url, strchr(url, '?') ? '&' : '?',
	                   g1_schema);
	if (store_pg_open(scoped, &s) != 0) {
		fprintf(stderr, "test_store_pg: FAIL: cannot connect to %s\n", scoped);
		goto out;
	}
	/* The real schema, so the hot-path insert is tested against db.c's DDL. */
	if (db_migrate(s) != 0) {
		fprintf(stderr, "test_store_pg: FAIL: db_migrate: %s\n", s->ops->errmsg(s));
		s->ops->close(s);
		goto out;
	}
	*state = s;
	rc = 0;
out:
	if (boot != NULL)
		boot->ops->close(boot);
	free(sql);
	free(scoped);
	if (rc < 0)
		pg_server_stop(&g1_server);
	return rc;
}

static int g1_teardown(void **state)
{
	store *s = *state;
	char *sql = xasprintf("DROP SCHEMA %s CASCADE", g1_schema);

	if (s != NULL) {
		if (store_exec(s, sql, 0, NULL, NULL, NULL) != 0)
			fprintf(stderr, "test_store_pg: %s: %s\n", sql, s->ops->errmsg(s));
		s->ops->close(s);
	}
	free(sql);
	pg_server_stop(&g1_server);
	return 0;
}

/* %.17g and PostgreSQL's float8 output round-trip doubles exactly. */
static void pg_exact_doubles(void **state)
{
	store *s = sc_fresh(state);
	const double vals[] = {1.0 / 3.0, 0.1 + 0.2, 5e-324, DBL_MAX, -0.0, 0.999999999999999889};
	sc_batch b;
	sc_rows r = {0};
	char id[32];
	const char *p[1] = {id};

	sc_episodes_table(s);
	sc_batch_make(&b, UTIL_ARRAY_LEN(vals), 0);
	for (size_t i = 0; i < b.n; i++) {
		b.eps[i].propensity[0] = vals[i];
		b.eps[i].epsilon = i == 0 ? NAN : (i == 1 ? INFINITY : vals[i]);
	}
	SC_OK(s, s->ops->episodes_insert(s, b.eps, b.n));
	for (size_t i = 0; i < b.n; i++) {
		double v = 0;

		snprintf(id, sizeof(id), "%lld", (long long)b.eps[i].id);
		SC_OK(s, sc_query(s, &r, "SELECT propensity_1, epsilon FROM tb_episodes WHERE id = $1",
		                  1, p));
		assert_int_equal(r.n, 1);
		v = strtod(sc_cell(&r, 0, 0), NULL);
		if (memcmp(&v, &vals[i], sizeof(v)) != 0)
			fail_msg("double %zu: stored %.17g, read %s", i, vals[i], sc_cell(&r, 0, 0));
		/* NaN and infinities are stored as NULL. */
		if (i < 2)
			assert_null(sc_cell(&r, 0, 1));
	}
	sc_rows_free(&r);
	sc_batch_free(&b);
}

/* COMMIT of a failed transaction rolls back; the caller must hear it. */
static void pg_commit_after_error(void **state)
{
	store *s = sc_fresh(state);
	const char *k[1] = {"x"};

	SC_OK(s, store_exec(s, "CREATE TABLE pg_commit (k TEXT PRIMARY KEY)", 0, NULL, NULL, NULL));
	SC_OK(s, s->ops->begin(s));
	SC_OK(s, store_exec(s, "INSERT INTO pg_commit (k) VALUES ($1)", 1, k, NULL, NULL));
	assert_int_equal(store_exec(s, "INSERT INTO pg_commit (k) VALUES ($1)", 1, k, NULL, NULL),
	                 ERR_CONFLICT);
	/* The transaction is aborted: further statements fail too. */
	assert_int_equal(store_exec(s, "SELECT 1", 0, NULL, NULL, NULL), ERR_IO);
	assert_int_equal(s->ops->commit(s), ERR_IO);
	assert_int_equal(sc_int(s, "SELECT COUNT(*) FROM pg_commit", 0, NULL), 0);
	/* A rollback with no transaction open is harmless. */
	SC_OK(s, s->ops->rollback(s));
}

/* Rows with more columns than the callback's stack array. */
static void pg_wide_rows(void **state)
{
	store *s = sc_fresh(state);
	sc_rows r = {0};
	buf sql;

	buf_init(&sql, 1 << 16);
	assert_int_equal(buf_adds(&sql, "SELECT 0"), 0);
	for (int i = 1; i < 40; i++)
		assert_int_equal(buf_addf(&sql, ", %d", i), 0);
	SC_OK(s, sc_query(s, &r, sql.data, 0, NULL));
	assert_int_equal(r.ncols, 40);
	sc_assert_str(sc_cell(&r, 0, 39), "39");
	sc_rows_free(&r);
	buf_free(&sql);
}

/*
 * Not a pass/fail test: prints the hot path's rate for batches of 256, one
 * transaction (one fsync'd commit) per batch, as group commit does.
 */
static void pg_episodes_throughput(void **state)
{
	store *s = sc_fresh(state);
	const size_t batch = 256;
	const double budget = 1.5;
	sc_batch b;
	size_t rows = 0;
	double t0;
	double dt;

	sc_episodes_table(s);
	sc_batch_make(&b, batch, 9);
	t0 = now_s();
	do {
		SC_OK(s, s->ops->begin(s));
		SC_OK(s, s->ops->episodes_insert(s, b.eps, b.n));
		SC_OK(s, s->ops->commit(s));
		rows += batch;
		dt = now_s() - t0;
	} while (dt < budget);
	printf("episodes_insert: %zu rows in %.2f s = %.0f rows/s (batches of %zu, one commit "
	       "each)\n",
	       rows, dt, (double)rows / dt, batch);
	sc_batch_free(&b);
}

/* ---------------------------------------------------------------------- */
/* Group 2: a private server that the tests stop and start.               */

typedef struct g2_env {
	pg_server sv;
	store *s;
} g2_env;

static int g2_setup(void **state)
{
	g2_env *env = xcalloc(1, sizeof(*env));

	if (pg_server_start(&env->sv) < 0) {
		free(env);
		return -1;
	}
	if (store_pg_open(env->sv.url, &env->s) != 0) {
		fprintf(stderr, "test_store_pg: cannot connect to %s\n", env->sv.url);
		pg_server_stop(&env->sv);
		free(env);
		return -1;
	}
	if (db_migrate(env->s) != 0) {
		fprintf(stderr, "test_store_pg: db_migrate: %s\n", env->s->ops->errmsg(env->s));
		env->s->ops->close(env->s);
		pg_server_stop(&env->sv);
		free(env);
		return -1;
	}
	*state = env;
	return 0;
}

static int g2_teardown(void **state)
{
	g2_env *env = *state;

	if (env == NULL)
		return 0;
	if (env->s != NULL)
		env->s->ops->close(env->s);
	pg_server_stop(&env->sv);
	free(env);
	return 0;
}

static void g2_down(g2_env *env)
{
	if (pg_server_cmd(&env->sv, "down") != 0)
		fail_msg("pg.sh down failed");
}

static void g2_up(g2_env *env)
{
	if (pg_server_cmd(&env->sv, "up") != 0)
		fail_msg("pg.sh up failed");
}

/* Retries op until it succeeds; the store reconnects by itself. */
static void g2_until_ok(store *s)
{
	double t0 = now_s();
	int rc;

	do {
		rc = store_exec(s, "SELECT 1", 0, NULL, NULL, NULL);
		if (rc == 0)
			return;
		assert_int_equal(rc, ERR_UNAVAIL);
		usleep(50 * 1000);
	} while (now_s() - t0 < 10);
	fail_msg("no reconnect within 10 s: %s", s->ops->errmsg(s));
}

static void pg_reconnect(void **state)
{
	g2_env *env = *state;
	store *s = env->s;
	sc_batch b;
	double t0;
	double dt;
	int rc;

	sc_batch_make(&b, 3, 0);
	/* The episodes statement gets prepared on this connection. */
	SC_OK(s, s->ops->episodes_insert(s, b.eps, b.n));

	g2_down(env);
	t0 = now_s();
	rc = store_exec(s, "SELECT 1", 0, NULL, NULL, NULL);
	dt = now_s() - t0;
	assert_int_equal(rc, ERR_UNAVAIL);
	if (dt >= 3)
		fail_msg("ERR_UNAVAIL took %.2f s", dt);
	assert_true(strlen(s->ops->errmsg(s)) > 0);
	/* While the server is down, every call fails fast, whatever it is. */
	t0 = now_s();
	for (int i = 0; i < 50; i++) {
		assert_int_equal(store_exec(s, "SELECT 1", 0, NULL, NULL, NULL), ERR_UNAVAIL);
		assert_int_equal(s->ops->episodes_insert(s, b.eps, b.n), ERR_UNAVAIL);
		assert_int_equal(s->ops->begin(s), ERR_UNAVAIL);
		SC_OK(s, s->ops->rollback(s));
		usleep(10 * 1000);
	}
	dt = now_s() - t0;
	if (dt >= 3)
		fail_msg("50 rounds of calls on a down server took %.2f s", dt);

	g2_up(env);
	g2_until_ok(s);
	/* The new session prepares the episodes statement again. */
	SC_OK(s, s->ops->begin(s));
	SC_OK(s, s->ops->episodes_insert(s, b.eps, b.n));
	SC_OK(s, s->ops->commit(s));
	sc_batch_check(s, &b);
	sc_batch_free(&b);
}

/* The server goes away while a statement runs: the call fails, not hangs. */
static void pg_shutdown_mid_call(void **state)
{
	g2_env *env = *state;
	store *s = env->s;
	char line[1024];
	double t0;
	double dt;

	g2_up(env);
	g2_until_ok(s);
	snprintf(line, sizeof(line),
	         "(sleep 0.5; OFFERD_PG_STATE='%s/pg.state' '%s' down) >/dev/null 2>&1 &", env->sv.dir,
	         pg_sh_path());
	assert_int_equal(system(line), 0);
	t0 = now_s();
	assert_int_equal(store_exec(s, "SELECT pg_sleep(20)", 0, NULL, NULL, NULL), ERR_UNAVAIL);
	dt = now_s() - t0;
	if (dt >= 3)
		fail_msg("the interrupted call took %.2f s", dt);
	/* Let the background stop finish before starting again. */
	for (int i = 0; i < 100 && pg_server_cmd(&env->sv, "url 2>/dev/null") == 0; i++)
		usleep(50 * 1000);
	g2_up(env);
	g2_until_ok(s);
}

/* Same for a pipelined batch, and the connection comes back out of pipeline mode. */
static void pg_shutdown_mid_batch(void **state)
{
	g2_env *env = *state;
	store *s = env->s;
	store_stmt st[3];
	char line[1024];
	double t0;
	int rc;

	g2_up(env);
	g2_until_ok(s);
	memset(st, 0, sizeof(st));
	st[0].sql = "SELECT 1";
	st[1].sql = "SELECT pg_sleep(20)";
	st[2].sql = "SELECT 3";
	snprintf(line, sizeof(line),
	         "(sleep 0.5; OFFERD_PG_STATE='%s/pg.state' '%s' down) >/dev/null 2>&1 &", env->sv.dir,
	         pg_sh_path());
	assert_int_equal(system(line), 0);
	t0 = now_s();
	rc = s->ops->exec_batch(s, st, 3);
	if (rc != ERR_UNAVAIL)
		fail_msg("batch: rc %d (%d %d %d): %s", rc, st[0].rc, st[1].rc, st[2].rc,
		         s->ops->errmsg(s));
	if (now_s() - t0 >= 3)
		fail_msg("the interrupted batch took %.2f s", now_s() - t0);
	assert_int_equal(st[0].rc, 0);
	assert_int_equal(st[1].rc, ERR_UNAVAIL);
	assert_int_equal(st[2].rc, ERR_UNAVAIL);
	for (int i = 0; i < 100 && pg_server_cmd(&env->sv, "url 2>/dev/null") == 0; i++)
		usleep(50 * 1000);
	g2_up(env);
	g2_until_ok(s);
	memset(st, 0, sizeof(st));
	st[0].sql = "SELECT 1";
	st[1].sql = "SELECT 2";
	SC_OK(s, s->ops->exec_batch(s, st, 2));
}

/*
 * A connection lost inside a transaction is not silently replaced: the rest
 * of the transaction would run in autocommit. Calls fail until the caller
 * rolls back; then a new transaction runs on a new connection.
 */
static void pg_lost_inside_transaction(void **state)
{
	g2_env *env = *state;
	store *s = env->s;
	sc_batch b;
	int64_t before;

	g2_up(env);
	g2_until_ok(s);
	before = sc_int(s, "SELECT COUNT(*) FROM tb_episodes", 0, NULL);
	sc_batch_make(&b, 2, 0);
	SC_OK(s, s->ops->begin(s));
	SC_OK(s, s->ops->episodes_insert(s, b.eps, b.n));
	g2_down(env);
	g2_up(env);
	usleep(250 * 1000);
	assert_int_equal(s->ops->episodes_insert(s, b.eps, b.n), ERR_UNAVAIL);
	usleep(250 * 1000);
	assert_int_equal(s->ops->episodes_insert(s, b.eps, b.n), ERR_UNAVAIL);
	assert_int_equal(s->ops->commit(s), ERR_UNAVAIL);
	SC_OK(s, s->ops->rollback(s));
	SC_OK(s, s->ops->begin(s));
	SC_OK(s, s->ops->episodes_insert(s, b.eps, b.n));
	SC_OK(s, s->ops->commit(s));
	assert_int_equal(sc_int(s, "SELECT COUNT(*) FROM tb_episodes", 0, NULL), before + 2);
	sc_batch_free(&b);
}

/* The backend's pid, to freeze it. */
static int pid_row(void *arg, int ncols, const char *const *vals)
{
	int64_t v = 0;

	assert_int_equal(ncols, 1);
	assert_int_equal(util_strtonum(vals[0], 1, INT32_MAX, &v), 0);
	*(pid_t *)arg = (pid_t)v;
	return 0;
}

/*
 * A server that is alive but frozen (here: its backend SIGSTOPped) keeps
 * the socket open and acknowledged; only the client-side limit
 * (statement_timeout + 5 s) ends the wait. Then a new session takes over.
 */
static void pg_frozen_backend(void **state)
{
	g2_env *env = *state;
	store *s = NULL;
	char *url = xasprintf("%s?options=-c%%20statement_timeout%%3D500", env->sv.url);
	pid_t pid = 0;
	double t0;
	double dt;
	int rc;

	g2_up(env);
	assert_int_equal(store_pg_open(url, &s), 0);
	SC_OK(s, store_exec(s, "SELECT pg_backend_pid()", 0, NULL, pid_row, &pid));
	assert_true(pid > 0);
	assert_int_equal(kill(pid, SIGSTOP), 0);
	t0 = now_s();
	rc = store_exec(s, "SELECT 1", 0, NULL, NULL, NULL);
	dt = now_s() - t0;
	kill(pid, SIGCONT);
	assert_int_equal(rc, ERR_UNAVAIL);
	if (dt < 5 || dt > 9)
		fail_msg("gave up after %.2f s, expected 5.5 s", dt);
	g2_until_ok(s);
	s->ops->close(s);
	free(url);
}

/* The session defaults, and that a conninfo's own settings win over them. */
static void pg_session_settings(void **state)
{
	g2_env *env = *state;
	char *mine = xasprintf("%s?application_name=mine&options=-c%%20statement_timeout%%3D0",
	                       env->sv.url);
	const char *sql = "SELECT current_setting('application_name'),"
	                  " current_setting('statement_timeout')";
	store *s = NULL;
	sc_rows r = {0};

	g2_up(env);
	assert_int_equal(store_pg_open(env->sv.url, &s), 0);
	SC_OK(s, sc_query(s, &r, sql, 0, NULL));
	sc_assert_str(sc_cell(&r, 0, 0), "offerd");
	sc_assert_str(sc_cell(&r, 0, 1), "30s");
	s->ops->close(s);
	assert_int_equal(store_pg_open(mine, &s), 0);
	SC_OK(s, sc_query(s, &r, sql, 0, NULL));
	sc_assert_str(sc_cell(&r, 0, 0), "mine");
	sc_assert_str(sc_cell(&r, 0, 1), "0");
	s->ops->close(s);
	sc_rows_free(&r);
	free(mine);
}

/* No server at all: open fails at once with ERR_UNAVAIL. */
static void pg_open_unreachable(void **state)
{
	static store dummy;
	store *s = &dummy;
	double t0 = now_s();

	(void)state;
	assert_int_equal(store_pg_open("postgresql://postgres@127.0.0.1:1/none", &s), ERR_UNAVAIL);
	assert_null(s);
	assert_true(now_s() - t0 < 3);
	assert_int_equal(store_pg_open("host=127.0.0.1 port=1 dbname=none", &s), ERR_UNAVAIL);
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest shared[] = {
	    STORE_CASES,
	    cmocka_unit_test(pg_exact_doubles),
	    cmocka_unit_test(pg_commit_after_error),
	    cmocka_unit_test(pg_wide_rows),
	    cmocka_unit_test(pg_episodes_throughput),
	};
	const struct CMUnitTest restarts[] = {
	    cmocka_unit_test(pg_open_unreachable),   cmocka_unit_test(pg_session_settings),
	    cmocka_unit_test(pg_reconnect),          cmocka_unit_test(pg_shutdown_mid_call),
	    cmocka_unit_test(pg_shutdown_mid_batch), cmocka_unit_test(pg_lost_inside_transaction),
	    cmocka_unit_test(pg_frozen_backend),
	};
	int failed = 0;

	/*
	 * SIGPIPE is left at its default on purpose: a server going away must
	 * not kill the process (libpq sends with MSG_NOSIGNAL).
	 */
	log_setup(getenv("OFFERD_TEST_DEBUG") ? LOG_DEBUG : LOG_ERROR, 0);
	failed += cmocka_run_group_tests_name("store_pg shared cases", shared, g1_setup, g1_teardown);
	failed += cmocka_run_group_tests_name("store_pg restarts", restarts, g2_setup, g2_teardown);
	return failed != 0;
}
