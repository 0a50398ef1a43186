/*
 * test_ope.c — off-policy evaluation.
 *
 *  1. The candidate's probabilities (its policy's slot_probs) equal
 *     the propensities agent_decide logs, slot by slot, for weighted,
 *     random, epsilon-greedy and UCB over random statistics, with fallback
 *     to segment values and ties.
 *  2. Exact unbiasedness on a small problem (one state, four offers,
 *     uniform logging, an epsilon-greedy candidate): a log that holds every
 *     (slate, outcome) exactly in proportion to its probability makes each
 *     estimator equal its expectation, and IPS, SNIPS and DR all equal the
 *     candidate's true value, for the slate and the first-slot estimands.
 *  3. Against the simulator's ground truth, through the real database path:
 *     an epsilon-greedy agent learns and logs through writer_run_batch,
 *     ope_load reads its episodes back, and fixed candidates (trained on
 *     other customers) are evaluated; the 95% intervals contain the true
 *     value (sim_truth) in most of 20 seeds: at least 16 for the first-slot
 *     estimand, and for the slate estimand where the weights allow it.
 *  4. Tiny logged propensities (weights up to 50): switch-DR and clipped
 *     IPS, their threshold, and switch-DR's coverage of a known truth.
 *  5. The contextual policies' slot probabilities equal the propensities
 *     their decide logs; then a contextual candidate (squarecb) replayed on a uniformly logged
 *     episodes of the contextual world: its IPS and DR intervals contain its
 *     true value (the exact expected acceptance of its slates for each
 *     logged customer, from a twin replayed the same way), and squarecb's
 *     estimate beats thompson's
 *     (over per-state statistics of other customers' log) as the truth says
 *     it should.
 *
 * Public API only; links against build/liboffer.a.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "customer.h"
#include "db.h"
#include "model.h"
#include "ope.h"
#include "policy.h"
#include "sim.h"
#include "store.h"
#include "util.h"
#include "values.h"

#define NOFFERS 10

static const char *const offer_names[NOFFERS] = {"OFFER_1", "OFFER_2", "OFFER_3", "OFFER_4", "OFFER_5",
                                                 "OFFER_6", "OFFER_7", "OFFER_8", "OFFER_9", "OFFER_10"};

static void set_row(values *v, const char *company, const char *state, const char *offer, double n,
                    double sum, double succ, double fail)
{
	db_policy_row row;

	memset(&row, 0, sizeof(row));
	row.company = company;
	row.state_key = state;
	row.offer = offer;
	row.n = n;
	row.reward_sum = sum;
	row.alpha = 1 + succ;
	row.beta = 1 + fail;
	values_set(v, &row);
}

/* --- 1. the same probabilities as agent_decide ------------------------------- */

static void test_probs_match_agent(void **unused)
{
	static const enum agent_policy pol[] = {POLICY_WEIGHTED, POLICY_RANDOM, POLICY_EPSILON_GREEDY,
	                                        POLICY_UCB};
	static const char *const states[] = {"Europa-M-lt30_January_0_Wednesday",
	                                     "Europa-M-lt30_March_1_Saturday",
	                                     "Asia-F-gt65_February_0_Saturday",
	                                     "Unknown-U-ageU_January_1_Wednesday"};
	static const char *const dates[] = {"2023-01-04", "2023-03-18", "2023-02-04", "2023-01-18"};
	values *v = values_new();
	ope_log log;
	rng r;

	(void)unused;
	rng_seed(&r, 99);
	ope_log_init(&log);
	for (size_t j = 0; j < NOFFERS; j++)
		assert_int_equal(ope_log_offer(&log, offer_names[j]), (int)j);
	/* Statistics for the first three states only: the fourth falls back. Means
	 * on a coarse grid so that ties happen. */
	for (size_t s = 0; s < 3; s++) {
		for (size_t j = 0; j < NOFFERS; j++) {
			double n = (double)rng_below(&r, 4) * 5;
			double mean = (double)rng_below(&r, 4) - 1;

			if (n > 0)
				set_row(v, "T", states[s], offer_names[j], n, n * mean, 1, 1);
		}
	}
	for (size_t p = 0; p < UTIL_ARRAY_LEN(pol); p++) {
		ope_candidate c;

		memset(&c, 0, sizeof(c));
		agent_conf_default(&c.conf);
		c.conf.policy = pol[p];
		c.conf.epsilon = 0.25;
		c.v = v;
		c.company = "T";
		for (int i = 0; i < 3000; i++) {
			size_t s = (size_t)rng_below(&r, 4);
			predict_req req;
			agent_decision d;
			unsigned char taken[OPE_OFFERS_MAX] = {0};

			memset(&req, 0, sizeof(req));
			assert_int_equal(date_parse(dates[s], &req.date), 0);
			req.customer.age = s == 3 ? -1 : 20 + (int)rng_below(&r, 60);
			req.customer.gender = s == 0 || s == 1 ? 'M' : s == 2 ? 'F' : 'U';
			util_strlcpy(req.customer.region,
			             s == 2   ? "Asia"
			             : s == 3 ? "Unknown"
			                      : "Europa",
			             sizeof(req.customer.region));
			if (s == 3 && (i & 1))
				util_strlcpy(req.customer.region, "Americas",
				             sizeof(req.customer.region));
			for (size_t j = 0; j < NOFFERS; j++) {
				util_strlcpy(req.offers[j], offer_names[j], sizeof(req.offers[j]));
				req.allowed[j] = 1;
			}
			req.n_offers = req.n_allowed = NOFFERS;
			assert_int_equal(agent_decide(&c.conf, v, &r, "T", &req, NULL, &d), 0);
			assert_int_equal(d.n, 3);
			for (size_t k = 0; k < d.n; k++) {
				double probs[OPE_OFFERS_MAX];
				double sum = 0;

				assert_int_equal(ope_slot_probs(&log, &c, d.state_key, &req.customer,
				                                taken, probs),
				                 0);
				for (size_t j = 0; j < NOFFERS; j++)
					sum += probs[j];
				assert_true(fabs(sum - 1) < 1e-12);
				if (fabs(probs[d.idx[k]] - d.propensity[k]) > 1e-12)
					fail_msg("%s, %s, slot %zu, %s: ope %.17g, agent %.17g",
					         agent_policy_name(pol[p]), d.state_key, k,
					         offer_names[d.idx[k]], probs[d.idx[k]],
					         d.propensity[k]);
				taken[d.idx[k]] = 1;
			}
		}
	}
	ope_log_free(&log);
	values_free(v);
}

/* --- 2. exact expectations on a small problem ----------------------------------- */

#define SMALL 4
#define OUTCOMES 16 /* every outcome probability below is a multiple of 1/16 */

static void test_unbiased_exact(void **unused)
{
	static const char state[] = "Q1_January_0_Monday";
	static const double p[SMALL] = {0.5, 0.25, 0.5, 0.0}; /* acceptance per offer */
	static const double mean[SMALL] = {3, 1, -1, 0};      /* the candidate's values */
	const double eps = 0.3;
	values *v = values_new();
	ope_log log;
	ope_candidate c;
	ope_result slate;
	ope_result first;
	double v_slate = 0;
	double v_first = 0;
	double logged_slate = 0;

	(void)unused;
	for (size_t j = 0; j < SMALL; j++)
		set_row(v, "T", state, offer_names[j], 10, 10 * mean[j], 0, 0);
	memset(&c, 0, sizeof(c));
	agent_conf_default(&c.conf);
	c.conf.policy = POLICY_EPSILON_GREEDY;
	c.conf.epsilon = eps;
	c.v = v;
	c.company = "T";
	ope_log_init(&log);
	for (size_t j = 0; j < SMALL; j++)
		ope_log_offer(&log, offer_names[j]);
	/* Every ordered slate, logged uniformly: propensities 1/4, 1/3, 1/2. */
	for (size_t a = 0; a < SMALL; a++) {
		for (size_t b = 0; b < SMALL; b++) {
			for (size_t d = 0; d < SMALL; d++) {
				size_t sl[3] = {a, b, d};
				const char *names[3];
				double prop[3] = {1.0 / 4, 1.0 / 3, 1.0 / 2};
				double out[4]; /* P(slot 0, 1, 2 accepted), P(none): the cascade */
				double none = 1;
				double pi = 1;
				unsigned char taken[SMALL] = {0};

				if (a == b || a == d || b == d)
					continue;
				for (int k = 0; k < 3; k++) {
					size_t rem = 0;
					size_t best = SIZE_MAX;

					names[k] = offer_names[sl[k]];
					out[k] = none * p[sl[k]];
					none *= 1 - p[sl[k]];
					/* The candidate's probability, restated independently. */
					for (size_t j = 0; j < SMALL; j++) {
						if (taken[j])
							continue;
						rem++;
						if (best == SIZE_MAX || mean[j] > mean[best])
							best = j;
					}
					pi *= eps / (double)rem + (sl[k] == best ? 1 - eps : 0);
					taken[sl[k]] = 1;
				}
				out[3] = none;
				v_slate += pi * (1 - none);
				logged_slate += (1 - none) / 24.0;
				/* Each outcome in proportion, each twice in a row so both
				 * cross-fitting folds see the exact distribution. */
				for (int o = 0; o < 4; o++) {
					double m = out[o] * OUTCOMES;
					int times = (int)lround(m);

					assert_true(fabs(m - times) < 1e-12);
					for (int i = 0; i < 2 * times; i++)
						assert_int_equal(ope_log_add(&log, state, NULL, names,
						                             prop, 3, o < 3,
						                             o < 3 ? names[o] : NULL),
						                 0);
				}
			}
		}
	}
	/* The first slot: P(offer j first) p_j. */
	{
		unsigned char none_taken[SMALL] = {0};
		double probs[OPE_OFFERS_MAX];
		customer_attrs cust = {-1, 'U', "Unknown"};

		assert_int_equal(ope_slot_probs(&log, &c, state, &cust, none_taken, probs), 0);
		for (size_t j = 0; j < SMALL; j++)
			v_first += probs[j] * p[j];
		/* Greedy mass on OFFER_1, exploration spread over four. */
		assert_true(fabs(probs[0] - (0.7 + 0.3 / 4)) < 1e-15);
	}
	assert_int_equal(log.n, 24 * 2 * OUTCOMES);
	assert_int_equal(ope_evaluate(&log, &c, &slate, &first), 0);
	assert_true(fabs(slate.logged.value - logged_slate) < 1e-12);
	assert_true(fabs(slate.ips.value - v_slate) < 1e-12);
	assert_true(fabs(slate.snips.value - v_slate) < 1e-12);
	assert_true(fabs(slate.dr.value - v_slate) < 1e-12);
	assert_true(fabs(first.ips.value - v_first) < 1e-12);
	assert_true(fabs(first.snips.value - v_first) < 1e-12);
	assert_true(fabs(first.dr.value - v_first) < 1e-12);
	/* The candidate puts OFFER_1 (p = 1/2) first: better than uniform's 5/16. */
	assert_true(fabs(first.logged.value - 5.0 / 16) < 1e-12);
	assert_true(v_first > 0.43);
	assert_true(slate.ips.lo < v_slate && v_slate < slate.ips.hi);
	ope_log_free(&log);
	values_free(v);
}

/* --- 3. against the simulator's ground truth ---------------------------------------- */

#define SEEDS 20
#define LOGGED 4000
#define TRAINED 2000

typedef struct cover {
	int ips;
	int snips;
	int dr;
	double bias_dr;
	double bias_ips;
} cover;

static int inside(const ope_interval *i, double truth)
{
	return i->lo <= truth && truth <= i->hi;
}

static void tally(cover *c, const ope_result *r, double truth)
{
	c->ips += inside(&r->ips, truth);
	c->snips += inside(&r->snips, truth);
	c->dr += inside(&r->dr, truth);
	c->bias_dr += (r->dr.value - truth) / SEEDS;
	c->bias_ips += (r->ips.value - truth) / SEEDS;
}

static void test_simulated_truth(void **unused)
{
	/* Candidates: greedy and epsilon-greedy (0.3) over statistics learned on
	 * other customers, and random. */
	static const struct {
		enum agent_policy policy;
		double eps;
		const char *name;
	} cands[] = {{POLICY_EPSILON_GREEDY, 0.0, "greedy"},
	             {POLICY_EPSILON_GREEDY, 0.3, "epsilon-greedy 0.3"},
	             {POLICY_RANDOM, 0.0, "random"}};
	cover first[3];
	cover slate[3];

	(void)unused;
	memset(first, 0, sizeof(first));
	memset(slate, 0, sizeof(slate));
	for (uint64_t seed = 1; seed <= SEEDS; seed++) {
		sim_world *w = xmalloc(sizeof(*w));
		store *s = NULL;
		agent_conf logc;
		agent_conf trainc;
		sim_inproc *logger = NULL;
		sim_inproc *trainer = NULL;
		sim_agent a;
		sim_stats st;
		ope_log log;
		char err[256];

		assert_int_equal(sim_world_init(w, seed, 0), 0);
		assert_int_equal(store_open("sqlite::memory:", &s), 0);
		assert_int_equal(db_migrate(s), 0);
		/* The logging policy learns as offerd does, through the writer. */
		agent_conf_default(&logc);
		logc.policy = POLICY_EPSILON_GREEDY;
		logc.epsilon = 0.3;
		assert_int_equal(sim_inproc_new(&logc, s, "log", seed, 1, &logger), 0);
		sim_inproc_agent(logger, &a);
		assert_int_equal(sim_run(w, LOGGED, &a, &logc, NULL, NULL, 0, &st), 0);
		/* The candidates' statistics: Thompson sampling on later customers. */
		agent_conf_default(&trainc);
		trainc.policy = POLICY_THOMPSON;
		trainc.ts_draws = 1;
		assert_int_equal(sim_inproc_new(&trainc, NULL, "cand", seed, 1, &trainer), 0);
		sim_inproc_agent(trainer, &a);
		for (uint64_t t = LOGGED; t < LOGGED + TRAINED; t++) {
			sim_context c;
			sim_outcome o;
			size_t sl[OFFERS_SHOWN];
			size_t n = 0;

			sim_context_at(w, t, &c);
			assert_int_equal(a.decide(a.arg, &c, sl, &n), 0);
			sim_respond(w, &c, sl, n, &o);
			assert_int_equal(a.learn(a.arg, &c, sl, n, &o), 0);
		}
		assert_int_equal(a.flush(a.arg), 0);
		ope_log_init(&log);
		assert_int_equal(ope_load(s, "log", NULL, NULL, OPE_MISSING_REJECT, NULL, &log, err,
		                          sizeof(err)),
		                 0);
		assert_int_equal(log.n, LOGGED);
		assert_int_equal(ope_log_noffers(&log), SIM_OFFERS);
		for (size_t i = 0; i < UTIL_ARRAY_LEN(cands); i++) {
			ope_candidate c;
			ope_result rs;
			ope_result r1;
			double ts;
			double t1;

			memset(&c, 0, sizeof(c));
			agent_conf_default(&c.conf);
			c.conf.policy = cands[i].policy;
			c.conf.epsilon = cands[i].eps;
			c.v = sim_inproc_values(trainer);
			c.company = "cand";
			assert_int_equal(sim_truth(w, 0, LOGGED, &c.conf, c.v, "cand", 4, seed, &ts,
			                           &t1),
			                 0);
			assert_int_equal(ope_evaluate(&log, &c, &rs, &r1), 0);
			tally(&slate[i], &rs, ts);
			tally(&first[i], &r1, t1);
			if (seed == 1)
				printf(
				    "seed 1, %-18s truth slate %.4f first %.4f | first: IPS %.4f [%.4f, %.4f]"
				    " SNIPS %.4f DR %.4f [%.4f, %.4f] | slate: IPS %.4f DR %.4f [%.4f, %.4f]"
				    " ess %.0f\n",
				    cands[i].name, ts, t1, r1.ips.value, r1.ips.lo, r1.ips.hi,
				    r1.snips.value, r1.dr.value, r1.dr.lo, r1.dr.hi, rs.ips.value,
				    rs.dr.value, rs.dr.lo, rs.dr.hi, rs.ess);
		}
		ope_log_free(&log);
		sim_inproc_free(logger);
		sim_inproc_free(trainer);
		store_close(s);
		free(w);
	}
	for (size_t i = 0; i < UTIL_ARRAY_LEN(cands); i++) {
		printf("%-18s 95%% intervals containing the truth in %d seeds: first slot IPS %d, SNIPS "
		       "%d, DR %d (mean error IPS %+.4f, DR %+.4f); slate IPS %d, SNIPS %d, DR %d (mean "
		       "error IPS %+.4f, DR %+.4f)\n",
		       cands[i].name, SEEDS, first[i].ips, first[i].snips, first[i].dr,
		       first[i].bias_ips, first[i].bias_dr, slate[i].ips, slate[i].snips, slate[i].dr,
		       slate[i].bias_ips, slate[i].bias_dr);
	}
	for (size_t i = 0; i < UTIL_ARRAY_LEN(cands); i++) {
		/* Nominal 19 of 20; allow for the normal approximation and chance. */
		assert_true(first[i].ips >= 15);
		assert_true(first[i].snips >= 16);
		assert_true(first[i].dr >= 16);
		assert_true(fabs(first[i].bias_dr) < 0.01);
	}
	/*
	 * The slate estimand only where the weights are tame (random candidate,
	 * effective sample size ~150): with a greedy candidate one slate in
	 * hundreds matches, and the normal interval undercovers (reported above).
	 */
	assert_true(slate[2].ips >= 16);
	assert_true(slate[2].snips >= 16);
	assert_true(slate[2].dr >= 16);
	fflush(stdout);
}

/* --- 4. reading the logs: missing rewards, missing propensities, --from ------------- */

static void test_load(void **unused)
{
	sim_world *w = xmalloc(sizeof(*w));
	store *s = NULL;
	agent_conf conf;
	sim_inproc *p = NULL;
	sim_agent a;
	sim_stats st;
	ope_log log;
	char err[256];

	(void)unused;
	assert_int_equal(sim_world_init(w, 3, 0), 0);
	assert_int_equal(store_open("sqlite::memory:", &s), 0);
	assert_int_equal(db_migrate(s), 0);
	agent_conf_default(&conf);
	assert_int_equal(sim_inproc_new(&conf, s, "A", 3, 10, &p), 0);
	sim_inproc_agent(p, &a);
	assert_int_equal(sim_run(w, 100, &a, &conf, NULL, NULL, 0, &st), 0);
	assert_int_equal(store_exec(s, "DELETE FROM tb_rewards WHERE episode_id <= 10", 0, NULL, NULL,
	                            NULL),
	                 0);
	assert_int_equal(store_exec(s, "UPDATE tb_episodes SET propensity_2 = NULL WHERE id = 50", 0,
	                            NULL, NULL, NULL),
	                 0);
	/* Another company's episodes are not read. */
	assert_int_equal(store_exec(s, "UPDATE tb_episodes SET company = 'B' WHERE id = 60", 0, NULL,
	                            NULL, NULL),
	                 0);
	ope_log_init(&log);
	assert_int_equal(ope_load(s, "A", NULL, NULL, OPE_MISSING_REJECT, NULL, &log, err, sizeof(err)),
	                 0);
	assert_int_equal(log.read, 99);
	assert_int_equal(log.no_propensity, 1);
	assert_int_equal(log.no_reward, 10);
	assert_int_equal(log.n, 98);
	for (size_t i = 0; i < 10; i++)
		assert_int_equal(log.eps[i].slot, OPE_SLOT_NONE);
	assert_string_equal(log.policies, "epsilon-greedy 98");
	ope_log_free(&log);
	ope_log_init(&log);
	assert_int_equal(ope_load(s, "A", NULL, NULL, OPE_MISSING_SKIP, NULL, &log, err, sizeof(err)),
	                 0);
	assert_int_equal(log.n, 88);
	ope_log_free(&log);
	/* --from: nothing was logged in 2999; everything since 2000. */
	ope_log_init(&log);
	assert_int_equal(ope_load(s, "A", "2999-01-01", NULL, OPE_MISSING_SKIP, NULL, &log, err,
	                          sizeof(err)),
	                 0);
	assert_int_equal(log.read, 0);
	ope_log_free(&log);
	ope_log_init(&log);
	assert_int_equal(ope_load(s, "A", "2000-01-01", NULL, OPE_MISSING_SKIP, "OFFER_1,OFFER_2,X",
	                          &log, err, sizeof(err)),
	                 0);
	assert_int_equal(log.read, 99);
	/* The given choice set first, then the offers logged. */
	assert_string_equal(ope_log_offer_name(&log, 2), "X");
	assert_int_equal(ope_log_noffers(&log), SIM_OFFERS + 1);
	ope_log_free(&log);
	sim_inproc_free(p);
	store_close(s);
	free(w);
}

/*
 * Tiny logged propensities, as squarecb's can be (1/(K + gamma)): a logger
 * that shows OFFER_1 with probability 1 - 9 e and each other offer with e,
 * e = 0.002 (weights up to 50 for a uniform candidate), one offer per
 * episode, acceptance p_j = 0.1 + 0.05 j. The candidate (random) has the
 * known value mean(p). Over 20 seeds of 20,000 episodes: switch-DR's and
 * DR's intervals contain the truth in at least 16, switch-DR's mean error is
 * under 0.01 and its interval narrower than IPS's; with tau infinite
 * switch-DR is DR and clipped IPS is IPS, exactly.
 */
static void test_tiny_propensities(void **unused)
{
	enum { EPS = 20000, SEEDS_TINY = 20 };
	const double e = 0.002;
	double truth = 0;
	int cover_sw = 0;
	int cover_dr = 0;
	double err_sw = 0;
	double width_sw = 0;
	double width_ips = 0;
	customer_attrs cust;

	(void)unused;
	memset(&cust, 0, sizeof(cust));
	cust.age = -1;
	for (size_t j = 0; j < NOFFERS; j++)
		truth += (0.1 + 0.05 * (double)j) / NOFFERS;
	for (uint64_t seed = 1; seed <= SEEDS_TINY; seed++) {
		ope_log log;
		ope_candidate c;
		ope_result slate;
		ope_result first;
		rng r;

		rng_seed(&r, 1000 + seed);
		ope_log_init(&log);
		for (size_t j = 0; j < NOFFERS; j++)
			ope_log_offer(&log, offer_names[j]);
		for (int i = 0; i < EPS; i++) {
			double u = rng_uniform(&r);
			size_t j = u < 1 - 9 * e ? 0 : 1 + (size_t)rng_below(&r, NOFFERS - 1);
			double prop = j == 0 ? 1 - 9 * e : e;
			int acc = rng_uniform(&r) < 0.1 + 0.05 * (double)j;
			const char *names[1] = {offer_names[j]};

			assert_int_equal(ope_log_add(&log, "Europa-M-lt30_January_0_Saturday", &cust,
			                             names, &prop, 1, acc, acc ? offer_names[j] : NULL),
			                 0);
		}
		memset(&c, 0, sizeof(c));
		agent_conf_default(&c.conf);
		c.conf.policy = POLICY_RANDOM;
		c.v = NULL;
		c.company = "T";
		assert_int_equal(ope_evaluate(&log, &c, &slate, &first), 0);
		cover_sw += first.switch_dr.lo <= truth && truth <= first.switch_dr.hi;
		cover_dr += first.dr.lo <= truth && truth <= first.dr.hi;
		err_sw += (first.switch_dr.value - truth) / SEEDS_TINY;
		width_sw += (first.switch_dr.hi - first.switch_dr.lo) / SEEDS_TINY;
		width_ips += (first.ips.hi - first.ips.lo) / SEEDS_TINY;
		if (seed == 1)
			printf(
			    "tiny propensities, truth %.4f: IPS %.4f [%.4f, %.4f], DR %.4f, clipped %.4f, "
			    "switch-DR %.4f [%.4f, %.4f] tau %g bias bound %.4f, max weight %.0f\n",
			    truth, first.ips.value, first.ips.lo, first.ips.hi, first.dr.value,
			    first.clipped.value, first.switch_dr.value, first.switch_dr.lo,
			    first.switch_dr.hi, first.tau, first.bias_bound, first.max_weight);
		if (seed == 2) {
			ope_result s2;
			ope_result f2;

			/* tau infinite: switch-DR is DR, clipped IPS is IPS. */
			c.tau = INFINITY;
			assert_int_equal(ope_evaluate(&log, &c, &s2, &f2), 0);
			assert_true(fabs(f2.switch_dr.value - f2.dr.value) < 1e-12);
			assert_true(fabs(f2.clipped.value - f2.ips.value) < 1e-12);
			assert_true(f2.bias_bound == 0);
			/* tau 1: nothing past it is corrected; clipping bounds every term by 1. */
			c.tau = 1;
			assert_int_equal(ope_evaluate(&log, &c, &s2, &f2), 0);
			assert_true(f2.tau == 1 && f2.bias_bound > 0.05);
			assert_true(f2.clipped.value < f2.ips.value);
		}
		ope_log_free(&log);
	}
	printf("tiny propensities over %d seeds: switch-DR covers %d, DR %d, mean error %+.4f, "
	       "interval width switch-DR %.4f, IPS %.4f\n",
	       SEEDS_TINY, cover_sw, cover_dr, err_sw, width_sw, width_ips);
	assert_true(cover_sw >= 16);
	assert_true(cover_dr >= 16);
	assert_true(fabs(err_sw) < 0.01);
	assert_true(width_sw < width_ips);
}

/* --- 5. a contextual candidate, replayed ----------------------------------------- */

#define CTX_EPISODES 4000
#define CTX_SLATES (NOFFERS * (NOFFERS - 1) * (NOFFERS - 2))

/* The candidate's expected acceptance for customer c: sum over slates of P(slate) P(accept). */
static double ctx_truth(policy *p, const feat_ctx *fc, const predict_req *req, const sim_context *c,
                        double *first)
{
	double sum = 0;
	double p0[NOFFERS];
	policy_slate b;

	memset(&b, 0, sizeof(b));
	policy_slot_probs(p, fc, req, &b, p0);
	for (size_t i = 0; i < NOFFERS; i++) {
		double p1[NOFFERS];

		*first += p0[i] * sim_expected_ctx(c, &i, 1);
		b.n = 1;
		b.idx[0] = i;
		policy_slot_probs(p, fc, req, &b, p1);
		for (size_t j = 0; j < NOFFERS; j++) {
			double p2[NOFFERS];

			if (j == i)
				continue;
			b.n = 2;
			b.idx[1] = j;
			policy_slot_probs(p, fc, req, &b, p2);
			for (size_t k = 0; k < NOFFERS; k++) {
				size_t sl[3] = {i, j, k};

				if (k == i || k == j)
					continue;
				sum += p0[i] * p1[j] * p2[k] * sim_expected_ctx(c, sl, 3);
			}
		}
	}
	return sum;
}

/* The same for a tabular candidate, through ope_slot_probs. */
static double tab_truth(const ope_log *l, const ope_candidate *cand, const char *key,
                        const customer_attrs *cust, const sim_context *c, double *first)
{
	unsigned char taken[NOFFERS] = {0};
	double p0[NOFFERS];
	double sum = 0;

	assert_int_equal(ope_slot_probs(l, cand, key, cust, taken, p0), 0);
	for (size_t i = 0; i < NOFFERS; i++) {
		double p1[NOFFERS];

		*first += p0[i] * sim_expected_ctx(c, &i, 1);
		taken[i] = 1;
		assert_int_equal(ope_slot_probs(l, cand, key, cust, taken, p1), 0);
		for (size_t j = 0; j < NOFFERS; j++) {
			double p2[NOFFERS];

			if (taken[j])
				continue;
			taken[j] = 1;
			assert_int_equal(ope_slot_probs(l, cand, key, cust, taken, p2), 0);
			for (size_t k = 0; k < NOFFERS; k++) {
				size_t sl[3] = {i, j, k};

				if (!taken[k])
					sum += p0[i] * p1[j] * p2[k] * sim_expected_ctx(c, sl, 3);
			}
			taken[j] = 0;
		}
		taken[i] = 0;
	}
	return sum;
}

static void test_contextual_replay(void **unused)
{
	static const char params[] = "{\"gamma_scale\":20}";
	sim_world *w = xmalloc(sizeof(*w));
	predict_req *choice = xcalloc(1, sizeof(*choice));
	values *v = values_new();
	double(*counts)[NOFFERS][2] = NULL;
	char(*keys)[AGENT_STATE_MAX] = xcalloc(CTX_EPISODES, AGENT_STATE_MAX);
	customer_attrs *custs = xcalloc(CTX_EPISODES, sizeof(*custs));
	policy *twin = NULL;
	ope_candidate sq;
	ope_candidate th;
	ope_result sq_slate;
	ope_result sq_first;
	ope_result th_slate;
	ope_result th_first;
	ope_log l;
	ope_log train;
	rng r;
	double truth_sq = 0;
	double truth_th = 0;
	double first_sq = 0;
	double first_th = 0;
	char err[256];

	(void)unused;
	assert_int_equal(sim_world_init_kind(w, SIM_WORLD_CONTEXTUAL, 11, 0), 0);
	ope_log_init(&l);
	for (size_t j = 0; j < NOFFERS; j++) {
		assert_int_equal(ope_log_offer(&l, offer_names[j]), (int)j);
		util_strlcpy(choice->offers[j], offer_names[j], sizeof(choice->offers[j]));
		choice->allowed[j] = 1;
	}
	choice->n_offers = choice->n_allowed = NOFFERS;
	ope_log_init(&train);
	for (size_t j = 0; j < NOFFERS; j++)
		assert_int_equal(ope_log_offer(&train, offer_names[j]), (int)j);
	rng_seed(&r, 5);
	/*
	 * The log: uniformly random slates (propensities 1/10, 1/9, 1/8); then
	 * as many other customers, whose log gives thompson its statistics.
	 */
	for (size_t t = 0; t < 2 * CTX_EPISODES; t++) {
		ope_log *into = t < CTX_EPISODES ? &l : &train;
		char key[AGENT_STATE_MAX];
		sim_context c;
		sim_outcome o;
		predict_req req;
		size_t sl[3];
		const char *names[3];
		double prop[3] = {1.0 / 10, 1.0 / 9, 1.0 / 8};
		char demo[CUSTOMER_SEGMENT_MAX];

		sim_context_at(w, t, &c);
		assert_int_equal(sim_request(&c, &req), 0);
		customer_segment(&req.customer, NULL, demo, sizeof(demo));
		assert_int_equal(customer_state_key(demo, &req.date, key, sizeof(key)), 0);
		if (t < CTX_EPISODES) {
			util_strlcpy(keys[t], key, AGENT_STATE_MAX);
			custs[t] = req.customer;
		}
		for (size_t k = 0; k < 3; k++) {
			size_t pick;
			int dup;

			do {
				pick = (size_t)(rng_uniform(&r) * NOFFERS) % NOFFERS;
				dup = 0;
				for (size_t q = 0; q < k; q++)
					dup |= sl[q] == pick;
			} while (dup);
			sl[k] = pick;
			names[k] = offer_names[pick];
		}
		sim_respond(w, &c, sl, 3, &o);
		assert_int_equal(ope_log_add(into, key, &req.customer, names, prop, 3, o.accepted,
		                             o.accepted ? offer_names[sl[o.slot]] : NULL),
		                 0);
		ope_log_context(into, req.states_text, req.timestamp);
		request_predict_free(&req);
	}
	/* Thompson's statistics: per state and offer, from the other customers' log (slot credit). */
	counts = xcalloc(CTX_EPISODES, sizeof(*counts));
	for (size_t i = 0; i < train.n; i++) {
		const ope_episode *e = &train.eps[i];

		for (size_t k = 0; k < e->n; k++) {
			counts[e->state][e->shown[k]][0] += 1;
			counts[e->state][e->shown[k]][1] += e->slot == (int)k;
		}
	}
	for (size_t s = 0; s < train.states->n; s++) {
		for (size_t j = 0; j < NOFFERS; j++) {
			double n = counts[s][j][0];
			double a = counts[s][j][1];

			if (n > 0)
				set_row(v, "A", ope_log_state_key(&train, s), offer_names[j], n, a, a,
				        n - a);
		}
	}
	memset(&th, 0, sizeof(th));
	agent_conf_default(&th.conf);
	th.conf.policy = POLICY_THOMPSON;
	th.v = v;
	th.company = "A";
	th.seed = 1;
	memset(&sq, 0, sizeof(sq));
	agent_conf_default(&sq.conf);
	sq.seed = 1;
	assert_int_equal(policy_new(policy_find("squarecb"), params, &sq.learner, err, sizeof(err)), 0);
	assert_int_equal(policy_new(policy_find("squarecb"), params, &twin, err, sizeof(err)), 0);
	/* The truth: a twin replayed the same way, its exact value for each logged customer. */
	for (size_t t = 0; t < CTX_EPISODES; t++) {
		const ope_episode *e = &l.eps[t];
		const policy_common *pc = policy_params(twin);
		sim_context c;
		feat_ctx fc;
		policy_slate shown;
		policy_feedback fb;

		sim_context_at(w, t, &c);
		assert_int_equal(model_episode_context(e->states, e->ts, keys[t], &fc), 0);
		truth_sq += ctx_truth(twin, &fc, choice, &c, &first_sq) / CTX_EPISODES;
		truth_th += tab_truth(&l, &th, keys[t], &custs[t], &c, &first_th) / CTX_EPISODES;
		memset(&shown, 0, sizeof(shown));
		memset(&fb, 0, sizeof(fb));
		shown.n = fb.n = e->n;
		for (size_t k = 0; k < e->n; k++) {
			shown.idx[k] = e->shown[k];
			fb.reward[k] = e->slot == (int)k ? pc->r_accept : pc->r_ignore;
		}
		policy_cascade(fb.n, e->slot, fb.credited);
		assert_int_equal(policy_learn(twin, &fc, choice, &shown, &fb), 0);
	}
	assert_int_equal(ope_evaluate(&l, &sq, &sq_slate, &sq_first), 0);
	assert_int_equal(ope_evaluate(&l, &th, &th_slate, &th_first), 0);
	first_sq /= CTX_EPISODES;
	first_th /= CTX_EPISODES;
	print_message("contextual, first slot: truth squarecb %.4f thompson %.4f; squarecb IPS %.4f "
	              "[%.4f, %.4f] DR %.4f [%.4f, %.4f]; thompson IPS %.4f DR %.4f; ess %.0f\n",
	              first_sq, first_th, sq_first.ips.value, sq_first.ips.lo, sq_first.ips.hi,
	              sq_first.dr.value, sq_first.dr.lo, sq_first.dr.hi, th_first.ips.value,
	              th_first.dr.value, sq_first.ess);
	print_message(
	    "contextual, slate: truth squarecb %.4f thompson %.4f; squarecb IPS %.4f [%.4f, %.4f] "
	    "DR %.4f [%.4f, %.4f]; thompson IPS %.4f DR %.4f; logged %.4f; ess %.0f\n",
	    truth_sq, truth_th, sq_slate.ips.value, sq_slate.ips.lo, sq_slate.ips.hi, sq_slate.dr.value,
	    sq_slate.dr.lo, sq_slate.dr.hi, th_slate.ips.value, th_slate.dr.value, sq_slate.logged.value,
	    sq_slate.ess);
	assert_int_equal(sq_slate.n, CTX_EPISODES);
	assert_int_equal(sq_slate.skipped, 0);
	/*
	 * The first slot (weights at most 10): tight intervals that contain the
	 * truth, and the ranking the truth gives. The slate (weights up to 720
	 * against a uniform logger): wide, but they contain it too.
	 */
	assert_true(inside(&sq_first.ips, first_sq));
	assert_true(inside(&sq_first.dr, first_sq));
	assert_true(inside(&sq_first.switch_dr, first_sq));
	assert_true(sq_first.dr.hi - sq_first.dr.lo < 0.1);
	assert_true(first_sq > first_th + 0.02);
	assert_true(sq_first.dr.value > th_first.dr.value);
	assert_true(sq_first.ips.value > th_first.ips.value);
	assert_true(inside(&sq_slate.ips, truth_sq));
	assert_true(inside(&sq_slate.dr, truth_sq));
	assert_true(truth_sq > truth_th);
	/* The replay learned: it beats the uniform logger it learned from. */
	assert_true(truth_sq > sq_slate.logged.value);
	policy_free(twin);
	policy_free(sq.learner);
	ope_log_free(&l);
	ope_log_free(&train);
	values_free(v);
	free(counts);
	free(keys);
	free(custs);
	free(choice);
	free(w);
}

/*
 * The contextual policies' slot_probs (what evaluate scores with) equal the
 * propensities their decide logs, slot by slot, and sum to 1, on customers
 * of the contextual world after some learning.
 */
static void test_contextual_probs_match_decide(void **unused)
{
	static const char *const names[] = {"squarecb", "linear-ts"};
	sim_world *w = xmalloc(sizeof(*w));
	double worst[2] = {0, 0};

	(void)unused;
	assert_int_equal(sim_world_init_kind(w, SIM_WORLD_CONTEXTUAL, 3, 0), 0);
	for (size_t q = 0; q < UTIL_ARRAY_LEN(names); q++) {
		policy *p = NULL;
		char err[256];
		rng r;

		assert_int_equal(policy_new(policy_find(names[q]), NULL, &p, err, sizeof(err)), 0);
		rng_seed(&r, 9);
		for (uint64_t t = 0; t < 400; t++) {
			const policy_common *pc = policy_params(p);
			sim_context c;
			sim_outcome o;
			predict_req req;
			feat_ctx fc;
			policy_slate sl;
			policy_slate before;
			policy_feedback fb;
			size_t idx[3];

			sim_context_at(w, t, &c);
			assert_int_equal(sim_request(&c, &req), 0);
			assert_int_equal(feat_context(&req, NULL, &fc), 0);
			assert_int_equal(policy_decide(p, &fc, &req, &r, &sl), 0);
			memset(&before, 0, sizeof(before));
			for (size_t k = 0; k < sl.n; k++) {
				double probs[REQ_OFFERS_MAX];
				double sum = 0;

				policy_slot_probs(p, &fc, &req, &before, probs);
				for (size_t j = 0; j < req.n_offers; j++)
					sum += probs[j];
				/* squarecb's are exact; linear-ts's win probabilities are by quadrature. */
				if (fabs(sum - 1.0) > worst[q])
					worst[q] = fabs(sum - 1.0);
				assert_true(fabs(probs[sl.idx[k]] - sl.propensity[k]) < 1e-12);
				before.idx[before.n++] = sl.idx[k];
			}
			for (size_t k = 0; k < sl.n; k++)
				idx[k] = sl.idx[k];
			sim_respond(w, &c, idx, sl.n, &o);
			memset(&fb, 0, sizeof(fb));
			fb.n = sl.n;
			for (size_t k = 0; k < sl.n; k++)
				fb.reward[k] = o.slot == (int)k ? pc->r_accept : pc->r_ignore;
			policy_cascade(fb.n, o.slot, fb.credited);
			assert_int_equal(policy_learn(p, &fc, &req, &sl, &fb), 0);
			request_predict_free(&req);
		}
		policy_free(p);
	}
	print_message("slot probabilities sum to 1 within %.3g (squarecb), %.3g (linear-ts)\n", worst[0],
	              worst[1]);
	assert_true(worst[0] < 1e-9);
	assert_true(worst[1] < 0.02);
	free(w);
}

/* The two ways to count an episode without reward, by name, both ways. */
static void test_missing_names(void **unused)
{
	enum ope_missing m = OPE_MISSING_SKIP;

	(void)unused;
	assert_int_equal(ope_missing_parse("reject", &m), 0);
	assert_int_equal(m, OPE_MISSING_REJECT);
	assert_string_equal(ope_missing_name(m), "reject");
	assert_int_equal(ope_missing_parse("skip", &m), 0);
	assert_int_equal(m, OPE_MISSING_SKIP);
	assert_string_equal(ope_missing_name(m), "skip");
	assert_int_equal(ope_missing_parse("Skip", &m), ERR_INVAL);
	assert_int_equal(ope_missing_parse("", &m), ERR_INVAL);
	assert_int_equal(ope_missing_parse(NULL, &m), ERR_INVAL);
	assert_int_equal(m, OPE_MISSING_SKIP); /* untouched by a refusal */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_missing_names),
	    cmocka_unit_test(test_probs_match_agent),
	    cmocka_unit_test(test_unbiased_exact),
	    cmocka_unit_test(test_simulated_truth),
	    cmocka_unit_test(test_load),
	    cmocka_unit_test(test_tiny_propensities),
	    cmocka_unit_test(test_contextual_probs_match_decide),
	    cmocka_unit_test(test_contextual_replay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
