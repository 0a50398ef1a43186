/*
 * test_rfm.c — the warm start of offerctl train, without a database: the
 * exact 1-D k-means on hand-made data (and against brute force), the RFM
 * numbers of tests/data/retail_small.csv worked out by hand, the
 * non-product filter and return netting, the state-key format, plain and
 * gzip input, and the whole shared Online Retail file (572 states, the
 * segment counts documented in src/rfm.c).
 *
 * Run from the repository root (make test does); OFFERD_SRCDIR overrides.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "rfm.h"
#include "util.h"

#define FIXTURE "tests/data/retail_small.csv"
#define RETAIL "examples/online_retail.csv.gz"

static char *src_path(const char *rel)
{
	const char *root = getenv("OFFERD_SRCDIR");

	return xasprintf("%s/%s", root != NULL && root[0] != '\0' ? root : ".", rel);
}

static void near(double got, double want, double eps)
{
	if (!(fabs(got - want) <= eps))
		fail_msg("got %.9f, want %.9f (+/- %g)", got, want, eps);
}

static const rfm_customer *customer(const rfm_data *d, const char *id)
{
	for (size_t i = 0; i < d->ncustomers; i++) {
		if (strcmp(d->customers[i].id, id) == 0)
			return &d->customers[i];
	}
	fail_msg("no customer %s", id);
	return NULL;
}

/* The prior of (state key, StockCode), or NULL. */
static const rfm_prior *prior(const rfm_data *d, const char *key, const char *code)
{
	for (size_t i = 0; i < d->npriors; i++) {
		char k[RFM_STATE_KEY_MAX];

		assert_int_equal(rfm_state_key_of(d->priors[i].state, k, sizeof(k)), 0);
		if (strcmp(k, key) == 0 && strcmp(d->products[d->priors[i].product], code) == 0)
			return &d->priors[i];
	}
	return NULL;
}

static int state_exists(const rfm_data *d, const char *key)
{
	for (int s = 0; s < RFM_STATES; s++) {
		char k[RFM_STATE_KEY_MAX];

		assert_int_equal(rfm_state_key_of(s, k, sizeof(k)), 0);
		if (strcmp(k, key) == 0)
			return d->state_first[s + 1] > d->state_first[s];
	}
	fail_msg("no state key %s", key);
	return 0;
}

/* --- k-means ------------------------------------------------------------- */

static void test_kmeans_hand(void **state)
{
	/* Four obvious groups, given out of order. */
	const double x[] = {21, 1, 100, 11, 2, 20, 12, 3, 22, 10};
	int cl[14];
	rfm_clusters c;

	(void)state;
	assert_int_equal(rfm_kmeans1d(x, 10, 4, cl, &c), 0);
	assert_int_equal(c.k, 4);
	near(c.lo[0], 1, 0);
	near(c.hi[0], 3, 0);
	near(c.centre[0], 2, 1e-12);
	near(c.lo[1], 10, 0);
	near(c.centre[1], 11, 1e-12);
	near(c.centre[2], 21, 1e-12);
	near(c.lo[3], 100, 0);
	assert_int_equal(c.count[3], 1);
	/* Clusters are numbered by increasing centre, whatever the input order. */
	assert_int_equal(cl[0], 2);
	assert_int_equal(cl[1], 0);
	assert_int_equal(cl[2], 3);
	assert_int_equal(cl[3], 1);
	assert_int_equal(cl[9], 1);

	/* Five distinct values, k = 4: the optimum merges the closest pair only. */
	const double r[] = {0, 10, 12, 40, 100};

	assert_int_equal(rfm_kmeans1d(r, 5, 4, cl, &c), 0);
	assert_int_equal(cl[0], 0);
	assert_int_equal(cl[1], 1);
	assert_int_equal(cl[2], 1);
	assert_int_equal(cl[3], 2);
	assert_int_equal(cl[4], 3);

	/*
	 * The shape of the real measures: a mass at 0 (one-day customers) and a
	 * long tail. The optimum keeps the mass whole and splits the tail.
	 */
	const double t[] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 50, 60, 200};

	assert_int_equal(rfm_kmeans1d(t, 14, 4, cl, &c), 0);
	assert_int_equal(c.k, 4);
	near(c.hi[0], 2, 0);
	near(c.lo[1], 50, 0);
	near(c.hi[1], 50, 0);
	near(c.lo[2], 60, 0);
	near(c.lo[3], 200, 0);
}

static void test_kmeans_edges(void **state)
{
	const double same[] = {5, 5, 5, 5, 5};
	const double two[] = {1, 9, 1, 9};
	double bad[] = {1, 2, 3};
	int cl[5];
	rfm_clusters c;

	(void)state;
	/* Equal values share a cluster, so fewer distinct values give fewer clusters. */
	assert_int_equal(rfm_kmeans1d(same, 5, 4, cl, &c), 0);
	assert_int_equal(c.k, 1);
	assert_int_equal(c.count[0], 5);
	assert_int_equal(cl[4], 0);
	assert_int_equal(rfm_kmeans1d(two, 4, 4, cl, &c), 0);
	assert_int_equal(c.k, 2);
	assert_int_equal(cl[0], 0);
	assert_int_equal(cl[1], 1);
	assert_int_equal(rfm_kmeans1d(same, 0, 4, cl, &c), ERR_INVAL);
	assert_int_equal(rfm_kmeans1d(same, 5, 0, cl, &c), ERR_INVAL);
	assert_int_equal(rfm_kmeans1d(same, 5, RFM_CLUSTERS + 1, cl, &c), ERR_INVAL);
	bad[1] = NAN;
	assert_int_equal(rfm_kmeans1d(bad, 3, 2, cl, &c), ERR_INVAL);
}

static double sse(const double *v, size_t i, size_t j)
{
	double mean = 0;
	double s = 0;

	for (size_t k = i; k < j; k++)
		mean += v[k] / (double)(j - i);
	for (size_t k = i; k < j; k++)
		s += (v[k] - mean) * (v[k] - mean);
	return s;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a;
	double y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The DP must find the global optimum: compare with every split of small sets. */
static void test_kmeans_brute_force(void **state)
{
	uint64_t seed = 42;

	(void)state;
	for (int round = 0; round < 300; round++) {
		double v[12];
		size_t n = 4 + (size_t)(round % 9);
		rfm_clusters c;
		double best = INFINITY;
		double got = 0;

		for (size_t i = 0; i < n; i++) {
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			/* Skewed like spend: mostly small, some large. */
			v[i] = (double)((seed >> 33) % 1000) *
			       (round % 2 ? 1.0 : (double)((seed >> 20) % 7));
		}
		qsort(v, n, sizeof(v[0]), cmp_d);
		assert_int_equal(rfm_kmeans1d(v, n, 4, NULL, &c), 0);
		for (size_t a = 1; a < n; a++) {
			for (size_t b = a + 1; b < n; b++) {
				for (size_t e = b + 1; e < n; e++) {
					double s = sse(v, 0, a) + sse(v, a, b) + sse(v, b, e) +
					           sse(v, e, n);

					if (s < best)
						best = s;
				}
			}
		}
		for (int k = 0; k < c.k; k++) {
			size_t i = 0;
			size_t j;

			while (v[i] < c.lo[k])
				i++;
			j = i;
			while (j < n && v[j] <= c.hi[k])
				j++;
			got += sse(v, i, j);
		}
		/* With duplicates fewer than 4 clusters may be optimal (SSE 0 then). */
		if (c.k < 4)
			near(got, 0, 1e-9);
		else
			near(got, best, 1e-6 * (1 + best));
	}
}

/* --- the fixture ----------------------------------------------------------- */

static rfm_data *load_fixture(double weight)
{
	rfm_data *d = xmalloc(sizeof(*d));
	rfm_config cfg;
	char *path = src_path(FIXTURE);

	rfm_config_init(&cfg);
	cfg.prior_weight = weight;
	rfm_data_init(d);
	assert_int_equal(rfm_run(d, path, &cfg), 0);
	free(path);
	return d;
}

static void free_data(rfm_data *d)
{
	rfm_data_free(d);
	free(d);
}

/*
 * Worked by hand from tests/data/retail_small.csv (customer: purchase days
 * -> F, R, M):
 *   101  01-03                                   F 0  R 0    M 0
 *   102  01-03, 01-13 (50.00)                    F 1  R 10   M 50
 *   103  01-03, 01-05 (10), 01-10 (40 - 10 returned the same day), 01-15 (20)
 *                                                F 3  R 12   M 20
 *   104  02-01, six repeat days of 22.00         F 6  R 40   M 22
 *   105  01-03, ten repeat days of 100.00 to 04-13 (a return on 01-18 is no
 *        purchase day and does not count)        F 10 R 100  M 100
 *   106  a return only: no purchase day, no segment.
 * k-means with k = 4 on five distinct values merges the closest pair:
 *   R 0 | 10 12 | 40 | 100    F 0 1 | 3 | 6 | 10    M 0 | 20 22 | 50 | 100
 * Scores (R + F + M ranks): 101 0+0+0 = 0 Q1; 102 1+0+2 = 3 Q2;
 * 103 1+1+1 = 3 Q2; 104 2+2+1 = 5 Q3; 105 3+3+3 = 9 Q4.
 * With the brief's inverted recency rank (3 - R): 101 3 Q2; 102 4 Q3;
 * 103 4 Q3; 104 4 Q3; 105 6 Q4.
 */
static void test_fixture_rfm(void **state)
{
	rfm_data *d = load_fixture(1.0);
	const rfm_customer *c;
	static const struct {
		const char *id;
		int r, f;
		double m;
		int ranks[3], score, seg, brief;
	} want[] = {
	    {"101", 0, 0, 0, {0, 0, 0}, 0, 0, 1},      {"102", 10, 1, 50, {1, 0, 2}, 3, 1, 2},
	    {"103", 12, 3, 20, {1, 1, 1}, 3, 1, 2},    {"104", 40, 6, 22, {2, 2, 1}, 5, 2, 2},
	    {"105", 100, 10, 100, {3, 3, 3}, 9, 3, 3},
	};

	(void)state;
	assert_int_equal(d->read.rows, 33);
	assert_int_equal(d->read.no_customer, 1);
	assert_int_equal(d->read.non_product, 3); /* POST, BANK CHARGES, gift_0001_20 */
	assert_int_equal(d->read.returns, 3);
	assert_int_equal(d->read.malformed, 1); /* Quantity "abc" */
	assert_int_equal(d->read.gzip, 0);
	assert_int_equal(d->ncustomers, 6);
	assert_int_equal(d->nproducts, 3);
	for (size_t i = 0; i < UTIL_ARRAY_LEN(want); i++) {
		/* "101.0" as written by pandas is the customer "101". */
		c = customer(d, want[i].id);
		assert_int_equal(c->recency, want[i].r);
		assert_int_equal(c->frequency, want[i].f);
		near(c->monetary, want[i].m, 1e-9);
		assert_int_equal(c->rank[0], want[i].ranks[0]);
		assert_int_equal(c->rank[1], want[i].ranks[1]);
		assert_int_equal(c->rank[2], want[i].ranks[2]);
		assert_int_equal(c->score, want[i].score);
		assert_int_equal(c->segment, want[i].seg);
		assert_int_equal(c->brief_segment, want[i].brief);
	}
	c = customer(d, "106");
	assert_int_equal(c->days, 0);
	assert_int_equal(c->segment, -1);
	assert_int_equal(d->no_segment, 1);
	assert_int_equal(d->segment_count[0], 1);
	assert_int_equal(d->segment_count[1], 2);
	assert_int_equal(d->segment_count[2], 1);
	assert_int_equal(d->segment_count[3], 1);
	assert_int_equal(d->brief_segment_count[0], 0);
	assert_int_equal(d->brief_segment_count[1], 1);
	assert_int_equal(d->brief_segment_count[2], 3);
	assert_int_equal(d->brief_segment_count[3], 1);
	free_data(d);
}

static void test_score_map(void **state)
{
	static const int want[10] = {0, 0, 1, 1, 2, 2, 3, 3, 3, 3};

	(void)state;
	for (int s = 0; s < 10; s++)
		assert_int_equal(rfm_segment_of_score(s), want[s]);
}

static void test_non_products(void **state)
{
	static const char *const no[] = {
	    "POST",    "DOT",       "M", "m", "BANK CHARGES", "C2",           "D", "CRUK",
	    "PADS",    "AMAZONFEE", "B", "S", "gift_0001_20", "gift_0001_50", "",  "TEST001",
	    "ADJUST2",
	};
	static const char *const yes[] = {"85123A", "10002", "22423", "DCGS0003", "DCGSSGIRL", "84029G"};

	(void)state;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(no); i++) {
		if (rfm_is_product(no[i]))
			fail_msg("%s taken for a product", no[i]);
	}
	for (size_t i = 0; i < UTIL_ARRAY_LEN(yes); i++) {
		if (!rfm_is_product(yes[i]))
			fail_msg("%s not taken for a product", yes[i]);
	}
}

/*
 * States and priors of the fixture. Q2_January_0_Monday: 102 bought 4 of
 * 10001 on 01-03, 103 bought 6 of 10001 the same Monday and on Monday 01-10
 * 8 of 10003 of which it returned 2: 10001 -> 10, 10003 -> 6. Customer 105's
 * return of 5 x 10003 on Tuesday 01-18 nets to -5 in Q4_January_1_Tuesday:
 * dropped, and with it the state. 106's return has no segment, so no state.
 */
static void test_fixture_states_and_netting(void **state)
{
	rfm_data *d = load_fixture(3.0);
	const rfm_prior *p;
	double prop = log(7.0) / log(11.0);

	(void)state;
	assert_int_equal(d->nstates, 19);
	assert_int_equal(d->npriors, 20);
	assert_int_equal(d->dropped_nonpositive, 1);
	assert_false(state_exists(d, "Q4_January_1_Tuesday"));
	assert_true(state_exists(d, "Q2_January_0_Saturday")); /* 01-15: still the first half */
	assert_true(state_exists(d, "Q4_January_1_Monday"));   /* 01-17 and 01-31 */
	p = prior(d, "Q2_January_0_Monday", "10001");
	assert_non_null(p);
	assert_int_equal(p->quantity, 10);
	near(p->propensity, 1, 1e-12);
	near(p->value, 5, 1e-12); /* a state's best seller starts at the accept reward */
	p = prior(d, "Q2_January_0_Monday", "10003");
	assert_non_null(p);
	assert_int_equal(p->quantity, 6);
	near(p->propensity, prop, 1e-12);
	near(p->value, -2 + 7 * prop, 1e-12); /* 3.6805535 */
	near(p->weight, 3, 0);
	near(p->alpha, 1 + 3 * prop, 1e-12);
	near(p->beta, 1 + 3 * (1 - prop), 1e-12);
	p = prior(d, "Q4_January_1_Monday", "10001");
	assert_non_null(p);
	assert_int_equal(p->quantity, 200);
	p = prior(d, "Q3_February_1_Thursday", "10002");
	assert_non_null(p);
	assert_int_equal(p->quantity, 22);
	/* Non-products never become offers. */
	assert_null(prior(d, "Q1_January_0_Monday", "POST"));
	for (size_t i = 0; i < d->npriors; i++) {
		assert_true(d->priors[i].value >= RFM_REWARD_IGNORE);
		assert_true(d->priors[i].value <= RFM_REWARD_ACCEPT);
		assert_true(d->priors[i].quantity > 0);
	}
	free_data(d);
}

static void test_state_keys(void **state)
{
	char k[RFM_STATE_KEY_MAX];
	char small[10];

	(void)state;
	assert_int_equal(rfm_state_key(3, 9, 16, 3, k, sizeof(k)), 0);
	assert_string_equal(k, "Q4_September_1_Wednesday");
	assert_int_equal(rfm_state_key(0, 4, 15, 5, k, sizeof(k)), 0);
	assert_string_equal(k, "Q1_April_0_Friday");
	assert_int_equal(rfm_state_key(1, 12, 31, 0, k, sizeof(k)), 0);
	assert_string_equal(k, "Q2_December_1_Sunday");
	assert_int_equal(rfm_state_key(4, 1, 1, 0, k, sizeof(k)), ERR_INVAL);
	assert_int_equal(rfm_state_key(0, 13, 1, 0, k, sizeof(k)), ERR_INVAL);
	assert_int_equal(rfm_state_key(0, 1, 1, 7, k, sizeof(k)), ERR_INVAL);
	assert_int_equal(rfm_state_key(0, 1, 1, 0, small, sizeof(small)), ERR_RANGE);
	assert_int_equal(rfm_state_key_of(RFM_STATES, k, sizeof(k)), ERR_INVAL);
	/* Every index has its own key and the key comes back from its parts. */
	for (int s = 0; s < RFM_STATES; s++) {
		char k2[RFM_STATE_KEY_MAX];

		assert_int_equal(rfm_state_key_of(s, k, sizeof(k)), 0);
		for (int t = s + 1; t < RFM_STATES; t += 97) {
			assert_int_equal(rfm_state_key_of(t, k2, sizeof(k2)), 0);
			assert_string_not_equal(k, k2);
		}
	}
}

/* --- input forms and errors ---------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *s;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	s = xmalloc((size_t)n + 1);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return s;
}

/* The same rows gzip-compressed, under a name that does not say so. */
static void test_gzip_by_magic(void **state)
{
	char *path = src_path(FIXTURE);
	char tmp[] = "/tmp/test_rfm_XXXXXX";
	size_t len;
	char *text = slurp(path, &len);
	int fd = mkstemp(tmp);
	gzFile g;
	rfm_data d;
	rfm_config cfg;

	(void)state;
	assert_true(fd >= 0);
	g = gzdopen(fd, "wb");
	assert_non_null(g);
	assert_int_equal(gzwrite(g, text, (unsigned)len), (int)len);
	assert_int_equal(gzclose(g), Z_OK);
	rfm_config_init(&cfg);
	rfm_data_init(&d);
	assert_int_equal(rfm_run(&d, tmp, &cfg), 0);
	assert_int_equal(d.read.gzip, 1);
	assert_int_equal(d.read.rows, 33);
	assert_int_equal(d.nstates, 19);
	assert_int_equal(d.segment_count[3], 1);
	rfm_data_free(&d);

	/* A cut-off download fails loudly instead of training on part of the file. */
	{
		FILE *f = fopen(tmp, "r+b");
		long n;

		assert_non_null(f);
		assert_int_equal(fseek(f, 0, SEEK_END), 0);
		n = ftell(f);
		fclose(f);
		assert_int_equal(truncate(tmp, n / 2), 0);
	}
	rfm_data_init(&d);
	assert_int_equal(rfm_read_file(&d, tmp), ERR_IO);
	rfm_data_free(&d);
	unlink(tmp);
	free(text);
	free(path);
}

static void test_csv_errors(void **state)
{
	rfm_data d;
	const char *no_price =
	    "InvoiceNo,StockCode,Quantity,InvoiceDate,CustomerID\n1,10001,1,2011-01-03,5\n";
	/* Any column order, a byte order mark, CRLF line ends, extra columns. */
	const char *reordered = "\xEF\xBB\xBF"
	                        "customerid,Extra,UnitPrice,InvoiceDate,Quantity,StockCode,InvoiceNo\r\n"
	                        "7.0,x,2.5,2011-01-03 10:00:00,4,10001,1\r\n"
	                        "7.0,x,2.5,2011-01-04 10:00:00,2,10001,2\r\n"
	                        "8.0,x,1\r\n";
	size_t big = 2 * 1024 * 1024;
	char *huge = xmalloc(big + 200);
	size_t n;

	(void)state;
	rfm_data_init(&d);
	assert_int_equal(rfm_read_mem(&d, no_price, strlen(no_price)), ERR_INVAL);
	rfm_data_free(&d);

	rfm_data_init(&d);
	assert_int_equal(rfm_read_mem(&d, reordered, strlen(reordered)), 0);
	assert_int_equal(d.read.rows, 3);
	assert_int_equal(d.read.malformed, 1); /* too few columns */
	assert_int_equal(d.ncustomers, 1);
	assert_int_equal(rfm_segment(&d), 0);
	assert_string_equal(d.customers[0].id, "7");
	assert_int_equal(d.customers[0].frequency, 1);
	assert_int_equal(d.customers[0].recency, 1);
	near(d.customers[0].monetary, 5.0, 1e-12);
	/* A data set is read once. */
	assert_int_equal(rfm_read_mem(&d, reordered, strlen(reordered)), ERR_INVAL);
	rfm_data_free(&d);

	/* A field over the hard limit stops the parse. */
	n = (size_t)snprintf(huge, 200,
	                     "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID\n1,\"");
	memset(huge + n, 'a', big);
	n += big;
	memcpy(huge + n, "\",1,2011-01-03,1,5\n", 20);
	n += 19;
	rfm_data_init(&d);
	assert_int_equal(rfm_read_mem(&d, huge, n), ERR_TOOBIG);
	rfm_data_free(&d);
	free(huge);

	rfm_data_init(&d);
	assert_int_equal(rfm_read_mem(&d, "", 0), ERR_INVAL);
	rfm_data_free(&d);
	rfm_data_init(&d);
	assert_int_equal(rfm_read_file(&d, "/nonexistent/transactions.csv"), ERR_IO);
	rfm_data_free(&d);
}

/* --- the shared Online Retail file ------------------------------------------ */

static void test_online_retail(void **state)
{
	char *path = src_path(RETAIL);
	rfm_data *d = xmalloc(sizeof(*d));
	rfm_config cfg;
	double t0 = util_monotonic();
	int64_t per_segment[RFM_SEGMENTS] = {0};
	static const int64_t fixed[RFM_SEGMENTS] = {2279, 1219, 737, 100};
	static const int64_t brief[RFM_SEGMENTS] = {728, 3371, 235, 1};

	(void)state;
	rfm_config_init(&cfg);
	rfm_data_init(d);
	assert_int_equal(rfm_run(d, path, &cfg), 0);
	print_message("online retail: %.2f s\n", util_monotonic() - t0);
	assert_int_equal(d->read.gzip, 1);
	assert_int_equal(d->read.rows, 541909);
	assert_int_equal(d->read.no_customer, 135080);
	assert_int_equal(d->read.malformed, 0);
	assert_int_equal(d->ncustomers - (size_t)d->no_segment, 4335);
	/* The brief's figure: 4 segments x 143 month/half/weekday combinations. */
	assert_int_equal(d->nstates, 572);
	for (int s = 0; s < RFM_STATES; s++) {
		if (d->state_first[s + 1] > d->state_first[s])
			per_segment[s / RFM_COMBOS]++;
	}
	for (int g = 0; g < RFM_SEGMENTS; g++) {
		assert_int_equal(per_segment[g], 143);
		assert_int_equal(d->segment_count[g], fixed[g]);
		assert_int_equal(d->brief_segment_count[g], brief[g]);
	}
	assert_int_equal(d->npriors, 259468);
	assert_true(state_exists(d, "Q4_September_1_Wednesday"));
	assert_true(state_exists(d, "Q1_April_0_Friday"));
	assert_false(state_exists(d, "Q1_April_0_Saturday")); /* the shop sent nothing on Saturdays */
	free(path);
	free_data(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kmeans_hand),
	    cmocka_unit_test(test_kmeans_edges),
	    cmocka_unit_test(test_kmeans_brute_force),
	    cmocka_unit_test(test_fixture_rfm),
	    cmocka_unit_test(test_score_map),
	    cmocka_unit_test(test_non_products),
	    cmocka_unit_test(test_fixture_states_and_netting),
	    cmocka_unit_test(test_state_keys),
	    cmocka_unit_test(test_gzip_by_magic),
	    cmocka_unit_test(test_csv_errors),
	    cmocka_unit_test(test_online_retail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
