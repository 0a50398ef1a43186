/*
 * writer.c — the group-commit thread.
 *
 * A batch is one transaction: episodes (one statement), rewards in rounds
 * (a customer's k-th reward of the batch in round k; each round one episode
 * lookup, the scoring here, one insert), then one upsert per changed
 * (state, offer) with the summed deltas. If the transaction fails for a
 * reason other than an unreachable database, the batch is retried one
 * operation at a time so a single poisonous operation cannot fail its
 * neighbours.
 */
#include "writer.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "model.h"
#include "util.h"

#define WRITER_THREADS_MAX 8

/*
 * One queue per writer thread. Rewards all go to the first queue, so two
 * threads never race for the same customer's latest episode (two
 * transactions attaching to one episode wait on each other's unique-index
 * entry and can deadlock) nor for the same hot TB_POLICY rows. Episodes:
 * queue_for().
 */
typedef struct writer_queue {
	writer_op *head;
	writer_op *tail;
	size_t n;
	pthread_cond_t cond;
} writer_queue;

struct writer {
	store *stores[WRITER_THREADS_MAX]; /* one connection per thread */
	size_t nthreads;
	values *v;
	writer_conf_fn conf_fn;
	void *conf_arg;
	size_t queue_max;
	size_t batch_max;
	pthread_t threads[WRITER_THREADS_MAX];
	int running;
	pthread_mutex_t lock;
	writer_queue q[WRITER_THREADS_MAX];
	size_t nqueues; /* one per thread; stays when the threads are gone */
	size_t queued;  /* over all queues */
	int stopping;
	writer_stats stats;
};

/* Summed statistics deltas of one batch, keyed by (company, state, offer). */
typedef struct delta_set {
	db_policy_row *rows;
	size_t n;
	size_t cap;
} delta_set;

/* The set's row of (company, state, offer), zeros when new. */
static db_policy_row *delta_row(delta_set *d, const char *company, const char *state, const char *offer)
{
	db_policy_row *r;

	for (size_t i = 0; i < d->n; i++) {
		r = &d->rows[i];
		if (strcmp(r->offer, offer) == 0 && strcmp(r->state_key, state) == 0 &&
		    strcmp(r->company, company) == 0)
			return r;
	}
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		d->rows = xrealloc(d->rows, d->cap * sizeof(*d->rows));
	}
	r = &d->rows[d->n++];
	memset(r, 0, sizeof(*r));
	r->company = xstrdup(company);
	r->state_key = xstrdup(state);
	r->offer = xstrdup(offer);
	return r;
}

static void delta_add(delta_set *d, const char *company, const char *state, const char *offer,
                      double reward, int success)
{
	values_row_add(delta_row(d, company, state, offer), reward, success);
}

static void delta_free(delta_set *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free((char *)(uintptr_t)d->rows[i].company);
		free((char *)(uintptr_t)d->rows[i].state_key);
		free((char *)(uintptr_t)d->rows[i].offer);
	}
	free(d->rows);
	memset(d, 0, sizeof(*d));
}

/* One lock order for every writer: no deadlock between concurrent batches. */
static int delta_cmp(const void *a, const void *b)
{
	const db_policy_row *x = a;
	const db_policy_row *y = b;
	int c = strcmp(x->company, y->company);

	if (c == 0)
		c = strcmp(x->state_key, y->state_key);
	if (c == 0)
		c = strcmp(x->offer, y->offer);
	return c;
}

/*
 * Agent configurations by version. A reward is scored with the
 * configuration of the version that made its episode, not the one current
 * at commit time. The current version's needs no query; an older one is read
 * once from TB_AGENTS and kept until the current configuration changes (a
 * release, which may also have changed an older row of the same version).
 */
#define WRITER_CONFS_MAX 16

typedef struct conf_cache {
	agent_conf current;
	agent_conf old[WRITER_CONFS_MAX];
	char key[WRITER_CONFS_MAX][DB_VERSION_MAX]; /* the version asked for */
	size_t n;
} conf_cache;

static void confs_set_current(conf_cache *c, const agent_conf *current)
{
	if (memcmp(&c->current, current, sizeof(*current)) != 0)
		c->n = 0;
	c->current = *current;
}

/*
 * The configuration that scores an episode of version. A version that
 * TB_AGENTS does not know (or whose row no longer parses) is scored with the
 * current configuration, as before versions were looked up. Returns 0, or
 * the store error that aborts the transaction.
 */
static int confs_get(conf_cache *c, store *s, const char *version, const agent_conf **out)
{
	db_agent a;
	char err[128];
	size_t slot;
	int rc;

	*out = &c->current;
	if (version[0] == '\0' || strcmp(version, c->current.version) == 0)
		return 0;
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->key[i], version) == 0) {
			*out = &c->old[i];
			return 0;
		}
	}
	rc = db_agent_by_version(s, version, &a);
	if (rc != 0 && rc != ERR_NOTFOUND)
		return rc;
	slot = c->n < WRITER_CONFS_MAX ? c->n++ : WRITER_CONFS_MAX - 1;
	util_strlcpy(c->key[slot], version, sizeof(c->key[slot]));
	if (rc != 0 || agent_conf_from_db(&a, &c->old[slot], err, sizeof(err)) != 0) {
		if (rc == 0)
			log_msg(LOG_WARN, "agent %s: %s; its rewards are scored with agent %s", version,
			        err, c->current.version);
		c->old[slot] = c->current;
	}
	db_agent_clear(&a);
	*out = &c->old[slot];
	return 0;
}

typedef struct batch_ctx {
	conf_cache *confs;
	model_batch *models; /* the contextual policies' examples; NULL without models */
	delta_set deltas;
	delta_set committed; /* absolute rows returned by the upserts */
	/* Scored rewards whose insert goes with the upsert and the COMMIT
	 * (db_rewards_insert_policy_commit); NULL when inserted already. */
	db_reward_in *fold_in;
	db_reward_out *fold_out;
	size_t fold_n;
	size_t contextual; /* examples added to models: statements before the COMMIT */
} batch_ctx;

static int shown(const db_reward_out *out, const char *offer, size_t len)
{
	for (int k = 0; k < out->n_offers; k++) {
		if (strlen(out->offers[k]) == len && memcmp(out->offers[k], offer, len) == 0)
			return 1;
	}
	return 0;
}

/* Whether accepted_offer and every clicked offer were shown in the episode. */
static int offers_shown(const db_reward_out *out, const char *accepted, const char *clicked)
{
	if (accepted != NULL && accepted[0] != '\0' && !shown(out, accepted, strlen(accepted)))
		return 0;
	for (const char *p = clicked; p != NULL && *p != '\0';) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (!shown(out, p, len))
			return 0;
		p = comma ? comma + 1 : NULL;
	}
	return 1;
}

/*
 * Scores a reward whose episode was found: out->rewards and success per
 * shown offer, with the configuration of the episode's agent version, and
 * whether it is learned. A credit for an offer the episode did not show is
 * refused (out->rc = ERR_INVAL).
 */
static int score_reward(store *s, batch_ctx *b, const db_reward_in *in, db_reward_out *out,
                        int success[OFFERS_SHOWN])
{
	const char *names[OFFERS_SHOWN];
	const agent_conf *conf;
	int rc;

	if (!offers_shown(out, in->accepted_offer, in->clicked)) {
		out->rc = ERR_INVAL;
		return 0;
	}
	rc = confs_get(b->confs, s, out->agent_version, &conf);
	if (rc != 0)
		return rc;
	for (int k = 0; k < out->n_offers; k++)
		names[k] = out->offers[k];
	agent_rewards(conf, names, out->n_offers, in->accepted, in->accepted_offer, in->clicked,
	              out->rewards, success);
	/* A reward later than the agent's wait time is logged, not learned;
	 * the default reward given at the end of the wait is learned. */
	out->learned = in->is_default ||
	               !(conf->reward_wait > 0 && out->episode_age > conf->reward_wait);
	return 0;
}

/*
 * A reward of an episode decided by a contextual policy also teaches that
 * policy's model, with the features rebuilt from the episode's request and
 * the configuration of the episode's version (model.h).
 */
static int learn_contextual(store *s, batch_ctx *b, const db_reward_in *in, const db_reward_out *out,
                            const int *success)
{
	const agent_conf *conf;
	enum agent_policy p;
	int rc;

	if (b->models == NULL || agent_policy_parse(out->policy, &p) != 0 || !agent_policy_contextual(p))
		return 0;
	rc = confs_get(b->confs, s, out->agent_version, &conf);
	if (rc != 0 || !agent_policy_contextual(conf->policy))
		return rc;
	b->contextual++;
	return model_batch_add(b->models, conf, in->company, out, success);
}

/* Whether a reward would teach a contextual model (learn_contextual). */
static int any_contextual(const batch_ctx *b, const db_reward_out *out, size_t n)
{
	enum agent_policy p;

	for (size_t i = 0; b->models != NULL && i < n; i++) {
		if (out[i].rc == 0 && agent_policy_parse(out[i].policy, &p) == 0 &&
		    agent_policy_contextual(p))
			return 1;
	}
	return 0;
}

/*
 * One round: at most one reward per customer. Lookup (one round trip),
 * scoring, insert (one round trip), then the stored rewards' deltas.
 */
static int attach_round(store *s, batch_ctx *b, const db_reward_in *in, db_reward_out *out, size_t n,
                        int *fold)
{
	int(*success)[OFFERS_SHOWN] = xcalloc(n, sizeof(*success));
	int rc;

	rc = db_rewards_lookup(s, in, out, n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (out[i].rc == 0)
			rc = score_reward(s, b, &in[i], &out[i], success[i]);
	}
	/*
	 * *fold (when no reward teaches a contextual model, whose statements
	 * would come between): inserted with the upsert and the COMMIT
	 * (run_tx), learned here as if inserted.
	 */
	if (*fold && any_contextual(b, out, n))
		*fold = 0;
	if (rc == 0 && !*fold)
		rc = db_rewards_insert(s, in, out, n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (out[i].rc != 0 || !out[i].learned)
			continue;
		for (int k = 0; k < out[i].n_offers; k++)
			delta_add(&b->deltas, in[i].company, out[i].state_key, out[i].offers[k],
			          out[i].rewards[k], success[i][k]);
		rc = learn_contextual(s, b, &in[i], &out[i], success[i]);
	}
	free(success);
	return rc;
}

/* Orders reward indices by customer, then by position in the batch. */
typedef struct reward_ref {
	const db_reward_in *in;
	size_t i;
} reward_ref;

static int reward_ref_cmp(const void *a, const void *b)
{
	const reward_ref *x = a;
	const reward_ref *y = b;
	int c = strcmp(x->in->company, y->in->company);

	if (c == 0)
		c = strcmp(x->in->customer_id, y->in->customer_id);
	if (c == 0)
		c = (x->i > y->i) - (x->i < y->i);
	return c;
}

/*
 * round[i] for each reward: a customer's k-th reward of the batch is in round
 * k. Returns the number of rounds.
 */
static size_t reward_rounds(const db_reward_in *in, size_t n, size_t *round)
{
	reward_ref *refs = xmalloc(n * sizeof(*refs));
	size_t rounds = 0;

	for (size_t i = 0; i < n; i++) {
		refs[i].in = &in[i];
		refs[i].i = i;
	}
	qsort(refs, n, sizeof(*refs), reward_ref_cmp);
	for (size_t k = 0; k < n; k++) {
		int same = k > 0 && strcmp(refs[k].in->company, refs[k - 1].in->company) == 0 &&
		           strcmp(refs[k].in->customer_id, refs[k - 1].in->customer_id) == 0;

		round[refs[k].i] = same ? round[refs[k - 1].i] + 1 : 0;
		if (round[refs[k].i] + 1 > rounds)
			rounds = round[refs[k].i] + 1;
	}
	free(refs);
	return rounds;
}

/*
 * Attaches the batch's rewards in rounds. A customer's k-th reward is in
 * round k, so it sees the earlier ones (same transaction): attribution is
 * exactly what one reward at a time would give, in two round trips a round.
 */
static int attach_rewards(store *s, writer_op *ops, size_t nrewards, batch_ctx *b)
{
	db_reward_in *in = xmalloc(nrewards * sizeof(*in));
	db_reward_out *out = xcalloc(nrewards, sizeof(*out));
	db_reward_in *rin = xmalloc(nrewards * sizeof(*rin));
	db_reward_out *rout = xmalloc(nrewards * sizeof(*rout));
	size_t *round = xmalloc(nrewards * sizeof(*round));
	size_t *pos = xmalloc(nrewards * sizeof(*pos));
	size_t rounds;
	size_t i = 0;
	writer_op *op;
	int rc = 0;

	for (op = ops; op != NULL; op = op->next) {
		if (op->kind == WOP_REWARD)
			in[i++] = op->rin;
	}
	rounds = reward_rounds(in, nrewards, round);
	/*
	 * One round (no customer twice) of rewards that need no more than the
	 * lookup (db_rewards_can_fold), without contextual models (their own
	 * statements follow the upsert): the insert is not sent alone but with
	 * the upsert and the COMMIT (run_tx), one round trip fewer a batch.
	 */
	if (rounds == 1 && db_rewards_can_fold(s, in, nrewards)) {
		int fold = 1;

		rc = attach_round(s, b, in, out, nrewards, &fold);
		if (rc == 0 && fold) {
			b->fold_in = in;
			b->fold_out = out;
			b->fold_n = nrewards;
			in = NULL;
			out = NULL;
		}
		rounds = 0;
	}
	for (size_t r = 0; r < rounds && rc == 0; r++) {
		size_t m = 0;
		int fold = 0;

		for (i = 0; i < nrewards; i++) {
			if (round[i] == r) {
				rin[m] = in[i];
				pos[m++] = i;
			}
		}
		rc = attach_round(s, b, rin, rout, m, &fold);
		for (size_t j = 0; j < m; j++)
			out[pos[j]] = rout[j];
	}
	i = 0;
	for (op = ops; out != NULL && op != NULL; op = op->next) {
		if (op->kind == WOP_REWARD)
			op->rout = out[i++];
	}
	free(in);
	free(out);
	free(rin);
	free(rout);
	free(round);
	free(pos);
	return rc;
}

static int keep_row(void *arg, const db_policy_row *row)
{
	delta_set *d = arg;
	db_policy_row *r;

	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		d->rows = xrealloc(d->rows, d->cap * sizeof(*d->rows));
	}
	r = &d->rows[d->n++];
	*r = *row;
	r->company = xstrdup(row->company);
	r->state_key = xstrdup(row->state_key);
	r->offer = xstrdup(row->offer);
	return 0;
}

/* The batch's episodes as one array (NULL when it has none); *nrewards counts the rest. */
static episode *batch_episodes(writer_op *ops, size_t *neps, size_t *nrewards)
{
	episode *eps;
	size_t i = 0;
	writer_op *op;

	*neps = 0;
	*nrewards = 0;
	for (op = ops; op != NULL; op = op->next) {
		*neps += op->kind == WOP_EPISODE;
		*nrewards += op->kind == WOP_REWARD;
	}
	if (*neps == 0)
		return NULL;
	eps = xmalloc(*neps * sizeof(*eps));
	for (op = ops; op != NULL; op = op->next) {
		if (op->kind == WOP_EPISODE)
			eps[i++] = op->ep;
	}
	return eps;
}

/*
 * After the COMMIT: the rows the upserts returned and the models' examples
 * become what this process serves. Only committed statistics reach memory.
 */
static void batch_publish(values *v, batch_ctx *b)
{
	for (size_t i = 0; i < b->committed.n; i++)
		values_set(v, &b->committed.rows[i]);
	if (b->models != NULL)
		model_batch_commit(b->models);
}

/* A failed transaction (what: "batch", "erasure"): logged, and rolled back when it was begun. */
static void tx_failed(store *s, int rc, int in_tx, const char *what)
{
	log_msg(rc == ERR_UNAVAIL ? LOG_WARN : LOG_ERROR, "%s failed: %s", what, s->ops->errmsg(s));
	if (in_tx)
		s->ops->rollback(s);
}

/* One transaction for the list; fills each op's rc. Returns the tx result. */
static int run_tx(store *s, values *v, conf_cache *confs, writer_op *ops)
{
	batch_ctx b;
	episode *eps;
	size_t neps;
	size_t nrewards;
	size_t nkeys = 0;
	size_t i;
	writer_op *op;
	int in_tx = 0;
	int rc;

	memset(&b, 0, sizeof(b));
	b.confs = confs;
	eps = batch_episodes(ops, &neps, &nrewards);
	for (op = ops; op != NULL; op = op->next)
		nkeys += op->kind == WOP_KEY;
	if (nrewards > 0 && confs->current.models != NULL)
		b.models = model_batch_new(confs->current.models);
	if (nrewards == 0 && nkeys == 0 && s->ops->episodes_commit != NULL) {
		/* The /predict hot path: one statement, committed by itself. */
		rc = s->ops->episodes_commit(s, eps, neps);
		if (rc != 0)
			goto failed;
		goto committed;
	}
	rc = s->ops->begin(s);
	if (rc != 0)
		goto out;
	in_tx = 1;
	if (neps > 0) {
		rc = s->ops->episodes_insert(s, eps, neps);
		if (rc != 0)
			goto failed;
	}
	if (nrewards > 0) {
		rc = attach_rewards(s, ops, nrewards, &b);
		if (rc != 0)
			goto failed;
	}
	/* Idempotency keys claimed on their own (POST /batch). */
	for (op = ops; nkeys > 0 && op != NULL; op = op->next) {
		if (op->kind == WOP_KEY && (rc = db_idem_claim(s, &op->kin)) != 0)
			goto failed;
	}
	if (b.deltas.n > 0)
		qsort(b.deltas.rows, b.deltas.n, sizeof(db_policy_row), delta_cmp);
	if (b.fold_out != NULL) {
		/* The insert, the upsert and the COMMIT in one round trip. */
		rc = db_rewards_insert_policy_commit(s, b.fold_in, b.fold_out, b.fold_n, b.deltas.rows,
		                                     b.deltas.n, keep_row, &b.committed);
		if (rc != 0)
			goto failed;
		i = 0;
		for (op = ops; op != NULL; op = op->next) {
			if (op->kind == WOP_REWARD)
				op->rout = b.fold_out[i++];
		}
		goto committed;
	}
	if (b.contextual == 0) {
		/* The upsert and the COMMIT in one round trip (store_exec_commit). */
		rc = db_policy_add_commit(s, b.deltas.rows, b.deltas.n, keep_row, &b.committed);
		if (rc != 0)
			goto failed;
		goto committed;
	}
	if (b.deltas.n > 0) {
		rc = db_policy_add(s, b.deltas.rows, b.deltas.n, keep_row, &b.committed);
		if (rc != 0)
			goto failed;
	}
	rc = model_batch_store(b.models, s);
	if (rc == 0)
		rc = s->ops->commit(s);
	if (rc != 0)
		goto failed;
committed:
	i = 0;
	for (op = ops; op != NULL; op = op->next) {
		if (op->kind == WOP_EPISODE)
			op->ep.id = eps[i++].id;
	}
	batch_publish(v, &b);
	for (op = ops; op != NULL; op = op->next)
		op->rc = op->kind == WOP_REWARD ? op->rout.rc : op->kind == WOP_KEY ? op->kin.result : 0;
	goto out;
failed:
	tx_failed(s, rc, in_tx, "batch");
out:
	if (rc != 0) {
		for (op = ops; op != NULL; op = op->next)
			op->rc = rc;
	}
	free(eps);
	free(b.fold_in);
	free(b.fold_out);
	model_batch_free(b.models);
	delta_free(&b.deltas);
	delta_free(&b.committed);
	return rc;
}

/* --- erasure (issue 16.3) ------------------------------------------------------ */

/*
 * Unlearns one stored reward of an erased customer, as attach_round learned
 * it: scored by score_reward with the configuration of its episode's
 * version (for the successes and the contextual examples), with the
 * rewards and the learned flag as stored (what the deltas added then).
 * *learned counts the rewards unlearned.
 */
static int unlearn(store *s, batch_ctx *b, const char *company, const char *customer_id,
                   db_erase_reward *r, int64_t *learned)
{
	int success[OFFERS_SHOWN] = {0};
	double stored[OFFERS_SHOWN];
	db_reward_in in;
	enum agent_policy p;
	int rc;

	if (!r->ep.learned)
		return 0;
	memset(&in, 0, sizeof(in));
	in.company = company;
	in.customer_id = customer_id;
	in.episode_id = r->ep.episode_id;
	in.accepted = r->accepted;
	in.accepted_offer = r->accepted_offer[0] != '\0' ? r->accepted_offer : NULL;
	in.clicked = r->clicked;
	in.is_default = r->is_default;
	memcpy(stored, r->ep.rewards, sizeof(stored));
	rc = score_reward(s, b, &in, &r->ep, success);
	if (rc != 0 || r->ep.rc != 0)
		return rc; /* an offer not shown: never stored, so never learned */
	memcpy(r->ep.rewards, stored, sizeof(stored));
	r->ep.learned = 1;
	for (int k = 0; k < r->ep.n_offers; k++)
		values_row_remove(delta_row(&b->deltas, company, r->ep.state_key, r->ep.offers[k]),
		                  r->ep.rewards[k], success[k]);
	(*learned)++;
	if (b->models != NULL && agent_policy_parse(r->ep.policy, &p) == 0 &&
	    agent_policy_contextual(p)) {
		/* Its age on the version's clock, for what forgetting left of it. */
		int64_t after = 0;

		rc = db_erase_age(s, company, r->ep.agent_version, r->ep.reward_id, &after);
		if (rc != 0)
			return rc;
		model_batch_set_age(b->models, (double)after);
	}
	return learn_contextual(s, b, &in, &r->ep, success);
}

/*
 * Forgets the customer of op in one transaction: locks its episodes (so a
 * reward another process attaches meanwhile waits, then finds none), takes
 * every learned reward's contribution out of TB_POLICY and TB_MODEL (the
 * same statements as learning, with negative deltas, so every process's
 * refresher installs the new rows by revision), deletes its rows and
 * records the erasure without the customer's id. Memory follows the commit.
 */
static int erase_tx(store *s, values *v, conf_cache *confs, writer_op *op)
{
	const char *company = op->rin.company;
	const char *customer_id = op->rin.customer_id;
	db_erasure *e = &op->erasure;
	db_erase_reward *rw = NULL;
	size_t nrw = 0;
	batch_ctx b;
	int in_tx = 0;
	int rc;

	memset(&b, 0, sizeof(b));
	b.confs = confs;
	e->company = company;
	e->episodes = e->rewards = e->learned = e->segments = 0;
	e->approximate = 0;
	if (confs->current.models != NULL)
		b.models = model_batch_new_erase(confs->current.models);
	rc = s->ops->begin(s);
	if (rc != 0)
		goto out;
	in_tx = 1;
	rc = db_customer_lock(s, company, customer_id, &e->episodes, &e->segments);
	if (rc != 0)
		goto failed;
	if (e->episodes == 0 && e->segments == 0) {
		rc = ERR_NOTFOUND;
		s->ops->rollback(s);
		goto out;
	}
	/* Chunk by chunk: the deltas and the model's sums stay one per (state, offer). */
	for (int64_t after = 0; rc == 0;) {
		db_erase_rewards_free(rw, nrw);
		rw = NULL;
		nrw = 0;
		rc = db_customer_rewards(s, company, customer_id, after, &rw, &nrw);
		e->rewards += (int64_t)nrw;
		for (size_t i = 0; rc == 0 && i < nrw; i++)
			rc = unlearn(s, &b, company, customer_id, &rw[i], &e->learned);
		if (nrw < DB_ERASE_CHUNK)
			break;
		after = rw[nrw - 1].ep.reward_id;
	}
	if (rc == 0 && b.deltas.n > 0) {
		qsort(b.deltas.rows, b.deltas.n, sizeof(db_policy_row), delta_cmp);
		rc = db_policy_add(s, b.deltas.rows, b.deltas.n, keep_row, &b.committed);
	}
	if (rc == 0 && b.models != NULL)
		rc = model_batch_store(b.models, s);
	if (rc == 0)
		rc = db_customer_delete(s, company, customer_id);
	e->approximate = model_batch_approximate(b.models);
	if (rc == 0)
		rc = db_erasure_record(s, e);
	if (rc != 0)
		goto failed;
	rc = s->ops->commit(s);
	if (rc != 0)
		goto failed;
	batch_publish(v, &b);
	/*
	 * The contact history of the caps (contact.c): this process drops the
	 * customer's when the call completes (server_contact_op); every other
	 * process reads its history again at its next refresh after seeing the
	 * new TB_ERASURES row (server.c, contact_after_erasures).
	 */
	log_msg(LOG_INFO, "erasure in company %s by %s: %lld episodes, %lld rewards (%lld learned)%s",
	        company, e->by, (long long)e->episodes, (long long)e->rewards, (long long)e->learned,
	        e->approximate ? ", model subtraction approximate (forgetting or logistic link)" : "");
	goto out;
failed:
	tx_failed(s, rc, in_tx, "erasure");
out:
	op->rc = rc;
	db_erase_rewards_free(rw, nrw);
	model_batch_free(b.models);
	delta_free(&b.deltas);
	delta_free(&b.committed);
	return rc;
}

/* writer_run_batch with the thread's cache of configurations. */
static int run_batch(store *s, values *v, conf_cache *confs, writer_op *ops)
{
	size_t nerase = 0;
	size_t nops = 0;
	int rc = 0;

	for (writer_op *op = ops; op != NULL; op = op->next) {
		nops++;
		nerase += op->kind == WOP_ERASE;
	}
	if (nops > nerase)
		rc = run_tx(s, v, confs, ops); /* ignores the erasures, then run alone */
	/*
	 * Isolate the operation that failed the batch. A batch of one gets its
	 * second attempt too: a reward whose episode an erasure (or retention)
	 * in another process deleted while the insert waited fails on the
	 * foreign key, and is then, alone, simply not found (404).
	 */
	if (rc != 0 && rc != ERR_UNAVAIL && nops > nerase) {
		for (writer_op *op = ops; op != NULL;) {
			writer_op *next = op->next;

			op->next = NULL;
			if (op->kind != WOP_ERASE)
				run_tx(s, v, confs, op);
			op->next = next;
			op = next;
		}
	}
	for (writer_op *op = ops; nerase > 0 && op != NULL; op = op->next) {
		if (op->kind == WOP_ERASE)
			erase_tx(s, v, confs, op);
	}
	return rc;
}

int writer_run_batch(store *s, values *v, const agent_conf *conf, writer_op *ops)
{
	conf_cache *confs = xcalloc(1, sizeof(*confs));
	int rc;

	confs->current = *conf;
	rc = run_batch(s, v, confs, ops);
	free(confs);
	return rc;
}

/* The histogram bucket of a batch of n: the first power of two >= n. */
static size_t size_bucket(size_t n)
{
	size_t b = 0;

	while (b + 1 < WRITER_SIZE_BUCKETS && ((size_t)1 << b) < n)
		b++;
	return b;
}

typedef struct writer_thread {
	writer *w;
	store *s;
	writer_queue *q;
} writer_thread;

static void *writer_main(void *arg)
{
	writer_thread *wt = arg;
	writer *w = wt->w;
	store *s = wt->s;
	writer_queue *q = wt->q;
	conf_cache *confs = xcalloc(1, sizeof(*confs));

	free(wt);
	for (;;) {
		writer_op *batch;
		writer_op *last;
		writer_op *op;
		size_t n = 1;
		agent_conf conf;

		pthread_mutex_lock(&w->lock);
		while (q->head == NULL && !w->stopping)
			pthread_cond_wait(&q->cond, &w->lock);
		if (q->head == NULL && w->stopping) {
			pthread_mutex_unlock(&w->lock);
			break;
		}
		batch = q->head;
		last = batch;
		while (last->next != NULL && n < w->batch_max) {
			last = last->next;
			n++;
		}
		q->head = last->next;
		if (q->head == NULL)
			q->tail = NULL;
		last->next = NULL;
		q->n -= n;
		w->queued -= n;
		pthread_mutex_unlock(&w->lock);

		w->conf_fn(w->conf_arg, &conf);
		confs_set_current(confs, &conf);
		run_batch(s, w->v, confs, batch);

		pthread_mutex_lock(&w->lock);
		w->stats.batches++;
		w->stats.ops += n;
		w->stats.last_batch = n;
		w->stats.batch_size[size_bucket(n)]++;
		for (op = batch; op != NULL; op = op->next) {
			if (op->rc != 0 && op->rc != ERR_NOTFOUND && op->rc != ERR_CONFLICT &&
			    op->rc != ERR_INVAL)
				w->stats.failures++;
			else if (op->kind == WOP_EPISODE)
				w->stats.episodes++;
			else if (op->rc == 0 && op->kind == WOP_REWARD && !op->rout.replayed)
				w->stats.rewards++;
		}
		pthread_mutex_unlock(&w->lock);
		/* done() may free the op: read next first. */
		for (op = batch; op != NULL;) {
			writer_op *next = op->next;

			op->done(op);
			op = next;
		}
	}
	free(confs);
	return NULL;
}

int writer_start(store **stores, size_t nstores, values *v, writer_conf_fn conf_fn, void *conf_arg,
                 size_t queue_max, size_t batch_max, writer **out)
{
	writer *w = xcalloc(1, sizeof(*w));

	if (nstores == 0 || nstores > WRITER_THREADS_MAX) {
		free(w);
		return ERR_INVAL;
	}
	w->nthreads = nstores;
	memcpy(w->stores, stores, nstores * sizeof(store *));
	w->v = v;
	w->conf_fn = conf_fn;
	w->conf_arg = conf_arg;
	w->queue_max = queue_max;
	w->batch_max = batch_max ? batch_max : 1;
	pthread_mutex_init(&w->lock, NULL);
	w->nqueues = nstores;
	for (size_t i = 0; i < nstores; i++)
		pthread_cond_init(&w->q[i].cond, NULL);
	for (size_t i = 0; i < nstores; i++) {
		writer_thread *wt = xmalloc(sizeof(*wt));

		wt->w = w;
		wt->s = stores[i];
		wt->q = &w->q[i];
		if (pthread_create(&w->threads[i], NULL, writer_main, wt) != 0) {
			free(wt);
			writer_stop(w);
			writer_free(w);
			return ERR_IO;
		}
		w->running++;
	}
	*out = w;
	return 0;
}

/*
 * The queue for op. A customer's rewards always share one. Episodes fill the
 * first queue up to one batch: a batch of appends costs one commit whatever
 * its size, so one writer with full batches spends less (measured on
 * PostgreSQL: 19-22 us of server CPU per episode against 34-39 with the
 * episodes spread over two writers); only beyond a full batch do they spill
 * to the shortest queue, so that commits overlap when one writer falls
 * behind. Rewards always take the first queue: spread over two writers by
 * customer (as they were), each reward cost 64 us of offerd's CPU and 148 of
 * PostgreSQL's, against 48 and 97 on one writer (docs/performance.md): two
 * small transactions updating the same few TB_POLICY rows wait on each
 * other's row locks and commit twice as often. An erasure takes the same
 * queue, so it runs after the customer's rewards already waiting.
 */
static writer_queue *queue_for(writer *w, const writer_op *op)
{
	size_t best = 0;

	if (op->kind == WOP_REWARD || op->kind == WOP_ERASE)
		return &w->q[0];
	if (w->q[0].n < w->batch_max)
		return &w->q[0];
	for (size_t i = 1; i < w->nthreads; i++) {
		if (w->q[i].n < w->q[best].n)
			best = i;
	}
	return &w->q[best];
}

int writer_submit(writer *w, writer_op *op)
{
	writer_queue *q;

	op->next = NULL;
	pthread_mutex_lock(&w->lock);
	if (w->stopping || w->queued >= w->queue_max) {
		pthread_mutex_unlock(&w->lock);
		return ERR_UNAVAIL;
	}
	q = queue_for(w, op);
	if (q->tail != NULL)
		q->tail->next = op;
	else
		q->head = op;
	q->tail = op;
	q->n++;
	w->queued++;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

void writer_stop(writer *w)
{
	if (w == NULL || w->nthreads == 0)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = 1;
	for (size_t i = 0; i < w->nthreads; i++)
		pthread_cond_broadcast(&w->q[i].cond);
	pthread_mutex_unlock(&w->lock);
	for (int i = 0; i < w->running; i++)
		pthread_join(w->threads[i], NULL);
	w->running = 0;
	for (size_t i = 0; i < w->nthreads; i++)
		store_close(w->stores[i]);
	w->nthreads = 0;
}

void writer_free(writer *w)
{
	if (w == NULL)
		return;
	pthread_mutex_destroy(&w->lock);
	for (size_t i = 0; i < w->nqueues; i++)
		pthread_cond_destroy(&w->q[i].cond);
	free(w);
}

void writer_get_stats(writer *w, writer_stats *out)
{
	pthread_mutex_lock(&w->lock);
	*out = w->stats;
	out->queued = w->queued;
	pthread_mutex_unlock(&w->lock);
}
