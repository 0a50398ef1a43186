/*
 * api_predict.c — POST /predict and POST /predict-v2.
 *
 * The decision is made in memory on the request's thread (api_decide); the
 * episode is queued for the writer and the connection suspended (api.c's
 * call skeleton); the answer is built on the connection's thread once the
 * episode is committed.
 *
 * ?explain=1 adds "explanation" (issue 17.3): per shown offer, the score,
 * its uncertainty, whether the slot explored, and the features (or, for a
 * tabular policy, the state's value and count) that weighed most
 * (agent_explain). Without it nothing of that is computed or allocated,
 * and the answer is byte for byte what it was.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api.h"
#include "date.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "util.h"

typedef struct predict_ctx {
	api_call call;
	api_decision d;
	int v2;                 /* POST /predict-v2: the offers' names too */
	policy_explanation *ex; /* ?explain=1: one per shown offer; NULL otherwise */
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
	metrics_decision(d->res.conf.policy);
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
	free(c->ex);
}

/* Whether the request asks ?explain=1 (api.c has checked the value). */
static int wants_explain(http_req *r)
{
	const char *v = http_query(r, "explain");

	return v != NULL && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

/* The explanation of the decision in c, computed on the request's thread before it is stored. */
static void predict_explain(predict_ctx *c)
{
	api_call *call = &c->call;
	api_decision *d = &c->d;
	char rfm[AGENT_SEGMENT_MAX];
	const char *seg = NULL;

	if (server_segment(call->s, call->company, d->req.customer_id, rfm, sizeof(rfm)))
		seg = rfm;
	c->ex = xcalloc(OFFERS_SHOWN, sizeof(*c->ex));
	if (agent_explain(&d->res.conf, call->s->vals, call->company, &d->req, seg, &d->res.dec,
	                  c->ex) != 0) {
		free(c->ex);
		c->ex = NULL;
	}
}

/* "explanation": [{"offer", "score", "uncertainty", "explored", "top_features", ...}]. */
static json_t *explanation_json(const predict_ctx *c)
{
	json_t *list = json_array();

	for (size_t k = 0; k < c->d.res.dec.n && k < OFFERS_SHOWN; k++) {
		const policy_explanation *e = &c->ex[k];
		json_t *o = json_object();
		json_t *top = json_array();

		json_object_set_new(o, "offer", json_string(c->d.res.offers[k]));
		json_object_set_new(o, "score", json_real(e->score));
		json_object_set_new(o, "uncertainty", json_real(e->uncertainty));
		json_object_set_new(o, "explored", json_boolean(e->explored));
		json_object_set_new(o, "propensity", json_real(c->d.res.dec.propensity[k]));
		if (e->tabular) {
			json_object_set_new(o, "value", json_real(e->value));
			json_object_set_new(o, "count", json_real(e->count));
		}
		for (size_t f = 0; f < e->ntop; f++)
			json_array_append_new(top, json_pack("{s:s,s:f}", "name", e->top[f].name,
			                                     "weight", e->top[f].weight));
		json_object_set_new(o, "top_features", top);
		json_array_append_new(list, o);
	}
	return list;
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
	date_today(today);
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
	if (c->ex != NULL)
		json_object_set_new(j, "explanation", explanation_json(c));
	body = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	http_reply(call->r, 200, "application/json", body, strlen(body));
}

static void predict_complete(api_call *call, const char *body, size_t len)
{
	predict_ctx *c = (predict_ctx *)call;
	req_error e;

	/* One endpoint for both routes: only the answer's shape differs. */
	c->v2 = strcmp(http_path(call->r), "/predict-v2") == 0;
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
	if (wants_explain(call->r))
		predict_explain(c);
	api_call_run(call, &c->d.op);
}

const api_endpoint api_predict_endpoint = {
    .ctx_size = sizeof(predict_ctx),
    .complete = predict_complete,
    .resume = predict_answer,
    .free = predict_free,
};
