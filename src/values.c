/*
 * values.c — an open-addressing hash table of vstats under one rwlock.
 * Decisions take the read lock (many threads at once); the writer and the
 * reloader take the write lock for the few microseconds of an update.
 *
 * Forgetting (issue 13 point 4): beside each entry's absolute statistics
 * (the database's, for the revision guard) the table keeps a discounted
 * copy. Each company has a clock that advances by one per decision this
 * process makes for it (values_tick); an update adds its difference to the
 * discounted copy after decaying it by gamma^(clock - the entry's last
 * clock), and a lookup decays it to now. With gamma 1 the copy equals the
 * absolute statistics. The clock counts decisions, not updates, so loading
 * a table at start (no decisions yet) decays nothing: history loaded at a
 * restart counts in full, and is forgotten from then on.
 */
#include "values.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "customer.h"
#include "strmap.h"
#include "util.h"

#define SEP "\x1f"
#define SEGMENT_PREFIX "@segment:"
#define GLOBAL_STATE "@all"
#define CLOCK_STATE "@clock"

typedef struct ventry {
	char *key;     /* company SEP state SEP offer; company SEP @clock SEP for the clock */
	vstats s;      /* absolute, as the database has them */
	vstats d;      /* discounted (forgetting), as of clock `tick` */
	uint64_t tick; /* the company's clock at the last update; the clock entry: the clock */
	double gamma;  /* the clock entry: the company's forgetting factor */
	int64_t rev;
} ventry;

struct values {
	pthread_rwlock_t lock;
	strtab t;      /* of ventry */
	size_t states; /* state-level entries */
};

values *values_new(void)
{
	values *v = xcalloc(1, sizeof(*v));

	pthread_rwlock_init(&v->lock, NULL);
	strtab_init(&v->t, sizeof(ventry), 1024);
	return v;
}

void values_free(values *v)
{
	if (v == NULL)
		return;
	strtab_release(&v->t);
	pthread_rwlock_destroy(&v->lock);
	free(v);
}

static ventry *find(const values *v, const char *key)
{
	return strtab_find(&v->t, key);
}

/* Returns the entry for key, creating a zeroed one. Caller holds the write lock. */
static ventry *find_or_add(values *v, const char *key)
{
	int added;
	ventry *e = strtab_add(&v->t, key, &added);

	if (added)
		e->gamma = 1.0;
	return e;
}

static void scale(vstats *s, double f)
{
	s->n *= f;
	s->sum *= f;
	s->succ *= f;
	s->fail *= f;
	s->pw *= f;
	s->pvw *= f;
	s->pa *= f;
	s->pb *= f;
}

/* The clock entry of company (created). Caller holds the write lock. */
static ventry *clock_entry(values *v, const char *company)
{
	char *key = xasprintf("%s" SEP CLOCK_STATE SEP, company);
	ventry *e = find_or_add(v, key);

	free(key);
	return e;
}

/* e's discounted statistics decayed to the company's clock c. */
static void decay_to(ventry *e, uint64_t c, double gamma)
{
	if (gamma < 1.0 && c > e->tick)
		scale(&e->d, pow(gamma, (double)(c - e->tick)));
	e->tick = c;
}

static void add_diff(vstats *dst, const vstats *newv, const vstats *oldv)
{
	dst->n += newv->n - oldv->n;
	dst->sum += newv->sum - oldv->sum;
	dst->succ += newv->succ - oldv->succ;
	dst->fail += newv->fail - oldv->fail;
	dst->pw += newv->pw - oldv->pw;
	dst->pvw += newv->pvw - oldv->pvw;
	dst->pa += newv->pa - oldv->pa;
	dst->pb += newv->pb - oldv->pb;
}

/*
 * A decrement (erasure, issue 16.3) of an entry whose discounted copy d has
 * forgotten part of it: when the removed observations were learned is not
 * known, so d is rebuilt from the new sums at the share forgetting had left
 * of the old ones (d.n / old.n), never below zero. With gamma 1 the share
 * is 1 and d becomes newv, as add_diff would make it.
 */
static void unlearn_diff(vstats *d, const vstats *newv, const vstats *oldv)
{
	double share = oldv->n > 0 ? d->n / oldv->n : 0;

	if (share > 1)
		share = 1;
	if (!(share > 0))
		share = 0;
	d->n = newv->n * share;
	d->sum = newv->sum * share;
	d->succ = newv->succ * share;
	d->fail = newv->fail * share;
	d->pw += newv->pw - oldv->pw;
	d->pvw += newv->pvw - oldv->pvw;
	d->pa += newv->pa - oldv->pa;
	d->pb += newv->pb - oldv->pb;
}

void values_set(values *v, const db_policy_row *row)
{
	vstats nv;
	vstats old;
	vstats dold; /* the state entry's discounted copy before and after */
	vstats dnew;
	ventry *e;
	char seg[64];
	char *key;
	uint64_t c;
	double gamma;

	memset(&nv, 0, sizeof(nv));
	nv.n = row->n;
	nv.sum = row->reward_sum;
	nv.pw = row->prior_weight;
	nv.pvw = row->prior_value * row->prior_weight;
	/* db rows carry alpha = prior_alpha + successes; split them back. */
	nv.pa = 0;
	nv.pb = 0;
	nv.succ = row->alpha - 1.0;
	nv.fail = row->beta - 1.0;
	key = xasprintf("%s" SEP "%s" SEP "%s", row->company, row->state_key, row->offer);
	pthread_rwlock_wrlock(&v->lock);
	{
		const ventry *ce = clock_entry(v, row->company);

		c = __atomic_load_n(&ce->tick, __ATOMIC_RELAXED);
		gamma = ce->gamma;
	}
	e = find(v, key);
	if (e == NULL) {
		e = find_or_add(v, key);
		v->states++;
	} else if (row->rev != 0 && e->rev >= row->rev) {
		pthread_rwlock_unlock(&v->lock);
		free(key);
		return;
	}
	old = e->s;
	e->s = nv;
	e->rev = row->rev;
	decay_to(e, c, gamma);
	dold = e->d;
	if (nv.n < old.n)
		unlearn_diff(&e->d, &nv, &old);
	else
		add_diff(&e->d, &nv, &old);
	dnew = e->d;
	free(key);
	customer_state_segment(row->state_key, seg, sizeof(seg));
	key = xasprintf("%s" SEP SEGMENT_PREFIX "%s" SEP "%s", row->company, seg, row->offer);
	e = find_or_add(v, key);
	add_diff(&e->s, &nv, &old);
	decay_to(e, c, gamma);
	add_diff(&e->d, &dnew, &dold);
	free(key);
	key = xasprintf("%s" SEP GLOBAL_STATE SEP "%s", row->company, row->offer);
	e = find_or_add(v, key);
	add_diff(&e->s, &nv, &old);
	decay_to(e, c, gamma);
	add_diff(&e->d, &dnew, &dold);
	free(key);
	pthread_rwlock_unlock(&v->lock);
}

static int has_data(const vstats *s)
{
	return s->n + s->pw > 0 || s->succ + s->fail > 0;
}

/*
 * Writes "a SEP b SEP" into out (a key prefix for key_finish). Returns its
 * length, or 0 when it does not fit (the caller then finds nothing).
 */
static size_t key_prefix(char *out, size_t outlen, const char *a, const char *b)
{
	size_t la = strlen(a);
	size_t lb = strlen(b);

	if (la + lb + 2 >= outlen)
		return 0;
	memcpy(out, a, la);
	out[la] = SEP[0];
	memcpy(out + la + 1, b, lb);
	out[la + 1 + lb] = SEP[0];
	return la + lb + 2;
}

/* Appends the offer to a prefix of length plen; 0 when it does not fit. */
static int key_finish(char *key, size_t keylen, size_t plen, const char *offer)
{
	size_t lo = strlen(offer);

	if (plen == 0 || plen + lo >= keylen)
		return 0;
	memcpy(key + plen, offer, lo + 1);
	return 1;
}

/* e's discounted statistics as of clock c (the entry itself is not changed). */
static void read_at(const ventry *e, uint64_t c, double gamma, vstats *out)
{
	*out = e->d;
	if (gamma < 1.0 && c > e->tick)
		scale(out, pow(gamma, (double)(c - e->tick)));
}

/* child + min(k, evidence of parent) / evidence of parent * parent. */
static void shrink_toward(vstats *child, const vstats *parent, double k)
{
	double w = parent->n + parent->pw;
	vstats p = *parent;

	if (!(w > 0) || !(k > 0))
		return;
	scale(&p, (k < w ? k : w) / w);
	child->n += p.n;
	child->sum += p.sum;
	child->succ += p.succ;
	child->fail += p.fail;
	child->pw += p.pw;
	child->pvw += p.pvw;
	child->pa += p.pa;
	child->pb += p.pb;
}

/*
 * The request path: up to 3 n hash lookups, so the keys are built by
 * copying prefixes made once per call rather than formatted per offer.
 * shrink < 0: each offer's deepest level with data alone (values_lookup);
 * else the blend of values_blend.
 */
static void lookup(values *v, const char *company, const char *state_key, const char *segment,
                   const char *const *offers, size_t n, double shrink, vstats *out, int *level)
{
	char seg[256];
	char kstate[512];
	char kseg[512];
	char kall[512];
	char kclock[512];
	size_t pstate = key_prefix(kstate, sizeof(kstate), company, state_key);
	size_t pseg = 0;
	size_t pall = key_prefix(kall, sizeof(kall), company, GLOBAL_STATE);
	size_t pclock = key_prefix(kclock, sizeof(kclock), company, CLOCK_STATE);
	const ventry *ce;
	uint64_t c = 0;
	double gamma = 1.0;

	if (strlen(segment) + sizeof(SEGMENT_PREFIX) <= sizeof(seg)) {
		memcpy(seg, SEGMENT_PREFIX, sizeof(SEGMENT_PREFIX) - 1);
		util_strlcpy(seg + sizeof(SEGMENT_PREFIX) - 1, segment,
		             sizeof(seg) - (sizeof(SEGMENT_PREFIX) - 1));
		pseg = key_prefix(kseg, sizeof(kseg), company, seg);
	}
	pthread_rwlock_rdlock(&v->lock);
	ce = key_finish(kclock, sizeof(kclock), pclock, "") ? find(v, kclock) : NULL;
	if (ce != NULL) {
		c = __atomic_load_n(&ce->tick, __ATOMIC_RELAXED);
		gamma = ce->gamma;
	}
	for (size_t i = 0; i < n; i++) {
		const ventry *es;
		const ventry *eg;
		const ventry *ea;
		vstats st, sg, sa;

		memset(&out[i], 0, sizeof(vstats));
		memset(&st, 0, sizeof(st));
		memset(&sg, 0, sizeof(sg));
		memset(&sa, 0, sizeof(sa));
		level[i] = VALUES_NONE;
		es = key_finish(kstate, sizeof(kstate), pstate, offers[i]) ? find(v, kstate) : NULL;
		eg = key_finish(kseg, sizeof(kseg), pseg, offers[i]) ? find(v, kseg) : NULL;
		ea = key_finish(kall, sizeof(kall), pall, offers[i]) ? find(v, kall) : NULL;
		if (es != NULL && has_data(&es->s)) {
			read_at(es, c, gamma, &st);
			level[i] = VALUES_STATE;
		}
		if (eg != NULL && has_data(&eg->s)) {
			read_at(eg, c, gamma, &sg);
			if (level[i] == VALUES_NONE)
				level[i] = VALUES_SEGMENT;
		}
		if (ea != NULL && has_data(&ea->s)) {
			read_at(ea, c, gamma, &sa);
			if (level[i] == VALUES_NONE)
				level[i] = VALUES_GLOBAL;
		}
		if (shrink < 0) {
			out[i] = level[i] == VALUES_STATE ? st : level[i] == VALUES_SEGMENT ? sg : sa;
			continue;
		}
		shrink_toward(&sg, &sa, shrink);
		shrink_toward(&st, &sg, shrink);
		out[i] = st;
	}
	pthread_rwlock_unlock(&v->lock);
}

void values_lookup(values *v, const char *company, const char *state_key, const char *segment,
                   const char *const *offers, size_t n, vstats *out, int *level)
{
	lookup(v, company, state_key, segment, offers, n, -1.0, out, level);
}

void values_blend(values *v, const char *company, const char *state_key, const char *segment,
                  const char *const *offers, size_t n, double shrink, vstats *out, int *level)
{
	lookup(v, company, state_key, segment, offers, n, shrink > 0 ? shrink : -1.0, out, level);
}

void values_tick(values *v, const char *company, double gamma)
{
	char key[512];
	size_t plen = key_prefix(key, sizeof(key), company, CLOCK_STATE);
	ventry *e;

	if (plen == 0 || !key_finish(key, sizeof(key), plen, ""))
		return;
	pthread_rwlock_rdlock(&v->lock);
	e = find(v, key);
	if (e != NULL && e->gamma == gamma) {
		/* The hot path: many deciding threads under the read lock. */
		__atomic_fetch_add(&e->tick, 1, __ATOMIC_RELAXED);
		pthread_rwlock_unlock(&v->lock);
		return;
	}
	pthread_rwlock_unlock(&v->lock);
	pthread_rwlock_wrlock(&v->lock);
	e = find_or_add(v, key);
	if (e->gamma != gamma) {
		/* The new factor applies from each entry's last update on (no re-decay of all). */
		e->gamma = gamma;
	}
	e->tick++;
	pthread_rwlock_unlock(&v->lock);
}

void values_row_add(db_policy_row *r, double reward, int success)
{
	r->n += 1;
	r->reward_sum += reward;
	r->alpha += success ? 1 : 0;
	r->beta += success ? 0 : 1;
}

void values_row_remove(db_policy_row *r, double reward, int success)
{
	r->n -= 1;
	r->reward_sum -= reward;
	r->alpha -= success ? 1 : 0;
	r->beta -= success ? 0 : 1;
}

double values_mean(const vstats *s, double dflt)
{
	double w = s->pw + s->n;

	return w > 0 ? (s->pvw + s->sum) / w : dflt;
}

size_t values_count(values *v)
{
	size_t n;

	pthread_rwlock_rdlock(&v->lock);
	n = v->states;
	pthread_rwlock_unlock(&v->lock);
	return n;
}
