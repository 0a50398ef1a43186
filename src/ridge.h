/*
 * ridge.h — per-offer Bayesian ridge regression statistics, the learned
 * state of the contextual policies (policy_lints.c, policy_squarecb.c).
 *
 * For each offer the sufficient statistics of a linear model over hashed
 * features (feat.h, d = 2^bits buckets): n, b = sum y x and S = sum x x^T,
 * with the prior lambda I added at solve time: A = lambda I + S,
 * mean = A^-1 b, and A^-1 the posterior covariance (up to the noise scale).
 *
 * Forgetting (issue 13 point 4): every learned episode is one tick; at each
 * tick S, b and n of every offer are multiplied by the forgetting factor
 * (applied lazily, gamma^ticks when an offer is next touched), so old data
 * weighs gamma^age and A decays toward the prior: an offer's uncertainty
 * grows back when it is no longer shown. 1 disables it.
 *
 * Additive merge rule: learning adds to the totals and to a delta (raw sums
 * since the last ridge_save(..., RIDGE_DELTA)); another process merges that
 * delta by adding it to its own (decayed) totals. Decay within one delta is
 * ignored: a delta spans one refresh interval. Two processes that exchange
 * their deltas hold the same statistics as one process that learned
 * everything (exactly, with forgetting 1; tests/test_policy.c).
 *
 * Decisions read a cache per offer (A^-1 and the mean), updated in O(d^2)
 * by Sherman-Morrison on every learned example and recomputed by Cholesky
 * (O(d^3)) when statistics are merged or loaded, after 1,000 rank-one
 * updates, or when forgetting has shrunk the statistics by 10 % since.
 *
 * Memory, per offer: 2 d(d+1)/2 + d^2 + 3d doubles; d = 64: 66 KiB; at most
 * RIDGE_OFFERS_MAX offers per model. Not synchronised: one thread, or the
 * caller's lock.
 */
#ifndef OFFERD_RIDGE_H
#define OFFERD_RIDGE_H

#include <stddef.h>
#include <stdint.h>

#include "feat.h"
#include "util.h"

#define RIDGE_OFFERS_MAX 256

typedef struct ridge ridge;

enum ridge_what { RIDGE_TOTALS = 0, RIDGE_DELTA = 1 };

/* A new empty model; bits within FEAT_BITS_MIN..MAX, lambda > 0, forgetting in (0, 1]. */
ridge *ridge_new(unsigned bits, double lambda, double forgetting);
void ridge_free(ridge *r);
unsigned ridge_bits(const ridge *r);
/* The offer's index; a new offer is added when create (-1: unknown, or full). */
int ridge_offer(ridge *r, const char *name, int create);
/*
 * Adds one example (x, y) with weight w > 0 to offer i: S += w x x^T,
 * b += w y x. A logistic model learns through this too: its Laplace /
 * iteratively reweighted step is weight p(1-p) and working response
 * x.mean + (y - p) / (p(1-p)), so its natural parameters (precision A and
 * A times the mean) stay additive and merge by the same rule.
 */
void ridge_add(ridge *r, int i, const feat_vec *x, double y, double w);
/* One learned episode: the clock of the forgetting factor. */
void ridge_tick(ridge *r);
/* Episodes learned, discounted by the forgetting factor (the effective sample size). */
double ridge_episodes(const ridge *r);
/*
 * The posterior mean x . A^-1 b and the variance factor x^T A^-1 x of offer
 * i (unknown offers: i -1, the prior: 0 and x.x / lambda). May refresh the
 * offer's cache.
 */
void ridge_predict(ridge *r, int i, const feat_vec *x, double *mean, double *var);
/*
 * The same for x plus a unit at each of the nextra buckets extra (the
 * features that differ by offer and slot), without building that vector;
 * var may be NULL when only the mean is wanted (O(nnz) instead of O(nnz^2)).
 */
void ridge_predict_plus(ridge *r, int i, const feat_vec *x, const uint32_t *extra, size_t nextra,
                        double *mean, double *var);
/* The discounted number of examples of offer i. */
double ridge_count(ridge *r, int i);

/*
 * Appends the totals or the delta as JSON to out:
 * {"bits":6,"lambda":1,"offers":[{"offer":"O","n":..,"b":[d],"S":[d(d+1)/2]}...]}
 * (S packed lower triangle, row by row). RIDGE_DELTA resets the delta.
 */
int ridge_save(ridge *r, enum ridge_what what, buf *out);
/* Adds statistics saved by ridge_save (totals or a delta) to r. */
int ridge_merge(ridge *r, const char *json, size_t len, char *err, size_t errlen);
/* Forgets everything, then merges json. */
int ridge_load(ridge *r, const char *json, size_t len, char *err, size_t errlen);

/*
 * A copy of r with every cache solved (the Cholesky work done here, on the
 * caller's thread): predictions on the copy then only read it, so several
 * threads may decide with one copy at once. prior (may be NULL, same bits)
 * is added to the copy's sums: pseudo-observations that are not learned
 * statistics and never decay (the warm start). The copy has no delta; it
 * is freed with ridge_free.
 */
ridge *ridge_snapshot(ridge *r, const ridge *prior);
size_t ridge_dim(const ridge *r);
size_t ridge_tri(const ridge *r);
double ridge_forgetting(const ridge *r);
size_t ridge_noffers(const ridge *r);
/* The name of offer i, or NULL. */
const char *ridge_offer_name(const ridge *r, int i);
/* The clock of the forgetting factor (episodes learned) and the discounted episodes. */
uint64_t ridge_clock(const ridge *r);
/* Moves the clock forward to tick with that many discounted episodes (never back). */
void ridge_set_clock(ridge *r, uint64_t tick, double episodes);
/* Offer i's totals at the model's clock (borrowed: valid until r changes). */
void ridge_offer_stats(ridge *r, int i, double *n, const double **b, const double **S);
/*
 * Replaces offer name's totals (created as needed) with n, b[d] and S[tri],
 * as they stood at clock tick: they are decayed to the model's clock when
 * next touched, and a tick ahead of the model's moves its clock forward.
 */
int ridge_offer_set(ridge *r, const char *name, double n, const double *b, const double *S,
                    uint64_t tick);

#endif
