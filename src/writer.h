/*
 * writer.h — group commit. Request threads queue operations (an episode to
 * insert, a reward to attach) and suspend; one writer thread takes up to
 * batch_max queued operations, commits them in one transaction (episodes,
 * rewards and the learned statistics they change), updates the in-memory
 * values from the committed rows, and only then calls each operation's done
 * callback. So an answer is sent only for work that is durable, and the cost
 * of a commit (an fsync) is shared by the whole batch.
 */
#ifndef OFFERD_WRITER_H
#define OFFERD_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "db.h"
#include "store.h"
#include "values.h"

enum writer_kind { WOP_EPISODE = 1, WOP_REWARD = 2, WOP_KEY = 3, WOP_ERASE = 4 };

typedef struct writer_op writer_op;

struct writer_op {
	enum writer_kind kind;
	episode ep;       /* WOP_EPISODE: strings borrowed from the owner */
	db_reward_in rin; /* WOP_REWARD */
	db_reward_out rout;
	db_idem_in kin; /* WOP_KEY: an Idempotency-Key to claim (rc: its result) */
	/*
	 * WOP_ERASE (issue 16.3): the customer rin.company, rin.customer_id is
	 * forgotten in a transaction of its own, in the queue of its rewards;
	 * erasure.by says who asked; the writer fills the counts. rc
	 * ERR_NOTFOUND: no episode and no segment.
	 */
	db_erasure erasure;
	int rc; /* out: 0 or ERR_* */
	/* Called once, from the writer thread, after the commit (or failure). */
	void (*done)(writer_op *op);
	void *arg;
	writer_op *next;
};

/*
 * The writer asks for the current agent configuration before each batch. A
 * reward is scored with the configuration of its episode's agent version:
 * the current one, or an older one the writer reads from TB_AGENTS (and
 * keeps until the current configuration changes).
 */
typedef void (*writer_conf_fn)(void *arg, agent_conf *out);

/* Batch-size histogram buckets: at most 1, 2, 4, ... 1024 operations, then more. */
#define WRITER_SIZE_BUCKETS 12

typedef struct writer_stats {
	uint64_t batches;
	uint64_t batch_size[WRITER_SIZE_BUCKETS]; /* batches per bucket (not cumulative) */
	uint64_t ops;
	uint64_t episodes;
	uint64_t rewards;
	uint64_t failures;
	size_t queued; /* now */
	size_t last_batch;
} writer_stats;

typedef struct writer writer;

/*
 * Starts one writer thread per store (which the writer then owns and
 * closes). Several threads let commits overlap on PostgreSQL, whose own
 * group commit merges their WAL flushes; SQLite wants one.
 * queue_max bounds the queue: writer_submit fails with ERR_UNAVAIL beyond it.
 */
int writer_start(store **stores, size_t nstores, values *v, writer_conf_fn conf_fn, void *conf_arg,
                 size_t queue_max, size_t batch_max, writer **out);
/* Queues op; returns 0, or ERR_UNAVAIL when full or stopping (done is not called). */
int writer_submit(writer *w, writer_op *op);
/*
 * Commits everything queued and stops the thread; later submits fail with
 * ERR_UNAVAIL. writer_free releases w once no thread can submit any more.
 */
void writer_stop(writer *w);
void writer_free(writer *w);
void writer_get_stats(writer *w, writer_stats *out);

/* Runs ops synchronously on s (offerctl, tests): same code as the thread. */
int writer_run_batch(store *s, values *v, const agent_conf *conf, writer_op *ops);

#endif
