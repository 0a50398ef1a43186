/*
 * values.h — the learned statistics in memory, so a decision never waits on
 * the database. One entry per (company, state, offer), plus aggregates per
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
	double n;       /* rewards observed */
	double sum;     /* their sum */
	double succ;    /* Bernoulli successes / failures observed */
	double fail;
	double pw;      /* prior weight (pseudo-observations) */
	double pvw;     /* prior value x prior weight */
	double pa;      /* prior alpha - 1 and prior beta - 1 */
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

/* The mean reward of s, or dflt without data. */
double values_mean(const vstats *s, double dflt);

/* Number of (state, offer) entries, for metrics. */
size_t values_count(values *v);

#endif
