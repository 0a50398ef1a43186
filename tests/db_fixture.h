/*
 * db_fixture.h — one fresh, migrated database per test, on SQLite (a
 * temporary file) or PostgreSQL (a schema of its own on the server in
 * $OFFERD_TEST_PG_URL), for the tests of db.c and the writer. Include it
 * after store_cases.h.
 */
#ifndef OFFERD_TEST_DB_FIXTURE_H
#define OFFERD_TEST_DB_FIXTURE_H

#include <unistd.h>

#include "agent.h"
#include "db.h"
#include "log.h"
#include "values.h"

typedef struct fixture {
	char dir[64];
	char path[128];
	char *url;    /* for a second connection to the same database */
	char *schema; /* PostgreSQL: the test's own schema, dropped after */
	store *s;
	values *v;
	agent_conf conf;
} fixture;

/* Opens and migrates f->url; the fixture is ready. */
static int fx_open(fixture *f, void **state)
{
	if (store_open(f->url, &f->s) != 0 || db_migrate(f->s) != 0) {
		fprintf(stderr, "cannot open and migrate %s\n", f->url);
		return -1;
	}
	f->v = values_new();
	agent_conf_default(&f->conf);
	/* The current agent is the seeded 1.0.0, which made ep_op's episodes. */
	util_strlcpy(f->conf.version, "1.0.0", sizeof(f->conf.version));
	*state = f;
	return 0;
}

static int fx_setup(void **state)
{
	fixture *f = xcalloc(1, sizeof(*f));

	util_strlcpy(f->dir, "/tmp/offerd-test-writer.XXXXXX", sizeof(f->dir));
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/offerd.db", f->dir);
	f->url = xasprintf("sqlite:%s", f->path);
	return fx_open(f, state);
}

static const char *pg_base_url(void)
{
	const char *url = getenv("OFFERD_TEST_PG_URL");

	return url != NULL && *url != '\0' ? url : NULL;
}

static int fx_setup_pg(void **state)
{
	static int seq;
	fixture *f = xcalloc(1, sizeof(*f));
	const char *base = pg_base_url();
	store *boot = NULL;
	char *sql;
	int rc;

	if (base == NULL || store_open(base, &boot) != 0) {
		free(f);
		return -1;
	}
	f->schema = xasprintf("wt_%ld_%d", (long)getpid(), seq++);
	sql = xasprintf("CREATE SCHEMA %s", f->schema);
	rc = store_exec(boot, sql, 0, NULL, NULL, NULL);
	free(sql);
	store_close(boot);
	if (rc != 0)
		return -1;
	/* Every connection of the test resolves bare table names in its schema. */
	f->url = xasprintf("%s%coptions=-csearch_path%%3D%s", base, strchr(base, '?') ? '&' : '?',
	                   f->schema);
	return fx_open(f, state);
}

static int fx_teardown(void **state)
{
	fixture *f = *state;
	char *cmd;

	if (f == NULL)
		return 0;
	store_close(f->s);
	values_free(f->v);
	if (f->schema != NULL) {
		store *boot = NULL;

		if (store_open(pg_base_url(), &boot) == 0) {
			cmd = xasprintf("DROP SCHEMA %s CASCADE", f->schema);
			if (store_exec(boot, cmd, 0, NULL, NULL, NULL) != 0)
				fprintf(stderr, "could not drop schema %s\n", f->schema);
			free(cmd);
			store_close(boot);
		}
	} else {
		cmd = xasprintf("rm -rf '%s'", f->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", f->dir);
		free(cmd);
	}
	free(f->schema);
	free(f->url);
	free(f);
	return 0;
}

#define FX_OK(f, expr) SC_OK((f)->s, expr)

static int64_t count(fixture *f, const char *table)
{
	int64_t n = -1;

	FX_OK(f, db_count(f->s, table, &n));
	return n;
}

/*
 * main of a test file whose cases run on both stores: the same n cases on
 * SQLite (sqlite[], set up by fx_setup), then on PostgreSQL (pg[], by
 * fx_setup_pg) when $OFFERD_TEST_PG_URL is set, else it says why that group
 * did not run. The log stays quiet (a poisoned batch logs at error level)
 * unless OFFERD_TEST_DEBUG is set. Returns main's exit status.
 */
static inline int fx_run_both(const char *prog, const char *what, const struct CMUnitTest *sqlite,
                              const struct CMUnitTest *pg, size_t n)
{
	char name[64];
	int failed = 0;

	log_setup(getenv("OFFERD_TEST_DEBUG") ? LOG_DEBUG : LOG_ERROR + 1, 0);
	snprintf(name, sizeof(name), "%s on SQLite", what);
	failed += _cmocka_run_group_tests(name, sqlite, n, NULL, NULL);
	if (pg_base_url() != NULL) {
		snprintf(name, sizeof(name), "%s on PostgreSQL", what);
		failed += _cmocka_run_group_tests(name, pg, n, NULL, NULL);
	} else {
		fprintf(stderr,
		        "%s: OFFERD_TEST_PG_URL is not set (make test sets it);"
		        " the PostgreSQL group did not run\n",
		        prog);
	}
	return failed != 0;
}

#endif
