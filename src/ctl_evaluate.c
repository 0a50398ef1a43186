/*
 * ctl_evaluate.c — offerctl evaluate: off-policy evaluation of a candidate
 * policy over a company's logged episodes and rewards (ope.h). A tabular
 * candidate is fixed: its rule over the statistics as TB_POLICY holds them
 * now (or those of another company with --values-company). A contextual one
 * (linear-ts, squarecb, with --params) starts empty and is replayed over the
 * log, learning each episode's reward after scoring it. The computation is
 * evaluation_run (evaluation.c), the one POST /evaluations runs: --json
 * prints its results exactly as GET /evaluations/{id} does.
 */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent.h"
#include "ctl.h"
#include "db.h"
#include "evaluation.h"
#include "ope.h"
#include "policy.h"
#include "request.h"
#include "util.h"

typedef struct eval_opts {
	char *policy;
	char *params;
	char *from;
	char *to;
	char *database_url;
	char *company;
	char *values_company;
	char *offers;
	char *missing_text;
	enum ope_missing missing;
	double epsilon; /* < 0 until given */
	int epsilon_set;
	int64_t seed;
	double tau;
	int json;
} eval_opts;

#define O(field) offsetof(eval_opts, field)
#define STR_(x) #x
#define STR(x) STR_(x)

static const config_opt opts[] = {
    {"policy P", NULL, CONFIG_STR, O(policy), NULL, 0, 0,
     AGENT_POLICY_NAMES ", or greedy: epsilon-greedy with epsilon 0 (required)"},
    CTL_OPT_PARAMS(eval_opts, params,
                   "a contextual candidate's knobs, as an agent version's PARAMS "
                   "('{\"gamma_scale\":100}')"),
    {"epsilon E", NULL, CONFIG_DBL, O(epsilon), NULL, 0, 1,
     "epsilon-greedy's exploration (default 0.1)"},
    CTL_OPT_FROM(eval_opts, from),
    CTL_OPT_TO(eval_opts, to),
    CTL_OPT_COMPANY(eval_opts, company, "A", "whose episodes"),
    {"values-company C", NULL, CONFIG_STR, O(values_company), NULL, 1, DB_COMPANY_MAX - 1,
     "whose statistics the candidate uses (default --company)"},
    {"offers LIST", NULL, CONFIG_STR, O(offers), NULL, 0, 0,
     "the candidate's choice set, comma-separated (default: the catalogue when it has at most " STR(
         REQ_OFFERS_MAX) " offers, plus every offer logged)"},
    {"missing M", NULL, CONFIG_STR, O(missing_text), "reject", 0, 0,
     "an episode without reward: reject (counts as not accepted) or skip"},
    {"tau T", NULL, CONFIG_DBL, O(tau), "0", 0, 1e12,
     "clipped IPS's and switch-DR's weight threshold (0: the one of least estimated MSE)"},
    {"seed S", NULL, CONFIG_I64, O(seed), "1", 0, 1e18,
     "slates sampled when the choice set has more than 16 offers"},
    {"json", NULL, CONFIG_FLAG, O(json), NULL, 0, 0,
     "print the results as GET /evaluations/{id} gives them (the same computation)"},
    CTL_OPT_DATABASE_URL(eval_opts, database_url),
};

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
		printf(
		    "  (none: the rewards do not say which offer was accepted; send accepted_offer)\n");
		return;
	}
	printf("  %-18s %8s   %s\n", "", "estimate", "95% interval");
	print_interval("logged (actual)", &r->logged);
	print_interval("IPS", &r->ips);
	print_interval("SNIPS", &r->snips);
	print_interval("doubly robust", &r->dr);
	print_interval("clipped IPS", &r->clipped);
	print_interval("switch-DR", &r->switch_dr);
	printf("  %-18s %8.4g   (clipping and switch threshold; bias at most %.4f)\n", "tau", r->tau,
	       r->bias_bound);
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

/* The command line as an evaluation request (evaluation.h): one candidate. */
static int build_request(const eval_opts *o, eval_request *q)
{
	const ctl_spec *spec = &ctl_evaluate_spec;
	eval_policy *p = &q->policies[0];
	const policy_type *ctx_type = policy_find(o->policy);
	ope_candidate c;
	char err[256];

	evaluation_request_init(q);
	q->n = 1;
	util_strlcpy(p->name, o->policy, sizeof(p->name));
	if (strlen(o->policy) >= sizeof(p->name))
		return ctl_usage(spec, "unknown policy %s", o->policy);
	if (o->params != NULL && ctx_type == NULL)
		return ctl_usage(spec, "--params is for a contextual candidate (linear-ts, squarecb)");
	if (o->params != NULL) {
		if (strlen(o->params) >= sizeof(p->params))
			return ctl_usage(spec, "--params is longer than %d bytes", EVAL_PARAMS_MAX - 1);
		util_strlcpy(p->params, o->params, sizeof(p->params));
	} else if (util_streq_nocase(o->policy, "greedy")) {
		if (o->epsilon_set && o->epsilon != 0)
			return ctl_usage(spec, "greedy means --epsilon 0");
	} else if (util_streq_nocase(o->policy, "epsilon-greedy")) {
		snprintf(p->params, sizeof(p->params), "{\"epsilon\":%.17g}", o->epsilon);
	}
	if (evaluation_candidate(p, &c, err, sizeof(err)) != 0)
		return ctl_usage(spec, "%s%s", ctx_type != NULL ? "--params: " : "", err);
	policy_free(c.learner);
	if ((o->from != NULL && strlen(o->from) >= sizeof(q->from)) ||
	    (o->to != NULL && strlen(o->to) >= sizeof(q->to)))
		return ctl_usage(spec, "--from and --to are at most %zu bytes", sizeof(q->from) - 1);
	if (o->from != NULL)
		util_strlcpy(q->from, o->from, sizeof(q->from));
	if (o->to != NULL)
		util_strlcpy(q->to, o->to, sizeof(q->to));
	if (o->offers != NULL) {
		if (strlen(o->offers) >= sizeof(q->offers))
			return ctl_usage(spec, "--offers is too long");
		util_strlcpy(q->offers, o->offers, sizeof(q->offers));
	}
	util_strlcpy(q->values_company, o->values_company, sizeof(q->values_company));
	q->missing = o->missing;
	q->tau = o->tau;
	q->seed = (uint64_t)o->seed;
	return -1;
}

static int run(ctl_cmd *c)
{
	const eval_opts *o = c->opts;
	eval_request *q = xmalloc(sizeof(*q));
	eval_outcome *out = xmalloc(sizeof(*out));
	store *s;
	char err[256] = "";
	int contextual;
	int rc;

	rc = build_request(o, q);
	if (rc >= 0)
		goto out;
	contextual = policy_find(o->policy) != NULL;
	if (ctl_store(c, &s) != 0) {
		rc = 1;
		goto out;
	}
	rc = evaluation_run(s, o->company, q, NULL, NULL, out, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "%s: %s\n", c->spec->prog, err);
		rc = 1;
		goto out;
	}
	if (o->json) {
		json_t *j = evaluation_result_json(q, out);
		char *text = json_dumps(j,
		                        JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));

		printf("%s\n", text);
		free(text);
		json_decref(j);
		rc = out->used == 0;
		goto out;
	}
	printf("evaluate: candidate %s", o->policy);
	if (contextual)
		printf(" (%s), replayed from empty statistics, on company %s's episodes",
		       o->params != NULL ? o->params : "default parameters", o->company);
	else if (util_streq_nocase(o->policy, "epsilon-greedy"))
		printf(" (epsilon %g)", o->epsilon);
	else if (util_streq_nocase(o->policy, "greedy"))
		printf(" (epsilon 0)");
	if (!contextual)
		printf(" over company %s's statistics, on company %s's episodes", o->values_company,
		       o->company);
	if (o->from != NULL)
		printf(" since %s", o->from);
	if (o->to != NULL)
		printf(" through %s", o->to);
	printf("\nepisodes: %zu read, %zu used; %zu without propensities (skipped), %zu without a "
	       "reward (%s)",
	       out->read, out->used, out->no_propensity, out->no_reward,
	       o->missing == OPE_MISSING_SKIP ? "skipped" : "counted as not accepted");
	if (out->unknown_offer > 0)
		printf(", %zu past the %d-offer choice set (skipped)", out->unknown_offer,
		       OPE_OFFERS_MAX);
	printf("\nlogged by: %s\nchoice set: %zu offers\n", out->logged_by[0] ? out->logged_by : "-",
	       out->choice_set);
	if (out->used == 0) {
		printf("nothing to evaluate\n");
		rc = 1;
		goto out;
	}
	if (out->slate[0].skipped > 0)
		printf(
		    "skipped: %zu episodes without states or request timestamp (cannot be replayed)\n",
		    out->slate[0].skipped);
	print_result("P(the slate gets an accept)", &out->slate[0]);
	print_result("P(the first slot's offer is accepted)", &out->first[0]);
	rc = 0;
out:
	free(q);
	free(out);
	return rc;
}

/* Returns -1 to go on, else 2 after reporting a usage error. */
static int check(const ctl_cmd *c)
{
	eval_opts *o = c->opts;
	date_window w;
	const char *field;
	char err[160];

	if (o->policy == NULL)
		return ctl_usage(c->spec, "--policy is required");
	if (o->values_company == NULL)
		o->values_company = xstrdup(o->company);
	o->epsilon_set = o->epsilon >= 0;
	if (!o->epsilon_set)
		o->epsilon = 0.1;
	if (ope_missing_parse(o->missing_text, &o->missing) != 0)
		return ctl_usage(c->spec, "--missing must be reject or skip");
	if (date_window_parse(o->from, o->to, &w, &field, err, sizeof(err)) != 0)
		return ctl_usage(c->spec, "--%s", err);
	return -1;
}

const ctl_spec ctl_evaluate_spec = {
    CTL_USAGE("evaluate", " --policy P [options]",
              "Estimates the acceptance rate a candidate policy would have had on the\n"
              "logged episodes, from their rewards and logged propensities: IPS, SNIPS,\n"
              "doubly robust, clipped IPS and switch-DR (for tiny propensities), with 95%\n"
              "intervals, beside the logged policy's actual rate.\n"
              "A tabular candidate is fixed: its rule over the statistics in TB_POLICY as\n"
              "they are now. A contextual one (linear-ts, squarecb) is replayed in log\n"
              "order, learning each logged reward after it is scored.\n"
              "docs/simulation.md explains the estimands and their limits.\n"),
    CTL_OPTS(opts, eval_opts),
    /* --epsilon has no default in the table, so that greedy can tell it was given. */
    .preset = &(const eval_opts){.epsilon = -1},
    .check = check,
    .run = run,
};
