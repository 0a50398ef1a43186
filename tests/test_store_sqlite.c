/*
 * test_store_sqlite.c — store_sqlite.c: the backend-neutral store cases of
 * store_cases.h (also run on PostgreSQL by test_store_pg.c) on a temporary
 * SQLite file, and SQLite's own: store_open's URL forms, the statement
 * cache.
 */
#include "store_cases.h"

#include "db.h"
#include "log.h"

static char sc_dir[64];

static int sq_setup(void **state)
{
	char path[128];
	store *s = NULL;

	util_strlcpy(sc_dir, "/tmp/offerd-test-sqcases.XXXXXX", sizeof(sc_dir));
	if (mkdtemp(sc_dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/cases.db", sc_dir);
	if (store_open(path, &s) == 0)
		return -1; /* a bare path is not a URL */
	{
		char *url = xasprintf("sqlite:%s", path);
		int rc = store_open(url, &s);

		free(url);
		if (rc != 0 || db_migrate(s) != 0)
			return -1;
	}
	assert_int_equal(s->dialect, STORE_SQLITE);
	*state = s;
	return 0;
}

static int sq_teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", sc_dir);

	store_close(*state);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", sc_dir);
	free(cmd);
	return 0;
}

/* The statement cache holds 32: many distinct statements still run correctly. */
static void sq_statement_cache(void **state)
{
	store *s = sc_fresh(state);

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 80; i++) {
			char sql[64];
			char want[24];
			sc_rows r = {0};

			snprintf(sql, sizeof(sql), "SELECT %d + 0 * %d", i, round);
			snprintf(want, sizeof(want), "%d", i);
			SC_OK(s, sc_query(s, &r, sql, 0, NULL));
			sc_assert_str(sc_cell(&r, 0, 0), want);
			sc_rows_free(&r);
		}
	}
	/* A syntax error is ERR_IO with SQLite's message. */
	assert_int_equal(store_exec(s, "SELEKT 1", 0, NULL, NULL, NULL), ERR_IO);
	assert_non_null(strstr(s->ops->errmsg(s), "syntax error"));
}

static void url_safe_is(const char *url, size_t n, const char *want)
{
	char out[256];

	store_url_safe(url, out, n);
	sc_assert_str(out, want);
}

/* A URL in a message never carries its password (store.c, for offerd and offerctl's errors). */
static void sq_url_safe(void **state)
{
	(void)state;
	url_safe_is("postgresql://bob:s3cret@db:5432/offerd", 256,
	            "postgresql://bob:***@db:5432/offerd");
	url_safe_is("postgres://bob:p@ss@db/x", 256, "postgres://bob:***@db/x");
	url_safe_is("postgresql://bob@db/x?sslmode=require&password=p2&application_name=a", 256,
	            "postgresql://bob@db/x?sslmode=require&password=***&application_name=a");
	url_safe_is("postgresql://db/x?PASSWORD=p2", 256, "postgresql://db/x?PASSWORD=***");
	url_safe_is("postgresql://db/x", 256, "postgresql://db/x");
	url_safe_is("sqlite:var/offerd.db", 256, "sqlite:var/offerd.db");
	url_safe_is("mysql://u:pw@h/x", 256, "mysql://u:***@h/x");
	/* Truncated, never past n. */
	url_safe_is("postgresql://bob:s3cret@db/x", 20, "postgresql://bob:**");
	url_safe_is("postgresql://bob:s3cret@db/x", 1, "");
}

/* A thread that holds a slot for a while, so another take finds it busy. */
typedef struct slot_holder {
	store_slot *slot;
	const char *url;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int held;
	int release;
} slot_holder;

static void *hold_slot(void *arg)
{
	slot_holder *h = arg;
	int busy;
	store *s = store_slot_take(h->slot, h->url, 0, &busy);

	pthread_mutex_lock(&h->lock);
	h->held = s != NULL;
	pthread_cond_broadcast(&h->cond);
	while (!h->release)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
	if (s != NULL)
		store_slot_give(h->slot, 0);
	return NULL;
}

/* store_slot: opened on the first take, kept across takes, closed after a failure, busy past
 * its wait, and never held after a take that could not open. */
static void sq_slot(void **state)
{
	store_slot slot;
	char *url = xasprintf("sqlite:%s/slot.db", sc_dir);
	slot_holder h = {.slot = &slot, .url = url};
	pthread_t t;
	store *s1;
	store *s2;
	int busy = -1;
	double t0;

	(void)state;
	store_slot_init(&slot);
	assert_null(slot.s);
	s1 = store_slot_take(&slot, url, 0, &busy);
	assert_non_null(s1);
	assert_int_equal(busy, 0);
	SC_OK(s1, store_exec(s1, "SELECT 1", 0, NULL, NULL, NULL));
	store_slot_give(&slot, 0);
	s2 = store_slot_take(&slot, url, 1, &busy);
	assert_ptr_equal(s2, s1); /* the same connection, not a new one */
	store_slot_give(&slot, 1);
	assert_null(slot.s); /* a failure closes it ... */
	s2 = store_slot_take(&slot, url, 0, &busy);
	assert_non_null(s2); /* ... and the next take opens another */
	store_slot_give(&slot, 0);

	/* Held by another thread: a take with a wait gives up after it, busy. */
	pthread_mutex_init(&h.lock, NULL);
	pthread_cond_init(&h.cond, NULL);
	assert_int_equal(pthread_create(&t, NULL, hold_slot, &h), 0);
	pthread_mutex_lock(&h.lock);
	while (!h.held)
		pthread_cond_wait(&h.cond, &h.lock);
	pthread_mutex_unlock(&h.lock);
	t0 = util_monotonic();
	assert_null(store_slot_take(&slot, url, 0.2, &busy));
	assert_int_equal(busy, 1);
	assert_true(util_monotonic() - t0 >= 0.15);
	pthread_mutex_lock(&h.lock);
	h.release = 1;
	pthread_cond_broadcast(&h.cond);
	pthread_mutex_unlock(&h.lock);
	pthread_join(t, NULL);
	pthread_cond_destroy(&h.cond);
	pthread_mutex_destroy(&h.lock);

	/* A URL that cannot be opened: NULL, not busy, and the slot is free again. */
	store_slot_give(&slot, 1);
	assert_null(store_slot_take(&slot, "nosuch:x", 0, &busy));
	assert_int_equal(busy, 0);
	assert_null(slot.s);
	s1 = store_slot_take(&slot, url, 0.5, &busy);
	assert_non_null(s1);
	store_slot_give(&slot, 0);
	/* busy is optional. */
	assert_ptr_equal(store_slot_take(&slot, url, 0, NULL), s1);
	store_slot_give(&slot, 0);
	store_slot_end(&slot);
	free(url);
}

int main(void)
{
	const struct CMUnitTest sqlite_cases[] = {
	    STORE_CASES,
	    cmocka_unit_test(sq_statement_cache),
	    cmocka_unit_test(sq_url_safe),
	    cmocka_unit_test(sq_slot),
	};

	log_setup(getenv("OFFERD_TEST_DEBUG") ? LOG_DEBUG : LOG_ERROR + 1, 0);
	return cmocka_run_group_tests_name("store cases on SQLite", sqlite_cases, sq_setup,
	                                   sq_teardown) != 0;
}
