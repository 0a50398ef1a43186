/*
 * test_personalizer.c — the Personalizer v1.0 wire format: every validation
 * rule of every body (rank, multi-slot rank, reward, multi-slot reward,
 * activate, service configuration, policy, evaluation), the status, code,
 * inner code and target each rejection carries, event ids and paths,
 * durations and times, and a round trip of every answer shape through
 * jansson.
 *
 * Public API only; links against build/liboffer.a.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "personalizer.h"
#include "util.h"

/* --- helpers ---------------------------------------------------------------- */

static void expect_error(const pz_error *e, int rc, int status, const char *inner, const char *target,
                         const char *part)
{
	if (rc >= 0)
		fail_msg("accepted, expected %d %s", status, inner != NULL ? inner : "");
	assert_int_equal(e->status, status);
	if (inner == NULL)
		assert_null(e->inner);
	else if (e->inner == NULL || strcmp(e->inner, inner) != 0)
		fail_msg("inner code %s, expected %s (%s)", e->inner != NULL ? e->inner : "(none)",
		         inner, e->message);
	if (target != NULL && strcmp(e->target, target) != 0)
		fail_msg("target \"%s\", expected \"%s\" (%s)", e->target, target, e->message);
	if (part != NULL && strstr(e->message, part) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", e->message, part);
	assert_non_null(e->code);
	assert_true(e->message[0] != '\0');
}

/* The lean parse (the API's) agrees with pz_rank_parse: the same answer or the same error. */
static void rank_same(int rc, const pz_rank_req *r, const pz_error *e, int lrc, const pz_rank_req *l,
                      const pz_error *le, const char *body)
{
	if (rc != lrc)
		fail_msg("pz_rank_parse %d, lean %d (%s)\n%s", rc, lrc,
		         rc != 0 ? e->message : le->message, body);
	if (rc != 0) {
		assert_int_equal(e->status, le->status);
		assert_string_equal(e->message, le->message);
		assert_string_equal(e->target, le->target);
		assert_ptr_equal(e->inner, le->inner);
		assert_null(l->root);
		return;
	}
	assert_int_equal(r->n_actions, l->n_actions);
	assert_int_equal(r->n_allowed, l->n_allowed);
	for (size_t i = 0; i < r->n_actions; i++) {
		assert_int_equal(r->actions[i].id_len, l->actions[i].id_len);
		assert_string_equal(r->actions[i].id, l->actions[i].id);
		assert_int_equal(r->actions[i].excluded, l->actions[i].excluded);
	}
	assert_string_equal(r->event_id, l->event_id);
	assert_int_equal(r->defer_activation, l->defer_activation);
	assert_true(json_equal(r->context, l->context));
}

static int rank(const char *body, pz_rank_req *r, pz_error *e)
{
	pz_rank_req l;
	pz_error le;
	int rc;
	int lrc;

	memset(e, 0, sizeof(*e));
	memset(&le, 0, sizeof(le));
	rc = pz_rank_parse(body, strlen(body), r, e);
	lrc = pz_rank_parse_lean(body, strlen(body), &l, &le);
	rank_same(rc, r, e, lrc, &l, &le, body);
	if (lrc == 0)
		pz_rank_free(&l);
	return rc;
}

static void rank_ok(const char *body, pz_rank_req *r)
{
	pz_error e;

	if (rank(body, r, &e) != 0)
		fail_msg("rank rejected: %s (%s)\n%s", e.message, e.target, body);
}

static void rank_bad(const char *body, const char *target, const char *part)
{
	pz_rank_req r;
	pz_error e;
	int rc = rank(body, &r, &e);

	expect_error(&e, rc, 400, "InvalidRankRequest", target, part);
	assert_null(r.root); /* freed on error */
}

/* A rank body from fragments: the actions list and the rest. */
static char *rank_body(const char *actions, const char *rest)
{
	return xasprintf("{\"contextFeatures\": [{\"timeOfDay\": \"Morning\"}], \"actions\": %s%s%s}",
	                 actions, rest[0] != '\0' ? ", " : "", rest);
}

static const char *three_actions =
    "[{\"id\": \"NewsArticle\", \"features\": [{\"type\": \"News\"}]},"
    " {\"id\": \"SportsArticle\", \"features\": [{\"type\": \"Sports\"}]},"
    " {\"id\": \"EntertainmentArticle\", \"features\": [{\"type\": \"Entertainment\"}]}]";

static void rank_bad_parts(const char *actions, const char *rest, const char *target, const char *part)
{
	char *body = rank_body(actions, rest);

	rank_bad(body, target, part);
	free(body);
}

/* n actions "a0".."a{n-1}" as a JSON list. */
static char *n_actions(int n)
{
	buf b;

	buf_init(&b, 1 << 20);
	assert_int_equal(buf_adds(&b, "["), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(buf_addf(&b, "%s{\"id\": \"a%d\", \"features\": [{\"n\": %d}]}",
		                          i > 0 ? "," : "", i, i),
		                 0);
	assert_int_equal(buf_adds(&b, "]"), 0);
	return buf_steal(&b);
}

/* --- rank --------------------------------------------------------------------- */

static void test_rank_spec_example(void **state)
{
	pz_rank_req r;
	const char *body =
	    "{\"contextFeatures\": [{\"timeOfDay\": \"Morning\"}],"
	    " \"actions\": [{\"id\": \"NewsArticle\", \"features\": [{\"type\": \"News\"}]},"
	    "   {\"id\": \"SportsArticle\", \"features\": [{\"type\": \"Sports\"}]},"
	    "   {\"id\": \"EntertainmentArticle\", \"features\": [{\"type\": \"Entertainment\"}]}],"
	    " \"excludedActions\": [\"SportsArticle\"],"
	    " \"eventId\": \"75269AD0-BFEE-4598-8196-C57383D38E10\", \"deferActivation\": false}";

	(void)state;
	rank_ok(body, &r);
	assert_int_equal(r.n_actions, 3);
	assert_int_equal(r.n_allowed, 2);
	assert_string_equal(r.actions[0].id, "NewsArticle");
	assert_int_equal(r.actions[0].id_len, 11);
	assert_false(r.actions[0].excluded);
	assert_true(r.actions[1].excluded);
	assert_false(r.actions[2].excluded);
	assert_string_equal(r.event_id, "75269AD0-BFEE-4598-8196-C57383D38E10");
	assert_false(r.defer_activation);
	/* Features stay JSON for the feature extractor. */
	assert_true(json_is_array(r.context));
	assert_string_equal(json_string_value(
	                        json_object_get(json_array_get(r.context, 0), "timeOfDay")),
	                    "Morning");
	assert_true(json_is_array(r.actions[2].features));
	assert_string_equal(json_string_value(
	                        json_object_get(json_array_get(r.actions[2].features, 0), "type")),
	                    "Entertainment");
	pz_rank_free(&r);
	assert_null(r.root);
}

/*
 * The lean parse (pz_rank_parse_lean, the API's): it takes the plain bodies
 * itself (ids copied, no features kept) and leaves everything else to
 * pz_rank_parse; rank() checks that both agree on every body of these tests.
 */
static void test_rank_lean(void **state)
{
	static const char *const bodies[] = {
	    /* the bench's shape */
	    "{\"contextFeatures\": [{\"timeOfDay\": \"t1\"}, {\"device\": {\"os\": \"mobile\"}}], "
	    "\"actions\": [{\"id\": \"article1\", \"features\": [{\"topic\": \"t1\", \"words\": 250}, "
	    "{\"length\": \"short\", \"recent\": false}]}, {\"id\": \"article2\", \"features\": "
	    "[{\"topic\": \"t2\", \"words\": 300}, {\"length\": \"long\", \"recent\": true}]}], "
	    "\"eventId\": \"b0-1\"}",
	    /* excluded before the actions, nulls, numbers, arrays, white space */
	    "\t{ \"excludedActions\" : [ \"b\" ] ,\r\n \"deferActivation\": true, \"eventId\": null,"
	    " \"contextFeatures\": null, \"actions\": [ { \"features\": [ { \"x\": null, \"y\": -0.5,"
	    " \"z\": [1, -2, 3.25], \"e\": [], \"o\": {} } ], \"id\": \"a\" }, {\"id\": \"b\","
	    " \"features\": [{\"n\": {\"m\": {\"k\": 0}}}]}] }\n",
	    "{\"actions\": [{\"id\": \"a\", \"features\": [{\"x\": 1}]}], \"deferActivation\": null,"
	    " \"excludedActions\": null, \"contextFeatures\": []}",
	    "{\"actions\": [{\"id\": \"a\", \"features\": [{\"x\": 1}]}], \"contextFeatures\": [{}]}",
	    /* left to pz_rank_parse: accepted */
	    "{\"actions\": [{\"id\": \"a\", \"features\": [{\"x\": 1e3}]}]}",
	    "{\"actions\": [{\"id\": \"a\\u00e9\", \"features\": [{\"x\": \"caf\\u00e9\"}]}]}",
	    "{\"actions\": [{\"id\": \"a\", \"features\": [{\"x\": 1}]}], \"unknown\": {\"y\": [null]}}",
	    "{\"actions\": [{\"id\": \"a\", \"features\": [{\"x\": 1}], \"more\": 1}]}",
	    "{\"actions\": [{\"id\": \"a\", \"features\": [{\"x\": 12345678901234567}]}]}",
	    "{\"actions\": [{\"id\": \"a\", \"features\": [{\"x\": \"\xc3\xa9\"}]}]}",
	    /* left to pz_rank_parse: rejected */
	    "{\"actions\": [{\"id\": \"a\", \"features\": [{\"x\": 1, \"x\": 2}]}]}",
	    "{\"actions\": [{\"id\": \"a\", \"features\": [{\"x\": 1}]}], \"actions\": []}",
	    "{\"actions\": [{\"id\": \"a\", \"features\": [{\"x\": 1}]}]} x",
	    "{\"actions\": [{\"id\": \"a\", \"features\": [{\"x\": 01}]}]}",
	    "{\"actions\": [{\"id\": \"a\", \"features\": [{\"x\": 1.}]}]}",
	    "{\"actions\": [{\"id\": \"a\", \"features\": [{\"x\": tru}]}]}",
	    "{\"actions\": [{\"id\": \"a\", \"features\": [{\"\": 1}]}]}",
	    "{\"actions\": [{\"id\": \"a\", \"features\": [{\"x\": [\"s\"]}]}]}",
	    "{\"actions\": [{\"id\": \"a\", \"features\": [{\"x\": {\"y\": {\"z\": {\"w\": 1}}}}]}]}",
	    "{\"actions\": [{\"id\": \"a\", \"features\": [{\"x\": null}]}]}",
	    "{\"actions\": [{\"id\": \"a\", \"features\": []}]}",
	    "{\"actions\": [{\"id\": \"a\", \"features\": [null]}]}",
	    "{\"actions\": [{\"id\": \"a\", \"features\": [{\"x\": 1}]}, {\"id\": \"a\", \"features\":"
	    " [{\"x\": 1}]}]}",
	    "{\"actions\": [{\"id\": \"\", \"features\": [{\"x\": 1}]}]}",
	    "{\"actions\": [{\"id\": \"a\", \"features\": [{\"x\": 1}]}], \"excludedActions\": [\"a\"]}",
	    "{\"actions\": [{\"id\": \"a\", \"features\": [{\"x\": 1}]}], \"excludedActions\": [\"b\"]}",
	    "{\"actions\": [{\"id\": \"a\", \"features\": [{\"x\": 1}]}], \"eventId\": \"a b\"}",
	    "{\"actions\": [{\"id\": \"a\", \"features\": [{\"x\": 1}]}], \"eventId\": \"\"}",
	    "{\"actions\": [{\"id\": \"a\", \"features\": [{\"x\": 1}]}], \"deferActivation\": 1}",
	    "{\"actions\": []}",
	    "{\"actions\": null}",
	    "{\"contextFeatures\": [{\"x\": 1}]}",
	    "{\"actions\": [{\"id\": \"a\", \"features\": [{\"x\": 1}]}], \"contextFeatures\": [1]}",
	    "[]",
	    "",
	};
	pz_rank_req r;
	pz_error e;
	char *big = n_actions(PZ_ACTIONS_MAX + 1);
	char *body = xasprintf("{\"actions\": %s}", big);

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		if (rank(bodies[i], &r, &e) == 0)
			pz_rank_free(&r);
	}
	assert_int_not_equal(rank(body, &r, &e), 0);
	free(body);
	free(big);
	/* The plain bodies do not build the tree: the ids are the lean parse's copies. */
	assert_int_equal(pz_rank_parse_lean(bodies[0], strlen(bodies[0]), &r, &e), 0);
	assert_non_null(r.text);
	assert_null(r.actions[0].features);
	assert_string_equal(r.actions[1].id, "article2");
	assert_true(json_is_array(r.context));
	assert_int_equal(json_array_size(r.context), 2);
	pz_rank_free(&r);
	assert_null(r.text);
	assert_int_equal(pz_rank_parse_lean(bodies[4], strlen(bodies[4]), &r, &e), 0);
	assert_null(r.text); /* an exponent: pz_rank_parse's */
	assert_non_null(r.actions[0].features);
	pz_rank_free(&r);
}

static void test_rank_optional_fields(void **state)
{
	pz_rank_req r;
	char *body = xasprintf("{\"actions\": %s}", three_actions);

	(void)state;
	/* No context, no exclusions, no event id (generate), activation now. */
	rank_ok(body, &r);
	assert_int_equal(json_array_size(r.context), 0);
	assert_int_equal(r.n_allowed, 3);
	assert_string_equal(r.event_id, "");
	assert_false(r.defer_activation);
	pz_rank_free(&r);
	free(body);
	/* null means absent for every optional field. */
	body = xasprintf("{\"contextFeatures\": null, \"actions\": %s, \"excludedActions\": null,"
	                 " \"eventId\": null, \"deferActivation\": null}",
	                 three_actions);
	rank_ok(body, &r);
	assert_string_equal(r.event_id, "");
	pz_rank_free(&r);
	free(body);
	/* deferActivation true; unknown keys of later API versions ignored. */
	body = rank_body(three_actions, "\"deferActivation\": true, \"futureField\": {\"x\": 1}");
	rank_ok(body, &r);
	assert_true(r.defer_activation);
	pz_rank_free(&r);
	free(body);
}

static void test_rank_rich_features(void **state)
{
	pz_rank_req r;
	/* Namespaces, numbers, booleans, numeric arrays, nulls (kept). */
	const char *body =
	    "{\"contextFeatures\": [{\"user\": {\"profileType\": \"AnonymousUser\", \"latLong\": "
	    "\"47.6,-122.1\"}}, {\"device\": {\"mobile\": true}}, {\"recentActivity\": "
	    "{\"itemsInCart\": 3, \"scores\": [0.5, 1, 2e3]}}, {\"missing\": null}],"
	    " \"actions\": [{\"id\": \"pasta\", \"features\": [{\"taste\": \"salty\", \"grams\": "
	    "[400, 800]}, {\"nutritionLevel\": 5}]}, {\"id\": \"\\u00e9t\\u00e9 / summer, 50%\", "
	    "\"features\": [{\"drink\": false}]}]}";

	(void)state;
	rank_ok(body, &r);
	assert_int_equal(r.n_actions, 2);
	/* Action ids are any string. */
	assert_string_equal(r.actions[1].id, "\xc3\xa9t\xc3\xa9 / summer, 50%");
	pz_rank_free(&r);
}

static void test_rank_actions_rules(void **state)
{
	char *many;

	(void)state;
	rank_bad("{\"contextFeatures\": []}", "actions", "Action count should be between 1 and 50");
	rank_bad("{\"actions\": null}", "actions", "between 1 and 50");
	rank_bad("{\"actions\": {}}", "actions", "must be an array");
	rank_bad("{\"actions\": []}", "actions", "Action count should be between 1 and 50 (got 0)");
	many = n_actions(51);
	rank_bad_parts(many, "", "actions", "Action count should be between 1 and 50 (got 51)");
	free(many);
	many = n_actions(50);
	{
		pz_rank_req r;
		char *body = rank_body(many, "");

		rank_ok(body, &r);
		assert_int_equal(r.n_actions, 50);
		assert_string_equal(r.actions[49].id, "a49");
		pz_rank_free(&r);
		free(body);
	}
	free(many);
	rank_bad_parts("[null]", "", "actions[0]", "Actions contains null value");
	rank_bad_parts("[\"a\"]", "", "actions[0]", "must be an object");
}

static void test_rank_action_ids(void **state)
{
	char long_id[PZ_ID_MAX + 2];
	char *actions;

	(void)state;
	rank_bad_parts("[{\"features\": [{\"a\": 1}]}]", "", "actions[0].id", "is required");
	rank_bad_parts("[{\"id\": \"\", \"features\": [{\"a\": 1}]}]", "", "actions[0].id",
	               "Action ids must not be empty");
	rank_bad_parts("[{\"id\": 7, \"features\": [{\"a\": 1}]}]", "", "actions[0].id",
	               "must be a string, got an integer");
	rank_bad_parts("[{\"id\": \"x\", \"features\": [{\"a\": 1}]}, {\"id\": \"y\", \"features\": "
	               "[{\"a\": 1}]}, {\"id\": \"x\", \"features\": [{\"a\": 2}]}]",
	               "", "actions[2].id", "\"x\" is listed twice");
	/* 256 bytes pass, 257 do not. */
	memset(long_id, 'i', PZ_ID_MAX);
	long_id[PZ_ID_MAX] = '\0';
	actions = xasprintf("[{\"id\": \"%s\", \"features\": [{\"a\": 1}]}]", long_id);
	{
		pz_rank_req r;
		char *body = rank_body(actions, "");

		rank_ok(body, &r);
		assert_int_equal(r.actions[0].id_len, PZ_ID_MAX);
		pz_rank_free(&r);
		free(body);
	}
	free(actions);
	long_id[PZ_ID_MAX] = 'i';
	long_id[PZ_ID_MAX + 1] = '\0';
	actions = xasprintf("[{\"id\": \"%s\", \"features\": [{\"a\": 1}]}]", long_id);
	rank_bad_parts(actions, "", "actions[0].id", "257 characters long; at most 256");
	free(actions);
	{
		/* The limit counts characters: 256 two-byte characters pass, 257 do not. */
		buf b;
		pz_rank_req r;
		char *body;

		buf_init(&b, 1 << 16);
		assert_int_equal(buf_adds(&b, "[{\"id\": \""), 0);
		for (int i = 0; i < PZ_ID_MAX; i++)
			assert_int_equal(buf_adds(&b, "\xc3\xa9"), 0);
		assert_int_equal(buf_adds(&b, "\", \"features\": [{\"a\": 1}]}]"), 0);
		actions = buf_steal(&b);
		body = rank_body(actions, "");
		rank_ok(body, &r);
		assert_int_equal(r.actions[0].id_len, 2 * PZ_ID_MAX);
		pz_rank_free(&r);
		free(body);
		free(actions);
		buf_init(&b, 1 << 16);
		assert_int_equal(buf_adds(&b, "[{\"id\": \""), 0);
		for (int i = 0; i <= PZ_ID_MAX; i++)
			assert_int_equal(buf_adds(&b, "\xc3\xa9"), 0);
		assert_int_equal(buf_adds(&b, "\", \"features\": [{\"a\": 1}]}]"), 0);
		actions = buf_steal(&b);
		rank_bad_parts(actions, "", "actions[0].id", "257 characters long");
		free(actions);
	}
	{
		/* A slot id of 256 four-byte characters fits a multi-slot reward. */
		buf b;
		pz_multi_reward_req mr;
		pz_error e;
		char *body;

		buf_init(&b, 1 << 16);
		assert_int_equal(buf_adds(&b, "{\"reward\": [{\"slotId\": \""), 0);
		for (int i = 0; i < PZ_ID_MAX; i++)
			assert_int_equal(buf_adds(&b, "\xf0\x9f\x98\x80"), 0);
		assert_int_equal(buf_adds(&b, "\", \"value\": 1}]}"), 0);
		body = buf_steal(&b);
		assert_int_equal(pz_multi_reward_parse(body, strlen(body), &mr, &e), 0);
		assert_int_equal(strlen(mr.rewards[0].slot_id), 4 * PZ_ID_MAX);
		free(body);
	}
}

static void test_rank_features_rules(void **state)
{
	(void)state;
	/* Missing or empty features. */
	rank_bad_parts("[{\"id\": \"x\"}]", "", "actions[0].features", "is required");
	rank_bad_parts("[{\"id\": \"x\", \"features\": null}]", "", "actions[0].features",
	               "is required");
	rank_bad_parts("[{\"id\": \"x\", \"features\": []}]", "", "actions[0].features",
	               "at least one non-null action feature");
	rank_bad_parts("[{\"id\": \"x\", \"features\": [{}]}]", "", "actions[0].features",
	               "at least one non-null action feature");
	rank_bad_parts("[{\"id\": \"x\", \"features\": [{\"a\": null}]}]", "", "actions[0].features",
	               "at least one non-null");
	/* Shape: an array of objects. */
	rank_bad_parts("[{\"id\": \"x\", \"features\": {\"a\": 1}}]", "", "actions[0].features",
	               "must be an array of objects, got an object");
	rank_bad_parts("[{\"id\": \"x\", \"features\": [\"a\"]}]", "", "actions[0].features[0]",
	               "Features are not in key value pair format");
	rank_bad_parts("[{\"id\": \"x\", \"features\": [null]}]", "", "actions[0].features[0]",
	               "Action features contains null value");
	/* Values: arrays of numbers only, no empty names, bounded nesting and sizes. */
	rank_bad_parts("[{\"id\": \"x\", \"features\": [{\"a\": [1, \"b\"]}]}]", "",
	               "actions[0].features[0]", "array with non-number items");
	rank_bad_parts("[{\"id\": \"x\", \"features\": [{\"\": 1}]}]", "", "actions[0].features[0]",
	               "cannot use the empty string as an id");
	rank_bad_parts("[{\"id\": \"x\", \"features\": [{\"a\": {\"b\": {\"c\": {\"d\": 1}}}}]}]", "",
	               "actions[0].features[0]", "deeper than 3 levels");
	{
		/* Three levels of objects pass. */
		pz_rank_req r;
		char *body = rank_body("[{\"id\": \"x\", \"features\": [{\"a\": {\"b\": {\"c\": 1}}}]}]",
		                       "");

		rank_ok(body, &r);
		pz_rank_free(&r);
		free(body);
	}
	{
		buf b;
		char *actions;
		char big[PZ_FEATURE_STRING_MAX + 2];

		/* PZ_FEATURES_MAX + 1 values in one list. */
		buf_init(&b, 1 << 20);
		assert_int_equal(buf_adds(&b, "[{\"id\": \"x\", \"features\": [{"), 0);
		for (int i = 0; i <= PZ_FEATURES_MAX; i++)
			assert_int_equal(buf_addf(&b, "%s\"f%d\": %d", i > 0 ? "," : "", i, i), 0);
		assert_int_equal(buf_adds(&b, "}]}]"), 0);
		actions = buf_steal(&b);
		rank_bad_parts(actions, "", "actions[0].features[0]", "more than 256 feature values");
		free(actions);
		/* A string value over the limit. */
		memset(big, 'v', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		actions = xasprintf("[{\"id\": \"x\", \"features\": [{\"s\": \"%s\"}]}]", big);
		rank_bad_parts(actions, "", "actions[0].features[0]", "1025 bytes long; at most 1024");
		free(actions);
	}
	/* Context features obey the same rules. */
	{
		char *body = xasprintf("{\"contextFeatures\": {\"a\": 1}, \"actions\": %s}",
		                       three_actions);

		rank_bad(body, "contextFeatures", "must be an array of objects");
		free(body);
	}
	rank_bad(
	    "{\"contextFeatures\": [null], \"actions\": [{\"id\": \"x\", \"features\": [{\"a\": 1}]}]}",
	    "contextFeatures[0]", "Context features contains null value");
	rank_bad("{\"contextFeatures\": [{\"a\": [true]}], \"actions\": [{\"id\": \"x\", \"features\": "
	         "[{\"a\": 1}]}]}",
	         "contextFeatures[0]", "non-number items");
}

static void test_rank_excluded_rules(void **state)
{
	(void)state;
	rank_bad_parts(three_actions, "\"excludedActions\": [\"Nope\"]", "excludedActions[0]",
	               "\"Nope\" is not the id of any action");
	rank_bad_parts(three_actions, "\"excludedActions\": \"NewsArticle\"", "excludedActions",
	               "must be an array of action ids");
	rank_bad_parts(three_actions, "\"excludedActions\": [1]", "excludedActions[0]",
	               "must be an action id");
	rank_bad_parts(three_actions,
	               "\"excludedActions\": [\"NewsArticle\", \"SportsArticle\", "
	               "\"EntertainmentArticle\"]",
	               "excludedActions", "at least one must remain");
	{
		/* A repeat is harmless. */
		pz_rank_req r;
		char *body = rank_body(three_actions,
		                       "\"excludedActions\": [\"SportsArticle\", \"SportsArticle\"]");

		rank_ok(body, &r);
		assert_int_equal(r.n_allowed, 2);
		pz_rank_free(&r);
		free(body);
	}
}

static void test_rank_event_id_rules(void **state)
{
	char id[PZ_ID_MAX + 2];
	char *rest;

	(void)state;
	rank_bad_parts(three_actions, "\"eventId\": \"\"", "eventId",
	               "EventId should be non-empty or null");
	rank_bad_parts(three_actions, "\"eventId\": 12", "eventId", "must be a string");
	rank_bad_parts(three_actions, "\"eventId\": \"a/b\"", "eventId", "0x2f at position 2");
	rank_bad_parts(three_actions, "\"eventId\": \"a b\"", "eventId", "0x20");
	rank_bad_parts(three_actions, "\"eventId\": \"50%\"", "eventId", "0x25");
	rank_bad_parts(three_actions, "\"eventId\": \"\\u00e9\"", "eventId", "0xc3");
	memset(id, 'e', PZ_ID_MAX + 1);
	id[PZ_ID_MAX + 1] = '\0';
	rest = xasprintf("\"eventId\": \"%s\"", id);
	rank_bad_parts(three_actions, rest, "eventId", "257 bytes long");
	free(rest);
	{
		pz_rank_req r;
		char *body = rank_body(three_actions,
		                       "\"eventId\": \"user-1:2024-05-01T10:00:00.5Z~(x)+y=z@w\"");

		rank_ok(body, &r);
		assert_string_equal(r.event_id, "user-1:2024-05-01T10:00:00.5Z~(x)+y=z@w");
		pz_rank_free(&r);
		free(body);
	}
	rank_bad_parts(three_actions, "\"deferActivation\": \"yes\"", "deferActivation",
	               "must be true or false");
}

static void test_body_rules(void **state)
{
	pz_rank_req r;
	pz_error e;
	char *huge;
	int rc;

	(void)state;
	memset(&e, 0, sizeof(e));
	rc = pz_rank_parse("", 0, &r, &e);
	expect_error(&e, rc, 400, NULL, "", "empty");
	assert_string_equal(e.code, "BadRequest");
	rc = rank("{\"actions\": [", &r, &e);
	expect_error(&e, rc, 400, NULL, "", "malformed JSON at line 1");
	rc = rank("[1, 2]", &r, &e);
	expect_error(&e, rc, 400, NULL, "", "must be a JSON object, got an array");
	rc = rank("{\"actions\": [], \"actions\": []}", &r, &e);
	expect_error(&e, rc, 400, NULL, "", "duplicate");
	huge = xmalloc(PZ_BODY_MAX + 2);
	memset(huge, ' ', PZ_BODY_MAX + 1);
	huge[PZ_BODY_MAX + 1] = '\0';
	rc = pz_rank_parse(huge, PZ_BODY_MAX + 1, &r, &e);
	expect_error(&e, rc, 413, "PayloadSizeExceeded", "", "maximum allowed payload size");
	assert_int_equal(rc, ERR_TOOBIG);
	free(huge);
}

/* --- multi-slot rank ------------------------------------------------------------ */

static const char *ms_actions =
    "[{\"id\": \"NewsArticle\", \"features\": [{\"type\": \"News\"}]},"
    " {\"id\": \"SportsArticle\", \"features\": [{\"type\": \"Sports\"}]},"
    " {\"id\": \"EntertainmentArticle\", \"features\": [{\"type\": \"Entertainment\"}]}]";

static void multi_bad(const char *slots, const char *target, const char *part)
{
	char *body = xasprintf("{\"contextFeatures\": [{\"a\": 1}], \"actions\": %s, \"slots\": %s}",
	                       ms_actions, slots);
	pz_multi_rank_req r;
	pz_error e;
	int rc;

	memset(&e, 0, sizeof(e));
	rc = pz_multi_rank_parse(body, strlen(body), &r, &e);
	expect_error(&e, rc, 400, "InvalidRankRequest", target, part);
	assert_null(r.root);
	free(body);
}

static void test_multi_rank(void **state)
{
	pz_multi_rank_req r;
	pz_error e;
	const char *body =
	    "{\"contextFeatures\": [{\"user\": {\"profileType\": \"AnonymousUser\"}}],"
	    " \"actions\": [{\"id\": \"NewsArticle\", \"features\": [{\"type\": \"News\"}]},"
	    "   {\"id\": \"SportsArticle\", \"features\": [{\"type\": \"Sports\"}]},"
	    "   {\"id\": \"EntertainmentArticle\", \"features\": [{\"type\": \"Entertainment\"}]}],"
	    " \"slots\": [{\"id\": \"Main Article\", \"features\": [{\"size\": \"Large\"}],"
	    "   \"excludedActions\": [\"SportsArticle\"], \"baselineAction\": \"EntertainmentArticle\"},"
	    "  {\"id\": \"Side Bar\", \"features\": [{\"size\": \"Small\"}], \"baselineAction\": "
	    "\"NewsArticle\"}],"
	    " \"eventId\": \"75269AD0-BFEE-4598-8196-C57383D38E10\", \"deferActivation\": true}";

	(void)state;
	memset(&e, 0, sizeof(e));
	if (pz_multi_rank_parse(body, strlen(body), &r, &e) != 0)
		fail_msg("%s", e.message);
	assert_int_equal(r.n_actions, 3);
	assert_int_equal(r.n_slots, 2);
	assert_string_equal(r.slots[0].id, "Main Article");
	assert_int_equal(r.slots[0].baseline, 2);
	assert_true(r.slots[0].excluded[1]);
	assert_false(r.slots[0].excluded[0]);
	assert_int_equal(r.slots[1].baseline, 0);
	assert_false(r.slots[1].excluded[1]);
	assert_int_equal(json_array_size(r.slots[1].features), 1);
	assert_true(r.defer_activation);
	assert_string_equal(r.event_id, "75269AD0-BFEE-4598-8196-C57383D38E10");
	pz_multi_rank_free(&r);
	assert_null(r.root);
}

static void test_multi_rank_rules(void **state)
{
	(void)state;
	{
		char *body = xasprintf("{\"actions\": %s}", ms_actions);
		pz_multi_rank_req r;
		pz_error e;
		int rc = pz_multi_rank_parse(body, strlen(body), &r, &e);

		expect_error(&e, rc, 400, "InvalidRankRequest", "slots", "At least one slot");
		free(body);
	}
	multi_bad("{}", "slots", "must be an array");
	multi_bad("[]", "slots", "between 1 and the number of actions (0 slots, 3 actions)");
	multi_bad("[{\"id\": \"a\", \"baselineAction\": \"NewsArticle\"},"
	          " {\"id\": \"b\", \"baselineAction\": \"SportsArticle\"},"
	          " {\"id\": \"c\", \"baselineAction\": \"EntertainmentArticle\"},"
	          " {\"id\": \"d\", \"baselineAction\": \"NewsArticle\"}]",
	          "slots", "4 slots, 3 actions");
	multi_bad("[null]", "slots[0]", "Slots contain null value");
	multi_bad("[{\"baselineAction\": \"NewsArticle\"}]", "slots[0].id", "is required");
	multi_bad("[{\"id\": \"\", \"baselineAction\": \"NewsArticle\"}]", "slots[0].id",
	          "must not be empty");
	multi_bad("[{\"id\": \"a\", \"baselineAction\": \"NewsArticle\"}, {\"id\": \"a\", "
	          "\"baselineAction\": \"SportsArticle\"}]",
	          "slots[1].id", "unique, non-empty ids");
	multi_bad("[{\"id\": \"a\"}]", "slots[0].baselineAction", "is required");
	multi_bad("[{\"id\": \"a\", \"baselineAction\": \"Nope\"}]", "slots[0].baselineAction",
	          "\"Nope\" is not an action");
	multi_bad("[{\"id\": \"a\", \"baselineAction\": \"NewsArticle\"}, {\"id\": \"b\", "
	          "\"baselineAction\": \"NewsArticle\"}]",
	          "slots[1].baselineAction", "also the baseline of slots[0]");
	multi_bad("[{\"id\": \"a\", \"excludedActions\": [\"NewsArticle\"], \"baselineAction\": "
	          "\"NewsArticle\"}]",
	          "slots[0].baselineAction", "cannot be part of ExcludedActions");
	multi_bad("[{\"id\": \"a\", \"excludedActions\": [\"Nope\"], \"baselineAction\": "
	          "\"NewsArticle\"}]",
	          "slots[0].excludedActions[0]", "must have a corresponding action");
	multi_bad("[{\"id\": \"a\", \"features\": [7], \"baselineAction\": \"NewsArticle\"}]",
	          "slots[0].features[0]", "key value pair");
}

/* --- rewards and activation --------------------------------------------------------- */

static void reward_bad(const char *body, int status, const char *inner, const char *target,
                       const char *part)
{
	pz_error e;
	double v = 99;
	int rc;

	memset(&e, 0, sizeof(e));
	rc = pz_reward_parse(body, strlen(body), &v, &e);
	expect_error(&e, rc, status, inner, target, part);
}

static void test_reward(void **state)
{
	pz_error e;
	double v;

	(void)state;
	assert_int_equal(pz_reward_parse("{\"value\": 0.5}", 14, &v, &e), 0);
	assert_true(v == 0.5);
	assert_int_equal(pz_reward_parse("{\"value\": 1}", 12, &v, &e), 0);
	assert_true(v == 1.0);
	assert_int_equal(pz_reward_parse("{\"value\": -1.0}", 15, &v, &e), 0);
	assert_true(v == -1.0);
	assert_int_equal(pz_reward_parse("{\"value\": 0, \"extra\": 1}", 24, &v, &e), 0);
	reward_bad("{\"value\": 1.0001}", 400, "InvalidRewardRequest", "value",
	           "between -1 and 1 inclusive");
	reward_bad("{\"value\": -2}", 400, "InvalidRewardRequest", "value", "is -2");
	reward_bad("{\"value\": 1e300}", 400, "InvalidRewardRequest", "value", "between -1 and 1");
	reward_bad("{}", 400, "InvalidRewardRequest", "value", "value is required");
	reward_bad("{\"value\": null}", 400, "InvalidRewardRequest", "value", "is required");
	reward_bad("{\"value\": \"1\"}", 400, "InvalidRewardRequest", "value",
	           "must be a number, got a string");
	reward_bad("{\"value\": true}", 400, "InvalidRewardRequest", "value", "got a boolean");
	reward_bad("0.5", 400, NULL, "", "JSON object");
	reward_bad("{\"value\": NaN}", 400, NULL, "", "malformed JSON");
}

static void multi_reward_bad(const char *body, const char *target, const char *part)
{
	pz_multi_reward_req r;
	pz_error e;
	int rc;

	memset(&e, 0, sizeof(e));
	rc = pz_multi_reward_parse(body, strlen(body), &r, &e);
	expect_error(&e, rc, 400, "InvalidRewardRequest", target, part);
}

static void test_multi_reward(void **state)
{
	pz_multi_reward_req r;
	pz_error e;
	const char *body =
	    "{\"reward\": [{\"slotId\": \"Heroposition\", \"value\": 0.5}, {\"slotId\": \"SideBar\", "
	    "\"value\": 0.6}]}";
	buf b;
	char *many;

	(void)state;
	assert_int_equal(pz_multi_reward_parse(body, strlen(body), &r, &e), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.rewards[0].slot_id, "Heroposition");
	assert_true(r.rewards[0].value == 0.5);
	assert_string_equal(r.rewards[1].slot_id, "SideBar");
	assert_true(r.rewards[1].value == 0.6);
	multi_reward_bad("{}", "reward", "reward is required");
	multi_reward_bad("{\"reward\": {}}", "reward", "must be an array");
	multi_reward_bad("{\"reward\": []}", "reward", "between 1 and 50");
	multi_reward_bad("{\"reward\": [1]}", "reward[0]", "must be an object");
	multi_reward_bad("{\"reward\": [{\"value\": 1}]}", "reward[0].slotId", "is required");
	multi_reward_bad("{\"reward\": [{\"slotId\": \"\", \"value\": 1}]}", "reward[0].slotId",
	                 "must not be empty");
	multi_reward_bad("{\"reward\": [{\"slotId\": \"a\"}]}", "reward[0].value", "is required");
	multi_reward_bad("{\"reward\": [{\"slotId\": \"a\", \"value\": 2}]}", "reward[0].value",
	                 "between -1 and 1");
	multi_reward_bad("{\"reward\": [{\"slotId\": \"a\", \"value\": 1}, {\"slotId\": \"a\", "
	                 "\"value\": 0}]}",
	                 "reward[1].slotId", "rewarded twice");
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_adds(&b, "{\"reward\": ["), 0);
	for (int i = 0; i <= PZ_SLOTS_MAX; i++)
		assert_int_equal(buf_addf(&b, "%s{\"slotId\": \"s%d\", \"value\": 0}", i > 0 ? "," : "",
		                          i),
		                 0);
	assert_int_equal(buf_adds(&b, "]}"), 0);
	many = buf_steal(&b);
	multi_reward_bad(many, "reward", "got 51");
	free(many);
}

static void test_activate(void **state)
{
	pz_error e;
	int rc;

	(void)state;
	assert_int_equal(pz_activate_check("", 0, &e), 0);
	assert_int_equal(pz_activate_check(" \r\n", 3, &e), 0);
	assert_int_equal(pz_activate_check("{}", 2, &e), 0);
	assert_int_equal(pz_activate_check("null", 4, &e), 0);
	rc = pz_activate_check("{\"value\": 1}", 12, &e);
	expect_error(&e, rc, 400, "InvalidEventIdToActivate", "", "takes no body");
	rc = pz_activate_check("{", 1, &e);
	expect_error(&e, rc, 400, "InvalidEventIdToActivate", "", "takes no body");
}

/* The rank answer is written by hand: byte for byte what jansson would write. */
static void test_rank_answer_as_jansson(void **state)
{
	const pz_ranked ranking[] = {{"plain", 0.8},
	                             {"quote\"back\\slash/", 1},
	                             {"tab\tnl\ncr\r", 0},
	                             {"bell\x07"
	                              "del\x7f",
	                              1e-5},
	                             {"\xc3\xa9"
	                              "t\xc3\xa9",
	                              0.1 + 0.2},
	                             {"third", 1.0 / 3},
	                             {"tiny", 2.5e-300},
	                             {"big", 123456789012.0}};
	size_t n = sizeof(ranking) / sizeof(ranking[0]);
	json_t *root = json_object();
	json_t *list = json_array();
	char *want;
	char *got;

	(void)state;
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, json_pack("{s:s, s:f}", "id", ranking[i].id, "probability",
		                                      ranking[i].probability));
	json_object_set_new(root, "ranking", list);
	json_object_set_new(root, "eventId", json_string("ev\"1"));
	json_object_set_new(root, "rewardActionId", json_string("plain"));
	want = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	got = pz_rank_answer_json(ranking, n, "ev\"1", "plain");
	assert_string_equal(got, want);
	free(want);
	free(got);
	json_decref(root);
}

/* --- model import ----------------------------------------------------------------- */

#define MODEL_HEAD "{\"format\": \"offerd-personalizer-model\", \"formatVersion\": 1, "
#define VALUE_ROW(s, o, n)                                                                              \
	"{\"stateKey\": \"" s "\", \"offer\": \"" o "\", \"n\": " n ", \"rewardSum\": 3, "              \
	"\"successes\": 1, \"failures\": 1, \"priorValue\": 0, \"priorWeight\": 0, \"priorAlpha\": 1, " \
	"\"priorBeta\": 1}"

static int model_parse(const char *body, pz_model *m, pz_error *e)
{
	return pz_model_parse(body, strlen(body), m, e);
}

static void test_model_parse(void **state)
{
	pz_model m;
	pz_error e;
	int rc;

	(void)state;
	rc = model_parse(MODEL_HEAD "\"values\": [" VALUE_ROW("s2", "b", "2") ", " VALUE_ROW(
	                     "s1", "a",
	                     "1") "], \"contextual\": [{\"offer\": \"\", \"n\": 5, \"tick\": 9, "
	                          "\"stats\": {}}, {\"offer\": \"x\", \"n\": 2, \"tick\": 9, \"stats\": "
	                          "{\"b\": [1, 2], \"S\": [1, 0, 1]}}]}",
	                 &m, &e);
	assert_int_equal(rc, 0);
	assert_int_equal(m.n_values, 2);
	assert_string_equal(m.values[0].state_key, "s1"); /* sorted */
	assert_true(m.values[1].n == 2.0);
	assert_int_equal(m.n_rows, 1); /* the clock row is not imported */
	assert_string_equal(m.rows[0].offer, "x");
	assert_non_null(strstr(m.rows[0].stats, "\"S\""));
	pz_model_free(&m);

	rc =
	    model_parse("{\"format\": \"vw\", \"formatVersion\": 1, \"values\": [], \"contextual\": []}",
	                &m, &e);
	expect_error(&e, rc, 400, "InvalidModelImportFormat", "format", "offerd");
	rc = model_parse(MODEL_HEAD "\"values\": []}", &m, &e);
	expect_error(&e, rc, 400, "InvalidModelImportFormat", "contextual", "arrays");
	rc = model_parse(MODEL_HEAD "\"values\": [" VALUE_ROW("s", "a", "-1") "], \"contextual\": []}",
	                 &m, &e);
	expect_error(&e, rc, 400, "InvalidModelImportFormat", "values[0].n", "between");
	rc = model_parse(MODEL_HEAD
	                 "\"values\": [" VALUE_ROW("s", "a",
	                                           "1") ", " VALUE_ROW("s", "a",
	                                                               "2") "], \"contextual\": []}",
	                 &m, &e);
	expect_error(&e, rc, 400, "InvalidModelImportFormat", "values", "two rows");
	rc = model_parse(MODEL_HEAD "\"values\": [], \"contextual\": [{\"offer\": \"x\", \"n\": 1, "
	                            "\"tick\": 0, \"stats\": {\"b\": [1, 2], \"S\": [1]}}]}",
	                 &m, &e);
	expect_error(&e, rc, 400, "InvalidModelImportFormat", "contextual[0].stats.S", "3 numbers");
	rc = model_parse("[1]", &m, &e);
	expect_error(&e, rc, 400, "InvalidModelImportFormat", NULL, "JSON object");
}

/* --- event ids and paths ------------------------------------------------------------ */

static void test_event_ids(void **state)
{
	char a[PZ_EVENT_ID_GEN_LEN + 1], b[PZ_EVENT_ID_GEN_LEN + 1];
	pz_error e;
	int rc;

	(void)state;
	assert_int_equal(pz_event_id_new(a), 0);
	assert_int_equal(pz_event_id_new(b), 0);
	assert_int_equal(strlen(a), PZ_EVENT_ID_GEN_LEN);
	assert_string_not_equal(a, b);
	assert_int_equal(pz_event_id_check(a, strlen(a), PZ_INVALID_RANK, &e), 0);
	assert_int_equal(pz_event_id_check("A-z_0.9~:@!$'()*+,;=", 20, PZ_INVALID_RANK, &e), 0);
	rc = pz_event_id_check("a?b", 3, PZ_INVALID_REWARD, &e);
	expect_error(&e, rc, 400, "InvalidRewardRequest", "eventId", "0x3f");
	rc = pz_event_id_check("a#b", 3, PZ_INVALID_REWARD, &e);
	expect_error(&e, rc, 400, "InvalidRewardRequest", "eventId", "0x23");
	rc = pz_event_id_check("a&b", 3, PZ_INVALID_REWARD, &e);
	expect_error(&e, rc, 400, "InvalidRewardRequest", "eventId", "0x26");
	rc = pz_event_id_check("a\tb", 3, PZ_INVALID_ACTIVATE, &e);
	expect_error(&e, rc, 400, "InvalidEventIdToActivate", "eventId", "0x09");
	rc = pz_event_id_check("", 0, PZ_INVALID_ACTIVATE, &e);
	expect_error(&e, rc, 400, "InvalidEventIdToActivate", "eventId", "non-empty");
}

static void path_is(const char *method, const char *path, pz_op op, const char *id)
{
	char got[PZ_ID_MAX + 1];
	pz_op o;
	pz_error e;

	if (pz_path_parse(method, path, &o, got, &e) != 0)
		fail_msg("%s %s: %s", method, path, e.message);
	assert_int_equal(o, op);
	assert_string_equal(got, id);
}

static void path_bad(const char *method, const char *path, int status, const char *inner)
{
	char got[PZ_ID_MAX + 1];
	pz_op o;
	pz_error e;
	int rc = pz_path_parse(method, path, &o, got, &e);

	expect_error(&e, rc, status, inner, NULL, NULL);
	assert_int_equal(o, PZ_OP_NONE);
}

static void test_paths(void **state)
{
	char longpath[600];
	char id[PZ_ID_MAX + 2];

	(void)state;
	path_is("POST", "/personalizer/v1.0/rank", PZ_OP_RANK, "");
	path_is("POST", "/personalizer/v1.0/events/ev-1/reward", PZ_OP_REWARD, "ev-1");
	path_is("POST", "/personalizer/v1.0/events/ev-1/activate", PZ_OP_ACTIVATE, "ev-1");
	path_is("POST", "/personalizer/v1.0/multislot/rank", PZ_OP_MULTI_RANK, "");
	path_is("POST", "/personalizer/v1.0/multislot/events/e/reward", PZ_OP_MULTI_REWARD, "e");
	path_is("POST", "/personalizer/v1.0/multislot/events/e/activate", PZ_OP_MULTI_ACTIVATE, "e");
	path_is("GET", "/personalizer/v1.0/configurations/service", PZ_OP_SERVICE_GET, "");
	path_is("PUT", "/personalizer/v1.0/configurations/service", PZ_OP_SERVICE_PUT, "");
	path_is("GET", "/personalizer/v1.0/configurations/policy", PZ_OP_POLICY_GET, "");
	path_is("PUT", "/personalizer/v1.0/configurations/policy", PZ_OP_POLICY_PUT, "");
	path_is("DELETE", "/personalizer/v1.0/configurations/policy", PZ_OP_POLICY_DELETE, "");
	path_is("GET", "/personalizer/v1.0/evaluations", PZ_OP_EVAL_LIST, "");
	path_is("POST", "/personalizer/v1.0/evaluations", PZ_OP_EVAL_CREATE, "");
	path_is("GET", "/personalizer/v1.0/evaluations/b58c6d92", PZ_OP_EVAL_GET, "b58c6d92");
	path_is("DELETE", "/personalizer/v1.0/evaluations/b58c6d92", PZ_OP_EVAL_DELETE, "b58c6d92");
	path_is("GET", "/personalizer/v1.0/model", PZ_OP_MODEL_GET, "");
	path_is("PUT", "/personalizer/v1.0/model", PZ_OP_MODEL_PUT, "");
	path_is("DELETE", "/personalizer/v1.0/model", PZ_OP_MODEL_DELETE, "");
	path_is("GET", "/personalizer/v1.0/model/properties", PZ_OP_MODEL_PROPERTIES, "");
	path_is("DELETE", "/personalizer/v1.0/logs", PZ_OP_LOGS_DELETE, "");
	path_is("GET", "/personalizer/v1.0/logs/properties", PZ_OP_LOGS_PROPERTIES, "");
	/* Unknown paths 404, known ones with another method 405. */
	path_bad("POST", "/personalizer/v1.1/rank", 404, NULL);
	path_bad("POST", "/personalizer/v1.0/rank/", 404, NULL);
	path_bad("POST", "/personalizer/v1.0/events//reward", 404, NULL);
	path_bad("POST", "/personalizer/v1.0/events/a/b/reward", 404, NULL);
	path_bad("POST", "/personalizer/v1.0/nothing", 404, NULL);
	path_bad("GET", "/personalizer/v1.0/rank", 405, "MethodNotAllowed");
	path_bad("DELETE", "/personalizer/v1.0/configurations/service", 405, "MethodNotAllowed");
	path_bad("GET", "/personalizer/v1.0/events/x/reward", 405, "MethodNotAllowed");
	/* Bad ids in the path are the operation's 400. */
	path_bad("POST", "/personalizer/v1.0/events/a b/reward", 400, "InvalidRewardRequest");
	path_bad("POST", "/personalizer/v1.0/events/a%b/activate", 400, "InvalidEventIdToActivate");
	path_bad("GET", "/personalizer/v1.0/evaluations/a b", 400, NULL);
	{
		/* A path that is not UTF-8 is quoted with U+FFFD, never as an empty message. */
		pz_error e;
		pz_op o;
		char *json;

		assert_int_not_equal(pz_path_parse("GET", "/personalizer/v1.0/x\xff", &o, id, &e), 0);
		json = pz_error_json(&e);
		assert_non_null(strstr(json, "exist on the server: /personalizer/v1.0/x\xef\xbf\xbd\""));
		free(json);
	}
	{
		/* An evaluation's id is named as one, not as an event's. */
		pz_error e;
		pz_op o;
		int rc = pz_path_parse("GET", "/personalizer/v1.0/evaluations/a b", &o, id, &e);

		expect_error(&e, rc, 400, NULL, "evaluationId", "evaluationId has the character 0x20");
	}
	memset(id, 'x', PZ_ID_MAX + 1);
	id[PZ_ID_MAX + 1] = '\0';
	snprintf(longpath, sizeof(longpath), "/personalizer/v1.0/events/%s/reward", id);
	path_bad("POST", longpath, 400, "InvalidRewardRequest");
	id[PZ_ID_MAX] = '\0';
	snprintf(longpath, sizeof(longpath), "/personalizer/v1.0/events/%s/reward", id);
	path_is("POST", longpath, PZ_OP_REWARD, id);
}

/* --- configurations -------------------------------------------------------------------- */

static void test_durations(void **state)
{
	int64_t s;
	char out[32];

	(void)state;
	assert_int_equal(pz_duration_parse("00:10:00", &s), 0);
	assert_int_equal(s, 600);
	assert_int_equal(pz_duration_parse("1.02:03:04", &s), 0);
	assert_int_equal(s, 86400 + 7384);
	assert_int_equal(pz_duration_parse("PT10M", &s), 0);
	assert_int_equal(s, 600);
	assert_int_equal(pz_duration_parse("PT5S", &s), 0);
	assert_int_equal(s, 5);
	assert_int_equal(pz_duration_parse("P2D", &s), 0);
	assert_int_equal(s, 172800);
	assert_int_equal(pz_duration_parse("P1DT1H1M1S", &s), 0);
	assert_int_equal(s, 90061);
	assert_int_equal(pz_duration_parse("pt1h", &s), 0);
	assert_int_equal(s, 3600);
	for (size_t i = 0; i < 14; i++) {
		static const char *const bad[] =
		    {"",         "10",       "PT",    "P",       "PT1M1H", "P1Y",   "P1M",
		     "00:60:00", "24:00:00", "00:10", "0:0:0:0", "PT-5S",  "P101D", "1234567890:00:00"};

		if (pz_duration_parse(bad[i], &s) == 0)
			fail_msg("duration \"%s\" accepted", bad[i]);
	}
	pz_duration_format(600, out);
	assert_string_equal(out, "00:10:00");
	pz_duration_format(172800 + 3661, out);
	assert_string_equal(out, "2.01:01:01");
	pz_duration_format(0, out);
	assert_string_equal(out, "00:00:00");
}

static void test_times(void **state)
{
	int64_t t;

	(void)state;
	assert_int_equal(pz_time_parse("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(pz_time_parse("2019-01-19T00:00:00Z", &t), 0);
	assert_int_equal(t, 1547856000);
	assert_int_equal(pz_time_parse("2019-01-19T02:00:00+02:00", &t), 0);
	assert_int_equal(t, 1547856000);
	assert_int_equal(pz_time_parse("2019-01-18T19:30:00.123-0430", &t), 0);
	assert_int_equal(t, 1547856000);
	assert_int_equal(pz_time_parse("2019-01-19", &t), 0);
	assert_int_equal(t, 1547856000);
	assert_int_equal(pz_time_parse("2024-02-29T12:00Z", &t), 0);
	/* The instant counts, in UTC: from 1970 through 9999. */
	assert_int_equal(pz_time_parse("1970-01-01T00:00:00-01:00", &t), 0);
	assert_int_equal(t, 3600);
	assert_int_equal(pz_time_parse("1970-01-01T00:00:00+01:00", &t), ERR_INVAL);
	assert_int_equal(pz_time_parse("9999-12-31T23:59:59Z", &t), 0);
	assert_int_equal(pz_time_parse("9999-12-31T23:00:00-01:00", &t), ERR_INVAL);
	for (size_t i = 0; i < 9; i++) {
		static const char *const bad[] = {"2023-02-29",
		                                  "2019-13-01",
		                                  "2019-01-32",
		                                  "19-01-01",
		                                  "2019-01-19T25:00:00Z",
		                                  "2019-01-19T00:00:00X",
		                                  "2019-01-19T00:00:00.Z",
		                                  "1969-12-31",
		                                  "yesterday"};

		if (pz_time_parse(bad[i], &t) == 0)
			fail_msg("time \"%s\" accepted", bad[i]);
	}
}

static const char *config_v10 =
    "{\"rewardWaitTime\": \"00:10:00\", \"defaultReward\": 0, \"rewardAggregation\": \"earliest\","
    " \"explorationPercentage\": 0.2, \"modelExportFrequency\": \"00:05:00\","
    " \"logMirrorEnabled\": false, \"logRetentionDays\": 7}";

static void config_bad(const char *body, const char *inner, const char *target, const char *part)
{
	pz_service_config c;
	pz_error e;
	int rc;

	memset(&e, 0, sizeof(e));
	rc = pz_service_config_parse(body, strlen(body), &c, &e);
	expect_error(&e, rc, 400, inner, target, part);
}

/* config_v10 with key's value replaced by value (or removed when value is NULL). */
static char *config_with(const char *key, const char *value)
{
	json_t *j = json_loads(config_v10, 0, NULL);
	char *s;

	if (value == NULL)
		json_object_del(j, key);
	else
		json_object_set_new(j, key, json_loads(value, JSON_DECODE_ANY, NULL));
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

static void config_bad_field(const char *key, const char *value, const char *inner, const char *part)
{
	char *body = config_with(key, value);

	config_bad(body, inner, key, part);
	free(body);
}

static void test_service_config(void **state)
{
	pz_service_config c;
	pz_error e;
	char *body;
	const char *v11 =
	    "{\"rewardWaitTime\": \"PT10M\", \"defaultReward\": 0.0, \"rewardAggregation\": \"sum\","
	    " \"explorationPercentage\": 0.2, \"modelExportFrequency\": \"PT5M\", \"logRetentionDays\": "
	    "-1, \"modelAutoPublish\": true, \"lastConfigurationEditDate\": \"0001-01-01T00:00:00\","
	    " \"learningMode\": \"apprentice\"}";

	(void)state;
	assert_int_equal(pz_service_config_parse(config_v10, strlen(config_v10), &c, &e), 0);
	assert_int_equal(c.reward_wait_s, 600);
	assert_true(c.default_reward == 0);
	assert_int_equal(c.aggregation, PZ_AGG_EARLIEST);
	assert_true(c.exploration == 0.2);
	assert_int_equal(c.model_export_s, 300);
	assert_int_equal(c.log_retention_days, 7);
	assert_false(c.mode_given);
	assert_int_equal(c.mode, PZ_MODE_ONLINE);
	assert_int_equal(pz_service_config_parse(v11, strlen(v11), &c, &e), 0);
	assert_int_equal(c.aggregation, PZ_AGG_SUM);
	assert_int_equal(c.log_retention_days, -1);
	assert_true(c.mode_given);
	assert_int_equal(c.mode, PZ_MODE_APPRENTICE);
	/* Every required field. */
	config_bad_field("rewardWaitTime", NULL, "InvalidServiceConfiguration", "is required");
	config_bad_field("defaultReward", NULL, "InvalidServiceConfiguration", "is required");
	config_bad_field("rewardAggregation", NULL, "InvalidServiceConfiguration", "is required");
	config_bad_field("explorationPercentage", NULL, "InvalidServiceConfiguration", "is required");
	config_bad_field("modelExportFrequency", NULL, "InvalidServiceConfiguration", "is required");
	config_bad_field("logRetentionDays", NULL, "InvalidServiceConfiguration", "is required");
	/* Formats and ranges. */
	config_bad_field("rewardWaitTime", "\"ten minutes\"", "InvalidServiceConfiguration",
	                 "is not a duration");
	config_bad_field("rewardWaitTime", "\"00:00:04\"", "InvalidRewardWaitTime",
	                 "between 5 seconds and 2 days");
	config_bad_field("rewardWaitTime", "\"P2DT1S\"", "InvalidRewardWaitTime", "2 days");
	config_bad_field("defaultReward", "1.5", "InvalidServiceConfiguration", "between -1 and 1");
	config_bad_field("defaultReward", "\"0\"", "InvalidServiceConfiguration", "must be a number");
	config_bad_field("rewardAggregation", "\"average\"", "InvalidServiceConfiguration",
	                 "\"earliest\" or \"sum\"");
	config_bad_field("explorationPercentage", "1.2", "InvalidServiceConfiguration",
	                 "between 0 and 1");
	config_bad_field("explorationPercentage", "-0.1", "InvalidServiceConfiguration",
	                 "between 0 and 1");
	config_bad_field("modelExportFrequency", "\"P2D\"", "InvalidServiceConfiguration",
	                 "between 1 second and 1 day");
	config_bad_field("logRetentionDays", "0", "InvalidLogRetentionDays",
	                 "at least reward wait time");
	config_bad_field("logRetentionDays", "1.5", "InvalidServiceConfiguration", "must be an integer");
	config_bad_field("logRetentionDays", "2147483648", "InvalidLogRetentionDays", "-1 to store");
	config_bad_field("learningMode", "\"Offline\"", "InvalidServiceConfiguration",
	                 "\"LoggingOnly\"");
	config_bad_field("learningMode", "3", "InvalidServiceConfiguration", "\"Online\"");
	config_bad_field("logMirrorEnabled", "true", "InvalidServiceConfiguration",
	                 "does not mirror logs");
	config_bad_field("logMirrorEnabled", "\"no\"", "InvalidServiceConfiguration", "true or false");
	/* Retention must cover the wait: 2 days of wait need 3 days of logs. */
	{
		json_t *j = json_loads(config_v10, 0, NULL);

		json_object_set_new(j, "rewardWaitTime", json_string("2.00:00:00"));
		json_object_set_new(j, "logRetentionDays", json_integer(2));
		body = json_dumps(j, JSON_COMPACT);
		config_bad(body, "InvalidLogRetentionDays", "logRetentionDays", "got 2");
		free(body);
		json_decref(j);
	}
}

static void test_service_config_retention_boundary(void **state)
{
	pz_service_config c;
	pz_error e;
	json_t *j = json_loads(config_v10, 0, NULL);
	char *body;
	int rc;

	(void)state;
	/* A wait of 1 day and 1 second rounds up to 2 days: at least 3 days of logs. */
	json_object_set_new(j, "rewardWaitTime", json_string("1.00:00:01"));
	json_object_set_new(j, "logRetentionDays", json_integer(2));
	body = json_dumps(j, JSON_COMPACT);
	rc = pz_service_config_parse(body, strlen(body), &c, &e);
	expect_error(&e, rc, 400, "InvalidLogRetentionDays", "logRetentionDays", "got 2");
	free(body);
	json_object_set_new(j, "logRetentionDays", json_integer(3));
	body = json_dumps(j, JSON_COMPACT);
	assert_int_equal(pz_service_config_parse(body, strlen(body), &c, &e), 0);
	assert_int_equal(c.reward_wait_s, 86401);
	free(body);
	json_decref(j);
}

static void test_service_config_transition(void **state)
{
	pz_service_config cur, next;
	pz_error e;
	int rc;

	(void)state;
	pz_service_config_default(&cur);
	next = cur;
	next.mode = PZ_MODE_APPRENTICE;
	next.mode_given = 1;
	assert_int_equal(pz_service_config_transition(&cur, &next, &e), 0);
	next.default_reward = 0.5;
	rc = pz_service_config_transition(&cur, &next, &e);
	expect_error(&e, rc, 400, "InvalidLearningModeServiceConfiguration", "learningMode",
	             "Make the mode change and then change the additional settings");
	next = cur;
	next.mode = PZ_MODE_APPRENTICE;
	next.mode_given = 1;
	next.reward_wait_s = 60;
	rc = pz_service_config_transition(&cur, &next, &e);
	assert_true(rc < 0);
	/* Same mode: any setting may change. */
	next = cur;
	next.reward_wait_s = 60;
	next.aggregation = PZ_AGG_SUM;
	assert_int_equal(pz_service_config_transition(&cur, &next, &e), 0);
	/* Online to LoggingOnly is not the guarded switch. */
	next.mode = PZ_MODE_LOGGING_ONLY;
	next.mode_given = 1;
	assert_int_equal(pz_service_config_transition(&cur, &next, &e), 0);
	/* Back from Apprentice with a change is refused too. */
	cur.mode = PZ_MODE_APPRENTICE;
	next = cur;
	next.mode = PZ_MODE_ONLINE;
	next.mode_given = 1;
	next.aggregation = PZ_AGG_SUM;
	rc = pz_service_config_transition(&cur, &next, &e);
	assert_true(rc < 0);
}

static void test_service_config_round_trip(void **state)
{
	pz_service_config c, back;
	pz_error e;
	char *s;
	json_t *j;

	(void)state;
	pz_service_config_default(&c);
	c.reward_wait_s = 4 * 3600;
	c.default_reward = -0.25;
	c.aggregation = PZ_AGG_SUM;
	c.exploration = 0.05;
	c.model_export_s = 60;
	c.log_retention_days = 30;
	c.mode = PZ_MODE_LOGGING_ONLY;
	util_strlcpy(c.last_edit, "2026-12-03T17:00:00Z", sizeof(c.last_edit));
	s = pz_service_config_json(&c);
	j = json_loads(s, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "rewardWaitTime")), "04:00:00");
	assert_true(json_number_value(json_object_get(j, "defaultReward")) == -0.25);
	assert_string_equal(json_string_value(json_object_get(j, "rewardAggregation")), "sum");
	assert_true(json_number_value(json_object_get(j, "explorationPercentage")) == 0.05);
	assert_string_equal(json_string_value(json_object_get(j, "modelExportFrequency")), "00:01:00");
	assert_true(json_is_false(json_object_get(j, "logMirrorEnabled")));
	assert_int_equal(json_integer_value(json_object_get(j, "logRetentionDays")), 30);
	assert_string_equal(json_string_value(json_object_get(j, "learningMode")), "LoggingOnly");
	assert_string_equal(json_string_value(json_object_get(j, "lastConfigurationEditDate")),
	                    "2026-12-03T17:00:00Z");
	json_decref(j);
	/* What offerd answers, offerd accepts back (a client's GET-modify-PUT). */
	assert_int_equal(pz_service_config_parse(s, strlen(s), &back, &e), 0);
	assert_int_equal(back.reward_wait_s, c.reward_wait_s);
	assert_true(back.default_reward == c.default_reward);
	assert_int_equal(back.aggregation, c.aggregation);
	assert_true(back.exploration == c.exploration);
	assert_int_equal(back.model_export_s, c.model_export_s);
	assert_int_equal(back.log_retention_days, c.log_retention_days);
	assert_int_equal(back.mode, c.mode);
	free(s);
	assert_string_equal(pz_learning_mode_name(PZ_MODE_ONLINE), "Online");
	assert_string_equal(pz_learning_mode_name(PZ_MODE_APPRENTICE), "Apprentice");
}

/* --- policies and evaluations ---------------------------------------------------------- */

static void policy_bad(const char *body, const char *target, const char *part)
{
	pz_policy p;
	pz_error e;
	int rc;

	memset(&e, 0, sizeof(e));
	rc = pz_policy_parse(body, strlen(body), &p, &e);
	expect_error(&e, rc, 400, "InvalidPolicyContract", target, part);
}

static void test_policy(void **state)
{
	pz_policy p, back;
	pz_error e;
	const char *body =
	    "{\"name\": \"Custom Learning settings 1\", \"arguments\": \"--cb_explore_adf --epsilon 0.2 "
	    "--dsjson --cb_type ips -l 0.5 --l1 1E-07 --power_t 0.5\"}";
	char *s;
	char big[PZ_POLICY_ARGS_MAX + 40];

	(void)state;
	assert_int_equal(pz_policy_parse(body, strlen(body), &p, &e), 0);
	assert_string_equal(p.name, "Custom Learning settings 1");
	assert_true(p.cb_explore_adf);
	assert_true(p.epsilon == 0.2);
	assert_int_equal(p.n_tokens, 12);
	s = pz_policy_json(&p);
	assert_int_equal(pz_policy_parse(s, strlen(s), &back, &e), 0);
	assert_string_equal(back.name, p.name);
	assert_string_equal(back.arguments, p.arguments);
	free(s);
	policy_bad("{\"arguments\": \"--cb_explore_adf\"}", "name", "is required");
	policy_bad("{\"name\": \"\", \"arguments\": \"--cb_explore_adf\"}", "name", "must not be empty");
	policy_bad("{\"name\": \"p\"}", "arguments", "is required");
	policy_bad("{\"name\": \"p\", \"arguments\": 3}", "arguments", "must be a string");
	policy_bad("{\"name\": \"p\", \"arguments\": \"--epsilon 0.2\"}", "arguments",
	           "must contain --cb_explore_adf");
	policy_bad("{\"name\": \"p\", \"arguments\": \"--cats 4\"}", "arguments", "--cb_explore_adf");
	policy_bad("{\"name\": \"p\", \"arguments\": \"   \"}", "arguments", "--cb_explore_adf");
	policy_bad("{\"name\": \"p\", \"arguments\": \"--cb_explore_adf --epsilon 2\"}", "arguments",
	           "between 0 and 1");
	policy_bad("{\"name\": \"p\", \"arguments\": \"--cb_explore_adf --epsilon\"}", "arguments",
	           "lacks its value");
	policy_bad("{\"name\": \"p\", \"arguments\": \"--cb_explore_adf \\u00e9\"}", "arguments",
	           "printable ASCII");
	/* 1024 bytes of arguments pass, 1025 do not. */
	memset(big, 'x', sizeof(big));
	memcpy(big, "--cb_explore_adf ", 17);
	big[PZ_POLICY_ARGS_MAX] = '\0';
	s = xasprintf("{\"name\": \"p\", \"arguments\": \"%s\"}", big);
	assert_int_equal(pz_policy_parse(s, strlen(s), &p, &e), 0);
	free(s);
	big[PZ_POLICY_ARGS_MAX] = 'x';
	big[PZ_POLICY_ARGS_MAX + 1] = '\0';
	s = xasprintf("{\"name\": \"p\", \"arguments\": \"%s\"}", big);
	policy_bad(s, "arguments", "at most 1024");
	free(s);
	{
		buf b;
		char *many;

		buf_init(&b, 1 << 16);
		assert_int_equal(buf_adds(&b, "{\"name\": \"p\", \"arguments\": \"--cb_explore_adf"), 0);
		for (int i = 0; i < PZ_POLICY_TOKENS_MAX; i++)
			assert_int_equal(buf_adds(&b, " -q"), 0);
		assert_int_equal(buf_adds(&b, "\"}"), 0);
		many = buf_steal(&b);
		policy_bad(many, "arguments", "more than 64 words");
		free(many);
	}
}

static void eval_bad(const char *body, const char *inner, const char *target, const char *part)
{
	pz_eval_req r;
	pz_error e;
	int rc;

	memset(&e, 0, sizeof(e));
	rc = pz_eval_parse(body, strlen(body), &r, &e);
	expect_error(&e, rc, 400, inner, target, part);
}

static void test_evaluation_contract(void **state)
{
	pz_eval_req r;
	pz_error e;
	const char *body =
	    "{\"name\": \"myFirstEvaluation\", \"startTime\": \"2018-12-19T00:00:00Z\", \"endTime\": "
	    "\"2019-01-19T00:00:00Z\", \"enableOfflineExperimentation\": true, \"policies\": ["
	    "{\"name\": \"Custom 1\", \"arguments\": \"--cb_explore_adf --epsilon 0.1\"},"
	    "{\"name\": \"Custom 2\", \"arguments\": \"--cb_explore_adf --epsilon 0.3\"}]}";
	buf b;
	char *many;

	(void)state;
	assert_int_equal(pz_eval_parse(body, strlen(body), &r, &e), 0);
	assert_string_equal(r.name, "myFirstEvaluation");
	assert_int_equal(r.start, 1545177600);
	assert_int_equal(r.end, 1547856000);
	assert_true(r.offline_experimentation);
	assert_int_equal(r.n_policies, 2);
	assert_true(r.policies[1].epsilon == 0.3);
	eval_bad("{\"startTime\": \"2019-01-01\", \"endTime\": \"2019-01-02\", \"policies\": []}",
	         "InvalidEvaluationContract", "name", "is required");
	eval_bad("{\"name\": \"e\", \"endTime\": \"2019-01-02\", \"policies\": []}",
	         "InvalidEvaluationContract", "startTime", "is required");
	eval_bad("{\"name\": \"e\", \"startTime\": \"2019-01-02\", \"policies\": []}",
	         "InvalidEvaluationContract", "endTime", "is required");
	eval_bad("{\"name\": \"e\", \"startTime\": \"last week\", \"endTime\": \"2019-01-02\", "
	         "\"policies\": []}",
	         "InvalidEvaluationContract", "startTime", "ISO 8601");
	eval_bad("{\"name\": \"e\", \"startTime\": \"2019-01-02\", \"endTime\": \"2019-01-02\", "
	         "\"policies\": []}",
	         "InvalidEvaluationContract", "endTime", "later than startTime");
	eval_bad("{\"name\": \"e\", \"startTime\": \"2019-01-01\", \"endTime\": \"2019-01-02\"}",
	         "InvalidEvaluationContract", "policies", "is required");
	eval_bad("{\"name\": \"e\", \"startTime\": \"2019-01-01\", \"endTime\": \"2019-01-02\", "
	         "\"policies\": [{\"name\": \"a\"}]}",
	         "InvalidEvaluationContract", "policies[0].arguments", "is required");
	eval_bad("{\"name\": \"e\", \"startTime\": \"2019-01-01\", \"endTime\": \"2019-01-02\", "
	         "\"policies\": [{\"name\": \"a\", \"arguments\": \"--cb_explore_adf\"}, {\"name\": "
	         "\"a\", \"arguments\": \"--cb_explore_adf\"}]}",
	         "DuplicateCustomPolicyNames", "policies[1]", "should be unique");
	eval_bad("{\"name\": \"e\", \"startTime\": \"2019-01-01\", \"endTime\": \"2019-01-02\", "
	         "\"policies\": [], \"enableOfflineExperimentation\": 1}",
	         "InvalidEvaluationContract", "enableOfflineExperimentation", "true or false");
	buf_init(&b, 1 << 16);
	assert_int_equal(
	    buf_adds(&b, "{\"name\": \"e\", \"startTime\": \"2019-01-01\", \"endTime\": \"2019-01-02\", "
	                 "\"policies\": ["),
	    0);
	for (int i = 0; i <= PZ_EVAL_POLICIES_MAX; i++)
		assert_int_equal(buf_addf(&b,
		                          "%s{\"name\": \"p%d\", \"arguments\": \"--cb_explore_adf\"}",
		                          i > 0 ? "," : "", i),
		                 0);
	assert_int_equal(buf_adds(&b, "]}"), 0);
	many = buf_steal(&b);
	eval_bad(many, "InvalidEvaluationContract", "policies", "A maximum of 10 custom policies");
	free(many);
}

/* --- answers and errors --------------------------------------------------------------- */

static void test_rank_answer_round_trip(void **state)
{
	const pz_ranked ranking[] = {{"EntertainmentArticle", 0.8},
	                             {"NewsArticle", 0.2},
	                             {"SportsArticle", 0}};
	char *s = pz_rank_answer_json(ranking, 3, "75269AD0-BFEE-4598-8196-C57383D38E10",
	                              "EntertainmentArticle");
	json_t *j = json_loads(s, 0, NULL);
	json_t *list;

	(void)state;
	assert_non_null(j);
	list = json_object_get(j, "ranking");
	assert_int_equal(json_array_size(list), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")),
	                    "EntertainmentArticle");
	assert_true(json_number_value(json_object_get(json_array_get(list, 0), "probability")) == 0.8);
	assert_true(json_number_value(json_object_get(json_array_get(list, 2), "probability")) == 0);
	assert_string_equal(json_string_value(json_object_get(j, "eventId")),
	                    "75269AD0-BFEE-4598-8196-C57383D38E10");
	assert_string_equal(json_string_value(json_object_get(j, "rewardActionId")),
	                    "EntertainmentArticle");
	/* Probabilities print short ("0.8", not 0.80000000000000004). */
	assert_non_null(strstr(s, "\"probability\":0.8}"));
	json_decref(j);
	free(s);
}

static void test_multi_rank_answer_round_trip(void **state)
{
	const pz_slot_answer slots[] = {{"Main Article", "EntertainmentArticle"},
	                                {"Side Bar", "SportsArticle"}};
	char *s = pz_multi_rank_answer_json(slots, 2, "ev");
	json_t *j = json_loads(s, 0, NULL);
	json_t *list;

	(void)state;
	list = json_object_get(j, "slots");
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "id")),
	                    "Side Bar");
	assert_string_equal(json_string_value(
	                        json_object_get(json_array_get(list, 1), "rewardActionId")),
	                    "SportsArticle");
	assert_string_equal(json_string_value(json_object_get(j, "eventId")), "ev");
	json_decref(j);
	free(s);
}

static void test_evaluation_answer_round_trip(void **state)
{
	const pz_policy_result results[] = {
	    {"Online",
	     "--cb_explore_adf --epsilon 0.2",
	     "Online",
	     {1547856000, 0, 22.2, 1906, 1993.761, 68, 2.484, 1.1209}},
	    {"Baseline", "", "Baseline", {1547856000, 0, 10, 1000, 1000, 1, 0, 0}},
	};
	const pz_evaluation ev = {"b58c6d92", "myFirstEvaluation", 1545177600,
	                          1547856000, "completed",         2,
	                          results};
	char *s = pz_evaluation_json(&ev);
	json_t *j = json_loads(s, 0, NULL);
	json_t *r0, *total;

	(void)state;
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "id")), "b58c6d92");
	assert_string_equal(json_string_value(json_object_get(j, "name")), "myFirstEvaluation");
	assert_string_equal(json_string_value(json_object_get(j, "startTime")), "2018-12-19T00:00:00Z");
	assert_string_equal(json_string_value(json_object_get(j, "endTime")), "2019-01-19T00:00:00Z");
	assert_string_equal(json_string_value(json_object_get(j, "status")), "completed");
	assert_int_equal(json_array_size(json_object_get(j, "policyResults")), 2);
	r0 = json_array_get(json_object_get(j, "policyResults"), 0);
	assert_string_equal(json_string_value(json_object_get(r0, "policySource")), "Online");
	total = json_object_get(r0, "totalSummary");
	assert_true(json_number_value(json_object_get(total, "ipsEstimatorNumerator")) == 22.2);
	assert_true(json_number_value(json_object_get(total, "ipsEstimatorDenominator")) == 1906);
	assert_true(json_number_value(json_object_get(total, "snipsEstimatorDenominator")) == 1993.761);
	assert_true(json_number_value(json_object_get(total, "confidenceInterval")) == 1.1209);
	assert_true(fabs(json_number_value(json_object_get(total, "averageReward")) - 22.2 / 1906) <
	            1e-12);
	assert_string_equal(json_string_value(json_object_get(total, "aggregateTimeWindow")),
	                    "00:00:00");
	assert_int_equal(json_array_size(json_object_get(r0, "summary")), 1);
	assert_true(json_is_array(json_object_get(j, "featureImportance")));
	json_decref(j);
	free(s);
	s = pz_logs_properties_json(0, 86400);
	assert_string_equal(s, "{\"dateRange\":{\"from\":\"1970-01-01T00:00:00Z\",\"to\":\"1970-01-"
	                       "02T00:00:00Z\"}}");
	free(s);
	s = pz_model_properties_json(60, 120);
	assert_string_equal(s, "{\"creationTime\":\"1970-01-01T00:01:00Z\",\"lastModifiedTime\":\"1970-"
	                       "01-01T00:02:00Z\"}");
	free(s);
}

static void test_error_json(void **state)
{
	pz_error e;
	char *s;
	json_t *j, *err;
	int rc;

	(void)state;
	rc = pz_fail(&e, PZ_INVALID_RANK, "actions", "Action count should be between 1 and 50.");
	assert_int_equal(rc, ERR_INVAL);
	s = pz_error_json(&e);
	j = json_loads(s, 0, NULL);
	err = json_object_get(j, "error");
	assert_string_equal(json_string_value(json_object_get(err, "code")), "BadRequest");
	assert_string_equal(json_string_value(json_object_get(err, "message")),
	                    "Action count should be between 1 and 50.");
	assert_string_equal(json_string_value(json_object_get(err, "target")), "actions");
	assert_string_equal(json_string_value(
	                        json_object_get(json_object_get(err, "innerError"), "code")),
	                    "InvalidRankRequest");
	json_decref(j);
	free(s);
	/* No target, no inner: neither key is written. */
	rc = pz_fail(&e, PZ_NOT_FOUND, NULL, "Requested resource does not exist on the server.");
	assert_int_equal(rc, ERR_NOTFOUND);
	assert_int_equal(e.status, 404);
	s = pz_error_json(&e);
	assert_string_equal(s, "{\"error\":{\"code\":\"ResourceNotFound\",\"message\":\"Requested "
	                       "resource does not exist on the server.\"}}");
	free(s);
	/* Store and writer codes map to Personalizer's. */
	{
		static const struct {
			int err;
			int status;
			const char *code;
		} map[] = {
		    {ERR_INVAL, 400, "BadRequest"},
		    {ERR_NOTFOUND, 404, "ResourceNotFound"},
		    {ERR_CONFLICT, 409, "BadRequest"},
		    {ERR_UNAVAIL, 503, "InternalServerError"},
		    {ERR_IO, 500, "InternalServerError"},
		    {ERR_TOOBIG, 413, "BadRequest"},
		    {ERR_AUTH, 401, "401"},
		    {ERR_RATE, 429, "429"},
		    {ERR_MEDIA, 415, "BadRequest"},
		    {ERR_METHOD, 405, "BadRequest"},
		    {ERR_NOMEM, 500, "InternalServerError"},
		};

		for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
			pz_error_from_err(&e, map[i].err, "m");
			assert_int_equal(e.status, map[i].status);
			assert_string_equal(e.code, map[i].code);
			assert_string_equal(e.message, "m");
		}
		/* The general kind of a code, never a finer one that shares it. */
		pz_error_from_err(&e, ERR_INVAL, "m");
		assert_int_equal(e.kind, PZ_BAD_REQUEST);
		pz_error_from_err(&e, ERR_NOTFOUND, "m");
		assert_int_equal(e.kind, PZ_NOT_FOUND);
		assert_null(e.inner);
		pz_error_from_err(&e, ERR_SYNTAX, "m");
		assert_int_equal(e.kind, PZ_BAD_REQUEST);
		pz_error_from_err(&e, ERR_RANGE, "m");
		assert_int_equal(e.kind, PZ_BAD_REQUEST);
		pz_error_from_err(&e, ERR_FORBIDDEN, "m");
		assert_int_equal(e.kind, PZ_INTERNAL);
	}
	/* Every kind has a status and a code. */
	for (int k = 0; k < PZ_KIND_COUNT; k++) {
		pz_fail(&e, (pz_kind)k, NULL, "x");
		assert_true(e.status >= 400 && e.status < 600);
		assert_non_null(e.code);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rank_spec_example),
	    cmocka_unit_test(test_rank_optional_fields),
	    cmocka_unit_test(test_rank_lean),
	    cmocka_unit_test(test_rank_rich_features),
	    cmocka_unit_test(test_rank_actions_rules),
	    cmocka_unit_test(test_rank_action_ids),
	    cmocka_unit_test(test_rank_features_rules),
	    cmocka_unit_test(test_rank_excluded_rules),
	    cmocka_unit_test(test_rank_event_id_rules),
	    cmocka_unit_test(test_body_rules),
	    cmocka_unit_test(test_multi_rank),
	    cmocka_unit_test(test_multi_rank_rules),
	    cmocka_unit_test(test_reward),
	    cmocka_unit_test(test_multi_reward),
	    cmocka_unit_test(test_activate),
	    cmocka_unit_test(test_rank_answer_as_jansson),
	    cmocka_unit_test(test_model_parse),
	    cmocka_unit_test(test_event_ids),
	    cmocka_unit_test(test_paths),
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_times),
	    cmocka_unit_test(test_service_config),
	    cmocka_unit_test(test_service_config_retention_boundary),
	    cmocka_unit_test(test_service_config_transition),
	    cmocka_unit_test(test_service_config_round_trip),
	    cmocka_unit_test(test_policy),
	    cmocka_unit_test(test_evaluation_contract),
	    cmocka_unit_test(test_rank_answer_round_trip),
	    cmocka_unit_test(test_multi_rank_answer_round_trip),
	    cmocka_unit_test(test_evaluation_answer_round_trip),
	    cmocka_unit_test(test_error_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
