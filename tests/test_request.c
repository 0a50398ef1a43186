/*
 * test_request.c — validation of the /predict and /rewards bodies: the
 * three shapes of `states` and `offers` (object, JSON string, Python-dict
 * string), every offer flag spelling, the brief's field spelling with a
 * space, the brief's own example body (unescaped quotes: a syntax error
 * that names its position), limits, the timestamp (its forms are tested in
 * test_date.c) and the customer normalisation (gender, region, age).
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

#include "request.h"
#include "util.h"

/* --- helpers ---------------------------------------------------------------- */

/* what's body (a predict or a reward) was parsed with result rc: it must have been accepted. */
static void expect_accepted(const char *what, const char *body, int rc, const req_error *e)
{
	if (rc != 0)
		fail_msg("%s body rejected (%d, %s): %s\n%s", what, rc, e->field, e->message, body);
}

/* It must have been rejected with code err naming field, the message containing part. */
static void expect_rejected(const char *what, const char *body, int rc, const req_error *e, int err,
                            const char *field, const char *part)
{
	if (rc == 0)
		fail_msg("%s body accepted: %s", what, body);
	assert_int_equal(rc, err);
	assert_string_equal(e->field, field);
	if (strstr(e->message, part) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", e->message, part);
}

static int parse_predict(const char *body, predict_req *p, req_error *e)
{
	memset(e, 0, sizeof(*e));
	return request_parse_predict(body, strlen(body), p, e);
}

static void predict_ok(const char *body, predict_req *p)
{
	req_error e;
	int rc = parse_predict(body, p, &e);

	expect_accepted("predict", body, rc, &e);
}

/* Expects rejection with code err naming field, the message containing part. */
static void predict_bad(const char *body, int err, const char *field, const char *part)
{
	predict_req p;
	req_error e;
	int rc = parse_predict(body, &p, &e);

	expect_rejected("predict", body, rc, &e, err, field, part);
	assert_int_equal(e.err, err);
	/* Nothing is left to free after an error. */
	assert_null(p.states_text);
}

/* A /predict body from JSON fragments for states and offers. */
static char *predict_body(const char *states, const char *offers)
{
	return xasprintf("{\"customer_id\": \"152467\", \"timestamp\": \"2022-01-01\", "
	                 "\"states\": %s, \"offers\": %s}",
	                 states, offers);
}

/* The index of offer name in p, or -1. */
static int offer_index(const predict_req *p, const char *name)
{
	for (size_t i = 0; i < p->n_offers; i++) {
		if (strcmp(p->offers[i], name) == 0)
			return (int)i;
	}
	return -1;
}

static void expect_flag(const predict_req *p, const char *name, int allowed)
{
	int i = offer_index(p, name);

	if (i < 0)
		fail_msg("offer %s missing", name);
	assert_int_equal(p->allowed[i], allowed);
}

static int parse_reward(const char *body, reward_req *r, req_error *e)
{
	memset(e, 0, sizeof(*e));
	return request_parse_reward(body, strlen(body), r, e);
}

static void reward_ok(const char *body, reward_req *r)
{
	req_error e;
	int rc = parse_reward(body, r, &e);

	expect_accepted("reward", body, rc, &e);
}

static void reward_bad(const char *body, int err, const char *field, const char *part)
{
	reward_req r;
	req_error e;
	int rc = parse_reward(body, &r, &e);

	expect_rejected("reward", body, rc, &e, err, field, part);
	assert_null(r.clicked);
}

/* --- /predict: body shapes ---------------------------------------------------- */

static const char case_a_first[] =
    "{\"customer_id\": \"152467\", \"timestamp\": \"2022-01-01\","
    " \"states\": {\"age\": 18, \"gender\": \"M\", \"client-since\": \"2020-01-01\","
    " \"region\": \"Europa\", \"last_offer\": \"OFFER_5\"},"
    " \"offers\": {\"OFFER_1\": \"True\", \"OFFER_2\": \"False\", \"OFFER_3\": \"False\","
    " \"OFFER_4\": \"True\", \"OFFER_5\": \"True\", \"OFFER_6\": \"False\","
    " \"OFFER_7\": \"False\", \"OFFER_8\": \"True\", \"OFFER_9\": \"True\","
    " \"OFFER_10\": \"False\"}}";

/* Checks the request every shape of the first company_A.json customer gives. */
static void check_case_a_first(const predict_req *p)
{
	static const char *const allowed[] = {"OFFER_1", "OFFER_4", "OFFER_5", "OFFER_8", "OFFER_9"};

	assert_string_equal(p->customer_id, "152467");
	assert_string_equal(p->timestamp, "2022-01-01");
	assert_int_equal(p->date.year, 2022);
	assert_int_equal(p->date.month, 1);
	assert_int_equal(p->date.day, 1);
	assert_int_equal(p->date.weekday, 6); /* a Saturday */
	assert_int_equal(p->customer.age, 18);
	assert_int_equal(p->customer.gender, 'M');
	assert_string_equal(p->customer.region, "Europa");
	assert_int_equal(p->n_offers, 10);
	assert_int_equal(p->n_allowed, 5);
	/* Request order is kept. */
	assert_string_equal(p->offers[0], "OFFER_1");
	assert_string_equal(p->offers[9], "OFFER_10");
	for (size_t i = 0; i < UTIL_ARRAY_LEN(allowed); i++)
		expect_flag(p, allowed[i], 1);
	expect_flag(p, "OFFER_2", 0);
	expect_flag(p, "OFFER_10", 0);
	assert_non_null(p->states_text);
}

static void test_predict_object_body(void **state)
{
	predict_req p;

	(void)state;
	predict_ok(case_a_first, &p);
	check_case_a_first(&p);
	/* An object is stored as compact JSON, in the order received. */
	assert_string_equal(p.states_text,
	                    "{\"age\":18,\"gender\":\"M\",\"client-since\":\"2020-01-01\","
	                    "\"region\":\"Europa\",\"last_offer\":\"OFFER_5\"}");
	request_predict_free(&p);
	assert_null(p.states_text);
	request_predict_free(&p); /* twice is harmless */
}

/* states and offers sent as JSON strings: case A's first request, states stored as sent. */
static void expect_string_fields(const char *states, const char *offers)
{
	json_t *root = json_pack("{s:s, s:s, s:s, s:s}", "customer_id", "152467", "timestamp",
	                         "2022-01-01", "states", states, "offers", offers);
	char *body = json_dumps(root, 0);
	predict_req p;

	predict_ok(body, &p);
	check_case_a_first(&p);
	/* A string is stored exactly as the client sent it. */
	assert_string_equal(p.states_text, states);
	request_predict_free(&p);
	free(body);
	json_decref(root);
}

static void test_predict_json_strings(void **state)
{
	const char *states = "{\"age\": 18, \"gender\": \"M\", \"client-since\": \"2020-01-01\","
	                     " \"region\": \"Europa\", \"last_offer\": \"OFFER_5\"}";
	const char *offers = "{\"OFFER_1\": true, \"OFFER_2\": false, \"OFFER_3\": false,"
	                     " \"OFFER_4\": true, \"OFFER_5\": true, \"OFFER_6\": false,"
	                     " \"OFFER_7\": false, \"OFFER_8\": true, \"OFFER_9\": true,"
	                     " \"OFFER_10\": false}";

	(void)state;
	expect_string_fields(states, offers);
}

static void test_predict_python_strings(void **state)
{
	const char *states = "{'age': 18, 'gender': 'M', 'client-since': '2020-01-01',"
	                     " 'region': 'Europa', 'last_offer': 'OFFER_5'}";
	/* As the brief shows it: True/False, a missing space, a trailing comma. */
	const char *offers = "{'OFFER_1': True, 'OFFER_2': False, 'OFFER_3': False,"
	                     " 'OFFER_4': True, 'OFFER_5':True, 'OFFER_6': False,"
	                     " 'OFFER_7': False, 'OFFER_8': True, 'OFFER_9': True,"
	                     " 'OFFER_10': False,}";

	(void)state;
	expect_string_fields(states, offers);
}

static void test_predict_mixed_shapes(void **state)
{
	predict_req p;
	char *body;

	(void)state;
	/* An object for one field and a Python string for the other. */
	body = predict_body("{\"gender\": \"F\"}", "\"{'OFFER_3': True}\"");
	predict_ok(body, &p);
	assert_int_equal(p.customer.gender, 'F');
	assert_int_equal(p.n_offers, 1);
	assert_int_equal(p.n_allowed, 1);
	request_predict_free(&p);
	free(body);
	/* Empty states are fine: nothing known about the customer. */
	body = predict_body("{}", "{\"OFFER_3\": true}");
	predict_ok(body, &p);
	assert_int_equal(p.customer.age, -1);
	assert_int_equal(p.customer.gender, 'U');
	assert_string_equal(p.customer.region, "Unknown");
	assert_string_equal(p.states_text, "{}");
	request_predict_free(&p);
	free(body);
	/* A numeric customer_id is kept as text. */
	predict_ok("{\"customer_id\": 152467, \"timestamp\": \"2022-01-01\", \"states\": {},"
	           " \"offers\": {\"A\": 1}}",
	           &p);
	assert_string_equal(p.customer_id, "152467");
	request_predict_free(&p);
	/* The customer_id is trimmed. */
	predict_ok("{\"customer_id\": \"  42 \", \"timestamp\": \"2022-01-01\", \"states\": {},"
	           " \"offers\": {\"A\": 1}}",
	           &p);
	assert_string_equal(p.customer_id, "42");
	request_predict_free(&p);
}

static void test_predict_flags(void **state)
{
	predict_req p;
	char *body;

	(void)state;
	body = predict_body("{}", "{\"T1\": true, \"T2\": \"True\", \"T3\": \"true\", \"T4\": 1,"
	                          " \"T5\": \"TRUE\", \"T6\": \"1\", \"F1\": false, \"F2\": \"False\","
	                          " \"F3\": \"false\", \"F4\": 0, \"F5\": \"FALSE\", \"F6\": \"0\"}");
	predict_ok(body, &p);
	assert_int_equal(p.n_offers, 12);
	assert_int_equal(p.n_allowed, 6);
	for (int i = 1; i <= 6; i++) {
		char t[16], f[16];

		snprintf(t, sizeof(t), "T%d", i);
		snprintf(f, sizeof(f), "F%d", i);
		expect_flag(&p, t, 1);
		expect_flag(&p, f, 0);
	}
	request_predict_free(&p);
	free(body);

	/* request_flag directly, including what is not a flag. */
	{
		json_t *v;

		assert_int_equal(request_flag(json_true()), 1);
		assert_int_equal(request_flag(json_false()), 0);
		assert_int_equal(request_flag(NULL), -1);
		assert_int_equal(request_flag(json_null()), -1);
		v = json_integer(2);
		assert_int_equal(request_flag(v), -1);
		json_decref(v);
		v = json_integer(-1);
		assert_int_equal(request_flag(v), -1);
		json_decref(v);
		v = json_real(1.0);
		assert_int_equal(request_flag(v), -1);
		json_decref(v);
		v = json_string("yes");
		assert_int_equal(request_flag(v), -1);
		json_decref(v);
		v = json_string("");
		assert_int_equal(request_flag(v), -1);
		json_decref(v);
		v = json_string(" true");
		assert_int_equal(request_flag(v), -1);
		json_decref(v);
		v = json_string("tRuE");
		assert_int_equal(request_flag(v), 1);
		json_decref(v);
	}
	body = predict_body("{}", "{\"OFFER_1\": \"yes\"}");
	predict_bad(body, ERR_INVAL, "offers.OFFER_1", "offer flags must be");
	free(body);
	body = predict_body("{}", "{\"OFFER_1\": true, \"OFFER_2\": 2}");
	predict_bad(body, ERR_INVAL, "offers.OFFER_2", "offer flags must be");
	free(body);
	body = predict_body("{}", "{\"OFFER_1\": null}");
	predict_bad(body, ERR_INVAL, "offers.OFFER_1", "offer flags must be");
	free(body);
}

/* The example body printed in the case study: quotes inside strings unescaped. */
static const char brief_example[] =
    "{ \"customer_id\": \"152467\",\n"
    " \"timestamp\": \"2022-01-01\",\n"
    " \"states\": \"{\"age\": 18, \"gender\": \"M\", \"client-since\": \"2020-01-01\", "
    "\"region\":\n"
    " \"Europa\", \"last_offer\": \"OFFER_5\" }\",\n"
    " \"offers\": \"{\"OFFER_1\": True, \"OFFER_2\": True, \"OFFER_3\": False, \"OFFER_4\": "
    "True,\n"
    " \"OFFER_5\":True, \"OFFER_6\": False, \"OFFER_7\": False, \"OFFER_8\": True, "
    "\"OFFER_9\":\n"
    " False, \"OFFER_10\": True}\"\n"
    "}";

static void test_predict_brief_example(void **state)
{
	predict_req p;
	req_error e;
	int rc;

	(void)state;
	rc = parse_predict(brief_example, &p, &e);
	assert_int_equal(rc, ERR_SYNTAX);
	assert_int_equal(e.err, ERR_SYNTAX);
	assert_string_equal(e.field, "");
	/* It points at the problem: line 3, the word the quote cut off. */
	if (strstr(e.message, "line 3, column 17") == NULL || strstr(e.message, "'age'") == NULL ||
	    strstr(e.message, "byte 72") == NULL)
		fail_msg("message does not point at the problem: %s", e.message);
	assert_null(p.states_text);
}

static void test_predict_syntax_errors(void **state)
{
	(void)state;
	predict_bad("", ERR_SYNTAX, "", "empty");
	predict_bad("{", ERR_SYNTAX, "", "malformed JSON");
	predict_bad("{\"customer_id\": \"1\",}", ERR_SYNTAX, "", "malformed JSON");
	predict_bad("[1, 2]", ERR_SYNTAX, "", "must be a JSON object, got an array");
	/* jansson itself refuses a scalar at the top level. */
	predict_bad("\"x\"", ERR_SYNTAX, "", "'[' or '{' expected");
	predict_bad("null", ERR_SYNTAX, "", "'[' or '{' expected");
	/* Duplicate keys are ambiguous: refused, with the position. */
	predict_bad("{\"customer_id\": \"1\", \"customer_id\": \"2\"}", ERR_SYNTAX, "", "duplicate");
	/* Invalid UTF-8 in the body. */
	predict_bad("{\"customer_id\": \"\xff\"}", ERR_SYNTAX, "", "malformed JSON");
	/* A NUL byte inside the declared length. */
	{
		predict_req p;
		req_error e;
		static const char body[] = "{\"customer_id\": \"1\"}\0{}";

		assert_int_equal(request_parse_predict(body, sizeof(body) - 1, &p, &e), ERR_SYNTAX);
	}
}

static void test_predict_field_errors(void **state)
{
	char *body;
	char longid[200];

	(void)state;
	predict_bad("{\"timestamp\": \"2022-01-01\", \"states\": {}, \"offers\": {\"A\": 1}}", ERR_INVAL,
	            "customer_id", "customer_id is required");
	predict_bad("{\"customer_id\": null, \"timestamp\": \"2022-01-01\", \"states\": {},"
	            " \"offers\": {\"A\": 1}}",
	            ERR_INVAL, "customer_id", "required");
	predict_bad("{\"customer_id\": \"  \", \"timestamp\": \"2022-01-01\", \"states\": {},"
	            " \"offers\": {\"A\": 1}}",
	            ERR_INVAL, "customer_id", "must not be empty");
	predict_bad("{\"customer_id\": [1], \"timestamp\": \"2022-01-01\", \"states\": {},"
	            " \"offers\": {\"A\": 1}}",
	            ERR_INVAL, "customer_id", "must be a string, got an array");
	predict_bad("{\"customer_id\": 1.5, \"timestamp\": \"2022-01-01\", \"states\": {},"
	            " \"offers\": {\"A\": 1}}",
	            ERR_INVAL, "customer_id", "must be a string, got a number");
	/* An escaped NUL is refused by the JSON parser (no JSON_ALLOW_NUL). */
	predict_bad("{\"customer_id\": \"a\\u0000b\", \"timestamp\": \"2022-01-01\","
	            " \"states\": {}, \"offers\": {\"A\": 1}}",
	            ERR_SYNTAX, "", "\\u0000 is not allowed");
	/* CUSTOMER_ID_MAX characters pass, one more does not. */
	memset(longid, 'x', CUSTOMER_ID_MAX);
	longid[CUSTOMER_ID_MAX] = '\0';
	body = xasprintf("{\"customer_id\": \"%s\", \"timestamp\": \"2022-01-01\", \"states\": {},"
	                 " \"offers\": {\"A\": 1}}",
	                 longid);
	{
		predict_req p;

		predict_ok(body, &p);
		assert_int_equal(strlen(p.customer_id), CUSTOMER_ID_MAX);
		request_predict_free(&p);
	}
	free(body);
	longid[CUSTOMER_ID_MAX] = 'x';
	longid[CUSTOMER_ID_MAX + 1] = '\0';
	body = xasprintf("{\"customer_id\": \"%s\", \"timestamp\": \"2022-01-01\", \"states\": {},"
	                 " \"offers\": {\"A\": 1}}",
	                 longid);
	predict_bad(body, ERR_INVAL, "customer_id", "longer than 128");
	free(body);

	predict_bad("{\"customer_id\": \"1\", \"states\": {}, \"offers\": {\"A\": 1}}", ERR_INVAL,
	            "timestamp", "timestamp is required");
	predict_bad("{\"customer_id\": \"1\", \"timestamp\": \"2022-02-30\", \"states\": {},"
	            " \"offers\": {\"A\": 1}}",
	            ERR_INVAL, "timestamp", "2022-02-30");
	predict_bad("{\"customer_id\": \"1\", \"timestamp\": 20220101, \"states\": {},"
	            " \"offers\": {\"A\": 1}}",
	            ERR_INVAL, "timestamp", "YYYY-MM-DD");
	predict_bad("{\"customer_id\": \"1\", \"timestamp\": \"2022-01-01\", \"offers\": {\"A\": 1}}",
	            ERR_INVAL, "states", "states is required");
	predict_bad("{\"customer_id\": \"1\", \"timestamp\": \"2022-01-01\", \"states\": {}}", ERR_INVAL,
	            "offers", "offers is required");
}

static void test_predict_states_errors(void **state)
{
	char *body;
	buf b;

	(void)state;
	body = predict_body("[1]", "{\"A\": 1}");
	predict_bad(body, ERR_INVAL, "states", "got an array");
	free(body);
	body = predict_body("5", "{\"A\": 1}");
	predict_bad(body, ERR_INVAL, "states", "got an integer");
	free(body);
	/* A string that is neither JSON nor a Python dict names both failures. */
	body = predict_body("\"{age: 18}\"", "{\"A\": 1}");
	predict_bad(body, ERR_INVAL, "states", "neither JSON");
	free(body);
	/* A string holding something other than an object. */
	body = predict_body("\"[1, 2]\"", "{\"A\": 1}");
	predict_bad(body, ERR_INVAL, "states", "must hold an object, got an array");
	free(body);
	body = predict_body("\"'x'\"", "{\"A\": 1}");
	predict_bad(body, ERR_INVAL, "states", "must hold an object, got a string");
	free(body);
	/* State values are scalars of bounded size. */
	body = predict_body("{\"tags\": [1]}", "{\"A\": 1}");
	predict_bad(body, ERR_INVAL, "states", "states.tags must be a scalar");
	free(body);
	body = predict_body("{\"x\": {\"y\": 1}}", "{\"A\": 1}");
	predict_bad(body, ERR_INVAL, "states", "scalar");
	free(body);
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_adds(&b, "{\"note\": \""), 0);
	for (int i = 0; i < REQ_STRING_MAX + 1; i++)
		assert_int_equal(buf_adds(&b, "n"), 0);
	assert_int_equal(buf_adds(&b, "\"}"), 0);
	body = predict_body(b.data, "{\"A\": 1}");
	predict_bad(body, ERR_INVAL, "states", "longer than 256");
	free(body);
	buf_free(&b);
	/* At most REQ_STATE_FIELDS_MAX fields. */
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_adds(&b, "{"), 0);
	for (int i = 0; i <= REQ_STATE_FIELDS_MAX; i++)
		assert_int_equal(buf_addf(&b, "%s\"k%d\": %d", i ? ", " : "", i, i), 0);
	assert_int_equal(buf_adds(&b, "}"), 0);
	body = predict_body(b.data, "{\"A\": 1}");
	predict_bad(body, ERR_INVAL, "states", "more than 64 fields");
	free(body);
	buf_free(&b);
}

/* Issue 15: one offer, one id, on every input path (object, JSON string, Python dict). */
static void test_offer_ids_normalised(void **state)
{
	static const char *const shapes[] = {
	    "{\"offer_1\": true, \"Offer-2\": false, \"offer 3\": \"True\", \"OFFER4\": 1, \"A\": 1}",
	    "\"{\\\"offer_1\\\": true, \\\"Offer-2\\\": false, \\\"offer 3\\\": \\\"True\\\", "
	    "\\\"OFFER4\\\": 1, \\\"A\\\": 1}\"",
	    "\"{'offer_1': True, 'Offer-2': False, 'offer 3': 'True', 'OFFER4': 1, 'A': 1}\"",
	};
	static const char *const want[] = {"OFFER_1", "OFFER_2", "OFFER_3", "OFFER_4", "A"};
	static const char *const collide[] = {
	    "{\"OFFER_1\": true, \"offer_1\": true, \"Offer_1\": true}",
	    "\"{\\\"OFFER_1\\\": true, \\\"offer_1\\\": false}\"",
	    "\"{'offer_1': True, 'OFFER_1': False}\"",
	};
	predict_req p;
	reward_req r;

	(void)state;
	for (size_t k = 0; k < UTIL_ARRAY_LEN(shapes); k++) {
		char *body = predict_body("{}", shapes[k]);

		predict_ok(body, &p);
		assert_int_equal(p.n_offers, UTIL_ARRAY_LEN(want));
		for (size_t i = 0; i < UTIL_ARRAY_LEN(want); i++)
			assert_string_equal(p.offers[i], want[i]);
		expect_flag(&p, "OFFER_1", 1);
		expect_flag(&p, "OFFER_2", 0);
		expect_flag(&p, "OFFER_3", 1);
		request_predict_free(&p);
		free(body);
	}
	for (size_t k = 0; k < UTIL_ARRAY_LEN(collide); k++) {
		char *body = predict_body("{}", collide[k]);

		predict_bad(body, ERR_INVAL, "offers", "are both OFFER_1");
		free(body);
	}
	/* Rewards name offers the same way. */
	reward_ok("{\"customer_id\": \"c\", \"accepted_one_of_the_three_offers\": true, "
	          "\"accepted_offer\": \"offer_7\", \"clicked_offers\": [\"Offer-2\", \"offer_5\"]}",
	          &r);
	assert_string_equal(r.accepted_offer, "OFFER_7");
	assert_string_equal(r.clicked, "OFFER_2,OFFER_5");
	request_reward_free(&r);
	reward_bad("{\"customer_id\": \"c\", \"accepted_one_of_the_three_offers\": false, "
	           "\"clicked_offers\": [\"offer_2\", \"OFFER_2\"]}",
	           ERR_INVAL, "clicked_offers", "repeats an offer");
}

static void test_predict_offers_errors(void **state)
{
	char *body;
	buf b;

	(void)state;
	body = predict_body("{}", "{}");
	predict_bad(body, ERR_INVAL, "offers", "offers is empty");
	free(body);
	body = predict_body("{}", "{\"OFFER_1\": false, \"OFFER_2\": \"False\"}");
	predict_bad(body, ERR_INVAL, "offers", "no offer is flagged true");
	free(body);
	body = predict_body("{}", "[\"OFFER_1\"]");
	predict_bad(body, ERR_INVAL, "offers", "got an array");
	free(body);
	body = predict_body("{}", "{\"A,B\": true}");
	predict_bad(body, ERR_INVAL, "offers.A,B", "commas");
	free(body);
	body = predict_body("{}", "{\"A\\nB\": true}");
	predict_bad(body, ERR_INVAL, "offers.A\nB", "control characters");
	free(body);
	body = predict_body("{}", "{\"\": true}");
	predict_bad(body, ERR_INVAL, "offers.", "1 to 63 characters");
	free(body);
	body = predict_body("{}",
	                    "{\"OFFER_0123456789012345678901234567890123456789012345678901234567\":"
	                    " true}");
	predict_bad(body, ERR_INVAL, "offers.OFFER_012345678901234567890123456789012345678901",
	            "1 to 63");
	free(body);
	/* REQ_OFFERS_MAX offers pass, one more does not. */
	for (int n = REQ_OFFERS_MAX; n <= REQ_OFFERS_MAX + 1; n++) {
		buf_init(&b, 1 << 20);
		assert_int_equal(buf_adds(&b, "{"), 0);
		for (int i = 1; i <= n; i++)
			assert_int_equal(buf_addf(&b, "%s\"OFFER_%d\": true", i > 1 ? ", " : "", i), 0);
		assert_int_equal(buf_adds(&b, "}"), 0);
		body = predict_body("{}", b.data);
		if (n == REQ_OFFERS_MAX) {
			predict_req p;

			predict_ok(body, &p);
			assert_int_equal(p.n_offers, REQ_OFFERS_MAX);
			assert_int_equal(p.n_allowed, REQ_OFFERS_MAX);
			request_predict_free(&p);
		} else {
			predict_bad(body, ERR_INVAL, "offers", "more than 64 entries");
		}
		free(body);
		buf_free(&b);
	}
}

/* --- customer normalisation ------------------------------------------------------ */

static void customer_of(const char *states_json, customer_attrs *c)
{
	json_t *s = json_loads(states_json, 0, NULL);
	req_error e;

	assert_non_null(s);
	if (request_customer_from_states(s, c, &e) != 0)
		fail_msg("states %s rejected: %s", states_json, e.message);
	json_decref(s);
}

static void customer_bad(const char *states_json, const char *part)
{
	json_t *s = json_loads(states_json, 0, NULL);
	customer_attrs c;
	req_error e;

	assert_non_null(s);
	assert_int_equal(request_customer_from_states(s, &c, &e), ERR_INVAL);
	assert_string_equal(e.field, "states.age");
	if (strstr(e.message, part) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", e.message, part);
	json_decref(s);
}

static void test_customer_gender(void **state)
{
	static const struct {
		const char *in;
		char want;
	} cases[] = {
	    {"M", 'M'},  {"m", 'M'}, {"Male", 'M'},   {"MALE", 'M'},   {" male ", 'M'}, {"man", 'M'},
	    {"F", 'F'},  {"f", 'F'}, {"Female", 'F'}, {"female", 'F'}, {"Woman", 'F'},  {"", 'U'},
	    {"  ", 'U'}, {"x", 'U'}, {"Mal", 'U'},    {"other", 'U'},
	};
	customer_attrs c;

	(void)state;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
		char *js = xasprintf("{\"gender\": \"%s\"}", cases[i].in);

		customer_of(js, &c);
		if (c.gender != cases[i].want)
			fail_msg("gender \"%s\" -> %c, want %c", cases[i].in, c.gender, cases[i].want);
		free(js);
	}
	/* Not a string, or absent: unknown. */
	customer_of("{\"gender\": 1}", &c);
	assert_int_equal(c.gender, 'U');
	customer_of("{\"gender\": null}", &c);
	assert_int_equal(c.gender, 'U');
	customer_of("{}", &c);
	assert_int_equal(c.gender, 'U');
}

static void test_customer_region(void **state)
{
	static const struct {
		const char *in;
		const char *want;
	} cases[] = {
	    {"Europa", "Europa"},
	    {"europa", "Europa"},
	    {"Europe", "Europa"},
	    {" EU ", "Europa"},
	    {"Americas", "Americas"},
	    {"america", "Americas"},
	    {"North America", "Americas"},
	    {"LATAM", "Americas"},
	    {"Asia", "Asia"},
	    {"APAC", "Asia"},
	    {"", "Unknown"},
	    {"Mars", "Unknown"},
	    {"Europa!", "Unknown"},
	};
	customer_attrs c;

	(void)state;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
		char *js = xasprintf("{\"region\": \"%s\"}", cases[i].in);

		customer_of(js, &c);
		if (strcmp(c.region, cases[i].want) != 0)
			fail_msg("region \"%s\" -> %s, want %s", cases[i].in, c.region, cases[i].want);
		free(js);
	}
	customer_of("{\"region\": 3}", &c);
	assert_string_equal(c.region, "Unknown");
}

static void test_customer_age(void **state)
{
	customer_attrs c;

	(void)state;
	customer_of("{\"age\": 18}", &c);
	assert_int_equal(c.age, 18);
	customer_of("{\"age\": 71.0}", &c);
	assert_int_equal(c.age, 71);
	customer_of("{\"age\": 29.9}", &c);
	assert_int_equal(c.age, 29); /* truncated: still under 30 */
	customer_of("{\"age\": \" 45 \"}", &c);
	assert_int_equal(c.age, 45);
	customer_of("{\"age\": \"\"}", &c);
	assert_int_equal(c.age, -1);
	customer_of("{\"age\": null}", &c);
	assert_int_equal(c.age, -1);
	customer_of("{\"age\": 0}", &c);
	assert_int_equal(c.age, 0);
	customer_of("{\"age\": 150}", &c);
	assert_int_equal(c.age, 150);
	customer_bad("{\"age\": 151}", "between 0 and 150");
	customer_bad("{\"age\": -2}", "between 0 and 150");
	customer_bad("{\"age\": \"abc\"}", "age must be a number, got \"abc\"");
	customer_bad("{\"age\": true}", "got a boolean");
	customer_bad("{\"age\": \"1e400\"}", "must be a number");
	customer_bad("{\"age\": 1e300}", "between 0 and 150");
	/* -1 is not "unknown" when a client sends it: refused like any negative. */
	customer_bad("{\"age\": -1}", "between 0 and 150");
	customer_bad("{\"age\": \"-1\"}", "between 0 and 150");
	/* Decimal only. */
	customer_bad("{\"age\": \"0x10\"}", "must be a number");
	customer_bad("{\"age\": \"nan\"}", "must be a number");
}

static void test_customer_all(void **state)
{
	customer_attrs c;

	(void)state;
	customer_of("{\"age\": 45, \"gender\": \"f\", \"region\": \"Americas\", \"extra\": 1}", &c);
	assert_int_equal(c.age, 45);
	assert_int_equal(c.gender, 'F');
	assert_string_equal(c.region, "Americas");
	/* The normalised fields also come out of a full /predict body. */
	{
		predict_req p;
		char *body = predict_body("\"{'age': '', 'gender': 'Male', 'region': 'Europe'}\"",
		                          "{\"A\": 1}");

		predict_ok(body, &p);
		assert_int_equal(p.customer.age, -1);
		assert_int_equal(p.customer.gender, 'M');
		assert_string_equal(p.customer.region, "Europa");
		request_predict_free(&p);
		free(body);
	}
}

static void test_predict_timestamp_kept(void **state)
{
	predict_req p;

	(void)state;
	predict_ok("{\"customer_id\": \"1\", \"timestamp\": \"2024-02-29T23:59:59.5+05:30\","
	           " \"states\": {}, \"offers\": {\"A\": 1}}",
	           &p);
	assert_string_equal(p.timestamp, "2024-02-29T23:59:59.5+05:30");
	assert_int_equal(p.date.month, 2);
	assert_int_equal(p.date.day, 29);
	assert_int_equal(p.date.weekday, 4);
	request_predict_free(&p);
	/* Longer than the timestamp field: refused, not truncated into a date. */
	predict_bad("{\"customer_id\": \"1\", \"timestamp\": "
	            "\"2024-02-29T23:59:59.123456789012345678901234567890Z\","
	            " \"states\": {}, \"offers\": {\"A\": 1}}",
	            ERR_INVAL, "timestamp", "longer than 39");
}

/* --- /rewards ------------------------------------------------------------------------ */

static void test_reward_spellings(void **state)
{
	reward_req r;

	(void)state;
	reward_ok("{\"customer_id\": \"152467\", \"timestamp\": \"2022-01-02\","
	          " \"accepted_one_of_the_three_offers\": true}",
	          &r);
	assert_string_equal(r.customer_id, "152467");
	assert_string_equal(r.timestamp, "2022-01-02");
	assert_int_equal(r.accepted, 1);
	assert_int_equal(r.episode_id, 0);
	assert_string_equal(r.accepted_offer, "");
	assert_null(r.clicked);
	request_reward_free(&r);
	/* The brief's spelling, with a space. */
	reward_ok("{\"customer_id\": \"152467\", \"timestamp\": \"2022-01-02\","
	          " \"accepted_one_of the_three_offers\": false}",
	          &r);
	assert_int_equal(r.accepted, 0);
	request_reward_free(&r);
	reward_ok("{\"customer_id\": \"152467\", \"accepted_one_of the_three_offers\": \"True\"}", &r);
	assert_int_equal(r.accepted, 1);
	assert_string_equal(r.timestamp, ""); /* optional */
	request_reward_free(&r);
	/* Both spellings: they must agree (issue 15.2), in any of the flag forms. */
	reward_bad("{\"customer_id\": \"1\", \"accepted_one_of_the_three_offers\": 0,"
	           " \"accepted_one_of the_three_offers\": 1}",
	           ERR_INVAL, "accepted_one_of_the_three_offers", "disagree");
	reward_ok("{\"customer_id\": \"1\", \"accepted_one_of_the_three_offers\": true,"
	          " \"accepted_one_of the_three_offers\": \"True\"}",
	          &r);
	assert_int_equal(r.accepted, 1);
	request_reward_free(&r);
	/* Every flag spelling. */
	{
		static const struct {
			const char *v;
			int want;
		} flags[] = {{"true", 1},     {"false", 0},     {"1", 1},        {"0", 0},
		             {"\"True\"", 1}, {"\"False\"", 0}, {"\"true\"", 1}, {"\"false\"", 0},
		             {"\"1\"", 1},    {"\"0\"", 0}};

		for (size_t i = 0; i < UTIL_ARRAY_LEN(flags); i++) {
			char *body = xasprintf("{\"customer_id\": \"1\","
			                       " \"accepted_one_of_the_three_offers\": %s}",
			                       flags[i].v);

			reward_ok(body, &r);
			if (r.accepted != flags[i].want)
				fail_msg("flag %s -> %d", flags[i].v, r.accepted);
			request_reward_free(&r);
			free(body);
		}
	}
}

static void test_reward_optional_fields(void **state)
{
	reward_req r;

	(void)state;
	/* Naming the accepted offer of a refused episode is a contradiction (issue 15.2). */
	reward_bad("{\"customer_id\": \"1\", \"accepted_one_of_the_three_offers\": false,"
	           " \"accepted_offer\": \"OFFER_4\"}",
	           ERR_INVAL, "accepted_offer", "is false");
	reward_ok("{\"customer_id\": \"1\", \"timestamp\": \"2022-01-02T10:00:00Z\","
	          " \"accepted_one_of_the_three_offers\": true, \"episode_id\": 12,"
	          " \"accepted_offer\": \"OFFER_4\", \"clicked_offers\": [\"OFFER_1\", \"OFFER_4\"]}",
	          &r);
	assert_int_equal(r.episode_id, 12);
	assert_string_equal(r.accepted_offer, "OFFER_4");
	assert_int_equal(r.accepted, 1);
	assert_string_equal(r.clicked, "OFFER_1,OFFER_4");
	request_reward_free(&r);
	assert_null(r.clicked);
	/* Empty and null optional fields are as if absent. */
	reward_ok("{\"customer_id\": \"1\", \"accepted_one_of_the_three_offers\": false,"
	          " \"episode_id\": null, \"accepted_offer\": null, \"clicked_offers\": []}",
	          &r);
	assert_int_equal(r.episode_id, 0);
	assert_int_equal(r.accepted, 0);
	assert_null(r.clicked);
	request_reward_free(&r);
}

static void test_reward_errors(void **state)
{
	buf b;

	(void)state;
	reward_bad("", ERR_SYNTAX, "", "empty");
	reward_bad("{\"customer_id\": \"1\", \"accepted_one_of_the_three_offers\": tru}", ERR_SYNTAX, "",
	           "malformed JSON at line 1");
	reward_bad("[]", ERR_SYNTAX, "", "must be a JSON object");
	reward_bad("{\"accepted_one_of_the_three_offers\": true}", ERR_INVAL, "customer_id", "required");
	reward_bad("{\"customer_id\": \"1\"}", ERR_INVAL, "accepted_one_of_the_three_offers",
	           "required");
	reward_bad("{\"customer_id\": \"1\", \"accepted_one_of_the_three_offers\": \"maybe\"}",
	           ERR_INVAL, "accepted_one_of_the_three_offers", "must be a boolean");
	reward_bad("{\"customer_id\": \"1\", \"accepted_one_of_the_three_offers\": null}", ERR_INVAL,
	           "accepted_one_of_the_three_offers", "must be a boolean");
	reward_bad("{\"customer_id\": \"1\", \"accepted_one_of_the_three_offers\": 2}", ERR_INVAL,
	           "accepted_one_of_the_three_offers", "must be a boolean");
	reward_bad("{\"customer_id\": \"1\", \"timestamp\": \"yesterday\","
	           " \"accepted_one_of_the_three_offers\": true}",
	           ERR_INVAL, "timestamp", "yesterday");
	reward_bad("{\"customer_id\": \"1\", \"accepted_one_of_the_three_offers\": true,"
	           " \"episode_id\": 0}",
	           ERR_INVAL, "episode_id", "positive integer");
	reward_bad("{\"customer_id\": \"1\", \"accepted_one_of_the_three_offers\": true,"
	           " \"episode_id\": -3}",
	           ERR_INVAL, "episode_id", "positive integer");
	reward_bad("{\"customer_id\": \"1\", \"accepted_one_of_the_three_offers\": true,"
	           " \"episode_id\": \"12\"}",
	           ERR_INVAL, "episode_id", "positive integer");
	reward_bad("{\"customer_id\": \"1\", \"accepted_one_of_the_three_offers\": true,"
	           " \"episode_id\": 1.5}",
	           ERR_INVAL, "episode_id", "positive integer");
	reward_bad("{\"customer_id\": \"1\", \"accepted_one_of_the_three_offers\": true,"
	           " \"accepted_offer\": \"\"}",
	           ERR_INVAL, "accepted_offer", "offer name");
	reward_bad("{\"customer_id\": \"1\", \"accepted_one_of_the_three_offers\": true,"
	           " \"accepted_offer\": \"A,B\"}",
	           ERR_INVAL, "accepted_offer", "offer name");
	reward_bad("{\"customer_id\": \"1\", \"accepted_one_of_the_three_offers\": true,"
	           " \"accepted_offer\": 7}",
	           ERR_INVAL, "accepted_offer", "offer name");
	reward_bad("{\"customer_id\": \"1\", \"accepted_one_of_the_three_offers\": true,"
	           " \"clicked_offers\": \"OFFER_1\"}",
	           ERR_INVAL, "clicked_offers", "array");
	reward_bad("{\"customer_id\": \"1\", \"accepted_one_of_the_three_offers\": true,"
	           " \"clicked_offers\": [\"OFFER_1\", \"X,Y\"]}",
	           ERR_INVAL, "clicked_offers", "clicked_offers[1]");
	reward_bad("{\"customer_id\": \"1\", \"accepted_one_of_the_three_offers\": true,"
	           " \"clicked_offers\": [\"OFFER_1\", 3]}",
	           ERR_INVAL, "clicked_offers", "clicked_offers[1]");
	/* At most REQ_CLICKED_MAX clicked offers. */
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_adds(&b,
	                          "{\"customer_id\": \"1\", \"accepted_one_of_the_three_offers\": true,"
	                          " \"clicked_offers\": ["),
	                 0);
	for (int i = 0; i <= REQ_CLICKED_MAX; i++)
		assert_int_equal(buf_addf(&b, "%s\"O%d\"", i ? "," : "", i), 0);
	assert_int_equal(buf_adds(&b, "]}"), 0);
	reward_bad(b.data, ERR_INVAL, "clicked_offers", "at most 64");
	buf_free(&b);
	/* An offer clicked twice is one click: a repeat is refused. */
	reward_bad("{\"customer_id\": \"1\", \"accepted_one_of_the_three_offers\": true,"
	           " \"clicked_offers\": [\"OFFER_1\", \"OFFER_2\", \"OFFER_1\"]}",
	           ERR_INVAL, "clicked_offers", "clicked_offers[2] repeats");
}

/* An admin body's members: the first one not taken, or NULL. */
static void test_unknown_member(void **state)
{
	static const char *const keys[] = {"policies", "from", "to"};
	json_t *o = json_loads("{\"from\": 1, \"to\": 2, \"form\": 3}", 0, NULL);
	json_t *ok = json_loads("{\"to\": 1, \"policies\": []}", 0, NULL);
	json_t *empty = json_object();

	(void)state;
	assert_string_equal(request_unknown_member(o, keys, 3), "form");
	assert_null(request_unknown_member(ok, keys, 3));
	assert_null(request_unknown_member(empty, keys, 0));
	/* No member is taken: any is unknown. */
	assert_string_equal(request_unknown_member(ok, keys, 0), "to");
	json_decref(o);
	json_decref(ok);
	json_decref(empty);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_predict_object_body),    cmocka_unit_test(test_predict_json_strings),
	    cmocka_unit_test(test_predict_python_strings), cmocka_unit_test(test_predict_mixed_shapes),
	    cmocka_unit_test(test_predict_flags),          cmocka_unit_test(test_predict_brief_example),
	    cmocka_unit_test(test_predict_syntax_errors),  cmocka_unit_test(test_predict_field_errors),
	    cmocka_unit_test(test_predict_states_errors),  cmocka_unit_test(test_predict_offers_errors),
	    cmocka_unit_test(test_customer_gender),        cmocka_unit_test(test_customer_region),
	    cmocka_unit_test(test_customer_age),           cmocka_unit_test(test_customer_all),
	    cmocka_unit_test(test_predict_timestamp_kept), cmocka_unit_test(test_reward_spellings),
	    cmocka_unit_test(test_reward_optional_fields), cmocka_unit_test(test_reward_errors),
	    cmocka_unit_test(test_offer_ids_normalised),   cmocka_unit_test(test_unknown_member),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
