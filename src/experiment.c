/*
 * experiment.c — champion/challenger: the assignment of a customer to a
 * version, and the statistics that compare the versions (see experiment.h).
 */
#include "experiment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "util.h"

/* 1.96: the normal quantile of a two-sided 95% interval. */
#define Z95 1.959963984540054

const char *experiment_role_name(enum experiment_role role)
{
	switch (role) {
	case EXPERIMENT_CHAMPION: return "champion";
	case EXPERIMENT_CHALLENGER: return "challenger";
	case EXPERIMENT_SHADOW: return "shadow";
	}
	return "unknown";
}

/* --- assignment ------------------------------------------------------------ */

static uint64_t fnv1a(uint64_t h, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/*
 * FNV-1a spreads short keys poorly in its low bits; splitmix64's finaliser
 * mixes every input bit into every output bit before the modulo.
 */
static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

double experiment_point(const char *company, const char *customer_id, const char *salt)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	/* A separator byte no id holds keeps ("ab","c") apart from ("a","bc"). */
	h = fnv1a(h, company);
	h = fnv1a(h, "\x1f");
	h = fnv1a(h, customer_id);
	h = fnv1a(h, "\x1f");
	h = fnv1a(h, salt);
	return (double)(mix64(h) % 10000) / 100.0;
}

int experiment_serves_challenger(const db_experiment *x, const char *company, const char *customer_id)
{
	if (x->challenger[0] == '\0' || x->shadow || !(x->traffic > 0))
		return 0;
	return experiment_point(company, customer_id, x->challenger) < x->traffic;
}

/* --- statistics ------------------------------------------------------------ */

void experiment_wilson(int64_t k, int64_t n, double *lo, double *hi)
{
	double p;
	double z2;
	double denom;
	double centre;
	double half;

	if (n <= 0) {
		*lo = 0;
		*hi = 1;
		return;
	}
	p = (double)k / (double)n;
	z2 = Z95 * Z95;
	denom = 1 + z2 / (double)n;
	centre = (p + z2 / (2.0 * (double)n)) / denom;
	half = Z95 * sqrt(p * (1 - p) / (double)n + z2 / (4.0 * (double)n * (double)n)) / denom;
	*lo = fmax(0.0, centre - half);
	*hi = fmin(1.0, centre + half);
}

double experiment_p_better(int64_t k_a, int64_t n_a, int64_t k_b, int64_t n_b)
{
	rng r;
	int wins = 0;

	rng_seed(&r, EXPERIMENT_SEED);
	for (int i = 0; i < EXPERIMENT_DRAWS; i++) {
		double a = rng_beta(&r, 1.0 + (double)k_a, 1.0 + (double)(n_a - k_a));
		double b = rng_beta(&r, 1.0 + (double)k_b, 1.0 + (double)(n_b - k_b));

		wins += b > a;
	}
	return (double)wins / EXPERIMENT_DRAWS;
}

/* The index of company's row for version in st, or st->n (0 for a NULL st) when it has none. */
static size_t count_index(const experiment_stats *st, const char *company, const char *version)
{
	size_t i = 0;

	while (st != NULL && i < st->n &&
	       (strcmp(st->c[i].company, company) != 0 || strcmp(st->c[i].version, version) != 0))
		i++;
	return i;
}

static const experiment_count *find_count(const experiment_stats *st, const char *company,
                                          const char *version)
{
	size_t i = count_index(st, company, version);

	return st != NULL && i < st->n ? &st->c[i] : NULL;
}

/* prev's p_better of company's challenger when prev counted the same, else NAN. */
static double p_better_kept(const experiment_stats *prev, const db_experiment *x,
                            const experiment_count *champ, const experiment_count *chal)
{
	const experiment_count *pc;
	const experiment_count *pa;

	if (prev == NULL || strcmp(prev->x.champion, x->champion) != 0 ||
	    strcmp(prev->x.challenger, x->challenger) != 0 || prev->x.shadow)
		return NAN;
	pc = find_count(prev, chal->company, x->challenger);
	pa = find_count(prev, chal->company, x->champion);
	if (pc == NULL || pc->rewards != chal->rewards || pc->accepted != chal->accepted)
		return NAN;
	if ((pa == NULL) != (champ == NULL))
		return NAN;
	if (pa != NULL && (pa->rewards != champ->rewards || pa->accepted != champ->accepted))
		return NAN;
	return pc->p_better;
}

/* --- the counts, read as they grow ------------------------------------------- */

int experiment_same_counts(const db_experiment *a, const db_experiment *b)
{
	return strcmp(a->champion, b->champion) == 0 && strcmp(a->challenger, b->challenger) == 0 &&
	       a->from_episode == b->from_episode;
}

/* The (company, version) row of st, added with zero counts when new; NULL past the limit. */
static experiment_count *count_of(experiment_stats *st, const char *company, const char *version)
{
	size_t i = count_index(st, company, version);
	experiment_count *c;

	if (i < st->n)
		return &st->c[i];
	if (st->n >= EXPERIMENT_COUNTS_MAX || strlen(company) >= DB_COMPANY_MAX)
		return NULL; /* a company not reported rather than a failed refresh */
	st->c = xrealloc(st->c, (st->n + 1) * sizeof(*st->c));
	c = &st->c[st->n++];
	memset(c, 0, sizeof(*c));
	util_strlcpy(c->company, company, sizeof(c->company));
	util_strlcpy(c->version, version, sizeof(c->version));
	c->p_better = NAN;
	return c;
}

/* Adds a row of db_experiment_decisions (rewards 0) or db_experiment_rewards (1) to st. */
static int add_row(experiment_stats *st, int rewards, int ncols, const char *const *vals)
{
	experiment_count *c;
	int64_t a = 0;
	int64_t b = 0;

	if (ncols < 4 || vals[0] == NULL || vals[1] == NULL)
		return ERR_IO;
	c = count_of(st, vals[0], vals[1]);
	if (c == NULL)
		return 0;
	if (vals[2] == NULL || util_strtonum(vals[2], 0, INT64_MAX, &a) != 0)
		a = 0;
	if (vals[3] == NULL || util_strtonum(vals[3], 0, INT64_MAX, &b) != 0)
		b = 0;
	if (rewards) {
		c->rewards += a;
		c->accepted += b;
	} else {
		c->decisions += a;
		c->shadowed += b;
	}
	return 0;
}

static int decisions_row(void *arg, int ncols, const char *const *vals)
{
	return add_row(arg, 0, ncols, vals);
}

static int rewards_row(void *arg, int ncols, const char *const *vals)
{
	return add_row(arg, 1, ncols, vals);
}

/* Adds to st the decisions and rewards of x with ids in (after[k], upto[k]]. */
static int count_range(store *s, const db_experiment *x, const int64_t after[2], const int64_t upto[2],
                       experiment_stats *st)
{
	int rc = 0;

	if (upto[0] > after[0])
		rc = db_experiment_decisions(s, after[0], upto[0], x->champion, x->challenger,
		                             decisions_row, st);
	if (rc == 0 && upto[1] > after[1])
		rc = db_experiment_rewards(s, x->from_episode, after[1], upto[1], x->champion,
		                           x->challenger, rewards_row, st);
	return rc;
}

static void stats_copy(experiment_stats *dst, const experiment_stats *src)
{
	dst->x = src->x;
	dst->n = src->n;
	dst->c = NULL;
	if (src->n > 0) {
		dst->c = xmalloc(src->n * sizeof(*src->c));
		memcpy(dst->c, src->c, src->n * sizeof(*src->c));
	}
}

/*
 * Moves the cut of t up to the newest mark at least EXPERIMENT_SETTLE_SECONDS
 * old, counting the rows between the two cuts into settled. On an error t
 * is as it was.
 */
static int tally_settle(experiment_tally *t, store *s, double now)
{
	experiment_stats fresh;
	int64_t upto[2];
	size_t i = t->nmarks;
	int rc;

	while (i > 0 && t->marks[i - 1].at > now - EXPERIMENT_SETTLE_SECONDS)
		i--;
	if (i == 0)
		return 0;
	for (int k = 0; k < 2; k++)
		upto[k] = t->marks[i - 1].top[k] > t->cut[k] ? t->marks[i - 1].top[k] : t->cut[k];
	stats_copy(&fresh, &t->settled);
	rc = count_range(s, &t->x, t->cut, upto, &fresh);
	if (rc != 0) {
		experiment_stats_free(&fresh);
		return rc;
	}
	experiment_stats_free(&t->settled);
	t->settled = fresh;
	memcpy(t->cut, upto, sizeof(t->cut));
	t->nmarks -= i;
	memmove(t->marks, t->marks + i, t->nmarks * sizeof(t->marks[0]));
	return 0;
}

/* Starts the count of x again from its window's first episode. */
static void tally_restart(experiment_tally *t, const db_experiment *x, int64_t erasures)
{
	experiment_stats_free(&t->settled);
	t->x = *x;
	t->settled.x = *x;
	t->cut[0] = x->from_episode;
	t->cut[1] = 0;
	t->erasures = erasures;
	t->nmarks = 0;
}

int experiment_tally_read(experiment_tally *t, store *s, const db_experiment *x, double now,
                          int64_t erasures, const experiment_stats *prev, experiment_stats *out)
{
	int64_t top[2];
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->x = *x;
	for (int k = 0; k < 2 && rc == 0; k++)
		rc = db_contact_top(s, k, &top[k]);
	if (rc != 0)
		return rc;
	/* t.x.champion "": nothing counted yet. */
	if (t->x.champion[0] == '\0' || !experiment_same_counts(&t->x, x) || erasures > t->erasures)
		tally_restart(t, x, erasures);
	if (t->nmarks == EXPERIMENT_MARKS) {
		t->nmarks--;
		memmove(t->marks, t->marks + 1, t->nmarks * sizeof(t->marks[0]));
	}
	t->marks[t->nmarks].at = now;
	memcpy(t->marks[t->nmarks].top, top, sizeof(top));
	t->nmarks++;
	rc = tally_settle(t, s, now);
	if (rc != 0)
		return rc;
	stats_copy(out, &t->settled);
	out->x = *x;
	if (x->challenger[0] == '\0' || x->shadow)
		return 0;
	for (size_t i = 0; i < out->n; i++) {
		experiment_count *c = &out->c[i];
		const experiment_count *champ;
		int64_t ka = 0;
		int64_t na = 0;

		if (strcmp(c->version, x->challenger) != 0)
			continue;
		champ = find_count(out, c->company, x->champion);
		if (champ != NULL) {
			ka = champ->accepted;
			na = champ->rewards;
		}
		c->p_better = p_better_kept(prev, x, champ, c);
		if (isnan(c->p_better))
			c->p_better = experiment_p_better(ka, na, c->accepted, c->rewards);
	}
	return 0;
}

void experiment_tally_free(experiment_tally *t)
{
	experiment_stats_free(&t->settled);
	memset(t, 0, sizeof(*t));
}

void experiment_stats_free(experiment_stats *st)
{
	free(st->c);
	st->c = NULL;
	st->n = 0;
}

static void arm_fill(experiment_arm *a, const char *version, enum experiment_role role, double traffic)
{
	memset(a, 0, sizeof(*a));
	util_strlcpy(a->version, version, sizeof(a->version));
	a->role = role;
	a->traffic = traffic;
	a->lo = 0;
	a->hi = 1;
	a->p_better = NAN;
}

static void arm_rates(experiment_arm *a)
{
	a->acceptance = a->rewards > 0 ? (double)a->accepted / (double)a->rewards : 0.0;
	experiment_wilson(a->accepted, a->rewards, &a->lo, &a->hi);
}

size_t experiment_arms(const db_experiment *x, const experiment_stats *st, const char *company,
                       experiment_arm out[EXPERIMENT_ARMS_MAX])
{
	/* Counts read for another experiment window would compare unlike periods. */
	const experiment_stats *same = st != NULL && st->x.from_episode == x->from_episode ? st : NULL;
	const experiment_count *c;
	int challenger = x->challenger[0] != '\0';
	double share = challenger && !x->shadow ? x->traffic : 0.0;

	arm_fill(&out[0], x->champion, EXPERIMENT_CHAMPION, 100.0 - share);
	c = find_count(same, company, x->champion);
	if (c != NULL) {
		out[0].decisions = c->decisions;
		out[0].rewards = c->rewards;
		out[0].accepted = c->accepted;
	}
	arm_rates(&out[0]);
	if (!challenger)
		return 1;
	arm_fill(&out[1], x->challenger, x->shadow ? EXPERIMENT_SHADOW : EXPERIMENT_CHALLENGER, share);
	if (x->shadow) {
		/* Every shadow slate rides on an episode the champion served. */
		out[1].decisions = c != NULL ? c->shadowed : 0;
	} else {
		c = find_count(same, company, x->challenger);
		if (c != NULL) {
			out[1].decisions = c->decisions;
			out[1].rewards = c->rewards;
			out[1].accepted = c->accepted;
			out[1].p_better = c->p_better;
		}
	}
	arm_rates(&out[1]);
	return 2;
}

/* --- changes ------------------------------------------------------------------ */

typedef enum { CHANGE_RELEASE, CHANGE_PROMOTE, CHANGE_ROLLBACK } change_kind;

typedef struct change {
	change_kind kind;
	const char *version; /* release: the new version; promote: the one named (may be "") */
	const char *policy;
	double epsilon;
	const char *params;
	double traffic;
	int shadow;
} change;

/* Inside the transaction: the next set-up after ch, from the one in force. */
static int change_next(store *s, const change *ch, db_experiment *next, char *err, size_t errlen)
{
	db_experiment cur;
	int rc;

	rc = db_experiment_current(s, &cur);
	if (rc != 0) {
		snprintf(err, errlen, "cannot read the agent versions: %s", s->ops->errmsg(s));
		return rc;
	}
	memset(next, 0, sizeof(*next));
	util_strlcpy(next->champion, cur.champion, sizeof(next->champion));
	next->from_episode = cur.from_episode;
	switch (ch->kind) {
	case CHANGE_RELEASE:
		util_strlcpy(next->action, "release", sizeof(next->action));
		util_strlcpy(next->challenger, ch->version, sizeof(next->challenger));
		next->traffic = ch->shadow ? 0 : ch->traffic;
		next->shadow = ch->shadow;
		next->from_episode = -1; /* a new experiment: its window starts now */
		rc = db_agent_release(s, ch->version, ch->policy, ch->epsilon, ch->params);
		if (rc != 0)
			snprintf(err, errlen, "cannot release %s: %s", ch->version, s->ops->errmsg(s));
		return rc;
	case CHANGE_PROMOTE:
		if (cur.challenger[0] == '\0') {
			snprintf(err, errlen, "there is no challenger to promote (%s is the champion)",
			         cur.champion);
			return ERR_CONFLICT;
		}
		if (ch->version != NULL && ch->version[0] != '\0' &&
		    strcmp(ch->version, cur.challenger) != 0) {
			snprintf(err, errlen, "%.64s is not the challenger; the challenger is %s",
			         ch->version, cur.challenger);
			return ERR_CONFLICT;
		}
		util_strlcpy(next->action, "promote", sizeof(next->action));
		util_strlcpy(next->champion, cur.challenger, sizeof(next->champion));
		return 0;
	case CHANGE_ROLLBACK:
		if (cur.challenger[0] == '\0') {
			snprintf(err, errlen, "there is no challenger to roll back (%s is the champion)",
			         cur.champion);
			return ERR_CONFLICT;
		}
		util_strlcpy(next->action, "rollback", sizeof(next->action));
		return 0;
	}
	return ERR_INVAL;
}

static int change_apply(store *s, const change *ch, db_experiment *out, char *err, size_t errlen)
{
	int rc;

	memset(out, 0, sizeof(*out));
	rc = s->ops->begin(s);
	if (rc != 0) {
		snprintf(err, errlen, "cannot begin a transaction: %s", s->ops->errmsg(s));
		return rc;
	}
	rc = change_next(s, ch, out, err, errlen);
	if (rc == 0) {
		rc = db_experiment_put(s, out);
		if (rc != 0)
			snprintf(err, errlen, "cannot store the experiment: %s", s->ops->errmsg(s));
	}
	if (rc == 0) {
		rc = s->ops->commit(s);
		if (rc != 0)
			snprintf(err, errlen, "cannot commit: %s", s->ops->errmsg(s));
	} else {
		s->ops->rollback(s);
	}
	return rc;
}

int experiment_release(store *s, const char *version, const char *policy, double epsilon,
                       const char *params, double traffic, int shadow, db_experiment *out, char *err,
                       size_t errlen)
{
	change ch = {CHANGE_RELEASE, version, policy, epsilon, params, traffic, shadow};

	return change_apply(s, &ch, out, err, errlen);
}

int experiment_promote(store *s, const char *version, db_experiment *out, char *err, size_t errlen)
{
	change ch = {CHANGE_PROMOTE, version, NULL, 0, NULL, 0, 0};

	return change_apply(s, &ch, out, err, errlen);
}

int experiment_rollback(store *s, db_experiment *out, char *err, size_t errlen)
{
	change ch = {CHANGE_ROLLBACK, NULL, NULL, 0, NULL, 0, 0};

	return change_apply(s, &ch, out, err, errlen);
}
