/*
 * experiment.h — champion/challenger (issue 17.1): which agent version
 * serves a customer, and how the versions compare.
 *
 * The set-up in force is a db_experiment (db.h): a champion, at most one
 * challenger, the challenger's share of each company's customers, and
 * whether the challenger is a shadow. The assignment is computed, never
 * stored: a hash of company, customer id and the challenger's version
 * (the salt) puts each customer at a point of [0, 100); the challenger
 * serves the customers below its traffic. Every process computes the same
 * point, so a customer sees one version across requests and processes, and
 * a new challenger draws a new set of customers.
 *
 * The comparison is read from the database by the refresher (never on a
 * request): per company and version, decisions, rewards and accepted
 * rewards; acceptance is accepted / rewards with a Wilson 95% interval, and
 * the probability that the challenger is better compares the two Beta(1 +
 * accepted, 1 + rewards - accepted) posteriors by Monte Carlo with a fixed
 * seed (EXPERIMENT_DRAWS draws), so every process and every refresh reports
 * the same number for the same counts.
 */
#ifndef OFFERD_EXPERIMENT_H
#define OFFERD_EXPERIMENT_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "store.h"

/* The arms of a company's experiment: the champion and at most one challenger. */
#define EXPERIMENT_ARMS_MAX 2
/* Monte Carlo draws of the probability that the challenger is better. */
#define EXPERIMENT_DRAWS 20000
#define EXPERIMENT_SEED 17
/* Companies and versions counted in one statistics snapshot. */
#define EXPERIMENT_COUNTS_MAX 4096
/* A shadow slate as JSON text (tb_episodes.shadow). */
#define EXPERIMENT_SHADOW_MAX 1024

enum experiment_role { EXPERIMENT_CHAMPION, EXPERIMENT_CHALLENGER, EXPERIMENT_SHADOW };

/* "champion", "challenger" or "shadow". */
const char *experiment_role_name(enum experiment_role role);

/*
 * The customer's point in [0, 100) for salt (the challenger's version),
 * to a hundredth: the same inputs give the same point in every process.
 */
double experiment_point(const char *company, const char *customer_id, const char *salt);
/*
 * Whether the challenger of x serves company's customer: 1 when x has a
 * serving (non-shadow) challenger and the customer's point is below its
 * traffic, else 0 (the champion serves).
 */
int experiment_serves_challenger(const db_experiment *x, const char *company, const char *customer_id);

/* The Wilson score interval at 95% of k successes in n trials; [0, 1] when n is 0. */
void experiment_wilson(int64_t k, int64_t n, double *lo, double *hi);
/*
 * P(p_b > p_a) for Beta(1 + k_a, 1 + n_a - k_a) and Beta(1 + k_b, 1 +
 * n_b - k_b), by EXPERIMENT_DRAWS paired draws from a generator seeded with
 * EXPERIMENT_SEED (deterministic for the same counts).
 */
double experiment_p_better(int64_t k_a, int64_t n_a, int64_t k_b, int64_t n_b);

/*
 * Whether a and b count the same experiment: the same champion, challenger
 * and window (from_episode). Traffic and shadow may differ.
 */
int experiment_same_counts(const db_experiment *a, const db_experiment *b);

/* One company's counts for one version since the experiment began. */
typedef struct experiment_count {
	char company[DB_COMPANY_MAX];
	char version[DB_VERSION_MAX];
	int64_t decisions; /* episodes the version served */
	int64_t rewards;   /* ... that have a reward */
	int64_t accepted;  /* ... whose reward accepted an offer */
	int64_t shadowed;  /* ... that carried a shadow slate */
	double p_better;   /* the challenger's row: P(better than the champion); else NAN */
} experiment_count;

/* The counts of one experiment, as the refresher read them. Owns c. */
typedef struct experiment_stats {
	db_experiment x; /* the set-up the counts were read for */
	experiment_count *c;
	size_t n;
} experiment_stats;

/*
 * The counts of an experiment, kept by reading each row once (issue 18:
 * reading every episode of the experiment again at each refresh cost a
 * scan that grew with the table, and took both cores of a small machine
 * while it ran). Rows up to a cut (an episode id and a reward id) are
 * counted, into settled; each read moves the cut up and counts the rows
 * between the two cuts, by primary key.
 *
 * Ids are handed out before their transactions commit, so a row may appear
 * below the highest id already read. The cut is therefore the highest ids
 * seen at a read at least EXPERIMENT_SETTLE_SECONDS old: the counts are
 * those of the database that long ago, and rows of a transaction still
 * uncommitted that long after it took its ids would be missed (writer
 * transactions take milliseconds; the contact history assumes one refresh
 * interval). A new set-up (champion, challenger or window) or an erasure
 * (TB_ERASURES grew) starts the count again from the table; rows that
 * retention deletes stay counted: an experiment's decisions were made,
 * whatever the log keeps of them.
 */
#define EXPERIMENT_SETTLE_SECONDS 2.0
#define EXPERIMENT_MARKS 64

typedef struct experiment_tally {
	db_experiment x;          /* the set-up counted (x.champion "": none yet) */
	experiment_stats settled; /* the rows up to cut */
	int64_t cut[2];           /* the highest episode id and reward id counted in settled */
	int64_t erasures;         /* TB_ERASURES' highest id when the count started */
	struct {
		double at;      /* util_monotonic() of a read */
		int64_t top[2]; /* the highest episode and reward ids then */
	} marks[EXPERIMENT_MARKS];
	size_t nmarks;
} experiment_tally;

/*
 * Brings t up to date from s for the set-up x at time now (util_monotonic),
 * erasures being TB_ERASURES' highest id (db_erasures_top), and fills out (which the caller zeroed or freed) with the counts of x's
 * champion and challenger as of EXPERIMENT_SETTLE_SECONDS ago (none before
 * t has been read that long), and each company's p_better for a serving
 * challenger (about 10 ms each: taken from prev, which may be NULL, when
 * its counts for the company are the same). Returns 0 or the store's error
 * (out is then empty and t as it was).
 */
int experiment_tally_read(experiment_tally *t, store *s, const db_experiment *x, double now,
                          int64_t erasures, const experiment_stats *prev, experiment_stats *out);
void experiment_tally_free(experiment_tally *t);
void experiment_stats_free(experiment_stats *st);

/* One arm of a company's experiment, as GET /experiments and /metrics show it. */
typedef struct experiment_arm {
	char version[DB_VERSION_MAX];
	enum experiment_role role;
	double traffic; /* percent of the company's customers it serves (shadow: 0) */
	int64_t decisions, rewards, accepted;
	double acceptance; /* accepted / rewards (0 without rewards) */
	double lo, hi;     /* Wilson 95% */
	double p_better;   /* the challenger's P(better than the champion); NAN: none (the
	                    * champion, a shadow, a challenger without decisions yet) */
} experiment_arm;

/*
 * The arms of company under x, with the counts of st where they were read
 * for the same versions (zeros otherwise). A shadow's decisions are the
 * shadow slates logged; it has no rewards (it never serves) and no
 * p_better. Returns the number of arms (1 or 2).
 */
size_t experiment_arms(const db_experiment *x, const experiment_stats *st, const char *company,
                       experiment_arm out[EXPERIMENT_ARMS_MAX]);

/* --- changes (offerctl agent and POST /experiments/...) --------------------- */

/*
 * Releases version (policy, epsilon, params as db_agent_release takes
 * them) as the challenger of the champion in force: serving traffic
 * percent of each company's customers, or a shadow. One transaction: the
 * release never lands without its experiment row (which would make it the
 * champion). *out gets the new set-up. Returns 0 or the store's error,
 * with a message in err.
 */
int experiment_release(store *s, const char *version, const char *policy, double epsilon,
                       const char *params, double traffic, int shadow, db_experiment *out, char *err,
                       size_t errlen);
/*
 * Makes the challenger the champion of every company (100%). version may
 * be NULL or "" (the challenger in force); else it must name it.
 * ERR_CONFLICT when there is no challenger or version is not it. The
 * statistics' window is kept. *out gets the new set-up.
 */
int experiment_promote(store *s, const char *version, db_experiment *out, char *err, size_t errlen);
/* Withdraws the challenger (the champion serves 100%); ERR_CONFLICT when there is none. */
int experiment_rollback(store *s, db_experiment *out, char *err, size_t errlen);

#endif
