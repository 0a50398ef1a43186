/*
 * test_decide.c — decide_episode, the one function that turns an agent
 * version, a request and the agent's decision into an episode (for
 * /predict, /predict-v2, /batch and the simulator).
 *
 * For every policy: the decision is agent_decide's own (same seed, same
 * slate and propensities), and every field of the episode says what was
 * decided, by which version, for which request; the episode's strings stay
 * valid when the caller's configuration and company buffers change; epsilon
 * is stored for epsilon-greedy only; a known RFM segment leads the state
 * key; a request without an allowed offer and an over-long company are
 * errors with an empty episode; and the episode is one the writer stores
 * as it is (a row in TB_EPISODES with the same fields).
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
#include "contact.h"
#include "db.h"
#include "decide.h"
#include "request.h"
#include "rules.h"
#include "store.h"
#include "util.h"
#include "values.h"
#include "writer.h"

/* The brief's example request: OFFER_1, 2, 4, 5, 8 and 10 allowed. */
static const char brief_body[] =
    "{\"customer_id\": \"152467\", \"timestamp\": \"2022-01-01\","
    " \"states\": {\"age\": 22, \"gender\": \"M\", \"region\": \"Europa\","
    " \"last_offer\": \"OFFER_3\", \"client-since\": \"2020-03-01\"},"
    " \"offers\": {\"OFFER_1\": true, \"OFFER_2\": true, \"OFFER_3\": false,"
    " \"OFFER_4\": true, \"OFFER_5\": true, \"OFFER_6\": false, \"OFFER_7\": false,"
    " \"OFFER_8\": true, \"OFFER_9\": false, \"OFFER_10\": true}}";

static void parse(const char *body, predict_req *req)
{
	req_error e;

	memset(&e, 0, sizeof(e));
	if (request_parse_predict(body, strlen(body), req, &e) != 0)
		fail_msg("request rejected: %s: %s", e.field, e.message);
}

static void conf_of(enum agent_policy p, agent_conf *c)
{
	agent_conf_default(c);
	c->policy = p;
	c->epsilon = 0.25;
	snprintf(c->version, sizeof(c->version), "2.%d.0", (int)p);
}

static const enum agent_policy policies[] = {
    POLICY_WEIGHTED, POLICY_EPSILON_GREEDY, POLICY_THOMPSON, POLICY_UCB, POLICY_RANDOM,
};

/* The decision is agent_decide's, and the episode records all of it. */
static void test_episode_fields(void **state)
{
	predict_req req;
	values *v = values_new();

	(void)state;
	parse(brief_body, &req);
	for (size_t i = 0; i < UTIL_ARRAY_LEN(policies); i++) {
		agent_conf conf;
		agent_decision want;
		decide_result res;
		episode ep;
		char company[16] = "A";
		char seg[AGENT_SEGMENT_MAX];
		char key[AGENT_STATE_MAX];
		rng r1;
		rng r2;

		conf_of(policies[i], &conf);
		rng_seed(&r1, 42 + i);
		rng_seed(&r2, 42 + i);
		assert_int_equal(agent_decide(&conf, v, &r1, company, &req, NULL, &want), 0);
		assert_int_equal(decide_episode(&conf, v, &r2, company, &req, NULL, NULL, &res, &ep), 0);
		assert_int_equal(res.dec.n, want.n);
		assert_int_equal(res.dec.n, OFFERS_SHOWN);
		/* The caller's buffers may change or go: the episode has its own copies. */
		snprintf(conf.version, sizeof(conf.version), "9.9.9");
		conf.epsilon = 0.75;
		company[0] = 'Z';
		assert_int_equal(ep.id, 0);
		assert_string_equal(ep.company, "A");
		assert_string_equal(ep.customer_id, "152467");
		assert_ptr_equal(ep.states, req.states_text);
		assert_string_equal(ep.request_ts, "2022-01-01");
		customer_segment(&req.customer, NULL, seg, sizeof(seg));
		customer_state_key(seg, &req.date, key, sizeof(key));
		assert_string_equal(ep.state_key, key);
		assert_string_equal(ep.state_key, want.state_key);
		assert_string_equal(ep.policy, agent_policy_name(policies[i]));
		snprintf(key, sizeof(key), "2.%d.0", (int)policies[i]);
		assert_string_equal(ep.agent_version, key);
		if (policies[i] == POLICY_EPSILON_GREEDY)
			assert_true(ep.epsilon == 0.25);
		else
			assert_true(ep.epsilon == 0.0);
		for (size_t k = 0; k < OFFERS_SHOWN; k++) {
			assert_int_equal(res.dec.idx[k], want.idx[k]);
			assert_true(req.allowed[want.idx[k]]);
			assert_string_equal(ep.offers[k], req.offers[want.idx[k]]);
			assert_ptr_equal(ep.offers[k], res.offers[k]);
			assert_true(ep.propensity[k] == want.propensity[k]);
			assert_true(ep.propensity[k] > 0.0 && ep.propensity[k] <= 1.0);
			for (size_t j = 0; j < k; j++)
				assert_string_not_equal(ep.offers[j], ep.offers[k]);
		}
	}
	request_predict_free(&req);
	values_free(v);
}

/* One allowed offer: one slot, the others NULL (the writer stores NULL). */
static void test_fewer_than_three(void **state)
{
	predict_req req;
	agent_conf conf;
	decide_result res;
	episode ep;
	values *v = values_new();
	rng r;

	(void)state;
	parse("{\"customer_id\": \"c1\", \"timestamp\": \"2022-03-04T10:00:00Z\","
	      " \"states\": {\"age\": 40}, \"offers\": {\"OFFER_7\": true, \"OFFER_8\": false}}",
	      &req);
	conf_of(POLICY_RANDOM, &conf);
	rng_seed(&r, 7);
	assert_int_equal(decide_episode(&conf, v, &r, "B", &req, NULL, NULL, &res, &ep), 0);
	assert_int_equal(res.dec.n, 1);
	assert_string_equal(ep.offers[0], "OFFER_7");
	assert_true(ep.propensity[0] == 1.0);
	assert_null(ep.offers[1]);
	assert_null(ep.offers[2]);
	assert_string_equal(ep.request_ts, req.timestamp);
	request_predict_free(&req);
	values_free(v);
}

/* A known RFM segment leads the state key, as agent_decide makes it. */
static void test_rfm_segment(void **state)
{
	predict_req req;
	agent_conf conf;
	decide_result res;
	episode ep;
	values *v = values_new();
	rng r;

	(void)state;
	parse(brief_body, &req);
	conf_of(POLICY_WEIGHTED, &conf);
	rng_seed(&r, 1);
	assert_int_equal(decide_episode(&conf, v, &r, "A", &req, "Champions", NULL, &res, &ep), 0);
	assert_string_equal(ep.state_key, "Champions_January_0_Saturday");
	request_predict_free(&req);
	values_free(v);
}

/* Nothing allowed, or a company that does not fit: an error and no episode. */
static void test_errors(void **state)
{
	predict_req req;
	agent_conf conf;
	decide_result res;
	episode ep;
	char company[DB_COMPANY_MAX + 8];
	values *v = values_new();
	rng r;

	(void)state;
	parse(brief_body, &req);
	conf_of(POLICY_RANDOM, &conf);
	rng_seed(&r, 3);
	memset(company, 'c', sizeof(company) - 1);
	company[sizeof(company) - 1] = '\0';
	memset(&ep, 0xff, sizeof(ep));
	assert_int_equal(decide_episode(&conf, v, &r, company, &req, NULL, NULL, &res, &ep), ERR_RANGE);
	assert_null(ep.company);
	assert_null(ep.offers[0]);
	for (size_t i = 0; i < req.n_offers; i++)
		req.allowed[i] = 0;
	req.n_allowed = 0;
	memset(&ep, 0xff, sizeof(ep));
	assert_int_equal(decide_episode(&conf, v, &r, "A", &req, NULL, NULL, &res, &ep), ERR_INVAL);
	assert_null(ep.company);
	assert_null(ep.offers[0]);
	request_predict_free(&req);
	values_free(v);
}

static int row_text(void *arg, int ncols, const char *const *vals)
{
	char *out = arg;
	size_t len = 0;

	for (int i = 0; i < ncols; i++)
		len += (size_t)snprintf(out + len, 512 - len, "%s%s", i ? "|" : "",
		                        vals[i] ? vals[i] : "NULL");
	return 0;
}

/* The writer stores the episode as decided: the TB_EPISODES row says the same. */
static void test_writer_stores_it(void **state)
{
	predict_req req;
	agent_conf conf;
	decide_result res;
	writer_op op;
	values *v = values_new();
	store *s = NULL;
	char want[512];
	char got[512] = "";
	rng r;

	(void)state;
	assert_int_equal(store_open("sqlite::memory:", &s), 0);
	assert_int_equal(db_migrate(s), 0);
	parse(brief_body, &req);
	conf_of(POLICY_EPSILON_GREEDY, &conf);
	rng_seed(&r, 5);
	memset(&op, 0, sizeof(op));
	op.kind = WOP_EPISODE;
	assert_int_equal(decide_episode(&conf, v, &r, "A", &req, NULL, NULL, &res, &op.ep), 0);
	assert_int_equal(writer_run_batch(s, v, &conf, &op), 0);
	assert_int_equal(op.rc, 0);
	assert_true(op.ep.id > 0);
	assert_int_equal(store_exec(s,
	                            "SELECT company, customer_id, predicted_offer_1, predicted_offer_2,"
	                            " predicted_offer_3, request_timestamp, state_key, policy,"
	                            " agent_version, epsilon, states = '' FROM tb_episodes",
	                            0, NULL, row_text, got),
	                 0);
	snprintf(want, sizeof(want), "A|152467|%s|%s|%s|2022-01-01|%s|epsilon-greedy|%s|0.25|0",
	         res.offers[0], res.offers[1], res.offers[2], res.dec.state_key, conf.version);
	assert_string_equal(got, want);
	request_predict_free(&req);
	values_free(v);
	store_close(s);
}

/*
 * The company's gate (issue 16): Company B's rules and a cap narrow the
 * client's offers; the agent draws among the eligible ones only, with
 * propensities over that set; the episode records the set and why each
 * other offer is out, and the writer stores it; when nothing is left the
 * error says why for every offer.
 */
static void test_gate(void **state)
{
	static const char want_elig[] =
	    "{\"eligible\":[\"OFFER_1\",\"OFFER_8\",\"OFFER_10\"],\"excluded\":["
	    "{\"offer\":\"OFFER_2\",\"why\":\"cap line 3\"},"
	    "{\"offer\":\"OFFER_3\",\"why\":\"client flag\"},"
	    "{\"offer\":\"OFFER_4\",\"why\":\"rule line 1\"},"
	    "{\"offer\":\"OFFER_5\",\"why\":\"rule line 1\"},"
	    "{\"offer\":\"OFFER_6\",\"why\":\"client flag\"},"
	    "{\"offer\":\"OFFER_7\",\"why\":\"client flag\"},"
	    "{\"offer\":\"OFFER_9\",\"why\":\"client flag\"}]}";
	static const char text[] = "region = Europa -> deny OFFER_4 OFFER_5 OFFER_6\n"
	                           "age > 65 -> deny OFFER_1 OFFER_3 OFFER_4\n"
	                           "cap OFFER_2 1 per 1d\n";
	predict_req req;
	agent_conf conf;
	decide_result res;
	decide_gate g;
	writer_op op;
	values *v = values_new();
	store *s = NULL;
	char err[256];
	char got[512] = "";
	const char *o2[1] = {"OFFER_2"};
	rng r;

	(void)state;
	parse(brief_body, &req);
	assert_int_equal(rules_parse(text, strlen(text), "t", &g.rules, err, sizeof(err)), 0);
	g.contacts = contact_new(100);
	g.now = 1.7e9;
	assert_int_equal(contact_shown(g.contacts, "B", "152467", 1, g.now - 60, o2, 1), 0);
	/* Every tabular policy stays inside the eligible set. */
	for (size_t i = 0; i < UTIL_ARRAY_LEN(policies); i++) {
		conf_of(policies[i], &conf);
		for (unsigned seed = 0; seed < 50; seed++) {
			episode ep;

			rng_seed(&r, seed);
			assert_int_equal(decide_episode(&conf, v, &r, "B", &req, NULL, &g, &res, &ep),
			                 0);
			assert_int_equal(res.n_eligible, 3);
			assert_int_equal(res.dec.n, 3);
			for (size_t k = 0; k < res.dec.n; k++) {
				assert_true(strcmp(ep.offers[k], "OFFER_1") == 0 ||
				            strcmp(ep.offers[k], "OFFER_8") == 0 ||
				            strcmp(ep.offers[k], "OFFER_10") == 0);
				assert_true(ep.propensity[k] > 0 && ep.propensity[k] <= 1);
			}
			assert_string_equal(ep.eligibility, want_elig);
			decide_result_free(&res);
			assert_null(res.eligibility);
		}
	}
	/* random: the slate's probabilities are over the three eligible offers. */
	{
		episode ep;

		conf_of(POLICY_RANDOM, &conf);
		rng_seed(&r, 1);
		assert_int_equal(decide_episode(&conf, v, &r, "B", &req, NULL, &g, &res, &ep), 0);
		assert_true(fabs(ep.propensity[0] - 1.0 / 3.0) < 1e-12);
		assert_true(fabs(ep.propensity[1] - 1.0 / 2.0) < 1e-12);
		assert_true(fabs(ep.propensity[2] - 1.0) < 1e-12);
		decide_result_free(&res);
	}
	/* The writer stores the eligibility with the episode. */
	assert_int_equal(store_open("sqlite::memory:", &s), 0);
	assert_int_equal(db_migrate(s), 0);
	memset(&op, 0, sizeof(op));
	op.kind = WOP_EPISODE;
	conf_of(POLICY_EPSILON_GREEDY, &conf);
	assert_int_equal(decide_episode(&conf, v, &r, "B", &req, NULL, &g, &res, &op.ep), 0);
	assert_int_equal(writer_run_batch(s, v, &conf, &op), 0);
	assert_int_equal(op.rc, 0);
	assert_int_equal(store_exec(s, "SELECT eligibility FROM tb_episodes", 0, NULL, row_text, got),
	                 0);
	assert_string_equal(got, want_elig);
	decide_result_free(&res);
	store_close(s);
	/* A cap on every offer, each shown once: nothing left, and the error says why. */
	rules_free(g.rules);
	assert_int_equal(rules_parse("cap * 1 per 1h", 14, "t", &g.rules, err, sizeof(err)), 0);
	{
		const char *shown[3] = {"OFFER_1", "OFFER_8", "OFFER_10"};
		episode ep;

		const char *more[2] = {"OFFER_4", "OFFER_5"};

		assert_int_equal(contact_shown(g.contacts, "B", "152467", 2, g.now - 10, shown, 3), 0);
		/* Without the region rule OFFER_4 and OFFER_5 are eligible until shown too. */
		assert_int_equal(decide_episode(&conf, v, &r, "B", &req, NULL, &g, &res, &ep), 0);
		assert_int_equal(res.n_eligible, 2);
		decide_result_free(&res);
		assert_int_equal(contact_shown(g.contacts, "B", "152467", 3, g.now - 5, more, 2), 0);
		memset(&ep, 0xff, sizeof(ep));
		assert_int_equal(decide_episode(&conf, v, &r, "B", &req, NULL, &g, &res, &ep),
		                 ERR_INVAL);
		assert_null(ep.offers[0]);
		assert_null(res.eligibility);
		assert_int_equal(res.n_eligible, 0);
		assert_non_null(strstr(
		    res.why,
		    "no offer is eligible for customer 152467: OFFER_1 "
		    "(cap line 1), OFFER_2 (cap line 1), OFFER_3 (client flag), OFFER_4 (cap line 1)"));
		decide_result_free(&res);
		/* Another company's history is not this one's. */
		assert_int_equal(decide_episode(&conf, v, &r, "A", &req, NULL, &g, &res, &ep), 0);
		decide_result_free(&res);
	}
	rules_free(g.rules);
	contact_free(g.contacts);
	request_predict_free(&req);
	values_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_episode_fields),   cmocka_unit_test(test_fewer_than_three),
	    cmocka_unit_test(test_rfm_segment),      cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_writer_stores_it), cmocka_unit_test(test_gate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
