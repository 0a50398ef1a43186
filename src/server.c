/*
 * server.c — startup, the caches and the refresher thread.
 */
#include "server.h"

#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "db.h"
#include "evaluation.h"
#include "log.h"
#include "model.h"
#include "retention.h"
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

/* The configuration of a released version: 0, or the error after logging it. */
static int version_conf(server *s, const char *version, agent_conf *out)
{
	db_agent a;
	char err[256];
	int rc;

	rc = db_agent_by_version(s->reader, version, &a);
	if (rc != 0)
		return rc;
	rc = agent_conf_from_db(&a, out, err, sizeof(err));
	if (rc != 0)
		log_msg(LOG_ERROR, "agent version %s is not usable (%s); keeping the previous one",
		        a.version, err);
	db_agent_clear(&a);
	return rc;
}

/*
 * The champion and the challenger in force (experiment.h): every process
 * reads the same rows, so all of them serve each customer the same version.
 * A challenger that is not usable is left out (the champion serves all).
 */
static int load_agent(server *s)
{
	db_experiment x;
	agent_conf champ;
	agent_conf chal;
	int rc;

	rc = db_experiment_current(s->reader, &x);
	if (rc != 0)
		return rc;
	rc = version_conf(s, x.champion, &champ);
	if (rc != 0)
		return rc;
	agent_conf_default(&chal);
	if (x.challenger[0] != '\0' && version_conf(s, x.challenger, &chal) != 0)
		x.challenger[0] = '\0';
	pthread_rwlock_wrlock(&s->lock);
	if (strcmp(s->conf.version, champ.version) != 0 || s->conf.policy != champ.policy)
		log_msg(LOG_INFO, "agent version %s (%s, epsilon %g)", champ.version,
		        agent_policy_name(champ.policy), champ.epsilon);
	if (x.challenger[0] != '\0' && (strcmp(s->exp.challenger, x.challenger) != 0 ||
	                                s->exp.traffic != x.traffic || s->exp.shadow != x.shadow))
		log_msg(LOG_INFO, "challenger %s (%s) %s", x.challenger, agent_policy_name(chal.policy),
		        x.shadow ? "in shadow" : "serving");
	else if (x.challenger[0] == '\0' && s->exp.challenger[0] != '\0')
		log_msg(LOG_INFO, "challenger %s ended (%s)", s->exp.challenger,
		        x.action[0] != '\0' ? x.action : "a release");
	s->conf = champ;
	s->challenger = chal;
	s->exp = x;
	pthread_rwlock_unlock(&s->lock);
	return 0;
}

/*
 * The experiment's counts (experiment.h), read at once when the set-up
 * changed, else at every refresh, or every 20 times the last read's
 * duration when that is longer: a read costs the rows written since the
 * one before (experiment_tally), small and even at every refresh, and a
 * burst of traffic must not keep the reader busy more than a twentieth of
 * the time.
 */
#define SERVER_EXP_STATS_DUTY 20.0

static int load_experiment_stats(server *s)
{
	experiment_stats fresh;
	experiment_stats old;
	db_experiment x;
	double now = util_monotonic();
	int same;
	int rc;

	pthread_rwlock_rdlock(&s->lock);
	x = s->exp;
	same = s->exp_stats_at > 0 && experiment_same_counts(&s->exp_stats.x, &x) &&
	       now - s->exp_stats_at < SERVER_EXP_STATS_DUTY * s->exp_stats_cost;
	pthread_rwlock_unlock(&s->lock);
	if (same)
		return 0;
	/* Only the refresher replaces exp_stats and uses exp_tally: no lock needed to read them here. */
	rc = experiment_tally_read(&s->exp_tally, s->reader, &x, now, s->erasures_top, &s->exp_stats,
	                           &fresh);
	if (rc != 0)
		return rc;
	pthread_rwlock_wrlock(&s->lock);
	old = s->exp_stats;
	s->exp_stats = fresh;
	s->exp_stats_at = now;
	s->exp_stats_cost = util_monotonic() - now;
	pthread_rwlock_unlock(&s->lock);
	experiment_stats_free(&old);
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
	/* offerctl refuses a name that is not UTF-8; one stored before, or by hand, would drop
	 * the offer from a JSON answer: the catalogue in memory holds it with U+FFFD instead. */
	char *fixed = name != NULL ? util_utf8_fixed(name) : NULL;

	snprintf(key, sizeof(key), "%s" SERVER_SEP "%s", company, offer);
	strmap_put(arg, key, fixed != NULL ? fixed : name);
	free(fixed);
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
	char v[DB_COMPANY_MAX + 3];

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
	char mark[DB_SEGMENTS_MARK_MAX];
	int rc;

	rc = install_map(s, &s->products, products, db_products_each(s->reader, product_cb, products));
	if (rc == 0) {
		keys = strmap_new();
		rc = install_map(s, &s->keys, keys, db_keys_each(s->reader, key_cb, keys));
	}
	/*
	 * Segments can be many (one per known customer): reloaded at start,
	 * after an offerctl train (the newest write time moved) and after an
	 * erasure, both told by an index lookup, never a count of the table.
	 */
	if (rc == 0)
		rc = db_segments_mark(s->reader, mark);
	if (rc == 0 && (s->segments == NULL || strcmp(mark, s->segments_mark) != 0 ||
	                s->erasures_top != s->segments_erasures)) {
		segs = strmap_new();
		rc = install_map(s, &s->segments, segs, db_segments_each(s->reader, segment_cb, segs));
		if (rc == 0) {
			util_strlcpy(s->segments_mark, mark, sizeof(s->segments_mark));
			s->segments_erasures = s->erasures_top;
		}
	}
	return rc;
}

/* A default reward queued by the refresher; freed when the writer is done. */
typedef struct default_reward {
	writer_op op;
	char company[DB_COMPANY_MAX];
	char customer[CUSTOMER_ID_MAX + 1];
} default_reward;

static void default_done(writer_op *op)
{
	free(op->arg);
}

int server_due_reward(void *arg, const char *company, const char *customer, int64_t episode_id)
{
	server_due *w = arg;
	default_reward *d = xcalloc(1, sizeof(*d));

	w->listed++;
	util_strlcpy(d->company, company, sizeof(d->company));
	util_strlcpy(d->customer, customer, sizeof(d->customer));
	d->op.kind = WOP_REWARD;
	d->op.rin.company = d->company;
	d->op.rin.customer_id = d->customer;
	d->op.rin.episode_id = episode_id;
	d->op.rin.accepted = w->accepted;
	d->op.rin.is_default = 1;
	d->op.done = default_done;
	d->op.arg = d;
	if (writer_submit(w->s->w, &d->op) != 0) {
		free(d);
		return 1; /* queue full: try again at the next tick */
	}
	return 0;
}

/* The refresher's record of version's last complete sweep, made when new (NULL: no room). */
static struct server_sweep *sweep_of(server *s, const char *version)
{
	size_t i = 0;

	while (i < s->nsweeps && strcmp(s->sweeps[i].version, version) != 0)
		i++;
	if (i == s->nsweeps) {
		if (i == SERVER_SWEEPS_MAX)
			return NULL;
		memset(&s->sweeps[i], 0, sizeof(s->sweeps[i]));
		util_strlcpy(s->sweeps[i].version, version, sizeof(s->sweeps[i].version));
		s->nsweeps++;
	}
	return &s->sweeps[i];
}

/*
 * Personalizer-style default reward: an episode still without a reward
 * after its agent version's reward_wait_seconds gets "not accepted" (the
 * reward scale's ignore value), learned like any other. Only episodes
 * decided under a version with a wait are defaulted: releasing a version
 * with a wait does not rewrite the history of versions without one. At most
 * SERVER_EXPIRE_MAX a version a tick. A process's first sweep of a version
 * reads all its history; the next ones only the episodes that came due since
 * its last complete sweep (SERVER_EXPIRE_SLACK more, for writes committed
 * late), as the Personalizer's sweep does: a tick costs what came due, not
 * the table (TB_EPISODES' index on last_update).
 */
#define SERVER_EXPIRE_MAX 1000
#define SERVER_EXPIRE_SLACK 60.0
#define SERVER_EXPIRE_ALL 1e9 /* "all the history" (about 31 years) */

static int expire_version(void *arg, const db_agent *a)
{
	server *s = arg;
	server_due w = {s, 0, 0};
	struct server_sweep *last = sweep_of(s, a->version);
	double now = util_now();
	double lookback = SERVER_EXPIRE_ALL;
	agent_conf c;
	char err[128];
	int rc;

	if (agent_conf_from_db(a, &c, err, sizeof(err)) != 0 || c.reward_wait <= 0)
		return 0;
	/* The last complete sweep handled every episode older than its wait then. */
	if (last != NULL && last->at > 0)
		lookback = last->wait + (now - last->at) + SERVER_EXPIRE_SLACK;
	rc = db_episodes_expired(s->reader, a->version, c.reward_wait, lookback, SERVER_EXPIRE_MAX,
	                         server_due_reward, &w);
	if (rc == 0 && w.listed < SERVER_EXPIRE_MAX && last != NULL) {
		last->at = now;
		last->wait = c.reward_wait;
	}
	return rc;
}

static void expire_episodes(server *s)
{
	if (s->w == NULL)
		return;
	if (db_agents_each(s->reader, expire_version, s) < 0)
		log_msg(LOG_WARN, "cannot list episodes past the reward wait: %s",
		        s->reader->ops->errmsg(s->reader));
	api_pz_defaults_sweep(s, s->reader);
}

/* --- rules and contact history (issue 16) ------------------------------- */

/* One company's rules in force. */
typedef struct server_rules {
	char company[DB_COMPANY_MAX];
	int64_t version;
	rules *set;
	char *body;
} server_rules;

/* With s->lock held: the company's entry, or NULL. */
static server_rules *rules_find(server *s, const char *company)
{
	for (size_t i = 0; i < s->nrules; i++) {
		if (strcmp(s->rules[i].company, company) == 0)
			return &s->rules[i];
	}
	return NULL;
}

int server_rules_install(server *s, const char *company, int64_t version, const char *body, char *err,
                         size_t errlen)
{
	server_rules *e;
	rules *set = NULL;
	rules *old = NULL;
	char *old_body = NULL;
	double horizon = 0;
	int rc;

	if (strlen(company) >= DB_COMPANY_MAX)
		return ERR_RANGE;
	pthread_rwlock_rdlock(&s->lock);
	e = rules_find(s, company);
	rc = e != NULL && e->version >= version;
	pthread_rwlock_unlock(&s->lock);
	if (rc)
		return 0;
	rc = rules_parse(body, strlen(body), "rules", &set, err, errlen);
	if (rc != 0)
		return rc;
	pthread_rwlock_wrlock(&s->lock);
	e = rules_find(s, company);
	if (e == NULL) {
		s->rules = xrealloc(s->rules, (s->nrules + 1) * sizeof(*s->rules));
		e = &s->rules[s->nrules++];
		memset(e, 0, sizeof(*e));
		util_strlcpy(e->company, company, sizeof(e->company));
	}
	if (e->set == NULL || e->version < version) {
		old = e->set;
		old_body = e->body;
		e->set = set;
		e->body = xstrdup(body);
		e->version = version;
		set = NULL;
		log_msg(LOG_INFO, "rules version %lld in force for company %s (%zu rules)",
		        (long long)version, company, rules_count(e->set));
	}
	for (size_t i = 0; i < s->nrules; i++) {
		double h = rules_horizon(s->rules[i].set);

		if (h > horizon)
			horizon = h;
	}
	/* A longer window than the history holds: the refresher reads it again. */
	if (horizon > s->contact_horizon)
		memset(s->contact_seen, 0, sizeof(s->contact_seen));
	s->contact_horizon = horizon;
	pthread_rwlock_unlock(&s->lock);
	rules_free(set);
	rules_free(old);
	free(old_body);
	return 0;
}

char *server_rules_text(server *s, const char *company, int64_t *version)
{
	server_rules *e;
	char *out = NULL;

	*version = 0;
	pthread_rwlock_rdlock(&s->lock);
	e = rules_find(s, company);
	if (e != NULL) {
		out = xstrdup(e->body);
		*version = e->version;
	}
	pthread_rwlock_unlock(&s->lock);
	return out;
}

void server_gate(server *s, const char *company, decide_gate *g)
{
	server_rules *e;

	g->rules = NULL;
	g->contacts = NULL;
	pthread_rwlock_rdlock(&s->lock);
	e = rules_find(s, company);
	if (e != NULL)
		g->rules = rules_ref(e->set);
	if (s->contact_horizon > 0)
		g->contacts = s->contacts;
	pthread_rwlock_unlock(&s->lock);
	g->now = util_now();
}

void server_gate_release(decide_gate *g)
{
	rules_free(g->rules);
	g->rules = NULL;
}

/* Whether company's rules in force have contact-policy lines: only those customers are tracked. */
static int company_has_contacts(server *s, const char *company)
{
	server_rules *e;
	size_t n = 0;

	pthread_rwlock_rdlock(&s->lock);
	e = rules_find(s, company);
	if (e != NULL)
		(void)rules_contacts(e->set, &n);
	pthread_rwlock_unlock(&s->lock);
	return n > 0;
}

/* The contact history has episode id: the refresher need not read it. */
static void contact_have(server *s, int64_t id)
{
	pthread_mutex_lock(&s->contact_ids_lock);
	if (s->contact_ids_on)
		idruns_add(&s->contact_ids, id);
	pthread_mutex_unlock(&s->contact_ids_lock);
}

void server_contact_op(server *s, const writer_op *op)
{
	const char *offers[OFFERS_SHOWN];
	size_t n = 0;

	if (op->rc != 0)
		return;
	if (op->kind == WOP_ERASE) {
		contact_forget(s->contacts, op->rin.company, op->rin.customer_id);
		return;
	}
	if (op->kind == WOP_EPISODE) {
		contact_have(s, op->ep.id);
		if (!company_has_contacts(s, op->ep.company))
			return;
		for (n = 0; n < OFFERS_SHOWN && op->ep.offers[n] != NULL; n++)
			offers[n] = op->ep.offers[n];
		(void)contact_shown(s->contacts, op->ep.company, op->ep.customer_id, op->ep.id,
		                    util_now(), offers, n);
		return;
	}
	if (op->kind != WOP_REWARD || op->rout.rc != 0 || op->rout.replayed != 0 || !op->rin.accepted ||
	    !company_has_contacts(s, op->rin.company))
		return;
	if (op->rin.accepted_offer != NULL && op->rin.accepted_offer[0] != '\0') {
		offers[n++] = op->rin.accepted_offer;
	} else {
		for (int k = 0; k < op->rout.n_offers && k < OFFERS_SHOWN; k++)
			offers[n++] = op->rout.offers[k];
	}
	(void)contact_accepted(s->contacts, op->rin.company, op->rin.customer_id, op->rout.episode_id,
	                       util_now(), offers, n);
}

static int rules_cb(void *arg, const char *company, int64_t version, const char *body,
                    const char *created_at)
{
	server *s = arg;
	char err[512];

	(void)created_at;
	if (server_rules_install(s, company, version, body, err, sizeof(err)) != 0)
		log_msg(LOG_ERROR,
		        "rules version %lld of company %s are not usable (%s); keeping the "
		        "previous ones",
		        (long long)version, company, err);
	return 0;
}

typedef struct contact_load {
	server *s;
	int rewards;
	double now;
	int64_t max_id;
	int64_t rows;
} contact_load;

static int contact_cb(void *arg, const db_contact_row *row)
{
	contact_load *cl = arg;
	const char *offers[OFFERS_SHOWN];
	size_t n = 0;

	cl->rows++;
	if (row->id > cl->max_id)
		cl->max_id = row->id;
	if (!cl->rewards)
		contact_have(cl->s, row->id);
	if (!company_has_contacts(cl->s, row->company))
		return 0;
	if (cl->rewards && row->accepted_offer != NULL && row->accepted_offer[0] != '\0') {
		offers[n++] = row->accepted_offer;
	} else {
		for (n = 0; n < OFFERS_SHOWN && row->offers[n] != NULL; n++)
			offers[n] = row->offers[n];
	}
	if (cl->rewards)
		return contact_accepted(cl->s->contacts, row->company, row->customer_id, row->episode_id,
		                        cl->now - row->age, offers, n) < 0;
	return contact_shown(cl->s->contacts, row->company, row->customer_id, row->id,
	                     cl->now - row->age, offers, n) < 0;
}

#define CONTACT_READ_ROWS 20000
#define CONTACT_PRUNE_BUCKETS 4096
#define CONTACT_HOLES_MAX 256

/* Reads the contacts with ids in (after, upto], CONTACT_READ_ROWS at a time. */
static int contact_read_range(server *s, contact_load *cl, int64_t after, int64_t upto, double horizon)
{
	for (;;) {
		int rc;

		cl->rows = 0;
		rc = db_contact_each(s->reader, cl->rewards, after, upto, horizon, CONTACT_READ_ROWS,
		                     contact_cb, cl);
		atomic_fetch_add(&s->contact_rows_read, (unsigned long long)cl->rows);
		if (rc != 0 || cl->rows < CONTACT_READ_ROWS)
			return rc;
		after = cl->max_id; /* the last row of this page */
	}
}

/*
 * The episodes in (from, top] that the history does not have yet: other
 * processes' and those whose transactions had not committed at the last
 * look. A single process reads none of its own back; when the missing ids
 * are too scattered, the whole range is read as before.
 */
static int contact_read_holes(server *s, contact_load *cl, int64_t from, int64_t top, double horizon)
{
	int64_t holes[CONTACT_HOLES_MAX][2];
	size_t n;
	int rc = 0;

	pthread_mutex_lock(&s->contact_ids_lock);
	n = idruns_holes(&s->contact_ids, from, top, holes, CONTACT_HOLES_MAX);
	pthread_mutex_unlock(&s->contact_ids_lock);
	if (n > CONTACT_HOLES_MAX) {
		n = 1;
		holes[0][0] = from + 1;
		holes[0][1] = top;
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = contact_read_range(s, cl, holes[i][0] - 1, holes[i][1], horizon);
	return rc;
}

/*
 * The contacts other processes made (and this one's, which are already
 * there and change nothing): episodes and accepting rewards with ids above
 * the highest seen two refreshes ago, for the same reason as load_values
 * (ids are handed out before their transactions commit). Ids from a
 * transaction longer than one --refresh interval would be missed.
 */
/*
 * An erasure by any process (TB_ERASURES grew) drops this process's whole
 * contact history and has it read again from the database, where the
 * erased customer's episodes are gone: the audit names nobody, so nobody
 * in particular can be dropped. Erasures are rare; the window is read again.
 */
static void contact_after_erasures(server *s)
{
	int64_t top = s->erasures_top;

	if (s->erasures_read && top > s->erasures_seen) {
		contact_clear(s->contacts);
		pthread_mutex_lock(&s->contact_ids_lock);
		idruns_clear(&s->contact_ids);
		pthread_mutex_unlock(&s->contact_ids_lock);
		pthread_rwlock_wrlock(&s->lock);
		memset(s->contact_seen, 0, sizeof(s->contact_seen));
		pthread_rwlock_unlock(&s->lock);
		log_msg(LOG_INFO, "contact history read again after an erasure");
	}
	s->erasures_seen = top;
	s->erasures_read = 1;
}

static int load_contacts(server *s)
{
	double horizon;
	int rc = 0;

	pthread_rwlock_rdlock(&s->lock);
	horizon = s->contact_horizon;
	pthread_rwlock_unlock(&s->lock);
	pthread_mutex_lock(&s->contact_ids_lock);
	s->contact_ids_on = horizon > 0;
	if (!s->contact_ids_on)
		idruns_clear(&s->contact_ids);
	pthread_mutex_unlock(&s->contact_ids_lock);
	if (horizon <= 0)
		return 0;
	contact_after_erasures(s);
	for (int k = 0; k < 2 && rc == 0; k++) {
		contact_load cl = {s, k, util_now(), 0, 0};
		int64_t from;
		int64_t top = 0;

		pthread_rwlock_rdlock(&s->lock);
		from = s->contact_seen[k][1];
		pthread_rwlock_unlock(&s->lock);
		/*
		 * The first read goes over the whole window, by id from 0: the
		 * table's highest id then becomes the cursor, so that a window
		 * without rows is not scanned again at every refresh. Later
		 * reads of episodes ask only for the holes below it.
		 */
		if (from == 0 || k == 0)
			rc = db_contact_top(s->reader, k, &top);
		cl.max_id = from;
		if (rc == 0 && k == 0 && from > 0)
			rc = contact_read_holes(s, &cl, from, top, horizon);
		else if (rc == 0)
			rc = contact_read_range(s, &cl, from, INT64_MAX, horizon);
		if (rc != 0)
			break;
		pthread_rwlock_wrlock(&s->lock);
		if (s->contact_seen[k][0] > cl.max_id)
			cl.max_id = s->contact_seen[k][0];
		if (top > cl.max_id)
			cl.max_id = top;
		s->contact_seen[k][1] = from == 0 ? cl.max_id : s->contact_seen[k][0];
		s->contact_seen[k][0] = cl.max_id;
		from = s->contact_seen[k][1];
		pthread_rwlock_unlock(&s->lock);
		/* The next read starts above from: ids up to it are not asked about again. */
		if (k == 0) {
			pthread_mutex_lock(&s->contact_ids_lock);
			idruns_drop_to(&s->contact_ids, from);
			pthread_mutex_unlock(&s->contact_ids_lock);
		}
	}
	contact_prune(s->contacts, util_now() - horizon, CONTACT_PRUNE_BUCKETS);
	return rc;
}

/*
 * The contextual models other processes taught (model.h): rows newer than
 * the last refresh, solved and published here, off the request path.
 */
static int load_models(server *s)
{
	decide_arms a;

	server_arms(s, &a);
	return model_refresh_versions(s->models, s->reader, &a.champion,
	                              a.x.challenger[0] != '\0' ? &a.challenger : NULL);
}

int server_refresh(server *s)
{
	int rc = load_agent(s);

	if (rc == 0 || rc == ERR_INVAL)
		rc = load_values(s);
	/* One read for every cache an erasure must empty (segments, contacts, experiment counts). */
	if (rc == 0)
		rc = db_erasures_top(s->reader, &s->erasures_top);
	if (rc == 0)
		rc = load_models(s);
	if (rc == 0)
		rc = load_maps(s);
	if (rc == 0)
		rc = db_rules_latest(s->reader, NULL, rules_cb, s);
	if (rc == 0)
		rc = load_contacts(s);
	if (rc == 0)
		rc = load_experiment_stats(s);
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

		util_deadline(wait, &until);
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
	pthread_mutex_init(&s->contact_ids_lock, NULL);
	pthread_cond_init(&s->stop_cond, NULL);
	agent_conf_default(&s->conf);
	agent_conf_default(&s->challenger);
	s->vals = values_new();
	s->models = model_set_new();
	s->contacts = contact_new(CONTACT_CUSTOMERS_DEFAULT);
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

/* The retention thread (issue 16.4), beside the refresher and like it never on a request's path. */
static int start_retention(server *s)
{
	retention_conf c;
	char err[160];

	memset(&c, 0, sizeof(c));
	c.default_days = s->cfg->retention_days;
	c.interval = s->cfg->retention_interval;
	if (retention_parse(s->cfg->retention, &c, err, sizeof(err)) != 0) {
		log_msg(LOG_ERROR, "%s", err);
		return ERR_INVAL;
	}
	return retention_start(s->cfg->database_url, &c, &s->retention);
}

int server_start_refresher(server *s)
{
	if (pthread_create(&s->refresher, NULL, refresher_main, s) != 0)
		return ERR_IO;
	return start_retention(s);
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
	retention_stop(s->retention);
	s->retention = NULL;
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
	for (size_t i = 0; i < s->nrules; i++) {
		rules_free(s->rules[i].set);
		free(s->rules[i].body);
	}
	free(s->rules);
	contact_free(s->contacts);
	experiment_stats_free(&s->exp_stats);
	experiment_tally_free(&s->exp_tally);
	free(s->share_dir);
	pthread_rwlock_destroy(&s->lock);
	pthread_mutex_destroy(&s->stop_lock);
	pthread_mutex_destroy(&s->contact_ids_lock);
	idruns_clear(&s->contact_ids);
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

void server_arms(server *s, decide_arms *out)
{
	pthread_rwlock_rdlock(&s->lock);
	out->champion = s->conf;
	out->challenger = s->challenger;
	out->x = s->exp;
	pthread_rwlock_unlock(&s->lock);
	out->champion.models = s->models;
	out->challenger.models = s->models;
}

size_t server_experiment(server *s, const char *company, const db_experiment *x,
                         experiment_arm out[EXPERIMENT_ARMS_MAX])
{
	size_t n;

	pthread_rwlock_rdlock(&s->lock);
	n = experiment_arms(x != NULL ? x : &s->exp, &s->exp_stats, company, out);
	pthread_rwlock_unlock(&s->lock);
	return n;
}

void server_experiment_each(server *s, server_arms_fn fn, void *arg)
{
	experiment_arm arms[EXPERIMENT_ARMS_MAX];

	pthread_rwlock_rdlock(&s->lock);
	for (size_t i = 0; i < s->exp_stats.n; i++) {
		const char *company = s->exp_stats.c[i].company;
		size_t n;
		size_t j;

		/* Each company once: its first row. */
		for (j = 0; j < i && strcmp(s->exp_stats.c[j].company, company) != 0; j++)
			;
		if (j < i)
			continue;
		n = experiment_arms(&s->exp, &s->exp_stats, company, arms);
		fn(arg, company, arms, n);
	}
	pthread_rwlock_unlock(&s->lock);
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
	/* A company too long for out (stored before offerctl refused such names) is no tenant: cut,
	 * it would be another company's. */
	if (s->keys != NULL && strmap_get(s->keys, hash, &v) && v != NULL && v[0] != '\0' &&
	    v[1] == ':' && strlen(v + 2) < outlen) {
		util_strlcpy(out, v + 2, outlen);
		*admin = v[0] == 'a';
		found = 1;
	}
	pthread_rwlock_unlock(&s->lock);
	return found;
}
