/*
 * ctl_simulate.c — offerctl simulate: the policies against the simulated
 * population of sim.h, in process through the real agent and writer, or
 * through HTTP against a running offerd (--url). Prints one row per policy:
 * acceptance, reward on the agent's scale and regret against the oracle;
 * --csv writes the learning curves.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "agent.h"
#include "client.h"
#include "csvout.h"
#include "ctl.h"
#include "db.h"
#include "log.h"
#include "policy.h"
#include "sim.h"
#include "util.h"

#define SIM_TRUTH_DRAWS 16

typedef struct sim_opts {
	char *policy;
	char *csv;
	char *url;
	char *api_key;
	char *database_url;
	char *truth;
	char *params;
	char *world;
	int64_t episodes;
	int64_t seed;
	int64_t drift_at; /* < 0 until given */
	int64_t every;    /* 0 until given */
	int64_t batch;    /* 0 until given */
	double epsilon;
	int memory;
	int quiet;
} sim_opts;

#define O(field) offsetof(sim_opts, field)

static const config_opt opts[] = {
    {"policy P", NULL, CONFIG_STR, O(policy), "all", 0, 0,
     AGENT_POLICY_NAMES " (the contextual ones in memory), oracle, or all"},
    {"world W", NULL, CONFIG_STR, O(world), "today", 0, 0,
     "today (48 states) or contextual (customers with age, gender, region, channel, "
     "tenure, last offer, any date; docs/simulation.md)"},
    {"episodes N", NULL, CONFIG_I64, O(episodes), "20000", 1, (double)SIM_EPISODES_MAX,
     "episodes per policy"},
    {"seed S", NULL, CONFIG_I64, O(seed), "1", 0, 1e18,
     "the world, the customers and the policies' draws"},
    {"drift-at D", NULL, CONFIG_I64, O(drift_at), NULL, 0, (double)SIM_EPISODES_MAX,
     "episode from which the probabilities change (default N/2; 0: never)"},
    CTL_OPT_EPSILON(sim_opts, epsilon),
    CTL_OPT_PARAMS(sim_opts, params, "the agent's knobs, as offerctl agent release takes them"),
    {"database-url URL", NULL, CONFIG_STR, O(database_url), NULL, 0, 0,
     "learn through this store, company sim-<policy> (default: SQLite in memory per policy)"},
    {"memory", NULL, CONFIG_FLAG, O(memory), NULL, 0, 0,
     "no database: the writer's updates applied in memory only"},
    {"batch B", NULL, CONFIG_I64, O(batch), NULL, 1, 10000,
     "episodes per transaction (default 1: every decision sees every earlier reward; 100 "
     "with --database-url)"},
    {"csv FILE", NULL, CONFIG_STR, O(csv), NULL, 0, 0,
     "the curves: episode,policy,accepts,accept_rate,window_rate,cum_reward,cum_regret"},
    {"every N", NULL, CONFIG_I64, O(every), NULL, 1, (double)SIM_EPISODES_MAX,
     "episodes between rows of --csv (default N/200)"},
    {"truth LIST", NULL, CONFIG_STR, O(truth), NULL, 0, 0,
     "after each run, the true value of these fixed candidates (comma-separated policies, or "
     "greedy) on the run's contexts"},
    {CTL_OPT_NAME_URL, NULL, CONFIG_STR, O(url), NULL, 0, 0,
     "go through a running offerd instead (/predict, /rewards): one row for its agent"},
    CTL_OPT_API_KEY(sim_opts, api_key),
    {"quiet", NULL, CONFIG_FLAG, O(quiet), NULL, 0, 0, "no progress on stderr"},
};

/* --- output ------------------------------------------------------------ */

typedef struct curve_out {
	FILE *f;
	const char *label; /* the policy of the previous row */
	uint64_t episodes; /* and its counts, for the window's rate */
	uint64_t accepts;
	buf field; /* the label as a CSV field */
} curve_out;

static void on_curve(void *arg, const char *label, const sim_stats *s)
{
	curve_out *c = arg;
	uint64_t n;

	if (c->f == NULL)
		return;
	if (c->label == NULL || strcmp(c->label, label) != 0) {
		c->label = label;
		c->episodes = 0;
		c->accepts = 0;
	}
	n = s->episodes - c->episodes;
	buf_reset(&c->field);
	if (csv_write_field(&c->field, label) != 0)
		return;
	fprintf(c->f, "%" PRIu64 ",%s,%" PRIu64 ",%.6f,%.6f,%.3f,%.4f\n", s->episodes,
	        c->field.data != NULL ? c->field.data : "", s->accepts,
	        s->episodes ? (double)s->accepts / (double)s->episodes : 0.0,
	        n ? (double)(s->accepts - c->accepts) / (double)n : 0.0, s->reward, s->regret);
	c->episodes = s->episodes;
	c->accepts = s->accepts;
}

static void print_header(const sim_opts *o, const char *how)
{
	if (strcmp(o->world, "contextual") == 0)
		printf("simulate: %" PRId64 " episodes per policy, seed %" PRId64
		       ", contextual world, %d offers, ",
		       o->episodes, o->seed, SIM_OFFERS);
	else
		printf("simulate: %" PRId64 " episodes per policy, seed %" PRId64
		       ", %d states x %d offers, ",
		       o->episodes, o->seed, SIM_STATES, SIM_OFFERS);
	if (o->drift_at > 0 && o->drift_at < o->episodes)
		printf("drift at episode %" PRId64 "\n", o->drift_at);
	else
		printf("no drift\n");
	printf("learning: %s\n\n", how);
	printf("%-16s %8s %8s %8s %10s %10s %8s %8s\n", "policy", "accept", "before", "after",
	       "reward/ep", "regret", "regret%", "2nd-half");
}

static void print_row(const sim_opts *o, const char *label, const sim_stats *s)
{
	uint64_t nb = s->episodes - s->episodes_after;
	uint64_t ab = s->accepts - s->accepts_after;
	char after[16];

	char half2[16];

	if (s->episodes_after > 0)
		snprintf(after, sizeof(after), "%.4f",
		         (double)s->accepts_after / (double)s->episodes_after);
	else
		snprintf(after, sizeof(after), "-");
	/* The second half's regret, as issue 13's targets read it. */
	if (s->oracle2 > 0)
		snprintf(half2, sizeof(half2), "%.1f%%", 100.0 * s->regret2 / s->oracle2);
	else
		snprintf(half2, sizeof(half2), "-");
	(void)o;
	printf("%-16s %8.4f %8.4f %8s %10.3f %10.1f %7.1f%% %8s\n", label,
	       (double)s->accepts / (double)s->episodes, nb ? (double)ab / (double)nb : 0.0, after,
	       s->reward / (double)s->episodes, s->regret,
	       s->oracle > 0 ? 100.0 * s->regret / s->oracle : 0.0, half2);
	fflush(stdout);
}

/* --- truth of fixed candidates ------------------------------------------ */

/* Parses one candidate name: a policy, or "greedy" (epsilon-greedy, epsilon 0). */
static int candidate_conf(const char *name, agent_conf *c)
{
	agent_conf_default(c);
	if (util_streq_nocase(name, "greedy")) {
		c->policy = POLICY_EPSILON_GREEDY;
		c->epsilon = 0;
		return 0;
	}
	return agent_policy_parse(name, &c->policy);
}

static int print_truth(const sim_opts *o, const sim_world *w, sim_inproc *p, const char *company)
{
	const char *next = o->truth;
	int rc = 0;

	printf("    true values on these %" PRId64 " contexts, candidates over the statistics %s "
	       "learned:\n",
	       o->episodes, company);
	while (next != NULL && *next != '\0') {
		const char *comma = strchr(next, ',');
		size_t len = comma ? (size_t)(comma - next) : strlen(next);
		char name[32];
		agent_conf c;
		double slate = 0;
		double first = 0;

		snprintf(name, sizeof(name), "%.*s", (int)(len < sizeof(name) ? len : sizeof(name) - 1),
		         next);
		next = comma ? comma + 1 : NULL;
		if (candidate_conf(name, &c) != 0) {
			fprintf(stderr, "offerctl simulate: --truth: unknown policy %s\n", name);
			rc = 2;
			break;
		}
		rc = sim_truth(w, 0, o->episodes, &c, sim_inproc_values(p), company, SIM_TRUTH_DRAWS,
		               o->seed + 7, &slate, &first);
		if (rc != 0)
			break;
		printf("      %-16s slate accepted %.4f   first slot accepted %.4f\n", name, slate,
		       first);
	}
	return rc;
}

/* --- in process --------------------------------------------------------- */

/* A contextual policy of policy.h: in memory, with its decision cost on stderr. */
static int run_contextual(const sim_opts *o, const sim_world *w, const policy_type *t, curve_out *curve)
{
	sim_policy *p = NULL;
	sim_agent agent;
	sim_stats st;
	char err[256];
	double ds;
	double ls;
	uint64_t n;
	int rc;

	if (sim_policy_new(t, o->params, o->seed, &p, err, sizeof(err)) != 0)
		return ctl_usage(&ctl_simulate_spec, "%s: %s", t->name, err);
	sim_policy_agent(p, &agent);
	rc = sim_run(w, o->episodes, &agent, NULL, on_curve, curve, o->every, &st);
	if (rc == 0)
		print_row(o, agent.label, &st);
	sim_policy_timing(p, &ds, &ls, &n);
	if (!o->quiet && n > 0)
		fprintf(stderr, "%s: %.1f us per decision (features + decide), %.1f us per learn\n",
		        t->name, 1e6 * ds / (double)n, 1e6 * ls / (double)n);
	sim_policy_free(p);
	return rc == 0 ? 0 : 1;
}

static int run_policy(const sim_opts *o, const sim_world *w, const char *name, curve_out *curve)
{
	sim_agent agent;
	sim_stats st;
	agent_conf conf;
	db_agent row;
	char err[256];
	sim_inproc *p = NULL;
	store *s = NULL;
	char company[DB_COMPANY_MAX];
	int rc;

	if (policy_find(name) != NULL)
		return run_contextual(o, w, policy_find(name), curve);
	if (strcmp(name, "oracle") == 0) {
		sim_oracle_agent(w, &agent);
		rc = sim_run(w, o->episodes, &agent, NULL, on_curve, curve, o->every, &st);
		if (rc == 0)
			print_row(o, "oracle", &st);
		return rc;
	}
	/* The configuration exactly as offerd builds it from a TB_AGENTS row. */
	memset(&row, 0, sizeof(row));
	util_strlcpy(row.version, "sim", sizeof(row.version));
	util_strlcpy(row.policy, name, sizeof(row.policy));
	row.epsilon = o->epsilon;
	row.params = o->params;
	if (agent_conf_from_db(&row, &conf, err, sizeof(err)) != 0)
		return ctl_usage(&ctl_simulate_spec, "%s", err);
	snprintf(company, sizeof(company), "sim-%s", agent_policy_name(conf.policy));
	if (!o->memory) {
		rc = ctl_open_db(ctl_simulate_spec.prog,
		                 o->database_url ? o->database_url : "sqlite::memory:", &s);
		if (rc != 0)
			return 1;
	}
	rc = sim_inproc_new(&conf, s, company, o->seed, (size_t)o->batch, &p);
	if (rc != 0)
		goto out;
	sim_inproc_agent(p, &agent);
	rc = sim_run(w, o->episodes, &agent, &conf, on_curve, curve, o->every, &st);
	if (rc != 0) {
		fprintf(stderr, "offerctl simulate: %s failed after %" PRIu64 " episodes\n", name,
		        st.episodes);
		goto out;
	}
	print_row(o, agent.label, &st);
	if (o->truth != NULL)
		rc = print_truth(o, w, p, company);
out:
	sim_inproc_free(p);
	store_close(s);
	return rc == 0 ? 0 : 1;
}

/* --- through HTTP --------------------------------------------------------- */

/* Two engines of client.h, one request at a time each: /predict, then /rewards. */
typedef struct http_agent {
	client *predict;
	client *rewards;
	const char *predict_url;
	const char *rewards_url;
	char *answer; /* the last answer; owned */
	int64_t episode_id;
	char version[DB_VERSION_MAX];
	char label[DB_VERSION_MAX + 16];
} http_agent;

static int no_emit(void *arg, const client_job *j)
{
	(void)arg;
	(void)j;
	return 0;
}

/* Sends body; returns 0 for a 200 answer (in h->answer). */
static int http_call(http_agent *h, client *c, const char *what, const char *body)
{
	long status = 0;
	char *error = NULL;
	int rc;

	free(h->answer);
	h->answer = NULL;
	rc = client_call(c, body, &status, &h->answer, &error);
	if (rc != 0) {
		fprintf(stderr, "offerctl simulate: %s: %s\n", what, error != NULL ? error : "failed");
		free(error);
		return ERR_UNAVAIL;
	}
	if (status != 200) {
		fprintf(stderr, "offerctl simulate: %s: HTTP %ld: %.300s\n", what, status,
		        h->answer != NULL ? h->answer : "");
		return ERR_IO;
	}
	return 0;
}

static int http_decide(void *arg, const sim_context *c, size_t *slate, size_t *n)
{
	http_agent *h = arg;
	json_t *body = json_object();
	json_t *offers = json_object();
	json_t *ans = NULL;
	json_t *best;
	json_error_t jerr;
	char *text = NULL;
	int rc;

	json_object_set_new(body, "customer_id", json_string(c->customer_id));
	json_object_set_new(body, "timestamp", json_string(c->date));
	json_object_set_new(body, "states", json_loads(c->states, 0, &jerr));
	for (size_t j = 0; j < SIM_OFFERS; j++)
		json_object_set_new(offers, sim_offer_name(j), json_true());
	json_object_set_new(body, "offers", offers);
	text = json_dumps(body, JSON_COMPACT);
	rc = http_call(h, h->predict, h->predict_url, text);
	if (rc != 0)
		goto out;
	ans = json_loads(h->answer != NULL ? h->answer : "", 0, &jerr);
	best = json_object_get(ans, "best-three-offers");
	if (!json_is_array(best) || json_array_size(best) == 0 || json_array_size(best) > OFFERS_SHOWN ||
	    !json_is_integer(json_object_get(ans, "episode_id"))) {
		fprintf(stderr, "offerctl simulate: unexpected /predict answer: %.300s\n", h->answer);
		rc = ERR_IO;
		goto out;
	}
	*n = json_array_size(best);
	for (size_t k = 0; k < *n; k++) {
		const char *name = json_string_value(json_array_get(best, k));
		int j = name ? sim_offer_index(name) : -1;

		if (j < 0) {
			rc = ERR_IO;
			goto out;
		}
		slate[k] = (size_t)j;
	}
	h->episode_id = (int64_t)json_integer_value(json_object_get(ans, "episode_id"));
	if (json_is_string(json_object_get(ans, "agent-version")))
		util_strlcpy(h->version, json_string_value(json_object_get(ans, "agent-version")),
		             sizeof(h->version));
out:
	free(text);
	json_decref(body);
	json_decref(ans);
	return rc;
}

static int http_learn(void *arg, const sim_context *c, const size_t *slate, size_t n,
                      const sim_outcome *o)
{
	http_agent *h = arg;
	json_t *body = json_object();
	json_t *clicked = json_array();
	char *text;
	int rc;

	json_object_set_new(body, "customer_id", json_string(c->customer_id));
	json_object_set_new(body, "timestamp", json_string(c->date));
	json_object_set_new(body, "accepted_one_of_the_three_offers", json_boolean(o->accepted));
	json_object_set_new(body, "episode_id", json_integer((json_int_t)h->episode_id));
	if (o->slot >= 0)
		json_object_set_new(body, "accepted_offer", json_string(sim_offer_name(slate[o->slot])));
	for (size_t k = 0; k < n; k++) {
		if (o->clicked & (1u << k))
			json_array_append_new(clicked, json_string(sim_offer_name(slate[k])));
	}
	json_object_set_new(body, "clicked_offers", clicked);
	text = json_dumps(body, JSON_COMPACT);
	rc = http_call(h, h->rewards, h->rewards_url, text);
	free(text);
	json_decref(body);
	return rc;
}

static int run_http(const sim_opts *o, const sim_world *w, curve_out *curve)
{
	http_agent h;
	client_conf cc;
	sim_agent agent;
	sim_stats st;
	char *predict_url = client_endpoint(o->url, "/predict");
	char *rewards_url = client_endpoint(o->url, "/rewards");
	int rc = 1;

	memset(&h, 0, sizeof(h));
	memset(&cc, 0, sizeof(cc));
	h.predict_url = predict_url;
	h.rewards_url = rewards_url;
	cc.api_key = o->api_key != NULL && o->api_key[0] != '\0' ? o->api_key : NULL;
	cc.user_agent = "offerctl-simulate";
	cc.concurrency = 1;
	cc.window = 1;
	cc.url = predict_url;
	if (client_new(&cc, no_emit, NULL, &h.predict) != 0)
		goto out;
	cc.url = rewards_url;
	cc.method = "PUT";
	if (client_new(&cc, no_emit, NULL, &h.rewards) != 0)
		goto out;
	print_header(o, "through HTTP: /predict, then /rewards with episode_id and accepted_offer");
	sim_oracle_agent(w, &agent);
	if (sim_run(w, (uint64_t)o->episodes, &agent, NULL, on_curve, curve, (uint64_t)o->every, &st) !=
	    0)
		goto out;
	print_row(o, "oracle", &st);
	memset(&agent, 0, sizeof(agent));
	agent.label = "offerd";
	agent.decide = http_decide;
	agent.learn = http_learn;
	agent.arg = &h;
	if (sim_run(w, (uint64_t)o->episodes, &agent, NULL, on_curve, curve, (uint64_t)o->every, &st) !=
	    0) {
		fprintf(stderr, "offerctl simulate: stopped after %" PRIu64 " episodes\n", st.episodes);
		goto out;
	}
	snprintf(h.label, sizeof(h.label), "offerd %s", h.version);
	print_row(o, h.label, &st);
	rc = 0;
out:
	client_free(h.predict);
	client_free(h.rewards);
	free(h.answer);
	free(predict_url);
	free(rewards_url);
	return rc;
}

static int run(ctl_cmd *c)
{
	const sim_opts *o = c->opts;
	sim_world *w = NULL;
	curve_out curve = {NULL, NULL, 0, 0, {NULL, 0, 0, 0}};
	double start = util_now();
	int rc = 0;

	buf_init(&curve.field, 256);
	w = xmalloc(sizeof(*w));
	{
		enum sim_kind kind = SIM_WORLD_TODAY;

		sim_kind_parse(o->world, &kind);
		rc = sim_world_init_kind(w, kind, o->seed, o->drift_at);
	}
	if (rc != 0) {
		rc = 1;
		goto out;
	}
	if (o->csv != NULL) {
		curve.f = fopen(o->csv, "w");
		if (curve.f == NULL) {
			fprintf(stderr, "%s: cannot write %s\n", c->spec->prog, o->csv);
			rc = 1;
			goto out;
		}
		fprintf(curve.f,
		        "episode,policy,accepts,accept_rate,window_rate,cum_reward,cum_regret\n");
	}
	if (o->url != NULL) {
		rc = run_http(o, w, &curve);
		goto out;
	}
	if (o->memory) {
		print_header(o, "agent_decide, the writer's updates applied in memory (--memory)");
	} else {
		char how[160];

		snprintf(how, sizeof(how),
		         "agent_decide + writer_run_batch on %s, %" PRId64 " episode%s per transaction",
		         o->database_url != NULL ? "--database-url" : "SQLite in memory", o->batch,
		         o->batch == 1 ? "" : "s");
		print_header(o, how);
	}
	if (strcmp(o->policy, "all") == 0) {
		/* The oracle first, then every policy in agent.h's order. */
		rc = run_policy(o, w, "oracle", &curve);
		for (int p = 0; rc == 0 && p < AGENT_POLICY_COUNT; p++)
			rc = run_policy(o, w, agent_policy_name((enum agent_policy)p), &curve);
	} else {
		rc = run_policy(o, w, o->policy, &curve);
	}
	fflush(stdout);
	if (rc == 0 && !o->quiet)
		fprintf(stderr, "\n%.1f s\n", util_now() - start);
out:
	if (curve.f != NULL && fclose(curve.f) != 0 && rc == 0) {
		fprintf(stderr, "%s: cannot write %s\n", c->spec->prog, o->csv);
		rc = 1;
	}
	buf_free(&curve.field);
	free(w);
	return rc;
}

/* Derives the defaults that depend on other options; -1 to go on, else 2 after a usage error. */
static int check(const ctl_cmd *c)
{
	sim_opts *o = c->opts;

	if (o->drift_at < 0)
		o->drift_at = o->episodes / 2;
	/* A database on disk pays an fsync per transaction: batch like offerd's writer. */
	if (o->batch == 0)
		o->batch = o->database_url != NULL ? 100 : 1;
	if (o->every == 0)
		o->every = o->episodes >= 200 ? o->episodes / 200 : 1;
	{
		enum sim_kind kind;

		if (sim_kind_parse(o->world, &kind) != 0)
			return ctl_usage(c->spec, "--world must be today or contextual");
	}
	if (strcmp(o->policy, "all") != 0 && strcmp(o->policy, "oracle") != 0 &&
	    policy_find(o->policy) == NULL) {
		enum agent_policy pol;

		if (agent_policy_parse(o->policy, &pol) != 0)
			return ctl_usage(c->spec, "unknown policy \"%s\"", o->policy);
	}
	if (o->params != NULL && policy_find(o->policy) != NULL) {
		policy *pol = NULL;
		char err[256];

		if (policy_new(policy_find(o->policy), o->params, &pol, err, sizeof(err)) != 0)
			return ctl_usage(c->spec, "--params: %s", err);
		policy_free(pol);
	}
	if (o->params != NULL && policy_find(o->policy) == NULL) {
		db_agent row;
		agent_conf conf;
		char err[256];

		memset(&row, 0, sizeof(row));
		util_strlcpy(row.policy, "ucb", sizeof(row.policy));
		row.params = o->params;
		if (agent_conf_from_db(&row, &conf, err, sizeof(err)) != 0)
			return ctl_usage(c->spec, "--params: %s", err);
	}
	if (o->memory && o->database_url != NULL)
		return ctl_usage(c->spec, "--memory and --database-url exclude each other");
	return -1;
}

const ctl_spec ctl_simulate_spec = {
    CTL_USAGE("simulate", " [--policy P|all] [options]",
              "Runs a simulated population (48 states, 10 offers, hidden acceptance\n"
              "probabilities that drift; docs/simulation.md) through the real agent and\n"
              "prints each policy's acceptance rate and its regret against an oracle that\n"
              "knows the probabilities.\n"),
    .footer = "window_rate in --csv is the rate since the previous row.\n",
    CTL_OPTS(opts, sim_opts),
    /* --drift-at 0 means never, so "not given" is below the table's bounds. */
    .preset = &(const sim_opts){.drift_at = -1},
    .check = check,
    .run = run,
};
