/*
 * api_customers.c — DELETE /customers/{customer_id} (issue 16.3, admin keys
 * only): forgets a customer of the key's company. The writer does the work
 * in one transaction, in the queue of the customer's rewards (so it is
 * ordered after the rewards already queued): the customer's episodes,
 * rewards, segment and Idempotency-Keys are deleted, their contributions
 * subtracted from the learned statistics, and TB_ERASURES records that an
 * erasure happened (counts and the key's prefix, not the customer). The
 * answer comes once committed.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "api.h"
#include "auth.h"
#include "customer.h"
#include "util.h"

#define CUSTOMERS_PREFIX "/customers/"

typedef struct customers_ctx {
	api_call call;
	writer_op op;
	char customer_id[CUSTOMER_ID_MAX + 1];
	char by[AUTH_PREFIX_LEN + 8]; /* "key:" + the key's public prefix */
} customers_ctx;

/* The connection's thread, once the erasure is committed (or refused). */
static void customers_answer(api_call *call)
{
	customers_ctx *c = (customers_ctx *)call;
	const db_erasure *e = &c->op.erasure;
	json_t *o;
	char *text;

	switch (c->op.rc) {
	case 0: break;
	case ERR_NOTFOUND:
		api_error(call->r, ERR_NOTFOUND, "customer_id",
		          "customer_id \"%s\" has no episode and no segment in company %s",
		          c->customer_id, call->company);
		return;
	default:
		api_error(call->r, c->op.rc == ERR_UNAVAIL ? ERR_UNAVAIL : ERR_IO, NULL,
		          "the erasure could not be committed; nothing was deleted, retry later");
		return;
	}
	/* The customer's id is not repeated: the answer may end up in logs. */
	o = json_pack("{sssIsIsIsIsb}", "company", call->company, "episodes", (json_int_t)e->episodes,
	              "rewards", (json_int_t)e->rewards, "learned", (json_int_t)e->learned, "segments",
	              (json_int_t)e->segments, "approximate", e->approximate != 0);
	text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text == NULL) {
		api_error(call->r, ERR_IO, NULL, "out of memory");
		return;
	}
	http_reply(call->r, 200, "application/json", text, strlen(text));
}

/* The rest of the path, '/' included (libmicrohttpd has decoded %2F), if customer.h takes it
 * as an id: else a 400. */
static int customers_id(customers_ctx *c, const char *path)
{
	const char *id = path + strlen(CUSTOMERS_PREFIX);
	char why[160];

	if (customer_id_check(id, why, sizeof(why)) != 0) {
		api_error(c->call.r, ERR_SYNTAX, "customer_id", "%s", why);
		return ERR_SYNTAX;
	}
	util_strlcpy(c->customer_id, id, sizeof(c->customer_id));
	return 0;
}

/* Who asked, for the audit: the key's public prefix (the tenant has only its hash). */
static void customers_by(customers_ctx *c)
{
	const char *x_key = NULL;
	const char *key = NULL;
	const char *why = NULL;
	char prefix[AUTH_PREFIX_LEN + 1];

	util_strlcpy(c->by, "auth-off", sizeof(c->by));
	if (auth_key_subscription(http_header(c->call.r, "X-API-Key"),
	                          http_header(c->call.r, "Ocp-Apim-Subscription-Key"), &x_key,
	                          &why) != 0 ||
	    auth_key_from_headers(x_key, http_header(c->call.r, "Authorization"), &key, &why) != 0 ||
	    key == NULL || key[0] == '\0')
		return;
	auth_prefix(key, prefix);
	snprintf(c->by, sizeof(c->by), "key:%s", prefix);
}

static void customers_complete(api_call *call, const char *body, size_t len)
{
	customers_ctx *c = (customers_ctx *)call;

	(void)body;
	(void)len;
	if (customers_id(c, http_path(call->r)) != 0)
		return;
	customers_by(c);
	c->op.kind = WOP_ERASE;
	c->op.rin.company = call->company;
	c->op.rin.customer_id = c->customer_id;
	c->op.erasure.by = c->by;
	api_call_run(call, &c->op);
}

const api_endpoint api_customers_endpoint = {
    .ctx_size = sizeof(customers_ctx),
    .complete = customers_complete,
    .resume = customers_answer,
};
