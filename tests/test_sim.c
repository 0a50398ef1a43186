/*
 * test_sim.c — the simulator and the exploration knobs of agent versions.
 *
 * The world is what docs/simulation.md says (48 states, dates in the right
 * half and weekday, strong offers, drift to new strong offers) and is the
 * same for the same seed; the real agent learns in it through the real
 * writer, and the memory-only mode gives exactly the same run; learning
 * policies beat random and the oracle has no regret; after a drift,
 * shrinkage and forgetting (issue 13 point 4) cut the tabular policies'
 * second-half regret by more than 30 % against the old statistics. Late rewards (item 4
 * of issue 8): with reward_wait_seconds set, a reward for an episode older
 * than the wait is stored with learned = 0 and changes no TB_POLICY row and
 * no in-memory value, while a prompt one is learned.
 *
 * The contextual world (issue 13): deterministic, the same customers for
 * every policy, requests that carry every attribute acceptance depends on,
 * the agent's state index one to one with its state key, a drift that moves
 * the probabilities; squarecb learns it better than thompson and random.
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

#include "agent.h"
#include "policy.h"
#include "db.h"
#include "sim.h"
#include "store.h"
#include "util.h"
#include "values.h"
#include "writer.h"

static store *open_memory(void)
{
	store *s = NULL;

	assert_int_equal(store_open("sqlite::memory:", &s), 0);
	assert_int_equal(db_migrate(s), 0);
	return s;
}

static int int_row(void *arg, int ncols, const char *const *vals)
{
	int64_t *out = arg;

	if (ncols > 0 && vals[0] != NULL)
		util_strtonum(vals[0], INT64_MIN, INT64_MAX, out);
	return 0;
}

static int64_t query_int(store *s, const char *sql)
{
	int64_t v = -1;

	assert_int_equal(store_exec(s, sql, 0, NULL, int_row, &v), 0);
	return v;
}

/* --- the world ------------------------------------------------------------- */

static void test_world(void **unused)
{
	sim_world *w = xmalloc(sizeof(*w));
	sim_world *w2 = xmalloc(sizeof(*w2));
	double strong = 0;
	double weak = 0;
	size_t nstrong = 0;
	size_t nweak = 0;

	(void)unused;
	assert_int_equal(SIM_STATES, 48);
	assert_int_equal(sim_world_init(w, 42, 500), 0);
	assert_int_equal(sim_world_init(w2, 42, 500), 0);
	assert_memory_equal(w, w2, sizeof(*w));
	for (size_t m = 0; m < SIM_MONTHS; m++) {
		for (size_t h = 0; h < SIM_HALVES; h++) {
			for (size_t d = 0; d < SIM_WEEKDAYS; d++) {
				date_ymd rd;

				assert_int_equal(date_parse(w->dates[m][h][d], &rd), 0);
				assert_int_equal(rd.month, (int)m + 1);
				assert_int_equal(rd.day > 15, (int)h);
				assert_int_equal(rd.weekday, d == 0 ? 3 : 6);
			}
		}
	}
	for (size_t g = 0; g < SIM_SEGMENTS; g++) {
		/* Drift: the new strong offers are among the old ordinary ones. */
		for (size_t i = 0; i < SIM_STRONG; i++) {
			for (size_t k = 0; k < SIM_STRONG; k++)
				assert_int_not_equal(w->strong[1][g][i], w->strong[0][g][k]);
		}
	}
	for (size_t s = 0; s < SIM_STATES; s++) {
		size_t g = s / (SIM_STATES / SIM_SEGMENTS);

		for (size_t j = 0; j < SIM_OFFERS; j++) {
			double p = w->p[0][s][j];
			int is = (int)j == w->strong[0][g][0] || (int)j == w->strong[0][g][1];

			assert_true(p > 0 && p < 1);
			if (is) {
				strong += p;
				nstrong++;
			} else {
				weak += p;
				nweak++;
			}
		}
	}
	/* Beta(4, 8) has mean 1/3, Beta(1, 15) 1/16. */
	assert_true(fabs(strong / (double)nstrong - 1.0 / 3.0) < 0.06);
	assert_true(fabs(weak / (double)nweak - 1.0 / 16.0) < 0.02);
	assert_ptr_equal(sim_probs(w, 499, 3), w->p[0][3]);
	assert_ptr_equal(sim_probs(w, 500, 3), w->p[1][3]);
	assert_int_equal(sim_offer_index("OFFER_10"), 9);
	assert_int_equal(sim_offer_index("OFFER_11"), -1);
	free(w);
	free(w2);
}

static void test_context_and_request(void **unused)
{
	sim_world *w = xmalloc(sizeof(*w));
	size_t seg_count[SIM_SEGMENTS] = {0};
	agent_conf conf;
	values *v = values_new();
	rng r;

	(void)unused;
	assert_int_equal(sim_world_init(w, 7, 0), 0);
	agent_conf_default(&conf);
	conf.policy = POLICY_RANDOM;
	rng_seed(&r, 1);
	for (uint64_t t = 0; t < 4000; t++) {
		sim_context c;
		sim_context c2;
		predict_req req;
		agent_decision d;
		char expect[64];

		sim_context_at(w, t, &c);
		sim_context_at(w, t, &c2);
		assert_memory_equal(&c, &c2, sizeof(c));
		seg_count[c.segment]++;
		assert_int_equal(sim_request(&c, &req), 0);
		assert_int_equal(req.n_allowed, SIM_OFFERS);
		assert_int_equal(agent_decide(&conf, v, &r, "T", &req, NULL, &d), 0);
		/* The agent's state is the simulator's: segment, month, half, weekday. */
		snprintf(expect, sizeof(expect), "%s_",
		         c.segment == 0   ? "Europa-M-lt30"
		         : c.segment == 1 ? "Americas-F-30to65"
		         : c.segment == 2 ? "Asia-M-gt65"
		                          : "Europa-F-30to65");
		assert_true(strncmp(d.state_key, expect, strlen(expect)) == 0);
		assert_true(strstr(d.state_key, req.date.weekday == 3 ? "_Wednesday" : "_Saturday") !=
		            NULL);
		request_predict_free(&req);
	}
	/* Shares 40/30/20/10 %. */
	assert_true(seg_count[0] > 1450 && seg_count[0] < 1750);
	assert_true(seg_count[3] > 300 && seg_count[3] < 500);
	values_free(v);
	free(w);
}

static void test_respond(void **unused)
{
	sim_world *w = xmalloc(sizeof(*w));
	sim_context c;
	sim_outcome o;
	size_t best[OFFERS_SHOWN];
	size_t slate[OFFERS_SHOWN] = {0, 1, 2};
	double hits = 0;
	double expect = 0;
	const int n = 20000;

	(void)unused;
	assert_int_equal(sim_world_init(w, 3, 0), 0);
	/* The cascade's acceptance rate is 1 - prod(1 - p). */
	for (int t = 0; t < n; t++) {
		sim_context_at(w, (uint64_t)t, &c);
		sim_respond(w, &c, slate, 3, &o);
		hits += o.accepted;
		expect += sim_expected(w, (uint64_t)t, c.state, slate, 3);
		if (o.accepted)
			assert_true(o.slot >= 0 && o.slot < 3 && !(o.clicked & (1u << o.slot)));
		else
			assert_int_equal(o.slot, -1);
	}
	assert_true(fabs(hits - expect) < 4 * sqrt(expect));
	/* The oracle's slate is the top three by p. */
	sim_oracle_slate(w, 0, 5, best);
	for (size_t j = 0; j < SIM_OFFERS; j++) {
		if (j != best[0] && j != best[1] && j != best[2])
			assert_true(w->p[0][5][j] <= w->p[0][5][best[2]]);
	}
	assert_true(w->p[0][5][best[0]] >= w->p[0][5][best[1]]);
	free(w);
}

/* --- the agent learning in the simulation ------------------------------------ */

static void run(const sim_world *w, enum agent_policy p, store *s, uint64_t n, sim_stats *st,
                sim_inproc **keep)
{
	agent_conf conf;
	sim_inproc *ip = NULL;
	sim_agent a;

	agent_conf_default(&conf);
	conf.policy = p;
	assert_int_equal(sim_inproc_new(&conf, s, "sim", 11, 1, &ip), 0);
	sim_inproc_agent(ip, &a);
	assert_int_equal(sim_run(w, n, &a, &conf, NULL, NULL, 0, st), 0);
	if (keep != NULL)
		*keep = ip;
	else
		sim_inproc_free(ip);
}

/* The memory-only mode is the writer's path without the database: same run. */
static void test_memory_equals_writer(void **unused)
{
	static const enum agent_policy pol[] = {POLICY_EPSILON_GREEDY, POLICY_THOMPSON, POLICY_UCB};
	sim_world *w = xmalloc(sizeof(*w));

	(void)unused;
	assert_int_equal(sim_world_init(w, 5, 1000), 0);
	for (size_t i = 0; i < UTIL_ARRAY_LEN(pol); i++) {
		store *s = open_memory();
		sim_stats a;
		sim_stats b;

		run(w, pol[i], s, 2000, &a, NULL);
		run(w, pol[i], NULL, 2000, &b, NULL);
		assert_int_equal(a.accepts, b.accepts);
		assert_true(fabs(a.regret - b.regret) < 1e-9);
		assert_true(fabs(a.reward - b.reward) < 1e-9);
		/* Everything went through the database: 2000 episodes, 2000 learned rewards. */
		assert_int_equal(query_int(s, "SELECT COUNT(*) FROM tb_episodes"), 2000);
		assert_int_equal(query_int(s, "SELECT COUNT(*) FROM tb_rewards WHERE learned"), 2000);
		assert_int_equal(query_int(s, "SELECT CAST(SUM(n) AS INTEGER) FROM tb_policy"), 6000);
		store_close(s);
	}
	free(w);
}

static void test_policies_learn(void **unused)
{
	sim_world *w = xmalloc(sizeof(*w));
	sim_stats oracle;
	sim_stats rnd;
	sim_stats eg;
	sim_stats ts;
	sim_stats eg2;
	sim_agent a;

	(void)unused;
	assert_int_equal(sim_world_init(w, 1, 0), 0);
	sim_oracle_agent(w, &a);
	assert_int_equal(sim_run(w, 6000, &a, NULL, NULL, NULL, 0, &oracle), 0);
	assert_true(fabs(oracle.regret) < 1e-9);
	run(w, POLICY_RANDOM, NULL, 6000, &rnd, NULL);
	run(w, POLICY_EPSILON_GREEDY, NULL, 6000, &eg, NULL);
	run(w, POLICY_THOMPSON, NULL, 6000, &ts, NULL);
	assert_true(eg.accepts > rnd.accepts + 600);
	assert_true(ts.accepts > rnd.accepts + 600);
	assert_true(eg.regret < 0.6 * rnd.regret);
	assert_true(ts.regret < 0.6 * rnd.regret);
	/* Deterministic for a seed. */
	run(w, POLICY_EPSILON_GREEDY, NULL, 6000, &eg2, NULL);
	assert_memory_equal(&eg, &eg2, sizeof(eg));
	free(w);
}

/*
 * Issue 13 point 4: after the drift, shrinkage and forgetting (the defaults)
 * bring the tabular policies' second-half regret well below that of the
 * old statistics ({"shrink": 0, "forgetting": 1}), through the writer's path.
 */
static void test_forgetting_recovers(void **unused)
{
	static const enum agent_policy pol[] = {POLICY_EPSILON_GREEDY, POLICY_THOMPSON, POLICY_UCB};
	sim_world *w = xmalloc(sizeof(*w));

	(void)unused;
	assert_int_equal(sim_world_init(w, 1, 5000), 0);
	for (size_t i = 0; i < UTIL_ARRAY_LEN(pol); i++) {
		sim_stats st[2];

		for (int old = 0; old < 2; old++) {
			agent_conf conf;
			sim_inproc *ip = NULL;
			sim_agent a;

			agent_conf_default(&conf);
			conf.policy = pol[i];
			if (old) {
				conf.shrink = 0;
				conf.forgetting = 1;
			}
			assert_int_equal(sim_inproc_new(&conf, NULL, "sim", 11, 1, &ip), 0);
			sim_inproc_agent(ip, &a);
			assert_int_equal(sim_run(w, 10000, &a, &conf, NULL, NULL, 0, &st[old]), 0);
			sim_inproc_free(ip);
		}
		print_message("%-15s second-half regret %.1f%% (old statistics %.1f%%)\n",
		              agent_policy_name(pol[i]), 100 * st[0].regret2 / st[0].oracle2,
		              100 * st[1].regret2 / st[1].oracle2);
		assert_true(st[0].regret2 < 0.7 * st[1].regret2);
	}
	free(w);
}

/* --- late rewards: logged, not learned ------------------------------------------- */

static int64_t submit_episode(store *s, values *v, const agent_conf *conf, const char *customer)
{
	writer_op op;

	memset(&op, 0, sizeof(op));
	op.kind = WOP_EPISODE;
	op.ep.company = "A";
	op.ep.customer_id = customer;
	op.ep.states = "{\"age\": 25, \"gender\": \"M\", \"region\": \"Europa\"}";
	op.ep.offers[0] = "OFFER_1";
	op.ep.offers[1] = "OFFER_2";
	op.ep.offers[2] = "OFFER_3";
	op.ep.propensity[0] = op.ep.propensity[1] = op.ep.propensity[2] = 0.5;
	op.ep.request_ts = "2023-01-04";
	op.ep.state_key = "Europa-M-lt30_January_0_Wednesday";
	op.ep.policy = "epsilon-greedy";
	op.ep.agent_version = conf->version;
	op.ep.epsilon = conf->epsilon;
	assert_int_equal(writer_run_batch(s, v, conf, &op), 0);
	assert_int_equal(op.rc, 0);
	return op.ep.id;
}

static int submit_reward(store *s, values *v, const agent_conf *conf, const char *customer,
                         int64_t episode_id)
{
	writer_op op;

	memset(&op, 0, sizeof(op));
	op.kind = WOP_REWARD;
	op.rin.company = "A";
	op.rin.customer_id = customer;
	op.rin.episode_id = episode_id;
	op.rin.accepted = 1;
	op.rin.accepted_offer = "OFFER_2";
	op.rin.request_ts = "2023-01-04";
	assert_int_equal(writer_run_batch(s, v, conf, &op), 0);
	assert_int_equal(op.rc, 0);
	return op.rout.learned;
}

static void test_late_reward_not_learned(void **unused)
{
	store *s = open_memory();
	values *v = values_new();
	db_agent row;
	agent_conf conf;
	char err[128];
	const char *offers[3] = {"OFFER_1", "OFFER_2", "OFFER_3"};
	vstats st[3];
	int level[3];
	int64_t late;
	int64_t prompt;

	(void)unused;
	/* The knob as an agent version carries it. */
	memset(&row, 0, sizeof(row));
	util_strlcpy(row.version, "2.0.0", sizeof(row.version));
	util_strlcpy(row.policy, "epsilon-greedy", sizeof(row.policy));
	row.epsilon = 0.2;
	row.params = (char *)(uintptr_t) "{\"reward_wait_seconds\": 600}";
	assert_int_equal(agent_conf_from_db(&row, &conf, err, sizeof(err)), 0);
	assert_true(conf.reward_wait == 600);
	assert_true(conf.epsilon == 0.2);

	late = submit_episode(s, v, &conf, "c-late");
	/* The episode was logged an hour ago: its reward is past the wait. */
	assert_int_equal(store_exec(s,
	                            "UPDATE tb_episodes SET last_update ="
	                            " strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-3600 seconds')",
	                            0, NULL, NULL, NULL),
	                 0);
	assert_int_equal(submit_reward(s, v, &conf, "c-late", late), 0);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM tb_rewards"), 1);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM tb_rewards WHERE NOT learned"), 1);
	/* The reward itself is kept, with its per-offer rewards, for evaluation. */
	assert_int_equal(query_int(s, "SELECT CAST(reward_2 AS INTEGER) FROM tb_rewards"), 5);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM tb_policy"), 0);
	assert_int_equal(values_count(v), 0);

	prompt = submit_episode(s, v, &conf, "c-prompt");
	assert_int_equal(submit_reward(s, v, &conf, "c-prompt", prompt), 1);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM tb_rewards WHERE learned"), 1);
	assert_int_equal(query_int(s, "SELECT COUNT(*) FROM tb_policy"), 3);
	values_lookup(v, "A", "Europa-M-lt30_January_0_Wednesday", "Europa-M-lt30", offers, 3, st,
	              level);
	assert_true(st[1].n == 1 && st[1].sum == 5 && st[1].succ == 1);
	assert_true(st[0].n == 1 && st[0].sum == -2);

	/* Without a wait (0, the default) the same late reward is learned. */
	conf.reward_wait = 0;
	late = submit_episode(s, v, &conf, "c-late2");
	assert_int_equal(store_exec(s,
	                            "UPDATE tb_episodes SET last_update ="
	                            " strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-3600 seconds')"
	                            " WHERE customer_id = 'c-late2'",
	                            0, NULL, NULL, NULL),
	                 0);
	assert_int_equal(submit_reward(s, v, &conf, "c-late2", late), 1);
	assert_int_equal(query_int(s, "SELECT CAST(SUM(n) AS INTEGER) FROM tb_policy"), 6);
	values_free(v);
	store_close(s);
}

/* --- the contextual world (issue 13 point 7) --------------------------------- */

/*
 * Deterministic for a seed and the same customers for every policy; the
 * customer's request parses and carries every attribute the acceptance
 * depends on; probabilities differ by customer and offer; the drift moves
 * them; the agent's state index is within SIM_CSTATES and a function of the
 * agent's state key.
 */
static void test_contextual_world(void **unused)
{
	sim_world *w = xmalloc(sizeof(*w));
	sim_world *w2 = xmalloc(sizeof(*w2));
	static char keys[SIM_CSTATES][AGENT_STATE_MAX];
	double spread = 0;
	double moved = 0;
	enum sim_kind kind;

	(void)unused;
	assert_int_equal(sim_kind_parse("contextual", &kind), 0);
	assert_int_equal(kind, SIM_WORLD_CONTEXTUAL);
	assert_int_equal(sim_kind_parse("today", &kind), 0);
	assert_int_equal(sim_kind_parse("tomorrow", &kind), ERR_INVAL);
	assert_int_equal(sim_world_init_kind(w, SIM_WORLD_CONTEXTUAL, 42, 500), 0);
	assert_int_equal(sim_world_init_kind(w2, SIM_WORLD_CONTEXTUAL, 42, 500), 0);
	assert_memory_equal(w, w2, sizeof(*w));
	/* Today's world is unchanged by the contextual one being drawn after it. */
	assert_int_equal(sim_world_init(w2, 42, 500), 0);
	assert_memory_equal(w->p, w2->p, sizeof(w->p));
	memset(keys, 0, sizeof(keys));
	for (uint64_t t = 0; t < 2000; t++) {
		sim_context c;
		sim_context c2;
		predict_req req;
		agent_decision d;
		agent_conf conf;
		values *v = values_new();
		rng r;
		double lo = 1;
		double hi = 0;

		sim_context_at(w, t, &c);
		sim_context_at(w, t, &c2);
		assert_memory_equal(c.p, c2.p, sizeof(c.p));
		assert_string_equal(c.states, c2.states);
		assert_true(c.state < SIM_CSTATES);
		for (size_t j = 0; j < SIM_OFFERS; j++) {
			assert_true(c.p[j] > 0 && c.p[j] < 1);
			lo = c.p[j] < lo ? c.p[j] : lo;
			hi = c.p[j] > hi ? c.p[j] : hi;
		}
		spread += hi - lo;
		assert_int_equal(sim_request(&c, &req), 0);
		assert_non_null(strstr(req.states_text, "\"client-since\""));
		assert_non_null(strstr(req.states_text, "\"channel\""));
		assert_true(req.customer.age >= 18 && req.customer.age <= 85);
		assert_true(req.customer.gender == 'M' || req.customer.gender == 'F');
		assert_true(strcmp(req.customer.region, "Unknown") != 0);
		/* The simulator's state index is the agent's state key, one to one. */
		agent_conf_default(&conf);
		conf.policy = POLICY_RANDOM;
		rng_seed(&r, t);
		assert_int_equal(agent_decide(&conf, v, &r, "x", &req, NULL, &d), 0);
		if (keys[c.state][0] == '\0')
			util_strlcpy(keys[c.state], d.state_key, sizeof(keys[c.state]));
		assert_string_equal(keys[c.state], d.state_key);
		request_predict_free(&req);
		values_free(v);
		if (t < 100) {
			sim_context after;

			/* The same customer after the drift (episode t + 500) has other tastes. */
			sim_context_at(w, t + 500, &after);
			for (size_t j = 0; j < SIM_OFFERS; j++)
				moved += fabs(after.p[j] - c.p[j]) / (100.0 * SIM_OFFERS);
		}
	}
	/* Offers differ for a customer (what a contextual policy can learn). */
	assert_true(spread / 2000 > 0.15);
	assert_true(moved > 0.02);
	free(w);
	free(w2);
}

/* On the contextual world squarecb learns: far less regret than random, less than thompson. */
static void test_contextual_policies_learn(void **unused)
{
	sim_world *w = xmalloc(sizeof(*w));
	sim_policy *sp = NULL;
	sim_inproc *ip = NULL;
	sim_agent agent;
	sim_stats scb;
	sim_stats ts;
	sim_stats rnd;
	agent_conf conf;
	char err[256];

	(void)unused;
	assert_int_equal(sim_world_init_kind(w, SIM_WORLD_CONTEXTUAL, 3, 0), 0);
	assert_int_equal(sim_policy_new(&policy_squarecb_type, NULL, 3, &sp, err, sizeof(err)), 0);
	sim_policy_agent(sp, &agent);
	assert_int_equal(sim_run(w, 4000, &agent, NULL, NULL, NULL, 0, &scb), 0);
	sim_policy_free(sp);
	agent_conf_default(&conf);
	conf.policy = POLICY_THOMPSON;
	assert_int_equal(sim_inproc_new(&conf, NULL, "sim-ts", 3, 1, &ip), 0);
	sim_inproc_agent(ip, &agent);
	assert_int_equal(sim_run(w, 4000, &agent, &conf, NULL, NULL, 0, &ts), 0);
	sim_inproc_free(ip);
	conf.policy = POLICY_RANDOM;
	assert_int_equal(sim_inproc_new(&conf, NULL, "sim-rnd", 3, 1, &ip), 0);
	sim_inproc_agent(ip, &agent);
	assert_int_equal(sim_run(w, 4000, &agent, &conf, NULL, NULL, 0, &rnd), 0);
	sim_inproc_free(ip);
	/* Every policy met the same customers: the oracle's sums are equal. */
	assert_true(fabs(scb.oracle - ts.oracle) < 1e-9 && fabs(scb.oracle - rnd.oracle) < 1e-9);
	assert_true(scb.regret < 0.5 * rnd.regret);
	assert_true(scb.regret < ts.regret);
	/* Bad params are refused with the key's name. */
	assert_int_equal(sim_policy_new(&policy_lints_type, "{\"nope\": 1}", 3, &sp, err, sizeof(err)),
	                 ERR_INVAL);
	assert_non_null(strstr(err, "nope"));
	free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_world),
	    cmocka_unit_test(test_context_and_request),
	    cmocka_unit_test(test_respond),
	    cmocka_unit_test(test_memory_equals_writer),
	    cmocka_unit_test(test_policies_learn),
	    cmocka_unit_test(test_forgetting_recovers),
	    cmocka_unit_test(test_late_reward_not_learned),
	    cmocka_unit_test(test_contextual_world),
	    cmocka_unit_test(test_contextual_policies_learn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
