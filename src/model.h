/*
 * model.h — the learned state of the contextual policies (linear-ts,
 * squarecb) in offerd: one model per (company, agent version), decided with
 * on the request path, taught by the writer, stored in TB_MODEL and shared
 * by every offerd process on the database.
 *
 * Threads. Each model has a master (the policy with its statistics), read
 * and changed only by the writer threads and the refresher under the
 * model's mutex, and a published snapshot: an immutable copy with every
 * cached solve done (policy_snapshot), swapped in by pointer after each
 * change and reference-counted. A decision takes the current snapshot (a
 * mutex held for a pointer copy and an increment), decides without any
 * lock and releases it: it never waits on the database, on a solve or on
 * the writer, and never sees a model half updated.
 *
 * Storage and merge rule (TB_MODEL, db.h). A row per offer holds the
 * additive sufficient statistics (n, b = sum w y x, S = sum w x x^T) as they
 * stood at its clock tick; a clock row (offer "") per (company, version)
 * holds the version's clock: the number of episodes learned by every process
 * together, and the discounted number of episodes (squarecb's gamma). The
 * writer, in the transaction of the rewards, locks the clock row and the
 * rows of the offers it teaches, advances the clock by the batch's learned
 * episodes k, and writes each offer's row as
 *     row' = forgetting^(clock' - row.tick) * row + delta,   tick' = clock'
 * with delta the raw sums of the batch's examples (no decay inside one
 * batch, as ridge.h's deltas). So forgetting runs on one clock shared by all
 * processes: an example weighs forgetting^(episodes learned since, by
 * anyone), whichever process learned it, and a row is always exact at its
 * tick. Rows are absolute values with a revision: after its commit the
 * writer installs the rows it wrote, and every --refresh seconds the
 * refresher installs the rows other processes wrote (rev above what it has
 * seen two refreshes ago, which covers a transaction that committed late),
 * each row replacing the master's offer when its revision is newer, decayed
 * from its tick to the master's clock. Reading a row twice changes nothing;
 * a restart reads every row.
 */
#ifndef OFFERD_MODEL_H
#define OFFERD_MODEL_H

#include <stddef.h>

#include "agent.h"
#include "db.h"
#include "feat.h"
#include "request.h"
#include "rng.h"
#include "store.h"

#define MODEL_ENTRIES_MAX 1024 /* (company, version) models per process */

typedef struct model_set model_set;

model_set *model_set_new(void);
void model_set_free(model_set *m);

/*
 * Validates the PARAMS of a contextual agent version with the policy's own
 * table (policy.c) and fills out's reward scale, reward wait and params.
 * Errors name the field; returns 0 or ERR_INVAL.
 */
int model_conf(const char *params, agent_conf *out, char *err, size_t errlen);

/*
 * Decides for req with the snapshot of (company, c->version) (created empty
 * when new); fills out's offers and propensities (segment and state key are
 * the caller's). Returns 0, or ERR_INVAL.
 */
int model_decide(const agent_conf *c, rng *r, const char *company, const predict_req *req,
                 const char *rfm, agent_decision *out);

/*
 * Explains decision dec (model_decide's for req) with the same snapshot:
 * policy_explain per shown offer into out[dec->n]. Returns 0 or ERR_INVAL.
 */
int model_explain(const agent_conf *c, const char *company, const predict_req *req, const char *rfm,
                  const agent_decision *dec, struct policy_explanation *out);

/* --- the writer ------------------------------------------------------------------ */

/* What one transaction teaches the models. */
typedef struct model_batch model_batch;

model_batch *model_batch_new(model_set *m);
/*
 * Adds the examples of one learned reward: the episode (its states JSON,
 * request timestamp, state key, shown offers) scored with conf (its own
 * version's) into rewards and success per shown offer. An episode whose
 * request cannot be rebuilt is skipped (logged). Returns 0 or ERR_TOOBIG.
 */
int model_batch_add(model_batch *b, const agent_conf *conf, const char *company, const db_reward_out *ep,
                    const int *success);
/*
 * A batch that unlearns (erasure, issue 16.3): the same examples, added
 * with model_batch_add from the same scoring, are subtracted from the rows
 * instead, and the clock row's episodes drop by their number (its tick
 * stays: the clock only runs forward). Without forgetting the rows are then
 * exactly those of a history without them. With forgetting (< 1) the tick
 * each example was learned at is not stored: the writer estimates its age
 * from the rewards the version learned after it (model_batch_set_age),
 * which concurrent writers' commit order and a batch's shared tick make
 * approximate. With the logistic link (the default) an example's weight is one
 * Newton step at the model's mean when it was learned, which is not stored
 * either: it is recomputed at the present mean, and every later example
 * was shaped by the erased ones. In both cases model_batch_approximate says
 * so; logistic 0 with forgetting 1 is exact.
 */
model_batch *model_batch_new_erase(model_set *m);
int model_batch_approximate(const model_batch *b);
/*
 * Erase batches: the number of episodes the version learned after the
 * next example added (its age on the shared clock), so that it leaves with
 * its present weight forgetting^age. Ignored without forgetting.
 */
void model_batch_set_age(model_batch *b, double age);
/* Inside the transaction: writes the batch's rows to TB_MODEL (the merge rule above). */
int model_batch_store(model_batch *b, store *s);
/* After the commit: installs the rows written and publishes new snapshots. */
void model_batch_commit(model_batch *b);
void model_batch_free(model_batch *b);

/*
 * The context of a logged episode as its decision saw it: its states JSON,
 * request timestamp and state key (whose segment, when it differs from the
 * demographic one, was the customer's RFM segment). 0 or ERR_INVAL.
 */
int model_episode_context(const char *states_text, const char *request_ts, const char *state_key,
                          feat_ctx *ctx);

/* --- the warm start -------------------------------------------------------------- */

/*
 * Notes a TB_POLICY row's prior (offerctl train: a value per RFM state and
 * offer), from the refresher's reload of TB_POLICY; rows without a prior
 * are ignored. The next model_refresh turns a company's priors into
 * pseudo-observations of each model (the state's segment as rfm=, its
 * calendar as the date), worth the version's prior_weight observations per
 * offer, added to the published snapshots but never stored in TB_MODEL nor
 * decayed: every process derives the same prior from the same rows. A
 * model made by a first decision gets its prior at the next refresh.
 * The refresher's thread only.
 */
void model_prior(model_set *m, const db_policy_row *row);

/* --- the refresher --------------------------------------------------------------- */

/*
 * Installs the TB_MODEL rows other processes changed since the last call
 * (all of them at the first) for models of known versions: the current
 * configuration's (created as needed) and those already in memory; then
 * rebuilds the priors of models whose priors changed (model_prior).
 */
int model_refresh(model_set *m, store *s, const agent_conf *current);
/* The same for an experiment: rows of the challenger (may be NULL) are loaded too. */
int model_refresh_versions(model_set *m, store *s, const agent_conf *current,
                           const agent_conf *challenger);

/* --- tests and audits ------------------------------------------------------------ */

/* The discounted examples of offer in (company, version)'s master, or -1 when unknown. */
double model_count(model_set *m, const char *company, const char *version, const char *offer);

#endif
