/*
 * api_evaluations.c — POST /evaluations, GET /evaluations and GET
 * /evaluations/{id} (issue 17.2, admin keys only).
 *
 * POST validates the body (evaluation.h's request: candidate policies with
 * their parameters and a window of logging dates) and queues a job with the
 * evaluation runner; it answers 202 with the job's id at once. The job runs
 * on the runner's thread with its own database connection; GET reads
 * tb_evaluations, so any offerd process on the database answers it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api.h"
#include "evaluation.h"
#include "util.h"

#define EVALS_PATH "/evaluations"

typedef struct evals_ctx {
	api_call call;
} evals_ctx;

static void reply(http_req *r, int status, json_t *j)
{
	char *body = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));

	json_decref(j);
	http_reply(r, status, "application/json", body, strlen(body));
}

static void evals_create(api_call *c, const char *body, size_t len)
{
	eval_request *q = xmalloc(sizeof(*q));
	char id[EVAL_ID_LEN + 1];
	char location[64];
	req_error e;
	int rc;

	rc = evaluation_request_parse(body, len, q, &e);
	if (rc != 0) {
		api_error_req(c->r, &e);
		goto out;
	}
	rc = c->s->evals != NULL ? evaluation_submit(c->s->evals, c->company, q, id) : ERR_UNAVAIL;
	if (rc != 0) {
		api_error(c->r, ERR_UNAVAIL, NULL,
		          "the evaluation could not be queued: %d are queued or running in this "
		          "process, or the database is down; retry later",
		          EVAL_QUEUE_MAX);
		goto out;
	}
	snprintf(location, sizeof(location), EVALS_PATH "/%s", id);
	http_add_header(c->r, "Location", location);
	reply(c->r, 202, json_pack("{s:s,s:s}", "id", id, "status", "queued"));
out:
	free(q);
}

/* Whether id could be a job id (hex, EVAL_ID_LEN): anything else is a 404 without a query. */
static int id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n != EVAL_ID_LEN)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (util_hexval(id[i]) < 0)
			return 0;
	}
	return 1;
}

static void evals_read(api_call *c)
{
	const char *path = http_path(c->r);
	const char *id = NULL;
	json_t *j = NULL;
	int rc;

	if (strcmp(path, EVALS_PATH) != 0) {
		id = path + strlen(EVALS_PATH "/");
		if (!id_valid(id)) {
			api_error(c->r, ERR_NOTFOUND, "id", "no evaluation %.64s", id);
			return;
		}
	}
	rc = c->s->evals != NULL ? evaluation_get(c->s->evals, c->company, id, &j) : ERR_UNAVAIL;
	if (rc == ERR_NOTFOUND) {
		api_error(c->r, ERR_NOTFOUND, "id", "no evaluation %.64s for company %s", id,
		          c->company);
		return;
	}
	if (rc != 0) {
		api_error(c->r, ERR_UNAVAIL, NULL, "the evaluations could not be read; retry later");
		return;
	}
	if (id == NULL)
		j = json_pack("{s:o}", "evaluations", j);
	reply(c->r, 200, j);
}

static void evals_complete(api_call *c, const char *body, size_t len)
{
	if (strcmp(http_method(c->r), "POST") == 0)
		evals_create(c, body, len);
	else
		evals_read(c);
}

const api_endpoint api_evaluations_endpoint = {
    .ctx_size = sizeof(evals_ctx),
    .complete = evals_complete,
};
