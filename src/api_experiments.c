/*
 * api_experiments.c — champion/challenger over REST (issue 17.1), admin
 * keys only (ROUTE_ADMIN):
 *
 *   GET  /experiments          the arms of the key's company: version, role,
 *                              traffic, decisions, rewards, acceptance, ci95,
 *                              p_better (experiment.h), as the refresher last
 *                              counted them
 *   POST /experiments/promote  {"version": "2.0.0"} (optional: the challenger)
 *   POST /experiments/rollback {}
 *
 * A change is one transaction on a connection of its own (an admin's rare
 * call, not the request path of decisions); every offerd, this one
 * included, applies it at its next refresh, and the answer shows the
 * set-up as changed.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "api.h"
#include "experiment.h"
#include "log.h"
#include "util.h"

static json_t *arms_json(const char *company, const experiment_arm *arms, size_t n)
{
	json_t *j = json_object();
	json_t *list = json_array();

	for (size_t i = 0; i < n; i++) {
		const experiment_arm *a = &arms[i];
		json_t *arm = json_object();

		json_object_set_new(arm, "version", json_string(a->version));
		json_object_set_new(arm, "role", json_string(experiment_role_name(a->role)));
		json_object_set_new(arm, "traffic", json_real(a->traffic));
		json_object_set_new(arm, "decisions", json_integer((json_int_t)a->decisions));
		json_object_set_new(arm, "rewards", json_integer((json_int_t)a->rewards));
		json_object_set_new(arm, "acceptance", json_real(a->acceptance));
		json_object_set_new(arm, "ci95", json_pack("[ff]", a->lo, a->hi));
		json_object_set_new(arm, "p_better",
		                    isnan(a->p_better) ? json_null() : json_real(a->p_better));
		json_array_append_new(list, arm);
	}
	json_object_set_new(j, "company", json_string(company));
	json_object_set_new(j, "arms", list);
	return j;
}

static void reply_arms(server *s, http_req *r, const char *company, const db_experiment *x)
{
	experiment_arm arms[EXPERIMENT_ARMS_MAX];
	size_t n = server_experiment(s, company, x, arms);
	json_t *j = arms_json(company, arms, n);
	char *body = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

	json_decref(j);
	http_reply(r, 200, "application/json", body, strlen(body));
}

void api_experiments_get(server *s, http_req *r, const api_tenant *t)
{
	reply_arms(s, r, t->company, NULL);
}

/* --- promote and rollback ------------------------------------------------------ */

typedef struct change_ctx {
	api_call call;
	int promote;
} change_ctx;

static int promote_start(api_call *call)
{
	((change_ctx *)call)->promote = 1;
	return 0;
}

/*
 * The body: {} or empty, and for promote an optional "version" string.
 * Returns 0 and the version ("" when none), or replies 4xx and returns
 * non-zero.
 */
static int change_body(api_call *call, const char *body, size_t len, char *version, size_t vlen)
{
	static const char *const members[] = {"version"};
	change_ctx *c = (change_ctx *)call;
	req_error e;
	const char *key;
	json_t *v;
	json_t *j;
	int rc = 0;

	version[0] = '\0';
	if (len == 0)
		return 0;
	j = request_body(body, len, &e);
	if (j == NULL) {
		api_error_req(call->r, &e);
		return e.err;
	}
	key = request_unknown_member(j, members, c->promote ? 1 : 0);
	v = json_object_get(j, "version");
	if (key != NULL) {
		api_error(call->r, ERR_INVAL, key, "unknown field \"%.64s\"%s", key,
		          c->promote ? " (promote takes \"version\")" : " (rollback takes {})");
		rc = ERR_INVAL;
	} else if (v != NULL &&
	           (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= vlen)) {
		api_error(call->r, ERR_INVAL, "version",
		          "version must be a non-empty string of at most %zu characters", vlen - 1);
		rc = ERR_INVAL;
	} else if (v != NULL) {
		util_strlcpy(version, json_string_value(v), vlen);
	}
	json_decref(j);
	return rc;
}

static void change_complete(api_call *call, const char *body, size_t len)
{
	change_ctx *c = (change_ctx *)call;
	char version[DB_VERSION_MAX];
	char err[512];
	db_experiment x;
	store *st = NULL;
	int rc;

	if (change_body(call, body, len, version, sizeof(version)) != 0)
		return;
	rc = store_open(call->s->cfg->database_url, &st);
	if (rc != 0) {
		api_error(call->r, ERR_UNAVAIL, NULL, "the database cannot be reached; retry later");
		return;
	}
	rc = c->promote ? experiment_promote(st, version, &x, err, sizeof(err))
	                : experiment_rollback(st, &x, err, sizeof(err));
	store_close(st);
	if (rc == ERR_CONFLICT) {
		api_error(call->r, ERR_CONFLICT, c->promote ? "version" : NULL, "%s", err);
		return;
	}
	if (rc != 0) {
		log_msg(LOG_ERROR, "experiment %s: %s", c->promote ? "promote" : "rollback", err);
		api_error(call->r, rc == ERR_UNAVAIL ? ERR_UNAVAIL : ERR_IO, NULL,
		          "the change could not be stored; nothing changed, retry later");
		return;
	}
	log_msg(LOG_INFO, "experiment %s by an admin key of %s: %s is the champion",
	        c->promote ? "promote" : "rollback", call->company, x.champion);
	server_refresh_soon(call->s);
	reply_arms(call->s, call->r, call->company, &x);
}

const api_endpoint api_experiments_promote_endpoint = {
    .ctx_size = sizeof(change_ctx),
    .start = promote_start,
    .complete = change_complete,
};

const api_endpoint api_experiments_rollback_endpoint = {
    .ctx_size = sizeof(change_ctx),
    .complete = change_complete,
};
