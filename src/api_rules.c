/*
 * api_rules.c — GET /rules and PUT /rules: the caller's company's rules and
 * contact policy (rules.h), for admin keys.
 *
 * PUT {"rules": "TEXT"} checks the text with the same parser the refresher
 * uses (a 422 names the line), stores it as the company's next version in
 * tb_rules on a connection of its own (an admin's rare write, so the
 * connection's thread may wait for it) and puts it in force in this process
 * at once; other processes read it within one --refresh interval. GET
 * answers from memory: {"company", "version" (0: none), "rules"}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api.h"
#include "db.h"
#include "log.h"
#include "rules.h"
#include "util.h"

typedef struct rules_ctx {
	api_call call;
} rules_ctx;

static void rules_reply(api_call *call, int status)
{
	int64_t version = 0;
	char *text = server_rules_text(call->s, call->company, &version);
	json_t *j = json_pack("{s:s, s:I, s:s}", "company", call->company, "version",
	                      (json_int_t)version, "rules", text != NULL ? text : "");
	char *body = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

	json_decref(j);
	free(text);
	http_reply(call->r, status, "application/json", body, strlen(body));
}

static void rules_put(api_call *call, const char *body, size_t len)
{
	static const char *const members[] = {"rules"};
	req_error e;
	json_t *j = request_body(body, len, &e);
	const char *text;
	const char *key;
	rules *set = NULL;
	store *st = NULL;
	char err[512];
	int64_t version = 0;
	int rc;

	if (j == NULL) {
		api_error_req(call->r, &e);
		goto out;
	}
	/* A member PUT /rules does not take is an error, as on every admin route. */
	key = request_unknown_member(j, members, UTIL_ARRAY_LEN(members));
	if (key != NULL) {
		api_error(call->r, ERR_INVAL, key,
		          "unknown field \"%.64s\" (PUT /rules takes \"rules\")", key);
		goto out;
	}
	text = json_string_value(json_object_get(j, "rules"));
	if (text == NULL) {
		api_error(call->r, ERR_INVAL, "rules", "rules must be the rules text, a string");
		goto out;
	}
	if (strlen(text) > RULES_FILE_MAX) {
		api_error(call->r, ERR_TOOBIG, "rules", "rules are longer than %d bytes",
		          RULES_FILE_MAX);
		goto out;
	}
	rc = rules_parse(text, strlen(text), "rules", &set, err, sizeof(err));
	if (rc != 0) {
		api_error(call->r, ERR_INVAL, "rules", "%s", err);
		goto out;
	}
	rc = store_open(call->s->cfg->database_url, &st);
	if (rc == 0)
		rc = db_rules_put(st, call->company, text, &version);
	if (rc != 0) {
		log_msg(LOG_WARN, "cannot store the rules of company %s: %s", call->company,
		        st != NULL ? st->ops->errmsg(st) : "no connection");
		api_error(call->r, ERR_UNAVAIL, NULL, "the rules could not be stored; retry later");
		goto out;
	}
	rc = server_rules_install(call->s, call->company, version, text, err, sizeof(err));
	if (rc != 0) {
		api_error(call->r, ERR_INVAL, "rules", "%s", err);
		goto out;
	}
	rules_reply(call, 200);
out:
	rules_free(set);
	if (st != NULL)
		store_close(st);
	json_decref(j);
}

static void rules_complete(api_call *call, const char *body, size_t len)
{
	if (strcmp(http_method(call->r), "PUT") == 0)
		rules_put(call, body, len);
	else
		rules_reply(call, 200);
}

static void rules_resume(api_call *call)
{
	(void)call;
}

const api_endpoint api_rules_endpoint = {
    .ctx_size = sizeof(rules_ctx),
    .complete = rules_complete,
    .resume = rules_resume,
};
