/*
 * api.h — the endpoints. api.c routes requests, resolves the tenant and
 * turns error codes into JSON errors; one file per endpoint family does the
 * rest (api_predict.c, api_rewards.c, api_batch.c).
 */
#ifndef OFFERD_API_H
#define OFFERD_API_H

#include "http.h"
#include "request.h"
#include "server.h"

/* The http route callback; app is the server. */
void api_route(void *app, http_req *r);
/* The http done callback: access log and metrics. */
void api_done(void *app, http_req *r, int status, double seconds);
/* Prints "METHOD PATH" for every route served (offerd --routes). */
void api_print_routes(void);

/* The HTTP status for an ERR_* code. */
int api_status(int err);
/*
 * Replies {"status", "error", "field", "message"} with the status for err.
 * field may be NULL.
 */
void api_error(http_req *r, int err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void api_error_req(http_req *r, const req_error *e);

/* Per-request: the tenant resolved by api_route (auth or --company). */
typedef struct api_tenant {
	char company[SERVER_COMPANY_MAX];
	char key_id[72];  /* the rate-limit bucket: key hash, or company without auth */
} api_tenant;

/* Endpoint entry points: called with the tenant resolved and method checked. */
void api_predict_route(server *s, http_req *r, const api_tenant *t, int v2);
void api_rewards_route(server *s, http_req *r, const api_tenant *t);
void api_batch_route(server *s, http_req *r, const api_tenant *t);
/* GET /ready (api_health.c): 200 when the database answers and the writer runs, else 503. */
void api_ready(server *s, http_req *r);

/*
 * One /predict decision on its way to the database: the request, the
 * decision and the episode (whose strings point into this struct).
 */
typedef struct api_decision {
	writer_op op;
	predict_req req;
	agent_decision dec;
	agent_conf conf;
	char company[SERVER_COMPANY_MAX];
	char request_ts[40];
} api_decision;

/* Decides for d->req of company and prepares d->op (kind, episode). */
int api_decide(server *s, const char *company, api_decision *d);
/* The product name of offer for company into out, or "" (returns 0). */
int api_product_name(server *s, const char *company, const char *offer, char *out, size_t n);

/* Checks the Content-Type is one of the accepted ones; replies 415 if not. */
int api_require_type(http_req *r, const char *type, const char *alt);

#endif
