/*
 * metrics.c — fixed tables indexed by route label and status code (the
 * labels are the route table's, registered at start: api_metrics_routes). Label
 * values that come from data (agent versions, policy and store names) are
 * escaped as the exposition format requires (\\, \" and \n), so a version
 * string can never break the text a scraper reads.
 */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define M_STATUS 600
#define M_VERSIONS 64

/* Index 0 is "other": a request no route took, or a label not registered. */
#define M_LABELS METRICS_LABELS_MAX
static const char *labels[M_LABELS] = {"other"};
static size_t nlabels = 1;

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05,   0.1,   0.25,   0.5,   1,    2.5};
#define M_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

static atomic_ullong requests[M_LABELS][M_STATUS];
static atomic_ullong hist[M_LABELS][M_BUCKETS + 1];
static atomic_ullong hist_sum_us[M_LABELS];
static atomic_ullong decisions[AGENT_POLICY_COUNT];
static atomic_ullong batch_rows[2];

static pthread_mutex_t vlock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char version[64];
	unsigned long long rewards, accepted;
} versions[M_VERSIONS];
static size_t nversions;

/*
 * Appends a label value in double quotes, escaped as the Prometheus text
 * format requires: backslash, double quote and line feed. NULL is "".
 */
static int label_value(buf *b, const char *v)
{
	int rc = 0;

	rc |= buf_add(b, "\"", 1);
	for (const char *p = v != NULL ? v : ""; *p != '\0'; p++) {
		size_t run = strcspn(p, "\\\"\n");

		rc |= buf_add(b, p, run);
		p += run;
		if (*p == '\0')
			break;
		rc |= buf_add(b, *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : "\\n", 2);
	}
	rc |= buf_add(b, "\"", 1);
	return rc != 0 ? ERR_TOOBIG : 0;
}

int metrics_label(const char *label)
{
	for (size_t i = 0; i < nlabels; i++) {
		if (strcmp(labels[i], label) == 0)
			return 0;
	}
	if (nlabels == M_LABELS)
		return ERR_RANGE;
	labels[nlabels++] = label;
	return 0;
}

static size_t label_index(const char *label)
{
	for (size_t i = 1; i < nlabels; i++) {
		if (strcmp(labels[i], label) == 0)
			return i;
	}
	return 0;
}

void metrics_request(const char *label, int status, double seconds)
{
	size_t l = label_index(label);
	size_t b = 0;

	if (status < 0 || status >= M_STATUS)
		status = 0;
	atomic_fetch_add_explicit(&requests[l][status], 1, memory_order_relaxed);
	while (b < M_BUCKETS && seconds > buckets[b])
		b++;
	atomic_fetch_add_explicit(&hist[l][b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&hist_sum_us[l], (unsigned long long)(seconds * 1e6),
	                          memory_order_relaxed);
}

void metrics_decision(enum agent_policy policy)
{
	if ((int)policy >= 0 && policy < AGENT_POLICY_COUNT)
		atomic_fetch_add_explicit(&decisions[policy], 1, memory_order_relaxed);
}

void metrics_batch_rows(int ok)
{
	atomic_fetch_add_explicit(&batch_rows[ok ? 1 : 0], 1, memory_order_relaxed);
}

void metrics_reward(const char *agent_version, int accepted)
{
	size_t i;

	pthread_mutex_lock(&vlock);
	for (i = 0; i < nversions; i++) {
		if (strcmp(versions[i].version, agent_version) == 0)
			break;
	}
	if (i == nversions && nversions < M_VERSIONS) {
		util_strlcpy(versions[i].version, agent_version, sizeof(versions[i].version));
		nversions++;
	}
	if (i < nversions) {
		versions[i].rewards++;
		versions[i].accepted += accepted ? 1 : 0;
	}
	pthread_mutex_unlock(&vlock);
}

/* A label set {name="value",...} of n pairs kv[2i] = name, kv[2i+1] = value. */
static int label_set(buf *b, const char *const *kv, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		rc |= buf_adds(b, i == 0 ? "{" : ",");
		rc |= buf_adds(b, kv[2 * i]);
		rc |= buf_adds(b, "=");
		rc |= label_value(b, kv[2 * i + 1]);
	}
	rc |= buf_adds(b, "}");
	return rc != 0 ? ERR_TOOBIG : 0;
}

/* The labels {company="...",version="...",arm="..."} of an arm. */
static int arm_labels(buf *b, const metrics_arm *a)
{
	const char *kv[] = {"company", a->company, "version", a->version, "arm", a->arm};

	return label_set(b, kv, UTIL_ARRAY_LEN(kv) / 2);
}

/*
 * Champion/challenger (experiment.h): gauges per company, version and arm,
 * counted by the refresher from the database since the experiment began,
 * so every process reports the same values.
 */
static int render_arms(buf *b, const metrics_arm *arms, size_t n)
{
	static const struct {
		const char *name;
		const char *help;
	} m[] = {
	    {"offerd_experiment_traffic_percent", "Share of each company's customers an arm serves."},
	    {"offerd_experiment_decisions", "Decisions of an arm since the experiment began (a "
	                                    "shadow's: its logged slates)."},
	    {"offerd_experiment_rewards", "Rewards of an arm's decisions since the experiment began."},
	    {"offerd_experiment_acceptance", "Accepted rewards over rewards of an arm."},
	    {"offerd_experiment_acceptance_ci95_low", "Wilson 95% interval of the acceptance, low."},
	    {"offerd_experiment_acceptance_ci95_high", "Wilson 95% interval of the acceptance, high."},
	    {"offerd_experiment_p_better", "Probability that the challenger's acceptance beats the "
	                                   "champion's (Beta posteriors, Monte Carlo)."},
	};
	int rc = 0;

	for (size_t k = 0; k < UTIL_ARRAY_LEN(m); k++) {
		rc |= buf_addf(b, "# HELP %s %s\n# TYPE %s gauge\n", m[k].name, m[k].help, m[k].name);
		for (size_t i = 0; i < n; i++) {
			const metrics_arm *a = &arms[i];
			double v[] =
			    {a->traffic, (double)a->decisions, (double)a->rewards, a->acceptance, a->lo,
			     a->hi,      a->p_better};

			if (isnan(v[k]))
				continue;
			rc |= buf_adds(b, m[k].name);
			rc |= arm_labels(b, a);
			rc |= buf_addf(b, " %.6g\n", v[k]);
		}
	}
	return rc != 0 ? ERR_TOOBIG : 0;
}

int metrics_render(buf *b, const metrics_extra *x)
{
	const char *build[] = {"version", OFFERD_VERSION, "agent_version", x->agent_version,
	                       "policy",  x->policy,      "store",         x->store};
	int rc = 0;

	rc |= buf_adds(b, "# HELP offerd_build_info Build information.\n# TYPE offerd_build_info gauge\n"
	                  "offerd_build_info");
	rc |= label_set(b, build, UTIL_ARRAY_LEN(build) / 2);
	rc |= buf_adds(b, " 1\n");
	rc |= buf_adds(b, "# HELP offerd_http_requests_total Requests answered, by route and status.\n"
	                  "# TYPE offerd_http_requests_total counter\n");
	for (size_t l = 0; l < nlabels; l++) {
		for (int s = 0; s < M_STATUS; s++) {
			unsigned long long v = atomic_load(&requests[l][s]);

			if (v > 0)
				rc |= buf_addf(
				    b, "offerd_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
				    labels[l], s, v);
		}
	}
	rc |= buf_adds(b, "# HELP offerd_http_request_duration_seconds Time from headers to answer.\n"
	                  "# TYPE offerd_http_request_duration_seconds histogram\n");
	for (size_t l = 0; l < nlabels; l++) {
		unsigned long long cum = 0;

		for (size_t k = 0; k <= M_BUCKETS; k++) {
			cum += atomic_load(&hist[l][k]);
			if (k < M_BUCKETS)
				rc |= buf_addf(
				    b,
				    "offerd_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
				    labels[l], buckets[k], cum);
			else
				rc |= buf_addf(
				    b,
				    "offerd_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
				    labels[l], cum);
		}
		rc |= buf_addf(b, "offerd_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
		               labels[l], (double)atomic_load(&hist_sum_us[l]) / 1e6);
		rc |= buf_addf(b, "offerd_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
		               labels[l], cum);
	}
	rc |= buf_adds(b, "# HELP offerd_decisions_total Decisions made, by policy.\n"
	                  "# TYPE offerd_decisions_total counter\n");
	for (int p = 0; p < AGENT_POLICY_COUNT; p++)
		rc |= buf_addf(b, "offerd_decisions_total{policy=\"%s\"} %llu\n",
		               agent_policy_name((enum agent_policy)p), atomic_load(&decisions[p]));
	rc |=
	    buf_addf(b,
	             "# HELP offerd_episodes_written_total Episodes committed to TB_EPISODES.\n"
	             "# TYPE offerd_episodes_written_total counter\nofferd_episodes_written_total %llu\n"
	             "# HELP offerd_rewards_written_total Rewards committed to TB_REWARDS.\n"
	             "# TYPE offerd_rewards_written_total counter\nofferd_rewards_written_total %llu\n"
	             "# HELP offerd_db_batches_total Database transactions of the writer.\n"
	             "# TYPE offerd_db_batches_total counter\nofferd_db_batches_total %llu\n"
	             "# HELP offerd_db_failures_total Operations failed by the database.\n"
	             "# TYPE offerd_db_failures_total counter\nofferd_db_failures_total %llu\n"
	             "# HELP offerd_db_queue_depth Operations waiting for the writer.\n"
	             "# TYPE offerd_db_queue_depth gauge\nofferd_db_queue_depth %lu\n"
	             "# HELP offerd_db_last_batch_size Operations in the last transaction.\n"
	             "# TYPE offerd_db_last_batch_size gauge\nofferd_db_last_batch_size %lu\n"
	             "# HELP offerd_http_connections Open connections.\n"
	             "# TYPE offerd_http_connections gauge\nofferd_http_connections %lu\n"
	             "# HELP offerd_policy_entries Learned (state, offer) entries in memory.\n"
	             "# TYPE offerd_policy_entries gauge\nofferd_policy_entries %lu\n",
	             x->episodes, x->rewards, x->batches, x->writer_failures, x->queue_depth,
	             x->last_batch, x->connections, x->values);
	{
		unsigned long long cum = 0;

		rc |= buf_adds(b, "# HELP offerd_db_batch_size Operations per writer transaction.\n"
		                  "# TYPE offerd_db_batch_size histogram\n");
		for (size_t i = 0; i < UTIL_ARRAY_LEN(x->batch_size); i++) {
			cum += x->batch_size[i];
			if (i + 1 < UTIL_ARRAY_LEN(x->batch_size))
				rc |= buf_addf(b, "offerd_db_batch_size_bucket{le=\"%zu\"} %llu\n",
				               (size_t)1 << i, cum);
			else
				rc |= buf_addf(b, "offerd_db_batch_size_bucket{le=\"+Inf\"} %llu\n",
				               cum);
		}
		rc |= buf_addf(b, "offerd_db_batch_size_sum %llu\nofferd_db_batch_size_count %llu\n",
		               x->batch_ops, cum);
	}
	rc |= buf_addf(
	    b,
	    "# HELP offerd_contact_rows_read_total Episodes and accepting rewards the "
	    "refresher read for the contact history (the ones this process did not have).\n"
	    "# TYPE offerd_contact_rows_read_total counter\nofferd_contact_rows_read_total %llu\n",
	    x->contact_rows);
	rc |= buf_addf(b,
	               "# HELP offerd_batch_rows_total CSV rows processed by /batch.\n"
	               "# TYPE offerd_batch_rows_total counter\n"
	               "offerd_batch_rows_total{status=\"ok\"} %llu\n"
	               "offerd_batch_rows_total{status=\"error\"} %llu\n",
	               atomic_load(&batch_rows[1]), atomic_load(&batch_rows[0]));
	rc |= buf_adds(b, "# HELP offerd_rewards_total Rewards by agent version.\n"
	                  "# TYPE offerd_rewards_total counter\n"
	                  "# HELP offerd_acceptance_rate Share of rewards accepted, by agent version.\n"
	                  "# TYPE offerd_acceptance_rate gauge\n");
	pthread_mutex_lock(&vlock);
	for (size_t i = 0; i < nversions; i++) {
		rc |= buf_adds(b, "offerd_rewards_total{agent_version=");
		rc |= label_value(b, versions[i].version);
		rc |= buf_addf(b, ",accepted=\"true\"} %llu\n", versions[i].accepted);
		rc |= buf_adds(b, "offerd_rewards_total{agent_version=");
		rc |= label_value(b, versions[i].version);
		rc |= buf_addf(b, ",accepted=\"false\"} %llu\n",
		               versions[i].rewards - versions[i].accepted);
		rc |= buf_adds(b, "offerd_acceptance_rate{agent_version=");
		rc |= label_value(b, versions[i].version);
		rc |= buf_addf(b, "} %.6f\n",
		               versions[i].rewards
		                   ? (double)versions[i].accepted / (double)versions[i].rewards
		                   : 0.0);
	}
	pthread_mutex_unlock(&vlock);
	rc |= render_arms(b, x->arms, x->narms);
	if (rc != 0) {
		/* Appends after the overflow started b again: drop that tail too. */
		buf_free(b);
		return ERR_TOOBIG;
	}
	return 0;
}
