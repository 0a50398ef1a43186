/*
 * api_rewards.c — PUT /rewards: attaches the reward to an episode and
 * learns from it, in the writer's transaction; answers "Sucess" (the
 * brief's spelling, which clients compare) once committed.
 *
 * Attribution rule: the reward goes to `episode_id` when given, else to the
 * customer's latest episode that has no reward yet. A customer without any
 * episode gets 404; one whose episodes are all rewarded gets 409.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "metrics.h"
#include "util.h"

typedef struct rewards_ctx {
	writer_op op;
	reward_req req;
	char company[SERVER_COMPANY_MAX];
	http_req *r;
} rewards_ctx;

static void rewards_ctx_free(void *p)
{
	rewards_ctx *c = p;

	request_reward_free(&c->req);
	free(c);
}

/* The connection's thread, once the reward is committed (or refused). */
static void rewards_answer(void *app, http_req *r)
{
	rewards_ctx *c = http_ctx(r);
	writer_op *op = &c->op;
	const char *cust = c->req.customer_id;

	switch (op->rc) {
	case 0:
		metrics_reward(op->rout.agent_version, c->req.accepted);
		http_reply(c->r, 200, "application/json", xstrdup("\"Sucess\""), 8);
		return;
	case ERR_NOTFOUND:
		if (c->req.episode_id > 0)
			api_error(c->r, ERR_NOTFOUND, "episode_id",
			          "customer_id \"%s\" has no episode %lld", cust,
			          (long long)c->req.episode_id);
		else
			api_error(c->r, ERR_NOTFOUND, "customer_id",
			          "customer_id \"%s\" has no episode: call /predict first", cust);
		return;
	case ERR_CONFLICT:
		if (c->req.episode_id > 0)
			api_error(c->r, ERR_CONFLICT, "episode_id", "episode %lld already has a reward",
			          (long long)c->req.episode_id);
		else
			api_error(c->r, ERR_CONFLICT, "customer_id",
			          "every episode of customer_id \"%s\" already has a reward", cust);
		return;
	case ERR_INVAL:
		api_error(c->r, ERR_INVAL, c->req.accepted_offer[0] ? "accepted_offer" : "clicked_offers",
		          "episode %lld did not show that offer; rewards may only credit offers shown",
		          (long long)op->rout.episode_id);
		return;
	default:
		api_error(c->r, op->rc == ERR_UNAVAIL ? ERR_UNAVAIL : ERR_IO, NULL,
		          "the reward could not be stored; nothing was recorded, retry later");
	}
	(void)app;
}

/* Writer thread: hand the answer to the connection's thread at once. */
static void rewards_done(writer_op *op)
{
	rewards_ctx *c = op->arg;

	http_resume(c->r, rewards_answer);
}

static void rewards_complete(void *app, http_req *r)
{
	server *s = app;
	rewards_ctx *c = http_ctx(r);
	req_error e;
	size_t len;
	const char *body = http_body(r, &len);

	if (request_parse_reward(body, len, &c->req, &e) != 0) {
		api_error_req(r, &e);
		return;
	}
	c->op.kind = WOP_REWARD;
	c->op.rin.company = c->company;
	c->op.rin.customer_id = c->req.customer_id;
	c->op.rin.episode_id = c->req.episode_id;
	c->op.rin.accepted = c->req.accepted;
	c->op.rin.accepted_offer = c->req.accepted_offer[0] ? c->req.accepted_offer : NULL;
	c->op.rin.clicked = c->req.clicked;
	c->op.rin.request_ts = c->req.timestamp[0] ? c->req.timestamp : NULL;
	c->op.done = rewards_done;
	c->op.arg = c;
	http_defer(r);
	if (writer_submit(s->w, &c->op) != 0)
		api_error(r, ERR_UNAVAIL, NULL, "too many requests are waiting for the database");
}

void api_rewards_route(server *s, http_req *r, const api_tenant *t)
{
	rewards_ctx *c;

	if (api_require_type(r, "application/json", "text/json") != 0)
		return;
	c = xcalloc(1, sizeof(*c));
	c->r = r;
	util_strlcpy(c->company, t->company, sizeof(c->company));
	http_set_ctx(r, c, rewards_ctx_free);
	http_expect_body(r, (size_t)s->cfg->body_max, NULL, rewards_complete);
}
