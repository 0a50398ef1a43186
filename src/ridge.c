/*
 * ridge.c — per-offer ridge statistics with forgetting, cached solves and
 * an additive merge (ridge.h has the model and the rules).
 */
#include "ridge.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "linalg.h"

#define REFRESH_UPDATES 1000 /* rank-one updates before a full refactorisation */
#define REFRESH_DECAY 0.9    /* refactor when the statistics shrank this much since */

typedef struct roffer {
	char name[REQ_OFFER_NAME_MAX + 1];
	double n;      /* discounted examples */
	double dn;     /* examples in the delta */
	uint64_t tick; /* S, b, n are decayed up to this tick */
	/* One allocation, headed by S: */
	double *S;   /* packed lower triangle of sum x x^T */
	double *b;   /* sum y x */
	double *inv; /* cache: (lambda I + S)^-1, d x d */
	double *mu;  /* cache: inv b */
	/* The delta since the last ridge_save(RIDGE_DELTA): one allocation headed by dS (NULL in a snapshot). */
	double *dS;
	double *db;
	int cache_ok;
	uint64_t cache_tick;
	unsigned cache_updates;
} roffer;

struct ridge {
	unsigned bits;
	size_t d;
	size_t tri;
	double lambda;
	double gamma;
	uint64_t tick;
	double episodes;
	size_t n;
	roffer *o;
};

static size_t tri_at(size_t i, size_t j)
{
	return i >= j ? i * (i + 1) / 2 + j : j * (j + 1) / 2 + i;
}

ridge *ridge_new(unsigned bits, double lambda, double forgetting)
{
	ridge *r;

	if (bits < FEAT_BITS_MIN || bits > FEAT_BITS_MAX || !(lambda > 0) ||
	    !(forgetting > 0 && forgetting <= 1))
		return NULL;
	r = xcalloc(1, sizeof(*r));
	r->bits = bits;
	r->d = (size_t)1 << bits;
	r->tri = r->d * (r->d + 1) / 2;
	r->lambda = lambda;
	r->gamma = forgetting;
	r->o = xcalloc(RIDGE_OFFERS_MAX, sizeof(*r->o));
	return r;
}

/* A snapshot's deltas are never read: it drops them rather than keep zeros. */
static void delta_drop(roffer *o)
{
	free(o->dS);
	o->dS = NULL;
	o->db = NULL;
}

static void offer_free(roffer *o)
{
	free(o->S);
	delta_drop(o);
	memset(o, 0, sizeof(*o));
}

void ridge_free(ridge *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++)
		offer_free(&r->o[i]);
	free(r->o);
	free(r);
}

unsigned ridge_bits(const ridge *r)
{
	return r->bits;
}

int ridge_offer(ridge *r, const char *name, int create)
{
	roffer *o;

	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->o[i].name, name) == 0)
			return (int)i;
	}
	if (!create || r->n >= RIDGE_OFFERS_MAX || strlen(name) > REQ_OFFER_NAME_MAX)
		return -1;
	o = &r->o[r->n];
	util_strlcpy(o->name, name, sizeof(o->name));
	o->S = xcalloc(r->tri + r->d + r->d * r->d + r->d, sizeof(double));
	o->b = o->S + r->tri;
	o->inv = o->b + r->d;
	o->mu = o->inv + r->d * r->d;
	o->dS = xcalloc(r->tri + r->d, sizeof(double));
	o->db = o->dS + r->tri;
	o->tick = r->tick;
	return (int)r->n++;
}

/* Brings offer o's statistics to the current tick. */
static void decay(ridge *r, roffer *o)
{
	double f;

	if (o->tick == r->tick)
		return;
	f = r->gamma < 1 ? pow(r->gamma, (double)(r->tick - o->tick)) : 1.0;
	o->tick = r->tick;
	if (f == 1.0)
		return;
	o->n *= f;
	for (size_t k = 0; k < r->tri; k++)
		o->S[k] *= f;
	for (size_t k = 0; k < r->d; k++)
		o->b[k] *= f;
}

/* Recomputes the cache of o from its statistics: one Cholesky factorisation. */
static void refresh(ridge *r, roffer *o)
{
	size_t d = r->d;
	double *a = xmalloc(sizeof(double) * d * d);
	double *l = xmalloc(sizeof(double) * d * d);

	decay(r, o);
	for (size_t i = 0; i < d; i++) {
		for (size_t j = 0; j <= i; j++) {
			double v = o->S[tri_at(i, j)] + (i == j ? r->lambda : 0.0);

			a[i * d + j] = v;
			a[j * d + i] = v;
		}
	}
	/* lambda I + S is positive definite; a failure means a corrupt merge: fall back to the prior. */
	if (linalg_cholesky(a, d, l) != 0) {
		memset(o->inv, 0, sizeof(double) * d * d);
		for (size_t i = 0; i < d; i++)
			o->inv[i * d + i] = 1.0 / r->lambda;
		memset(o->mu, 0, sizeof(double) * d);
	} else {
		linalg_chol_inverse(l, d, o->inv);
		linalg_chol_solve(l, d, o->b, o->mu);
	}
	o->cache_ok = 1;
	o->cache_tick = r->tick;
	o->cache_updates = 0;
	free(a);
	free(l);
}

void ridge_add(ridge *r, int i, const feat_vec *x, double y, double w)
{
	roffer *o;
	size_t d = r->d;
	double u[LINALG_DIM_MAX];
	double den = 1.0;

	double sw;

	if (i < 0 || (size_t)i >= r->n || !(w > 0) || !isfinite(y))
		return;
	sw = sqrt(w);
	o = &r->o[i];
	decay(r, o);
	for (size_t p = 0; p < x->n; p++) {
		size_t a = x->idx[p];

		o->b[a] += w * y * x->val[p];
		o->db[a] += w * y * x->val[p];
		for (size_t q = 0; q <= p; q++) {
			size_t k = tri_at(a, x->idx[q]);
			double v = w * x->val[p] * x->val[q];

			/* A diagonal term appears once, an off-diagonal pair once per side of S. */
			o->S[k] += v;
			o->dS[k] += v;
		}
	}
	o->n += 1;
	o->dn += 1;
	if (!o->cache_ok)
		return; /* refreshed in full at the next prediction */
	/* Sherman-Morrison with v = sqrt(w) x: inv -= (inv v)(inv v)^T / (1 + v^T inv v), mu = inv b. */
	for (size_t k = 0; k < d; k++) {
		double s = 0;

		for (size_t p = 0; p < x->n; p++)
			s += o->inv[k * d + x->idx[p]] * x->val[p];
		u[k] = s * sw;
	}
	for (size_t p = 0; p < x->n; p++)
		den += sw * x->val[p] * u[x->idx[p]];
	for (size_t k = 0; k < d; k++) {
		double f = u[k] / den;

		for (size_t m = 0; m < d; m++)
			o->inv[k * d + m] -= f * u[m];
	}
	for (size_t k = 0; k < d; k++) {
		double s = 0;

		for (size_t m = 0; m < d; m++)
			s += o->inv[k * d + m] * o->b[m];
		o->mu[k] = s;
	}
	o->cache_updates++;
}

void ridge_tick(ridge *r)
{
	r->tick++;
	r->episodes = r->episodes * r->gamma + 1.0;
}

double ridge_episodes(const ridge *r)
{
	return r->episodes;
}

double ridge_count(ridge *r, int i)
{
	if (i < 0 || (size_t)i >= r->n)
		return 0;
	decay(r, &r->o[i]);
	return r->o[i].n;
}

void ridge_predict_plus(ridge *r, int i, const feat_vec *x, const uint32_t *extra, size_t nextra,
                        double *mean, double *var)
{
	roffer *o;
	size_t d = r->d;
	double m = 0;
	double v = 0;

	if (i < 0 || (size_t)i >= r->n) {
		/* The prior: mean 0, variance |x + extras|^2 / lambda. */
		feat_vec full = *x;

		for (size_t e = 0; e < nextra; e++) {
			size_t p = 0;

			while (p < full.n && full.idx[p] != extra[e])
				p++;
			if (p == full.n && full.n < FEAT_NNZ_MAX) {
				full.idx[full.n] = extra[e];
				full.val[full.n++] = 0;
			}
			if (p < full.n)
				full.val[p] += 1.0;
		}
		ridge_predict(r, i, &full, mean, &v);
		if (var != NULL)
			*var = v;
		return;
	}
	o = &r->o[i];
	if (!o->cache_ok || o->cache_updates >= REFRESH_UPDATES ||
	    (r->gamma < 1 && pow(r->gamma, (double)(r->tick - o->cache_tick)) < REFRESH_DECAY))
		refresh(r, o);
	for (size_t p = 0; p < x->n; p++)
		m += o->mu[x->idx[p]] * x->val[p];
	for (size_t e = 0; e < nextra; e++)
		m += o->mu[extra[e]];
	*mean = m;
	if (var == NULL)
		return;
	for (size_t p = 0; p < x->n; p++) {
		const double *row = o->inv + (size_t)x->idx[p] * d;
		double s = 0;

		for (size_t q = 0; q < x->n; q++)
			s += row[x->idx[q]] * x->val[q];
		for (size_t e = 0; e < nextra; e++)
			s += 2.0 * row[extra[e]];
		v += s * x->val[p];
	}
	for (size_t e = 0; e < nextra; e++) {
		for (size_t f = 0; f < nextra; f++)
			v += o->inv[(size_t)extra[e] * d + extra[f]];
	}
	*var = v > 0 ? v : 0;
}

void ridge_predict(ridge *r, int i, const feat_vec *x, double *mean, double *var)
{
	roffer *o;
	size_t d = r->d;
	double m = 0;
	double v = 0;

	if (i < 0 || (size_t)i >= r->n) {
		for (size_t p = 0; p < x->n; p++)
			v += x->val[p] * x->val[p];
		*mean = 0;
		*var = v / r->lambda;
		return;
	}
	o = &r->o[i];
	if (!o->cache_ok || o->cache_updates >= REFRESH_UPDATES ||
	    (r->gamma < 1 && pow(r->gamma, (double)(r->tick - o->cache_tick)) < REFRESH_DECAY))
		refresh(r, o);
	for (size_t p = 0; p < x->n; p++) {
		const double *row = o->inv + (size_t)x->idx[p] * d;
		double s = 0;

		m += o->mu[x->idx[p]] * x->val[p];
		for (size_t q = 0; q < x->n; q++)
			s += row[x->idx[q]] * x->val[q];
		v += s * x->val[p];
	}
	*mean = m;
	*var = v > 0 ? v : 0;
}

/* --- save, merge, load -------------------------------------------------------- */

static json_t *array_of(const double *v, size_t n)
{
	json_t *a = json_array();

	for (size_t k = 0; k < n; k++)
		json_array_append_new(a, json_real(v[k]));
	return a;
}

int ridge_save(ridge *r, enum ridge_what what, buf *out)
{
	json_t *root = json_object();
	json_t *offers = json_array();
	char *text;
	int rc;

	json_object_set_new(root, "bits", json_integer((json_int_t)r->bits));
	json_object_set_new(root, "lambda", json_real(r->lambda));
	for (size_t i = 0; i < r->n; i++) {
		roffer *o = &r->o[i];
		json_t *e = json_object();

		decay(r, o);
		json_object_set_new(e, "offer", json_string(o->name));
		json_object_set_new(e, "n", json_real(what == RIDGE_DELTA ? o->dn : o->n));
		json_object_set_new(e, "b", array_of(what == RIDGE_DELTA ? o->db : o->b, r->d));
		json_object_set_new(e, "S", array_of(what == RIDGE_DELTA ? o->dS : o->S, r->tri));
		json_array_append_new(offers, e);
		if (what == RIDGE_DELTA) {
			o->dn = 0;
			memset(o->dS, 0, sizeof(double) * (r->tri + r->d)); /* and db */
		}
	}
	json_object_set_new(root, "offers", offers);
	text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17));
	json_decref(root);
	if (text == NULL)
		return ERR_NOMEM;
	rc = buf_adds(out, text);
	free(text);
	return rc;
}

/* Reads n finite numbers of array a into v (added when add). */
static int read_array(json_t *a, size_t n, double *v)
{
	if (!json_is_array(a) || json_array_size(a) != n)
		return ERR_INVAL;
	for (size_t k = 0; k < n; k++) {
		json_t *x = json_array_get(a, k);

		if (!json_is_number(x) || !isfinite(json_number_value(x)))
			return ERR_INVAL;
		v[k] = json_number_value(x);
	}
	return 0;
}

int ridge_merge(ridge *r, const char *text, size_t len, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, 0, &jerr);
	json_t *offers;
	json_t *e;
	size_t idx;
	double *S = xmalloc(sizeof(double) * r->tri);
	double *b = xmalloc(sizeof(double) * r->d);
	int rc = ERR_INVAL;

	if (!json_is_object(root)) {
		snprintf(err, errlen, "statistics are not a JSON object");
		goto out;
	}
	if (json_integer_value(json_object_get(root, "bits")) != (json_int_t)r->bits) {
		snprintf(err, errlen, "statistics have other bits than the model's %u", r->bits);
		goto out;
	}
	offers = json_object_get(root, "offers");
	if (!json_is_array(offers)) {
		snprintf(err, errlen, "statistics.offers must be an array");
		goto out;
	}
	/* Everything is validated before anything is added: a bad row changes nothing. */
	json_array_foreach(offers, idx, e) {
		const char *name = json_string_value(json_object_get(e, "offer"));
		json_t *n = json_object_get(e, "n");

		if (name == NULL || strlen(name) > REQ_OFFER_NAME_MAX || !json_is_number(n) ||
		    !(json_number_value(n) >= 0) || read_array(json_object_get(e, "b"), r->d, b) != 0 ||
		    read_array(json_object_get(e, "S"), r->tri, S) != 0) {
			snprintf(err, errlen, "statistics.offers[%zu] is malformed", idx);
			goto out;
		}
		for (size_t k = 0; k < r->d; k++) {
			if (!(S[tri_at(k, k)] >= 0)) {
				snprintf(err, errlen, "statistics.offers[%zu] has a negative variance",
				         idx);
				goto out;
			}
		}
	}
	json_array_foreach(offers, idx, e) {
		int i = ridge_offer(r, json_string_value(json_object_get(e, "offer")), 1);
		roffer *o;

		if (i < 0) {
			snprintf(err, errlen, "more than %d offers", RIDGE_OFFERS_MAX);
			rc = ERR_TOOBIG;
			goto out;
		}
		o = &r->o[i];
		decay(r, o);
		read_array(json_object_get(e, "b"), r->d, b);
		read_array(json_object_get(e, "S"), r->tri, S);
		for (size_t k = 0; k < r->d; k++)
			o->b[k] += b[k];
		for (size_t k = 0; k < r->tri; k++)
			o->S[k] += S[k];
		o->n += json_number_value(json_object_get(e, "n"));
		o->cache_ok = 0;
	}
	rc = 0;
out:
	free(S);
	free(b);
	json_decref(root);
	return rc;
}

int ridge_load(ridge *r, const char *text, size_t len, char *err, size_t errlen)
{
	for (size_t i = 0; i < r->n; i++)
		offer_free(&r->o[i]);
	r->n = 0;
	return ridge_merge(r, text, len, err, errlen);
}

/* --- snapshots and rows (model.c) ------------------------------------------------ */

static int cache_stale(const ridge *r, const roffer *o)
{
	return !o->cache_ok || o->cache_updates >= REFRESH_UPDATES ||
	       (r->gamma < 1 && pow(r->gamma, (double)(r->tick - o->cache_tick)) < REFRESH_DECAY);
}

ridge *ridge_snapshot(ridge *r, const ridge *prior)
{
	ridge *c = ridge_new(r->bits, r->lambda, r->gamma);

	c->tick = r->tick;
	c->episodes = r->episodes;
	for (size_t i = 0; i < r->n; i++) {
		roffer *src = &r->o[i];
		roffer *dst;

		if (cache_stale(r, src))
			refresh(r, src);
		dst = &c->o[ridge_offer(c, src->name, 1)];
		dst->n = src->n;
		dst->tick = src->tick;
		memcpy(dst->S, src->S, sizeof(double) * r->tri);
		memcpy(dst->b, src->b, sizeof(double) * r->d);
		memcpy(dst->inv, src->inv, sizeof(double) * r->d * r->d);
		memcpy(dst->mu, src->mu, sizeof(double) * r->d);
		dst->cache_ok = 1;
		dst->cache_tick = src->cache_tick;
		dst->cache_updates = src->cache_updates;
	}
	for (size_t i = 0; prior != NULL && prior->bits == r->bits && i < prior->n; i++) {
		const roffer *src = &prior->o[i];
		int k = ridge_offer(c, src->name, 1);
		roffer *dst;

		if (k < 0)
			break;
		dst = &c->o[k];
		for (size_t j = 0; j < r->tri; j++)
			dst->S[j] += src->S[j];
		for (size_t j = 0; j < r->d; j++)
			dst->b[j] += src->b[j];
		refresh(c, dst);
	}
	for (size_t i = 0; i < c->n; i++)
		delta_drop(&c->o[i]);
	return c;
}

size_t ridge_dim(const ridge *r)
{
	return r->d;
}

size_t ridge_tri(const ridge *r)
{
	return r->tri;
}

double ridge_forgetting(const ridge *r)
{
	return r->gamma;
}

size_t ridge_noffers(const ridge *r)
{
	return r->n;
}

const char *ridge_offer_name(const ridge *r, int i)
{
	return i >= 0 && (size_t)i < r->n ? r->o[i].name : NULL;
}

uint64_t ridge_clock(const ridge *r)
{
	return r->tick;
}

void ridge_set_clock(ridge *r, uint64_t tick, double episodes)
{
	if (tick < r->tick)
		return;
	r->tick = tick;
	r->episodes = episodes;
}

void ridge_offer_stats(ridge *r, int i, double *n, const double **b, const double **S)
{
	roffer *o = &r->o[i];

	decay(r, o);
	*n = o->n;
	*b = o->b;
	*S = o->S;
}

int ridge_offer_set(ridge *r, const char *name, double n, const double *b, const double *S,
                    uint64_t tick)
{
	int i = ridge_offer(r, name, 1);
	roffer *o;

	if (i < 0)
		return ERR_TOOBIG;
	o = &r->o[i];
	if (tick > r->tick)
		r->tick = tick;
	o->n = n;
	memcpy(o->b, b, sizeof(double) * r->d);
	memcpy(o->S, S, sizeof(double) * r->tri);
	/* Decayed from the row's clock to the model's at the next touch. */
	o->tick = tick;
	o->cache_ok = 0;
	return 0;
}
