/*
 * rfm.h — the warm start of the self-learning brief, computed from a
 * transactions file (the UCI Online Retail columns): RFM per customer, four
 * 1-D k-means clusters per measure, a segment Q1..Q4 per customer, and from
 * the purchase quantities a prior value per (state, product) on the reward
 * scale of the learning agent. offerctl train (ctl_train.c) stores the
 * result; this module never touches the database.
 *
 * The work is split into three calls so that offerctl can time each phase:
 *   rfm_read_file()  parse the CSV (plain or gzip) into compact rows
 *   rfm_segment()    RFM, k-means, scores and segments per customer
 *   rfm_priors()     states and the prior of every (state, product)
 * rfm_run() does all three.
 */
#ifndef OFFERD_RFM_H
#define OFFERD_RFM_H

#include <stddef.h>
#include <stdint.h>

#include "intern.h"

#define RFM_SEGMENTS 4          /* Q1..Q4 */
#define RFM_CLUSTERS 4          /* k of the per-measure k-means */
#define RFM_COMBOS (12 * 2 * 7) /* month x half x weekday */
#define RFM_STATES (RFM_SEGMENTS * RFM_COMBOS)
#define RFM_STATE_KEY_MAX 32   /* "Q4_September_1_Wednesday" is 24 */
#define RFM_FIELD_MAX 256      /* longest InvoiceNo / StockCode / CustomerID kept */
#define RFM_ROWS_MAX 100000000 /* hard limit on data rows of one file */
#define RFM_COLUMNS_MAX 64     /* hard limit on columns of one row */

/* The reward scale of the learning agent (issue 3): accepted +5, ignored -2. */
#define RFM_REWARD_ACCEPT 5.0
#define RFM_REWARD_IGNORE (-2.0)

typedef struct rfm_config {
	/* How many observations each prior is worth (offerctl --prior-weight). */
	double prior_weight;
} rfm_config;

/* Defaults: prior weight 1. */
void rfm_config_init(rfm_config *c);

/* Counters of the parse phase, for the summary and the tests. */
typedef struct rfm_read_stats {
	int64_t rows;          /* data rows read (header excluded) */
	int64_t no_customer;   /* skipped: empty CustomerID */
	int64_t non_product;   /* skipped: POST, DOT, M, BANK CHARGES... (with a customer) */
	int64_t returns;       /* kept, netted: InvoiceNo C... or negative quantity */
	int64_t zero_quantity; /* skipped: quantity 0 */
	int64_t malformed;     /* skipped: bad number, date or too few columns */
	int gzip;              /* 1 when the file was gzip */
} rfm_read_stats;

typedef struct rfm_customer {
	char *id;          /* CustomerID, "17850.0" normalised to "17850"; owned */
	int32_t days;      /* purchase days (days with a purchase line) */
	int32_t first_day; /* days since 1970-01-01 of the first purchase day */
	int32_t last_day;
	int32_t recency;      /* last - first purchase day, in days (the brief's recency) */
	int32_t frequency;    /* purchase days - 1 */
	double monetary;      /* mean net value of the repeat purchase days; 0 if none */
	int8_t rank[3];       /* cluster rank of R, F, M: 0 = lowest centre */
	int8_t score;         /* rank[0] + rank[1] + rank[2], 0..9 */
	int8_t segment;       /* 0..3 for Q1..Q4; -1: no purchase day, no segment */
	int8_t brief_segment; /* the segment with the brief's inverted recency ranking */
} rfm_customer;

/* One (state, product) prior, ready for db_policy_set_priors. */
typedef struct rfm_prior {
	uint16_t state;     /* state index, see rfm_state_key_of() */
	uint32_t product;   /* index into rfm_data.products */
	int64_t quantity;   /* net quantity bought in the state (returns netted), > 0 */
	double propensity;  /* ln(1 + q) / ln(1 + q_max of the state), in (0, 1] */
	double value;       /* -2 + 7 * propensity: on the reward scale [-2, 5] */
	double weight;      /* config prior_weight */
	double alpha, beta; /* Beta(1 + w p, 1 + w (1 - p)) for Thompson sampling */
} rfm_prior;

/* One 1-D k-means result: clusters are contiguous ranges of the sorted values. */
typedef struct rfm_clusters {
	int k;                       /* clusters found: min(k asked, distinct values) */
	double lo[RFM_CLUSTERS];     /* smallest value in cluster i */
	double hi[RFM_CLUSTERS];     /* largest value in cluster i */
	double centre[RFM_CLUSTERS]; /* mean */
	int64_t count[RFM_CLUSTERS];
} rfm_clusters;

typedef struct rfm_row rfm_row; /* compact parsed row, private to rfm.c */

typedef struct rfm_data {
	/* Parse phase. */
	rfm_read_stats read;
	rfm_row *rows;
	size_t nrows, rows_cap;
	intern_table *cust_index;
	intern_table *prod_index;
	char **products; /* StockCode per product index; owned */
	size_t nproducts;

	/* Segment phase. */
	rfm_customer *customers; /* indexed like the parse phase interned them */
	size_t ncustomers;
	rfm_clusters clusters[3]; /* R, F, M */
	int64_t segment_count[RFM_SEGMENTS];
	int64_t brief_segment_count[RFM_SEGMENTS];
	int64_t no_segment; /* customers with returns only */

	/* Priors phase: sorted by state, then product. */
	rfm_prior *priors;
	size_t npriors;
	size_t state_first[RFM_STATES + 1]; /* priors of state s: [first[s], first[s+1]) */
	int nstates;                        /* states with at least one prior */
	int64_t dropped_nonpositive;        /* (state, product) with net quantity <= 0 */
} rfm_data;

void rfm_data_init(rfm_data *d);
void rfm_data_free(rfm_data *d);

/*
 * Parses a transactions CSV, plain or gzip (told apart by the magic bytes),
 * into d. The header names the columns (any order, case-insensitive):
 * InvoiceNo, StockCode, Quantity, InvoiceDate, UnitPrice, CustomerID are
 * required. Bad rows are counted in d->read.malformed and skipped; a missing
 * column, a CSV syntax error or a field over the hard limit fails the call.
 * Returns 0, ERR_IO, ERR_INVAL (message logged) or ERR_TOOBIG.
 */
int rfm_read_file(rfm_data *d, const char *path);
/* Same from memory (tests, fuzzing). */
int rfm_read_mem(rfm_data *d, const char *text, size_t len);

/* RFM, k-means and segments for every parsed customer. */
int rfm_segment(rfm_data *d);
/* States and priors; needs rfm_segment() first. */
int rfm_priors(rfm_data *d, const rfm_config *cfg);
/* All three. */
int rfm_run(rfm_data *d, const char *path, const rfm_config *cfg);

/*
 * Exact (globally optimal) 1-D k-means of x[0..n-1] into at most k clusters
 * (k <= RFM_CLUSTERS), by dynamic programming over the sorted distinct
 * values. cluster[i] (may be NULL) gets the cluster of x[i], numbered by
 * increasing centre. Deterministic: equal inputs give equal outputs.
 * Returns 0 or ERR_INVAL (n == 0, k out of range, a value not finite).
 */
int rfm_kmeans1d(const double *x, size_t n, int k, int *cluster, rfm_clusters *out);

/* The brief's score map: score 0-1 -> 0 (Q1), 2-3 -> 1, 4-5 -> 2, 6-9 -> 3. */
int rfm_segment_of_score(int score);

/* 1 when a StockCode names merchandise, 0 for POST, DOT, M, BANK CHARGES... */
int rfm_is_product(const char *stock_code);

/*
 * The name of a segment 0..3: "Q1".."Q4", as offerctl train stores it for
 * /predict and as state keys begin; NULL outside.
 */
const char *rfm_segment_name(int segment);

/*
 * Writes the state key (customer_state_key, the one /predict computes) of
 * segment Q<segment + 1> for a segment 0..3, month 1..12, day of month
 * 1..31 and weekday 0..6 (0 = Sunday): "Q4_September_1_Wednesday".
 * Returns 0, ERR_INVAL or ERR_RANGE (size too short).
 */
int rfm_state_key(int segment, int month, int mday, int weekday, char *out, size_t size);
/* The key of a state index (as in rfm_prior.state). Returns 0 or ERR_INVAL. */
int rfm_state_key_of(int state, char *out, size_t size);

#endif
