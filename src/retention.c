/*
 * retention.c — the retention thread: deletes old episodes and their
 * rewards in small batches (see retention.h for the rules and why they are
 * safe with several processes).
 *
 * A batch is: pick at most RETENTION_BATCH expired episode ids, oldest
 * first (through the index on the write time), then one transaction that
 * deletes their rewards and the episodes by id (db_episodes_aged,
 * db_episodes_delete).
 */
#include "retention.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "date.h"
#include "db.h"
#include "log.h"

/* Counters for /metrics; one retention thread per process. */
static atomic_llong m_episodes;
static atomic_llong m_rewards;
static atomic_llong m_runs;
static atomic_llong m_failures;
static atomic_llong m_last_run_ms;       /* epoch milliseconds of the last pass's end */
static atomic_llong m_last_duration_us;  /* that pass's duration */
static atomic_llong m_last_batch_max_us; /* since the start */

struct retention {
	retention_conf conf;
	char *database_url;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_int stop;
};

int retention_parse(const char *spec, retention_conf *c, char *err, size_t errlen)
{
	const char *p = spec != NULL ? spec : "";

	c->nrules = 0;
	while (*p != '\0') {
		size_t n = strcspn(p, ",");
		char item[128];
		char *eq;
		char *name;
		int64_t days;

		if (n >= sizeof(item)) {
			snprintf(err, errlen, "--retention: an item is longer than %zu bytes",
			         sizeof(item) - 1);
			return ERR_INVAL;
		}
		memcpy(item, p, n);
		item[n] = '\0';
		p += n;
		if (*p == ',')
			p++;
		name = util_trim(item);
		if (*name == '\0')
			continue;
		eq = strchr(name, '=');
		if (eq == NULL) {
			snprintf(err, errlen, "--retention: \"%.64s\" is not COMPANY=DAYS", name);
			return ERR_INVAL;
		}
		*eq = '\0';
		name = util_trim(name);
		if (*name == '\0' || strlen(name) >= sizeof(c->rules[0].company)) {
			snprintf(err, errlen, "--retention: a company name must be 1 to %zu bytes",
			         sizeof(c->rules[0].company) - 1);
			return ERR_INVAL;
		}
		if (util_strtonum(util_trim(eq + 1), 0, RETENTION_DAYS_MAX, &days) != 0) {
			snprintf(err, errlen, "--retention: %s's days must be an integer from 0 to %d",
			         name, RETENTION_DAYS_MAX);
			return ERR_INVAL;
		}
		for (size_t i = 0; i < c->nrules; i++) {
			if (strcmp(c->rules[i].company, name) == 0) {
				snprintf(err, errlen, "--retention: company %s is named twice", name);
				return ERR_INVAL;
			}
		}
		if (c->nrules == RETENTION_RULES_MAX) {
			snprintf(err, errlen, "--retention: more than %d companies",
			         RETENTION_RULES_MAX);
			return ERR_INVAL;
		}
		util_strlcpy(c->rules[c->nrules].company, name, sizeof(c->rules[0].company));
		c->rules[c->nrules].days = (int)days;
		c->nrules++;
	}
	return 0;
}

int retention_active(const retention_conf *c)
{
	if (c->default_days > 0)
		return 1;
	for (size_t i = 0; i < c->nrules; i++) {
		if (c->rules[i].days > 0)
			return 1;
	}
	return 0;
}

/* now - days, to the whole second, as the stores' text timestamp (date_stamp_at). */
static void cutoff_text(double now, int days, char out[32])
{
	date_stamp_at(floor(now - (double)days * 86400.0), out);
}

/*
 * One batch of the window (company, or every company but except[0..n-1]
 * when company is NULL): *deleted is the episodes deleted, 0 when none was
 * left, -1 when the ids picked were gone already (another process took them).
 */
static int batch(store *s, const char *cutoff, const char *company, const char *const *except,
                 size_t nexcept, size_t size, int64_t *deleted, double *seconds)
{
	int64_t ids[RETENTION_BATCH];
	int64_t episodes = 0;
	int64_t rewards = 0;
	size_t n = 0;
	long long us;
	int rc;

	*deleted = 0;
	*seconds = 0;
	rc = db_episodes_aged(s, cutoff, company, except, nexcept, ids, size, &n);
	if (rc != 0 || n == 0)
		return rc;
	/* The delete's transaction, its lock held, is what writers can wait on. */
	rc = db_episodes_delete(s, ids, n, &episodes, &rewards, seconds);
	if (rc != 0)
		return rc;
	us = (long long)(*seconds * 1e6);
	if (us > atomic_load(&m_last_batch_max_us))
		atomic_store(&m_last_batch_max_us, us);
	atomic_fetch_add(&m_rewards, rewards);
	atomic_fetch_add(&m_episodes, episodes);
	*deleted = episodes > 0 ? episodes : -1;
	return 0;
}

/* Sleeps seconds, or less when the thread is being stopped. */
static void pause_for(double seconds, const atomic_int *stop)
{
	struct timespec ts;

	if (seconds <= 0 || (stop != NULL && atomic_load(stop)))
		return;
	if (seconds > 1)
		seconds = 1;
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * Every batch of one window, until none is left. The batch size adapts to
 * keep each transaction near RETENTION_BATCH_SECONDS: halved (down to
 * RETENTION_BATCH_MIN) after a slower one, doubled (up to RETENTION_BATCH)
 * after one four times faster.
 */
static int window(store *s, const char *cutoff, const char *company, const char *const *except,
                  size_t nexcept, const atomic_int *stop)
{
	size_t size = RETENTION_BATCH;
	int64_t deleted = 1;
	int rc = 0;

	while (deleted > 0 && rc == 0 && (stop == NULL || !atomic_load(stop))) {
		double t0 = util_monotonic();
		double tx;

		rc = batch(s, cutoff, company, except, nexcept, size, &deleted, &tx);
		if (tx > RETENTION_BATCH_SECONDS && size > RETENTION_BATCH_MIN)
			size /= 2;
		else if (tx < RETENTION_BATCH_SECONDS / 4 && size < RETENTION_BATCH)
			size = size * 2 > RETENTION_BATCH ? RETENTION_BATCH : size * 2;
		/* The writers get at least as long as the batch took. */
		if (deleted > 0)
			pause_for(util_monotonic() - t0 + 0.002, stop);
	}
	return rc;
}

int retention_pass(store *s, const retention_conf *c, double now, const atomic_int *stop)
{
	const char *except[RETENTION_RULES_MAX];
	char cutoff[32];
	double t0 = util_monotonic();
	int rc = 0;

	for (size_t i = 0; i < c->nrules && rc == 0; i++) {
		except[i] = c->rules[i].company;
		if (c->rules[i].days == 0)
			continue;
		cutoff_text(now, c->rules[i].days, cutoff);
		rc = window(s, cutoff, c->rules[i].company, NULL, 0, stop);
	}
	if (rc == 0 && c->default_days > 0) {
		/* Every company but those with a window of their own. */
		cutoff_text(now, c->default_days, cutoff);
		rc = window(s, cutoff, NULL, except, c->nrules, stop);
	}
	atomic_fetch_add(&m_runs, 1);
	if (rc != 0)
		atomic_fetch_add(&m_failures, 1);
	atomic_store(&m_last_duration_us, (long long)((util_monotonic() - t0) * 1e6));
	atomic_store(&m_last_run_ms, (long long)(util_now() * 1e3));
	return rc;
}

static void *retention_main(void *arg)
{
	retention *r = arg;
	store *s = NULL;

	pthread_mutex_lock(&r->lock);
	while (!atomic_load(&r->stop)) {
		struct timespec until;
		double wait = r->conf.interval;
		int rc;

		pthread_mutex_unlock(&r->lock);
		if (s == NULL && store_open(r->database_url, &s) != 0) {
			s = NULL;
			log_msg(LOG_WARN, "retention: cannot open the database; next try in %g s", wait);
		}
		if (s != NULL) {
			rc = retention_pass(s, &r->conf, util_now(), &r->stop);
			if (rc != 0)
				log_msg(LOG_WARN,
				        "retention: a batch failed (%s); it is taken again next pass",
				        s->ops->errmsg(s));
		}
		pthread_mutex_lock(&r->lock);
		util_deadline(wait, &until);
		if (!atomic_load(&r->stop))
			pthread_cond_timedwait(&r->cond, &r->lock, &until);
	}
	pthread_mutex_unlock(&r->lock);
	store_close(s);
	return NULL;
}

int retention_start(const char *database_url, const retention_conf *c, retention **out)
{
	retention *r;

	*out = NULL;
	if (!retention_active(c))
		return 0;
	r = xcalloc(1, sizeof(*r));
	r->conf = *c;
	r->database_url = xstrdup(database_url);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	if (pthread_create(&r->thread, NULL, retention_main, r) != 0) {
		log_msg(LOG_ERROR, "retention: cannot start its thread");
		pthread_mutex_destroy(&r->lock);
		pthread_cond_destroy(&r->cond);
		free(r->database_url);
		free(r);
		return ERR_IO;
	}
	log_msg(LOG_INFO,
	        "retention: episodes older than %d days deleted (%zu per-company windows), every %g s",
	        c->default_days, c->nrules, c->interval);
	*out = r;
	return 0;
}

void retention_stop(retention *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	atomic_store(&r->stop, 1);
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	free(r->database_url);
	free(r);
}

int retention_metrics(buf *b)
{
	return buf_addf(
	    b,
	    "# HELP offerd_retention_deleted_total Rows deleted by retention, by table.\n"
	    "# TYPE offerd_retention_deleted_total counter\n"
	    "offerd_retention_deleted_total{table=\"tb_episodes\"} %lld\n"
	    "offerd_retention_deleted_total{table=\"tb_rewards\"} %lld\n"
	    "# HELP offerd_retention_runs_total Retention passes.\n"
	    "# TYPE offerd_retention_runs_total counter\n"
	    "offerd_retention_runs_total %lld\n"
	    "# HELP offerd_retention_failures_total Retention passes stopped by a database error.\n"
	    "# TYPE offerd_retention_failures_total counter\n"
	    "offerd_retention_failures_total %lld\n"
	    "# HELP offerd_retention_last_run_timestamp_seconds End of the last retention pass (0: none yet).\n"
	    "# TYPE offerd_retention_last_run_timestamp_seconds gauge\n"
	    "offerd_retention_last_run_timestamp_seconds %.3f\n"
	    "# HELP offerd_retention_last_run_duration_seconds Duration of the last retention pass.\n"
	    "# TYPE offerd_retention_last_run_duration_seconds gauge\n"
	    "offerd_retention_last_run_duration_seconds %.6f\n"
	    "# HELP offerd_retention_batch_max_seconds Longest batch transaction (its lock taken to commit) since offerd started.\n"
	    "# TYPE offerd_retention_batch_max_seconds gauge\n"
	    "offerd_retention_batch_max_seconds %.6f\n",
	    (long long)atomic_load(&m_episodes), (long long)atomic_load(&m_rewards),
	    (long long)atomic_load(&m_runs), (long long)atomic_load(&m_failures),
	    (double)atomic_load(&m_last_run_ms) / 1e3, (double)atomic_load(&m_last_duration_us) / 1e6,
	    (double)atomic_load(&m_last_batch_max_us) / 1e6);
}
