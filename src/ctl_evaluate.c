/*
 * ctl_evaluate.c — offerctl evaluate: off-policy evaluation of a candidate
 * policy over a company's logged episodes and rewards (ope.h). The
 * candidate is fixed: its rule over the statistics as TB_POLICY holds them
 * now (or those of another company with --values-company).
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "db.h"
#include "ope.h"
#include "request.h"
#include "util.h"

#define DRAWS_DEFAULT 256
#define DRAWS_MAX 100000

typedef struct eval_opts {
	const char *policy;
	const char *from;
	const char *url;
	const char *company;
	const char *values_company;
	const char *offers;
	enum ope_missing missing;
	double epsilon;
	int epsilon_set;
	int64_t draws;
	int64_t seed;
} eval_opts;

static void evaluate_help(void)
{
	printf("usage: offerctl evaluate --policy P [options]\n\n"
	       "Estimates the acceptance rate a candidate policy would have had on the\n"
	       "logged episodes, from their rewards and logged propensities: IPS, SNIPS and\n"
	       "doubly robust, with 95%% intervals, beside the logged policy's actual rate.\n"
	       "The candidate is fixed: its rule over the statistics in TB_POLICY as they\n"
	       "are now. docs/simulation.md explains the estimands and their limits.\n\n"
	       "  --policy P           weighted, epsilon-greedy, greedy (epsilon 0), thompson,\n"
	       "                       ucb or random\n"
	       "  --epsilon E          epsilon-greedy's exploration (default 0.1)\n"
	       "  --from DATE          episodes logged at or after DATE (YYYY-MM-DD[THH:MM:SS])\n"
	       "  --company C          whose episodes (default A)\n"
	       "  --values-company C   whose statistics the candidate uses (default --company)\n"
	       "  --offers LIST        the candidate's choice set, comma-separated (default: the\n"
	       "                       catalogue when it has at most %d offers, plus every offer\n"
	       "                       logged)\n"
	       "  --missing M          an episode without reward: reject (counts as not\n"
	       "                       accepted, the default) or skip\n"
	       "  --draws N            Thompson sampling's Monte Carlo draws per episode (%d)\n"
	       "  --seed S             for those draws (default 1)\n"
	       "  --database-url URL   default $DATABASE_URL, else sqlite:var/offerd.db\n",
	       OPE_OFFERS_MAX, DRAWS_DEFAULT);
}

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "offerctl evaluate: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see offerctl evaluate --help)\n");
	return 2;
}

static int parse_opts(int argc, char **argv, eval_opts *o)
{
	const char *eps = NULL;
	const char *draws = NULL;
	const char *seed = NULL;
	const char *missing = NULL;

	memset(o, 0, sizeof(*o));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **dst = NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			evaluate_help();
			return 3;
		}
		if (strcmp(a, "--policy") == 0)
			dst = &o->policy;
		else if (strcmp(a, "--epsilon") == 0)
			dst = &eps;
		else if (strcmp(a, "--from") == 0)
			dst = &o->from;
		else if (strcmp(a, "--database-url") == 0)
			dst = &o->url;
		else if (strcmp(a, "--company") == 0)
			dst = &o->company;
		else if (strcmp(a, "--values-company") == 0)
			dst = &o->values_company;
		else if (strcmp(a, "--offers") == 0)
			dst = &o->offers;
		else if (strcmp(a, "--missing") == 0)
			dst = &missing;
		else if (strcmp(a, "--draws") == 0)
			dst = &draws;
		else if (strcmp(a, "--seed") == 0)
			dst = &seed;
		if (dst == NULL)
			return usage("unknown argument %s", a);
		if (i + 1 >= argc)
			return usage("%s needs a value", a);
		*dst = argv[++i];
	}
	if (o->policy == NULL)
		return usage("--policy is required");
	if (o->company == NULL)
		o->company = "A";
	if (o->values_company == NULL)
		o->values_company = o->company;
	o->epsilon = 0.1;
	if (eps != NULL) {
		if (util_strtod(eps, 0.0, 1.0, &o->epsilon) != 0)
			return usage("--epsilon must be within [0, 1]");
		o->epsilon_set = 1;
	}
	o->draws = DRAWS_DEFAULT;
	if (draws != NULL && util_strtonum(draws, 1, DRAWS_MAX, &o->draws) != 0)
		return usage("--draws must be 1..%d", DRAWS_MAX);
	o->seed = 1;
	if (seed != NULL && util_strtonum(seed, 0, INT64_MAX, &o->seed) != 0)
		return usage("--seed must be a non-negative integer");
	o->missing = OPE_MISSING_REJECT;
	if (missing != NULL) {
		if (strcmp(missing, "skip") == 0)
			o->missing = OPE_MISSING_SKIP;
		else if (strcmp(missing, "reject") != 0)
			return usage("--missing must be reject or skip");
	}
	if (o->from != NULL) {
		date_ymd d;

		if (date_parse(o->from, &d) != 0)
			return usage("--from must be YYYY-MM-DD or an ISO 8601 date-time");
	}
	return 0;
}

static int load_values(void *arg, const db_policy_row *row)
{
	values_set(arg, row);
	return 0;
}

static void print_interval(const char *name, const ope_interval *i)
{
	if (isnan(i->value))
		printf("  %-18s %8s\n", name, "-");
	else if (isnan(i->lo))
		printf("  %-18s %8.4f\n", name, i->value);
	else
		printf("  %-18s %8.4f   [%.4f, %.4f]\n", name, i->value, i->lo, i->hi);
}

static void print_result(const char *title, const ope_result *r)
{
	printf("\n%s: %zu episodes\n", title, r->n);
	if (r->n == 0) {
		printf("  (none: the rewards do not say which offer was accepted; send accepted_offer)\n");
		return;
	}
	printf("  %-18s %8s   %s\n", "", "estimate", "95% interval");
	print_interval("logged (actual)", &r->logged);
	print_interval("IPS", &r->ips);
	print_interval("SNIPS", &r->snips);
	print_interval("doubly robust", &r->dr);
	printf("  %-18s %8.4f   (reward model alone, biased; no interval)\n", "direct method", r->dm);
	printf("  weights: effective sample size %.0f of %zu, positive in %.1f%% of episodes, "
	       "largest %.3g\n",
	       r->ess, r->n, 100.0 * r->support, r->max_weight);
	if (r->support == 0)
		printf("  warning: the candidate never chose what was logged: these logs say nothing "
		       "about it\n  (IPS is 0 by construction, DR is the reward model alone)\n");
	else if (r->ess < 100)
		printf("  warning: effective sample size below 100: the intervals are unreliable\n"
		       "  (the candidate seldom does what the logging policy did)\n");
}

int ctl_evaluate(int argc, char **argv)
{
	eval_opts o;
	ope_log log;
	ope_candidate cand;
	ope_result slate;
	ope_result first;
	values *v = NULL;
	store *s = NULL;
	const char *url;
	char err[256] = "";
	int64_t max_rev = 0;
	int rc = parse_opts(argc, argv, &o);

	if (rc != 0)
		return rc == 3 ? 0 : rc;
	memset(&cand, 0, sizeof(cand));
	agent_conf_default(&cand.conf);
	if (util_streq_nocase(o.policy, "greedy")) {
		cand.conf.policy = POLICY_EPSILON_GREEDY;
		cand.conf.epsilon = 0;
		if (o.epsilon_set && o.epsilon != 0)
			return usage("greedy means --epsilon 0");
	} else if (agent_policy_parse(o.policy, &cand.conf.policy) != 0) {
		return usage("unknown policy %s (weighted, epsilon-greedy, greedy, thompson, ucb, random)",
		             o.policy);
	} else {
		cand.conf.epsilon = o.epsilon;
	}
	ope_log_init(&log);
	url = ctl_database_url(o.url);
	rc = store_open(url, &s);
	if (rc != 0) {
		fprintf(stderr, "offerctl evaluate: cannot open %s\n", url);
		rc = 1;
		goto out;
	}
	rc = db_migrate(s);
	if (rc != 0) {
		fprintf(stderr, "offerctl evaluate: cannot prepare the schema: %s\n", s->ops->errmsg(s));
		rc = 1;
		goto out;
	}
	v = values_new();
	rc = db_policy_since(s, 0, load_values, v, &max_rev);
	if (rc != 0) {
		fprintf(stderr, "offerctl evaluate: cannot read tb_policy: %s\n", s->ops->errmsg(s));
		rc = 1;
		goto out;
	}
	rc = ope_load(s, o.company, o.from, o.missing, o.offers, &log, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "offerctl evaluate: %s\n", err);
		rc = 1;
		goto out;
	}
	cand.v = v;
	cand.company = o.values_company;
	cand.draws = (int)o.draws;
	cand.seed = (uint64_t)o.seed;
	printf("evaluate: candidate %s", o.policy);
	if (cand.conf.policy == POLICY_EPSILON_GREEDY)
		printf(" (epsilon %g)", cand.conf.epsilon);
	printf(" over company %s's statistics, on company %s's episodes", o.values_company, o.company);
	if (o.from != NULL)
		printf(" since %s", o.from);
	printf("\nepisodes: %zu read, %zu used; %zu without propensities (skipped), %zu without a "
	       "reward (%s)",
	       log.read, log.n, log.no_propensity, log.no_reward,
	       o.missing == OPE_MISSING_SKIP ? "skipped" : "counted as not accepted");
	if (log.unknown_offer > 0)
		printf(", %zu past the %d-offer choice set (skipped)", log.unknown_offer, OPE_OFFERS_MAX);
	printf("\nlogged by: %s\nchoice set: %zu offers\n", log.policies[0] ? log.policies : "-",
	       ope_log_noffers(&log));
	if (log.n == 0) {
		printf("nothing to evaluate\n");
		rc = 1;
		goto out;
	}
	rc = ope_evaluate(&log, &cand, &slate, &first);
	if (rc != 0) {
		fprintf(stderr, "offerctl evaluate: cannot evaluate (%d)\n", rc);
		rc = 1;
		goto out;
	}
	print_result("P(the slate gets an accept)", &slate);
	print_result("P(the first slot's offer is accepted)", &first);
	rc = 0;
out:
	ope_log_free(&log);
	values_free(v);
	store_close(s);
	return rc;
}
