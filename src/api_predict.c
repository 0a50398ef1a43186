/*
 * api_predict.c — POST /predict and POST /predict-v2.
 *
 * The decision is made in memory on the request's thread; the episode is
 * queued for the writer and the connection suspended; the answer leaves
 * only after the episode is committed (the writer's done callback).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

typedef struct predict_ctx {
	api_decision d;
	char company[SERVER_COMPANY_MAX];
	server *s;
	http_req *r;
	int v2;
} predict_ctx;

int api_decide(server *s, const char *company, api_decision *d)
{
	char rfm[AGENT_SEGMENT_MAX];
	const char *seg = NULL;
	agent_conf conf;
	int rc;

	server_conf(s, &conf);
	if (server_segment(s, company, d->req.customer_id, rfm, sizeof(rfm)))
		seg = rfm;
	rc = decide_episode(&conf, s->vals, rng_thread(), company, &d->req, seg, &d->res, &d->op.ep);
	if (rc != 0)
		return rc;
	metrics_decision(agent_policy_name(conf.policy));
	d->op.kind = WOP_EPISODE;
	return 0;
}

int api_product_name(server *s, const char *company, const char *offer, char *out, size_t n)
{
	out[0] = '\0';
	return server_product(s, company, offer, out, n);
}

static void predict_ctx_free(void *p)
{
	predict_ctx *c = p;

	request_predict_free(&c->d.req);
	free(c);
}

/* The connection's thread, once the episode is committed (or failed). */
static void predict_answer(void *app, http_req *r)
{
	predict_ctx *c = http_ctx(r);
	api_decision *d = &c->d;
	writer_op *op = &d->op;
	char today[11];
	json_t *j;
	json_t *best;
	char *body;

	(void)app;
	if (op->rc != 0) {
		api_error(c->r, op->rc == ERR_UNAVAIL ? ERR_UNAVAIL : ERR_IO, NULL,
		          "the episode could not be stored; nothing was recorded, retry later");
		return;
	}
	util_today(today);
	j = json_object();
	json_object_set_new(j, "customer_id", json_string(d->req.customer_id));
	json_object_set_new(j, "response-date", json_string(today));
	if (c->v2) {
		best = json_object();
		for (size_t k = 0; k < d->res.dec.n; k++) {
			char name[256];
			const char *offer = d->res.offers[k];

			if (api_product_name(c->s, c->company, offer, name, sizeof(name)))
				json_object_set_new(best, offer, json_string(name));
			else
				json_object_set_new(best, offer, json_null());
		}
	} else {
		best = json_array();
		for (size_t k = 0; k < d->res.dec.n; k++)
			json_array_append_new(best, json_string(d->res.offers[k]));
	}
	json_object_set_new(j, "best-three-offers", best);
	json_object_set_new(j, "episode_id", json_integer((json_int_t)op->ep.id));
	json_object_set_new(j, "agent-version", json_string(d->res.conf.version));
	json_object_set_new(j, "state", json_string(d->res.dec.state_key));
	body = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	http_reply(c->r, 200, "application/json", body, strlen(body));
}

/* Writer thread: hand the answer to the connection's thread at once. */
static void predict_done(writer_op *op)
{
	predict_ctx *c = op->arg;

	/* Last: after this the request (and c) may be freed by MHD. */
	http_resume(c->r, predict_answer);
}

static void predict_complete(void *app, http_req *r)
{
	server *s = app;
	predict_ctx *c = http_ctx(r);
	req_error e;
	size_t len;
	const char *body = http_body(r, &len);

	if (request_parse_predict(body, len, &c->d.req, &e) != 0) {
		api_error_req(r, &e);
		return;
	}
	if (api_decide(s, c->company, &c->d) != 0) {
		api_error(r, ERR_INVAL, "offers", "no offer is flagged true");
		return;
	}
	c->d.op.done = predict_done;
	c->d.op.arg = c;
	/* Suspend before queueing: the writer may answer at once. */
	http_defer(r);
	if (writer_submit(s->w, &c->d.op) != 0)
		api_error(r, ERR_UNAVAIL, NULL, "too many requests are waiting for the database");
}

void api_predict_route(server *s, http_req *r, const api_tenant *t, int v2)
{
	predict_ctx *c;

	if (api_require_type(r, "application/json", "text/json") != 0)
		return;
	c = xcalloc(1, sizeof(*c));
	c->s = s;
	c->r = r;
	c->v2 = v2;
	util_strlcpy(c->company, t->company, sizeof(c->company));
	http_set_ctx(r, c, predict_ctx_free);
	http_expect_body(r, (size_t)s->cfg->body_max, NULL, predict_complete);
}
