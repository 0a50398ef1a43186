/*
 * evaluation.c — evaluations of candidate policies (evaluation.h): the
 * request, the one computation offerctl evaluate and the REST jobs share,
 * its JSON, and the runner that keeps the jobs in tb_evaluations.
 */
#include "evaluation.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "date.h"
#include "db.h"
#include "log.h"
#include "policy.h"
#include "util.h"
#include "values.h"

#define PROGRESS_LOAD 0.1   /* share of the work the read of the episodes counts for */
#define PROGRESS_WRITE_S 1. /* seconds between two progress rows of a running job */

/* --- the request -------------------------------------------------------------- */

void evaluation_request_init(eval_request *q)
{
	memset(q, 0, sizeof(*q));
	q->missing = OPE_MISSING_REJECT;
	q->seed = 1;
}

/* A string member of o into out (absent: left as it is). */
static int get_text(json_t *o, const char *key, const char *field, char *out, size_t n, req_error *e)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return request_error(e, ERR_INVAL, field, "%s must be a string", field);
	if (json_string_length(v) >= n)
		return request_error(e, ERR_INVAL, field, "%s is longer than %zu characters", field,
		                     n - 1);
	util_strlcpy(out, json_string_value(v), n);
	return 0;
}

static int parse_policy(json_t *o, size_t i, eval_policy *p, req_error *e)
{
	static const char *const keys[] = {"name", "params", "label", "arguments", "source"};
	char field[64];
	char err[200];
	ope_candidate c;
	const char *key;
	json_t *v;
	int rc;

	snprintf(field, sizeof(field), "policies[%zu]", i);
	if (!json_is_object(o))
		return request_error(e, ERR_INVAL, field, "%s must be an object {\"name\", \"params\"}",
		                     field);
	key = request_unknown_member(o, keys, UTIL_ARRAY_LEN(keys));
	if (key != NULL) {
		snprintf(field, sizeof(field), "policies[%zu].%.32s", i, key);
		return request_error(e, ERR_INVAL, field,
		                     "unknown member %s (name and params are taken)", field);
	}
	snprintf(field, sizeof(field), "policies[%zu].name", i);
	v = json_object_get(o, "name");
	if (!json_is_string(v) || json_string_length(v) == 0)
		return request_error(e, ERR_INVAL, field, "%s is required: a policy name (%s)", field,
		                     "greedy, " AGENT_POLICY_NAMES);
	rc = get_text(o, "name", field, p->name, sizeof(p->name), e);
	if (rc != 0)
		return rc;
	snprintf(field, sizeof(field), "policies[%zu].params", i);
	v = json_object_get(o, "params");
	if (v != NULL && !json_is_null(v)) {
		char *text;

		if (!json_is_object(v))
			return request_error(e, ERR_INVAL, field, "%s must be an object", field);
		text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
		if (text == NULL || strlen(text) >= sizeof(p->params)) {
			free(text);
			return request_error(e, ERR_INVAL, field, "%s is longer than %d bytes", field,
			                     EVAL_PARAMS_MAX - 1);
		}
		util_strlcpy(p->params, strcmp(text, "{}") == 0 ? "" : text, sizeof(p->params));
		free(text);
	}
	snprintf(field, sizeof(field), "policies[%zu].label", i);
	rc = get_text(o, "label", field, p->label, sizeof(p->label), e);
	if (rc == 0)
		rc = get_text(o, "arguments", field, p->arguments, sizeof(p->arguments), e);
	if (rc == 0)
		rc = get_text(o, "source", field, p->source, sizeof(p->source), e);
	if (rc != 0)
		return rc;
	/* The candidate is built once here so that a bad name or parameter is a 400. */
	if (evaluation_candidate(p, &c, err, sizeof(err)) != 0) {
		if (strncmp(err, "unknown policy", 14) == 0)
			snprintf(field, sizeof(field), "policies[%zu].name", i);
		else
			snprintf(field, sizeof(field), "policies[%zu].params", i);
		return request_error(e, ERR_INVAL, field, "%s: %s", field, err);
	}
	policy_free(c.learner);
	return 0;
}

int evaluation_request_parse(const char *body, size_t len, eval_request *q, req_error *e)
{
	static const char *const keys[] = {"policies", "from", "to", "missing", "personalizer"};
	json_t *root;
	json_t *list;
	json_t *v;
	const char *key;
	size_t i;
	int rc = 0;

	evaluation_request_init(q);
	memset(e, 0, sizeof(*e));
	root = request_body(body, len, e);
	if (root == NULL)
		return e->err;
	key = request_unknown_member(root, keys, UTIL_ARRAY_LEN(keys));
	if (key != NULL) {
		char field[64];

		snprintf(field, sizeof(field), "%.60s", key);
		rc = request_error(e, ERR_INVAL, field,
		                   "unknown member %s (policies, from, to and missing are taken)",
		                   field);
		goto out;
	}
	list = json_object_get(root, "policies");
	if (!json_is_array(list) || json_array_size(list) == 0) {
		rc = request_error(e, ERR_INVAL, "policies",
		                   "policies is required: a list of 1 to %d {\"name\", \"params\"}",
		                   EVAL_POLICIES_MAX);
		goto out;
	}
	if (json_array_size(list) > EVAL_POLICIES_MAX) {
		rc = request_error(e, ERR_INVAL, "policies", "policies has %zu entries; at most %d",
		                   json_array_size(list), EVAL_POLICIES_MAX);
		goto out;
	}
	json_array_foreach(list, i, v) {
		rc = parse_policy(v, i, &q->policies[i], e);
		if (rc != 0)
			goto out;
		q->n = i + 1;
	}
	rc = get_text(root, "from", "from", q->from, sizeof(q->from), e);
	if (rc == 0)
		rc = get_text(root, "to", "to", q->to, sizeof(q->to), e);
	if (rc != 0)
		goto out;
	{
		date_window w;
		const char *field;
		char err[160];

		if (date_window_parse(q->from, q->to, &w, &field, err, sizeof(err)) != 0) {
			rc = request_error(e, ERR_INVAL, field, "%s", err);
			goto out;
		}
	}
	v = json_object_get(root, "missing");
	if (v != NULL && ope_missing_parse(json_string_value(v), &q->missing) != 0) {
		rc = request_error(e, ERR_INVAL, "missing", "missing must be \"reject\" or \"skip\"");
		goto out;
	}
	v = json_object_get(root, "personalizer");
	if (json_is_object(v)) {
		rc = get_text(v, "name", "personalizer.name", q->pz_name, sizeof(q->pz_name), e);
		q->pz_start = json_integer_value(json_object_get(v, "start"));
		q->pz_end = json_integer_value(json_object_get(v, "end"));
	}
out:
	json_decref(root);
	return rc;
}

json_t *evaluation_request_json(const eval_request *q)
{
	json_t *root = json_object();
	json_t *list = json_array();

	for (size_t i = 0; i < q->n; i++) {
		const eval_policy *p = &q->policies[i];
		json_t *o = json_object();

		json_object_set_new(o, "name", json_string(p->name));
		json_object_set_new(o, "params",
		                    p->params[0] ? json_loads(p->params, 0, NULL) : json_object());
		if (p->label[0] != '\0') {
			json_object_set_new(o, "label", json_string(p->label));
			json_object_set_new(o, "arguments", json_string(p->arguments));
			json_object_set_new(o, "source", json_string(p->source));
		}
		json_array_append_new(list, o);
	}
	json_object_set_new(root, "policies", list);
	json_object_set_new(root, "from", q->from[0] ? json_string(q->from) : json_null());
	json_object_set_new(root, "to", q->to[0] ? json_string(q->to) : json_null());
	json_object_set_new(root, "missing", json_string(ope_missing_name(q->missing)));
	if (q->pz_name[0] != '\0')
		json_object_set_new(root, "personalizer",
		                    json_pack("{s:s,s:I,s:I}", "name", q->pz_name, "start",
		                              (json_int_t)q->pz_start, "end", (json_int_t)q->pz_end));
	return root;
}

/* --- candidates -------------------------------------------------------------------- */

/* A tabular candidate's parameters: epsilon (epsilon-greedy), ucb_c, shrink. */
static int tabular_params(const char *params, agent_conf *conf, char *err, size_t errlen)
{
	json_t *root;
	json_t *v;
	const char *key;
	int rc = 0;

	if (params == NULL || params[0] == '\0')
		return 0;
	root = json_loads(params, 0, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		snprintf(err, errlen, "params must be a JSON object");
		return ERR_INVAL;
	}
	json_object_foreach(root, key, v) {
		double x = json_number_value(v);
		double *dst = NULL;
		double lo = 0;
		double hi = 1;

		if (strcmp(key, "epsilon") == 0 && conf->policy == POLICY_EPSILON_GREEDY) {
			dst = &conf->epsilon;
		} else if (strcmp(key, "ucb_c") == 0 && conf->policy == POLICY_UCB) {
			dst = &conf->ucb_c;
			hi = 100;
		} else if (strcmp(key, "shrink") == 0) {
			dst = &conf->shrink;
			hi = 1e6;
		} else {
			snprintf(err, errlen, "unknown parameter %.40s for %s (%s)", key,
			         agent_policy_name(conf->policy),
			         conf->policy == POLICY_EPSILON_GREEDY ? "epsilon, shrink"
			         : conf->policy == POLICY_UCB          ? "ucb_c, shrink"
			                                               : "shrink");
			rc = ERR_INVAL;
			break;
		}
		if (!json_is_number(v) || !(x >= lo && x <= hi)) {
			snprintf(err, errlen, "%.40s must be a number in [%g, %g]", key, lo, hi);
			rc = ERR_INVAL;
			break;
		}
		*dst = x;
	}
	json_decref(root);
	return rc;
}

int evaluation_candidate(const eval_policy *p, ope_candidate *out, char *err, size_t errlen)
{
	const policy_type *ctx_type = policy_find(p->name);
	const char *params = p->params[0] != '\0' ? p->params : NULL;

	memset(out, 0, sizeof(*out));
	agent_conf_default(&out->conf);
	out->conf.epsilon = 0.1;
	if (ctx_type != NULL)
		return policy_new(ctx_type, params, &out->learner, err, errlen);
	if (util_streq_nocase(p->name, "greedy")) {
		out->conf.policy = POLICY_EPSILON_GREEDY;
		out->conf.epsilon = -1; /* unset: only 0 may be given */
		if (tabular_params(params, &out->conf, err, errlen) != 0)
			return ERR_INVAL;
		if (out->conf.epsilon != -1 && out->conf.epsilon != 0) {
			snprintf(err, errlen, "greedy means epsilon 0");
			return ERR_INVAL;
		}
		out->conf.epsilon = 0;
		return 0;
	}
	if (agent_policy_parse(p->name, &out->conf.policy) != 0 ||
	    agent_policy_contextual(out->conf.policy)) {
		snprintf(err, errlen, "unknown policy %.32s (%s or greedy)", p->name,
		         AGENT_POLICY_NAMES);
		return ERR_INVAL;
	}
	return tabular_params(params, &out->conf, err, errlen);
}

/* --- the computation --------------------------------------------------------------- */

static int load_values(void *arg, const db_policy_row *row)
{
	values_set(arg, row);
	return 0;
}

typedef struct run_progress {
	eval_progress_fn fn;
	void *arg;
	size_t k; /* the candidate being scored */
	size_t n;
} run_progress;

static int candidate_progress(void *arg, size_t done, size_t total)
{
	run_progress *p = arg;
	double share = total > 0 ? (double)done / (double)total : 1.0;

	return p->fn(p->arg,
	             PROGRESS_LOAD + (1.0 - PROGRESS_LOAD) * ((double)p->k + share) / (double)p->n);
}

/* While the episodes are read: no share of the work is known yet, 0. */
static int reading(void *arg, size_t read)
{
	run_progress *p = arg;

	(void)read;
	return p->fn(p->arg, 0.0);
}

int evaluation_run(store *st, const char *company, const eval_request *q, eval_progress_fn fn, void *arg,
                   eval_outcome *out, char *err, size_t errlen)
{
	ope_log log;
	values *v = values_new();
	run_progress prog = {fn, arg, 0, q->n};
	date_window w;
	const char *field;
	int64_t max_rev = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	ope_log_init(&log);
	rc = date_window_parse(q->from, q->to, &w, &field, err, errlen);
	if (rc != 0)
		goto out;
	rc = db_policy_since(st, 0, load_values, v, &max_rev);
	if (rc != 0) {
		snprintf(err, errlen, "cannot read tb_policy: %s", st->ops->errmsg(st));
		rc = ERR_IO;
		goto out;
	}
	if (fn != NULL) {
		/* A long read still beats: the job is alive while its pages come in. */
		log.on_read = reading;
		log.on_read_arg = &prog;
	}
	rc = ope_load(st, company, w.from, w.to, q->missing, q->offers[0] ? q->offers : NULL, &log, err,
	              errlen);
	if (rc != 0) {
		rc = rc == ERR_UNAVAIL                     ? ERR_UNAVAIL
		     : rc == ERR_INVAL || rc == ERR_TOOBIG ? ERR_INVAL
		                                           : ERR_IO;
		goto out;
	}
	out->read = log.read;
	out->used = log.n;
	out->no_propensity = log.no_propensity;
	out->no_reward = log.no_reward;
	out->unknown_offer = log.unknown_offer;
	out->choice_set = ope_log_noffers(&log);
	util_strlcpy(out->logged_by, log.policies, sizeof(out->logged_by));
	if (fn != NULL && fn(arg, PROGRESS_LOAD) != 0) {
		rc = ERR_UNAVAIL;
		goto out;
	}
	for (size_t k = 0; k < q->n; k++) {
		ope_candidate c;

		rc = evaluation_candidate(&q->policies[k], &c, err, errlen);
		if (rc != 0)
			goto out;
		c.v = v;
		c.company = q->values_company[0] ? q->values_company : company;
		c.seed = q->seed;
		c.tau = q->tau;
		prog.k = k;
		if (fn != NULL) {
			c.progress = candidate_progress;
			c.progress_arg = &prog;
		}
		rc = log.n > 0 ? ope_evaluate(&log, &c, &out->slate[k], &out->first[k]) : 0;
		policy_free(c.learner);
		if (rc == ERR_UNAVAIL) {
			snprintf(err, errlen, "stopped");
			goto out;
		}
		if (rc != 0) {
			/* Nothing to evaluate (an empty choice set): no estimate, not a failure. */
			memset(&out->slate[k], 0, sizeof(out->slate[k]));
			memset(&out->first[k], 0, sizeof(out->first[k]));
			rc = 0;
		}
		out->n = k + 1;
	}
	if (fn != NULL)
		(void)fn(arg, 1.0);
out:
	ope_log_free(&log);
	values_free(v);
	return rc;
}

/* --- its JSON ------------------------------------------------------------------------ */

static json_t *num(double x)
{
	return isfinite(x) ? json_real(x) : json_null();
}

static json_t *interval_json(const ope_interval *i)
{
	json_t *o = json_object();

	json_object_set_new(o, "value", num(i->value));
	if (isfinite(i->lo) && isfinite(i->hi))
		json_object_set_new(o, "ci95", json_pack("[o,o]", num(i->lo), num(i->hi)));
	else
		json_object_set_new(o, "ci95", json_null());
	return o;
}

static json_t *estimand_json(const ope_result *r)
{
	json_t *o = json_object();
	json_t *est = json_object();

	json_object_set_new(o, "episodes", json_integer((json_int_t)r->n));
	if (r->n > 0) {
		json_object_set_new(est, "logged", interval_json(&r->logged));
		json_object_set_new(est, "ips", interval_json(&r->ips));
		json_object_set_new(est, "snips", interval_json(&r->snips));
		json_object_set_new(est, "dr", interval_json(&r->dr));
		json_object_set_new(est, "clipped", interval_json(&r->clipped));
		json_object_set_new(est, "switch_dr", interval_json(&r->switch_dr));
	}
	json_object_set_new(o, "estimates", est);
	json_object_set_new(o, "direct_method", r->n > 0 ? num(r->dm) : json_null());
	json_object_set_new(o, "tau", r->n > 0 ? num(r->tau) : json_null());
	json_object_set_new(o, "bias_bound", r->n > 0 ? num(r->bias_bound) : json_null());
	json_object_set_new(o, "ess", r->n > 0 ? num(r->ess) : json_null());
	json_object_set_new(o, "support", r->n > 0 ? num(r->support) : json_null());
	json_object_set_new(o, "max_weight", r->n > 0 ? num(r->max_weight) : json_null());
	json_object_set_new(o, "skipped", json_integer((json_int_t)r->skipped));
	return o;
}

json_t *evaluation_result_json(const eval_request *q, const eval_outcome *o)
{
	json_t *root = json_object();
	json_t *list = json_array();

	json_object_set_new(root, "episodes",
	                    json_pack("{s:I,s:I,s:I,s:I,s:I}", "read", (json_int_t)o->read, "used",
	                              (json_int_t)o->used, "no_propensity", (json_int_t)o->no_propensity,
	                              "no_reward", (json_int_t)o->no_reward, "past_choice_set",
	                              (json_int_t)o->unknown_offer));
	json_object_set_new(root, "logged_by", json_string(o->logged_by));
	json_object_set_new(root, "choice_set", json_integer((json_int_t)o->choice_set));
	for (size_t k = 0; k < o->n && k < q->n; k++) {
		const eval_policy *p = &q->policies[k];
		json_t *r = json_object();
		json_t *est = estimand_json(&o->slate[k]);

		/* "policy" and "params" first: the answer reads as the request did. */
		json_object_set_new(r, "policy", json_string(p->name));
		json_object_set_new(r, "params",
		                    p->params[0] ? json_loads(p->params, 0, NULL) : json_object());
		if (p->label[0] != '\0')
			json_object_set_new(r, "label", json_string(p->label));
		json_object_update(r, est);
		json_decref(est);
		json_object_set_new(r, "first_slot", estimand_json(&o->first[k]));
		json_array_append_new(list, r);
	}
	json_object_set_new(root, "results", list);
	return root;
}

/* --- the runner ---------------------------------------------------------------------- */

typedef struct job {
	char id[EVAL_ID_LEN + 1];
	char company[DB_COMPANY_MAX];
	char *request; /* JSON text */
} job;

struct evaluation_runner {
	char *url;
	char owner[EVAL_ID_LEN + 1]; /* this process, in tb_evaluations.owner */
	pthread_mutex_t lock;        /* guards the fields below */
	pthread_cond_t cond;
	int stopping;
	job queue[EVAL_QUEUE_MAX];
	size_t head;
	size_t queued;
	size_t running;
	pthread_t threads[EVAL_WORKERS];
	size_t nthreads;
	store_slot api; /* the HTTP threads' short reads and inserts */
};

static int random_id(char out[EVAL_ID_LEN + 1])
{
	return util_random_hex(out, EVAL_ID_LEN);
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* A worker's job on its way: where progress goes. */
typedef struct running_job {
	evaluation_runner *r;
	store *st;
	const job *j;
	double last_write;
} running_job;

static int job_progress(void *arg, double done)
{
	running_job *rj = arg;
	double now = util_monotonic();
	int stop;

	if (now - rj->last_write >= PROGRESS_WRITE_S && done < 1.0) {
		rj->last_write = now;
		/* A failed write is not the job's failure: the next one may pass. */
		(void)db_evaluation_progress(rj->st, rj->j->id, done, now_s());
		(void)db_evaluations_beat(rj->st, rj->r->owner, now_s());
	}
	pthread_mutex_lock(&rj->r->lock);
	stop = rj->r->stopping;
	pthread_mutex_unlock(&rj->r->lock);
	return stop;
}

static void job_run(evaluation_runner *r, store **st, const job *j)
{
	eval_request *q = xmalloc(sizeof(*q));
	eval_outcome *o = xmalloc(sizeof(*o));
	running_job rj = {r, NULL, j, 0};
	req_error e;
	char err[256] = "";
	char now[32];
	int rc;

	if (*st == NULL && store_open(r->url, st) != 0) {
		*st = NULL;
		log_msg(LOG_WARN,
		        "evaluation %s: cannot open the database; the job will be marked "
		        "failed when its heartbeat stops",
		        j->id);
		goto out;
	}
	rj.st = *st;
	rj.last_write = util_monotonic();
	(void)db_evaluation_update(*st, j->id, "running", 0, NULL, NULL, NULL, now_s());
	rc = evaluation_request_parse(j->request, strlen(j->request), q, &e);
	if (rc == 0)
		rc = evaluation_run(*st, j->company, q, job_progress, &rj, o, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "%s", e.message);
	date_stamp_now(now);
	if (rc == 0) {
		json_t *res = evaluation_result_json(q, o);
		char *text = json_dumps(res,
		                        JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));

		rc = db_evaluation_update(*st, j->id, "done", 1.0, text, NULL, now, now_s());
		free(text);
		json_decref(res);
	} else {
		if (rc == ERR_UNAVAIL)
			snprintf(err, sizeof(err), "offerd stopped before the evaluation finished");
		log_msg(LOG_WARN, "evaluation %s of company %s failed: %s", j->id, j->company, err);
		rc = db_evaluation_update(*st, j->id, "failed", 0, NULL, err, now, now_s());
	}
	if (rc != 0) {
		/* The connection is likely gone: a new one for the next job. */
		store_close(*st);
		*st = NULL;
	}
out:
	free(q);
	free(o);
}

static void *worker_main(void *arg)
{
	evaluation_runner *r = arg;
	store *st = NULL;

	/* Evaluations yield the CPU to decisions: a lower priority for this thread. */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
	pthread_mutex_lock(&r->lock);
	for (;;) {
		job j;

		while (!r->stopping && r->queued == 0) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += EVAL_STALE_S / 4;
			pthread_cond_timedwait(&r->cond, &r->lock, &ts);
		}
		if (r->stopping)
			break;
		j = r->queue[r->head];
		r->head = (r->head + 1) % EVAL_QUEUE_MAX;
		r->queued--;
		r->running++;
		pthread_mutex_unlock(&r->lock);
		job_run(r, &st, &j);
		free(j.request);
		pthread_mutex_lock(&r->lock);
		r->running--;
		if (r->queued > 0 && st != NULL) {
			/* The jobs still queued are alive while this process is. */
			pthread_mutex_unlock(&r->lock);
			(void)db_evaluations_beat(st, r->owner, now_s());
			pthread_mutex_lock(&r->lock);
		}
	}
	pthread_mutex_unlock(&r->lock);
	store_close(st);
	return NULL;
}

int evaluation_runner_new(const char *url, evaluation_runner **out)
{
	evaluation_runner *r = xcalloc(1, sizeof(*r));

	*out = NULL;
	if (random_id(r->owner) != 0) {
		free(r);
		return ERR_IO;
	}
	r->url = xstrdup(url);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	store_slot_init(&r->api);
	for (size_t i = 0; i < EVAL_WORKERS; i++) {
		if (pthread_create(&r->threads[i], NULL, worker_main, r) != 0)
			break;
		r->nthreads++;
	}
	if (r->nthreads == 0) {
		evaluation_runner_free(r);
		return ERR_IO;
	}
	*out = r;
	return 0;
}

void evaluation_runner_free(evaluation_runner *r)
{
	store *st = NULL;

	if (r == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	r->stopping = 1;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	for (size_t i = 0; i < r->nthreads; i++)
		pthread_join(r->threads[i], NULL);
	/* Jobs never started: failed now rather than after the heartbeat timeout. */
	if (r->queued > 0 && store_open(r->url, &st) != 0)
		st = NULL;
	while (r->queued > 0) {
		job *j = &r->queue[r->head];
		char now[32];

		date_stamp_now(now);
		if (st != NULL)
			(void)db_evaluation_update(st, j->id, "failed", 0, NULL,
			                           "offerd stopped before the evaluation started", now,
			                           now_s());
		free(j->request);
		r->head = (r->head + 1) % EVAL_QUEUE_MAX;
		r->queued--;
	}
	store_close(st);
	store_slot_end(&r->api);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	free(r->url);
	free(r);
}

/* Takes the HTTP threads' connection; NULL (nothing held) when it cannot be opened. */
static store *api_take(evaluation_runner *r)
{
	return store_slot_take(&r->api, r->url, 0, NULL);
}

int evaluation_submit(evaluation_runner *r, const char *company, const eval_request *q,
                      char id_out[EVAL_ID_LEN + 1])
{
	json_t *req = evaluation_request_json(q);
	char *text = json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
	char now[32];
	store *st;
	int rc;

	json_decref(req);
	pthread_mutex_lock(&r->lock);
	rc = r->stopping || r->queued + r->running >= EVAL_QUEUE_MAX ? ERR_UNAVAIL : 0;
	if (rc == 0)
		r->queued++; /* the place is held while the row is written */
	pthread_mutex_unlock(&r->lock);
	if (rc != 0)
		goto out;
	rc = random_id(id_out);
	date_stamp_now(now);
	st = rc == 0 ? api_take(r) : NULL;
	if (rc == 0 && st == NULL)
		rc = ERR_UNAVAIL;
	if (st != NULL) {
		rc = db_evaluation_insert(st, id_out, company, r->owner, text, now, now_s());
		store_slot_give(&r->api, rc != 0);
		if (rc != 0)
			rc = ERR_UNAVAIL;
	}
	pthread_mutex_lock(&r->lock);
	if (rc == 0) {
		job *j = &r->queue[(r->head + r->queued - 1) % EVAL_QUEUE_MAX];

		util_strlcpy(j->id, id_out, sizeof(j->id));
		util_strlcpy(j->company, company, sizeof(j->company));
		j->request = text;
		text = NULL;
		pthread_cond_signal(&r->cond);
	} else {
		r->queued--;
	}
	pthread_mutex_unlock(&r->lock);
out:
	free(text);
	return rc;
}

/* Rows of db_evaluations_get into a JSON array. */
static int job_row(void *arg, int ncols, const char *const *vals)
{
	json_t *list = arg;
	json_t *o = json_object();
	json_t *res = NULL;
	double progress = 0;

	if (ncols < 9)
		return ERR_IO;
	if (vals[2] != NULL)
		util_strtod(vals[2], 0, 1, &progress);
	json_object_set_new(o, "id", json_string(vals[0] ? vals[0] : ""));
	json_object_set_new(o, "status", json_string(vals[1] ? vals[1] : ""));
	json_object_set_new(o, "progress", json_real(progress));
	json_object_set_new(o, "created", vals[7] ? json_string(vals[7]) : json_null());
	json_object_set_new(o, "finished", vals[8] ? json_string(vals[8]) : json_null());
	json_object_set_new(o, "request", vals[3] ? json_loads(vals[3], 0, NULL) : json_null());
	json_object_set_new(o, "error", vals[5] ? json_string(vals[5]) : json_null());
	if (vals[4] != NULL)
		res = json_loads(vals[4], 0, NULL);
	if (json_is_object(res)) {
		json_object_update(o, res);
	} else {
		json_object_set_new(o, "results", json_array());
	}
	json_decref(res);
	json_array_append_new(list, o);
	return 0;
}

int evaluation_get(evaluation_runner *r, const char *company, const char *id, json_t **out)
{
	json_t *list = json_array();
	char now[32];
	store *st;
	int rc = 0;

	*out = NULL;
	date_stamp_now(now);
	st = api_take(r);
	if (st == NULL)
		rc = ERR_UNAVAIL;
	if (rc == 0)
		rc = db_evaluations_expire(st, company, now_s() - EVAL_STALE_S, now,
		                           "the offerd process running the evaluation stopped; "
		                           "start it again");
	if (rc == 0)
		rc = db_evaluations_get(st, company, id, EVAL_LIST_MAX, job_row, list);
	if (st != NULL) {
		store_slot_give(&r->api, rc != 0);
		if (rc != 0)
			rc = ERR_UNAVAIL;
	}
	if (rc != 0) {
		json_decref(list);
		return rc;
	}
	if (id == NULL) {
		*out = list;
		return 0;
	}
	if (json_array_size(list) == 0) {
		json_decref(list);
		return ERR_NOTFOUND;
	}
	*out = json_incref(json_array_get(list, 0));
	json_decref(list);
	return 0;
}

int evaluation_delete(evaluation_runner *r, const char *company, const char *id)
{
	int64_t deleted = 0;
	store *st;
	int rc = 0;

	st = api_take(r);
	if (st == NULL)
		rc = ERR_UNAVAIL;
	if (st != NULL) {
		rc = db_evaluation_delete(st, company, id, &deleted) != 0 ? ERR_UNAVAIL : 0;
		store_slot_give(&r->api, rc != 0);
	}
	if (rc == 0 && deleted == 0)
		rc = ERR_NOTFOUND;
	return rc;
}
