/*
 * api_predict.c — POST /predict and POST /predict-v2.
 *
 * The decision is made in memory on the request's thread (api_decide); the
 * episode is queued for the writer and the connection suspended (api.c's
 * call skeleton); the answer is built on the connection's thread once the
 * episode is committed.
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
	api_call call;
	api_decision d;
	int v2;
} predict_ctx;

int api_decide(server *s, const char *company, api_decision *d)
{
	char rfm[AGENT_SEGMENT_MAX];
	const char *seg = NULL;
	decide_arms arms;
	decide_gate g;
	int rc;

	server_arms(s, &arms);
	if (server_segment(s, company, d->req.customer_id, rfm, sizeof(rfm)))
		seg = rfm;
	server_gate(s, company, &g);
	rc = decide_arms_episode(&arms, s->vals, rng_thread(), company, &d->req, seg, &g, &d->res,
	                         &d->op.ep);
	server_gate_release(&g);
	if (rc != 0)
		return rc;
	metrics_decision(agent_policy_name(d->res.conf.policy));
	d->op.kind = WOP_EPISODE;
	return 0;
}

int api_product_name(server *s, const char *company, const char *offer, char *out, size_t n)
{
	out[0] = '\0';
	/* An empty name in the catalogue is no name: /predict-v2 says null (issue 15.16). */
	return server_product(s, company, offer, out, n) && out[0] != '\0';
}

static void predict_free(api_call *call)
{
	predict_ctx *c = (predict_ctx *)call;

	request_predict_free(&c->d.req);
	decide_result_free(&c->d.res);
}

/* The connection's thread, once the episode is committed (or failed). */
static void predict_answer(api_call *call)
{
	predict_ctx *c = (predict_ctx *)call;
	api_decision *d = &c->d;
	writer_op *op = &d->op;
	char today[11];
	json_t *j;
	json_t *best;
	char *body;

	if (op->rc != 0) {
		api_error(call->r, op->rc == ERR_UNAVAIL ? ERR_UNAVAIL : ERR_IO, NULL,
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

			if (api_product_name(call->s, call->company, offer, name, sizeof(name)))
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
	http_reply(call->r, 200, "application/json", body, strlen(body));
}

static void predict_complete(api_call *call, const char *body, size_t len)
{
	predict_ctx *c = (predict_ctx *)call;
	req_error e;

	if (request_parse_predict(body, len, &c->d.req, &e) != 0) {
		api_error_req(call->r, &e);
		return;
	}
	if (api_decide(call->s, call->company, &c->d) != 0) {
		/* 422: the company's rules and contact policy left nothing (why names each offer). */
		api_error(call->r, ERR_INVAL, "offers", "%s",
		          c->d.res.why[0] != '\0' ? c->d.res.why : "no offer is flagged true");
		return;
	}
	if (api_call_submit(call, &c->d.op) != 0) {
		api_error(call->r, ERR_UNAVAIL, NULL, "too many requests are waiting for the database");
		return;
	}
	if (!api_call_wait(call))
		predict_answer(call);
}

static int predict_v2_start(api_call *call)
{
	((predict_ctx *)call)->v2 = 1;
	return 0;
}

const api_endpoint api_predict_endpoint = {
    .ctx_size = sizeof(predict_ctx),
    .complete = predict_complete,
    .resume = predict_answer,
    .free = predict_free,
};

const api_endpoint api_predict_v2_endpoint = {
    .ctx_size = sizeof(predict_ctx),
    .start = predict_v2_start,
    .complete = predict_complete,
    .resume = predict_answer,
    .free = predict_free,
};
