/*
 * metrics.h — counters and histograms, rendered in Prometheus text format
 * at GET /metrics. Updates are lock-free atomics except the per-version
 * acceptance table, which takes a mutex once per reward.
 */
#ifndef OFFERD_METRICS_H
#define OFFERD_METRICS_H

#include "agent.h"
#include "db.h"
#include "util.h"

/* How many route labels metrics_label keeps, "other" included. */
#define METRICS_LABELS_MAX 48
/*
 * Registers a route label (a string that outlives the process, such as the
 * route table's); at start, before any request: it is not thread-safe. A
 * label already registered changes nothing; one past METRICS_LABELS_MAX is
 * not kept (its requests count as "other") and returns ERR_RANGE.
 */
int metrics_label(const char *label);
/* Counts one answered request of a route label with its status and duration;
 * a label not registered counts as "other". */
void metrics_request(const char *label, int status, double seconds);
/* Counts one reward committed for an agent version. */
void metrics_reward(const char *agent_version, int accepted);
/* Counts a decision by policy. */
void metrics_decision(enum agent_policy policy);
/* Rows processed by /batch. */
void metrics_batch_rows(int ok);

/* One arm of a company's experiment (experiment.h), as the refresher counted it. */
typedef struct metrics_arm {
	char company[DB_COMPANY_MAX];
	char version[64];
	const char *arm; /* champion, challenger or shadow */
	double traffic;
	long long decisions, rewards;
	double acceptance, lo, hi;
	double p_better; /* NAN: none (no line) */
} metrics_arm;

/* Gauges and counters owned by others, filled in at render time. */
typedef struct metrics_extra {
	unsigned long long episodes, rewards, batches, writer_failures;
	unsigned long queue_depth, last_batch, connections, values;
	unsigned long long batch_size[12]; /* writer_stats.batch_size, non-cumulative */
	unsigned long long batch_ops;      /* operations over all batches */
	unsigned long long contact_rows;   /* rows read for the contact history (server.h) */
	const char *agent_version;
	const char *policy;
	const char *store;
	const metrics_arm *arms; /* the experiments' arms, per company */
	size_t narms;
} metrics_extra;

/* Appends the exposition text to b: 0, or ERR_TOOBIG past b's limit (b is then freed). */
int metrics_render(buf *b, const metrics_extra *x) __attribute__((warn_unused_result));

#endif
