/*
 * ratelimit.c — buckets in a hash map under one mutex; the critical section
 * is a lookup and two multiplications. The map is bounded: when it holds
 * RATELIMIT_IDS_MAX ids it is cleared, which only ever refills buckets.
 */
#include "ratelimit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"
#include "util.h"

#define RATELIMIT_IDS_MAX 100000

typedef struct bucket {
	double tokens;
	double last;
} bucket;

struct ratelimit {
	pthread_mutex_t lock;
	double rate;
	double burst;
	bucket *buckets;
	size_t n, cap;
	strmap *index; /* id -> index into buckets, as text */
};

ratelimit *ratelimit_new(double rate, double burst)
{
	ratelimit *rl = xcalloc(1, sizeof(*rl));

	pthread_mutex_init(&rl->lock, NULL);
	rl->rate = rate;
	rl->burst = burst < 1 ? 1 : burst;
	rl->index = strmap_new();
	return rl;
}

void ratelimit_free(ratelimit *rl)
{
	if (rl == NULL)
		return;
	strmap_free(rl->index);
	free(rl->buckets);
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

int ratelimit_take(ratelimit *rl, const char *id, double now, double *retry_after)
{
	const char *v = NULL;
	bucket *b;
	int64_t i = -1;
	int ok;

	pthread_mutex_lock(&rl->lock);
	if (strmap_get(rl->index, id, &v) && v != NULL)
		util_strtonum(v, 0, INT64_MAX, &i);
	if (i < 0) {
		char num[24];

		if (rl->n >= RATELIMIT_IDS_MAX) {
			strmap_free(rl->index);
			rl->index = strmap_new();
			rl->n = 0;
		}
		if (rl->n == rl->cap) {
			rl->cap = rl->cap ? rl->cap * 2 : 16;
			rl->buckets = xrealloc(rl->buckets, rl->cap * sizeof(bucket));
		}
		i = (int64_t)rl->n++;
		rl->buckets[i].tokens = rl->burst;
		rl->buckets[i].last = now;
		snprintf(num, sizeof(num), "%lld", (long long)i);
		strmap_put(rl->index, id, num);
	}
	b = &rl->buckets[i];
	b->tokens += (now - b->last) * rl->rate;
	if (b->tokens > rl->burst)
		b->tokens = rl->burst;
	b->last = now;
	ok = b->tokens >= 1.0;
	if (ok)
		b->tokens -= 1.0;
	else
		*retry_after = (1.0 - b->tokens) / rl->rate;
	pthread_mutex_unlock(&rl->lock);
	return ok;
}
