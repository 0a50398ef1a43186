/*
 * test_model.c — the contextual models' store round trip (model.h), on
 * SQLite and (with $OFFERD_TEST_PG_URL, which make test sets) PostgreSQL:
 *
 *  - two writers of two processes (two model sets) each commit a batch of
 *    learned rewards to TB_MODEL; a third process (a restart) loads the
 *    rows and holds exactly the statistics of one policy that learned every
 *    example (no forgetting, linear model: the sums are order-free); each
 *    writer's process sees the other's rows after one refresh, and reading
 *    them again changes nothing;
 *  - with forgetting, the rows compose on the shared clock: a batch's row
 *    is decayed by forgetting^(episodes learned by anyone since) when the
 *    next batch of any process adds to it;
 *  - a decision with a model that has learned picks the accepted offer;
 *  - offerctl train's priors warm-start a model, worth prior_weight;
 *  - an erasure's unlearning reaches the writer's process and, by revision,
 *    another process, exactly without forgetting and logistic link.
 */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "store_cases.h"

#include "db_fixture.h"

#include <math.h>

#include "feat.h"
#include "log.h"
#include "model.h"
#include "policy.h"
#include "ridge.h"

#define STATES "{\"age\":40,\"gender\":\"F\",\"region\":\"Americas\",\"client-since\":\"2019-10-21\"}"
#define TS "2022-03-07"

static void conf_for(agent_conf *c, model_set *m, const char *params)
{
	db_agent a;
	char err[256];

	memset(&a, 0, sizeof(a));
	util_strlcpy(a.version, "2.0.0", sizeof(a.version));
	util_strlcpy(a.policy, "squarecb", sizeof(a.policy));
	a.params = (char *)(uintptr_t)params;
	assert_int_equal(agent_conf_from_db(&a, c, err, sizeof(err)), 0);
	c->models = m;
}

/* An episode that showed three offers, OFFER_7 accepted when shown. */
static void make_episode(db_reward_out *o, int *success, const char *a, const char *b, const char *c)
{
	const char *offers[3] = {a, b, c};
	customer_attrs ca;
	json_t *states = json_loads(STATES, 0, NULL);
	req_error e;
	date_ymd d;
	char seg[CUSTOMER_SEGMENT_MAX];

	memset(o, 0, sizeof(*o));
	o->n_offers = 3;
	for (int k = 0; k < 3; k++) {
		util_strlcpy(o->offers[k], offers[k], sizeof(o->offers[k]));
		success[k] = strcmp(offers[k], "OFFER_7") == 0;
		o->rewards[k] = success[k] ? 5 : -2;
	}
	util_strlcpy(o->states, STATES, sizeof(o->states));
	util_strlcpy(o->request_ts, TS, sizeof(o->request_ts));
	assert_int_equal(request_customer_from_states(states, &ca, &e), 0);
	assert_int_equal(date_parse(TS, &d), 0);
	customer_segment(&ca, NULL, seg, sizeof(seg));
	customer_state_key(seg, &d, o->state_key, sizeof(o->state_key));
	json_decref(states);
}

static const char *const slates[][3] = {
    {"OFFER_1", "OFFER_7", "OFFER_2"},
    {"OFFER_7", "OFFER_3", "OFFER_1"},
    {"OFFER_2", "OFFER_1", "OFFER_4"},
};

/* One writer's transaction teaching slates[from..to) through m's model of conf. */
static void write_batch(fixture *f, const agent_conf *conf, size_t from, size_t to)
{
	model_batch *b = model_batch_new(conf->models);

	for (size_t i = from; i < to; i++) {
		db_reward_out o;
		int success[3];

		make_episode(&o, success, slates[i][0], slates[i][1], slates[i][2]);
		assert_int_equal(model_batch_add(b, conf, "A", &o, success), 0);
	}
	FX_OK(f, f->s->ops->begin(f->s));
	FX_OK(f, model_batch_store(b, f->s));
	FX_OK(f, f->s->ops->commit(f->s));
	model_batch_commit(b);
	model_batch_free(b);
}

/* The reference: one policy that learned every slate itself, one tick each. */
static policy *reference(const char *params)
{
	policy *p = NULL;
	char err[256];

	assert_int_equal(policy_new(&policy_squarecb_type, params, &p, err, sizeof(err)), 0);
	for (size_t i = 0; i < UTIL_ARRAY_LEN(slates); i++) {
		db_reward_out o;
		int success[3];
		predict_req req;
		policy_slate shown;
		policy_feedback fb;
		feat_ctx ctx;
		json_t *states = json_loads(STATES, 0, NULL);
		req_error e;
		int accepted = -1;

		make_episode(&o, success, slates[i][0], slates[i][1], slates[i][2]);
		memset(&req, 0, sizeof(req));
		memset(&shown, 0, sizeof(shown));
		memset(&fb, 0, sizeof(fb));
		assert_int_equal(date_parse(TS, &req.date), 0);
		assert_int_equal(request_customer_from_states(states, &req.customer, &e), 0);
		assert_int_equal(feat_context_json(states, &req.date, &req.customer, NULL, &ctx), 0);
		json_decref(states);
		for (size_t k = 0; k < 3; k++) {
			util_strlcpy(req.offers[k], o.offers[k], sizeof(req.offers[k]));
			shown.idx[k] = k;
			fb.reward[k] = o.rewards[k];
			if (success[k])
				accepted = (int)k;
		}
		req.n_offers = 3;
		shown.n = 3;
		fb.n = 3;
		policy_cascade(3, accepted, fb.credited);
		assert_int_equal(policy_learn(p, &ctx, &req, &shown, &fb), 0);
	}
	return p;
}

static double ref_count(policy *p, const char *offer)
{
	return ridge_count(p->stats, ridge_offer(p->stats, offer, 0));
}

static int64_t clock_tick(fixture *f)
{
	sc_rows r = {0};
	int64_t t = -1;

	FX_OK(f, sc_query(f->s, &r,
	                  "SELECT tick FROM tb_model WHERE company = 'A' AND version = '2.0.0'"
	                  " AND offer = ''",
	                  0, NULL));
	if (r.n == 1)
		util_strtonum(sc_cell(&r, 0, 0), 0, INT64_MAX, &t);
	sc_rows_free(&r);
	return t;
}

static void test_two_writers_and_a_restart(void **state)
{
	static const char params[] = "{\"forgetting\":1,\"logistic\":0}";
	static const char *const offers[] = {"OFFER_1", "OFFER_2", "OFFER_3", "OFFER_4", "OFFER_7"};
	fixture *f = *state;
	model_set *m1 = model_set_new();
	model_set *m2 = model_set_new();
	model_set *m3 = model_set_new();
	agent_conf c1;
	agent_conf c2;
	agent_conf c3;
	policy *ref = reference(params);

	conf_for(&c1, m1, params);
	conf_for(&c2, m2, params);
	conf_for(&c3, m3, params);
	write_batch(f, &c1, 0, 2); /* process 1: two rewards */
	write_batch(f, &c2, 2, 3); /* process 2: one */
	assert_int_equal(clock_tick(f), 3);

	/* A restart: everything from the rows. */
	FX_OK(f, model_refresh(m3, f->s, &c3));
	for (size_t i = 0; i < UTIL_ARRAY_LEN(offers); i++) {
		double want = ref_count(ref, offers[i]);

		assert_true(fabs(model_count(m3, "A", "2.0.0", offers[i]) - want) < 1e-12);
	}
	/* Each process sees the other's rows after a refresh; twice is the same. */
	for (int round = 0; round < 2; round++) {
		FX_OK(f, model_refresh(m1, f->s, &c1));
		FX_OK(f, model_refresh(m2, f->s, &c2));
		for (size_t i = 0; i < UTIL_ARRAY_LEN(offers); i++) {
			double want = ref_count(ref, offers[i]);

			assert_true(fabs(model_count(m1, "A", "2.0.0", offers[i]) - want) < 1e-12);
			assert_true(fabs(model_count(m2, "A", "2.0.0", offers[i]) - want) < 1e-12);
		}
	}
	assert_true(model_count(m1, "A", "2.0.0", "OFFER_7") == 2);
	assert_true(model_count(m1, "B", "2.0.0", "OFFER_7") == -1);
	policy_free(ref);
	model_set_free(m1);
	model_set_free(m2);
	model_set_free(m3);
}

/* One transaction unlearning slates[from..to) (erasure, issue 16.3); returns whether approximate. */
static int erase_batch(fixture *f, const agent_conf *conf, size_t from, size_t to, double age)
{
	model_batch *b = model_batch_new_erase(conf->models);
	int approximate;

	for (size_t i = from; i < to; i++) {
		db_reward_out o;
		int success[3];

		make_episode(&o, success, slates[i][0], slates[i][1], slates[i][2]);
		model_batch_set_age(b, age);
		assert_int_equal(model_batch_add(b, conf, "A", &o, success), 0);
	}
	FX_OK(f, f->s->ops->begin(f->s));
	FX_OK(f, model_batch_store(b, f->s));
	FX_OK(f, f->s->ops->commit(f->s));
	model_batch_commit(b);
	approximate = model_batch_approximate(b);
	model_batch_free(b);
	return approximate;
}

/*
 * Erasure: unlearning slate 1 leaves the writer's process and another
 * process (after one refresh) with the counts of slates 0 and 2 alone; the
 * clock's episodes drop, its tick stays; exact without forgetting and
 * logistic, reported approximate with the defaults.
 */
static void test_erase_follows_on_refresh(void **state)
{
	static const char params[] = "{\"forgetting\":1,\"logistic\":0}";
	fixture *f = *state;
	model_set *m1 = model_set_new();
	model_set *m2 = model_set_new();
	agent_conf c1;
	agent_conf c2;

	conf_for(&c1, m1, params);
	conf_for(&c2, m2, params);
	write_batch(f, &c1, 0, 3);
	FX_OK(f, model_refresh(m2, f->s, &c2));
	assert_true(model_count(m2, "A", "2.0.0", "OFFER_7") == 2);
	assert_false(erase_batch(f, &c1, 1, 2, 1));
	/* Slate 1 credited OFFER_7 alone (accepted in the first slot). */
	assert_true(fabs(model_count(m1, "A", "2.0.0", "OFFER_7") - 1) < 1e-12);
	assert_true(fabs(model_count(m1, "A", "2.0.0", "OFFER_1") - 2) < 1e-12);
	FX_OK(f, model_refresh(m2, f->s, &c2));
	assert_true(fabs(model_count(m2, "A", "2.0.0", "OFFER_7") - 1) < 1e-12);
	assert_true(fabs(model_count(m2, "A", "2.0.0", "OFFER_1") - 2) < 1e-12);
	assert_int_equal(clock_tick(f), 3);
	assert_int_equal(sc_int(f->s,
	                        "SELECT CAST(n AS INTEGER) FROM tb_model WHERE company = 'A'"
	                        " AND version = '2.0.0' AND offer = ''",
	                        0, NULL),
	                 2);
	model_set_free(m1);
	model_set_free(m2);

	/* The defaults (logistic link, forgetting 0.9995): approximate. */
	m1 = model_set_new();
	conf_for(&c1, m1, NULL);
	util_strlcpy(c1.version, "3.0.0", sizeof(c1.version));
	write_batch(f, &c1, 0, 3);
	assert_true(erase_batch(f, &c1, 1, 2, 1));
	model_set_free(m1);
}

/* The clock row's discounted episodes of version 2.0.0. */
static double clock_n(fixture *f)
{
	sc_rows r = {0};
	double n = -1;

	FX_OK(f, sc_query(f->s, &r,
	                  "SELECT n FROM tb_model WHERE company = 'A' AND version = '2.0.0'"
	                  " AND offer = ''",
	                  0, NULL));
	if (r.n == 1)
		util_strtod(sc_cell(&r, 0, 0), -1e300, 1e300, &n);
	sc_rows_free(&r);
	return n;
}

/*
 * With forgetting 0.9 (linear link), slates 0, 1, 2 learned one per batch,
 * then slate 0 unlearned at its age (2 episodes learned after it): the
 * model equals one that learned slates 1 and 2 alone, and it is reported
 * approximate (ages are estimated in the writer).
 */
static void test_erase_with_forgetting(void **state)
{
	static const char params[] = "{\"forgetting\":0.9,\"logistic\":0}";
	static const char *const offers[] = {"OFFER_1", "OFFER_2", "OFFER_3", "OFFER_4", "OFFER_7"};
	fixture *f = *state;
	model_set *ma = model_set_new();
	model_set *mb = model_set_new();
	agent_conf ca;
	agent_conf cb;
	double want[5];

	/* B: slates 1 and 2 only, then read back as a restart would. */
	conf_for(&cb, mb, params);
	util_strlcpy(cb.version, "4.0.0", sizeof(cb.version));
	write_batch(f, &cb, 1, 2);
	write_batch(f, &cb, 2, 3);
	for (size_t i = 0; i < UTIL_ARRAY_LEN(offers); i++)
		want[i] = model_count(mb, "A", "4.0.0", offers[i]);
	assert_true(fabs(want[4] - 0.9) < 1e-12); /* OFFER_7: slate 1, one episode ago */

	conf_for(&ca, ma, params);
	write_batch(f, &ca, 0, 1);
	write_batch(f, &ca, 1, 2);
	write_batch(f, &ca, 2, 3);
	assert_true(fabs(model_count(ma, "A", "2.0.0", "OFFER_7") - (0.81 + 0.9)) < 1e-12);
	assert_true(erase_batch(f, &ca, 0, 1, 2));
	for (size_t i = 0; i < UTIL_ARRAY_LEN(offers); i++)
		assert_true(fabs(model_count(ma, "A", "2.0.0", offers[i]) - want[i]) < 1e-9);
	assert_true(fabs(clock_n(f) - 1.9) < 1e-9);
	model_set_free(ma);
	model_set_free(mb);
}

static void test_forgetting_on_the_shared_clock(void **state)
{
	static const char params[] = "{\"forgetting\":0.9,\"logistic\":0}";
	fixture *f = *state;
	model_set *m1 = model_set_new();
	model_set *m2 = model_set_new();
	model_set *m3 = model_set_new();
	agent_conf c1;
	agent_conf c2;
	agent_conf c3;

	conf_for(&c1, m1, params);
	conf_for(&c2, m2, params);
	conf_for(&c3, m3, params);
	/* Cascade credit: OFFER_7 twice and OFFER_1 once in the first batch (clock 2),
	 * OFFER_1 once more in the second (clock 3), written by another process. */
	write_batch(f, &c1, 0, 2);
	write_batch(f, &c2, 2, 3);
	FX_OK(f, model_refresh(m3, f->s, &c3));
	/* The first batch's sums decayed by the one episode learned after them. */
	assert_true(fabs(model_count(m3, "A", "2.0.0", "OFFER_1") - (0.9 + 1)) < 1e-12);
	/* OFFER_7's row, untouched by the second batch, is decayed to the clock when read. */
	assert_true(fabs(model_count(m3, "A", "2.0.0", "OFFER_7") - 2 * 0.9) < 1e-12);
	model_set_free(m1);
	model_set_free(m2);
	model_set_free(m3);
}

static void test_decides_what_was_learned(void **state)
{
	static const char params[] = "{\"gamma_scale\":1000}";
	fixture *f = *state;
	model_set *m = model_set_new();
	agent_conf c;
	predict_req req;
	req_error e;
	agent_decision d;
	int hits = 0;
	char body[512];

	conf_for(&c, m, params);
	for (int i = 0; i < 40; i++)
		write_batch(f, &c, 0, 3);
	snprintf(body, sizeof(body),
	         "{\"customer_id\":\"c\",\"timestamp\":\"" TS "\",\"states\":" STATES
	         ",\"offers\":{\"OFFER_1\":true,\"OFFER_2\":true,\"OFFER_3\":true,"
	         "\"OFFER_4\":true,\"OFFER_7\":true}}");
	assert_int_equal(request_parse_predict(body, strlen(body), &req, &e), 0);
	for (int i = 0; i < 100; i++) {
		memset(&d, 0, sizeof(d));
		assert_int_equal(model_decide(&c, rng_thread(), "A", &req, NULL, &d), 0);
		assert_int_equal(d.n, 3);
		assert_true(d.propensity[0] > 0 && d.propensity[0] <= 1);
		hits += strcmp(req.offers[d.idx[0]], "OFFER_7") == 0;
	}
	assert_true(hits >= 90);
	request_predict_free(&req);
	model_set_free(m);
}

/* offerctl train's priors (TB_POLICY rows with a prior weight) warm-start a new model. */
static void test_warm_start(void **state)
{
	fixture *f = *state;
	static const char *const params[] = {"{\"prior_weight\":50}", "{\"prior_weight\":0}"};
	static const char *const keys[] = {"Q1_March_0_Monday", "Q1_March_1_Monday",
	                                   "Q1_April_0_Friday"};
	predict_req req;
	req_error e;
	char body[512];
	int hits[2] = {0, 0};

	snprintf(body, sizeof(body),
	         "{\"customer_id\":\"c\",\"timestamp\":\"" TS "\",\"states\":" STATES
	         ",\"offers\":{\"OFFER_1\":true,\"OFFER_2\":true,\"OFFER_3\":true,"
	         "\"OFFER_4\":true,\"OFFER_7\":true}}");
	assert_int_equal(request_parse_predict(body, strlen(body), &req, &e), 0);
	for (int v = 0; v < 2; v++) {
		model_set *m = model_set_new();
		agent_conf c;

		conf_for(&c, m, params[v]);
		for (size_t k = 0; k < UTIL_ARRAY_LEN(keys); k++) {
			for (size_t o = 0; o < 5; o++) {
				db_policy_row row;

				memset(&row, 0, sizeof(row));
				row.company = "A";
				row.state_key = keys[k];
				row.offer = req.offers[o];
				row.prior_value = strcmp(row.offer, "OFFER_7") == 0 ? 5 : -2;
				row.prior_weight = 1;
				model_prior(m, &row);
				model_prior(m, &row); /* sent again: nothing changes */
			}
		}
		/* The first decision makes the model; the next refresh gives it its prior. */
		{
			agent_decision d;

			assert_int_equal(model_decide(&c, rng_thread(), "A", &req, "Q1", &d), 0);
		}
		FX_OK(f, model_refresh(m, f->s, &c));
		for (int i = 0; i < 200; i++) {
			agent_decision d;

			memset(&d, 0, sizeof(d));
			assert_int_equal(model_decide(&c, rng_thread(), "A", &req, "Q1", &d), 0);
			hits[v] += strcmp(req.offers[d.idx[0]], "OFFER_7") == 0;
		}
		model_set_free(m);
	}
	fprintf(stderr, "warm start: %d and %d of 200\n", hits[0], hits[1]);
	/* With the prior OFFER_7 leads; without it, about one in five. */
	assert_true(hits[0] >= 170);
	assert_true(hits[1] <= 100);
	request_predict_free(&req);
}

int main(void)
{
#define MODEL_TESTS(setup)                                                                            \
	cmocka_unit_test_setup_teardown(test_two_writers_and_a_restart, setup, fx_teardown),          \
	    cmocka_unit_test_setup_teardown(test_forgetting_on_the_shared_clock, setup, fx_teardown), \
	    cmocka_unit_test_setup_teardown(test_erase_follows_on_refresh, setup, fx_teardown),       \
	    cmocka_unit_test_setup_teardown(test_erase_with_forgetting, setup, fx_teardown),          \
	    cmocka_unit_test_setup_teardown(test_decides_what_was_learned, setup, fx_teardown),       \
	    cmocka_unit_test_setup_teardown(test_warm_start, setup, fx_teardown)

	const struct CMUnitTest sqlite_tests[] = {MODEL_TESTS(fx_setup)};
	const struct CMUnitTest pg_tests[] = {MODEL_TESTS(fx_setup_pg)};
	return fx_run_both("test_model", "model", sqlite_tests, pg_tests, UTIL_ARRAY_LEN(sqlite_tests));
}
