/*
 * values.c — an open-addressing hash table of vstats under one rwlock.
 * Decisions take the read lock (many threads at once); the writer and the
 * reloader take the write lock for the few microseconds of an update.
 */
#include "values.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "customer.h"
#include "util.h"

#define SEP "\x1f"
#define SEGMENT_PREFIX "@segment:"
#define GLOBAL_STATE "@all"

typedef struct ventry {
	char *key;      /* company SEP state SEP offer */
	vstats s;
	int64_t rev;
} ventry;

struct values {
	pthread_rwlock_t lock;
	ventry *slots;
	size_t cap;     /* power of two */
	size_t used;
	size_t states;  /* state-level entries */
};

values *values_new(void)
{
	values *v = xcalloc(1, sizeof(*v));

	pthread_rwlock_init(&v->lock, NULL);
	v->cap = 1024;
	v->slots = xcalloc(v->cap, sizeof(ventry));
	return v;
}

void values_free(values *v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < v->cap; i++)
		free(v->slots[i].key);
	free(v->slots);
	pthread_rwlock_destroy(&v->lock);
	free(v);
}

static ventry *find(const values *v, const char *key)
{
	size_t mask = v->cap - 1;
	size_t i = util_hash(key) & mask;

	while (v->slots[i].key != NULL) {
		if (strcmp(v->slots[i].key, key) == 0)
			return &v->slots[i];
		i = (i + 1) & mask;
	}
	return NULL;
}

static void grow(values *v)
{
	ventry *old = v->slots;
	size_t oldcap = v->cap;

	v->cap *= 2;
	v->slots = xcalloc(v->cap, sizeof(ventry));
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i].key != NULL) {
			size_t j = util_hash(old[i].key) & (v->cap - 1);

			while (v->slots[j].key != NULL)
				j = (j + 1) & (v->cap - 1);
			v->slots[j] = old[i];
		}
	}
	free(old);
}

/* Returns the entry for key, creating a zeroed one. Caller holds the write lock. */
static ventry *find_or_add(values *v, const char *key)
{
	ventry *e = find(v, key);
	size_t i;

	if (e != NULL)
		return e;
	if ((v->used + 1) * 10 > v->cap * 7)
		grow(v);
	i = util_hash(key) & (v->cap - 1);
	while (v->slots[i].key != NULL)
		i = (i + 1) & (v->cap - 1);
	v->slots[i].key = xstrdup(key);
	memset(&v->slots[i].s, 0, sizeof(vstats));
	v->slots[i].rev = 0;
	v->used++;
	return &v->slots[i];
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

void values_set(values *v, const db_policy_row *row)
{
	vstats nv;
	vstats old;
	ventry *e;
	char seg[64];
	char *key;

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
	free(key);
	customer_state_segment(row->state_key, seg, sizeof(seg));
	key = xasprintf("%s" SEP SEGMENT_PREFIX "%s" SEP "%s", row->company, seg, row->offer);
	add_diff(&find_or_add(v, key)->s, &nv, &old);
	free(key);
	key = xasprintf("%s" SEP GLOBAL_STATE SEP "%s", row->company, row->offer);
	add_diff(&find_or_add(v, key)->s, &nv, &old);
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

/*
 * The request path: up to 3 n hash lookups, so the keys are built by
 * copying prefixes made once per call rather than formatted per offer.
 */
void values_lookup(values *v, const char *company, const char *state_key, const char *segment,
                   const char *const *offers, size_t n, vstats *out, int *level)
{
	char seg[256];
	char kstate[512];
	char kseg[512];
	char kall[512];
	size_t pstate = key_prefix(kstate, sizeof(kstate), company, state_key);
	size_t pseg = 0;
	size_t pall = key_prefix(kall, sizeof(kall), company, GLOBAL_STATE);

	if (strlen(segment) + sizeof(SEGMENT_PREFIX) <= sizeof(seg)) {
		memcpy(seg, SEGMENT_PREFIX, sizeof(SEGMENT_PREFIX) - 1);
		util_strlcpy(seg + sizeof(SEGMENT_PREFIX) - 1, segment,
		             sizeof(seg) - (sizeof(SEGMENT_PREFIX) - 1));
		pseg = key_prefix(kseg, sizeof(kseg), company, seg);
	}
	pthread_rwlock_rdlock(&v->lock);
	for (size_t i = 0; i < n; i++) {
		const ventry *e;

		memset(&out[i], 0, sizeof(vstats));
		level[i] = VALUES_NONE;
		e = key_finish(kstate, sizeof(kstate), pstate, offers[i]) ? find(v, kstate) : NULL;
		if (e != NULL && has_data(&e->s)) {
			out[i] = e->s;
			level[i] = VALUES_STATE;
			continue;
		}
		e = key_finish(kseg, sizeof(kseg), pseg, offers[i]) ? find(v, kseg) : NULL;
		if (e != NULL && has_data(&e->s)) {
			out[i] = e->s;
			level[i] = VALUES_SEGMENT;
			continue;
		}
		e = key_finish(kall, sizeof(kall), pall, offers[i]) ? find(v, kall) : NULL;
		if (e != NULL && has_data(&e->s)) {
			out[i] = e->s;
			level[i] = VALUES_GLOBAL;
		}
	}
	pthread_rwlock_unlock(&v->lock);
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
