/*
 * test_experiment.c — champion/challenger (experiment.h, issue 17.1).
 *
 * The assignment: a customer's point is the same on every call (two
 * processes compute the same function of the same strings), lies in
 * [0, 100), and over 10,000 customers of each of two companies the
 * challenger's share is within 2 points of the requested 1, 10, 25 and 50%;
 * a new challenger version draws another set of customers; a shadow or no
 * challenger serves nobody. The statistics: Wilson intervals against
 * values worked by hand, p_better deterministic and sensible at the
 * extremes. decide_arms_episode: the version that served is the one the
 * assignment names, a shadow never serves and leaves its slate on the
 * episode. The changes (release, promote, rollback) on SQLite: the set-up
 * in force after each, the refusals, and a plain release ending an
 * experiment.
 *
 * Public API only; links against build/liboffer.a.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "agent.h"
#include "db.h"
#include "decide.h"
#include "experiment.h"
#include "request.h"
#include "store.h"
#include "util.h"
#include "values.h"

static db_experiment serving(const char *challenger, double traffic)
{
	db_experiment x;

	memset(&x, 0, sizeof(x));
	util_strlcpy(x.champion, "1.0.0", sizeof(x.champion));
	util_strlcpy(x.challenger, challenger, sizeof(x.challenger));
	x.traffic = traffic;
	return x;
}

static void test_point_is_sticky_and_bounded(void **state)
{
	(void)state;
	for (int i = 0; i < 1000; i++) {
		char id[32];
		double p;

		snprintf(id, sizeof(id), "cust-%d", i);
		p = experiment_point("A", id, "2.0.0");
		assert_true(p >= 0 && p < 100);
		assert_true(p == experiment_point("A", id, "2.0.0"));
	}
	/* The separator keeps ("ab", "c") and ("a", "bc") apart. */
	assert_true(experiment_point("ab", "c", "2.0.0") != experiment_point("a", "bc", "2.0.0"));
}

static void test_share_within_two_points(void **state)
{
	static const double shares[] = {1, 10, 25, 50};
	static const char *const companies[] = {"A", "B"};

	(void)state;
	for (size_t c = 0; c < UTIL_ARRAY_LEN(companies); c++) {
		for (size_t k = 0; k < UTIL_ARRAY_LEN(shares); k++) {
			db_experiment x = serving("2.0.0", shares[k]);
			int n = 0;

			for (int i = 0; i < 10000; i++) {
				char id[32];

				snprintf(id, sizeof(id), "%d", 100000 + i);
				n += experiment_serves_challenger(&x, companies[c], id);
			}
			if (fabs(n / 100.0 - shares[k]) > 2.0)
				fail_msg("company %s, traffic %g%%: the challenger served %d of 10000",
				         companies[c], shares[k], n);
		}
	}
}

static void test_salt_and_shadow(void **state)
{
	db_experiment a = serving("2.0.0", 50);
	db_experiment b = serving("2.1.0", 50);
	db_experiment shadow = serving("2.0.0", 50);
	db_experiment none = serving("", 50);
	int differ = 0;

	(void)state;
	shadow.shadow = 1;
	for (int i = 0; i < 1000; i++) {
		char id[32];

		snprintf(id, sizeof(id), "%d", i);
		differ += experiment_serves_challenger(&a, "A", id) !=
		          experiment_serves_challenger(&b, "A", id);
		assert_int_equal(experiment_serves_challenger(&shadow, "A", id), 0);
		assert_int_equal(experiment_serves_challenger(&none, "A", id), 0);
	}
	/* Independent halves disagree for about half the customers. */
	assert_true(differ > 400 && differ < 600);
}

static void test_wilson(void **state)
{
	double lo;
	double hi;

	(void)state;
	experiment_wilson(5, 10, &lo, &hi);
	assert_float_equal(lo, 0.2366, 1e-4);
	assert_float_equal(hi, 0.7634, 1e-4);
	experiment_wilson(0, 10, &lo, &hi);
	assert_float_equal(lo, 0.0, 1e-12);
	assert_float_equal(hi, 0.2775, 1e-4);
	experiment_wilson(0, 0, &lo, &hi);
	assert_true(lo == 0 && hi == 1);
}

static void test_p_better(void **state)
{
	double even;

	(void)state;
	even = experiment_p_better(50, 100, 50, 100);
	assert_true(even > 0.47 && even < 0.53);
	assert_true(experiment_p_better(10, 100, 30, 100) > 0.99);
	assert_true(experiment_p_better(30, 100, 10, 100) < 0.01);
	/* A fixed seed: the same counts, the same answer, in any process. */
	assert_true(experiment_p_better(7, 40, 11, 38) == experiment_p_better(7, 40, 11, 38));
}

static void test_arms(void **state)
{
	db_experiment x = serving("2.0.0", 10);
	experiment_count c[3];
	experiment_stats st;
	experiment_arm arms[EXPERIMENT_ARMS_MAX];
	size_t n;

	(void)state;
	memset(c, 0, sizeof(c));
	util_strlcpy(c[0].company, "A", sizeof(c[0].company));
	util_strlcpy(c[0].version, "1.0.0", sizeof(c[0].version));
	c[0].decisions = 900;
	c[0].rewards = 100;
	c[0].accepted = 10;
	c[0].p_better = NAN;
	c[1] = c[0];
	util_strlcpy(c[1].version, "2.0.0", sizeof(c[1].version));
	c[1].decisions = 100;
	c[1].rewards = 50;
	c[1].accepted = 20;
	c[1].p_better = 0.9;
	st.x = x;
	st.c = c;
	st.n = 2;
	n = experiment_arms(&x, &st, "A", arms);
	assert_int_equal(n, 2);
	assert_string_equal(arms[0].version, "1.0.0");
	assert_int_equal(arms[0].role, EXPERIMENT_CHAMPION);
	assert_float_equal(arms[0].traffic, 90, 1e-9);
	assert_int_equal(arms[0].decisions, 900);
	assert_float_equal(arms[0].acceptance, 0.1, 1e-9);
	assert_true(isnan(arms[0].p_better));
	assert_int_equal(arms[1].role, EXPERIMENT_CHALLENGER);
	assert_float_equal(arms[1].acceptance, 0.4, 1e-9);
	assert_float_equal(arms[1].p_better, 0.9, 1e-9);
	assert_true(arms[1].lo < 0.4 && arms[1].hi > 0.4);
	/* Another company: the arms with no counts. */
	n = experiment_arms(&x, &st, "B", arms);
	assert_int_equal(n, 2);
	assert_int_equal(arms[0].decisions, 0);
	assert_true(isnan(arms[1].p_better));
	/* A shadow: its decisions are the slates logged on the champion's episodes. */
	c[0].shadowed = 900;
	x.shadow = 1;
	st.x = x;
	n = experiment_arms(&x, &st, "A", arms);
	assert_int_equal(arms[1].role, EXPERIMENT_SHADOW);
	assert_float_equal(arms[0].traffic, 100, 1e-9);
	assert_float_equal(arms[1].traffic, 0, 1e-9);
	assert_int_equal(arms[1].decisions, 900);
	assert_int_equal(arms[1].rewards, 0);
	assert_true(isnan(arms[1].p_better));
	/* Counts of another window are not shown. */
	x.from_episode = 5;
	n = experiment_arms(&x, &st, "A", arms);
	assert_int_equal(arms[0].decisions, 0);
	/* No challenger: one arm, 100%. */
	x = serving("", 0);
	n = experiment_arms(&x, NULL, "A", arms);
	assert_int_equal(n, 1);
	assert_float_equal(arms[0].traffic, 100, 1e-9);
}

/* --- decide_arms_episode --------------------------------------------------- */

static void request_for(const char *customer, predict_req *req)
{
	char body[512];
	req_error e;

	snprintf(body, sizeof(body),
	         "{\"customer_id\": \"%s\", \"timestamp\": \"2022-01-01\","
	         " \"states\": {\"age\": 22, \"gender\": \"M\", \"region\": \"Europa\"},"
	         " \"offers\": {\"OFFER_1\": true, \"OFFER_2\": true, \"OFFER_3\": true,"
	         " \"OFFER_4\": true}}",
	         customer);
	memset(&e, 0, sizeof(e));
	if (request_parse_predict(body, strlen(body), req, &e) != 0)
		fail_msg("request rejected: %s: %s", e.field, e.message);
}

static void arms_of(decide_arms *a, double traffic, int shadow)
{
	memset(a, 0, sizeof(*a));
	agent_conf_default(&a->champion);
	util_strlcpy(a->champion.version, "1.0.0", sizeof(a->champion.version));
	agent_conf_default(&a->challenger);
	a->challenger.policy = POLICY_RANDOM;
	util_strlcpy(a->challenger.version, "2.0.0", sizeof(a->challenger.version));
	a->x = serving("2.0.0", traffic);
	a->x.shadow = shadow;
}

static void test_decide_serves_the_assigned_version(void **state)
{
	values *v = values_new();
	decide_arms a;
	rng r;
	int challenger = 0;

	(void)state;
	rng_seed(&r, 3);
	arms_of(&a, 30, 0);
	for (int i = 0; i < 300; i++) {
		char id[16];
		predict_req req;
		decide_result res;
		episode ep;
		int want;

		snprintf(id, sizeof(id), "c%d", i);
		request_for(id, &req);
		want = experiment_serves_challenger(&a.x, "A", id);
		assert_int_equal(decide_arms_episode(&a, v, &r, "A", &req, NULL, NULL, &res, &ep), 0);
		assert_string_equal(ep.agent_version, want ? "2.0.0" : "1.0.0");
		assert_string_equal(ep.policy, want ? "random" : "epsilon-greedy");
		assert_int_equal(res.role, want ? EXPERIMENT_CHALLENGER : EXPERIMENT_CHAMPION);
		assert_null(ep.shadow);
		challenger += want;
		request_predict_free(&req);
	}
	assert_true(challenger > 50 && challenger < 130);
	values_free(v);
}

static void test_decide_shadow_never_serves(void **state)
{
	values *v = values_new();
	decide_arms a;
	rng r;

	(void)state;
	rng_seed(&r, 4);
	arms_of(&a, 100, 1);
	for (int i = 0; i < 200; i++) {
		char id[16];
		predict_req req;
		decide_result res;
		episode ep;
		json_t *j;
		json_error_t jerr;

		snprintf(id, sizeof(id), "s%d", i);
		request_for(id, &req);
		assert_int_equal(decide_arms_episode(&a, v, &r, "A", &req, NULL, NULL, &res, &ep), 0);
		assert_string_equal(ep.agent_version, "1.0.0");
		assert_int_equal(res.role, EXPERIMENT_CHAMPION);
		assert_non_null(ep.shadow);
		j = json_loads(ep.shadow, 0, &jerr);
		assert_non_null(j);
		assert_string_equal(json_string_value(json_object_get(j, "version")), "2.0.0");
		assert_string_equal(json_string_value(json_object_get(j, "policy")), "random");
		assert_int_equal(json_array_size(json_object_get(j, "offers")), 3);
		assert_int_equal(json_array_size(json_object_get(j, "propensities")), 3);
		assert_true(json_real_value(json_array_get(json_object_get(j, "propensities"), 0)) > 0);
		json_decref(j);
		request_predict_free(&req);
	}
	values_free(v);
}

/* --- the changes, on SQLite -------------------------------------------------- */

/* A migrated SQLite store in a new file named from path's XXXXXX template. */
static store *sqlite_store(char *path)
{
	char url[64];
	store *s = NULL;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	snprintf(url, sizeof(url), "sqlite:%s", path);
	assert_int_equal(store_open(url, &s), 0);
	assert_int_equal(db_migrate(s), 0);
	return s;
}

static void test_changes(void **state)
{
	char path[] = "/tmp/offerd-test-exp-XXXXXX";
	char err[512];
	db_experiment x;
	db_experiment cur;
	store *s = sqlite_store(path);

	(void)state;
	assert_int_equal(db_experiment_current(s, &cur), 0);
	assert_string_equal(cur.champion, "1.0.0");
	assert_string_equal(cur.challenger, "");
	assert_int_equal(experiment_promote(s, NULL, &x, err, sizeof(err)), ERR_CONFLICT);
	assert_int_equal(experiment_rollback(s, &x, err, sizeof(err)), ERR_CONFLICT);

	assert_int_equal(experiment_release(s, "2.0.0", "squarecb", 0.1, NULL, 10, 0, &x, err,
	                                    sizeof(err)),
	                 0);
	assert_int_equal(db_experiment_current(s, &cur), 0);
	assert_string_equal(cur.champion, "1.0.0");
	assert_string_equal(cur.challenger, "2.0.0");
	assert_float_equal(cur.traffic, 10, 1e-9);
	assert_int_equal(cur.shadow, 0);
	assert_int_equal(experiment_promote(s, "9.9.9", &x, err, sizeof(err)), ERR_CONFLICT);
	assert_non_null(strstr(err, "the challenger is 2.0.0"));
	assert_int_equal(experiment_rollback(s, &x, err, sizeof(err)), 0);
	assert_int_equal(db_experiment_current(s, &cur), 0);
	assert_string_equal(cur.champion, "1.0.0");
	assert_string_equal(cur.challenger, "");

	assert_int_equal(experiment_release(s, "3.0.0", "random", 0.1, NULL, 0, 1, &x, err, sizeof(err)),
	                 0);
	assert_int_equal(db_experiment_current(s, &cur), 0);
	assert_string_equal(cur.challenger, "3.0.0");
	assert_int_equal(cur.shadow, 1);
	assert_int_equal(experiment_promote(s, "3.0.0", &x, err, sizeof(err)), 0);
	assert_int_equal(db_experiment_current(s, &cur), 0);
	assert_string_equal(cur.champion, "3.0.0");
	assert_string_equal(cur.challenger, "");

	/* A challenger, then a plain release: the new version serves everyone. */
	assert_int_equal(experiment_release(s, "4.0.0", "random", 0.1, NULL, 50, 0, &x, err,
	                                    sizeof(err)),
	                 0);
	assert_int_equal(db_agent_release(s, "5.0.0", "ucb", 0.1, NULL), 0);
	assert_int_equal(db_experiment_current(s, &cur), 0);
	assert_string_equal(cur.champion, "5.0.0");
	assert_string_equal(cur.challenger, "");
	store_close(s);
	unlink(path);
}

/* --- the counts, read as they grow (experiment_tally), on SQLite ------------- */

static void run_sql(store *s, const char *sql)
{
	if (store_exec(s, sql, 0, NULL, NULL, NULL) != 0)
		fail_msg("%s: %s", sql, s->ops->errmsg(s));
}

/* Episodes FIRST..LAST of company A by version, customers c<i>. */
static void seed_episodes(store *s, const char *version, int first, int last)
{
	char sql[768];

	snprintf(sql, sizeof(sql),
	         "WITH RECURSIVE n(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
	         " INSERT INTO tb_episodes (company, customer_id, states, predicted_offer_1,"
	         " agent_version) SELECT 'A', 'c' || i, '{}', 'OFFER_1', '%s' FROM n",
	         first, last, version);
	run_sql(s, sql);
}

/* A reward of episode id, accepted or not. */
static void seed_reward(store *s, int id, int accepted)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
	         "INSERT INTO tb_rewards (company, episode_id, customer_id, accepted_offer)"
	         " SELECT company, id, customer_id, %d FROM tb_episodes WHERE id = %d",
	         accepted, id);
	run_sql(s, sql);
}

static const experiment_count *count_for(const experiment_stats *st, const char *version)
{
	for (size_t i = 0; i < st->n; i++) {
		if (strcmp(st->c[i].company, "A") == 0 && strcmp(st->c[i].version, version) == 0)
			return &st->c[i];
	}
	return NULL;
}

/* experiment_tally_read with TB_ERASURES' highest id read as the refresher reads it. */
static int tally_read(experiment_tally *t, store *s, const db_experiment *x, double now,
                      experiment_stats *st)
{
	int64_t erasures = 0;

	assert_int_equal(db_erasures_top(s, &erasures), 0);
	return experiment_tally_read(t, s, x, now, erasures, NULL, st);
}

/* Reads t at now and checks version's decisions, rewards and accepted. */
static void expect_counts(experiment_tally *t, store *s, const db_experiment *x, double now,
                          const char *version, int64_t decisions, int64_t rewards, int64_t accepted)
{
	experiment_stats st;
	const experiment_count *c;

	assert_int_equal(tally_read(t, s, x, now, &st), 0);
	c = count_for(&st, version);
	assert_non_null(c);
	assert_int_equal(c->decisions, decisions);
	assert_int_equal(c->rewards, rewards);
	assert_int_equal(c->accepted, accepted);
	experiment_stats_free(&st);
}

static void test_tally(void **state)
{
	char path[] = "/tmp/offerd-test-tally-XXXXXX";
	char err[512];
	experiment_tally t;
	experiment_stats st;
	db_experiment x;
	store *s = sqlite_store(path);

	(void)state;
	memset(&t, 0, sizeof(t));
	assert_int_equal(db_experiment_current(s, &x), 0);

	/* Episodes 1..10 of the champion, 11..13 of a version not in the experiment. */
	seed_episodes(s, "1.0.0", 1, 10);
	seed_episodes(s, "0.9.0", 11, 13);
	seed_reward(s, 2, 1);
	seed_reward(s, 4, 0);
	seed_reward(s, 6, 1);
	seed_reward(s, 12, 1);
	/* The first read settles nothing: no count yet. */
	assert_int_equal(tally_read(&t, s, &x, 100, &st), 0);
	assert_null(count_for(&st, "1.0.0"));
	experiment_stats_free(&st);
	assert_int_equal(t.cut[0], 0);

	/* Rows written after that read wait for a later one. */
	seed_episodes(s, "1.0.0", 14, 15);
	seed_reward(s, 14, 1);
	seed_reward(s, 8, 0); /* a reward of an episode already counted: a new reward id */
	expect_counts(&t, s, &x, 100 + EXPERIMENT_SETTLE_SECONDS, "1.0.0", 10, 3, 2);
	assert_int_equal(t.cut[0], 13);
	assert_int_equal(t.cut[1], 4);
	assert_int_equal(tally_read(&t, s, &x, 101 + EXPERIMENT_SETTLE_SECONDS, &st), 0);
	assert_null(count_for(&st, "0.9.0")); /* not in the experiment */
	experiment_stats_free(&st);
	expect_counts(&t, s, &x, 110, "1.0.0", 12, 5, 3);
	assert_int_equal(t.cut[0], 15);
	assert_int_equal(t.cut[1], 6);
	assert_int_equal(t.nmarks, 1);
	expect_counts(&t, s, &x, 111, "1.0.0", 12, 5, 3);

	/* An erasure (customer c2: its episode and reward gone) counts from the table again. */
	run_sql(s, "DELETE FROM tb_rewards WHERE episode_id = 2");
	run_sql(s, "DELETE FROM tb_episodes WHERE id = 2");
	expect_counts(&t, s, &x, 120, "1.0.0", 12, 5, 3); /* counted rows stay counted ... */
	run_sql(s, "INSERT INTO tb_erasures (company, episodes, rewards, learned, segments, by_whom)"
	           " VALUES ('A', 1, 1, 0, 0, 'test')");
	assert_int_equal(tally_read(&t, s, &x, 121, &st), 0);
	assert_int_equal(st.n, 0); /* ... until TB_ERASURES grows: a new count */
	experiment_stats_free(&st);
	expect_counts(&t, s, &x, 121 + EXPERIMENT_SETTLE_SECONDS, "1.0.0", 11, 4, 2);

	/* A challenger with a window from episode 15: only its episodes and their rewards. */
	assert_int_equal(experiment_release(s, "2.0.0", "random", 0.1, NULL, 10, 0, &x, err,
	                                    sizeof(err)),
	                 0);
	assert_int_equal(db_experiment_current(s, &x), 0);
	assert_int_equal(x.from_episode, 15);
	seed_episodes(s, "2.0.0", 16, 18);
	seed_reward(s, 17, 1);
	assert_int_equal(tally_read(&t, s, &x, 130, &st), 0);
	assert_int_equal(st.n, 0);
	experiment_stats_free(&st);
	expect_counts(&t, s, &x, 130 + EXPERIMENT_SETTLE_SECONDS, "2.0.0", 3, 1, 1);
	assert_int_equal(tally_read(&t, s, &x, 140, &st), 0);
	assert_null(count_for(&st, "1.0.0")); /* the champion decided nothing since */
	experiment_stats_free(&st);
	experiment_tally_free(&t);
	store_close(s);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_point_is_sticky_and_bounded),
	    cmocka_unit_test(test_share_within_two_points),
	    cmocka_unit_test(test_salt_and_shadow),
	    cmocka_unit_test(test_wilson),
	    cmocka_unit_test(test_p_better),
	    cmocka_unit_test(test_arms),
	    cmocka_unit_test(test_decide_serves_the_assigned_version),
	    cmocka_unit_test(test_decide_shadow_never_serves),
	    cmocka_unit_test(test_changes),
	    cmocka_unit_test(test_tally),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
