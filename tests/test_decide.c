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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "db.h"
#include "decide.h"
#include "request.h"
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
	char company[DECIDE_COMPANY_MAX + 8];
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_episode_fields),   cmocka_unit_test(test_fewer_than_three),
	    cmocka_unit_test(test_rfm_segment),      cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_writer_stores_it),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
