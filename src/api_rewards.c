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
#include "auth.h"
#include "metrics.h"
#include "util.h"

typedef struct rewards_ctx {
	api_call call;
	writer_op op;
	reward_req req;
	char idem_key[DB_IDEM_KEY_MAX + 1]; /* "" without an Idempotency-Key */
	char idem_hash[AUTH_HASH_LEN + 1];  /* what the request asks, as stored with its key */
} rewards_ctx;

/*
 * The request's fingerprint: its parsed fields, so that a retry spelled
 * differently (whitespace, key order, the brief's field name) is the same.
 */
static void rewards_fingerprint(const reward_req *q, char *out)
{
	char *s = xasprintf("PUT /rewards\n%s\n%lld\n%d\n%s\n%s\n%s", q->customer_id,
	                    (long long)q->episode_id, q->accepted, q->accepted_offer,
	                    q->clicked ? q->clicked : "", q->timestamp);

	auth_hash(s, out);
	free(s);
}

static void rewards_free(api_call *call)
{
	request_reward_free(&((rewards_ctx *)call)->req);
}

/* The connection's thread, once the reward is committed (or refused). */
static void rewards_answer(api_call *call)
{
	rewards_ctx *c = (rewards_ctx *)call;
	writer_op *op = &c->op;
	const char *cust = c->req.customer_id;
	http_req *r = call->r;

	if (op->rout.replayed < 0) {
		api_idempotency_reused(r, c->idem_key);
		return;
	}
	if (op->rout.replayed > 0)
		http_add_header(r, "Idempotent-Replayed", "true");
	switch (op->rc) {
	case 0:
		if (!op->rout.replayed)
			metrics_reward(op->rout.agent_version, c->req.accepted);
		http_reply(r, 200, "application/json", xstrdup("\"Sucess\""), 8);
		return;
	case ERR_NOTFOUND:
		if (c->req.episode_id > 0)
			api_error(r, ERR_NOTFOUND, "episode_id",
			          "customer_id \"%s\" has no episode %lld", cust,
			          (long long)c->req.episode_id);
		else
			api_error(r, ERR_NOTFOUND, "customer_id",
			          "customer_id \"%s\" has no episode: call /predict first", cust);
		return;
	case ERR_CONFLICT:
		if (c->req.episode_id > 0)
			api_error(r, ERR_CONFLICT, "episode_id", "episode %lld already has a reward",
			          (long long)c->req.episode_id);
		else
			api_error(r, ERR_CONFLICT, "customer_id",
			          "every episode of customer_id \"%s\" already has a reward", cust);
		return;
	case ERR_INVAL:
		api_error(r, ERR_INVAL, c->req.accepted_offer[0] ? "accepted_offer" : "clicked_offers",
		          "episode %lld did not show that offer; rewards may only credit offers shown",
		          (long long)op->rout.episode_id);
		return;
	default:
		api_error(r, op->rc == ERR_UNAVAIL ? ERR_UNAVAIL : ERR_IO, NULL,
		          "the reward could not be stored; nothing was recorded, retry later");
	}
}

static void rewards_complete(api_call *call, const char *body, size_t len)
{
	rewards_ctx *c = (rewards_ctx *)call;
	req_error e;

	if (api_idempotency_key(call->r, c->idem_key, sizeof(c->idem_key)) != 0)
		return;
	if (request_parse_reward(body, len, &c->req, &e) != 0) {
		api_error_req(call->r, &e);
		return;
	}
	if (c->idem_key[0] != '\0') {
		rewards_fingerprint(&c->req, c->idem_hash);
		c->op.rin.idem_key = c->idem_key;
		c->op.rin.idem_hash = c->idem_hash;
	}
	c->op.kind = WOP_REWARD;
	c->op.rin.company = call->company;
	c->op.rin.customer_id = c->req.customer_id;
	c->op.rin.episode_id = c->req.episode_id;
	c->op.rin.accepted = c->req.accepted;
	c->op.rin.accepted_offer = c->req.accepted_offer[0] ? c->req.accepted_offer : NULL;
	c->op.rin.clicked = c->req.clicked;
	c->op.rin.request_ts = c->req.timestamp[0] ? c->req.timestamp : NULL;
	api_call_run(call, &c->op);
}

const api_endpoint api_rewards_endpoint = {
    .ctx_size = sizeof(rewards_ctx),
    .complete = rewards_complete,
    .resume = rewards_answer,
    .free = rewards_free,
};
