/*
 * ctl_train.c — `offerctl train`: the warm start of the self-learning agent
 * from purchase history. rfm.c does the data work (parse, RFM segments,
 * states, priors); this file parses the flags, stores the customer segments
 * (so /predict knows known customers' segments) and the priors of every
 * (state, product) through db.h, and prints a summary with the time of each
 * phase, so a slow phase is visible at once.
 *
 *   offerctl train --transactions FILE [--database-url URL] [--company C]
 *                  [--prior-weight W] [--dry-run]
 */
#include "ctl.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "rfm.h"
#include "store.h"
#include "util.h"

/*
 * Priors go to the database in batches: each db_policy_set_priors call is
 * one transaction, big enough that commits are rare, small enough that an
 * error names a small range and one transaction stays modest on PostgreSQL.
 */
#define TRAIN_BATCH 20000

typedef struct train_opts {
	char *transactions;
	char *database_url;
	char *company;
	double prior_weight;
	int dry_run;
} train_opts;

typedef struct train_times {
	double parse, rfm, priors, store_open, store_segments, store_priors, total;
} train_times;

#define O(field) offsetof(train_opts, field)

static const config_opt opts[] = {
    {"transactions FILE", NULL, CONFIG_STR, O(transactions), NULL, 0, 0,
     "transactions CSV, plain or gzip (UCI Online Retail columns; required)"},
    CTL_OPT_DATABASE_URL(train_opts, database_url),
    CTL_OPT_COMPANY(train_opts, company, "A", "tenant the segments and priors belong to"),
    {"prior-weight W", NULL, CONFIG_DBL, O(prior_weight), "1", 0, 1e6,
     "observations each prior is worth"},
    {"dry-run", NULL, CONFIG_FLAG, O(dry_run), NULL, 0, 0,
     "compute and print the summary, store nothing"},
};

static int store_segments(store *s, const train_opts *o, const rfm_data *d)
{
	db_segment *rows = xmalloc((d->ncustomers ? d->ncustomers : 1) * sizeof(*rows));
	size_t n = 0;
	int rc;

	for (size_t i = 0; i < d->ncustomers; i++) {
		const rfm_customer *c = &d->customers[i];

		/* Customers with returns only have no segment: /predict falls back for them. */
		if (c->segment < 0)
			continue;
		rows[n].customer_id = c->id;
		rows[n].segment = rfm_segment_name(c->segment);
		n++;
	}
	rc = db_segments_replace(s, o->company, rows, n);
	if (rc != 0)
		log_msg(LOG_ERROR, "storing %zu segments: %s", n, s->ops->errmsg(s));
	free(rows);
	return rc;
}

static int store_priors(store *s, const train_opts *o, const rfm_data *d)
{
	char keys[RFM_STATES][RFM_STATE_KEY_MAX];
	db_policy_row *rows = xcalloc(TRAIN_BATCH, sizeof(*rows));
	int rc = 0;

	for (int st = 0; st < RFM_STATES; st++) {
		rc = rfm_state_key_of(st, keys[st], sizeof(keys[st]));
		if (rc != 0)
			goto out;
	}
	for (size_t first = 0; first < d->npriors; first += TRAIN_BATCH) {
		size_t n = d->npriors - first < TRAIN_BATCH ? d->npriors - first : TRAIN_BATCH;

		for (size_t i = 0; i < n; i++) {
			const rfm_prior *p = &d->priors[first + i];
			db_policy_row *r = &rows[i];

			memset(r, 0, sizeof(*r));
			r->company = o->company;
			r->state_key = keys[p->state];
			r->offer = d->products[p->product];
			r->prior_value = p->value;
			r->prior_weight = p->weight;
			r->alpha = p->alpha;
			r->beta = p->beta;
		}
		rc = db_policy_set_priors(s, rows, n);
		if (rc != 0) {
			log_msg(LOG_ERROR, "storing priors %zu..%zu: %s", first, first + n - 1,
			        s->ops->errmsg(s));
			goto out;
		}
	}
out:
	free(rows);
	return rc;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a;
	size_t y = *(const size_t *)b;

	return (x > y) - (x < y);
}

static void print_clusters(const char *name, const rfm_clusters *c, const char *fmt_unit)
{
	printf("  %-10s", name);
	for (int i = 0; i < c->k; i++)
		printf("%s%.0f-%.0f (%lld)", i ? " | " : "", c->lo[i], c->hi[i], (long long)c->count[i]);
	printf(" %s\n", fmt_unit);
}

static void print_summary(const train_opts *o, const rfm_data *d, const train_times *t)
{
	const rfm_read_stats *r = &d->read;
	size_t per_state[RFM_STATES];
	int per_segment[RFM_SEGMENTS] = {0};
	size_t ns = 0;
	double median = 0;

	for (int s = 0; s < RFM_STATES; s++) {
		size_t n = d->state_first[s + 1] - d->state_first[s];

		if (n == 0)
			continue;
		per_state[ns++] = n;
		per_segment[s / RFM_COMBOS]++;
	}
	qsort(per_state, ns, sizeof(per_state[0]), cmp_size);
	if (ns > 0)
		median = ns % 2 ? (double)per_state[ns / 2]
		                : ((double)per_state[ns / 2 - 1] + (double)per_state[ns / 2]) / 2;

	printf("offerctl train: %s (%s), company %s%s\n", o->transactions, r->gzip ? "gzip" : "plain",
	       o->company, o->dry_run ? ", dry run: nothing stored" : "");
	printf("rows: %lld read; skipped %lld without CustomerID, %lld non-product (POST, DOT, M, ...),"
	       " %lld zero quantity, %lld malformed; %lld returns netted\n",
	       (long long)r->rows, (long long)r->no_customer, (long long)r->non_product,
	       (long long)r->zero_quantity, (long long)r->malformed, (long long)r->returns);
	printf("customers: %zu; per segment Q1 %lld, Q2 %lld, Q3 %lld, Q4 %lld;"
	       " %lld with returns only (no segment)\n",
	       d->ncustomers, (long long)d->segment_count[0], (long long)d->segment_count[1],
	       (long long)d->segment_count[2], (long long)d->segment_count[3], (long long)d->no_segment);
	printf("  (with the brief's inverted recency ranking: Q1 %lld, Q2 %lld, Q3 %lld, Q4 %lld)\n",
	       (long long)d->brief_segment_count[0], (long long)d->brief_segment_count[1],
	       (long long)d->brief_segment_count[2], (long long)d->brief_segment_count[3]);
	printf("clusters (range and customers, rank 0 first):\n");
	print_clusters("recency", &d->clusters[0], "days first to last purchase");
	print_clusters("frequency", &d->clusters[1], "repeat purchase days");
	print_clusters("monetary", &d->clusters[2], "mean net value of a repeat day");
	printf("states: %d (Q1 %d, Q2 %d, Q3 %d, Q4 %d)\n", d->nstates, per_segment[0], per_segment[1],
	       per_segment[2], per_segment[3]);
	printf("products per state: min %zu, median %g, max %zu; %zu priors of weight %g"
	       " (%lld netted to <= 0 and left out)\n",
	       ns ? per_state[0] : 0, median, ns ? per_state[ns - 1] : 0, d->npriors, o->prior_weight,
	       (long long)d->dropped_nonpositive);
	printf("time: parse %.2f s, rfm %.2f s, priors %.2f s, ", t->parse, t->rfm, t->priors);
	if (o->dry_run)
		printf("store skipped (dry run), total %.2f s\n", t->total);
	else
		printf("store %.2f s (open+migrate %.2f s, segments %.2f s, priors %.2f s),"
		       " total %.2f s\n",
		       t->store_open + t->store_segments + t->store_priors, t->store_open,
		       t->store_segments, t->store_priors, t->total);
}

static int run(ctl_cmd *c)
{
	const train_opts *o = c->opts;
	train_times t;
	rfm_config cfg;
	rfm_data d;
	store *s;
	double t0 = util_monotonic();
	double mark = t0;
	int code = 1;
	int rc;

	memset(&t, 0, sizeof(t));
	rfm_data_init(&d);
	rfm_config_init(&cfg);
	cfg.prior_weight = o->prior_weight;

	rc = rfm_read_file(&d, o->transactions);
	if (rc != 0)
		goto out;
	t.parse = util_monotonic() - mark;
	mark = util_monotonic();
	rc = rfm_segment(&d);
	if (rc != 0)
		goto out;
	t.rfm = util_monotonic() - mark;
	mark = util_monotonic();
	rc = rfm_priors(&d, &cfg);
	if (rc != 0)
		goto out;
	t.priors = util_monotonic() - mark;

	if (!o->dry_run) {
		mark = util_monotonic();
		rc = ctl_store(c, &s);
		if (rc != 0)
			goto out;
		t.store_open = util_monotonic() - mark;
		mark = util_monotonic();
		rc = store_segments(s, o, &d);
		if (rc != 0)
			goto out;
		t.store_segments = util_monotonic() - mark;
		mark = util_monotonic();
		rc = store_priors(s, o, &d);
		if (rc != 0)
			goto out;
		t.store_priors = util_monotonic() - mark;
	}
	t.total = util_monotonic() - t0;
	print_summary(o, &d, &t);
	code = 0;
out:
	if (rc != 0)
		fprintf(stderr, "offerctl train: failed (error %d)\n", rc);
	rfm_data_free(&d);
	return code;
}

/* Returns -1 to go on, else 2 after reporting a usage error. */
static int check(const ctl_cmd *c)
{
	const train_opts *o = c->opts;

	if (o->transactions == NULL || o->transactions[0] == '\0')
		return ctl_usage(c->spec, "--transactions FILE is required");
	return -1;
}

/* Exit codes: 0 done (or --help), 1 failed, 2 bad usage. */
const ctl_spec ctl_train_spec = {
    CTL_USAGE("train",
              " --transactions FILE [--database-url URL] [--company C]\n"
              "                      [--prior-weight W] [--dry-run]",
              "Warm-starts the agent from purchase history: RFM segments of the customers\n"
              "and priors of every (state, product).\n"),
    CTL_OPTS(opts, train_opts),
    .check = check,
    .run = run,
};
