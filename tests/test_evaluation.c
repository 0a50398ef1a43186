/*
 * test_evaluation.c — evaluations (evaluation.h) and explanations
 * (policy_explain, policy.h).
 *
 *  1. A request's bad members are errors naming the field; a stored
 *     request reads back as it was written.
 *  2. evaluation_run over a simulated log in SQLite, more episodes than one
 *     page of db_episodes_logged: every episode is read once, each
 *     candidate is scored, progress rises to 1, a stop is ERR_UNAVAIL, and
 *     the results equal ope_evaluate's on the same log.
 *  3. policy_explain on a linear-ts model that learned OFFER_2 is accepted:
 *     OFFER_2 scores above the others, a slot given to another offer is
 *     explored, and the features are named, weighed and heaviest first.
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
#include "date.h"
#include "db.h"
#include "evaluation.h"
#include "feat.h"
#include "policy.h"
#include "sim.h"
#include "store.h"
#include "util.h"
#include "values.h"

/* --- 1. requests --------------------------------------------------------------- */

static void bad(const char *body, int err, const char *field)
{
	eval_request *q = xmalloc(sizeof(*q));
	req_error e;

	assert_int_equal(evaluation_request_parse(body, strlen(body), q, &e), err);
	if (strcmp(e.field, field) != 0)
		fail_msg("%s: field %s, expected %s (%s)", body, e.field, field, e.message);
	assert_true(strstr(e.message, field) != NULL || strcmp(field, "body") == 0);
	free(q);
}

static void test_request_errors(void **unused)
{
	(void)unused;
	bad("[", ERR_SYNTAX, "");
	bad("[]", ERR_SYNTAX, "");
	bad("{}", ERR_INVAL, "policies");
	bad("{\"policies\":{}}", ERR_INVAL, "policies");
	bad("{\"policies\":[1]}", ERR_INVAL, "policies[0]");
	bad("{\"policies\":[{\"name\":\"greedy\"},{\"name\":7}]}", ERR_INVAL, "policies[1].name");
	bad("{\"policies\":[{\"name\":\"linucb\"}]}", ERR_INVAL, "policies[0].name");
	bad("{\"policies\":[{\"name\":\"ucb\",\"params\":{\"epsilon\":0.1}}]}", ERR_INVAL,
	    "policies[0].params");
	bad("{\"policies\":[{\"name\":\"ucb\",\"params\":[1]}]}", ERR_INVAL, "policies[0].params");
	bad("{\"policies\":[{\"name\":\"squarecb\",\"params\":{\"gamma_scale\":-1}}]}", ERR_INVAL,
	    "policies[0].params");
	bad("{\"policies\":[{\"name\":\"greedy\",\"params\":{\"epsilon\":0.3}}]}", ERR_INVAL,
	    "policies[0].params");
	bad("{\"policies\":[{\"name\":\"greedy\",\"params\":{\"epsilon\":0.1}}]}", ERR_INVAL,
	    "policies[0].params");
	bad("{\"policies\":[{\"name\":\"greedy\"}],\"from\":\"yesterday\"}", ERR_INVAL, "from");
	bad("{\"policies\":[{\"name\":\"greedy\"}],\"to\":5}", ERR_INVAL, "to");
	bad("{\"policies\":[{\"name\":\"greedy\"}],\"missing\":\"drop\"}", ERR_INVAL, "missing");
	bad("{\"policies\":[{\"name\":\"greedy\"}],\"company\":\"B\"}", ERR_INVAL, "company");
	bad("{\"policies\":[{\"name\":\"greedy\"},{\"name\":\"greedy\"},{\"name\":\"greedy\"},"
	    "{\"name\":\"greedy\"},{\"name\":\"greedy\"},{\"name\":\"greedy\"},{\"name\":\"greedy\"},"
	    "{\"name\":\"greedy\"},{\"name\":\"greedy\"},{\"name\":\"greedy\"},{\"name\":\"greedy\"},"
	    "{\"name\":\"greedy\"},{\"name\":\"greedy\"}]}",
	    ERR_INVAL, "policies");
}

static void test_request_roundtrip(void **unused)
{
	static const char body[] =
	    "{\"policies\":[{\"name\":\"epsilon-greedy\",\"params\":{\"epsilon\":0.25}},"
	    "{\"name\":\"squarecb\",\"params\":{\"gamma_scale\":50}},{\"name\":\"random\"}],"
	    "\"from\":\"2026-01-01\",\"to\":\"2026-01-31\",\"missing\":\"skip\"}";
	eval_request *q = xmalloc(sizeof(*q));
	eval_request *back = xmalloc(sizeof(*back));
	req_error e;
	json_t *j;
	char *text;

	(void)unused;
	assert_int_equal(evaluation_request_parse(body, strlen(body), q, &e), 0);
	assert_int_equal(q->n, 3);
	assert_string_equal(q->policies[0].params, "{\"epsilon\":0.25}");
	assert_string_equal(q->policies[2].params, "");
	assert_int_equal(q->missing, OPE_MISSING_SKIP);
	j = evaluation_request_json(q);
	text = json_dumps(j, JSON_COMPACT);
	assert_int_equal(evaluation_request_parse(text, strlen(text), back, &e), 0);
	assert_int_equal(back->n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(back->policies[i].name, q->policies[i].name);
		assert_string_equal(back->policies[i].params, q->policies[i].params);
	}
	assert_string_equal(back->from, "2026-01-01");
	assert_string_equal(back->to, "2026-01-31");
	assert_int_equal(back->missing, OPE_MISSING_SKIP);
	free(text);
	json_decref(j);
	free(q);
	free(back);
}

/* --- 2. the run ------------------------------------------------------------------- */

#define RUN_EPISODES 5600 /* more than one page (5,000) of db_episodes_logged */

typedef struct progress_log {
	double seen[4096];
	size_t n;
	size_t stop_after; /* 0: never */
} progress_log;

static int record(void *arg, double done)
{
	progress_log *p = arg;

	if (p->n < UTIL_ARRAY_LEN(p->seen))
		p->seen[p->n++] = done;
	return p->stop_after > 0 && p->n >= p->stop_after;
}

static int load_values(void *arg, const db_policy_row *row)
{
	values_set(arg, row);
	return 0;
}

static void test_run(void **unused)
{
	static const char body[] = "{\"policies\":[{\"name\":\"greedy\"},"
	                           "{\"name\":\"squarecb\",\"params\":{\"gamma_scale\":20}}]}";
	sim_world *w = xmalloc(sizeof(*w));
	eval_request *q = xmalloc(sizeof(*q));
	eval_outcome *o = xmalloc(sizeof(*o));
	progress_log *pl = xcalloc(1, sizeof(*pl));
	store *s = NULL;
	agent_conf conf;
	sim_inproc *p = NULL;
	sim_agent a;
	sim_stats st;
	req_error e;
	char err[256] = "";
	json_t *j;

	(void)unused;
	assert_int_equal(sim_world_init(w, 5, 0), 0);
	assert_int_equal(store_open("sqlite::memory:", &s), 0);
	assert_int_equal(db_migrate(s), 0);
	agent_conf_default(&conf);
	assert_int_equal(sim_inproc_new(&conf, s, "A", 5, 100, &p), 0);
	sim_inproc_agent(p, &a);
	assert_int_equal(sim_run(w, RUN_EPISODES, &a, &conf, NULL, NULL, 0, &st), 0);
	assert_int_equal(evaluation_request_parse(body, strlen(body), q, &e), 0);
	assert_int_equal(evaluation_run(s, "A", q, record, pl, o, err, sizeof(err)), 0);
	assert_int_equal(o->read, RUN_EPISODES);
	assert_int_equal(o->used, RUN_EPISODES);
	assert_int_equal(o->n, 2);
	assert_int_equal(o->slate[0].n, RUN_EPISODES);
	assert_int_equal(o->slate[1].n, RUN_EPISODES);
	assert_true(pl->n > 4);
	for (size_t i = 1; i < pl->n; i++)
		assert_true(pl->seen[i] >= pl->seen[i - 1]);
	assert_true(pl->seen[0] == 0); /* reading: 5 reports of 0 for 5,600 rows */
	assert_true(pl->seen[5] > 0 && pl->seen[5] < 0.5);
	assert_true(pl->seen[pl->n - 1] == 1.0);
	{
		/* The same numbers as ope_evaluate on the same log: one computation. */
		ope_log log;
		ope_candidate c;
		ope_result slate;
		ope_result first;
		values *v = values_new();
		int64_t rev = 0;

		ope_log_init(&log);
		assert_int_equal(db_policy_since(s, 0, load_values, v, &rev), 0);
		assert_int_equal(ope_load(s, "A", NULL, NULL, OPE_MISSING_REJECT, NULL, &log, err,
		                          sizeof(err)),
		                 0);
		assert_int_equal(evaluation_candidate(&q->policies[0], &c, err, sizeof(err)), 0);
		c.v = v;
		c.company = "A";
		c.seed = 1;
		assert_int_equal(ope_evaluate(&log, &c, &slate, &first), 0);
		assert_true(slate.ips.value == o->slate[0].ips.value);
		assert_true(slate.dr.lo == o->slate[0].dr.lo);
		assert_true(first.snips.hi == o->first[0].snips.hi);
		ope_log_free(&log);
		values_free(v);
	}
	j = evaluation_result_json(q, o);
	assert_int_equal(json_array_size(json_object_get(j, "results")), 2);
	assert_string_equal(json_string_value(
	                        json_object_get(json_array_get(json_object_get(j, "results"), 1),
	                                        "policy")),
	                    "squarecb");
	assert_true(json_real_value(json_object_get(
	                json_object_get(json_object_get(json_array_get(json_object_get(j, "results"), 0),
	                                                "estimates"),
	                                "ips"),
	                "value")) == o->slate[0].ips.value);
	json_decref(j);
	{
		/*
		 * A window's bounds are instants, whatever zone they are written in: an hour ago
		 * written at +05:00 sorts after every row's text ("…T…Z"), an hour ahead written
		 * at -05:00 before them; compared as text, the first window read nothing and the
		 * second everything.
		 */
		int64_t now = (int64_t)util_now();
		char at[DATE_TIME_TEXT_LEN];

		date_time_format(now - 3600 + 5 * 3600, at);
		snprintf(q->from, sizeof(q->from), "%.19s+05:00", at);
		assert_int_equal(evaluation_run(s, "A", q, NULL, NULL, o, err, sizeof(err)), 0);
		assert_int_equal(o->read, RUN_EPISODES);
		date_time_format(now + 3600 - 5 * 3600, at);
		snprintf(q->from, sizeof(q->from), "%.19s-05:00", at);
		assert_int_equal(evaluation_run(s, "A", q, NULL, NULL, o, err, sizeof(err)), 0);
		assert_int_equal(o->read, 0);
		q->from[0] = '\0';
	}
	/* Stopped at the third report (while reading) and at the eighth (while scoring). */
	memset(pl, 0, sizeof(*pl));
	pl->stop_after = 3;
	assert_int_equal(evaluation_run(s, "A", q, record, pl, o, err, sizeof(err)), ERR_UNAVAIL);
	assert_int_equal(pl->n, 3);
	memset(pl, 0, sizeof(*pl));
	pl->stop_after = 8;
	assert_int_equal(evaluation_run(s, "A", q, record, pl, o, err, sizeof(err)), ERR_UNAVAIL);
	assert_int_equal(pl->n, 8);
	sim_inproc_free(p);
	store_close(s);
	free(w);
	free(q);
	free(o);
	free(pl);
}

/* --- 3. explanations ---------------------------------------------------------------- */

static void test_explain(void **unused)
{
	static const char body[] =
	    "{\"customer_id\":\"c1\",\"timestamp\":\"2022-03-07\",\"states\":{\"age\":40,"
	    "\"gender\":\"F\",\"region\":\"Asia\",\"last_offer\":\"OFFER_3\"},"
	    "\"offers\":{\"OFFER_1\":true,\"OFFER_2\":true,\"OFFER_3\":true,\"OFFER_4\":true}}";
	predict_req *req = xcalloc(1, sizeof(*req));
	feat_names *names = xmalloc(sizeof(*names));
	policy_explanation ex[OFFERS_SHOWN];
	policy *p = NULL;
	feat_ctx ctx;
	feat_ctx plain;
	policy_slate shown;
	policy_feedback fb;
	req_error e;
	char err[128];

	(void)unused;
	assert_int_equal(request_parse_predict(body, strlen(body), req, &e), 0);
	assert_int_equal(policy_new(policy_find("linear-ts"), NULL, &p, err, sizeof(err)), 0);
	assert_int_equal(feat_context_named(req, NULL, &ctx, names), 0);
	/* The named context is the context: same hashes, same values. */
	assert_int_equal(feat_context(req, NULL, &plain), 0);
	assert_int_equal(plain.n, ctx.n);
	for (size_t i = 0; i < ctx.n; i++) {
		assert_true(plain.hash[i] == ctx.hash[i] && plain.val[i] == ctx.val[i]);
		assert_true(feat_hash(names->name[i]) == ctx.hash[i]);
	}
	/* OFFER_2 (request index 1) shown first and accepted, 60 times. */
	memset(&shown, 0, sizeof(shown));
	shown.n = 3;
	shown.idx[0] = 1;
	shown.idx[1] = 0;
	shown.idx[2] = 3;
	for (int t = 0; t < 60; t++) {
		memset(&fb, 0, sizeof(fb));
		fb.n = 3;
		fb.reward[0] = policy_params(p)->r_accept;
		fb.reward[1] = fb.reward[2] = policy_params(p)->r_ignore;
		policy_cascade(3, 0, fb.credited);
		assert_int_equal(policy_learn(p, &ctx, req, &shown, &fb), 0);
	}
	/* Explain the slate OFFER_1, OFFER_2, OFFER_4: slot 0 left OFFER_2, valued higher. */
	shown.idx[0] = 0;
	shown.idx[1] = 1;
	shown.idx[2] = 3;
	policy_explain(p, &ctx, names, req, &shown, ex);
	assert_true(ex[1].score > 0.7);
	assert_true(ex[0].score < ex[1].score);
	assert_true(ex[0].explored);
	assert_false(ex[1].explored);
	assert_true(ex[1].uncertainty > 0 && ex[1].uncertainty <= 0.5);
	assert_true(ex[1].ntop > 0 && ex[1].ntop <= POLICY_EXPLAIN_TOP);
	for (size_t f = 0; f < ex[1].ntop; f++) {
		int known = strcmp(ex[1].top[f].name, "lastoffer=this") == 0 ||
		            strncmp(ex[1].top[f].name, "slot=", 5) == 0;

		for (size_t i = 0; i < ctx.n && !known; i++)
			known = strcmp(ex[1].top[f].name, names->name[i]) == 0;
		assert_true(known);
		assert_true(ex[1].top[f].weight >
		            0); /* every feature of an accepted context pushed up */
		if (f > 0)
			assert_true(fabs(ex[1].top[f].weight) <= fabs(ex[1].top[f - 1].weight));
	}
	policy_free(p);
	request_predict_free(req);
	free(req);
	free(names);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_errors),
	    cmocka_unit_test(test_request_roundtrip),
	    cmocka_unit_test(test_run),
	    cmocka_unit_test(test_explain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
