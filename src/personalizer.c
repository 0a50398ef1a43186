/*
 * personalizer.c — Azure Personalizer v1.0 request bodies into structs, the
 * answers back into JSON, and every rejection into Personalizer's status,
 * code and message (docs/personalizer.md lists them).
 *
 * The error codes follow the v1.0 specification, whose ErrorCode enum has
 * BadRequest, ResourceNotFound and InternalServerError; the finer code the
 * later versions of the service return (InvalidRankRequest,
 * InvalidRewardRequest...) goes in error.innerError.code, and the JSON path
 * of the field in error.target, so both old and new clients find what they
 * look for. Messages reuse the service's own sentences where it had one
 * ("Action count should be between 1 and 50.") and add the field and value.
 *
 * Unknown keys are ignored, as the service (ASP.NET model binding) did:
 * clients of the later API versions send fields v1.0 does not know.
 */
#include "personalizer.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "date.h"
#include "log.h"
#include "request.h"
#include "util.h"

/* --- errors ---------------------------------------------------------------- */

typedef struct pz_kind_row {
	int status;
	const char *code;
	const char *inner;
	int err;
} pz_kind_row;

static const pz_kind_row kind_rows[PZ_KIND_COUNT] = {
    [PZ_BAD_REQUEST] = {400, "BadRequest", NULL, ERR_INVAL},
    [PZ_INVALID_RANK] = {400, "BadRequest", "InvalidRankRequest", ERR_INVAL},
    [PZ_INVALID_REWARD] = {400, "BadRequest", "InvalidRewardRequest", ERR_INVAL},
    [PZ_INVALID_ACTIVATE] = {400, "BadRequest", "InvalidEventIdToActivate", ERR_INVAL},
    [PZ_INVALID_SERVICE] = {400, "BadRequest", "InvalidServiceConfiguration", ERR_INVAL},
    [PZ_INVALID_WAIT] = {400, "BadRequest", "InvalidRewardWaitTime", ERR_INVAL},
    [PZ_INVALID_RETENTION] = {400, "BadRequest", "InvalidLogRetentionDays", ERR_INVAL},
    [PZ_INVALID_MODE] = {400, "BadRequest", "InvalidLearningModeServiceConfiguration", ERR_INVAL},
    [PZ_INVALID_POLICY] = {400, "BadRequest", "InvalidPolicyContract", ERR_INVAL},
    [PZ_INVALID_EVAL] = {400, "BadRequest", "InvalidEvaluationContract", ERR_INVAL},
    [PZ_DUPLICATE_POLICY] = {400, "BadRequest", "DuplicateCustomPolicyNames", ERR_INVAL},
    [PZ_INVALID_MODEL] = {400, "BadRequest", "InvalidModelImportFormat", ERR_INVAL},
    [PZ_AUTH] = {401, "401", NULL, ERR_AUTH},
    [PZ_NOT_FOUND] = {404, "ResourceNotFound", NULL, ERR_NOTFOUND},
    [PZ_EVAL_NOT_FOUND] = {404, "ResourceNotFound", "EvaluationNotFound", ERR_NOTFOUND},
    [PZ_METHOD] = {405, "BadRequest", "MethodNotAllowed", ERR_METHOD},
    [PZ_CONFLICT] = {409, "BadRequest", "EventIdConflict", ERR_CONFLICT},
    [PZ_TOO_BIG] = {413, "BadRequest", "PayloadSizeExceeded", ERR_TOOBIG},
    [PZ_MEDIA] = {415, "BadRequest", "UnsupportedMediaType", ERR_MEDIA},
    [PZ_RATE] = {429, "429", NULL, ERR_RATE},
    [PZ_INTERNAL] = {500, "InternalServerError", NULL, ERR_IO},
    [PZ_UNAVAILABLE] = {503, "InternalServerError", "OperationNotAllowed", ERR_UNAVAIL},
};

static int pz_vfail(pz_error *e, pz_kind kind, const char *target, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static int pz_vfail(pz_error *e, pz_kind kind, const char *target, const char *fmt, va_list ap)
{
	const pz_kind_row *row = &kind_rows[kind];

	e->kind = kind;
	e->status = row->status;
	e->code = row->code;
	e->inner = row->inner;
	util_strlcpy(e->target, target != NULL ? target : "", sizeof(e->target));
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	return row->err;
}

int pz_fail(pz_error *e, pz_kind kind, const char *target, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = pz_vfail(e, kind, target, fmt, ap);
	va_end(ap);
	return rc;
}

/* The ERR_* code of the error already in e. */
static int pz_kind_err(const pz_error *e)
{
	return kind_rows[e->kind].err;
}

/*
 * The kind of an ERR_* code is the first row of kind_rows with that code
 * (the general kind precedes the finer ones); any bad input is a
 * BadRequest, any code without a row an internal error.
 */
void pz_error_from_err(pz_error *e, int err, const char *message)
{
	pz_kind kind = PZ_INTERNAL;

	if (err == ERR_RANGE || err == ERR_SYNTAX)
		err = ERR_INVAL;
	for (size_t k = 0; k < PZ_KIND_COUNT; k++) {
		if (kind_rows[k].err == err) {
			kind = (pz_kind)k;
			break;
		}
	}
	pz_fail(e, kind, NULL, "%s", message != NULL ? message : "");
}

/* json_dumps that never returns NULL: out of memory is handled once. */
static char *dump(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));

	if (s == NULL) {
		log_msg(LOG_ERROR, "out of memory serialising a Personalizer answer");
		abort();
	}
	json_decref(j);
	return s;
}

/* A JSON string of s; bytes that are not UTF-8 (a URL path's, quoted in a message) as U+FFFD. */
static json_t *jstr(const char *s)
{
	char *fixed = util_utf8_fixed(s);
	json_t *j = json_string(fixed != NULL ? fixed : s);

	free(fixed);
	return j;
}

char *pz_error_json(const pz_error *e)
{
	json_t *err = json_object();
	json_t *root = json_object();

	json_object_set_new(err, "code", jstr(e->code != NULL ? e->code : "InternalServerError"));
	json_object_set_new(err, "message", jstr(e->message));
	if (e->target[0] != '\0')
		json_object_set_new(err, "target", jstr(e->target));
	if (e->inner != NULL)
		json_object_set_new(err, "innerError", json_pack("{s:s}", "code", e->inner));
	json_object_set_new(root, "error", err);
	return dump(root);
}

/* --- helpers ----------------------------------------------------------------- */

/*
 * Parses a body into one JSON object. Duplicate keys are rejected: which
 * one a client meant is a guess.
 */
static json_t *parse_body(const char *body, size_t len, pz_error *e)
{
	json_error_t jerr;
	json_t *root;

	if (len > PZ_BODY_MAX) {
		pz_fail(e, PZ_TOO_BIG, NULL,
		        "Exceeds maximum allowed payload size: %zu bytes, at most %d.", len,
		        PZ_BODY_MAX);
		return NULL;
	}
	if (len == 0) {
		pz_fail(e, PZ_BAD_REQUEST, NULL, "The request body is empty; expected a JSON object.");
		return NULL;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (root == NULL) {
		pz_fail(
		    e, PZ_BAD_REQUEST, NULL,
		    "Request could not be understood by the server: malformed JSON at line %d, column %d: "
		    "%s.",
		    jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		pz_fail(e, PZ_BAD_REQUEST, NULL, "The request body must be a JSON object, got %s.",
		        request_json_type_name(root));
		json_decref(root);
		return NULL;
	}
	return root;
}

/* A JSON path such as "actions[3].features" into out. */
static void path_idx(char *out, size_t n, const char *base, size_t i, const char *field)
{
	if (field != NULL)
		snprintf(out, n, "%s[%zu].%s", base, i, field);
	else
		snprintf(out, n, "%s[%zu]", base, i);
}

/*
 * Characters (code points) of a UTF-8 string jansson has validated: the
 * bytes that do not continue a sequence. Personalizer's limits count
 * characters (its clients check string length), not bytes.
 */
static size_t utf8_chars(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

/*
 * An id: a string of 1..PZ_ID_MAX characters. what names it in messages.
 * Returns 0 with *s and *len (bytes) set, or a negative code.
 */
static int get_id(json_t *v, const char *target, const char *what, pz_kind kind, const char **s,
                  size_t *len, pz_error *e)
{
	if (v == NULL || json_is_null(v))
		return pz_fail(e, kind, target, "%s is required.", what);
	if (!json_is_string(v))
		return pz_fail(e, kind, target, "%s must be a string, got %s.", what,
		               request_json_type_name(v));
	*s = json_string_value(v);
	*len = json_string_length(v);
	if (*len == 0)
		return pz_fail(e, kind, target, "%s must not be empty.", what);
	if (utf8_chars(*s, *len) > PZ_ID_MAX)
		return pz_fail(e, kind, target, "%s is %zu characters long; at most %d are allowed.",
		               what, utf8_chars(*s, *len), PZ_ID_MAX);
	return 0;
}

/* An optional boolean: absent or null is 0. */
static int get_bool(json_t *root, const char *key, pz_kind kind, int *out, pz_error *e)
{
	json_t *v = json_object_get(root, key);

	*out = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return pz_fail(e, kind, key, "%s must be true or false, got %s.", key,
		               request_json_type_name(v));
	*out = json_is_true(v);
	return 0;
}

/* A required number within [min, max]. */
static int get_number(json_t *v, const char *target, double min, double max, pz_kind kind, double *out,
                      pz_error *e)
{
	double d;

	if (v == NULL || json_is_null(v))
		return pz_fail(e, kind, target, "%s is required.", target);
	if (!json_is_number(v))
		return pz_fail(e, kind, target, "%s must be a number, got %s.", target,
		               request_json_type_name(v));
	d = json_number_value(v);
	if (!isfinite(d) || d < min || d > max)
		return pz_fail(e, kind, target, "%s is %g; it must be between %g and %g inclusive.",
		               target, d, min, max);
	*out = d;
	return 0;
}

/*
 * A required array at key of root: 0 with *out set, or a negative code
 * (missing: the message missing, which says what the array holds).
 */
static int get_array(json_t *root, const char *key, pz_kind kind, const char *missing, json_t **out,
                     pz_error *e)
{
	json_t *v = json_object_get(root, key);

	*out = v;
	if (v == NULL || json_is_null(v))
		return pz_fail(e, kind, key, "%s", missing);
	if (!json_is_array(v))
		return pz_fail(e, kind, key, "%s must be an array, got %s.", key,
		               request_json_type_name(v));
	return 0;
}

/* --- features ------------------------------------------------------------------ */

typedef struct feat_count {
	size_t leaves;
	size_t non_null;
} feat_count;

static int check_value(json_t *v, int depth, const char *target, pz_kind kind, feat_count *c,
                       pz_error *e);

static int check_object(json_t *o, int depth, const char *target, pz_kind kind, feat_count *c,
                        pz_error *e)
{
	const char *key;
	json_t *v;
	int rc;

	if (depth > PZ_FEATURE_DEPTH_MAX)
		return pz_fail(e, kind, target, "%s nests objects deeper than %d levels.", target,
		               PZ_FEATURE_DEPTH_MAX);
	json_object_foreach(o, key, v) {
		size_t klen = strlen(key);

		if (klen == 0)
			return pz_fail(
			    e, kind, target,
			    "Context features and action features cannot use the empty string as an "
			    "id (in %s).",
			    target);
		if (klen > PZ_FEATURE_KEY_MAX)
			return pz_fail(e, kind, target,
			               "A feature name in %s is %zu bytes long; at most %d.", target,
			               klen, PZ_FEATURE_KEY_MAX);
		rc = check_value(v, depth, target, kind, c, e);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int check_value(json_t *v, int depth, const char *target, pz_kind kind, feat_count *c,
                       pz_error *e)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return check_object(v, depth + 1, target, kind, c, e);
	case JSON_ARRAY: {
		size_t i;
		json_t *x;

		if (json_array_size(v) > PZ_FEATURE_ARRAY_MAX)
			return pz_fail(e, kind, target,
			               "An array feature in %s has %zu items; at most %d.", target,
			               json_array_size(v), PZ_FEATURE_ARRAY_MAX);
		json_array_foreach(v, i, x) {
			if (!json_is_number(x))
				return pz_fail(
				    e, kind, target,
				    "Features should not contain array with non-number items (%s holds "
				    "%s).",
				    target, request_json_type_name(x));
		}
		break;
	}
	case JSON_STRING:
		if (json_string_length(v) > PZ_FEATURE_STRING_MAX)
			return pz_fail(e, kind, target,
			               "A string feature in %s is %zu bytes long; at most %d.", target,
			               json_string_length(v), PZ_FEATURE_STRING_MAX);
		break;
	default: break;
	}
	c->leaves++;
	if (!json_is_null(v))
		c->non_null++;
	if (c->leaves > PZ_FEATURES_MAX)
		return pz_fail(e, kind, target, "%s holds more than %d feature values.", target,
		               PZ_FEATURES_MAX);
	return 0;
}

/*
 * A feature list: an array of objects ("dictionary of dictionaries"),
 * Personalizer's shape for contextFeatures, action and slot features, at
 * the JSON path base, or base[idx].field when idx is not SIZE_MAX. what is
 * the message's name for a null item ("Context features"). The paths are
 * written only for a message: a rank of 50 actions checks 100 lists.
 */
static int check_features(json_t *list, const char *base, size_t idx, const char *field,
                          const char *what, pz_kind kind, feat_count *c, pz_error *e)
{
	char target[64];
	size_t i;
	json_t *item;
	int rc;

	c->leaves = 0;
	c->non_null = 0;
	if (idx == SIZE_MAX)
		util_strlcpy(target, base, sizeof(target));
	if (!json_is_array(list)) {
		if (idx != SIZE_MAX)
			path_idx(target, sizeof(target), base, idx, field);
		return pz_fail(e, kind, target, "%s must be an array of objects, got %s.", target,
		               request_json_type_name(list));
	}
	json_array_foreach(list, i, item) {
		feat_count before = *c;
		char t[sizeof(target) + 24];

		if (json_is_object(item) && check_object(item, 1, "", kind, c, e) == 0)
			continue;
		/* Again with the item's path, for the message. */
		*c = before;
		if (idx != SIZE_MAX)
			path_idx(target, sizeof(target), base, idx, field);
		path_idx(t, sizeof(t), target, i, NULL);
		if (json_is_null(item))
			return pz_fail(e, kind, t, "%s contains null value (%s).", what, t);
		if (!json_is_object(item))
			return pz_fail(e, kind, t,
			               "Features are not in key value pair format: %s is %s.", t,
			               request_json_type_name(item));
		rc = check_object(item, 1, t, kind, c, e);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* contextFeatures: optional; absent or null is an empty list. */
static int get_context(json_t *root, pz_kind kind, json_t **out, pz_error *e)
{
	json_t *v = json_object_get(root, "contextFeatures");
	feat_count c;
	int rc;

	if (v == NULL || json_is_null(v)) {
		v = json_array();
		json_object_set_new(root, "contextFeatures", v);
	}
	rc = check_features(v, "contextFeatures", SIZE_MAX, NULL, "Context features", kind, &c, e);
	if (rc != 0)
		return rc;
	*out = v;
	return 0;
}

/*
 * The states of a rank's decision: the scalar members of the context
 * feature objects, the first of a name winning, so the tabular policies'
 * state key and the company's rules read the usual fields (age, gender,
 * region...) when the context carries them; anything else leaves the
 * customer unknown (one state per date). A new object.
 */
json_t *pz_context_states(json_t *context)
{
	json_t *states = json_object();
	json_t *obj;
	size_t i;

	json_array_foreach(context, i, obj) {
		const char *k;
		json_t *v;

		json_object_foreach(obj, k, v) {
			if (!json_is_object(v) && !json_is_array(v) && !json_is_null(v) &&
			    json_object_get(states, k) == NULL)
				json_object_set(states, k, v);
		}
	}
	return states;
}

/* --- event ids ------------------------------------------------------------------ */

static int event_id_char(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return 1;
	return ch != '\0' && strchr("-_.~:@!$'()*+,;=", ch) != NULL;
}

/* An eventId's rule, for the id named what: an evaluationId in a URL path keeps to it too. An
 * empty id only comes from a body (a path's segment is never empty): Azure's words for it. */
static int id_check(const char *what, const char *id, size_t len, pz_kind kind, pz_error *e)
{
	if (len == 0)
		return pz_fail(e, kind, what, "EventId should be non-empty or null.");
	if (len > PZ_ID_MAX)
		return pz_fail(e, kind, what, "%s is %zu bytes long; at most %d are allowed.", what, len,
		               PZ_ID_MAX);
	for (size_t i = 0; i < len; i++) {
		if (!event_id_char((unsigned char)id[i]))
			return pz_fail(e, kind, what,
			               "%s has the character 0x%02x at position %zu; an id may hold "
			               "letters, digits and - _ . ~ : @ ! $ ' ( ) * + , ; = only.",
			               what, (unsigned char)id[i], i + 1);
	}
	return 0;
}

int pz_event_id_check(const char *id, size_t len, pz_kind kind, pz_error *e)
{
	return id_check("eventId", id, len, kind, e);
}

int pz_event_id_new(char out[PZ_EVENT_ID_GEN_LEN + 1])
{
	return util_random_hex(out, PZ_EVENT_ID_GEN_LEN);
}

/* eventId in a rank body: absent or null leaves out "" (generate one). */
static int get_event_id(json_t *root, pz_kind kind, char out[PZ_ID_MAX + 1], pz_error *e)
{
	json_t *v = json_object_get(root, "eventId");
	int rc;

	out[0] = '\0';
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return pz_fail(e, kind, "eventId", "eventId must be a string, got %s.",
		               request_json_type_name(v));
	rc = pz_event_id_check(json_string_value(v), json_string_length(v), kind, e);
	if (rc != 0)
		return rc;
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

/* --- rank ------------------------------------------------------------------------ */

static int find_action(const pz_action *a, size_t n, const char *id, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i].id_len == len && memcmp(a[i].id, id, len) == 0)
			return (int)i;
	}
	return -1;
}

/* actions: 1..PZ_ACTIONS_MAX objects with a unique id and a feature list. */
static int get_actions(json_t *root, pz_kind kind, pz_action *out, size_t *n, pz_error *e)
{
	json_t *list;
	size_t i;
	json_t *a;
	int rc;

	*n = 0;
	rc = get_array(root, "actions", kind,
	               "actions is required: Action count should be between 1 and 50.", &list, e);
	if (rc != 0)
		return rc;
	if (json_array_size(list) < 1 || json_array_size(list) > PZ_ACTIONS_MAX)
		return pz_fail(e, kind, "actions", "Action count should be between 1 and 50 (got %zu).",
		               json_array_size(list));
	json_array_foreach(list, i, a) {
		char t[64];
		feat_count c;
		pz_action *act = &out[i];

		/* The paths (t) are written only for a message. */
		if (!json_is_object(a)) {
			path_idx(t, sizeof(t), "actions", i, NULL);
			if (json_is_null(a))
				return pz_fail(e, kind, t, "Actions contains null value (%s).", t);
			return pz_fail(e, kind, t, "%s must be an object with id and features, got %s.",
			               t, request_json_type_name(a));
		}
		rc = get_id(json_object_get(a, "id"), "id", "id", kind, &act->id, &act->id_len, e);
		if (rc != 0 || find_action(out, i, act->id, act->id_len) >= 0) {
			path_idx(t, sizeof(t), "actions", i, "id");
			if (rc == 0)
				return pz_fail(e, kind, t,
				               "Action ids must be unique: \"%.64s\" is listed twice.",
				               act->id);
			rc = get_id(json_object_get(a, "id"), t, t, kind, &act->id, &act->id_len, e);
			if (json_is_string(json_object_get(a, "id")) && act->id_len == 0)
				return pz_fail(e, kind, t, "Action ids must not be empty (%s).", t);
			return rc;
		}
		act->features = json_object_get(a, "features");
		rc = 0;
		if (act->features != NULL && !json_is_null(act->features))
			rc = check_features(act->features, "actions", i, "features", "Action features",
			                    kind, &c, e);
		if (rc != 0)
			return rc;
		if (act->features == NULL || json_is_null(act->features) || c.non_null == 0) {
			path_idx(t, sizeof(t), "actions", i, "features");
			if (act->features == NULL || json_is_null(act->features))
				return pz_fail(e, kind, t,
				               "%s is required: every action needs a list of feature "
				               "objects.",
				               t);
			return pz_fail(e, kind, t,
			               "Every action should have at least one non-null action "
			               "feature (%s has none).",
			               t);
		}
		act->excluded = 0;
		*n = i + 1;
	}
	return 0;
}

/*
 * excludedActions of the request or of a slot: strings naming actions.
 * Marks flags[i] for each; repeats are harmless.
 */
static int get_excluded(json_t *list, const char *target, pz_kind kind, const pz_action *actions,
                        size_t n, unsigned char *flags, pz_error *e)
{
	size_t i;
	json_t *x;

	if (list == NULL || json_is_null(list))
		return 0;
	if (!json_is_array(list))
		return pz_fail(e, kind, target, "%s must be an array of action ids, got %s.", target,
		               request_json_type_name(list));
	json_array_foreach(list, i, x) {
		char t[64];
		int k;

		path_idx(t, sizeof(t), target, i, NULL);
		if (!json_is_string(x))
			return pz_fail(e, kind, t, "%s must be an action id (a string), got %s.", t,
			               request_json_type_name(x));
		k = find_action(actions, n, json_string_value(x), json_string_length(x));
		if (k < 0)
			return pz_fail(
			    e, kind, t,
			    "All excluded action ids must have a corresponding action: %s \"%.64s\" "
			    "is not the id of any action.",
			    t, json_string_value(x));
		flags[k] = 1;
	}
	return 0;
}

void pz_rank_free(pz_rank_req *r)
{
	if (r->root != NULL)
		json_decref(r->root);
	free(r->text);
	r->text = NULL;
	r->root = NULL;
	r->context = NULL;
	r->n_actions = 0;
}

/*
 * The part every rank body shares: the JSON root, contextFeatures, the
 * actions, eventId and deferActivation. On failure the root is freed (and
 * *root NULL), so the caller has nothing to undo.
 */
static int parse_rank_head(const char *body, size_t len, json_t **root, json_t **context,
                           pz_action *actions, size_t *n_actions, char event_id[PZ_ID_MAX + 1],
                           int *defer, pz_error *e)
{
	int rc;

	*root = parse_body(body, len, e);
	if (*root == NULL)
		return pz_kind_err(e);
	rc = get_context(*root, PZ_INVALID_RANK, context, e);
	if (rc == 0)
		rc = get_actions(*root, PZ_INVALID_RANK, actions, n_actions, e);
	if (rc == 0)
		rc = get_event_id(*root, PZ_INVALID_RANK, event_id, e);
	if (rc == 0)
		rc = get_bool(*root, "deferActivation", PZ_INVALID_RANK, defer, e);
	if (rc != 0) {
		json_decref(*root);
		*root = NULL;
	}
	return rc;
}

int pz_rank_parse(const char *body, size_t len, pz_rank_req *out, pz_error *e)
{
	unsigned char excluded[PZ_ACTIONS_MAX];
	int rc;

	memset(out, 0, sizeof(*out));
	rc = parse_rank_head(body, len, &out->root, &out->context, out->actions, &out->n_actions,
	                     out->event_id, &out->defer_activation, e);
	if (rc != 0)
		return rc;
	memset(excluded, 0, sizeof(excluded));
	rc = get_excluded(json_object_get(out->root, "excludedActions"), "excludedActions",
	                  PZ_INVALID_RANK, out->actions, out->n_actions, excluded, e);
	if (rc != 0)
		goto out;
	out->n_allowed = 0;
	for (size_t i = 0; i < out->n_actions; i++) {
		out->actions[i].excluded = excluded[i];
		if (!excluded[i])
			out->n_allowed++;
	}
	if (out->n_allowed == 0) {
		rc = pz_fail(
		    e, PZ_INVALID_RANK, "excludedActions",
		    "excludedActions lists every action; at least one must remain to be ranked.");
		goto out;
	}
out:
	if (rc != 0)
		pz_rank_free(out);
	return rc;
}

/*
 * --- rank: the lean parse ---------------------------------------------------
 *
 * jansson builds a tree of the whole rank body (an object, a hash table and
 * a string copy per feature), and a rank reads only the action ids, the
 * context and a few scalars from it: parsing and freeing the tree was a
 * third of a rank's CPU time. The lean parse scans the body once, checks
 * every rule pz_rank_parse checks, copies the ids and hands only the
 * context (a few dozen bytes) to jansson. It knows a plain subset of JSON:
 * the five keys of a rank, ASCII strings without escapes, numbers without
 * exponent of at most 15 characters. Anything else, or any rule broken, and
 * it gives up (LEAN_OTHER) and pz_rank_parse decides, so an error answer is
 * always pz_rank_parse's, message for message.
 */
#define LEAN_OTHER 1
#define LEAN_KEYS_MAX 32     /* keys in one feature object the scan compares for duplicates */
#define LEAN_EXCLUDED_MAX 64 /* excludedActions items it keeps to resolve after the actions */
#define LEAN_NUMBER_MAX 15   /* characters of a number: no integer of them overflows jansson */

typedef struct lean {
	const char *p;
	const char *end;
} lean;

typedef struct lean_str {
	const char *s;
	size_t len;
} lean_str;

static void lean_ws(lean *l)
{
	while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r'))
		l->p++;
}

/* The next character after white space is ch: consumes it and returns 1. */
static int lean_is(lean *l, char ch)
{
	lean_ws(l);
	if (l->p < l->end && *l->p == ch) {
		l->p++;
		return 1;
	}
	return 0;
}

/* A string of printable ASCII without escapes. */
static int lean_string(lean *l, lean_str *out)
{
	const char *q;

	if (!lean_is(l, '"'))
		return LEAN_OTHER;
	for (q = l->p; q < l->end && *q != '"'; q++) {
		if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f || *q == '\\')
			return LEAN_OTHER;
	}
	if (q >= l->end)
		return LEAN_OTHER;
	out->s = l->p;
	out->len = (size_t)(q - l->p);
	l->p = q + 1;
	return 0;
}

/* A literal (true, false, null) at l->p. */
static int lean_word(lean *l, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(l->end - l->p) < n || memcmp(l->p, w, n) != 0)
		return LEAN_OTHER;
	l->p += n;
	return 0;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?, at most LEAN_NUMBER_MAX characters. */
static int lean_number(lean *l)
{
	const char *q;

	lean_ws(l);
	q = l->p;
	if (q < l->end && *q == '-')
		q++;
	if (q >= l->end || *q < '0' || *q > '9')
		return LEAN_OTHER;
	if (*q == '0')
		q++;
	else
		while (q < l->end && *q >= '0' && *q <= '9')
			q++;
	if (q < l->end && *q == '.') {
		q++;
		if (q >= l->end || *q < '0' || *q > '9')
			return LEAN_OTHER;
		while (q < l->end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q - l->p > LEAN_NUMBER_MAX)
		return LEAN_OTHER;
	l->p = q;
	return 0;
}

static int lean_feature_value(lean *l, int depth, feat_count *c);

/* A feature object after its '{', at depth (check_object's rules). */
static int lean_feature_object(lean *l, int depth, feat_count *c)
{
	lean_str keys[LEAN_KEYS_MAX];
	size_t n = 0;

	if (depth > PZ_FEATURE_DEPTH_MAX)
		return LEAN_OTHER;
	if (lean_is(l, '}'))
		return 0;
	do {
		lean_str *k = &keys[n];

		if (n == LEAN_KEYS_MAX || lean_string(l, k) != 0 || k->len == 0 ||
		    k->len > PZ_FEATURE_KEY_MAX || !lean_is(l, ':'))
			return LEAN_OTHER;
		for (size_t i = 0; i < n; i++) {
			if (keys[i].len == k->len && memcmp(keys[i].s, k->s, k->len) == 0)
				return LEAN_OTHER;
		}
		n++;
		if (lean_feature_value(l, depth, c) != 0)
			return LEAN_OTHER;
	} while (lean_is(l, ','));
	return lean_is(l, '}') ? 0 : LEAN_OTHER;
}

/* One feature value (check_value's rules). */
static int lean_feature_value(lean *l, int depth, feat_count *c)
{
	lean_str s;
	size_t non_null = 1;
	int rc;

	lean_ws(l);
	if (l->p >= l->end)
		return LEAN_OTHER;
	switch (*l->p) {
	case '{': l->p++; return lean_feature_object(l, depth + 1, c);
	case '[': {
		size_t n = 0;

		l->p++;
		if (!lean_is(l, ']')) {
			do {
				n++;
				if (n > PZ_FEATURE_ARRAY_MAX || lean_number(l) != 0)
					return LEAN_OTHER;
			} while (lean_is(l, ','));
			if (!lean_is(l, ']'))
				return LEAN_OTHER;
		}
		rc = 0;
		break;
	}
	case '"':
		rc = lean_string(l, &s);
		if (rc == 0 && s.len > PZ_FEATURE_STRING_MAX)
			rc = LEAN_OTHER;
		break;
	case 't': rc = lean_word(l, "true"); break;
	case 'f': rc = lean_word(l, "false"); break;
	case 'n':
		rc = lean_word(l, "null");
		non_null = 0;
		break;
	default: rc = lean_number(l); break;
	}
	if (rc != 0)
		return LEAN_OTHER;
	c->leaves++;
	c->non_null += non_null;
	return c->leaves > PZ_FEATURES_MAX ? LEAN_OTHER : 0;
}

/* A feature list: an array of feature objects (check_features' rules). */
static int lean_features(lean *l, feat_count *c)
{
	c->leaves = 0;
	c->non_null = 0;
	if (!lean_is(l, '['))
		return LEAN_OTHER;
	if (lean_is(l, ']'))
		return 0;
	do {
		if (!lean_is(l, '{') || lean_feature_object(l, 1, c) != 0)
			return LEAN_OTHER;
	} while (lean_is(l, ','));
	return lean_is(l, ']') ? 0 : LEAN_OTHER;
}

/* null at l->p (after white space): consumes it and returns 1. */
static int lean_null(lean *l)
{
	lean_ws(l);
	return lean_word(l, "null") == 0;
}

/* One action object: {"id": ..., "features": [...]}, in either order. */
static int lean_action(lean *l, lean_str *id)
{
	int has_id = 0;
	int has_features = 0;
	feat_count c = {0, 0};
	lean_str k;

	if (!lean_is(l, '{'))
		return LEAN_OTHER;
	do {
		if (lean_string(l, &k) != 0 || !lean_is(l, ':'))
			return LEAN_OTHER;
		if (k.len == 2 && memcmp(k.s, "id", 2) == 0 && !has_id) {
			if (lean_string(l, id) != 0 || id->len == 0 || id->len > PZ_ID_MAX)
				return LEAN_OTHER;
			has_id = 1;
		} else if (k.len == 8 && memcmp(k.s, "features", 8) == 0 && !has_features) {
			if (lean_features(l, &c) != 0 || c.non_null == 0)
				return LEAN_OTHER;
			has_features = 1;
		} else {
			return LEAN_OTHER;
		}
	} while (lean_is(l, ','));
	return lean_is(l, '}') && has_id && has_features ? 0 : LEAN_OTHER;
}

/* The whole body; fills ids (n), excluded (n_excluded), the context's text and the scalars. */
static int lean_rank(lean *l, pz_rank_req *out, lean_str *ids, lean_str *excluded, size_t *n_excluded,
                     lean_str *context)
{
	unsigned seen = 0;
	lean_str k;
	lean_str v;
	feat_count c;

	context->s = NULL;
	context->len = 0;
	*n_excluded = 0;
	if (!lean_is(l, '{'))
		return LEAN_OTHER;
	do {
		unsigned bit;

		if (lean_string(l, &k) != 0 || !lean_is(l, ':'))
			return LEAN_OTHER;
		if (k.len == 15 && memcmp(k.s, "contextFeatures", 15) == 0)
			bit = 1;
		else if (k.len == 7 && memcmp(k.s, "actions", 7) == 0)
			bit = 2;
		else if (k.len == 15 && memcmp(k.s, "excludedActions", 15) == 0)
			bit = 4;
		else if (k.len == 7 && memcmp(k.s, "eventId", 7) == 0)
			bit = 8;
		else if (k.len == 15 && memcmp(k.s, "deferActivation", 15) == 0)
			bit = 16;
		else
			return LEAN_OTHER;
		if (seen & bit)
			return LEAN_OTHER;
		seen |= bit;
		if (bit != 2 && lean_null(l))
			continue;
		switch (bit) {
		case 1:
			lean_ws(l);
			context->s = l->p;
			if (lean_features(l, &c) != 0)
				return LEAN_OTHER;
			context->len = (size_t)(l->p - context->s);
			break;
		case 2:
			if (!lean_is(l, '['))
				return LEAN_OTHER;
			do {
				if (out->n_actions == PZ_ACTIONS_MAX ||
				    lean_action(l, &ids[out->n_actions]) != 0)
					return LEAN_OTHER;
				out->n_actions++;
			} while (lean_is(l, ','));
			if (!lean_is(l, ']'))
				return LEAN_OTHER;
			break;
		case 4:
			if (!lean_is(l, '['))
				return LEAN_OTHER;
			if (lean_is(l, ']'))
				break;
			do {
				if (*n_excluded == LEAN_EXCLUDED_MAX ||
				    lean_string(l, &excluded[*n_excluded]) != 0)
					return LEAN_OTHER;
				(*n_excluded)++;
			} while (lean_is(l, ','));
			if (!lean_is(l, ']'))
				return LEAN_OTHER;
			break;
		case 8:
			if (lean_string(l, &v) != 0 || v.len == 0 || v.len > PZ_ID_MAX)
				return LEAN_OTHER;
			for (size_t i = 0; i < v.len; i++) {
				if (!event_id_char((unsigned char)v.s[i]))
					return LEAN_OTHER;
			}
			memcpy(out->event_id, v.s, v.len);
			out->event_id[v.len] = '\0';
			break;
		default:
			lean_ws(l);
			if (lean_word(l, "true") == 0)
				out->defer_activation = 1;
			else if (lean_word(l, "false") != 0)
				return LEAN_OTHER;
			break;
		}
	} while (lean_is(l, ','));
	if (!lean_is(l, '}') || !(seen & 2))
		return LEAN_OTHER;
	lean_ws(l);
	return l->p == l->end ? 0 : LEAN_OTHER;
}

int pz_rank_parse_lean(const char *body, size_t len, pz_rank_req *out, pz_error *e)
{
	lean l = {body, body + len};
	lean_str ids[PZ_ACTIONS_MAX];
	lean_str excluded[LEAN_EXCLUDED_MAX];
	lean_str context;
	size_t n_excluded;
	size_t total = 0;
	char *text;

	memset(out, 0, offsetof(pz_rank_req, actions));
	out->n_allowed = 0;
	out->event_id[0] = '\0';
	out->defer_activation = 0;
	out->text = NULL;
	if (len > PZ_BODY_MAX || lean_rank(&l, out, ids, excluded, &n_excluded, &context) != 0)
		goto other;
	for (size_t i = 0; i < out->n_actions; i++) {
		out->actions[i].excluded = 0;
		out->actions[i].features = NULL;
		total += ids[i].len + 1;
		for (size_t j = 0; j < i; j++) {
			if (ids[j].len == ids[i].len && memcmp(ids[j].s, ids[i].s, ids[i].len) == 0)
				goto other;
		}
	}
	for (size_t x = 0; x < n_excluded; x++) {
		size_t i;

		for (i = 0; i < out->n_actions; i++) {
			if (ids[i].len == excluded[x].len &&
			    memcmp(ids[i].s, excluded[x].s, excluded[x].len) == 0)
				break;
		}
		if (i == out->n_actions)
			goto other;
		out->actions[i].excluded = 1;
	}
	for (size_t i = 0; i < out->n_actions; i++)
		out->n_allowed += !out->actions[i].excluded;
	if (out->n_allowed == 0)
		goto other;
	if (context.s != NULL)
		out->root = json_loadb(context.s, context.len, JSON_REJECT_DUPLICATES, NULL);
	else
		out->root = json_array();
	if (out->root == NULL)
		goto other;
	out->context = out->root;
	/* The ids, one allocation: the body is gone by the time the answer names them. */
	text = xmalloc(total);
	out->text = text;
	for (size_t i = 0; i < out->n_actions; i++) {
		memcpy(text, ids[i].s, ids[i].len);
		text[ids[i].len] = '\0';
		out->actions[i].id = text;
		out->actions[i].id_len = ids[i].len;
		text += ids[i].len + 1;
	}
	return 0;
other:
	return pz_rank_parse(body, len, out, e);
}

/* --- multi-slot rank ------------------------------------------------------------- */

void pz_multi_rank_free(pz_multi_rank_req *r)
{
	if (r->root != NULL)
		json_decref(r->root);
	r->root = NULL;
	r->context = NULL;
	r->n_actions = 0;
	r->n_slots = 0;
}

static int find_slot(const pz_slot *s, size_t n, const char *id, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i].id_len == len && memcmp(s[i].id, id, len) == 0)
			return (int)i;
	}
	return -1;
}

static int get_slot(pz_multi_rank_req *r, size_t i, json_t *o, pz_error *e)
{
	const pz_kind kind = PZ_INVALID_RANK;
	pz_slot *s = &r->slots[i];
	char t[64];
	feat_count c;
	json_t *v;
	const char *base;
	size_t base_len;
	int k;
	int rc;

	path_idx(t, sizeof(t), "slots", i, NULL);
	if (json_is_null(o))
		return pz_fail(e, kind, t, "Slots contain null value (%s).", t);
	if (!json_is_object(o))
		return pz_fail(e, kind, t, "%s must be an object, got %s.", t,
		               request_json_type_name(o));
	path_idx(t, sizeof(t), "slots", i, "id");
	rc = get_id(json_object_get(o, "id"), t, t, kind, &s->id, &s->id_len, e);
	if (rc != 0)
		return rc;
	if (find_slot(r->slots, i, s->id, s->id_len) >= 0)
		return pz_fail(e, kind, t,
		               "All slots must have unique, non-empty ids: \"%.64s\" is listed "
		               "twice.",
		               s->id);
	path_idx(t, sizeof(t), "slots", i, "features");
	v = json_object_get(o, "features");
	if (v == NULL || json_is_null(v)) {
		v = json_array();
		json_object_set_new(o, "features", v);
	}
	rc = check_features(v, "slots", i, "features", "Slot features", kind, &c, e);
	if (rc != 0)
		return rc;
	s->features = v;
	path_idx(t, sizeof(t), "slots", i, "excludedActions");
	memset(s->excluded, 0, sizeof(s->excluded));
	rc = get_excluded(json_object_get(o, "excludedActions"), t, kind, r->actions, r->n_actions,
	                  s->excluded, e);
	if (rc != 0)
		return rc;
	path_idx(t, sizeof(t), "slots", i, "baselineAction");
	rc = get_id(json_object_get(o, "baselineAction"), t, t, kind, &base, &base_len, e);
	if (rc != 0)
		return rc;
	k = find_action(r->actions, r->n_actions, base, base_len);
	if (k < 0)
		return pz_fail(
		    e, kind, t,
		    "Each slot must contain a unique BaselineAction with an ID corresponding to "
		    "an element of Actions: \"%.64s\" is not an action.",
		    base);
	for (size_t j = 0; j < i; j++) {
		if (r->slots[j].baseline == (size_t)k)
			return pz_fail(
			    e, kind, t,
			    "Each slot must contain a unique BaselineAction: \"%.64s\" is also the "
			    "baseline of slots[%zu].",
			    base, j);
	}
	if (s->excluded[k])
		return pz_fail(e, kind, t,
		               "BaselineAction cannot be part of ExcludedActions (\"%.64s\").", base);
	s->baseline = (size_t)k;
	return 0;
}

int pz_multi_rank_parse(const char *body, size_t len, pz_multi_rank_req *out, pz_error *e)
{
	json_t *list;
	json_t *o;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = parse_rank_head(body, len, &out->root, &out->context, out->actions, &out->n_actions,
	                     out->event_id, &out->defer_activation, e);
	if (rc != 0)
		return rc;
	rc = get_array(out->root, "slots", PZ_INVALID_RANK,
	               "At least one slot must be defined in a multi-slot rank request.", &list, e);
	if (rc != 0)
		goto out;
	if (json_array_size(list) < 1 || json_array_size(list) > out->n_actions ||
	    json_array_size(list) > PZ_SLOTS_MAX) {
		rc = pz_fail(e, PZ_INVALID_RANK, "slots",
		             "Slots count should be between 1 and the number of actions (%zu slots, %zu "
		             "actions).",
		             json_array_size(list), out->n_actions);
		goto out;
	}
	json_array_foreach(list, i, o) {
		rc = get_slot(out, i, o, e);
		if (rc != 0)
			goto out;
		out->n_slots = i + 1;
	}
out:
	if (rc != 0)
		pz_multi_rank_free(out);
	return rc;
}

/* --- rewards and activation ------------------------------------------------------- */

int pz_reward_parse(const char *body, size_t len, double *value, pz_error *e)
{
	json_t *root = parse_body(body, len, e);
	int rc;

	*value = 0;
	if (root == NULL)
		return pz_kind_err(e);
	rc = get_number(json_object_get(root, "value"), "value", PZ_REWARD_MIN, PZ_REWARD_MAX,
	                PZ_INVALID_REWARD, value, e);
	json_decref(root);
	return rc;
}

int pz_multi_reward_parse(const char *body, size_t len, pz_multi_reward_req *out, pz_error *e)
{
	json_t *root = parse_body(body, len, e);
	json_t *list;
	json_t *o;
	size_t i;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return pz_kind_err(e);
	rc = get_array(root, "reward", PZ_INVALID_REWARD,
	               "reward is required: a list of {slotId, value}.", &list, e);
	if (rc != 0)
		goto out;
	if (json_array_size(list) < 1 || json_array_size(list) > PZ_SLOTS_MAX) {
		rc = pz_fail(e, PZ_INVALID_REWARD, "reward",
		             "reward must list between 1 and %d slot rewards (got %zu).", PZ_SLOTS_MAX,
		             json_array_size(list));
		goto out;
	}
	json_array_foreach(list, i, o) {
		pz_slot_reward *sr = &out->rewards[i];
		char t[64];
		const char *id;
		size_t idlen;

		path_idx(t, sizeof(t), "reward", i, NULL);
		if (!json_is_object(o)) {
			rc = pz_fail(e, PZ_INVALID_REWARD, t,
			             "%s must be an object {slotId, value}, got %s.", t,
			             request_json_type_name(o));
			goto out;
		}
		path_idx(t, sizeof(t), "reward", i, "slotId");
		rc = get_id(json_object_get(o, "slotId"), t, t, PZ_INVALID_REWARD, &id, &idlen, e);
		if (rc != 0)
			goto out;
		for (size_t j = 0; j < i; j++) {
			if (strlen(out->rewards[j].slot_id) == idlen &&
			    memcmp(out->rewards[j].slot_id, id, idlen) == 0) {
				rc = pz_fail(
				    e, PZ_INVALID_REWARD, t,
				    "Slot \"%.64s\" is rewarded twice in one request; send one value "
				    "per slot.",
				    id);
				goto out;
			}
		}
		memcpy(sr->slot_id, id, idlen + 1);
		path_idx(t, sizeof(t), "reward", i, "value");
		rc = get_number(json_object_get(o, "value"), t, PZ_REWARD_MIN, PZ_REWARD_MAX,
		                PZ_INVALID_REWARD, &sr->value, e);
		if (rc != 0)
			goto out;
		out->n = i + 1;
	}
out:
	json_decref(root);
	return rc;
}

int pz_activate_check(const char *body, size_t len, pz_error *e)
{
	json_t *root;
	json_error_t jerr;
	size_t i = 0;
	int ok;

	while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
		i++;
	if (i == len)
		return 0;
	if (len > PZ_BODY_MAX)
		return pz_fail(e, PZ_TOO_BIG, NULL, "Exceeds maximum allowed payload size.");
	root = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
	ok = root != NULL &&
	     (json_is_null(root) || (json_is_object(root) && json_object_size(root) == 0));
	if (root != NULL)
		json_decref(root);
	if (!ok)
		return pz_fail(
		    e, PZ_INVALID_ACTIVATE, NULL,
		    "Invalid activate event request: activate takes no body (send none, {} or "
		    "null).");
	return 0;
}

/* --- answers ------------------------------------------------------------------------ */

/* {"id": id, key: value} (value stolen). */
static json_t *id_entry(const char *id, const char *key, json_t *value)
{
	return json_pack("{s:o, s:o}", "id", jstr(id), key, value);
}

/*
 * A probability as jansson writes a real at JSON_REAL_PRECISION(15): %.15g,
 * ".0" added to an integer, the exponent without '+' or leading zeros.
 */
static int real_text(double v, char text[40])
{
	char *e;
	int n = snprintf(text, 40, "%.15g", v);

	if (n < 0 || n >= 40 - 2)
		return ERR_RANGE;
	e = strchr(text, 'e');
	if (e == NULL && strchr(text, '.') == NULL && strchr(text, 'n') == NULL)
		memcpy(text + n, ".0", 3);
	if (e != NULL) {
		char *d = e + 1;
		char *q = d;

		if (*q == '-')
			q++, d++;
		else if (*q == '+')
			q++;
		while (*q == '0' && q[1] != '\0')
			q++;
		memmove(d, q, strlen(q) + 1);
	}
	return 0;
}

/*
 * The rank answer is written directly, not through jansson's objects: it is
 * on every rank, and building ten objects to print them cost a third of
 * parsing the request (docs/personalizer.md, Performance).
 */
char *pz_rank_answer_json(const pz_ranked *ranking, size_t n, const char *event_id,
                          const char *reward_action_id)
{
	/* All but the first and the excluded share one probability: printed once. */
	char prob[40] = "";
	double last = NAN;
	buf b;
	int rc;

	buf_init(&b, 2 * PZ_BODY_MAX);
	rc = buf_adds(&b, "{\"ranking\":[");
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = buf_adds(&b, i == 0 ? "{\"id\":" : ",{\"id\":");
		if (rc == 0)
			rc = buf_add_json(&b, ranking[i].id);
		if (rc == 0)
			rc = buf_adds(&b, ",\"probability\":");
		if (rc == 0 && !(ranking[i].probability == last)) {
			last = ranking[i].probability;
			rc = real_text(last, prob);
		}
		if (rc == 0)
			rc = buf_adds(&b, prob);
		if (rc == 0)
			rc = buf_adds(&b, "}");
	}
	if (rc == 0)
		rc = buf_adds(&b, "],\"eventId\":");
	if (rc == 0)
		rc = buf_add_json(&b, event_id);
	if (rc == 0)
		rc = buf_adds(&b, ",\"rewardActionId\":");
	if (rc == 0)
		rc = buf_add_json(&b, reward_action_id);
	if (rc == 0)
		rc = buf_adds(&b, "}");
	if (rc != 0) {
		/* Bounded input (50 ids of at most 1 KiB): only memory can fail. */
		log_msg(LOG_ERROR, "out of memory writing a Personalizer rank answer");
		abort();
	}
	return buf_steal(&b);
}

char *pz_multi_rank_answer_json(const pz_slot_answer *slots, size_t n, const char *event_id)
{
	json_t *list = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, id_entry(slots[i].id, "rewardActionId",
		                                     jstr(slots[i].reward_action_id)));
	return dump(json_pack("{s:o, s:o}", "slots", list, "eventId", jstr(event_id)));
}

/* --- durations and times ------------------------------------------------------------ */

#define PZ_DURATION_MAX_S (100LL * 86400)

/* Up to 9 digits at *p into *v; advances *p. Returns the digits read. */
static int read_digits(const char **p, int64_t *v)
{
	int n = 0;

	*v = 0;
	while (**p >= '0' && **p <= '9' && n < 10) {
		*v = *v * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	return n > 9 ? -1 : n;
}

static int duration_iso(const char *s, int64_t *seconds)
{
	const char *p = s + 1;
	int64_t total = 0;
	int in_time = 0;
	int any = 0;
	int after_t = 0;
	int rank = 0; /* H=1, M=2, S=3: components in order */

	while (*p != '\0') {
		int64_t v;
		int n;

		if (*p == 'T' || *p == 't') {
			if (in_time)
				return ERR_INVAL;
			in_time = 1;
			p++;
			continue;
		}
		n = read_digits(&p, &v);
		if (n <= 0)
			return ERR_INVAL;
		if (!in_time) {
			if ((*p != 'D' && *p != 'd') || any)
				return ERR_INVAL;
			total += v * 86400;
		} else {
			int r = (*p == 'H' || *p == 'h')   ? 1
			        : (*p == 'M' || *p == 'm') ? 2
			        : (*p == 'S' || *p == 's') ? 3
			                                   : 0;

			if (r == 0 || r <= rank)
				return ERR_INVAL;
			rank = r;
			total += v * (r == 1 ? 3600 : r == 2 ? 60 : 1);
			after_t = 1;
		}
		any = 1;
		p++;
		if (total > PZ_DURATION_MAX_S)
			return ERR_INVAL;
	}
	if (!any || (in_time && !after_t))
		return ERR_INVAL;
	*seconds = total;
	return 0;
}

static int duration_timespan(const char *s, int64_t *seconds)
{
	const char *p = s;
	int64_t d = 0, h, m, sec;

	if (read_digits(&p, &h) <= 0)
		return ERR_INVAL;
	if (*p == '.') {
		d = h;
		p++;
		if (read_digits(&p, &h) != 2)
			return ERR_INVAL;
	} else if (p - s != 2 && p - s != 1) {
		return ERR_INVAL;
	}
	if (*p++ != ':' || read_digits(&p, &m) != 2 || *p++ != ':' || read_digits(&p, &sec) != 2 ||
	    *p != '\0')
		return ERR_INVAL;
	if (h > 23 || m > 59 || sec > 59)
		return ERR_INVAL;
	*seconds = d * 86400 + h * 3600 + m * 60 + sec;
	return *seconds > PZ_DURATION_MAX_S ? ERR_INVAL : 0;
}

int pz_duration_parse(const char *s, int64_t *seconds)
{
	int64_t v = 0;
	int rc;

	if (s == NULL || s[0] == '\0')
		return ERR_INVAL;
	if (s[0] == 'P' || s[0] == 'p')
		rc = duration_iso(s, &v);
	else
		rc = duration_timespan(s, &v);
	if (rc == 0)
		*seconds = v;
	return rc;
}

void pz_duration_format(int64_t seconds, char out[32])
{
	int64_t d = seconds / 86400;
	int64_t r = seconds % 86400;

	char tmp[96];

	if (seconds < 0) {
		util_strlcpy(out, "00:00:00", 32);
		return;
	}
	if (d > 0)
		snprintf(tmp, sizeof(tmp), "%lld.%02lld:%02lld:%02lld", (long long)d,
		         (long long)(r / 3600), (long long)(r % 3600 / 60), (long long)(r % 60));
	else
		snprintf(tmp, sizeof(tmp), "%02lld:%02lld:%02lld", (long long)(r / 3600),
		         (long long)(r % 3600 / 60), (long long)(r % 60));
	util_strlcpy(out, tmp, 32);
}

/* date.c parses the instant; Azure's are from 1970 on, and offerd's end with year 9999 (in
 * UTC: a zone may move 1970-01-01T00:00+01:00 before it), so that each can be written back. */
int pz_time_parse(const char *s, int64_t *out)
{
	date_time t;
	int64_t utc;

	if (s == NULL || date_time_parse(s, &t) != 0)
		return ERR_INVAL;
	utc = date_time_utc(&t);
	if (utc < 0 || utc > DATE_TIME_MAX)
		return ERR_INVAL;
	*out = utc;
	return 0;
}

/* --- configurations ----------------------------------------------------------------- */

static const char *const mode_names[] = {"Online", "Apprentice", "LoggingOnly"};

const char *pz_learning_mode_name(pz_learning_mode m)
{
	return (size_t)m < UTIL_ARRAY_LEN(mode_names) ? mode_names[m] : "Online";
}

int pz_learning_mode_parse(const char *s, pz_learning_mode *out)
{
	int i = util_name_index(mode_names, UTIL_ARRAY_LEN(mode_names), s);

	if (i < 0)
		return ERR_INVAL;
	*out = (pz_learning_mode)i;
	return 0;
}

void pz_service_config_default(pz_service_config *c)
{
	memset(c, 0, sizeof(*c));
	c->reward_wait_s = 600;
	c->default_reward = 0;
	c->aggregation = PZ_AGG_EARLIEST;
	c->exploration = 0.2;
	c->model_export_s = 300;
	c->log_retention_days = -1;
	c->mode = PZ_MODE_ONLINE;
}

/* A required string of 1..max bytes copied into out (outlen > max). */
static int get_text(json_t *v, const char *target, size_t max, pz_kind kind, char *out, size_t outlen,
                    pz_error *e)
{
	out[0] = '\0';
	if (v == NULL || json_is_null(v))
		return pz_fail(e, kind, target, "%s is required.", target);
	if (!json_is_string(v))
		return pz_fail(e, kind, target, "%s must be a string, got %s.", target,
		               request_json_type_name(v));
	if (json_string_length(v) == 0)
		return pz_fail(e, kind, target, "%s must not be empty.", target);
	if (json_string_length(v) > max || json_string_length(v) >= outlen)
		return pz_fail(e, kind, target, "%s is %zu bytes long; at most %zu are allowed.", target,
		               json_string_length(v), max);
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int get_duration(json_t *root, const char *key, int64_t min, int64_t max, pz_kind range_kind,
                        const char *range_msg, int64_t *out, pz_error *e)
{
	char text[64];
	int rc = get_text(json_object_get(root, key), key, sizeof(text) - 1, PZ_INVALID_SERVICE, text,
	                  sizeof(text), e);

	if (rc == 0 && pz_duration_parse(text, out) != 0)
		rc = pz_fail(e, PZ_INVALID_SERVICE, key,
		             "%s \"%s\" is not a duration: write \"hh:mm:ss\", \"d.hh:mm:ss\" or ISO "
		             "8601 such as \"PT10M\".",
		             key, text);
	if (rc == 0 && (*out < min || *out > max))
		rc = pz_fail(e, range_kind, key, "%s (%s = %s).", range_msg, key, text);
	return rc;
}

int pz_service_config_parse(const char *body, size_t len, pz_service_config *out, pz_error *e)
{
	json_t *root = parse_body(body, len, e);
	json_t *v;
	char text[64];
	int mirror;
	int rc;

	pz_service_config_default(out);
	if (root == NULL)
		return pz_kind_err(e);
	rc = get_duration(root, "rewardWaitTime", PZ_WAIT_MIN_S, PZ_WAIT_MAX_S, PZ_INVALID_WAIT,
	                  "Reward wait time should be between 5 seconds and 2 days", &out->reward_wait_s,
	                  e);
	if (rc != 0)
		goto out;
	rc = get_number(json_object_get(root, "defaultReward"), "defaultReward", PZ_REWARD_MIN,
	                PZ_REWARD_MAX, PZ_INVALID_SERVICE, &out->default_reward, e);
	if (rc != 0)
		goto out;
	rc = get_text(json_object_get(root, "rewardAggregation"), "rewardAggregation", 32,
	              PZ_INVALID_SERVICE, text, sizeof(text), e);
	if (rc != 0)
		goto out;
	if (util_streq_nocase(text, "earliest")) {
		out->aggregation = PZ_AGG_EARLIEST;
	} else if (util_streq_nocase(text, "sum")) {
		out->aggregation = PZ_AGG_SUM;
	} else {
		rc = pz_fail(e, PZ_INVALID_SERVICE, "rewardAggregation",
		             "rewardAggregation \"%s\" is not known: use \"earliest\" or \"sum\".",
		             text);
		goto out;
	}
	rc = get_number(json_object_get(root, "explorationPercentage"), "explorationPercentage", 0, 1,
	                PZ_INVALID_SERVICE, &out->exploration, e);
	if (rc != 0)
		goto out;
	rc = get_duration(root, "modelExportFrequency", 1, 86400, PZ_INVALID_SERVICE,
	                  "modelExportFrequency should be between 1 second and 1 day",
	                  &out->model_export_s, e);
	if (rc != 0)
		goto out;
	v = json_object_get(root, "logRetentionDays");
	if (v == NULL || json_is_null(v)) {
		rc = pz_fail(e, PZ_INVALID_SERVICE, "logRetentionDays", "logRetentionDays is required.");
		goto out;
	}
	if (!json_is_integer(v)) {
		rc = pz_fail(e, PZ_INVALID_SERVICE, "logRetentionDays",
		             "logRetentionDays must be an integer, got %s.", request_json_type_name(v));
		goto out;
	}
	out->log_retention_days = json_integer_value(v);
	if (out->log_retention_days != -1 &&
	    (out->log_retention_days < (out->reward_wait_s + 86399) / 86400 + 1 ||
	     out->log_retention_days > 2147483647)) {
		rc = pz_fail(
		    e, PZ_INVALID_RETENTION, "logRetentionDays",
		    "Log Retention Days must be -1 to store indefinitely or must be at least reward "
		    "wait time plus 1 day (rounded up); got %lld.",
		    (long long)out->log_retention_days);
		goto out;
	}
	v = json_object_get(root, "learningMode");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v) ||
		    pz_learning_mode_parse(json_string_value(v), &out->mode) != 0) {
			rc = pz_fail(
			    e, PZ_INVALID_SERVICE, "learningMode",
			    "learningMode must be \"Online\", \"Apprentice\" or \"LoggingOnly\".");
			goto out;
		}
		out->mode_given = 1;
	}
	rc = get_bool(root, "logMirrorEnabled", PZ_INVALID_SERVICE, &mirror, e);
	if (rc != 0)
		goto out;
	if (mirror)
		rc = pz_fail(
		    e, PZ_INVALID_SERVICE, "logMirrorEnabled",
		    "logMirrorEnabled: offerd does not mirror logs to Azure storage; the episodes "
		    "are in your own database (set it to false).");
out:
	json_decref(root);
	return rc;
}

int pz_service_config_transition(const pz_service_config *cur, const pz_service_config *next,
                                 pz_error *e)
{
	int switching = next->mode_given && next->mode != cur->mode &&
	                (next->mode == PZ_MODE_APPRENTICE || cur->mode == PZ_MODE_APPRENTICE);

	if (switching &&
	    (next->reward_wait_s != cur->reward_wait_s || next->default_reward != cur->default_reward ||
	     next->aggregation != cur->aggregation))
		return pz_fail(
		    e, PZ_INVALID_MODE, "learningMode",
		    "Updating defaultReward, rewardWaitTime and rewardAggregation when changing "
		    "learning mode from Online to Apprentice mode and vice versa is not allowed. "
		    "Make the mode change and then change the additional settings with an "
		    "additional API call.");
	return 0;
}

char *pz_service_config_json(const pz_service_config *c)
{
	json_t *root = json_object();
	char wait[32], exp[32];

	pz_duration_format(c->reward_wait_s, wait);
	pz_duration_format(c->model_export_s, exp);
	json_object_set_new(root, "rewardWaitTime", jstr(wait));
	json_object_set_new(root, "defaultReward", json_real(c->default_reward));
	json_object_set_new(root, "rewardAggregation",
	                    jstr(c->aggregation == PZ_AGG_SUM ? "sum" : "earliest"));
	json_object_set_new(root, "explorationPercentage", json_real(c->exploration));
	json_object_set_new(root, "modelExportFrequency", jstr(exp));
	json_object_set_new(root, "logMirrorEnabled", json_false());
	json_object_set_new(root, "logRetentionDays", json_integer(c->log_retention_days));
	if (c->last_edit[0] != '\0')
		json_object_set_new(root, "lastConfigurationEditDate", jstr(c->last_edit));
	json_object_set_new(root, "learningMode", jstr(pz_learning_mode_name(c->mode)));
	return dump(root);
}

/* --- policies ------------------------------------------------------------------------ */

int pz_policy_args(pz_policy *p, const char *target, pz_kind kind, pz_error *e)
{
	const char *s = p->arguments;
	int expect_epsilon = 0;

	p->n_tokens = 0;
	p->cb_explore_adf = 0;
	p->epsilon = -1;
	while (*s != '\0') {
		char tok[PZ_POLICY_ARGS_MAX + 1];
		size_t n = 0;

		while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
			s++;
		if (*s == '\0')
			break;
		while (*s != '\0' && *s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') {
			if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
				return pz_fail(e, kind, target,
				               "%s may hold printable ASCII only (byte 0x%02x found).",
				               target, (unsigned char)*s);
			tok[n++] = *s++;
		}
		tok[n] = '\0';
		if (++p->n_tokens > PZ_POLICY_TOKENS_MAX)
			return pz_fail(e, kind, target, "%s has more than %d words.", target,
			               PZ_POLICY_TOKENS_MAX);
		if (expect_epsilon) {
			if (util_strtod(tok, 0, 1, &p->epsilon) != 0)
				return pz_fail(e, kind, target,
				               "--epsilon takes a number between 0 and 1, got "
				               "\"%.32s\".",
				               tok);
			expect_epsilon = 0;
		} else if (strcmp(tok, "--cb_explore_adf") == 0) {
			p->cb_explore_adf = 1;
		} else if (strcmp(tok, "--epsilon") == 0) {
			expect_epsilon = 1;
		}
	}
	if (expect_epsilon)
		return pz_fail(e, kind, target, "--epsilon at the end of %s lacks its value.", target);
	if (p->n_tokens == 0 || !p->cb_explore_adf)
		return pz_fail(
		    e, kind, target,
		    "The learning policy must contain --cb_explore_adf (offerd does not offer "
		    "--cats).");
	return 0;
}

/* A PolicyContract object {"name", "arguments"}; base names it in messages. */
static int policy_from(json_t *o, const char *base, pz_kind kind, pz_policy *p, pz_error *e)
{
	char t[64];
	int rc;

	if (!json_is_object(o))
		return pz_fail(e, kind, base, "%s must be an object {name, arguments}, got %s.",
		               base[0] != '\0' ? base : "the body", request_json_type_name(o));
	snprintf(t, sizeof(t), "%s%sname", base, base[0] != '\0' ? "." : "");
	rc = get_text(json_object_get(o, "name"), t, PZ_POLICY_NAME_MAX, kind, p->name, sizeof(p->name),
	              e);
	if (rc != 0)
		return rc;
	snprintf(t, sizeof(t), "%s%sarguments", base, base[0] != '\0' ? "." : "");
	rc = get_text(json_object_get(o, "arguments"), t, PZ_POLICY_ARGS_MAX, kind, p->arguments,
	              sizeof(p->arguments), e);
	if (rc != 0)
		return rc;
	return pz_policy_args(p, t, kind, e);
}

int pz_policy_parse(const char *body, size_t len, pz_policy *out, pz_error *e)
{
	json_t *root = parse_body(body, len, e);
	int rc;

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return pz_kind_err(e);
	rc = policy_from(root, "", PZ_INVALID_POLICY, out, e);
	json_decref(root);
	return rc;
}

char *pz_policy_json(const pz_policy *p)
{
	json_t *root = json_object();

	json_object_set_new(root, "name", jstr(p->name));
	json_object_set_new(root, "arguments", jstr(p->arguments));
	return dump(root);
}

/* --- evaluations -------------------------------------------------------------------- */

static int get_time(json_t *root, const char *key, int64_t *out, pz_error *e)
{
	char text[64];
	int rc = get_text(json_object_get(root, key), key, sizeof(text) - 1, PZ_INVALID_EVAL, text,
	                  sizeof(text), e);

	if (rc != 0)
		return rc;
	if (pz_time_parse(text, out) != 0)
		return pz_fail(
		    e, PZ_INVALID_EVAL, key,
		    "%s \"%s\" is not an ISO 8601 date-time such as \"2019-01-19T00:00:00Z\".", key,
		    text);
	return 0;
}

int pz_eval_parse(const char *body, size_t len, pz_eval_req *out, pz_error *e)
{
	json_t *root = parse_body(body, len, e);
	json_t *list;
	json_t *o;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return pz_kind_err(e);
	rc = get_text(json_object_get(root, "name"), "name", PZ_ID_MAX, PZ_INVALID_EVAL, out->name,
	              sizeof(out->name), e);
	if (rc != 0)
		goto out;
	rc = get_time(root, "startTime", &out->start, e);
	if (rc != 0)
		goto out;
	rc = get_time(root, "endTime", &out->end, e);
	if (rc != 0)
		goto out;
	if (out->start >= out->end) {
		rc = pz_fail(e, PZ_INVALID_EVAL, "endTime",
		             "Invalid evaluation contract: endTime must be later than startTime.");
		goto out;
	}
	rc = get_bool(root, "enableOfflineExperimentation", PZ_INVALID_EVAL,
	              &out->offline_experimentation, e);
	if (rc != 0)
		goto out;
	list = json_object_get(root, "policies");
	if (list == NULL || json_is_null(list)) {
		rc = pz_fail(e, PZ_INVALID_EVAL, "policies",
		             "policies is required (an empty list evaluates the online policy alone).");
		goto out;
	}
	if (!json_is_array(list)) {
		rc = pz_fail(e, PZ_INVALID_EVAL, "policies", "policies must be an array, got %s.",
		             request_json_type_name(list));
		goto out;
	}
	if (json_array_size(list) > PZ_EVAL_POLICIES_MAX) {
		rc = pz_fail(e, PZ_INVALID_EVAL, "policies",
		             "A maximum of 10 custom policies are allowed (got %zu).",
		             json_array_size(list));
		goto out;
	}
	json_array_foreach(list, i, o) {
		char t[64];

		path_idx(t, sizeof(t), "policies", i, NULL);
		rc = policy_from(o, t, PZ_INVALID_EVAL, &out->policies[i], e);
		if (rc != 0)
			goto out;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(out->policies[j].name, out->policies[i].name) == 0) {
				rc = pz_fail(
				    e, PZ_DUPLICATE_POLICY, t,
				    "Custom policy names should be unique: \"%.64s\" is used twice.",
				    out->policies[i].name);
				goto out;
			}
		}
		out->n_policies = i + 1;
	}
out:
	json_decref(root);
	return rc;
}

static json_t *summary_json(const pz_summary *s)
{
	json_t *o = json_object();
	char ts[32], win[32];

	date_time_format(s->time, ts);
	pz_duration_format(s->window_s, win);
	json_object_set_new(o, "timeStamp", jstr(ts));
	json_object_set_new(o, "ipsEstimatorNumerator", json_real(s->ips_num));
	json_object_set_new(o, "ipsEstimatorDenominator", json_real(s->ips_den));
	json_object_set_new(o, "snipsEstimatorDenominator", json_real(s->snips_den));
	json_object_set_new(o, "aggregateTimeWindow", jstr(win));
	json_object_set_new(o, "nonZeroProbability", json_real(s->nonzero));
	json_object_set_new(o, "confidenceInterval", json_real(s->confidence));
	json_object_set_new(o, "sumOfSquares", json_real(s->sum_squares));
	json_object_set_new(o, "averageReward", json_real(s->ips_den > 0 ? s->ips_num / s->ips_den : 0));
	return o;
}

char *pz_evaluation_json(const pz_evaluation *ev)
{
	json_t *root = json_object();
	json_t *results = json_array();
	char start[32], end[32];

	date_time_format(ev->start, start);
	date_time_format(ev->end, end);
	json_object_set_new(root, "id", jstr(ev->id));
	json_object_set_new(root, "name", jstr(ev->name));
	json_object_set_new(root, "startTime", jstr(start));
	json_object_set_new(root, "endTime", jstr(end));
	json_object_set_new(root, "jobId", jstr(ev->id));
	json_object_set_new(root, "status", jstr(ev->status));
	for (size_t i = 0; i < ev->n_results; i++) {
		const pz_policy_result *r = &ev->results[i];
		json_t *o = json_object();
		json_t *summary = json_array();

		json_object_set_new(o, "name", jstr(r->name));
		json_object_set_new(o, "arguments", jstr(r->arguments));
		json_object_set_new(o, "policySource", jstr(r->source));
		json_array_append_new(summary, summary_json(&r->total));
		json_object_set_new(o, "summary", summary);
		json_object_set_new(o, "totalSummary", summary_json(&r->total));
		json_array_append_new(results, o);
	}
	json_object_set_new(root, "policyResults", results);
	json_object_set_new(root, "featureImportance", json_array());
	return dump(root);
}

char *pz_logs_properties_json(int64_t from, int64_t to)
{
	char f[32], t[32];

	date_time_format(from, f);
	date_time_format(to, t);
	return dump(json_pack("{s:{s:s,s:s}}", "dateRange", "from", f, "to", t));
}

char *pz_model_properties_json(int64_t created, int64_t modified)
{
	char c[32], m[32];

	date_time_format(created, c);
	date_time_format(modified, m);
	return dump(json_pack("{s:s,s:s}", "creationTime", c, "lastModifiedTime", m));
}

/* --- model: export, import --------------------------------------------------- */

json_t *pz_value_row_json(const pz_value_row *r)
{
	return json_pack("{s:o, s:o, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "stateKey",
	                 jstr(r->state_key), "offer", jstr(r->offer), "n", r->n, "rewardSum",
	                 r->reward_sum, "successes", r->successes, "failures", r->failures, "priorValue",
	                 r->prior_value, "priorWeight", r->prior_weight, "priorAlpha", r->prior_alpha,
	                 "priorBeta", r->prior_beta);
}

json_t *pz_model_row_json(const pz_model_row *r)
{
	json_t *stats = json_loads(r->stats, 0, NULL);

	return json_pack("{s:o, s:f, s:I, s:o}", "offer", jstr(r->offer), "n", r->n, "tick",
	                 (json_int_t)r->tick, "stats", stats != NULL ? stats : json_object());
}

char *pz_model_json(const char *company, const char *version, const char *policy, json_t *values,
                    json_t *contextual)
{
	char now[32];

	date_time_format((int64_t)time(NULL), now);
	return dump(json_pack("{s:s, s:i, s:o, s:o, s:o, s:s, s:o, s:o}", "format", PZ_MODEL_FORMAT,
	                      "formatVersion", 1, "company", jstr(company), "agentVersion",
	                      jstr(version), "policy", jstr(policy), "exportedAt", now, "values", values,
	                      "contextual", contextual));
}

void pz_model_free(pz_model *m)
{
	for (size_t i = 0; m->rows != NULL && i < m->n_rows; i++)
		free((char *)(uintptr_t)m->rows[i].stats);
	free(m->values);
	free(m->rows);
	json_decref(m->root);
	memset(m, 0, sizeof(*m));
}

/* A required string of 0 (allow_empty) or 1..PZ_ID_MAX characters. */
static int model_text(json_t *o, const char *key, const char *base, size_t i, int allow_empty,
                      const char **out, pz_error *e)
{
	char target[64];
	json_t *v = json_object_get(o, key);
	size_t len;

	path_idx(target, sizeof(target), base, i, key);
	if (allow_empty && json_is_string(v) && json_string_length(v) == 0) {
		*out = "";
		return 0;
	}
	return get_id(v, target, target, PZ_INVALID_MODEL, out, &len, e);
}

static int model_number(json_t *o, const char *key, const char *base, size_t i, double min, double *out,
                        pz_error *e)
{
	char target[64];

	path_idx(target, sizeof(target), base, i, key);
	return get_number(json_object_get(o, key), target, min, 1e300, PZ_INVALID_MODEL, out, e);
}

static int value_cmp(const void *a, const void *b)
{
	const pz_value_row *x = a;
	const pz_value_row *y = b;
	int c = strcmp(x->state_key, y->state_key);

	return c != 0 ? c : strcmp(x->offer, y->offer);
}

static int model_row_cmp(const void *a, const void *b)
{
	return strcmp(((const pz_model_row *)a)->offer, ((const pz_model_row *)b)->offer);
}

/* A numeric array of exactly n finite numbers. */
static int model_array(json_t *v, const char *target, size_t n, pz_error *e)
{
	json_t *x;
	size_t k;

	if (!json_is_array(v) || json_array_size(v) != n)
		return pz_fail(e, PZ_INVALID_MODEL, target, "%s must be an array of %zu numbers.",
		               target, n);
	json_array_foreach(v, k, x) {
		if (!json_is_number(x) || !isfinite(json_number_value(x)))
			return pz_fail(e, PZ_INVALID_MODEL, target, "%s[%zu] must be a finite number.",
			               target, k);
	}
	return 0;
}

/* A contextual row's stats: {"b": [d numbers], "S": [d(d+1)/2 numbers]}, as JSON text in *out. */
static int model_stats(json_t *o, size_t i, char **out, pz_error *e)
{
	char target[64];
	json_t *st = json_object_get(o, "stats");
	json_t *b = json_object_get(st, "b");
	size_t d;
	int rc;

	path_idx(target, sizeof(target), "contextual", i, "stats");
	if (!json_is_object(st) || json_object_size(st) != 2 || !json_is_array(b))
		return pz_fail(e, PZ_INVALID_MODEL, target,
		               "%s must be an object {\"b\": [d numbers], \"S\": [d(d+1)/2 numbers]}.",
		               target);
	d = json_array_size(b);
	if (d == 0 || d > PZ_MODEL_DIM_MAX)
		return pz_fail(e, PZ_INVALID_MODEL, target, "%s.b has %zu numbers; 1 to %d are allowed.",
		               target, d, PZ_MODEL_DIM_MAX);
	path_idx(target, sizeof(target), "contextual", i, "stats.b");
	rc = model_array(b, target, d, e);
	path_idx(target, sizeof(target), "contextual", i, "stats.S");
	if (rc == 0)
		rc = model_array(json_object_get(st, "S"), target, d * (d + 1) / 2, e);
	if (rc == 0)
		*out = json_dumps(st, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
	return rc;
}

/* The numbers of a values row: name, least value, place. */
static const struct {
	const char *key;
	double min;
	size_t off;
} value_fields[] = {
    {"n", 0, offsetof(pz_value_row, n)},
    {"rewardSum", -1e300, offsetof(pz_value_row, reward_sum)},
    {"successes", 0, offsetof(pz_value_row, successes)},
    {"failures", 0, offsetof(pz_value_row, failures)},
    {"priorValue", -1e300, offsetof(pz_value_row, prior_value)},
    {"priorWeight", 0, offsetof(pz_value_row, prior_weight)},
    {"priorAlpha", 1e-12, offsetof(pz_value_row, prior_alpha)},
    {"priorBeta", 1e-12, offsetof(pz_value_row, prior_beta)},
};

/* Item i of the array base must be an object. */
static int model_object(json_t *o, const char *base, size_t i, pz_error *e)
{
	char target[64];

	if (json_is_object(o))
		return 0;
	path_idx(target, sizeof(target), base, i, NULL);
	return pz_fail(e, PZ_INVALID_MODEL, target, "%s must be an object.", target);
}

/* Item i of the list base: an object whose text at key is read by model_text's rules. */
static int model_item(json_t *o, const char *base, size_t i, const char *key, int allow_empty,
                      const char **text, pz_error *e)
{
	int rc = model_object(o, base, i, e);

	return rc != 0 ? rc : model_text(o, key, base, i, allow_empty, text, e);
}

/* One row of a model list into row: 0 (a row), MODEL_ROW_SKIP (none), or a negative code. */
#define MODEL_ROW_SKIP 1
typedef int (*model_row_fn)(json_t *o, size_t i, void *row, pz_error *e);

/*
 * The rows of a model list: a new array (the caller frees it, with what
 * the *n rows hold) of a row of size per item, and a spare one, each item
 * read by fn, sorted by cmp. *rc is 0 or fn's negative code (*n rows were
 * read then); *dup the index of a row equal to the one before it, or 0.
 */
static void *model_list(json_t *list, size_t size, model_row_fn fn,
                        int (*cmp)(const void *, const void *), size_t *n, size_t *dup, int *rc,
                        pz_error *e)
{
	char *rows = xcalloc(json_array_size(list) + 1, size);
	json_t *o;
	size_t i;

	*n = 0;
	*dup = 0;
	*rc = 0;
	json_array_foreach(list, i, o) {
		int r = fn(o, i, rows + *n * size, e);

		if (r < 0) {
			*rc = r;
			return rows;
		}
		if (r == 0)
			(*n)++;
	}
	qsort(rows, *n, size, cmp);
	for (i = 1; i < *n && *dup == 0; i++) {
		if (cmp(rows + (i - 1) * size, rows + i * size) == 0)
			*dup = i;
	}
	return rows;
}

static int value_row(json_t *o, size_t i, void *row, pz_error *e)
{
	pz_value_row *r = row;
	int rc = model_item(o, "values", i, "stateKey", 0, &r->state_key, e);

	if (rc == 0)
		rc = model_text(o, "offer", "values", i, 0, &r->offer, e);
	for (size_t k = 0; rc == 0 && k < UTIL_ARRAY_LEN(value_fields); k++)
		rc = model_number(o, value_fields[k].key, "values", i, value_fields[k].min,
		                  (double *)(void *)((char *)r + value_fields[k].off), e);
	return rc;
}

static int contextual_row(json_t *o, size_t i, void *row, pz_error *e)
{
	pz_model_row *r = row;
	char *stats = NULL;
	double tick;
	int rc = model_item(o, "contextual", i, "offer", 1, &r->offer, e);

	if (rc == 0)
		rc = model_number(o, "n", "contextual", i, 0, &r->n, e);
	if (rc == 0)
		rc = model_number(o, "tick", "contextual", i, 0, &tick, e);
	if (rc != 0)
		return rc;
	r->tick = tick < 9e15 ? (int64_t)tick : 0;
	if (r->offer[0] == '\0')
		return MODEL_ROW_SKIP; /* the clock row: the version's clock stays the importer's */
	rc = model_stats(o, i, &stats, e);
	if (rc != 0)
		return rc;
	r->stats = stats;
	return 0;
}

int pz_model_parse(const char *body, size_t len, pz_model *out, pz_error *e)
{
	json_t *root;
	json_t *fmt;
	json_t *ver;
	json_t *values;
	json_t *ctx;
	size_t dup = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	root = parse_body(body, len, e);
	if (root == NULL) {
		if (e->status == 400)
			e->inner = "InvalidModelImportFormat";
		return ERR_INVAL;
	}
	out->root = root;
	fmt = json_object_get(root, "format");
	ver = json_object_get(root, "formatVersion");
	values = json_object_get(root, "values");
	ctx = json_object_get(root, "contextual");
	if (!json_is_string(fmt) || strcmp(json_string_value(fmt), PZ_MODEL_FORMAT) != 0)
		rc = pz_fail(e, PZ_INVALID_MODEL, "format",
		             "format must be \"" PZ_MODEL_FORMAT
		             "\" (a model exported by offerd's GET /model).");
	else if (!json_is_integer(ver) || json_integer_value(ver) != 1)
		rc = pz_fail(e, PZ_INVALID_MODEL, "formatVersion", "formatVersion must be 1.");
	else if (!json_is_array(values) || !json_is_array(ctx))
		rc = pz_fail(e, PZ_INVALID_MODEL, json_is_array(values) ? "contextual" : "values",
		             "values and contextual must be arrays (either may be empty).");
	else if (json_array_size(values) > PZ_MODEL_ROWS_MAX || json_array_size(ctx) > PZ_MODEL_ROWS_MAX)
		rc = pz_fail(e, PZ_INVALID_MODEL, "values",
		             "values and contextual hold at most %d rows each.", PZ_MODEL_ROWS_MAX);
	else
		out->values = model_list(values, sizeof(*out->values), value_row, value_cmp,
		                         &out->n_values, &dup, &rc, e);
	if (rc == 0 && dup > 0)
		rc = pz_fail(e, PZ_INVALID_MODEL, "values",
		             "values has two rows of stateKey %.100s and offer %.100s.",
		             out->values[dup].state_key, out->values[dup].offer);
	if (rc == 0)
		out->rows = model_list(ctx, sizeof(*out->rows), contextual_row, model_row_cmp,
		                       &out->n_rows, &dup, &rc, e);
	if (rc == 0 && dup > 0)
		rc = pz_fail(e, PZ_INVALID_MODEL, "contextual",
		             "contextual has two rows of offer %.100s.", out->rows[dup].offer);
	if (rc != 0)
		pz_model_free(out);
	return rc;
}

/* --- paths --------------------------------------------------------------------------- */

typedef struct pz_route {
	const char *method;
	const char *pattern; /* '*' is the one id segment */
	pz_op op;
	pz_kind id_kind; /* how a bad id is reported */
} pz_route;

static const pz_route routes[] = {
    {"POST", "rank", PZ_OP_RANK, PZ_INVALID_RANK},
    {"POST", "events/*/reward", PZ_OP_REWARD, PZ_INVALID_REWARD},
    {"POST", "events/*/activate", PZ_OP_ACTIVATE, PZ_INVALID_ACTIVATE},
    {"POST", "multislot/rank", PZ_OP_MULTI_RANK, PZ_INVALID_RANK},
    {"POST", "multislot/events/*/reward", PZ_OP_MULTI_REWARD, PZ_INVALID_REWARD},
    {"POST", "multislot/events/*/activate", PZ_OP_MULTI_ACTIVATE, PZ_INVALID_ACTIVATE},
    {"GET", "configurations/service", PZ_OP_SERVICE_GET, PZ_BAD_REQUEST},
    {"PUT", "configurations/service", PZ_OP_SERVICE_PUT, PZ_BAD_REQUEST},
    {"GET", "configurations/policy", PZ_OP_POLICY_GET, PZ_BAD_REQUEST},
    {"PUT", "configurations/policy", PZ_OP_POLICY_PUT, PZ_BAD_REQUEST},
    {"DELETE", "configurations/policy", PZ_OP_POLICY_DELETE, PZ_BAD_REQUEST},
    {"GET", "evaluations", PZ_OP_EVAL_LIST, PZ_BAD_REQUEST},
    {"POST", "evaluations", PZ_OP_EVAL_CREATE, PZ_BAD_REQUEST},
    {"GET", "evaluations/*", PZ_OP_EVAL_GET, PZ_EVAL_NOT_FOUND},
    {"DELETE", "evaluations/*", PZ_OP_EVAL_DELETE, PZ_EVAL_NOT_FOUND},
    {"GET", "model", PZ_OP_MODEL_GET, PZ_BAD_REQUEST},
    {"PUT", "model", PZ_OP_MODEL_PUT, PZ_BAD_REQUEST},
    {"DELETE", "model", PZ_OP_MODEL_DELETE, PZ_BAD_REQUEST},
    {"GET", "model/properties", PZ_OP_MODEL_PROPERTIES, PZ_BAD_REQUEST},
    {"DELETE", "logs", PZ_OP_LOGS_DELETE, PZ_BAD_REQUEST},
    {"GET", "logs/properties", PZ_OP_LOGS_PROPERTIES, PZ_BAD_REQUEST},
};

/*
 * Matches path against pattern; on a match the '*' segment's bounds go to
 * *id and *id_len (NULL when the pattern has none). Returns 1 on a match.
 */
static int route_match(const char *pattern, const char *path, const char **id, size_t *id_len)
{
	*id = NULL;
	*id_len = 0;
	while (*pattern != '\0') {
		if (*pattern == '*') {
			const char *end = strchr(path, '/');
			size_t n = end != NULL ? (size_t)(end - path) : strlen(path);

			if (n == 0)
				return 0;
			*id = path;
			*id_len = n;
			path += n;
			pattern++;
			continue;
		}
		if (*pattern != *path)
			return 0;
		pattern++;
		path++;
	}
	return *path == '\0';
}

int pz_path_parse(const char *method, const char *path, pz_op *op, char id[PZ_ID_MAX + 1], pz_error *e)
{
	const size_t plen = strlen(PZ_PREFIX);
	const pz_route *hit = NULL;
	const char *rest;
	const char *seg = NULL;
	size_t seg_len = 0;
	int path_known = 0;

	*op = PZ_OP_NONE;
	id[0] = '\0';
	if (strncmp(path, PZ_PREFIX, plen) != 0)
		return pz_fail(e, PZ_NOT_FOUND, NULL,
		               "Requested resource does not exist on the server: %.200s", path);
	rest = path + plen;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(routes); i++) {
		const char *s;
		size_t n;

		if (!route_match(routes[i].pattern, rest, &s, &n))
			continue;
		path_known = 1;
		if (strcmp(routes[i].method, method) == 0) {
			hit = &routes[i];
			seg = s;
			seg_len = n;
			break;
		}
	}
	if (hit == NULL && path_known)
		return pz_fail(e, PZ_METHOD, NULL, "%.16s is not allowed on %.200s.", method, path);
	if (hit == NULL)
		return pz_fail(e, PZ_NOT_FOUND, NULL,
		               "Requested resource does not exist on the server: %.200s", path);
	if (seg != NULL) {
		int eval = hit->id_kind == PZ_EVAL_NOT_FOUND;
		int rc = id_check(eval ? "evaluationId" : "eventId", seg, seg_len,
		                  eval ? PZ_BAD_REQUEST : hit->id_kind, e);

		if (rc != 0)
			return rc;
		memcpy(id, seg, seg_len);
		id[seg_len] = '\0';
	}
	*op = hit->op;
	return 0;
}
