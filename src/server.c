/*
 * server.c — startup, the caches and the refresher thread.
 */
#include "server.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "db.h"
#include "evaluation.h"
#include "log.h"
#include "model.h"
#include "util.h"

static void conf_for_writer(void *arg, agent_conf *out)
{
	server_conf(arg, out);
}

static char *default_share_dir(const char *argv0)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *dir;
	char *out;

	if (n <= 0) {
		util_strlcpy(exe, argv0, sizeof(exe));
	} else {
		exe[n] = '\0';
	}
	dir = dirname(exe);
	out = xasprintf("%s/share", dir);
	return out;
}

/* --- reloads ---------------------------------------------------------- */

static int load_agent(server *s)
{
	db_agent a;
	agent_conf c;
	char err[256];
	int rc;

	rc = db_agent_latest(s->reader, &a);
	if (rc != 0)
		return rc;
	rc = agent_conf_from_db(&a, &c, err, sizeof(err));
	if (rc != 0) {
		log_msg(LOG_ERROR, "agent version %s is not usable (%s); keeping the previous one",
		        a.version, err);
		db_agent_clear(&a);
		return rc;
	}
	pthread_rwlock_wrlock(&s->lock);
	if (strcmp(s->conf.version, c.version) != 0 || s->conf.policy != c.policy)
		log_msg(LOG_INFO, "agent version %s (%s, epsilon %g)", c.version,
		        agent_policy_name(c.policy), c.epsilon);
	s->conf = c;
	pthread_rwlock_unlock(&s->lock);
	db_agent_clear(&a);
	return 0;
}

static int policy_cb(void *arg, const db_policy_row *row)
{
	server *s = arg;

	values_set(s->vals, row);
	/* offerctl train's priors also warm-start the contextual models. */
	model_prior(s->models, row);
	return 0;
}

/*
 * Learned values changed by anyone (this process's writer, or other offerd
 * processes on the same database). Revisions are handed out before their
 * transactions commit, so a row may become visible after rows with higher
 * revisions: a refresh therefore reads every row above the revision counter
 * as it was two refreshes ago, which catches any writer transaction shorter
 * than one --refresh interval (the writer's last milliseconds). When the
 * counter has not moved for two refreshes there is nothing new and nothing
 * is read: TB_POLICY has no index on rev (its updates stay HOT), so a read
 * is a scan of the table. Rows are absolute values with a revision guard,
 * so reading one twice changes nothing.
 */
static int load_values(server *s)
{
	int64_t now_rev = 0;
	int64_t max_rev = 0;
	int rc = db_policy_rev_now(s->reader, &now_rev);

	if (rc != 0)
		return rc;
	if (s->policy_loaded && now_rev == s->policy_rev_prev)
		return 0;
	rc = db_policy_since(s->reader, s->policy_loaded ? s->policy_rev_prev : 0, policy_cb, s,
	                     &max_rev);
	if (rc != 0)
		return rc;
	s->policy_loaded = 1;
	s->policy_rev_prev = s->policy_rev;
	s->policy_rev = now_rev;
	return 0;
}

static int product_cb(void *arg, const char *company, const char *offer, const char *name)
{
	char key[256];

	snprintf(key, sizeof(key), "%s" SERVER_SEP "%s", company, offer);
	strmap_put(arg, key, name);
	return 0;
}

static int segment_cb(void *arg, const char *company, const char *customer, const char *segment)
{
	char key[256];

	snprintf(key, sizeof(key), "%s" SERVER_SEP "%s", company, customer);
	strmap_put(arg, key, segment);
	return 0;
}

/* The keys map: key hash -> "a:COMPANY" for an admin key, "c:COMPANY" for a client key. */
static int key_cb(void *arg, const db_key *k)
{
	char v[SERVER_COMPANY_MAX + 3];

	if (k->revoked != NULL || k->hash == NULL || k->company == NULL)
		return 0;
	snprintf(v, sizeof(v), "%c:%s",
	         k->role != NULL && strcmp(k->role, DB_ROLE_ADMIN) == 0 ? 'a' : 'c', k->company);
	strmap_put(arg, k->hash, v);
	return 0;
}

/* Installs a freshly loaded map: on rc 0 swaps *slot for fresh under the
 * write lock and frees the old map, else frees fresh. Returns rc. */
static int install_map(server *s, strmap **slot, strmap *fresh, int rc)
{
	strmap *old = fresh;

	if (rc == 0) {
		pthread_rwlock_wrlock(&s->lock);
		old = *slot;
		*slot = fresh;
		pthread_rwlock_unlock(&s->lock);
	}
	strmap_free(old);
	return rc;
}

static int load_maps(server *s)
{
	strmap *products = strmap_new();
	strmap *keys;
	strmap *segs;
	int64_t nseg = 0;
	int rc;

	rc = install_map(s, &s->products, products, db_products_each(s->reader, product_cb, products));
	if (rc == 0) {
		keys = strmap_new();
		rc = install_map(s, &s->keys, keys, db_keys_each(s->reader, key_cb, keys));
	}
	/* Segments can be many (one per known customer): reload only when the
	 * table changed size or at start, which is when offerctl train runs. */
	if (rc == 0)
		rc = db_count(s->reader, "tb_segments", &nseg);
	if (rc == 0 && (nseg != s->segments_count || s->segments == NULL)) {
		segs = strmap_new();
		rc = install_map(s, &s->segments, segs, db_segments_each(s->reader, segment_cb, segs));
		if (rc == 0)
			s->segments_count = nseg;
	}
	return rc;
}

/* A default reward queued by the refresher; freed when the writer is done. */
typedef struct default_reward {
	writer_op op;
	char company[SERVER_COMPANY_MAX];
	char customer[128];
} default_reward;

static void default_done(writer_op *op)
{
	free(op->arg);
}

static int expired_cb(void *arg, const char *company, const char *customer, int64_t episode_id)
{
	server *s = arg;
	default_reward *d = xcalloc(1, sizeof(*d));

	util_strlcpy(d->company, company, sizeof(d->company));
	util_strlcpy(d->customer, customer, sizeof(d->customer));
	d->op.kind = WOP_REWARD;
	d->op.rin.company = d->company;
	d->op.rin.customer_id = d->customer;
	d->op.rin.episode_id = episode_id;
	d->op.rin.accepted = 0;
	d->op.rin.is_default = 1;
	d->op.done = default_done;
	d->op.arg = d;
	if (writer_submit(s->w, &d->op) != 0) {
		free(d);
		return 1; /* queue full: try again at the next tick */
	}
	return 0;
}

/*
 * Personalizer-style default reward: an episode still without a reward
 * after its agent version's reward_wait_seconds gets "not accepted" (the
 * reward scale's ignore value), learned like any other. Only episodes
 * decided under a version with a wait are defaulted: releasing a version
 * with a wait does not rewrite the history of versions without one. At most
 * 1,000 a version a tick.
 */
static int expire_version(void *arg, const db_agent *a)
{
	server *s = arg;
	agent_conf c;
	char err[128];

	if (agent_conf_from_db(a, &c, err, sizeof(err)) != 0 || c.reward_wait <= 0)
		return 0;
	return db_episodes_expired(s->reader, a->version, c.reward_wait, 1000, expired_cb, s);
}

static void expire_episodes(server *s)
{
	if (s->w == NULL)
		return;
	if (db_agents_each(s->reader, expire_version, s) < 0)
		log_msg(LOG_WARN, "cannot list episodes past the reward wait: %s",
		        s->reader->ops->errmsg(s->reader));
}

/*
 * The contextual models other processes taught (model.h): rows newer than
 * the last refresh, solved and published here, off the request path.
 */
static int load_models(server *s)
{
	agent_conf c;

	server_conf(s, &c);
	return model_refresh(s->models, s->reader, &c);
}

int server_refresh(server *s)
{
	int rc = load_agent(s);

	if (rc == 0 || rc == ERR_INVAL)
		rc = load_values(s);
	if (rc == 0)
		rc = load_models(s);
	if (rc == 0)
		rc = load_maps(s);
	return rc;
}

static void *refresher_main(void *arg)
{
	server *s = arg;
	int failing = 0;

	pthread_mutex_lock(&s->stop_lock);
	while (!s->stopping) {
		struct timespec until;
		double wait = s->cfg->refresh;
		int rc;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += (time_t)wait;
		until.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (!s->refresh_now)
			pthread_cond_timedwait(&s->stop_cond, &s->stop_lock, &until);
		s->refresh_now = 0;
		if (s->stopping)
			break;
		pthread_mutex_unlock(&s->stop_lock);
		rc = server_refresh(s);
		if (rc == 0)
			expire_episodes(s);
		if (rc != 0 && !failing)
			log_msg(LOG_WARN, "refresh from the database failed (%s); serving cached values",
			        s->reader->ops->errmsg(s->reader));
		else if (rc == 0 && failing)
			log_msg(LOG_INFO, "refresh from the database works again");
		failing = rc != 0;
		pthread_mutex_lock(&s->stop_lock);
	}
	pthread_mutex_unlock(&s->stop_lock);
	return NULL;
}

/* --- lifecycle -------------------------------------------------------- */

int server_init(server *s, offerd_config *cfg, const char *argv0)
{
	store *ws[8] = {NULL};
	size_t nwriters;
	int rc;

	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->share_dir = cfg->share_dir[0] ? xstrdup(cfg->share_dir) : default_share_dir(argv0);
	pthread_rwlock_init(&s->lock, NULL);
	pthread_mutex_init(&s->stop_lock, NULL);
	pthread_cond_init(&s->stop_cond, NULL);
	agent_conf_default(&s->conf);
	s->vals = values_new();
	s->models = model_set_new();
	if (cfg->rate > 0)
		s->rate = ratelimit_new(cfg->rate, cfg->rate_burst);
	rc = store_open(cfg->database_url, &s->reader);
	if (rc != 0)
		return rc;
	s->dialect = s->reader->dialect;
	rc = db_migrate(s->reader);
	if (rc != 0) {
		log_msg(LOG_ERROR, "cannot prepare the schema: %s", s->reader->ops->errmsg(s->reader));
		return rc;
	}
	rc = server_refresh(s);
	if (rc != 0) {
		log_msg(LOG_ERROR, "cannot load state: %s", s->reader->ops->errmsg(s->reader));
		return rc;
	}
	nwriters = s->dialect == STORE_SQLITE ? 1 : (size_t)cfg->writers;
	for (size_t i = 0; i < nwriters; i++) {
		rc = store_open(cfg->database_url, &ws[i]);
		if (rc != 0) {
			while (i > 0)
				store_close(ws[--i]);
			return rc;
		}
	}
	rc = writer_start(ws, nwriters, s->vals, conf_for_writer, s, (size_t)cfg->queue_max,
	                  (size_t)cfg->batch_max, &s->w);
	if (rc != 0) {
		for (size_t i = 0; i < nwriters; i++)
			store_close(ws[i]);
		return rc;
	}
	/* Evaluation jobs: threads and connections of their own (evaluation.h). */
	return evaluation_runner_new(cfg->database_url, &s->evals);
}

int server_start_refresher(server *s)
{
	return pthread_create(&s->refresher, NULL, refresher_main, s) == 0 ? 0 : ERR_IO;
}

void server_refresh_soon(server *s)
{
	pthread_mutex_lock(&s->stop_lock);
	s->refresh_now = 1;
	pthread_cond_signal(&s->stop_cond);
	pthread_mutex_unlock(&s->stop_lock);
}

void server_shutdown(server *s)
{
	pthread_mutex_lock(&s->stop_lock);
	s->stopping = 1;
	pthread_cond_signal(&s->stop_cond);
	pthread_mutex_unlock(&s->stop_lock);
	if (s->refresher)
		pthread_join(s->refresher, NULL);
	s->refresher = 0;
	writer_stop(s->w);
}

void server_free(server *s)
{
	server_shutdown(s);
	evaluation_runner_free(s->evals);
	s->evals = NULL;
	writer_free(s->w);
	store_close(s->reader);
	values_free(s->vals);
	model_set_free(s->models);
	ratelimit_free(s->rate);
	strmap_free(s->products);
	strmap_free(s->segments);
	strmap_free(s->keys);
	free(s->share_dir);
	pthread_rwlock_destroy(&s->lock);
	pthread_mutex_destroy(&s->stop_lock);
	pthread_cond_destroy(&s->stop_cond);
}

/* --- lookups ------------------------------------------------------------ */

void server_conf(server *s, agent_conf *out)
{
	pthread_rwlock_rdlock(&s->lock);
	*out = s->conf;
	pthread_rwlock_unlock(&s->lock);
	out->models = s->models;
}

static int map_lookup(server *s, strmap *const *slot, const char *a, const char *b, char *out,
                      size_t outlen)
{
	char key[512];
	const char *v = NULL;
	int found = 0;

	snprintf(key, sizeof(key), "%s" SERVER_SEP "%s", a, b);
	pthread_rwlock_rdlock(&s->lock);
	if (*slot != NULL && strmap_get(*slot, key, &v)) {
		found = v != NULL;
		if (found)
			util_strlcpy(out, v, outlen);
	}
	pthread_rwlock_unlock(&s->lock);
	return found;
}

int server_product(server *s, const char *company, const char *offer, char *out, size_t outlen)
{
	return map_lookup(s, &s->products, company, offer, out, outlen);
}

int server_segment(server *s, const char *company, const char *customer, char *out, size_t outlen)
{
	return map_lookup(s, &s->segments, company, customer, out, outlen);
}

int server_key_company(server *s, const char *key, char *out, size_t outlen, int *admin)
{
	char hash[AUTH_HASH_LEN + 1];
	const char *v = NULL;
	int found = 0;

	auth_hash(key, hash);
	pthread_rwlock_rdlock(&s->lock);
	if (s->keys != NULL && strmap_get(s->keys, hash, &v) && v != NULL && v[0] != '\0' &&
	    v[1] == ':') {
		util_strlcpy(out, v + 2, outlen);
		*admin = v[0] == 'a';
		found = 1;
	}
	pthread_rwlock_unlock(&s->lock);
	return found;
}
