/*
 * evaluation.h — evaluations of candidate policies over the logged
 * episodes (issue 17.2): the one computation `offerctl evaluate`, POST
 * /evaluations and Personalizer's evaluations share (ope.h's estimators),
 * and the background runner that holds the jobs in tb_evaluations.
 *
 * A request names up to EVAL_POLICIES_MAX candidates, each a policy name
 * with parameters, and a window of logging dates. evaluation_run reads the
 * window's episodes once (in pages, db_episodes_logged) and scores every
 * candidate on them; evaluation_result_json is the answer's "results".
 *
 * The runner: POST inserts a queued row and hands the job to one of
 * EVAL_WORKERS threads of this process, each with its own database
 * connection, so a job never runs on an HTTP thread and never shares the
 * writer's or the refresher's connection. At most EVAL_QUEUE_MAX jobs are
 * queued or running per process; beyond that, submit says ERR_UNAVAIL (the
 * route answers 503 with Retry-After). A running job writes its progress
 * and a heartbeat about every second; queued ones are kept alive by the
 * same beat. A job whose process died (no heartbeat for EVAL_STALE_S
 * seconds) is marked failed by the next read of any process; it is not
 * resumed (the caller starts it again).
 */
#ifndef OFFERD_EVALUATION_H
#define OFFERD_EVALUATION_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "db.h"
#include "ope.h"
#include "request.h"
#include "store.h"

#define EVAL_POLICIES_MAX 12 /* candidates in one request (Personalizer's 10 + 2) */
#define EVAL_POLICY_NAME_MAX 32
#define EVAL_LABEL_MAX 260   /* Personalizer's names and arguments */
#define EVAL_PARAMS_MAX 1024 /* bytes of one candidate's params JSON */
#define EVAL_ID_LEN 32       /* hex characters of a job id */
#define EVAL_WORKERS 1       /* jobs running at once per process */
#define EVAL_QUEUE_MAX 4     /* jobs queued or running per process */
#define EVAL_STALE_S 60      /* seconds without a heartbeat: the job's process died */
#define EVAL_LIST_MAX 100    /* jobs GET /evaluations lists, newest first */

/* One candidate: a policy name and its parameters. */
typedef struct eval_policy {
	char name[EVAL_POLICY_NAME_MAX]; /* greedy, epsilon-greedy, ..., linear-ts, squarecb */
	char params[EVAL_PARAMS_MAX];    /* a JSON object, "" for none */
	char label[EVAL_LABEL_MAX];      /* Personalizer's policy name, "" elsewhere */
	char arguments[1032];            /* Personalizer's arguments (PZ_POLICY_ARGS_MAX) */
	char source[16];                 /* Personalizer's policySource */
} eval_policy;

typedef struct eval_request {
	size_t n;
	eval_policy policies[EVAL_POLICIES_MAX];
	char from[48];            /* first logging date or date-time, "" for the first episode */
	char to[48];              /* last logging date (through that day), "" for now */
	enum ope_missing missing; /* an episode without reward: counted (reject) or skipped */
	/* offerctl's options; POST /evaluations leaves the defaults. */
	char offers[4096]; /* the choice set, comma-separated, "" for the catalogue */
	/* whose statistics a tabular candidate reads, "" for its own */
	char values_company[DB_COMPANY_MAX];
	double tau;    /* 0: chosen by estimated MSE */
	uint64_t seed; /* 1 */
	/* Personalizer's evaluation: its name and window (unix seconds); pz_start < pz_end. */
	char pz_name[EVAL_LABEL_MAX];
	int64_t pz_start, pz_end;
} eval_request;

/* Defaults: no candidate, the whole log, missing rewards counted, seed 1. */
void evaluation_request_init(eval_request *q);

/*
 * Parses a POST /evaluations body ({"policies":[{"name","params"}], "from",
 * "to", "missing"}) or a stored request (evaluation_request_json) into q.
 * Returns 0, or an ERR_* with e naming the field ("policies[1].params").
 */
int evaluation_request_parse(const char *body, size_t len, eval_request *q, req_error *e);
/* The request as stored in tb_evaluations.request; the caller decrefs. */
json_t *evaluation_request_json(const eval_request *q);

/*
 * The ope candidate for p: a contextual policy (policy.h, learner set) or
 * a tabular one (params: epsilon, ucb_c). Returns 0 or ERR_INVAL with err
 * written; the caller frees out->learner with policy_free.
 */
int evaluation_candidate(const eval_policy *p, ope_candidate *out, char *err, size_t errlen);

/* What evaluation_run found: the log's counts and each candidate's estimates. */
typedef struct eval_outcome {
	size_t read;
	size_t used;
	size_t no_propensity;
	size_t no_reward;
	size_t unknown_offer;
	size_t choice_set;
	char logged_by[256];
	size_t n;
	ope_result slate[EVAL_POLICIES_MAX];
	ope_result first[EVAL_POLICIES_MAX];
} eval_outcome;

/*
 * Called with the share of the work done (0..1); a non-zero return stops
 * the run (evaluation_run returns ERR_UNAVAIL).
 */
typedef int (*eval_progress_fn)(void *arg, double done);

/*
 * Evaluates q's candidates on company's episodes read through st (one
 * read, every candidate). Returns 0, ERR_INVAL (a candidate's parameters),
 * ERR_UNAVAIL (stopped) or ERR_IO (the database) with err written.
 */
int evaluation_run(store *st, const char *company, const eval_request *q, eval_progress_fn fn, void *arg,
                   eval_outcome *out, char *err, size_t errlen);

/*
 * The outcome as JSON: {"episodes":{read, used, ...}, "logged_by",
 * "choice_set", "results":[{"policy", "params", "episodes", "estimates":
 * {"logged", "ips", "snips", "dr", "clipped", "switch_dr": {"value",
 * "ci95"}}, ..., "first_slot": {...}}]}. NaN is null. The caller decrefs.
 */
json_t *evaluation_result_json(const eval_request *q, const eval_outcome *o);

/* --- the runner ------------------------------------------------------------- */

typedef struct evaluation_runner evaluation_runner;

/* Starts the workers for the database at url. The caller stops it with evaluation_runner_free. */
int evaluation_runner_new(const char *url, evaluation_runner **out);
/* Stops the workers (a running job is marked failed) and frees r; NULL is a no-op. */
void evaluation_runner_free(evaluation_runner *r);

/*
 * Queues q for company: a row in tb_evaluations, id into id_out. Returns
 * 0, ERR_UNAVAIL (EVAL_QUEUE_MAX jobs in this process, or the database
 * down) or ERR_IO.
 */
int evaluation_submit(evaluation_runner *r, const char *company, const eval_request *q,
                      char id_out[EVAL_ID_LEN + 1]);

/*
 * One job of company as JSON ({"id", "status", "progress", "created",
 * "finished", "request", "error", "results", ...}) into *out, or the
 * newest EVAL_LIST_MAX as an array when id is NULL. Jobs whose process
 * stopped beating are marked failed first. Returns 0, ERR_NOTFOUND or
 * ERR_UNAVAIL. The caller decrefs *out.
 */
int evaluation_get(evaluation_runner *r, const char *company, const char *id, json_t **out);
/* Deletes a job of company (Personalizer's DELETE). Returns 0 or ERR_NOTFOUND / ERR_UNAVAIL. */
int evaluation_delete(evaluation_runner *r, const char *company, const char *id);

#endif
