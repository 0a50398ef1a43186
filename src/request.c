/*
 * request.c — turns a request body into a validated struct.
 *
 * Clients were shown three shapes for `states` and `offers`: a JSON object,
 * a string holding JSON, and a string holding a Python dict literal
 * (single quotes, True/False). All three are accepted. Offer flags may be
 * booleans, the strings "True"/"False" in any case, or 1/0.
 */
#include "request.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pylit.h"
#include "util.h"

static int predict_from_json(json_t *root, predict_req *out, req_error *e);
int request_error(req_error *e, int err, const char *field, const char *fmt, ...)
{
	va_list ap;

	e->err = err;
	util_strlcpy(e->field, field ? field : "", sizeof(e->field));
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return err;
}

const char *request_json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

json_t *request_body(const char *body, size_t len, req_error *e)
{
	json_error_t jerr;
	json_t *root;

	if (len == 0) {
		request_error(e, ERR_SYNTAX, "", "request body is empty; expected a JSON object");
		return NULL;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		request_error(e, ERR_SYNTAX, "", "malformed JSON at line %d, column %d (byte %d): %s",
		              jerr.line, jerr.column, jerr.position, jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		request_error(e, ERR_SYNTAX, "", "request body must be a JSON object, got %s",
		              request_json_type_name(root));
		json_decref(root);
		return NULL;
	}
	return root;
}

/*
 * `states` and `offers` are required and arrive as an object or a string
 * holding one (JSON or a Python literal). *raw is root's member as sent.
 * Returns 0 and a new reference to an object in *obj, or e's error.
 */
static int get_object(json_t *root, const char *field, json_t **obj, json_t **raw, req_error *e)
{
	json_t *v = json_object_get(root, field);
	const char *s;
	size_t len;
	json_error_t jerr;
	json_t *o;
	char perr[128];

	*obj = NULL;
	*raw = v;
	if (v == NULL || json_is_null(v))
		return request_error(e, ERR_INVAL, field, "%s is required", field);
	if (json_is_object(v)) {
		*obj = json_incref(v);
		return 0;
	}
	if (!json_is_string(v)) {
		return request_error(e, ERR_INVAL, field,
		                     "%s must be an object or a string holding one, got %s", field,
		                     request_json_type_name(v));
	}
	s = json_string_value(v);
	len = json_string_length(v);
	o = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL) {
		o = pylit_parse(s, len, perr, sizeof(perr));
		if (o == NULL) {
			return request_error(
			    e, ERR_INVAL, field,
			    "%s is a string but neither JSON (%s, column %d) nor a Python dict (%s)",
			    field, jerr.text, jerr.column, perr);
		}
	}
	if (!json_is_object(o)) {
		request_error(e, ERR_INVAL, field, "%s must hold an object, got %s", field,
		              request_json_type_name(o));
		json_decref(o);
		return e->err;
	}
	*obj = o;
	return 0;
}

static int get_string(json_t *root, const char *key, char *out, size_t outlen, int required,
                      req_error *e)
{
	json_t *v = json_object_get(root, key);
	const char *s;

	out[0] = '\0';
	if (v == NULL || json_is_null(v)) {
		if (required)
			return request_error(e, ERR_INVAL, key, "%s is required", key);
		return 0;
	}
	if (json_is_integer(v)) {
		/* Customer ids are often sent as numbers; keep them as text. */
		snprintf(out, outlen, "%lld", (long long)json_integer_value(v));
		return 0;
	}
	if (!json_is_string(v))
		return request_error(e, ERR_INVAL, key, "%s must be a string, got %s", key,
		                     request_json_type_name(v));
	s = json_string_value(v);
	if (json_string_length(v) >= outlen)
		return request_error(e, ERR_INVAL, key, "%s is longer than %zu characters", key,
		                     outlen - 1);
	if (strlen(s) != json_string_length(v))
		return request_error(e, ERR_INVAL, key, "%s contains a NUL character", key);
	util_strlcpy(out, s, outlen);
	util_trim(out);
	if (required && out[0] == '\0')
		return request_error(e, ERR_INVAL, key, "%s must not be empty", key);
	return 0;
}

const char *request_unknown_member(json_t *o, const char *const *keys, size_t n)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v) {
		size_t k = 0;

		while (k < n && strcmp(keys[k], key) != 0)
			k++;
		if (k == n)
			return key;
	}
	return NULL;
}

int request_flag(json_t *v)
{
	int flag;

	if (json_is_true(v))
		return 1;
	if (json_is_false(v))
		return 0;
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		return i == 1 ? 1 : i == 0 ? 0 : -1;
	}
	if (json_is_string(v) && customer_flag(json_string_value(v), CUSTOMER_JSON, &flag) == 0)
		return flag;
	return -1;
}

/* states.age: a number or a string holding one; absent, null or blank is unknown (-1). */
static int parse_age(json_t *v, int *out, req_error *e)
{
	char tmp[REQ_STRING_MAX + 1];
	double age;

	*out = -1;
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		age = (double)json_integer_value(v);
	} else if (json_is_real(v)) {
		age = json_real_value(v);
	} else if (json_is_string(v)) {
		util_strlcpy(tmp, json_string_value(v), sizeof(tmp));
		if (util_trim(tmp)[0] == '\0')
			return 0;
		if (customer_age_text(util_trim(tmp), &age) != 0)
			return request_error(e, ERR_INVAL, "states.age",
			                     "age must be a number, got \"%s\"", json_string_value(v));
	} else {
		return request_error(e, ERR_INVAL, "states.age", "age must be a number, got %s",
		                     request_json_type_name(v));
	}
	/* -1 is refused like any negative: only an absent or blank age is unknown. */
	if (customer_age(age, out) != 0)
		return request_error(e, ERR_INVAL, "states.age", "age must be between 0 and %d, got %g",
		                     CUSTOMER_AGE_MAX, age);
	return 0;
}

int request_customer_from_states(json_t *states, customer_attrs *c, req_error *e)
{
	json_t *v;
	int rc;

	customer_attrs_init(c);
	if (json_object_size(states) > REQ_STATE_FIELDS_MAX)
		return request_error(e, ERR_INVAL, "states", "states has more than %d fields",
		                     REQ_STATE_FIELDS_MAX);
	rc = parse_age(json_object_get(states, customer_field_key(CUSTOMER_F_AGE)), &c->age, e);
	if (rc != 0)
		return rc;
	v = json_object_get(states, customer_field_key(CUSTOMER_F_GENDER));
	if (json_is_string(v))
		c->gender = customer_gender(json_string_value(v));
	v = json_object_get(states, customer_field_key(CUSTOMER_F_REGION));
	if (json_is_string(v))
		util_strlcpy(c->region, customer_region(json_string_value(v)), sizeof(c->region));
	return 0;
}

/* Every state value is bounded; deep or huge values are refused. */
static int check_states(json_t *states, req_error *e)
{
	const char *key;
	json_t *v;

	json_object_foreach(states, key, v) {
		if (strlen(key) > REQ_STRING_MAX)
			return request_error(e, ERR_INVAL, "states",
			                     "a states key is longer than %d characters",
			                     REQ_STRING_MAX);
		if (json_is_object(v) || json_is_array(v))
			return request_error(e, ERR_INVAL, "states",
			                     "states.%.64s must be a scalar value", key);
		if (json_is_string(v) && json_string_length(v) > REQ_STRING_MAX)
			return request_error(e, ERR_INVAL, "states",
			                     "states.%.64s is longer than %d characters", key,
			                     REQ_STRING_MAX);
	}
	return 0;
}

/* The timestamp's date, already copied into out->timestamp. */
static int set_date(predict_req *out, req_error *e)
{
	if (date_parse(out->timestamp, &out->date) != 0)
		return request_error(e, ERR_INVAL, "timestamp",
		                     "timestamp must be YYYY-MM-DD or an ISO 8601 date-time, got \"%s\"",
		                     out->timestamp);
	return 0;
}

/*
 * Checks the states object, normalises the customer from it and keeps the
 * text to store: `as_received` when the client sent a string, else the
 * object serialised.
 */
static int set_states(predict_req *out, json_t *states, const char *as_received, req_error *e)
{
	int rc = check_states(states, e);

	if (rc == 0)
		rc = request_customer_from_states(states, &out->customer, e);
	if (rc != 0)
		return rc;
	if (as_received != NULL)
		out->states_text = xstrdup(as_received);
	else
		out->states_text = json_dumps(states, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (out->states_text == NULL)
		return request_error(e, ERR_INVAL, "states", "states cannot be serialised");
	return 0;
}

/*
 * Appends one offer and its flag (1 allowed, 0 not, -1 not a flag) under its
 * canonical id (customer_offer_id): "offer_1" and "Offer-1" are OFFER_1 on
 * every input path. Two names for one offer are refused rather than merged,
 * because their flags may disagree and the client should learn which id
 * the answers will use.
 */
static int add_offer(predict_req *out, const char *name, int flag, req_error *e)
{
	size_t i = out->n_offers;
	char field[64];
	char id[REQ_OFFER_NAME_MAX + 1];

	snprintf(field, sizeof(field), "offers.%.48s", name);
	if (i >= REQ_OFFERS_MAX)
		return request_error(e, ERR_INVAL, "offers", "offers has more than %d entries",
		                     REQ_OFFERS_MAX);
	if (name[0] == '\0' || strlen(name) > REQ_OFFER_NAME_MAX)
		return request_error(e, ERR_INVAL, field, "offer names must be 1 to %d characters",
		                     REQ_OFFER_NAME_MAX);
	if (customer_offer_id(name, id, sizeof(id)) != 0)
		return request_error(e, ERR_INVAL, field,
		                     "offer names may not contain commas or control characters");
	if (flag < 0)
		return request_error(e, ERR_INVAL, field,
		                     "offer flags must be true/false, \"True\"/\"False\" or 1/0");
	for (size_t k = 0; k < i; k++) {
		if (strcmp(out->offers[k], id) == 0)
			return request_error(
			    e, ERR_INVAL, "offers",
			    "offer \"%.48s\" and an earlier offer are both %s (offer ids are "
			    "case-insensitive); send each offer once",
			    name, id);
	}
	util_strlcpy(out->offers[i], id, sizeof(out->offers[i]));
	out->allowed[i] = (unsigned char)flag;
	out->n_allowed += (size_t)flag;
	out->n_offers++;
	return 0;
}

static int parse_offers(json_t *offers, predict_req *out, req_error *e)
{
	const char *key;
	json_t *v;

	if (json_object_size(offers) == 0)
		return request_error(e, ERR_INVAL, "offers", "offers is empty");
	if (json_object_size(offers) > REQ_OFFERS_MAX)
		return request_error(e, ERR_INVAL, "offers", "offers has more than %d entries",
		                     REQ_OFFERS_MAX);
	json_object_foreach(offers, key, v) {
		int rc = add_offer(out, key, request_flag(v), e);

		if (rc != 0)
			return rc;
	}
	if (out->n_allowed == 0)
		return request_error(e, ERR_INVAL, "offers", "no offer is flagged true");
	return 0;
}

int request_parse_predict(const char *body, size_t len, predict_req *out, req_error *e)
{
	json_t *root;
	int rc;

	memset(out, 0, sizeof(*out));
	root = request_body(body, len, e);
	if (root == NULL)
		return e->err;
	rc = predict_from_json(root, out, e);
	json_decref(root);
	return rc;
}

/* customer.h's rule for an id, as a request error naming customer_id. */
static int check_customer_id(const char *id, req_error *e)
{
	char why[sizeof(e->message)];

	if (customer_id_check(id, why, sizeof(why)) != 0)
		return request_error(e, ERR_INVAL, "customer_id", "%s", why);
	return 0;
}

/* customer_id (required) and timestamp, which both /predict and /rewards bodies carry. */
static int get_customer_time(json_t *root, char id[CUSTOMER_ID_MAX + 1], char timestamp[40],
                             int timestamp_required, req_error *e)
{
	int rc = get_string(root, "customer_id", id, CUSTOMER_ID_MAX + 1, 1, e);

	if (rc == 0)
		rc = check_customer_id(id, e);
	if (rc != 0)
		return rc;
	return get_string(root, "timestamp", timestamp, 40, timestamp_required, e);
}

static int predict_from_json(json_t *root, predict_req *out, req_error *e)
{
	json_t *states = NULL;
	json_t *offers = NULL;
	json_t *v;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = get_customer_time(root, out->customer_id, out->timestamp, 1, e);
	if (rc != 0)
		goto out;
	rc = set_date(out, e);
	if (rc != 0)
		goto out;
	rc = get_object(root, "states", &states, &v, e);
	if (rc != 0)
		goto out;
	/* Stored as received: the client's string when it sent one. */
	rc = set_states(out, states, json_is_string(v) ? json_string_value(v) : NULL, e);
	if (rc != 0)
		goto out;
	rc = get_object(root, "offers", &offers, &v, e);
	if (rc != 0)
		goto out;
	rc = parse_offers(offers, out, e);
out:
	json_decref(offers);
	json_decref(states);
	if (rc != 0)
		request_predict_free(out);
	return rc;
}

int request_predict_from_row(const char *customer_id, const char *timestamp, json_t *states,
                             const char *const *offers, const unsigned char *allowed, size_t n_offers,
                             predict_req *out, req_error *e)
{
	int rc = 0;

	memset(out, 0, sizeof(*out));
	rc = check_customer_id(customer_id, e);
	if (rc != 0)
		goto out;
	util_strlcpy(out->customer_id, customer_id, sizeof(out->customer_id));
	if (strlen(timestamp) >= sizeof(out->timestamp)) {
		rc = request_error(e, ERR_INVAL, "timestamp", "timestamp is longer than %zu characters",
		                   sizeof(out->timestamp) - 1);
		goto out;
	}
	util_strlcpy(out->timestamp, timestamp, sizeof(out->timestamp));
	rc = set_date(out, e);
	if (rc != 0)
		goto out;
	rc = set_states(out, states, NULL, e);
	for (size_t i = 0; rc == 0 && i < n_offers; i++)
		rc = add_offer(out, offers[i], allowed[i], e);
	if (rc == 0 && out->n_allowed == 0)
		rc = request_error(e, ERR_INVAL, "offers", "no offer is flagged true");
out:
	if (rc != 0)
		request_predict_free(out);
	return rc;
}

char *request_predict_body(const predict_req *r)
{
	json_t *body = json_object();
	json_t *offers = json_object();
	json_t *states = json_loads(r->states_text != NULL ? r->states_text : "", 0, NULL);
	char *text = NULL;

	/* States a client sent as a Python dict stay a string, as they came. */
	if (states == NULL && r->states_text != NULL)
		states = json_string(r->states_text);
	if (json_object_set_new(body, "customer_id", json_string(r->customer_id)) != 0 ||
	    json_object_set_new(body, "timestamp", json_string(r->timestamp)) != 0 || states == NULL)
		goto out;
	json_object_set(body, "states", states);
	for (size_t i = 0; i < r->n_offers; i++)
		json_object_set_new(offers, r->offers[i], json_boolean(r->allowed[i]));
	json_object_set(body, "offers", offers);
	text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
out:
	json_decref(states);
	json_decref(offers);
	json_decref(body);
	return text;
}

void request_predict_copy(predict_req *dst, const predict_req *src)
{
	*dst = *src;
	dst->states_text = src->states_text != NULL ? xstrdup(src->states_text) : NULL;
}

void request_predict_free(predict_req *r)
{
	free(r->states_text);
	r->states_text = NULL;
}

/* An offer named in a /rewards body, as its canonical id; ERR_INVAL when it is no offer name. */
static int reward_offer(json_t *v, char id[REQ_OFFER_NAME_MAX + 1])
{
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return ERR_INVAL;
	return customer_offer_id(json_string_value(v), id, REQ_OFFER_NAME_MAX + 1) == 0 ? 0 : ERR_INVAL;
}

int request_parse_reward(const char *body, size_t len, reward_req *out, req_error *e)
{
	json_t *root;
	json_t *v;
	json_t *v2;
	int rc;
	int flag;

	memset(out, 0, sizeof(*out));
	root = request_body(body, len, e);
	if (root == NULL)
		return e->err;
	rc = get_customer_time(root, out->customer_id, out->timestamp, 0, e);
	if (rc != 0)
		goto out;
	if (out->timestamp[0] != '\0') {
		date_ymd d;

		if (date_parse(out->timestamp, &d) != 0) {
			rc = request_error(
			    e, ERR_INVAL, "timestamp",
			    "timestamp must be YYYY-MM-DD or an ISO 8601 date-time, got \"%s\"",
			    out->timestamp);
			goto out;
		}
	}
	/* The brief spells the field with a space; clients use both. */
	v = json_object_get(root, "accepted_one_of_the_three_offers");
	v2 = json_object_get(root, "accepted_one_of the_three_offers");
	if (v == NULL)
		v = v2;
	if (v == NULL) {
		rc = request_error(e, ERR_INVAL, "accepted_one_of_the_three_offers",
		                   "accepted_one_of_the_three_offers is required");
		goto out;
	}
	flag = request_flag(v);
	if (flag < 0) {
		rc = request_error(e, ERR_INVAL, "accepted_one_of_the_three_offers",
		                   "accepted_one_of_the_three_offers must be a boolean");
		goto out;
	}
	/* Both spellings may be sent, but must agree (issue 15.2). */
	if (v2 != NULL && v != v2 && request_flag(v2) != flag) {
		rc = request_error(
		    e, ERR_INVAL, "accepted_one_of_the_three_offers",
		    "accepted_one_of_the_three_offers and \"accepted_one_of the_three_offers\""
		    " (the brief's spelling) are both given and disagree");
		goto out;
	}
	out->accepted = flag;
	v = json_object_get(root, "episode_id");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) <= 0) {
			rc = request_error(e, ERR_INVAL, "episode_id",
			                   "episode_id must be a positive integer");
			goto out;
		}
		out->episode_id = (int64_t)json_integer_value(v);
	}
	v = json_object_get(root, "accepted_offer");
	if (v != NULL && !json_is_null(v)) {
		if (reward_offer(v, out->accepted_offer) != 0) {
			rc = request_error(e, ERR_INVAL, "accepted_offer",
			                   "accepted_offer must be an offer name such as \"OFFER_7\"");
			goto out;
		}
		if (!out->accepted) {
			rc = request_error(e, ERR_INVAL, "accepted_offer",
			                   "accepted_offer names an accepted offer, but "
			                   "accepted_one_of_the_three_offers is false");
			goto out;
		}
	}
	v = json_object_get(root, "clicked_offers");
	if (v != NULL && !json_is_null(v)) {
		size_t i;
		json_t *item;
		buf b;

		if (!json_is_array(v) || json_array_size(v) > REQ_CLICKED_MAX) {
			rc = request_error(
			    e, ERR_INVAL, "clicked_offers",
			    "clicked_offers must be an array of at most %d offer names (the offers "
			    "shown)",
			    REQ_CLICKED_MAX);
			goto out;
		}
		buf_init(&b, 1 << 16);
		json_array_foreach(v, i, item) {
			char id[REQ_OFFER_NAME_MAX + 1];

			if (reward_offer(item, id) != 0) {
				buf_free(&b);
				rc = request_error(e, ERR_INVAL, "clicked_offers",
				                   "clicked_offers[%zu] must be an offer name", i);
				goto out;
			}
			/* Compared as canonical ids: "offer_2" repeats "OFFER_2". */
			for (size_t k = 0; k < i; k++) {
				char prev[REQ_OFFER_NAME_MAX + 1];

				if (reward_offer(json_array_get(v, k), prev) == 0 &&
				    strcmp(prev, id) == 0) {
					buf_free(&b);
					rc = request_error(e, ERR_INVAL, "clicked_offers",
					                   "clicked_offers[%zu] repeats an offer", i);
					goto out;
				}
			}
			if ((i > 0 && buf_adds(&b, ",") != 0) || buf_adds(&b, id) != 0) {
				buf_free(&b);
				rc = request_error(e, ERR_INVAL, "clicked_offers",
				                   "clicked_offers is over %d bytes", 1 << 16);
				goto out;
			}
		}
		out->clicked = json_array_size(v) > 0 ? buf_steal(&b) : NULL;
		buf_free(&b);
	}
out:
	json_decref(root);
	if (rc != 0)
		request_reward_free(out);
	return rc;
}

void request_reward_free(reward_req *r)
{
	free(r->clicked);
	r->clicked = NULL;
}
