/*
 * values.h — the learned statistics in memory, so a decision never waits on
 * the database, optionally forgetting (values_tick). One entry per (company, state, offer), plus aggregates per
 * (company, segment, offer) and per (company, offer) that serve as the
 * fallback for states never seen. The database (TB_POLICY) is the truth;
 * entries are set from it with a revision guard, so the writer's own updates
 * and the periodic reload from other processes never double count.
 */
#ifndef OFFERD_VALUES_H
#define OFFERD_VALUES_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"

typedef struct vstats {
	double n;    /* rewards observed */
	double sum;  /* their sum */
	double succ; /* Bernoulli successes / failures observed */
	double fail;
	double pw;  /* prior weight (pseudo-observations) */
	double pvw; /* prior value x prior weight */
	double pa;  /* prior alpha - 1 and prior beta - 1 */
	double pb;
} vstats;

enum values_level { VALUES_STATE = 0, VALUES_SEGMENT = 1, VALUES_GLOBAL = 2, VALUES_NONE = 3 };

typedef struct values values;

values *values_new(void);
void values_free(values *v);

/* Sets one row's absolute values from the database; older revisions are ignored. */
void values_set(values *v, const db_policy_row *row);

/*
 * Looks up n offers for one state under one lock. For each offer, the
 * state's entry if it has any data, else the segment's, else the company's;
 * level[i] says which.
 */
void values_lookup(values *v, const char *company, const char *state_key, const char *segment,
                   const char *const *offers, size_t n, vstats *out, int *level);

/*
 * The same, each offer's state statistics shrunk toward its segment's, and
 * the segment's toward the company's, in proportion to the evidence:
 * child + min(shrink, W) / W * parent, W the parent's observations, so an
 * estimate from n observations is (n mean + k parent) / (n + k) with
 * k = min(shrink, W). A state never seen is its parent, worth at most
 * shrink observations. shrink <= 0 is values_lookup.
 */
void values_blend(values *v, const char *company, const char *state_key, const char *segment,
                  const char *const *offers, size_t n, double shrink, vstats *out, int *level);

/*
 * Advances company's forgetting clock by one decision with factor gamma
 * (0, 1]: every statistic of the company weighs gamma^(decisions since it
 * was learned). gamma 1 forgets nothing.
 */
void values_tick(values *v, const char *company, double gamma);

/*
 * Learns one scored reward into a TB_POLICY row (a delta or absolute row):
 * one observation, its reward, a success or a failure. The writer's deltas
 * and the simulator's in-memory rows both learn through this.
 */
void values_row_add(db_policy_row *r, double reward, int success);
/*
 * Unlearns what values_row_add learned (erasure, issue 16.3). TB_POLICY
 * holds plain sums, so the stored statistics are exactly those of a history
 * without the reward; with forgetting, values_set rebuilds the discounted
 * copy in memory from the new sums at the share forgetting had left of the
 * old ones (when the removed observations were learned is not known), never
 * below zero; the next restart reads the exact sums.
 */
void values_row_remove(db_policy_row *r, double reward, int success);

/* The mean reward of s, or dflt without data. */
double values_mean(const vstats *s, double dflt);

/* Number of (state, offer) entries, for metrics. */
size_t values_count(values *v);

#endif
