/*
 * api.h — the endpoints. api.c holds the route table (each row names its
 * handler), resolves the tenant, turns error codes into JSON errors and runs
 * the skeleton every writing endpoint shares (api_call); one file per
 * endpoint family does the rest (api_predict.c, api_rewards.c, api_batch.c).
 */
#ifndef OFFERD_API_H
#define OFFERD_API_H

#include <pthread.h>

#include "decide.h"
#include "http.h"
#include "request.h"
#include "server.h"

/* The http route callback; app is the server. */
void api_route(void *app, http_req *r);
/* The http done callback: access log and metrics. */
void api_done(void *app, http_req *r, int status, double seconds);
/* Prints "METHOD PATH" for every route served (offerd --routes). */
void api_print_routes(void);
/* Registers every route's label with metrics.c (metrics_label); once, at start. */
void api_metrics_routes(void);

/* The HTTP status for an ERR_* code. */
int api_status(int err);
/*
 * Replies {"status", "error", "field", "message"} with the status for err.
 * field may be NULL.
 */
void api_error(http_req *r, int err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void api_error_req(http_req *r, const req_error *e);

/*
 * The request's Idempotency-Key header (issue 15.2) into out[DB_IDEM_KEY_MAX + 1]:
 * "" when absent. A bad key (empty, too long, not visible ASCII) is a 400
 * naming the header: replies and returns ERR_SYNTAX. The draft's quoted
 * form ("key") and the bare form are the same key.
 */
int api_idempotency_key(http_req *r, char *out, size_t n);
/* Replies the 422 of a key already used for a request with another fingerprint. */
void api_idempotency_reused(http_req *r, const char *key);

/* Per-request: the tenant resolved by api_route (auth or --company). */
typedef struct api_tenant {
	char company[DB_COMPANY_MAX];
	char key_id[72]; /* the rate-limit bucket: key hash, or company without auth */
	int admin;       /* an admin key (or --auth off): may call ROUTE_ADMIN routes */
} api_tenant;

/*
 * A call: a request whose body becomes writer operations (/predict,
 * /predict-v2, /rewards, /batch). api.c holds the one skeleton all of them
 * follow: the route allocates the endpoint's context (which starts with an
 * api_call) and takes the body; complete() parses it and queues operations
 * with api_call_submit(); api_call_wait() suspends the connection; the
 * writer's done callback resumes it, and resume() answers on the
 * connection's own thread, so building an answer never delays a commit.
 */
typedef struct api_call api_call;
struct route; /* a row of api.c's route table */

typedef struct api_endpoint {
	size_t ctx_size; /* bytes of the context; its first member is the api_call */
	/* Optional: sets the context up before the body; replies and returns non-zero to refuse. */
	int (*start)(api_call *c);
	/* Optional: a piece of the body as it arrives (else the body is buffered);
	 * returns 0, or an ERR_* after replying. */
	int (*chunk)(api_call *c, const char *data, size_t len);
	/* The whole body is in (body is NULL when streamed): reply, or queue and wait. */
	void (*complete)(api_call *c, const char *body, size_t len);
	/* The connection's thread, after api_call_wait: reply, wait again, or (while the
	 * body streams in) return to take more of it. */
	void (*resume)(api_call *c);
	/* Optional, the writer's thread, under the call's lock, once op is done: no I/O. */
	void (*op_done)(api_call *c, writer_op *op);
	/* Optional: frees what the context holds (not the context itself). */
	void (*free)(api_call *c);
} api_endpoint;

struct api_call {
	server *s;
	http_req *r;
	const api_endpoint *ep;
	const struct route *rt; /* its row of the route table: the error shape */
	char company[DB_COMPANY_MAX];
	pthread_mutex_t lock; /* guards the fields below, shared with the writer thread */
	size_t pending;       /* operations queued and not yet done (+1 while waiting for room) */
	int waiting;          /* suspended until kicked */
	int kicked;           /* an operation was done since the call last looked */
	int gone;             /* the request is over; the context lives until pending is 0 */
	int in_room;          /* in the list of calls waiting for room in the queue */
	api_call *room_next;  /* the next one there (guarded by that list's lock) */
};

/* Queues op for c (sets op->done and op->arg). Returns 0, or ERR_UNAVAIL when the queue is full. */
int api_call_submit(api_call *c, writer_op *op);
/*
 * api_call_submit, and when the writer's queue is full a 503 ("too many
 * requests are waiting for the database") in the route's error shape.
 * Returns 0, or ERR_UNAVAIL after that answer.
 */
int api_call_queue(api_call *c, writer_op *op);
/*
 * A call's one operation: api_call_queue, then api_call_wait, and
 * ep->resume answers once op is done (at once, when it already is).
 */
void api_call_run(api_call *c, writer_op *op);
/*
 * With operations pending, suspends the connection until one is done and
 * returns 1; ep->resume then runs on the connection's thread. Returns 0,
 * without suspending, when nothing is pending or one was done since the
 * call last looked: the caller goes on at once.
 */
int api_call_wait(api_call *c);
/*
 * Returns 1 while any of c's operations is not done (c is suspended and
 * ep->resume runs again), 0 once all of them are.
 */
int api_call_wait_all(api_call *c);
/*
 * The same when the writer's queue is full and none of c's operations is
 * in it: suspends until any call's operation is done (there is room again).
 */
int api_call_wait_room(api_call *c);
/*
 * Lets the connection's thread serve others: suspends c and resumes it at
 * once, so ep->resume runs again on a later turn of MHD's loop.
 */
void api_call_yield(api_call *c);

/* The endpoints (api_predict.c, api_rewards.c, api_batch.c). */
extern const api_endpoint api_predict_endpoint;
extern const api_endpoint api_rewards_endpoint;
extern const api_endpoint api_batch_endpoint;
/* GET and PUT /rules (api_rules.c): the company's rules and contact policy. */
extern const api_endpoint api_rules_endpoint;
/* POST and GET /evaluations, GET /evaluations/{id} (api_evaluations.c). */
extern const api_endpoint api_evaluations_endpoint;
/* DELETE /customers/{customer_id} (api_customers.c): erasure, admin keys only. */
extern const api_endpoint api_customers_endpoint;

/*
 * Personalizer v1.0 under /personalizer/v1.0/ (api_personalizer.c): every
 * row of its paths names this endpoint; pz_path_parse picks the operation.
 */
extern const api_endpoint api_personalizer_endpoint;
/* Replies Personalizer's {"error": {"code", "message"}} with the status for err. */
/*
 * Queues the default rewards of the Personalizer events whose rewardWaitTime
 * passed without a reward (any process's events), reading with st; called
 * by the refresher every tick, sweeps at most once a second.
 */
void api_pz_defaults_sweep(server *s, store *st);
void api_pz_error(http_req *r, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * The web console's data (api_console.c), admin keys only: GET
 * /console/api/overview (decisions, rewards and acceptance per minute and
 * agent version), /console/api/model (the learned values per state, per
 * part of the state and over time) and /console/api/episodes (the latest
 * decisions). Each reads the database on a connection of its own, never
 * the writer's, with bounded queries.
 */
void api_console_overview(server *s, http_req *r, const struct route *rt, const api_tenant *t);
void api_console_model(server *s, http_req *r, const struct route *rt, const api_tenant *t);
void api_console_episodes(server *s, http_req *r, const struct route *rt, const api_tenant *t);
/* Champion/challenger (api_experiments.c): GET /experiments, POST .../promote, .../rollback. */
void api_experiments_get(server *s, http_req *r, const api_tenant *t);
extern const api_endpoint api_experiments_promote_endpoint;
extern const api_endpoint api_experiments_rollback_endpoint;

/* GET /ready (api_health.c): 200 when the database answers and the writer runs, else 503. */
void api_ready(server *s, http_req *r);
/* GET /export (api_export.c, admin keys): the tenant's decision log, streamed. */
void api_export(server *s, http_req *r, const api_tenant *t);

/*
 * One /predict decision on its way to the database: the request, the
 * decision and its episode op (whose strings point into this struct).
 */
typedef struct api_decision {
	writer_op op;
	predict_req req;
	decide_result res;
} api_decision;

/*
 * Decides for d->req of company with the current agent version and the
 * customer's segment (decide_episode) and prepares d->op (kind, episode).
 */
int api_decide(server *s, const char *company, api_decision *d);
/* The product name of offer for company into out (returns 1), or "" (returns 0: none, or empty). */
int api_product_name(server *s, const char *company, const char *offer, char *out, size_t n);

#endif
