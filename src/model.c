/*
 * model.c — the contextual policies' models in offerd: snapshots for the
 * decisions, the writer's examples and TB_MODEL rows, the refresher's
 * reloads (model.h states the threads and the merge rule).
 */
#include "model.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "customer.h"
#include "date.h"
#include "feat.h"
#include "log.h"
#include "policy.h"
#include "ridge.h"
#include "strmap.h"
#include "util.h"

#define MODEL_COMPANY_MAX 64

/* An immutable, solved copy of a master, shared by the deciding threads. */
typedef struct model_snap {
	policy *p;
	atomic_int refs;
} model_snap;

typedef struct model_entry {
	char company[MODEL_COMPANY_MAX];
	char version[DB_VERSION_MAX];
	pthread_mutex_t lock; /* master, rev, clock_rev */
	policy *master;
	int64_t rev[RIDGE_OFFERS_MAX]; /* TB_MODEL revision installed, by master offer */
	int64_t clock_rev;
	pthread_mutex_t snap_lock; /* the pointer snap only */
	model_snap *snap;
	ridge *prior;       /* offerctl train's pseudo-observations, or NULL */
	unsigned prior_gen; /* of the set's priors it was built from */
} model_entry;

/* A TB_POLICY prior (offerctl train) of one (company, state, offer). */
typedef struct prior_row {
	char company[MODEL_COMPANY_MAX];
	char state_key[CUSTOMER_STATE_KEY_MAX];
	char offer[REQ_OFFER_NAME_MAX + 1];
	double value; /* on the reward scale */
	double weight;
} prior_row;

struct model_set {
	pthread_rwlock_t lock; /* e and n */
	model_entry *e[MODEL_ENTRIES_MAX];
	size_t n;
	/* The refresher's: highest revision seen at the last refresh and the one before. */
	int64_t seen;
	int64_t seen_prev;
	int loaded;
	/* The refresher's only: the priors, by key in prior_idx, and their generation. */
	prior_row *priors;
	size_t npriors;
	strmap *prior_idx;
	unsigned prior_gen;
};

model_set *model_set_new(void)
{
	model_set *m = xcalloc(1, sizeof(*m));

	pthread_rwlock_init(&m->lock, NULL);
	m->prior_idx = strmap_new();
	return m;
}

static void snap_release(model_snap *sn)
{
	if (sn != NULL && atomic_fetch_sub(&sn->refs, 1) == 1) {
		policy_free(sn->p);
		free(sn);
	}
}

static model_snap *snap_acquire(model_entry *e)
{
	model_snap *sn;

	pthread_mutex_lock(&e->snap_lock);
	sn = e->snap;
	atomic_fetch_add(&sn->refs, 1);
	pthread_mutex_unlock(&e->snap_lock);
	return sn;
}

/* Publishes a solved copy of the master; the caller holds e->lock. */
static void publish(model_entry *e)
{
	model_snap *sn = xcalloc(1, sizeof(*sn));
	model_snap *old;

	sn->p = policy_snapshot(e->master, e->prior);
	atomic_init(&sn->refs, 1);
	pthread_mutex_lock(&e->snap_lock);
	old = e->snap;
	e->snap = sn;
	pthread_mutex_unlock(&e->snap_lock);
	snap_release(old);
}

void model_set_free(model_set *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		model_entry *e = m->e[i];

		snap_release(e->snap);
		policy_free(e->master);
		ridge_free(e->prior);
		pthread_mutex_destroy(&e->lock);
		pthread_mutex_destroy(&e->snap_lock);
		free(e);
	}
	pthread_rwlock_destroy(&m->lock);
	strmap_free(m->prior_idx);
	free(m->priors);
	free(m);
}

/* --- configuration ------------------------------------------------------------ */

int model_conf(const char *params, agent_conf *out, char *err, size_t errlen)
{
	const policy_type *t = policy_find(agent_policy_name(out->policy));
	const policy_common *c;
	policy *p = NULL;
	json_t *root = NULL;
	json_t *wait;
	int rc;

	if (t == NULL) {
		snprintf(err, errlen, "unknown policy \"%s\"", agent_policy_name(out->policy));
		return ERR_INVAL;
	}
	if (params != NULL && strlen(params) >= sizeof(out->params)) {
		snprintf(err, errlen, "params must be shorter than %zu bytes", sizeof(out->params));
		return ERR_INVAL;
	}
	rc = policy_new(t, params, &p, err, errlen);
	if (rc != 0)
		return rc;
	c = policy_params(p);
	out->r_accept = c->r_accept;
	out->r_click = c->r_click;
	out->r_ignore = c->r_ignore;
	util_strlcpy(out->params, params != NULL ? params : "", sizeof(out->params));
	policy_free(p);
	/* policy_new has checked that the text is an object; the wait is the writer's. */
	if (params != NULL && params[0] != '\0')
		root = json_loads(params, 0, NULL);
	wait = json_object_get(root, "reward_wait_seconds");
	if (wait != NULL) {
		if (!json_is_number(wait) || !(json_number_value(wait) >= 0)) {
			snprintf(err, errlen, "params.reward_wait_seconds must be a number >= 0");
			rc = ERR_INVAL;
		} else {
			out->reward_wait = json_number_value(wait);
		}
	}
	json_decref(root);
	return rc;
}

/* --- models by (company, version) ------------------------------------------------ */

static model_entry *find_locked(model_set *m, const char *company, const char *version)
{
	for (size_t i = 0; i < m->n; i++) {
		if (strcmp(m->e[i]->company, company) == 0 && strcmp(m->e[i]->version, version) == 0)
			return m->e[i];
	}
	return NULL;
}

/*
 * The model of (company, c->version); when create, a new empty one with c's
 * policy and params. NULL when unknown (not create), the table is full or
 * c's params no longer parse.
 */
static model_entry *entry_get(model_set *m, const char *company, const agent_conf *c, int create)
{
	const policy_type *t;
	model_entry *e;
	char err[256];

	pthread_rwlock_rdlock(&m->lock);
	e = find_locked(m, company, c->version);
	pthread_rwlock_unlock(&m->lock);
	if (e != NULL || !create)
		return e;
	if (strlen(company) >= MODEL_COMPANY_MAX || !agent_policy_contextual(c->policy))
		return NULL;
	t = policy_find(agent_policy_name(c->policy));
	pthread_rwlock_wrlock(&m->lock);
	e = find_locked(m, company, c->version);
	if (e == NULL && m->n < MODEL_ENTRIES_MAX) {
		e = xcalloc(1, sizeof(*e));
		if (policy_new(t, c->params, &e->master, err, sizeof(err)) != 0) {
			log_msg(LOG_ERROR, "agent %s: %s", c->version, err);
			free(e);
			e = NULL;
		} else {
			util_strlcpy(e->company, company, sizeof(e->company));
			util_strlcpy(e->version, c->version, sizeof(e->version));
			pthread_mutex_init(&e->lock, NULL);
			pthread_mutex_init(&e->snap_lock, NULL);
			pthread_mutex_lock(&e->lock);
			publish(e);
			pthread_mutex_unlock(&e->lock);
			m->e[m->n++] = e;
		}
	}
	pthread_rwlock_unlock(&m->lock);
	return e;
}

/*
 * What deciding and explaining both start from: the company's entry for the
 * agent c (created on first use) and the request's feature context, with
 * the features' names when names is not NULL.
 */
static int entry_context(const agent_conf *c, const char *company, const predict_req *req,
                         const char *rfm, feat_names *names, feat_ctx *ctx, model_entry **e)
{
	if (c->models == NULL)
		return ERR_INVAL;
	*e = entry_get(c->models, company, c, 1);
	if (*e == NULL)
		return ERR_INVAL;
	return feat_context_named(req, rfm, ctx, names);
}

int model_decide(const agent_conf *c, rng *r, const char *company, const predict_req *req,
                 const char *rfm, agent_decision *out)
{
	model_entry *e;
	model_snap *sn;
	feat_ctx ctx;
	policy_slate sl;
	int rc;

	rc = entry_context(c, company, req, rfm, NULL, &ctx, &e);
	if (rc != 0)
		return rc;
	sn = snap_acquire(e);
	rc = policy_decide(sn->p, &ctx, req, r, &sl);
	snap_release(sn);
	if (rc != 0)
		return rc;
	out->n = sl.n;
	for (size_t k = 0; k < sl.n && k < OFFERS_SHOWN; k++) {
		out->idx[k] = sl.idx[k];
		out->propensity[k] = sl.propensity[k];
	}
	return 0;
}

int model_explain(const agent_conf *c, const char *company, const predict_req *req, const char *rfm,
                  const agent_decision *dec, policy_explanation *out)
{
	feat_names *names;
	model_entry *e;
	model_snap *sn;
	feat_ctx ctx;
	policy_slate sl;
	int rc;

	names = xmalloc(sizeof(*names));
	rc = entry_context(c, company, req, rfm, names, &ctx, &e);
	if (rc == 0) {
		memset(&sl, 0, sizeof(sl));
		sl.n = dec->n;
		for (size_t k = 0; k < dec->n && k < OFFERS_SHOWN; k++)
			sl.idx[k] = dec->idx[k];
		sn = snap_acquire(e);
		policy_explain(sn->p, &ctx, names, req, &sl, out);
		snap_release(sn);
	}
	free(names);
	return rc;
}

double model_count(model_set *m, const char *company, const char *version, const char *offer)
{
	model_entry *e;
	double n = -1;

	pthread_rwlock_rdlock(&m->lock);
	e = find_locked(m, company, version);
	pthread_rwlock_unlock(&m->lock);
	if (e == NULL)
		return -1;
	pthread_mutex_lock(&e->lock);
	n = ridge_count(e->master->stats, ridge_offer(e->master->stats, offer, 0));
	pthread_mutex_unlock(&e->lock);
	return n;
}

/* --- rows ---------------------------------------------------------------------------- */

/* Reads {"b":[d],"S":[tri]}: 0, 1 when empty ("{}"), or ERR_INVAL. */
static int stats_parse(const char *text, size_t d, size_t tri, double *b, double *S)
{
	json_t *root = json_loads(text, 0, NULL);
	json_t *jb = json_object_get(root, "b");
	json_t *jS = json_object_get(root, "S");
	int rc = 0;

	if (!json_is_object(root)) {
		rc = ERR_INVAL;
		goto out;
	}
	if (jb == NULL && jS == NULL) {
		rc = 1;
		goto out;
	}
	if (json_array_size(jb) != d || json_array_size(jS) != tri) {
		rc = ERR_INVAL;
		goto out;
	}
	for (size_t k = 0; k < d && rc == 0; k++) {
		b[k] = json_number_value(json_array_get(jb, k));
		if (!isfinite(b[k]))
			rc = ERR_INVAL;
	}
	for (size_t k = 0; k < tri && rc == 0; k++) {
		S[k] = json_number_value(json_array_get(jS, k));
		if (!isfinite(S[k]))
			rc = ERR_INVAL;
	}
out:
	json_decref(root);
	return rc;
}

static int add_array(buf *out, const char *key, const double *v, size_t n)
{
	int rc = buf_addf(out, "\"%s\":[", key);

	for (size_t k = 0; k < n && rc == 0; k++) {
		/* Most cells are 0 (features never seen together): printf's exact
		 * decimal conversion was a fifth of the writer's CPU under /rewards. */
		if (v[k] == 0)
			rc = buf_adds(out, k ? ",0" : "0");
		else
			rc = buf_addf(out, k ? ",%.17g" : "%.17g", v[k]);
	}
	return rc != 0 ? rc : buf_adds(out, "]");
}

/* The stats text of b and S, NULL past 64 MiB; the caller frees it. */
static char *stats_text(const double *b, size_t d, const double *S, size_t tri)
{
	buf out;
	int rc = 0;

	buf_init(&out, 64u << 20);
	rc |= buf_adds(&out, "{");
	rc |= add_array(&out, "b", b, d);
	rc |= buf_adds(&out, ",");
	rc |= add_array(&out, "S", S, tri);
	rc |= buf_adds(&out, "}");
	if (rc != 0) {
		buf_free(&out);
		return NULL;
	}
	return buf_steal(&out);
}

/* A row written by the batch or read by the refresher, to install in a master. */
typedef struct mrow {
	model_entry *e;
	char offer[REQ_OFFER_NAME_MAX + 1]; /* "" the clock row */
	double n;
	int64_t tick;
	double *b; /* owned; NULL for the clock row */
	double *S;
	int64_t rev;
} mrow;

/* Installs r in its master when newer than what it holds; the caller holds e->lock. */
static void install(const mrow *r)
{
	ridge *st = r->e->master->stats;
	int i;

	if (r->offer[0] == '\0') {
		if (r->rev > r->e->clock_rev) {
			ridge_set_clock(st, (uint64_t)r->tick, r->n);
			r->e->clock_rev = r->rev;
		}
		return;
	}
	i = ridge_offer(st, r->offer, 0);
	if (i >= 0 && r->rev <= r->e->rev[i])
		return;
	if (ridge_offer_set(st, r->offer, r->n, r->b, r->S, (uint64_t)r->tick) != 0) {
		log_msg(LOG_WARN, "model %s/%s: more than %d offers; %s is not learned", r->e->company,
		        r->e->version, RIDGE_OFFERS_MAX, r->offer);
		return;
	}
	r->e->rev[ridge_offer(st, r->offer, 0)] = r->rev;
}

/* --- the writer ---------------------------------------------------------------------- */

typedef struct mb_model {
	model_entry *e;
	ridge *delta;      /* raw sums of the batch's examples */
	uint64_t episodes; /* episodes learned in the batch */
	double weight;     /* erase: their summed present weights */
} mb_model;

struct model_batch {
	model_set *m;
	mb_model *models;
	size_t nmodels;
	mrow *rows;
	size_t nrows;
	int erase;       /* subtracts its examples (model_batch_new_erase) */
	int approximate; /* erase: a model with forgetting < 1 was changed */
	double age;      /* erase: episodes learned since the next example (model_batch_set_age) */
};

model_batch *model_batch_new(model_set *m)
{
	model_batch *b = xcalloc(1, sizeof(*b));

	b->m = m;
	return b;
}

model_batch *model_batch_new_erase(model_set *m)
{
	model_batch *b = model_batch_new(m);

	b->erase = 1;
	return b;
}

int model_batch_approximate(const model_batch *b)
{
	return b != NULL && b->approximate;
}

void model_batch_set_age(model_batch *b, double age)
{
	b->age = age > 0 ? age : 0;
}

/* Adds w times src's sums to dst's, offer by offer (both undecayed deltas). */
static int add_weighted(ridge *dst, ridge *src, double w)
{
	size_t d = ridge_dim(dst);
	size_t tri = ridge_tri(dst);
	double *nb = xmalloc(d * sizeof(double));
	double *nS = xmalloc(tri * sizeof(double));
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < ridge_noffers(src); i++) {
		const char *name = ridge_offer_name(src, (int)i);
		const double *sb;
		const double *sS;
		const double *db;
		const double *dS;
		double n;
		double n0;
		int j = ridge_offer(dst, name, 1);

		if (j < 0) {
			rc = ERR_TOOBIG;
			break;
		}
		ridge_offer_stats(src, (int)i, &n, &sb, &sS);
		ridge_offer_stats(dst, j, &n0, &db, &dS);
		for (size_t k = 0; k < d; k++)
			nb[k] = db[k] + w * sb[k];
		for (size_t k = 0; k < tri; k++)
			nS[k] = dS[k] + w * sS[k];
		rc = ridge_offer_set(dst, name, n0 + w * n, nb, nS, ridge_clock(dst));
	}
	free(nb);
	free(nS);
	return rc;
}

static void rows_free(mrow *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rows[i].b);
		free(rows[i].S);
	}
	free(rows);
}

void model_batch_free(model_batch *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->nmodels; i++)
		ridge_free(b->models[i].delta);
	free(b->models);
	rows_free(b->rows, b->nrows);
	free(b);
}

static mb_model *batch_model(model_batch *b, model_entry *e)
{
	const policy_common *c = policy_params(e->master);
	mb_model *mm;

	for (size_t i = 0; i < b->nmodels; i++) {
		if (b->models[i].e == e)
			return &b->models[i];
	}
	b->models = xrealloc(b->models, (b->nmodels + 1) * sizeof(*b->models));
	mm = &b->models[b->nmodels++];
	memset(mm, 0, sizeof(*mm)); /* xrealloc's new entry is not zeroed (ASan fills it) */
	mm->e = e;
	mm->delta = ridge_new((unsigned)c->bits, c->lambda, 1.0);
	return mm;
}

/*
 * The context of an episode as its decision saw it. The RFM segment is not
 * stored with the episode, but the state key starts with the segment the
 * decision used: when it differs from the demographic segment, it was the
 * customer's RFM segment.
 */
int model_episode_context(const char *states_text, const char *request_ts, const char *state_key,
                          feat_ctx *ctx)
{
	json_t *states = NULL;
	customer_attrs c;
	date_ymd date;
	req_error e;
	char demo[CUSTOMER_SEGMENT_MAX];
	char seg[CUSTOMER_SEGMENT_MAX];
	int rc = ERR_INVAL;

	if (states_text == NULL || states_text[0] == '\0' || request_ts == NULL ||
	    date_parse(request_ts, &date) != 0)
		goto out;
	states = json_loads(states_text, 0, NULL);
	if (!json_is_object(states) || request_customer_from_states(states, &c, &e) != 0)
		goto out;
	customer_segment(&c, NULL, demo, sizeof(demo));
	customer_state_segment(state_key, seg, sizeof(seg));
	rc = feat_context_json(states, &date, &c, strcmp(seg, demo) != 0 ? seg : NULL, ctx);
out:
	json_decref(states);
	return rc;
}

int model_batch_add(model_batch *b, const agent_conf *conf, const char *company, const db_reward_out *ep,
                    const int *success)
{
	model_entry *e;
	mb_model *mm;
	predict_req *req;
	policy_slate shown;
	policy_feedback fb;
	feat_ctx ctx;
	ridge *into;
	double w = 1.0;
	int accepted = -1;
	int rc;

	if (ep->n_offers <= 0 || ep->n_offers > OFFERS_SHOWN)
		return 0;
	e = entry_get(b->m, company, conf, 1);
	if (e == NULL)
		return 0;
	if (model_episode_context(ep->states, ep->request_ts, ep->state_key, &ctx) != 0) {
		log_msg(LOG_WARN, "episode %lld: its request cannot be rebuilt; not learned",
		        (long long)ep->episode_id);
		return 0;
	}
	req = xcalloc(1, sizeof(*req));
	memset(&shown, 0, sizeof(shown));
	memset(&fb, 0, sizeof(fb));
	for (int k = 0; k < ep->n_offers; k++) {
		util_strlcpy(req->offers[k], ep->offers[k], sizeof(req->offers[k]));
		req->allowed[k] = 1;
		shown.idx[k] = (size_t)k;
		fb.reward[k] = ep->rewards[k];
		if (success[k])
			accepted = k;
	}
	req->n_offers = (size_t)ep->n_offers;
	req->n_allowed = req->n_offers;
	shown.n = req->n_offers;
	fb.n = shown.n;
	/* Cascade: the slots down to the accepted one were looked at; all when none was. */
	policy_cascade(fb.n, accepted, fb.credited);
	mm = batch_model(b, e);
	into = mm->delta;
	if (b->erase) {
		/* One example at a time, weighted by what forgetting left of it. */
		const policy_common *pc = policy_params(e->master);

		into = ridge_new((unsigned)pc->bits, pc->lambda, 1.0);
		w = pc->forgetting < 1 ? pow(pc->forgetting, b->age) : 1.0;
	}
	pthread_mutex_lock(&e->lock);
	rc = policy_examples(e->master, into, &ctx, req, &shown, &fb);
	pthread_mutex_unlock(&e->lock);
	if (rc == 0 && into != mm->delta)
		rc = add_weighted(mm->delta, into, w);
	if (rc == 0) {
		mm->episodes++;
		mm->weight += w;
	}
	if (into != mm->delta)
		ridge_free(into);
	free(req);
	return rc == ERR_TOOBIG ? 0 : rc;
}

typedef struct locked_row {
	int found;
	double n;
	int64_t tick;
	char *stats;
} locked_row;

static int keep_locked(void *arg, const db_model_row *row)
{
	locked_row *l = arg;

	l->found = 1;
	l->n = row->n;
	l->tick = row->tick;
	free(l->stats);
	l->stats = xstrdup(row->stats);
	return 0;
}

static int mb_model_cmp(const void *a, const void *b)
{
	const mb_model *x = a;
	const mb_model *y = b;
	int c = strcmp(x->e->company, y->e->company);

	return c != 0 ? c : strcmp(x->e->version, y->e->version);
}

static mrow *new_row(model_batch *b, model_entry *e, const char *offer)
{
	mrow *r;

	b->rows = xrealloc(b->rows, (b->nrows + 1) * sizeof(*b->rows));
	r = &b->rows[b->nrows++];
	memset(r, 0, sizeof(*r));
	r->e = e;
	util_strlcpy(r->offer, offer, sizeof(r->offer));
	return r;
}

/* One model's clock row and offer rows (model.h's merge rule). */
static int store_model(model_batch *b, store *s, mb_model *mm)
{
	model_entry *e = mm->e;
	ridge *delta = mm->delta;
	double gamma = policy_params(e->master)->forgetting;
	size_t d = ridge_dim(delta);
	size_t tri = ridge_tri(delta);
	locked_row l;
	db_model_row row;
	mrow *r;
	double eps;
	int64_t clock;
	int rows_ok;
	int rc;

	memset(&l, 0, sizeof(l));
	rc = db_model_lock(s, e->company, e->version, "", keep_locked, &l);
	if (rc != 0)
		goto out;
	clock = l.tick + (int64_t)mm->episodes;
	/* The discounted episodes after k more ticks of e = e gamma + 1. */
	eps = l.n;
	for (uint64_t k = 0; k < mm->episodes && !b->erase; k++)
		eps = eps * gamma + 1.0;
	if (b->erase) {
		/*
		 * Erasure: the clock only runs forward (every process's master
		 * keeps the highest tick it saw), so it stays; the episodes it
		 * counts lose the erased ones, exactly when nothing is forgotten.
		 */
		clock = l.tick;
		eps = l.n - mm->weight > 0 ? l.n - mm->weight : 0;
		/* The logistic examples' weights came from the model as it stood
		 * then (a Newton step at its mean): they are recomputed at today's. */
		if (gamma < 1 || policy_params(e->master)->logistic > 0.5)
			b->approximate = 1;
	}
	memset(&row, 0, sizeof(row));
	row.company = e->company;
	row.version = e->version;
	row.offer = "";
	row.n = eps;
	row.tick = clock;
	row.stats = "{}";
	r = new_row(b, e, "");
	r->n = eps;
	r->tick = clock;
	rc = db_model_put(s, &row, &r->rev);
	for (size_t i = 0; rc == 0 && i < ridge_noffers(delta); i++) {
		const char *offer = ridge_offer_name(delta, (int)i);
		const double *db;
		const double *dS;
		double dn;
		double f;
		char *text;

		ridge_offer_stats(delta, (int)i, &dn, &db, &dS);
		rc = db_model_lock(s, e->company, e->version, offer, keep_locked, &l);
		if (rc != 0)
			break;
		r = new_row(b, e, offer);
		r->b = xcalloc(d, sizeof(double));
		r->S = xcalloc(tri, sizeof(double));
		r->tick = clock;
		f = 1.0;
		rows_ok = stats_parse(l.stats, d, tri, r->b, r->S) == 0;
		if (rows_ok) {
			f = gamma < 1 ? pow(gamma, (double)(clock - l.tick)) : 1.0;
			r->n = l.n * f;
		} else {
			/* New, or written with other bits (a corrupt row): start from the delta. */
			memset(r->b, 0, d * sizeof(double));
			memset(r->S, 0, tri * sizeof(double));
			r->n = 0;
		}
		if (b->erase && !rows_ok) {
			/* Nothing stored to take the examples from: the row stays empty. */
			b->approximate = 1;
		} else if (b->erase) {
			/*
			 * The row decayed to now, less the examples at their
			 * present weights (model_batch_set_age): exact without
			 * forgetting; with it, as exact as their estimated ages.
			 */
			for (size_t k = 0; k < d; k++)
				r->b[k] = r->b[k] * f - db[k];
			for (size_t k = 0; k < tri; k++)
				r->S[k] = r->S[k] * f - dS[k];
			r->n = r->n - dn > 0 ? r->n - dn : 0;
		} else {
			for (size_t k = 0; k < d; k++)
				r->b[k] = r->b[k] * f + db[k];
			for (size_t k = 0; k < tri; k++)
				r->S[k] = r->S[k] * f + dS[k];
			r->n += dn;
		}
		text = stats_text(r->b, d, r->S, tri);
		if (text == NULL) {
			rc = ERR_TOOBIG;
			break;
		}
		row.offer = offer;
		row.n = r->n;
		row.stats = text;
		rc = db_model_put(s, &row, &r->rev);
		free(text);
	}
out:
	free(l.stats);
	return rc;
}

int model_batch_store(model_batch *b, store *s)
{
	int rc = 0;

	/* One lock order for every writer: the clock rows by (company, version). */
	if (b->nmodels > 1)
		qsort(b->models, b->nmodels, sizeof(*b->models), mb_model_cmp);
	for (size_t i = 0; i < b->nmodels && rc == 0; i++) {
		if (b->models[i].episodes > 0)
			rc = store_model(b, s, &b->models[i]);
	}
	return rc;
}

/* Installs rows (grouped by model, clock row first) and publishes each model once. */
static void install_rows(const mrow *rows, size_t n)
{
	size_t i = 0;

	while (i < n) {
		model_entry *e = rows[i].e;

		pthread_mutex_lock(&e->lock);
		for (; i < n && rows[i].e == e; i++)
			install(&rows[i]);
		publish(e);
		pthread_mutex_unlock(&e->lock);
	}
}

void model_batch_commit(model_batch *b)
{
	install_rows(b->rows, b->nrows);
}

/* --- the warm start ---------------------------------------------------------------- */

void model_prior(model_set *m, const db_policy_row *row)
{
	char key[512];
	char idx[32];
	const char *v = NULL;
	prior_row *p;
	int64_t i = -1;

	if (!(row->prior_weight > 0) || strlen(row->company) >= MODEL_COMPANY_MAX ||
	    strlen(row->state_key) >= CUSTOMER_STATE_KEY_MAX || strlen(row->offer) > REQ_OFFER_NAME_MAX)
		return;
	snprintf(key, sizeof(key), "%s\x1f%s\x1f%s", row->company, row->state_key, row->offer);
	if (strmap_get(m->prior_idx, key, &v) && v != NULL)
		util_strtonum(v, 0, (int64_t)m->npriors - 1, &i);
	if (i >= 0) {
		p = &m->priors[i];
		if (p->value == row->prior_value && p->weight == row->prior_weight)
			return; /* a learned row sent again: its prior has not changed */
	} else {
		m->priors = xrealloc(m->priors, (m->npriors + 1) * sizeof(*m->priors));
		p = &m->priors[m->npriors];
		snprintf(idx, sizeof(idx), "%zu", m->npriors++);
		strmap_put(m->prior_idx, key, idx);
		util_strlcpy(p->company, row->company, sizeof(p->company));
		util_strlcpy(p->state_key, row->state_key, sizeof(p->state_key));
		util_strlcpy(p->offer, row->offer, sizeof(p->offer));
	}
	p->value = row->prior_value;
	p->weight = row->prior_weight;
	m->prior_gen++;
}

/*
 * The context a state key stands for: the segment as the RFM segment, and
 * a date of that month, half and weekday (in 2023); no demographics.
 */
static int state_context(const char *state_key, feat_ctx *ctx)
{
	char seg[CUSTOMER_STATE_KEY_MAX];
	const char *part[3];
	size_t len = strlen(state_key);
	int month = 0;
	int weekday = -1;
	int half;
	customer_attrs c;
	json_t *states;
	int rc;

	if (len >= sizeof(seg))
		return ERR_INVAL;
	memcpy(seg, state_key, len + 1);
	/* SEGMENT_Month_Half_Weekday: the last three fields, from the right. */
	for (int k = 2; k >= 0; k--) {
		char *us = strrchr(seg, '_');

		if (us == NULL)
			return ERR_INVAL;
		*us = '\0';
		part[k] = us + 1;
	}
	for (int i = 1; i <= 12; i++)
		month = strcmp(part[0], date_month_name(i)) == 0 ? i : month;
	for (int i = 0; i < 7; i++)
		weekday = strcmp(part[2], date_weekday_name(i)) == 0 ? i : weekday;
	half = part[1][0] - '0';
	if (month == 0 || weekday < 0 || (half != 0 && half != 1) || part[1][1] != '\0')
		return ERR_INVAL;
	for (int day = half ? 16 : 1; day <= (half ? 31 : 15); day++) {
		date_ymd d;

		if (date_make(2023, month, day, &d) != 0 || d.weekday != weekday)
			continue;
		customer_attrs_init(&c);
		states = json_object();
		rc = feat_context_json(states, &d, &c, seg, ctx);
		json_decref(states);
		return rc;
	}
	return ERR_INVAL;
}

/*
 * The prior of e's company as pseudo-observations: each offer's priors are
 * worth prior_weight observations together, shared by its states in
 * proportion to their weights; each is one example of the state's context
 * with the prior value as target. NULL when there is none or prior_weight 0.
 */
static ridge *build_prior(model_set *m, model_entry *e)
{
	const policy_common *c = policy_params(e->master);
	unsigned bits = (unsigned)c->bits;
	double span = c->r_accept - c->r_ignore;
	double *sum = xcalloc(RIDGE_OFFERS_MAX, sizeof(double));
	ridge *prior = NULL;

	if (!(c->prior_weight > 0))
		goto out;
	prior = ridge_new(bits, c->lambda, 1.0);
	for (size_t i = 0; i < m->npriors; i++) {
		int k;

		if (strcmp(m->priors[i].company, e->company) != 0)
			continue;
		k = ridge_offer(prior, m->priors[i].offer, 1);
		if (k >= 0)
			sum[k] += m->priors[i].weight;
	}
	for (size_t i = 0; i < m->npriors; i++) {
		const prior_row *p = &m->priors[i];
		feat_ctx ctx;
		feat_vec x;
		double y;
		double w;
		int k;

		if (strcmp(p->company, e->company) != 0)
			continue;
		k = ridge_offer(prior, p->offer, 0);
		if (k < 0 || !(sum[k] > 0) || state_context(p->state_key, &ctx) != 0)
			continue;
		feat_offer(&ctx, p->offer, 0, c->slot_features > 0.5, bits, FEAT_PER_OFFER, &x);
		y = (p->value - c->r_ignore) / span;
		y = y < 0 ? 0 : y > 1 ? 1 : y;
		w = c->prior_weight * p->weight / sum[k];
		/* A logistic model's Laplace step at the prior mean 0: weight 1/4. */
		if (c->logistic > 0.5)
			ridge_add(prior, k, &x, (y - 0.5) / 0.25, w * 0.25);
		else
			ridge_add(prior, k, &x, y, w);
	}
	if (ridge_noffers(prior) == 0) {
		ridge_free(prior);
		prior = NULL;
	}
out:
	free(sum);
	return prior;
}

/* Rebuilds the priors of the models whose priors changed, and publishes them. */
static void refresh_priors(model_set *m)
{
	size_t n;

	pthread_rwlock_rdlock(&m->lock);
	n = m->n;
	pthread_rwlock_unlock(&m->lock);
	for (size_t i = 0; i < n; i++) {
		model_entry *e;
		ridge *prior;
		ridge *old;

		pthread_rwlock_rdlock(&m->lock);
		e = m->e[i];
		pthread_rwlock_unlock(&m->lock);
		if (e->prior_gen == m->prior_gen)
			continue;
		/* The master's parameters never change: reading them unlocked is safe. */
		prior = build_prior(m, e);
		pthread_mutex_lock(&e->lock);
		old = e->prior;
		e->prior = prior;
		e->prior_gen = m->prior_gen;
		publish(e);
		pthread_mutex_unlock(&e->lock);
		ridge_free(old);
	}
}

/* --- the refresher ------------------------------------------------------------------- */

typedef struct refresh_ctx {
	model_set *m;
	const agent_conf *current;
	const agent_conf *challenger; /* may be NULL */
	mrow *rows;
	size_t nrows;
	int64_t max_rev;
} refresh_ctx;

static int refresh_row(void *arg, const db_model_row *row)
{
	refresh_ctx *c = arg;
	model_entry *e;
	mrow *r;
	size_t d;
	size_t tri;

	if (row->rev > c->max_rev)
		c->max_rev = row->rev;
	pthread_rwlock_rdlock(&c->m->lock);
	e = find_locked(c->m, row->company, row->version);
	pthread_rwlock_unlock(&c->m->lock);
	if (e == NULL && strcmp(row->version, c->current->version) == 0)
		e = entry_get(c->m, row->company, c->current, 1);
	if (e == NULL && c->challenger != NULL && strcmp(row->version, c->challenger->version) == 0)
		e = entry_get(c->m, row->company, c->challenger, 1);
	if (e == NULL)
		return 0;
	c->rows = xrealloc(c->rows, (c->nrows + 1) * sizeof(*c->rows));
	r = &c->rows[c->nrows];
	memset(r, 0, sizeof(*r));
	r->e = e;
	util_strlcpy(r->offer, row->offer, sizeof(r->offer));
	r->n = row->n;
	r->tick = row->tick;
	r->rev = row->rev;
	if (row->offer[0] != '\0') {
		pthread_mutex_lock(&e->lock);
		d = ridge_dim(e->master->stats);
		tri = ridge_tri(e->master->stats);
		pthread_mutex_unlock(&e->lock);
		r->b = xcalloc(d, sizeof(double));
		r->S = xcalloc(tri, sizeof(double));
		if (stats_parse(row->stats, d, tri, r->b, r->S) != 0) {
			free(r->b);
			free(r->S);
			return 0; /* empty, or another bits: nothing to install */
		}
	}
	c->nrows++;
	return 0;
}

static int mrow_cmp(const void *a, const void *b)
{
	const mrow *x = a;
	const mrow *y = b;

	if (x->e != y->e)
		return x->e < y->e ? -1 : 1;
	/* The clock row first, then by revision. */
	if ((x->offer[0] == '\0') != (y->offer[0] == '\0'))
		return x->offer[0] == '\0' ? -1 : 1;
	return util_cmp_i64(x->rev, y->rev);
}

int model_refresh(model_set *m, store *s, const agent_conf *current)
{
	return model_refresh_versions(m, s, current, NULL);
}

int model_refresh_versions(model_set *m, store *s, const agent_conf *current,
                           const agent_conf *challenger)
{
	refresh_ctx c;
	int rc;

	memset(&c, 0, sizeof(c));
	c.m = m;
	c.current = current;
	c.challenger = challenger;
	c.max_rev = m->seen;
	rc = db_model_since(s, m->loaded ? m->seen_prev : 0, refresh_row, &c);
	if (rc == 0) {
		if (c.nrows > 1)
			qsort(c.rows, c.nrows, sizeof(*c.rows), mrow_cmp);
		install_rows(c.rows, c.nrows);
		refresh_priors(m);
		m->loaded = 1;
		m->seen_prev = m->seen;
		m->seen = c.max_rev;
	}
	rows_free(c.rows, c.nrows);
	return rc;
}
