/*
 * test_export.c — export.c's parsing and paging and retention.c's windows:
 * timestamps of both stores turned into UTC (the window is test_date's),
 * the --retention syntax, and on a real SQLite
 * database: an export of 2,500 episodes comes in pages of 1,000 with every
 * episode once, and a retention pass deletes exactly the expired episodes of
 * each window with their rewards.
 *
 * Public API only; links against build/liboffer.a.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "export.h"
#include "retention.h"
#include "store.h"
#include "util.h"

static void iso(const char *in, const char *want)
{
	char out[32];

	if (export_iso_utc(in, out) != 0 || strcmp(out, want) != 0)
		fail_msg("\"%s\" -> \"%s\", want \"%s\"", in, out, want);
}

static void test_iso(void **state)
{
	char out[32];

	(void)state;
	iso("2026-12-03T22:04:01.123Z", "2026-12-03T22:04:01.123Z");
	iso("2026-12-03 22:04:01.123456+00", "2026-12-03T22:04:01.123Z");
	iso("2026-12-03 22:04:01+00", "2026-12-03T22:04:01.000Z");
	iso("2026-12-03 23:30:00.5+02", "2026-12-03T21:30:00.500Z");
	iso("2026-12-31 23:30:00-01:30", "2027-01-01T01:00:00.000Z");
	iso("2026-12-03T22:04:01", "2026-12-03T22:04:01.000Z");
	assert_int_equal(export_iso_utc("2026-12-03", out), ERR_INVAL);
	assert_int_equal(export_iso_utc("yesterday at noon", out), ERR_INVAL);
	assert_int_equal(export_iso_utc(NULL, out), ERR_INVAL);
}

static void test_format(void **state)
{
	enum export_format f;

	(void)state;
	assert_int_equal(export_parse_format("dsjson", &f), 0);
	assert_int_equal(f, EXPORT_DSJSON);
	assert_int_equal(export_parse_format("csv", &f), 0);
	assert_int_equal(f, EXPORT_CSV);
	assert_int_equal(export_parse_format("CSV", &f), ERR_INVAL);
	assert_int_equal(export_parse_format(NULL, &f), ERR_INVAL);
}

static void test_retention_parse(void **state)
{
	retention_conf c;
	char err[160];

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(retention_parse(" B=30 , C = 0,D=36500 ,", &c, err, sizeof(err)), 0);
	assert_int_equal((int)c.nrules, 3);
	assert_string_equal(c.rules[0].company, "B");
	assert_int_equal(c.rules[0].days, 30);
	assert_string_equal(c.rules[1].company, "C");
	assert_int_equal(c.rules[1].days, 0);
	assert_int_equal(c.rules[2].days, 36500);
	assert_true(retention_active(&c));
	assert_int_equal(retention_parse("", &c, err, sizeof(err)), 0);
	assert_int_equal((int)c.nrules, 0);
	assert_false(retention_active(&c));
	assert_int_equal(retention_parse("C=0", &c, err, sizeof(err)), 0);
	assert_false(retention_active(&c));
	assert_int_equal(retention_parse("B", &c, err, sizeof(err)), ERR_INVAL);
	assert_non_null(strstr(err, "not COMPANY=DAYS"));
	assert_int_equal(retention_parse("B=-1", &c, err, sizeof(err)), ERR_INVAL);
	assert_int_equal(retention_parse("B=36501", &c, err, sizeof(err)), ERR_INVAL);
	assert_int_equal(retention_parse("=5", &c, err, sizeof(err)), ERR_INVAL);
	assert_int_equal(retention_parse("B=1,B=2", &c, err, sizeof(err)), ERR_INVAL);
	assert_non_null(strstr(err, "named twice"));
}

/* --- on a real SQLite database --------------------------------------------------- */

typedef struct dbfx {
	char dir[64];
	store *s;
} dbfx;

static int db_setup(void **state)
{
	dbfx *f = xcalloc(1, sizeof(*f));
	char *url;
	int rc;

	util_strlcpy(f->dir, "/tmp/offerd-test-export.XXXXXX", sizeof(f->dir));
	if (mkdtemp(f->dir) == NULL)
		return -1;
	url = xasprintf("sqlite:%s/offerd.db", f->dir);
	rc = store_open(url, &f->s);
	free(url);
	if (rc != 0 || db_migrate(f->s) != 0)
		return -1;
	*state = f;
	return 0;
}

static int db_teardown(void **state)
{
	dbfx *f = *state;
	char *cmd = xasprintf("rm -rf '%s'", f->dir);

	store_close(f->s);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
	free(cmd);
	free(f);
	return 0;
}

static void run(store *s, const char *sql)
{
	if (store_exec(s, sql, 0, NULL, NULL, NULL) != 0)
		fail_msg("%s: %s", sql, s->ops->errmsg(s));
}

static int count_cb(void *arg, int ncols, const char *const *vals)
{
	if (ncols > 0 && vals[0] != NULL)
		util_strtonum(vals[0], 0, INT64_MAX, arg);
	return 0;
}

static int64_t count(store *s, const char *sql)
{
	int64_t n = -1;

	if (store_exec(s, sql, 0, NULL, count_cb, &n) != 0)
		fail_msg("%s: %s", sql, s->ops->errmsg(s));
	return n;
}

/* Episodes FIRST..LAST of company, written at `at`. */
static void seed(store *s, const char *company, int first, int last, const char *at)
{
	char sql[1024];

	snprintf(
	    sql, sizeof(sql),
	    "WITH RECURSIVE n(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
	    " INSERT INTO tb_episodes (company, customer_id, states, predicted_offer_1,"
	    " predicted_offer_2, propensity_1, propensity_2, last_update)"
	    " SELECT '%s', 'c' || i, '{\"n\": ' || i || '}', 'OFFER_1', 'OFFER_2', 0.5, 1, '%s' FROM n",
	    first, last, company, at);
	run(s, sql);
}

static void test_pages(void **state)
{
	dbfx *f = *state;
	export_opts o;
	export_cursor *c = NULL;
	const char *field;
	char err[160];
	int pages = 0;
	size_t lines = 0;

	seed(f->s, "A", 1, 2500, "2026-01-02T10:00:00.000Z");
	seed(f->s, "B", 1, 10, "2026-01-02T10:00:00.000Z");
	seed(f->s, "A", 2501, 2510, "2026-01-03T00:00:00.000Z"); /* the day after: out of range */
	memset(&o, 0, sizeof(o));
	util_strlcpy(o.company, "A", sizeof(o.company));
	o.format = EXPORT_CSV;
	assert_int_equal(date_window_parse("2026-01-01", "2026-01-02", &o.w, &field, err, sizeof(err)),
	                 0);
	export_open(f->s, &o, &c);
	for (;;) {
		const char *data;
		size_t len;

		assert_int_equal(export_next(c, &data, &len), 0);
		if (len == 0)
			break;
		pages++;
		for (size_t i = 0; i < len; i++)
			lines += data[i] == '\n';
	}
	/* The header and the first page, two more pages, then the end. */
	assert_int_equal(pages, 3);
	assert_int_equal((int)export_episodes(c), 2500);
	assert_int_equal((int)lines, 1 + 2500 * 2);
	export_free(c);
	{
		int64_t n = 0;

		assert_int_equal(export_count(f->s, &o, &n), 0);
		assert_int_equal((int)n, 2500);
	}
}

/* Episodes with 30 KB states: pages end early at EXPORT_CHUNK_SOFT and none is lost. */
static void test_pages_large(void **state)
{
	dbfx *f = *state;
	export_opts o;
	export_cursor *c = NULL;
	const char *field;
	char err[160];
	int pages = 0;
	size_t lines = 0;
	size_t biggest = 0;

	run(f->s,
	    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)"
	    " INSERT INTO tb_episodes (company, customer_id, states, predicted_offer_1, propensity_1)"
	    " SELECT 'A', 'c' || i, '{\"blob\": \"' || hex(zeroblob(15000)) || '\"}', 'OFFER_1', 0.5"
	    " FROM n");
	memset(&o, 0, sizeof(o));
	util_strlcpy(o.company, "A", sizeof(o.company));
	o.format = EXPORT_DSJSON;
	assert_int_equal(date_window_parse(NULL, NULL, &o.w, &field, err, sizeof(err)), 0);
	export_open(f->s, &o, &c);
	for (;;) {
		const char *data;
		size_t len;

		assert_int_equal(export_next(c, &data, &len), 0);
		if (len == 0)
			break;
		pages++;
		if (len > biggest)
			biggest = len;
		for (size_t i = 0; i < len; i++)
			lines += data[i] == '\n';
	}
	assert_int_equal((int)lines, 400);
	assert_int_equal((int)export_episodes(c), 400);
	assert_true(pages >= 3);
	assert_true(biggest < EXPORT_CHUNK_SOFT + 64 * 1024);
	export_free(c);
}

static void test_retention_pass(void **state)
{
	dbfx *f = *state;
	retention_conf c;
	char err[160];
	double now = 1767225600.0; /* 2026-01-01T00:00:00Z */

	seed(f->s, "A", 1, 2500, "2025-11-01T00:00:00.000Z");    /* 61 days old */
	seed(f->s, "A", 2501, 2600, "2025-12-20T00:00:00.000Z"); /* 12 days */
	seed(f->s, "B", 1, 300, "2025-12-20T00:00:00.000Z");
	seed(f->s, "C", 1, 200, "2020-01-01T00:00:00.000Z");
	run(f->s, "INSERT INTO tb_rewards (company, customer_id, episode_id, accepted_offer)"
	          " SELECT company, customer_id, id, 1 FROM tb_episodes WHERE id % 2 = 0");
	memset(&c, 0, sizeof(c));
	c.default_days = 30;
	assert_int_equal(retention_parse("B=10,C=0", &c, err, sizeof(err)), 0);
	assert_int_equal(retention_pass(f->s, &c, now, NULL), 0);
	assert_int_equal((int)count(f->s, "SELECT COUNT(*) FROM tb_episodes WHERE company = 'A'"), 100);
	assert_int_equal((int)count(f->s, "SELECT MIN(id) FROM tb_episodes WHERE company = 'A'"), 2501);
	assert_int_equal((int)count(f->s, "SELECT COUNT(*) FROM tb_episodes WHERE company = 'B'"), 0);
	assert_int_equal((int)count(f->s, "SELECT COUNT(*) FROM tb_episodes WHERE company = 'C'"), 200);
	assert_int_equal((int)count(f->s, "SELECT COUNT(*) FROM tb_rewards r WHERE NOT EXISTS"
	                                  " (SELECT 1 FROM tb_episodes e WHERE e.id = r.episode_id)"),
	                 0);
	assert_int_equal((int)count(f->s, "SELECT COUNT(*) FROM tb_rewards"), 50 + 100);
	/* Nothing is left to delete: a second pass changes nothing. */
	assert_int_equal(retention_pass(f->s, &c, now, NULL), 0);
	assert_int_equal((int)count(f->s, "SELECT COUNT(*) FROM tb_episodes"), 300);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_iso),
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_retention_parse),
	    cmocka_unit_test_setup_teardown(test_pages, db_setup, db_teardown),
	    cmocka_unit_test_setup_teardown(test_pages_large, db_setup, db_teardown),
	    cmocka_unit_test_setup_teardown(test_retention_pass, db_setup, db_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
