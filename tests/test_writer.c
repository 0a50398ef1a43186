/*
 * test_writer.c — the group-commit writer (writer.c) on a fresh migrated
 * database per test (db_fixture.h), on SQLite and, with
 * $OFFERD_TEST_PG_URL (which make test sets), on PostgreSQL:
 *
 *  - episodes get ids, in order, and their rows hold what was decided;
 *  - a reward attaches to the customer's latest unrewarded episode, or to
 *    the episode it names; no episode is 404 (ERR_NOTFOUND), every episode
 *    rewarded is 409 (ERR_CONFLICT); tenants do not see each other;
 *  - rewards of one batch go in rounds and attribute exactly as one at a
 *    time; a reward is scored with its episode's agent version;
 *  - the statistics deltas of a batch are summed into one upsert per
 *    (state, offer), and the absolute rows the upserts return reach the
 *    in-memory values; a reload of the same rows does not double count
 *    (the revision guard of values_set);
 *  - a poisoned operation does not fail its batch neighbours;
 *  - a reward later than the agent's wait time is logged, not learned;
 *  - the writer thread calls every done callback once and refuses work
 *    when stopped or full.
 *
 * db.c's own queries are tested in test_db.c, the SQLite store in
 * test_store_sqlite.c.
 */
/* The store cases' helpers (SC_OK, sc_query...) are used here, not the cases. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "store_cases.h"

#include "db_fixture.h"

#include <pthread.h>
#include <unistd.h>

#include "agent.h"
#include "db.h"
#include "log.h"
#include "values.h"
#include "writer.h"

static int64_t max_rev(fixture *f)
{
	return sc_int(f->s, "SELECT COALESCE(MAX(rev), 0) FROM tb_policy", 0, NULL);
}

/* --- building operations ----------------------------------------------------------- */

static const char *const three[3] = {"OFFER_1", "OFFER_4", "OFFER_8"};

static void ep_op(writer_op *op, const char *company, const char *customer, const char *state_key,
                  const char *const offers[3])
{
	memset(op, 0, sizeof(*op));
	op->kind = WOP_EPISODE;
	op->ep.company = company;
	op->ep.customer_id = customer;
	op->ep.states = "{\"age\":18,\"gender\":\"M\"}";
	for (int k = 0; k < 3; k++) {
		op->ep.offers[k] = offers[k];
		op->ep.propensity[k] = offers[k] ? 0.25 + 0.125 * k : 0;
	}
	op->ep.request_ts = "2022-01-01";
	op->ep.state_key = state_key;
	op->ep.policy = "epsilon-greedy";
	op->ep.agent_version = "1.0.0";
	op->ep.epsilon = 0.1;
	op->rc = 12345; /* must be overwritten */
}

static void rw_op(writer_op *op, const char *company, const char *customer, int accepted,
                  int64_t episode_id, const char *accepted_offer, const char *clicked)
{
	memset(op, 0, sizeof(*op));
	op->kind = WOP_REWARD;
	op->rin.company = company;
	op->rin.customer_id = customer;
	op->rin.episode_id = episode_id;
	op->rin.accepted = accepted;
	op->rin.accepted_offer = accepted_offer;
	op->rin.clicked = clicked;
	op->rin.request_ts = "2022-01-02";
	op->rc = 12345;
}

/* Links ops[0..n) into a list and runs it as one batch. */
static int run(fixture *f, writer_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ops[i].next = i + 1 < n ? &ops[i + 1] : NULL;
	return writer_run_batch(f->s, f->v, &f->conf, ops);
}

/* One episode in a batch of its own; returns its id. */
static int64_t add_episode(fixture *f, const char *company, const char *customer, const char *state_key)
{
	writer_op op;

	ep_op(&op, company, customer, state_key, three);
	assert_int_equal(run(f, &op, 1), 0);
	assert_int_equal(op.rc, 0);
	assert_true(op.ep.id > 0);
	return op.ep.id;
}

/* One reward in a batch of its own; returns op.rc and fills *out. */
static int reward(fixture *f, const char *company, const char *customer, int accepted,
                  int64_t episode_id, db_reward_out *out)
{
	writer_op op;

	rw_op(&op, company, customer, accepted, episode_id, NULL, NULL);
	run(f, &op, 1);
	if (out != NULL)
		*out = op.rout;
	return op.rc;
}

static vstats lookup(fixture *f, const char *state_key, const char *offer, int *level)
{
	const char *offers[1] = {offer};
	char seg[64];
	const char *us = strchr(state_key, '_');
	vstats st;

	snprintf(seg, sizeof(seg), "%.*s", us ? (int)(us - state_key) : (int)strlen(state_key),
	         state_key);
	values_lookup(f->v, "A", state_key, seg, offers, 1, &st, level);
	return st;
}

#define SK1 "Europa-M-lt30_January_0_Saturday"
#define SK2 "Asia-F-gt65_March_1_Monday"

/* --- episodes ------------------------------------------------------------------------ */

static void test_episodes_get_ids(void **state)
{
	fixture *f = *state;
	writer_op ops[3];
	const char *const two[3] = {"OFFER_2", "OFFER_3", NULL};
	sc_rows r = {0};
	char id[24];
	const char *p[1] = {id};

	ep_op(&ops[0], "A", "c1", SK1, three);
	ep_op(&ops[1], "A", "c2", SK1, two);
	ep_op(&ops[2], "B", "c1", SK2, three);
	assert_int_equal(run(f, ops, 3), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ops[i].rc, 0);
		assert_true(ops[i].ep.id > 0);
		if (i > 0)
			assert_true(ops[i].ep.id > ops[i - 1].ep.id);
	}
	assert_int_equal(count(f, "tb_episodes"), 3);
	/* The row holds the decision as given, NULL past the last offer. */
	snprintf(id, sizeof(id), "%lld", (long long)ops[1].ep.id);
	FX_OK(f, sc_query(f->s, &r,
	                  "SELECT company, customer_id, states, predicted_offer_1, predicted_offer_2,"
	                  " predicted_offer_3, request_timestamp, state_key, policy, agent_version,"
	                  " propensity_1, propensity_3 FROM tb_episodes WHERE id = CAST($1 AS BIGINT)",
	                  1, p));
	assert_int_equal(r.n, 1);
	sc_assert_str(sc_cell(&r, 0, 0), "A");
	sc_assert_str(sc_cell(&r, 0, 1), "c2");
	sc_assert_str(sc_cell(&r, 0, 2), "{\"age\":18,\"gender\":\"M\"}");
	sc_assert_str(sc_cell(&r, 0, 3), "OFFER_2");
	sc_assert_str(sc_cell(&r, 0, 4), "OFFER_3");
	sc_assert_str(sc_cell(&r, 0, 5), NULL);
	sc_assert_str(sc_cell(&r, 0, 6), "2022-01-01");
	sc_assert_str(sc_cell(&r, 0, 7), SK1);
	sc_assert_str(sc_cell(&r, 0, 8), "epsilon-greedy");
	sc_assert_str(sc_cell(&r, 0, 9), "1.0.0");
	sc_assert_near(sc_cell(&r, 0, 10), 0.25);
	sc_assert_str(sc_cell(&r, 0, 11), NULL);
	sc_rows_free(&r);
	/* A second batch continues the sequence. */
	assert_true(add_episode(f, "A", "c3", SK1) > ops[2].ep.id);
	/* Episodes alone change no statistics. */
	assert_int_equal(count(f, "tb_policy"), 0);
	assert_int_equal(values_count(f->v), 0);
}

/* --- rewards -------------------------------------------------------------------------- */

static void test_reward_latest_unrewarded(void **state)
{
	fixture *f = *state;
	db_reward_out out;
	int64_t e1, e2;
	sc_rows r = {0};

	e1 = add_episode(f, "A", "cust", SK1);
	e2 = add_episode(f, "A", "cust", SK1);
	(void)add_episode(f, "A", "other", SK1);
	/* The latest episode without a reward first... */
	assert_int_equal(reward(f, "A", "cust", 1, 0, &out), 0);
	assert_int_equal(out.episode_id, e2);
	assert_true(out.reward_id > 0);
	assert_string_equal(out.state_key, SK1);
	assert_string_equal(out.policy, "epsilon-greedy");
	assert_string_equal(out.agent_version, "1.0.0");
	assert_int_equal(out.n_offers, 3);
	assert_string_equal(out.offers[0], "OFFER_1");
	assert_string_equal(out.offers[2], "OFFER_8");
	assert_int_equal(out.learned, 1);
	assert_true(out.episode_age >= 0 && out.episode_age < 60);
	/* ...then the one before it... */
	assert_int_equal(reward(f, "A", "cust", 0, 0, &out), 0);
	assert_int_equal(out.episode_id, e1);
	/* ...then none is left: 409. */
	assert_int_equal(reward(f, "A", "cust", 1, 0, &out), ERR_CONFLICT);
	/* A customer without episodes: 404. */
	assert_int_equal(reward(f, "A", "nobody", 1, 0, &out), ERR_NOTFOUND);
	/* Another company does not see company A's customer: 404, not 409. */
	assert_int_equal(reward(f, "B", "cust", 1, 0, &out), ERR_NOTFOUND);
	assert_int_equal(reward(f, "B", "other", 1, 0, &out), ERR_NOTFOUND);
	assert_int_equal(count(f, "tb_rewards"), 2);

	/* The rows: accepted flag, per-offer rewards on the default scale. */
	FX_OK(f, sc_query(f->s, &r,
	                  "SELECT episode_id, customer_id, accepted_offer, reward_1, reward_2, reward_3,"
	                  " learned, request_timestamp, company FROM tb_rewards ORDER BY id",
	                  0, NULL));
	assert_int_equal(r.n, 2);
	assert_int_equal(db_bool(sc_cell(&r, 0, 2)), 1);
	sc_assert_near(sc_cell(&r, 0, 3), 5);
	sc_assert_near(sc_cell(&r, 0, 5), 5);
	assert_int_equal(db_bool(sc_cell(&r, 0, 6)), 1);
	sc_assert_str(sc_cell(&r, 0, 7), "2022-01-02");
	sc_assert_str(sc_cell(&r, 0, 8), "A");
	assert_int_equal(db_bool(sc_cell(&r, 1, 2)), 0);
	sc_assert_near(sc_cell(&r, 1, 3), -2);
	sc_assert_near(sc_cell(&r, 1, 4), -2);
	sc_rows_free(&r);
	/* A new episode can be rewarded again. */
	e2 = add_episode(f, "A", "cust", SK1);
	assert_int_equal(reward(f, "A", "cust", 1, 0, &out), 0);
	assert_int_equal(out.episode_id, e2);
}

static void test_reward_by_episode_id(void **state)
{
	fixture *f = *state;
	db_reward_out out;
	int64_t mine, older, theirs;

	older = add_episode(f, "A", "dana", SK1);
	mine = add_episode(f, "A", "dana", SK1);
	theirs = add_episode(f, "A", "erik", SK1);
	/* The named episode, even when it is not the latest. */
	assert_int_equal(reward(f, "A", "dana", 1, older, &out), 0);
	assert_int_equal(out.episode_id, older);
	/* Named twice: 409. */
	assert_int_equal(reward(f, "A", "dana", 1, older, &out), ERR_CONFLICT);
	/* Without a name, the remaining one. */
	assert_int_equal(reward(f, "A", "dana", 1, 0, &out), 0);
	assert_int_equal(out.episode_id, mine);
	/* The episode of another customer, or of another company: 404. */
	assert_int_equal(reward(f, "A", "nobody", 1, theirs, &out), ERR_NOTFOUND);
	assert_int_equal(reward(f, "B", "erik", 1, theirs, &out), ERR_NOTFOUND);
	assert_int_equal(count(f, "tb_rewards"), 2);
}

/*
 * Regression (was 409, fixed in a401c86): an episode_id that does not exist,
 * or belongs to another customer, for a customer who does have episodes.
 * api_rewards.c answers ERR_CONFLICT with "episode N already has a reward"
 * and ERR_NOTFOUND with "customer has no episode N": the latter is the truth.
 */
static void test_reward_unknown_episode_id(void **state)
{
	fixture *f = *state;
	db_reward_out out;
	int64_t theirs;

	(void)add_episode(f, "A", "dana", SK1);
	theirs = add_episode(f, "A", "erik", SK1);
	assert_int_equal(reward(f, "A", "dana", 1, theirs + 1000, &out), ERR_NOTFOUND);
	assert_int_equal(reward(f, "A", "dana", 1, theirs, &out), ERR_NOTFOUND);
	assert_int_equal(count(f, "tb_rewards"), 0);
}

static void test_rewards_same_customer_in_batch(void **state)
{
	fixture *f = *state;
	writer_op ops[4];
	int64_t e1, e2;

	e1 = add_episode(f, "A", "fay", SK1);
	e2 = add_episode(f, "A", "fay", SK1);
	(void)add_episode(f, "A", "gus", SK1);
	/* Three rewards for fay in one batch: the second sees the first. */
	rw_op(&ops[0], "A", "fay", 1, 0, NULL, NULL);
	rw_op(&ops[1], "A", "gus", 0, 0, NULL, NULL);
	rw_op(&ops[2], "A", "fay", 0, 0, NULL, NULL);
	rw_op(&ops[3], "A", "fay", 0, 0, NULL, NULL);
	assert_int_equal(run(f, ops, 4), 0);
	assert_int_equal(ops[0].rc, 0);
	assert_int_equal(ops[0].rout.episode_id, e2);
	assert_int_equal(ops[1].rc, 0);
	assert_int_equal(ops[2].rc, 0);
	assert_int_equal(ops[2].rout.episode_id, e1);
	assert_int_equal(ops[3].rc, ERR_CONFLICT);
	assert_int_equal(count(f, "tb_rewards"), 3);
}

/*
 * Rewards in one batch go in rounds (the writer's attach_rewards); whatever the mix of
 * customers, repeats and explicit episode ids, a batch must attribute every
 * reward exactly as the same rewards one at a time, in order.
 */
static void test_rewards_batch_equals_sequential(void **state)
{
	fixture *f = *state;
	fixture *g = NULL;
	enum { NCUST = 30, NREW = 150 };
	char names[NCUST + 1][16];
	int64_t ids[NCUST][4];
	writer_op ops[NREW];
	writer_op one;
	unsigned seed = 7;

	assert_int_equal(f->schema != NULL ? fx_setup_pg((void **)&g) : fx_setup((void **)&g), 0);
	for (int c = 0; c < NCUST; c++) {
		snprintf(names[c], sizeof(names[c]), "cust%d", c);
		for (int k = 0; k < 1 + c % 4; k++) {
			ids[c][k] = add_episode(f, "A", names[c], SK1);
			/* Same inserts in the same order: the same ids. */
			assert_int_equal(add_episode(g, "A", names[c], SK1), ids[c][k]);
		}
	}
	util_strlcpy(names[NCUST], "nobody", sizeof(names[NCUST]));
	for (int i = 0; i < NREW; i++) {
		int c;
		int64_t epid = 0;

		seed = seed * 1103515245u + 12345u;
		c = (int)((seed >> 8) % (NCUST + 1));
		if (c < NCUST && (seed >> 20) % 5 == 0)
			epid = ids[c][(seed >> 24) % (unsigned)(1 + c % 4)];
		rw_op(&ops[i], "A", names[c], (int)((seed >> 16) & 1), epid, NULL, NULL);
	}
	assert_int_equal(run(f, ops, NREW), 0);
	for (int i = 0; i < NREW; i++) {
		one = ops[i];
		one.next = NULL;
		run(g, &one, 1);
		assert_int_equal(ops[i].rc, one.rc);
		if (one.rc == 0)
			assert_int_equal(ops[i].rout.episode_id, one.rout.episode_id);
	}
	assert_int_equal(count(f, "tb_rewards"), count(g, "tb_rewards"));
	assert_true(count(f, "tb_rewards") > 20);
	fx_teardown((void **)&g);
}

static void test_reward_exact_offer_and_clicks(void **state)
{
	fixture *f = *state;
	writer_op op;
	sc_rows r = {0};

	(void)add_episode(f, "A", "hal", SK1);
	rw_op(&op, "A", "hal", 1, 0, "OFFER_4", "OFFER_8");
	assert_int_equal(run(f, &op, 1), 0);
	assert_int_equal(op.rc, 0);
	FX_OK(f, sc_query(f->s, &r,
	                  "SELECT accepted_offer_id, clicked_offers, reward_1, reward_2, reward_3"
	                  " FROM tb_rewards",
	                  0, NULL));
	assert_int_equal(r.n, 1);
	sc_assert_str(sc_cell(&r, 0, 0), "OFFER_4");
	sc_assert_str(sc_cell(&r, 0, 1), "OFFER_8");
	sc_assert_near(sc_cell(&r, 0, 2), -2); /* OFFER_1 ignored */
	sc_assert_near(sc_cell(&r, 0, 3), 5);  /* OFFER_4 accepted */
	sc_assert_near(sc_cell(&r, 0, 4), 1);  /* OFFER_8 clicked */
	sc_rows_free(&r);
	/* Successes only for the accepted offer. */
	FX_OK(f, sc_query(f->s, &r,
	                  "SELECT offer, n, reward_sum, successes, failures FROM tb_policy"
	                  " ORDER BY offer",
	                  0, NULL));
	assert_int_equal(r.n, 3);
	sc_assert_str(sc_cell(&r, 1, 0), "OFFER_4");
	sc_assert_near(sc_cell(&r, 1, 3), 1);
	sc_assert_near(sc_cell(&r, 2, 3), 0);
	sc_assert_near(sc_cell(&r, 2, 4), 1);
	sc_assert_near(sc_cell(&r, 2, 2), 1);
	sc_rows_free(&r);
}

/*
 * Credit for an offer the episode did not show is refused (ERR_INVAL, 422):
 * nothing is stored or learned, the episode stays open for a proper reward,
 * and batch neighbours are unaffected.
 */
static void test_reward_offer_not_shown(void **state)
{
	fixture *f = *state;
	writer_op ops[4];
	int64_t e1, e2;

	e1 = add_episode(f, "A", "ivy", SK1); /* shows OFFER_1, OFFER_4, OFFER_8 */
	e2 = add_episode(f, "A", "jon", SK1);
	rw_op(&ops[0], "A", "ivy", 1, 0, "OFFER_2", NULL);         /* accepted, not shown */
	rw_op(&ops[1], "A", "jon", 0, 0, NULL, "OFFER_4,OFFER_9"); /* one click not shown */
	rw_op(&ops[2], "A", "nobody", 1, 0, NULL, NULL);
	ep_op(&ops[3], "A", "kim", SK1, three);
	assert_int_equal(run(f, ops, 4), 0);
	assert_int_equal(ops[0].rc, ERR_INVAL);
	assert_int_equal(ops[1].rc, ERR_INVAL);
	assert_int_equal(ops[2].rc, ERR_NOTFOUND);
	assert_int_equal(ops[3].rc, 0);
	assert_int_equal(count(f, "tb_rewards"), 0);
	assert_int_equal(count(f, "tb_policy"), 0);
	assert_int_equal(values_count(f->v), 0);
	/* Both episodes can still be rewarded properly, the named way too. */
	rw_op(&ops[0], "A", "ivy", 1, 0, "OFFER_8", "OFFER_1");
	rw_op(&ops[1], "A", "jon", 0, e2, NULL, "OFFER_4,OFFER_8");
	assert_int_equal(run(f, ops, 2), 0);
	assert_int_equal(ops[0].rc, 0);
	assert_int_equal(ops[0].rout.episode_id, e1);
	assert_int_equal(ops[1].rc, 0);
	assert_int_equal(ops[1].rout.episode_id, e2);
	assert_int_equal(count(f, "tb_rewards"), 2);
	/* The refused attempt left no trace: the episode now has exactly one reward. */
	(void)add_episode(f, "A", "ivy", SK1);
	assert_int_equal(reward(f, "A", "ivy", 1, e1, NULL), ERR_CONFLICT);
}

/* --- statistics ------------------------------------------------------------------------ */

static void test_policy_deltas_summed(void **state)
{
	fixture *f = *state;
	writer_op ops[3];
	sc_rows r = {0};
	vstats st;
	int level;
	int64_t rev0;

	(void)add_episode(f, "A", "p1", SK1);
	(void)add_episode(f, "A", "p2", SK1);
	(void)add_episode(f, "A", "p3", SK1);
	(void)add_episode(f, "A", "p4", SK2);
	rev0 = max_rev(f);
	/* Two rewards on the same state and offers in one batch. */
	rw_op(&ops[0], "A", "p1", 1, 0, NULL, NULL);
	rw_op(&ops[1], "A", "p2", 0, 0, NULL, NULL);
	assert_int_equal(run(f, ops, 2), 0);
	assert_int_equal(ops[0].rc, 0);
	assert_int_equal(ops[1].rc, 0);
	/* One upsert per (state, offer), not per reward: three revisions. */
	assert_int_equal(max_rev(f) - rev0, 3);
	FX_OK(f, sc_query(f->s, &r,
	                  "SELECT company, state_key, offer, n, reward_sum, successes, failures"
	                  " FROM tb_policy ORDER BY offer",
	                  0, NULL));
	assert_int_equal(r.n, 3);
	for (size_t i = 0; i < 3; i++) {
		sc_assert_str(sc_cell(&r, i, 0), "A");
		sc_assert_str(sc_cell(&r, i, 1), SK1);
		sc_assert_str(sc_cell(&r, i, 2), three[i]);
		sc_assert_near(sc_cell(&r, i, 3), 2);
		sc_assert_near(sc_cell(&r, i, 4), 3); /* 5 + (-2) */
		sc_assert_near(sc_cell(&r, i, 5), 1);
		sc_assert_near(sc_cell(&r, i, 6), 1);
	}
	sc_rows_free(&r);
	/* Memory holds the committed absolute values. */
	st = lookup(f, SK1, "OFFER_4", &level);
	assert_int_equal(level, VALUES_STATE);
	assert_true(st.n == 2 && st.sum == 3 && st.succ == 1 && st.fail == 1);
	assert_int_equal(values_count(f->v), 3);

	/* The next batch adds to the rows; memory gets the new totals, not a second sum. */
	rw_op(&ops[0], "A", "p3", 1, 0, NULL, NULL);
	rw_op(&ops[1], "A", "p4", 0, 0, NULL, NULL);
	rw_op(&ops[2], "A", "nobody", 1, 0, NULL, NULL);
	assert_int_equal(run(f, ops, 3), 0);
	assert_int_equal(ops[2].rc, ERR_NOTFOUND);
	st = lookup(f, SK1, "OFFER_4", &level);
	assert_true(st.n == 3 && st.sum == 8 && st.succ == 2 && st.fail == 1);
	st = lookup(f, SK2, "OFFER_4", &level);
	assert_int_equal(level, VALUES_STATE);
	assert_true(st.n == 1 && st.sum == -2);
	/* The company-wide aggregate covers both states. */
	st = lookup(f, "Q9_May_0_Monday", "OFFER_4", &level);
	assert_int_equal(level, VALUES_GLOBAL);
	assert_true(st.n == 4 && st.sum == 6);
	assert_int_equal(count(f, "tb_policy"), 6);
}

/* Collects reloaded rows into a values object. */
static int reload_row(void *arg, const db_policy_row *row)
{
	values_set(arg, row);
	return 0;
}

static void test_reload_revision_guard(void **state)
{
	fixture *f = *state;
	values *fresh = values_new();
	int64_t top = 0;
	vstats a, b;
	int la, lb;
	db_policy_row stale;

	(void)add_episode(f, "A", "q1", SK1);
	(void)add_episode(f, "A", "q2", SK1);
	assert_int_equal(reward(f, "A", "q1", 1, 0, NULL), 0);
	assert_int_equal(reward(f, "A", "q2", 0, 0, NULL), 0);
	/* The periodic reload sees rows the writer already applied: no change. */
	FX_OK(f, db_policy_since(f->s, 0, reload_row, f->v, &top));
	assert_int_equal(top, max_rev(f));
	a = lookup(f, SK1, "OFFER_1", &la);
	assert_true(a.n == 2 && a.sum == 3);
	/* Again, from an older point: still no double counting anywhere. */
	FX_OK(f, db_policy_since(f->s, 1, reload_row, f->v, &top));
	a = lookup(f, "Europa-M-lt30_June_0_Monday", "OFFER_1", &la);
	assert_int_equal(la, VALUES_SEGMENT);
	assert_true(a.n == 2 && a.sum == 3);
	/* A process that loads everything from scratch agrees with the writer's memory. */
	{
		values *keep = f->v;

		FX_OK(f, db_policy_since(f->s, 0, reload_row, fresh, &top));
		f->v = fresh;
		b = lookup(f, SK1, "OFFER_8", &lb);
		f->v = keep;
		a = lookup(f, SK1, "OFFER_8", &la);
		assert_int_equal(la, lb);
		assert_true(a.n == b.n && a.sum == b.sum && a.succ == b.succ && a.fail == b.fail);
	}
	/* A stale row (an older revision arriving late) is ignored. */
	memset(&stale, 0, sizeof(stale));
	stale.company = "A";
	stale.state_key = SK1;
	stale.offer = "OFFER_1";
	stale.n = 999;
	stale.alpha = 1;
	stale.beta = 1;
	stale.rev = 1;
	values_set(f->v, &stale);
	a = lookup(f, SK1, "OFFER_1", &la);
	assert_true(a.n == 2);
	/* Nothing newer than the top. */
	FX_OK(f, db_policy_since(f->s, top, reload_row, f->v, &top));
	assert_int_equal(top, max_rev(f));
	values_free(fresh);
}

/*
 * Erasure (issue 16.3): the writer's own memory and another process's
 * reload (by revision, from before the erasure) both follow the decrement,
 * and agree with a process that loads the table afresh.
 */
static void test_erase_memory_follows(void **state)
{
	fixture *f = *state;
	values *other = values_new();
	values *fresh = values_new();
	values *keep = f->v;
	int64_t top = 0;
	int64_t before = 0;
	writer_op op;
	vstats a, b, c;
	int la, lb, lc;

	(void)add_episode(f, "A", "q1", SK1);
	(void)add_episode(f, "A", "q2", SK1);
	assert_int_equal(reward(f, "A", "q1", 1, 0, NULL), 0);
	assert_int_equal(reward(f, "A", "q2", 0, 0, NULL), 0);
	FX_OK(f, db_policy_since(f->s, 0, reload_row, other, &before));
	a = lookup(f, SK1, "OFFER_1", &la);
	assert_true(a.n == 2);

	memset(&op, 0, sizeof(op));
	op.kind = WOP_ERASE;
	op.rin.company = "A";
	op.rin.customer_id = "q1";
	op.erasure.by = "test";
	op.rc = 12345;
	assert_int_equal(run(f, &op, 1), 0);
	assert_int_equal(op.rc, 0);
	assert_true(op.erasure.episodes == 1 && op.erasure.rewards == 1 && op.erasure.learned == 1);
	assert_int_equal(sc_int(f->s, "SELECT COUNT(*) FROM tb_episodes WHERE customer_id = 'q1'", 0,
	                        NULL),
	                 0);
	assert_int_equal(sc_int(f->s, "SELECT COUNT(*) FROM tb_erasures WHERE by_whom = 'test'", 0,
	                        NULL),
	                 1);

	/* The writer's memory: only q2's rejection is left. */
	a = lookup(f, SK1, "OFFER_1", &la);
	assert_int_equal(la, VALUES_STATE);
	assert_true(a.n == 1 && a.succ == 0 && a.fail == 1);
	/* Another process's refresher: the rows changed since it last looked. */
	FX_OK(f, db_policy_since(f->s, before, reload_row, other, &top));
	assert_true(top > before);
	FX_OK(f, db_policy_since(f->s, 0, reload_row, fresh, &top));
	f->v = other;
	b = lookup(f, SK1, "OFFER_1", &lb);
	f->v = fresh;
	c = lookup(f, SK1, "OFFER_1", &lc);
	f->v = keep;
	assert_int_equal(la, lb);
	assert_int_equal(la, lc);
	assert_true(a.n == b.n && a.sum == b.sum && a.succ == b.succ && a.fail == b.fail);
	assert_true(a.n == c.n && a.sum == c.sum && a.succ == c.succ && a.fail == c.fail);

	/* Once erased, the customer is unknown. */
	op.rc = 12345;
	run(f, &op, 1);
	assert_int_equal(op.rc, ERR_NOTFOUND);
	values_free(other);
	values_free(fresh);
}

static void test_priors_reach_memory(void **state)
{
	fixture *f = *state;
	db_policy_row prior;
	vstats st;
	int level;

	memset(&prior, 0, sizeof(prior));
	prior.company = "A";
	prior.state_key = SK1;
	prior.offer = "OFFER_1";
	prior.prior_value = 1;
	prior.prior_weight = 4;
	prior.alpha = 2;
	prior.beta = 3;
	FX_OK(f, db_policy_set_priors(f->s, &prior, 1));
	(void)add_episode(f, "A", "r1", SK1);
	assert_int_equal(reward(f, "A", "r1", 1, 0, NULL), 0);
	/* The upsert returns the whole row: prior and observations together. */
	st = lookup(f, SK1, "OFFER_1", &level);
	assert_int_equal(level, VALUES_STATE);
	assert_true(st.n == 1 && st.sum == 5);
	assert_true(st.pw == 4 && st.pvw == 4);
	/* Beta(2 + 1 success, 3 + 0 failures) as the policies read it. */
	assert_true(1 + st.pa + st.succ == 3);
	assert_true(1 + st.pb + st.fail == 3);
	assert_true(fabs(values_mean(&st, 0) - (4.0 + 5.0) / 5.0) < 1e-12);
}

static void test_reward_wait_logs_without_learning(void **state)
{
	fixture *f = *state;
	db_reward_out out;
	int64_t rev0;
	sc_rows r = {0};

	(void)add_episode(f, "A", "late", SK1);
	rev0 = max_rev(f);
	usleep(50 * 1000);
	f->conf.reward_wait = 0.001;
	assert_int_equal(reward(f, "A", "late", 1, 0, &out), 0);
	assert_int_equal(out.learned, 0);
	assert_true(out.episode_age > 0.001);
	/* Logged... */
	FX_OK(f, sc_query(f->s, &r, "SELECT learned FROM tb_rewards", 0, NULL));
	assert_int_equal(r.n, 1);
	assert_int_equal(db_bool(sc_cell(&r, 0, 0)), 0);
	sc_rows_free(&r);
	/* ...not learned. */
	assert_int_equal(max_rev(f), rev0);
	assert_int_equal(count(f, "tb_policy"), 0);
	assert_int_equal(values_count(f->v), 0);
	/* Without a limit it is learned. */
	f->conf.reward_wait = 0;
	(void)add_episode(f, "A", "late", SK1);
	assert_int_equal(reward(f, "A", "late", 1, 0, &out), 0);
	assert_int_equal(out.learned, 1);
	assert_int_equal(count(f, "tb_policy"), 3);
}

/*
 * A reward is scored with the configuration of the version that made its
 * episode: after 2.0.0 (accept worth 10) is released, a reward for an
 * episode of 1.0.0 (accept worth 5) still learns 5 per offer; one for an
 * episode of 2.0.0 learns 10.
 */
static void test_reward_scored_by_episode_version(void **state)
{
	fixture *f = *state;
	db_agent a;
	char err[128];
	writer_op op;
	vstats st;
	int level;

	(void)add_episode(f, "A", "old", SK1);
	FX_OK(f, db_agent_release(f->s, "2.0.0", "epsilon-greedy", 0.1, "{\"reward_accept\": 10}"));
	FX_OK(f, db_agent_latest(f->s, &a));
	assert_int_equal(agent_conf_from_db(&a, &f->conf, err, sizeof(err)), 0);
	db_agent_clear(&a);
	assert_true(f->conf.r_accept == 10);
	/* Learned at 1.0.0's +5, not 2.0.0's +10. */
	assert_int_equal(reward(f, "A", "old", 1, 0, NULL), 0);
	st = lookup(f, SK1, "OFFER_1", &level);
	assert_int_equal(level, VALUES_STATE);
	assert_true(st.n == 1 && st.sum == 5);
	/* An episode of 2.0.0 is scored with 2.0.0's configuration. */
	ep_op(&op, "A", "new", SK2, three);
	op.ep.agent_version = "2.0.0";
	assert_int_equal(run(f, &op, 1), 0);
	assert_int_equal(reward(f, "A", "new", 1, 0, NULL), 0);
	st = lookup(f, SK2, "OFFER_1", &level);
	assert_true(st.n == 1 && st.sum == 10);
	/* And 1.0.0 again, now from the cache of the thread-less path. */
	(void)add_episode(f, "A", "old2", SK1);
	assert_int_equal(reward(f, "A", "old2", 1, 0, NULL), 0);
	st = lookup(f, SK1, "OFFER_1", &level);
	assert_true(st.n == 2 && st.sum == 10);
}

/* --- failure isolation ------------------------------------------------------------------- */

static void test_poisoned_op_isolated(void **state)
{
	fixture *f = *state;
	writer_op ops[5];
	int64_t eps0, rw0;
	vstats st;
	int level;

	(void)add_episode(f, "A", "s1", SK1);
	eps0 = count(f, "tb_episodes");
	rw0 = count(f, "tb_rewards");
	ep_op(&ops[0], "A", "ok1", SK1, three);
	ep_op(&ops[1], "A", "poison", SK1, three);
	ops[1].ep.states = NULL; /* violates NOT NULL: fails the whole transaction */
	rw_op(&ops[2], "A", "s1", 1, 0, NULL, NULL);
	ep_op(&ops[3], "A", "ok2", SK1, three);
	rw_op(&ops[4], "A", "nobody", 1, 0, NULL, NULL);
	/* The batch as a whole failed... */
	assert_true(run(f, ops, 5) != 0);
	/* ...but retried one by one, only the poisoned operation fails. */
	assert_int_equal(ops[0].rc, 0);
	assert_true(ops[1].rc < 0);
	assert_true(ops[1].rc != ERR_NOTFOUND && ops[1].rc != ERR_CONFLICT);
	assert_int_equal(ops[2].rc, 0);
	assert_int_equal(ops[3].rc, 0);
	assert_int_equal(ops[4].rc, ERR_NOTFOUND);
	assert_true(ops[0].ep.id > 0 && ops[3].ep.id > ops[0].ep.id);
	assert_int_equal(count(f, "tb_episodes"), eps0 + 2);
	assert_int_equal(count(f, "tb_rewards"), rw0 + 1);
	/* The neighbours' learning happened exactly once. */
	st = lookup(f, SK1, "OFFER_1", &level);
	assert_true(st.n == 1 && st.sum == 5);
	/* The list is intact after the retry. */
	assert_ptr_equal(ops[0].next, &ops[1]);
	assert_ptr_equal(ops[3].next, &ops[4]);
	assert_null(ops[4].next);
	/* The store is usable afterwards (no transaction left open). */
	(void)add_episode(f, "A", "after", SK1);
}

static void test_not_found_does_not_fail_batch(void **state)
{
	fixture *f = *state;
	writer_op ops[3];

	ep_op(&ops[0], "A", "t1", SK1, three);
	rw_op(&ops[1], "A", "nobody", 1, 0, NULL, NULL);
	ep_op(&ops[2], "A", "t2", SK1, three);
	/* A 404 is an answer, not a failure: one transaction, no retry. */
	assert_int_equal(run(f, ops, 3), 0);
	assert_int_equal(ops[0].rc, 0);
	assert_int_equal(ops[1].rc, ERR_NOTFOUND);
	assert_int_equal(ops[2].rc, 0);
	assert_int_equal(ops[2].ep.id, ops[0].ep.id + 1);
}

/* --- the writer thread --------------------------------------------------------------------- */

typedef struct done_log {
	pthread_mutex_t lock;
	int calls;
	int failures;
} done_log;

static void on_done(writer_op *op)
{
	done_log *d = op->arg;

	pthread_mutex_lock(&d->lock);
	d->calls++;
	if (op->rc != 0 && op->rc != ERR_NOTFOUND)
		d->failures++;
	pthread_mutex_unlock(&d->lock);
}

static void conf_default(void *arg, agent_conf *out)
{
	(void)arg;
	agent_conf_default(out);
}

static void test_writer_thread(void **state)
{
	fixture *f = *state;
	store *ws = NULL;
	writer *w = NULL;
	writer_op ops[60];
	writer_op extra;
	writer_stats stats;
	done_log d = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
	char names[50][16];

	FX_OK(f, store_open(f->url, &ws));
	assert_int_equal(writer_start(&ws, 1, f->v, conf_default, NULL, 1000, 16, &w), 0);
	for (int i = 0; i < 50; i++) {
		snprintf(names[i], sizeof(names[i]), "w%d", i);
		ep_op(&ops[i], "A", names[i], SK1, three);
		ops[i].done = on_done;
		ops[i].arg = &d;
		assert_int_equal(writer_submit(w, &ops[i]), 0);
	}
	/* Rewards queued behind their episodes, and one for nobody. */
	for (int i = 50; i < 60; i++) {
		rw_op(&ops[i], "A", i < 59 ? names[i - 50] : "nobody", 1, 0, NULL, NULL);
		ops[i].done = on_done;
		ops[i].arg = &d;
		assert_int_equal(writer_submit(w, &ops[i]), 0);
	}
	/* Stop commits everything queued first. */
	writer_stop(w);
	assert_int_equal(d.calls, 60);
	assert_int_equal(d.failures, 0);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(ops[i].rc, 0);
		assert_true(ops[i].ep.id > 0);
	}
	assert_int_equal(ops[59].rc, ERR_NOTFOUND);
	writer_get_stats(w, &stats);
	assert_int_equal(stats.ops, 60);
	assert_int_equal(stats.episodes, 50);
	assert_int_equal(stats.rewards, 9);
	assert_int_equal(stats.failures, 0);
	assert_int_equal(stats.queued, 0);
	assert_true(stats.batches >= 60 / 16);
	assert_true(stats.last_batch <= 16);
	assert_int_equal(count(f, "tb_episodes"), 50);
	assert_int_equal(count(f, "tb_rewards"), 9);
	/* Stopped: refused, and done is not called. */
	ep_op(&extra, "A", "late", SK1, three);
	extra.done = on_done;
	extra.arg = &d;
	assert_int_equal(writer_submit(w, &extra), ERR_UNAVAIL);
	writer_stop(w); /* twice is harmless */
	writer_free(w);
	assert_int_equal(d.calls, 60);
	/* The learning reached memory through the thread too. */
	{
		int level;
		vstats st = lookup(f, SK1, "OFFER_1", &level);

		assert_int_equal(level, VALUES_STATE);
		assert_true(st.n == 9 && st.sum == 45);
	}
}

static void conf_from(void *arg, agent_conf *out)
{
	*out = *(const agent_conf *)arg;
}

typedef struct waiter {
	pthread_mutex_t lock;
	int done;
} waiter;

static void on_done_flag(writer_op *op)
{
	waiter *wt = op->arg;

	pthread_mutex_lock(&wt->lock);
	wt->done = 1;
	pthread_mutex_unlock(&wt->lock);
}

/* Submits one operation to w and waits until the thread is done with it. */
static int submit_wait(writer *w, writer_op *op)
{
	waiter wt = {PTHREAD_MUTEX_INITIALIZER, 0};
	int done = 0;

	op->done = on_done_flag;
	op->arg = &wt;
	assert_int_equal(writer_submit(w, op), 0);
	while (!done) {
		usleep(1000);
		pthread_mutex_lock(&wt.lock);
		done = wt.done;
		pthread_mutex_unlock(&wt.lock);
	}
	return op->rc;
}

/*
 * The writer thread keeps older versions' configurations, and forgets them
 * when the current configuration changes: a version released again with
 * other rewards is read anew.
 */
static void test_writer_thread_version_cache(void **state)
{
	fixture *f = *state;
	store *ws = NULL;
	writer *w = NULL;
	agent_conf current = f->conf; /* 1.0.0 */
	writer_op op;
	vstats st;
	int level;

	FX_OK(f, db_agent_release(f->s, "2.0.0", "epsilon-greedy", 0.1, "{\"reward_accept\": 10}"));
	FX_OK(f, store_open(f->url, &ws));
	assert_int_equal(writer_start(&ws, 1, f->v, conf_from, &current, 100, 16, &w), 0);
	for (int round = 0; round < 3; round++) {
		char name[16];

		snprintf(name, sizeof(name), "v%d", round);
		ep_op(&op, "A", name, round == 2 ? SK2 : SK1, three);
		op.ep.agent_version = "2.0.0";
		assert_int_equal(submit_wait(w, &op), 0);
		rw_op(&op, "A", name, 1, 0, NULL, NULL);
		assert_int_equal(submit_wait(w, &op), 0);
		if (round == 0) {
			/* 2.0.0 again with +20: the cache still has +10 ... */
			FX_OK(f, db_agent_release(f->s, "2.0.0", "epsilon-greedy", 0.1,
			                          "{\"reward_accept\": 20}"));
		} else if (round == 1) {
			/* ... until the current configuration changes. */
			current.epsilon = 0.2;
		}
	}
	writer_stop(w);
	writer_free(w);
	st = lookup(f, SK1, "OFFER_1", &level);
	assert_true(st.n == 2 && st.sum == 20);
	st = lookup(f, SK2, "OFFER_1", &level);
	assert_true(st.n == 1 && st.sum == 20);
}

static void test_writer_limits(void **state)
{
	fixture *f = *state;
	store *ws = NULL;
	writer *w = NULL;
	writer_op op;

	/* No store, too many stores: refused. */
	assert_int_equal(writer_start(&ws, 0, f->v, conf_default, NULL, 10, 1, &w), ERR_INVAL);
	/* A full queue refuses at once (queue_max 0: always full). */
	FX_OK(f, store_open(f->url, &ws));
	assert_int_equal(writer_start(&ws, 1, f->v, conf_default, NULL, 0, 1, &w), 0);
	ep_op(&op, "A", "x", SK1, three);
	assert_int_equal(writer_submit(w, &op), ERR_UNAVAIL);
	writer_stop(w);
	writer_free(w);
	writer_free(NULL);
	writer_stop(NULL);
	assert_int_equal(count(f, "tb_episodes"), 0);
}

int main(void)
{
#define WRITER_TESTS(setup)                                                                             \
	cmocka_unit_test_setup_teardown(test_episodes_get_ids, setup, fx_teardown),                     \
	    cmocka_unit_test_setup_teardown(test_reward_latest_unrewarded, setup, fx_teardown),         \
	    cmocka_unit_test_setup_teardown(test_reward_by_episode_id, setup, fx_teardown),             \
	    cmocka_unit_test_setup_teardown(test_reward_unknown_episode_id, setup, fx_teardown),        \
	    cmocka_unit_test_setup_teardown(test_rewards_same_customer_in_batch, setup, fx_teardown),   \
	    cmocka_unit_test_setup_teardown(test_rewards_batch_equals_sequential, setup, fx_teardown),  \
	    cmocka_unit_test_setup_teardown(test_reward_exact_offer_and_clicks, setup, fx_teardown),    \
	    cmocka_unit_test_setup_teardown(test_reward_offer_not_shown, setup, fx_teardown),           \
	    cmocka_unit_test_setup_teardown(test_policy_deltas_summed, setup, fx_teardown),             \
	    cmocka_unit_test_setup_teardown(test_reload_revision_guard, setup, fx_teardown),            \
	    cmocka_unit_test_setup_teardown(test_priors_reach_memory, setup, fx_teardown),              \
	    cmocka_unit_test_setup_teardown(test_erase_memory_follows, setup, fx_teardown),             \
	    cmocka_unit_test_setup_teardown(test_reward_wait_logs_without_learning, setup,              \
	                                    fx_teardown),                                               \
	    cmocka_unit_test_setup_teardown(test_reward_scored_by_episode_version, setup, fx_teardown), \
	    cmocka_unit_test_setup_teardown(test_poisoned_op_isolated, setup, fx_teardown),             \
	    cmocka_unit_test_setup_teardown(test_not_found_does_not_fail_batch, setup, fx_teardown),    \
	    cmocka_unit_test_setup_teardown(test_writer_thread, setup, fx_teardown),                    \
	    cmocka_unit_test_setup_teardown(test_writer_thread_version_cache, setup, fx_teardown),      \
	    cmocka_unit_test_setup_teardown(test_writer_limits, setup, fx_teardown)

	const struct CMUnitTest writer_tests[] = {WRITER_TESTS(fx_setup)};
	const struct CMUnitTest writer_tests_pg[] = {WRITER_TESTS(fx_setup_pg)};
	return fx_run_both("test_writer", "writer", writer_tests, writer_tests_pg,
	                   UTIL_ARRAY_LEN(writer_tests));
}
