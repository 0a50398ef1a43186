/*
 * sim.c — the simulated population (sim.h describes the world) and the
 * runner that measures an agent against it: realised acceptance, reward on
 * the agent's scale, and regret against the oracle in expected accepts.
 *
 * Everything random is derived from the seed: the world from rng_seed(seed),
 * the customer of episode t from (seed, t), each policy's own choices from
 * (seed, policy), so a run is reproducible and policies share customers.
 */
#include "sim.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "decide.h"
#include "log.h"
#include "rng.h"
#include "util.h"
#include "writer.h"

static const char *const offer_names[SIM_OFFERS] = {
    "OFFER_1", "OFFER_2", "OFFER_3", "OFFER_4", "OFFER_5",
    "OFFER_6", "OFFER_7", "OFFER_8", "OFFER_9", "OFFER_10",
};

/* The segments: the agent maps these attributes to REGION-GENDER-AGEBAND. */
static const struct {
	const char *states;
	double share;
} segments[SIM_SEGMENTS] = {
    {"{\"age\": 25, \"gender\": \"M\", \"region\": \"Europa\"}", 0.4},   /* Europa-M-lt30 */
    {"{\"age\": 45, \"gender\": \"F\", \"region\": \"Americas\"}", 0.3}, /* Americas-F-30to65 */
    {"{\"age\": 70, \"gender\": \"M\", \"region\": \"Asia\"}", 0.2},     /* Asia-M-gt65 */
    {"{\"age\": 50, \"gender\": \"F\", \"region\": \"Europa\"}", 0.1},   /* Europa-F-30to65 */
};

static const int sim_weekdays[SIM_WEEKDAYS] = {3, 6}; /* Wednesday, Saturday */

#define SIM_YEAR 2023
#define STRONG_A 4.0
#define STRONG_B 8.0
#define WEAK_A 1.0
#define WEAK_B 15.0

const char *sim_offer_name(size_t j)
{
	return j < SIM_OFFERS ? offer_names[j] : "";
}

int sim_offer_index(const char *name)
{
	for (size_t j = 0; j < SIM_OFFERS; j++) {
		if (strcmp(name, offer_names[j]) == 0)
			return (int)j;
	}
	return -1;
}

const char *sim_states_json(size_t segment)
{
	return segments[segment < SIM_SEGMENTS ? segment : 0].states;
}

/* State index from its components. */
static size_t state_index(size_t seg, size_t month, size_t half, size_t wd)
{
	return ((seg * SIM_MONTHS + month) * SIM_HALVES + half) * SIM_WEEKDAYS + wd;
}

static size_t state_segment(size_t state)
{
	return state / (SIM_MONTHS * SIM_HALVES * SIM_WEEKDAYS);
}

/* Draws k distinct offers not in excl (may be NULL) into out. */
static void draw_distinct(rng *r, int *out, size_t k, const int *excl, size_t nexcl)
{
	size_t got = 0;

	while (got < k) {
		int j = (int)rng_below(r, SIM_OFFERS);
		int dup = 0;

		for (size_t i = 0; i < got; i++)
			dup |= out[i] == j;
		for (size_t i = 0; i < nexcl; i++)
			dup |= excl[i] == j;
		if (!dup)
			out[got++] = j;
	}
}

static int is_strong(const sim_world *w, int regime, size_t seg, size_t j)
{
	for (size_t i = 0; i < SIM_STRONG; i++) {
		if (w->strong[regime][seg][i] == (int)j)
			return 1;
	}
	return 0;
}

/* --- the contextual world ------------------------------------------------ */

static const char *const c_regions[3] = {"Europa", "Americas", "Asia"};
static const double c_region_share[3] = {0.45, 0.35, 0.20};
static const char *const c_channels[3] = {"web", "app", "store"};
static const double c_channel_share[3] = {0.5, 0.3, 0.2};

#define C_INTERCEPT (-2.4)

static void draw_tastes(rng *r, sim_coef *c)
{
	c->a = C_INTERCEPT + 0.5 * rng_normal(r);
	c->female = 0.8 * rng_normal(r);
	for (size_t i = 0; i < 3; i++) {
		c->region[i] = 0.6 * rng_normal(r);
		c->channel[i] = 0.5 * rng_normal(r);
	}
}

static void contextual_init(sim_world *w, rng *r)
{
	for (size_t j = 0; j < SIM_OFFERS; j++) {
		sim_coef *c = &w->coef[0][j];

		draw_tastes(r, c);
		c->age1 = 0.7 * rng_normal(r);
		c->age2 = 0.3 * rng_normal(r);
		c->tenure = 0.5 * rng_normal(r);
		c->last = -0.8 + 0.4 * rng_normal(r);
		c->season_amp = 0.6 * rng_uniform(r);
		c->season_phase = 2 * M_PI * rng_uniform(r);
		c->weekend = 0.4 * rng_normal(r);
		/* The drift: new tastes by gender, region and channel, the rest as before. */
		w->coef[1][j] = *c;
		draw_tastes(r, &w->coef[1][j]);
	}
}

static size_t pick_share(double u, const double *share, size_t n)
{
	double acc = 0;

	for (size_t i = 0; i < n; i++) {
		acc += share[i];
		if (u < acc)
			return i;
	}
	return n - 1;
}

/* The customer of episode t in the contextual world; r is seeded from (seed, t). */
static void contextual_context(const sim_world *w, uint64_t t, rng *r, sim_context *out)
{
	int regime = w->drift_at > 0 && t >= w->drift_at;
	int age = 18 + (int)rng_below(r, 68);
	int female = rng_uniform(r) < 0.5;
	size_t region = pick_share(rng_uniform(r), c_region_share, 3);
	size_t channel = pick_share(rng_uniform(r), c_channel_share, 3);
	double tenure = 15.0 * rng_uniform(r) * rng_uniform(r);
	int last = rng_uniform(r) < 0.7 ? (int)rng_below(r, SIM_OFFERS) : -1;
	int doy = (int)rng_below(r, 365);
	int since_doy;
	int since_year;
	date_ymd d;
	date_ymd sd;
	double z = (age - 50) / 20.0;
	double tz = (tenure - 5.0) / 4.0;
	int weekend;
	size_t band = age < 30 ? 0 : age <= 65 ? 1 : 2;
	size_t seg = (region * 2 + (size_t)female) * 3 + band;
	char last_json[32] = "";

	/* Day of year to a date: walk the months of 2023. */
	{
		static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
		int m = 0;
		int left = doy;

		while (left >= mdays[m]) {
			left -= mdays[m];
			m++;
		}
		char day[32];

		snprintf(day, sizeof(day), "%04d-%02d-%02d", SIM_YEAR, m + 1, left + 1);
		util_strlcpy(out->date_buf, day, sizeof(out->date_buf));
	}
	date_parse(out->date_buf, &d);
	/* client-since: tenure years before the visit, as a date. */
	since_year = SIM_YEAR - (int)tenure;
	since_doy = (int)((tenure - (int)tenure) * 365);
	since_doy = doy - since_doy;
	if (since_doy < 0) {
		since_doy += 365;
		since_year--;
	}
	{
		static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
		int m = 0;
		int left = since_doy;
		char since[32];

		while (left >= mdays[m]) {
			left -= mdays[m];
			m++;
		}
		snprintf(since, sizeof(since), "%04d-%02d-%02d", since_year, m + 1, left + 1);
		date_parse(since, &sd);
		if (last >= 0)
			snprintf(last_json, sizeof(last_json), ", \"last_offer\": \"%s\"",
			         offer_names[last]);
		snprintf(out->states_buf, sizeof(out->states_buf),
		         "{\"age\": %d, \"gender\": \"%s\", \"region\": \"%s\", \"channel\": \"%s\","
		         " \"client-since\": \"%s\"%s}",
		         age, female ? "F" : "M", c_regions[region], c_channels[channel], since,
		         last_json);
	}
	weekend = d.weekday == 0 || d.weekday == 6;
	for (size_t j = 0; j < SIM_OFFERS; j++) {
		const sim_coef *c = &w->coef[regime][j];
		double l = c->a + c->age1 * z + c->age2 * z * z + (female ? c->female : 0) +
		           c->region[region] + c->channel[channel] + c->tenure * tz +
		           (last == (int)j ? c->last : 0) +
		           c->season_amp * sin(2 * M_PI * doy / 365.0 + c->season_phase) +
		           (weekend ? c->weekend : 0);

		out->p[j] = 1.0 / (1.0 + exp(-l));
	}
	out->segment = seg;
	out->state = ((seg * 12 + (size_t)(d.month - 1)) * 2 + (d.day > 15 ? 1 : 0)) * 7 +
	             (size_t)d.weekday;
	out->date = out->date_buf;
	out->states = out->states_buf;
}

int sim_kind_parse(const char *name, enum sim_kind *out)
{
	if (util_streq_nocase(name, "today")) {
		*out = SIM_WORLD_TODAY;
		return 0;
	}
	if (util_streq_nocase(name, "contextual")) {
		*out = SIM_WORLD_CONTEXTUAL;
		return 0;
	}
	return ERR_INVAL;
}

int sim_world_init(sim_world *w, uint64_t seed, uint64_t drift_at)
{
	return sim_world_init_kind(w, SIM_WORLD_TODAY, seed, drift_at);
}

int sim_world_init_kind(sim_world *w, enum sim_kind kind, uint64_t seed, uint64_t drift_at)
{
	rng r;

	memset(w, 0, sizeof(*w));
	w->kind = kind;
	w->seed = seed;
	w->drift_at = drift_at;
	rng_seed(&r, seed);
	for (size_t m = 0; m < SIM_MONTHS; m++) {
		for (size_t h = 0; h < SIM_HALVES; h++) {
			for (size_t d = 0; d < SIM_WEEKDAYS; d++) {
				/* The first day of the half with that weekday. */
				for (int day = h ? 16 : 1; day <= (h ? 28 : 15); day++) {
					char s[32];
					date_ymd rd;

					snprintf(s, sizeof(s), "%04d-%02d-%02d", SIM_YEAR, (int)m + 1,
					         day);
					if (date_parse(s, &rd) == 0 && rd.weekday == sim_weekdays[d]) {
						util_strlcpy(w->dates[m][h][d], s,
						             sizeof(w->dates[m][h][d]));
						break;
					}
				}
				if (w->dates[m][h][d][0] == '\0')
					return ERR_INVAL; /* cannot happen: every 13 days hold each weekday */
			}
		}
	}
	for (int regime = 0; regime < 2; regime++) {
		for (size_t g = 0; g < SIM_SEGMENTS; g++) {
			if (regime == 0)
				draw_distinct(&r, w->strong[0][g], SIM_STRONG, NULL, 0);
			else
				draw_distinct(&r, w->strong[1][g], SIM_STRONG, w->strong[0][g],
				              SIM_STRONG);
		}
		for (size_t s = 0; s < SIM_STATES; s++) {
			size_t g = state_segment(s);

			for (size_t j = 0; j < SIM_OFFERS; j++) {
				if (is_strong(w, regime, g, j))
					w->p[regime][s][j] = rng_beta(&r, STRONG_A, STRONG_B);
				else
					w->p[regime][s][j] = rng_beta(&r, WEAK_A, WEAK_B);
			}
		}
	}
	/* Drawn after today's tables, so today's world is the same for a seed as before. */
	if (kind == SIM_WORLD_CONTEXTUAL)
		contextual_init(w, &r);
	return 0;
}

const double *sim_probs(const sim_world *w, uint64_t t, size_t state)
{
	int regime = w->drift_at > 0 && t >= w->drift_at;

	return w->p[regime][state < SIM_STATES ? state : 0];
}

void sim_context_at(const sim_world *w, uint64_t t, sim_context *out)
{
	rng r;
	double u;
	double acc = 0;
	size_t g = SIM_SEGMENTS - 1;
	size_t m, h, d;

	memset(out, 0, sizeof(*out));
	rng_seed(&r, w->seed ^ ((t + 1) * 0x9e3779b97f4a7c15ULL));
	if (w->kind == SIM_WORLD_CONTEXTUAL) {
		contextual_context(w, t, &r, out);
		for (size_t j = 0; j < SIM_OFFERS; j++) {
			out->accept_u[j] = rng_uniform(&r);
			out->click_u[j] = rng_uniform(&r);
		}
		out->t = t;
		snprintf(out->customer_id, sizeof(out->customer_id), "sim-%" PRIu64 "-%" PRIu64, w->seed,
		         t);
		return;
	}
	u = rng_uniform(&r);
	for (size_t i = 0; i < SIM_SEGMENTS; i++) {
		acc += segments[i].share;
		if (u < acc) {
			g = i;
			break;
		}
	}
	m = (size_t)rng_below(&r, SIM_MONTHS);
	h = (size_t)rng_below(&r, SIM_HALVES);
	d = (size_t)rng_below(&r, SIM_WEEKDAYS);
	for (size_t j = 0; j < SIM_OFFERS; j++) {
		out->accept_u[j] = rng_uniform(&r);
		out->click_u[j] = rng_uniform(&r);
	}
	out->t = t;
	out->segment = g;
	out->state = state_index(g, m, h, d);
	out->date = w->dates[m][h][d];
	out->states = segments[g].states;
	memcpy(out->p, sim_probs(w, t, out->state), sizeof(out->p));
	snprintf(out->customer_id, sizeof(out->customer_id), "sim-%" PRIu64 "-%" PRIu64, w->seed, t);
}

int sim_request(const sim_context *c, predict_req *req)
{
	json_t *states;
	json_error_t jerr;
	req_error e;
	int rc;

	memset(req, 0, sizeof(*req));
	util_strlcpy(req->customer_id, c->customer_id, sizeof(req->customer_id));
	util_strlcpy(req->timestamp, c->date, sizeof(req->timestamp));
	rc = date_parse(c->date, &req->date);
	if (rc != 0)
		return rc;
	req->states_text = xstrdup(c->states != NULL ? c->states : sim_states_json(c->segment));
	states = json_loads(req->states_text, 0, &jerr);
	if (states == NULL) {
		request_predict_free(req);
		return ERR_INVAL;
	}
	rc = request_customer_from_states(states, &req->customer, &e);
	json_decref(states);
	if (rc != 0) {
		request_predict_free(req);
		return rc;
	}
	for (size_t j = 0; j < SIM_OFFERS; j++) {
		util_strlcpy(req->offers[j], offer_names[j], sizeof(req->offers[j]));
		req->allowed[j] = 1;
	}
	req->n_offers = SIM_OFFERS;
	req->n_allowed = SIM_OFFERS;
	return 0;
}

void sim_respond(const sim_world *w, const sim_context *c, const size_t *slate, size_t n,
                 sim_outcome *out)
{
	const double *p = c->p;

	(void)w;
	memset(out, 0, sizeof(*out));
	out->slot = -1;
	for (size_t k = 0; k < n; k++) {
		if (!out->accepted && c->accept_u[slate[k]] < p[slate[k]]) {
			out->accepted = 1;
			out->slot = (int)k;
		} else if (c->click_u[slate[k]] < p[slate[k]]) {
			out->clicked |= 1u << k;
		}
	}
}

double sim_expected(const sim_world *w, uint64_t t, size_t state, const size_t *slate, size_t n)
{
	const double *p = sim_probs(w, t, state);
	double none = 1.0;

	for (size_t k = 0; k < n; k++)
		none *= 1.0 - p[slate[k]];
	return 1.0 - none;
}

double sim_expected_ctx(const sim_context *c, const size_t *slate, size_t n)
{
	double none = 1.0;

	for (size_t k = 0; k < n; k++)
		none *= 1.0 - c->p[slate[k]];
	return 1.0 - none;
}

static void top_three(const double *p, size_t out[OFFERS_SHOWN])
{
	unsigned char used[SIM_OFFERS] = {0};

	for (size_t k = 0; k < OFFERS_SHOWN; k++) {
		size_t best = SIM_OFFERS;

		for (size_t j = 0; j < SIM_OFFERS; j++) {
			if (!used[j] && (best == SIM_OFFERS || p[j] > p[best]))
				best = j;
		}
		used[best] = 1;
		out[k] = best;
	}
}

void sim_oracle_ctx(const sim_context *c, size_t out[OFFERS_SHOWN])
{
	top_three(c->p, out);
}

void sim_oracle_slate(const sim_world *w, uint64_t t, size_t state, size_t out[OFFERS_SHOWN])
{
	top_three(sim_probs(w, t, state), out);
}

/* --- the runner ------------------------------------------------------- */

/* The reward column on the agent's scale, with exact credit. */
static double score(const agent_conf *conf, size_t n, const sim_outcome *o)
{
	double sum = 0;

	for (size_t k = 0; k < n; k++) {
		if (o->slot == (int)k)
			sum += conf->r_accept;
		else if (o->clicked & (1u << k))
			sum += conf->r_click;
		else
			sum += conf->r_ignore;
	}
	return sum;
}

int sim_run(const sim_world *w, uint64_t n, const sim_agent *agent, const agent_conf *rewards,
            sim_curve_fn curve, void *curve_arg, uint64_t every, sim_stats *out)
{
	agent_conf dflt;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (rewards == NULL) {
		agent_conf_default(&dflt);
		rewards = &dflt;
	}
	if (n > SIM_EPISODES_MAX)
		return ERR_RANGE;
	for (uint64_t t = 0; t < n; t++) {
		sim_context c;
		sim_outcome o;
		size_t slate[OFFERS_SHOWN];
		size_t best[OFFERS_SHOWN];
		size_t ns = 0;
		double e;
		double eo;

		sim_context_at(w, t, &c);
		rc = agent->decide(agent->arg, &c, slate, &ns);
		if (rc != 0)
			goto out;
		if (ns == 0 || ns > OFFERS_SHOWN) {
			rc = ERR_IO;
			goto out;
		}
		sim_respond(w, &c, slate, ns, &o);
		rc = agent->learn(agent->arg, &c, slate, ns, &o);
		if (rc != 0)
			goto out;
		sim_oracle_ctx(&c, best);
		e = sim_expected_ctx(&c, slate, ns);
		eo = sim_expected_ctx(&c, best, OFFERS_SHOWN);
		out->episodes++;
		out->accepts += (uint64_t)o.accepted;
		if (w->drift_at > 0 && t >= w->drift_at) {
			out->episodes_after++;
			out->accepts_after += (uint64_t)o.accepted;
		}
		out->expected += e;
		out->oracle += eo;
		out->regret += eo - e;
		if (t >= n / 2) {
			out->oracle2 += eo;
			out->regret2 += eo - e;
		}
		out->reward += score(rewards, ns, &o);
		if (curve != NULL && every > 0 && (t + 1) % every == 0 && t + 1 < n)
			curve(curve_arg, agent->label, out);
	}
	if (agent->flush != NULL)
		rc = agent->flush(agent->arg);
	if (curve != NULL)
		curve(curve_arg, agent->label, out);
out:
	return rc;
}

/* --- the oracle -------------------------------------------------------- */

static int oracle_decide(void *arg, const sim_context *c, size_t *slate, size_t *n)
{
	(void)arg;
	sim_oracle_ctx(c, slate);
	*n = OFFERS_SHOWN;
	return 0;
}

static int oracle_learn(void *arg, const sim_context *c, const size_t *slate, size_t n,
                        const sim_outcome *o)
{
	(void)arg;
	(void)c;
	(void)slate;
	(void)n;
	(void)o;
	return 0;
}

void sim_oracle_agent(const sim_world *w, sim_agent *out)
{
	memset(out, 0, sizeof(*out));
	out->label = "oracle";
	out->decide = oracle_decide;
	out->learn = oracle_learn;
	out->arg = (void *)(uintptr_t)w;
}

/* --- the real agent in process ------------------------------------------ */

/* One episode waiting for its transaction: the ops borrow these strings. */
typedef struct pending {
	writer_op ep;
	decide_result res; /* what ep's strings point into */
	writer_op rew;
	char customer_id[48];
	char date[16];
	char state_key[AGENT_STATE_MAX];
	char accepted_offer[16];
	char clicked[OFFERS_SHOWN * 16];
	char states[192];
	const char *offers[OFFERS_SHOWN];
	size_t state;
} pending;

struct sim_inproc {
	agent_conf conf;
	values *v;
	store *s; /* NULL: memory only */
	rng r;
	char company[DB_COMPANY_MAX];
	size_t batch;
	pending *q;
	size_t nq;
	/* Memory-only mode: absolute rows as TB_POLICY would hold them. */
	db_policy_row rows[SIM_STATES_MAX][SIM_OFFERS];
	char keys[SIM_STATES_MAX][AGENT_STATE_MAX];
	int64_t rev;
};

int sim_inproc_new(const agent_conf *conf, store *s, const char *company, uint64_t seed, size_t batch,
                   sim_inproc **out)
{
	sim_inproc *p;

	if (batch == 0 || batch > 10000 || company == NULL || strlen(company) >= 64)
		return ERR_INVAL;
	p = xcalloc(1, sizeof(*p));
	p->conf = *conf;
	p->v = values_new();
	p->s = s;
	p->batch = batch;
	util_strlcpy(p->company, company, sizeof(p->company));
	/* Each policy its own stream, the same for every run with this seed. */
	rng_seed(&p->r, seed * 0x2545f4914f6cdd1dULL + (uint64_t)conf->policy + 1);
	p->q = xcalloc(batch, sizeof(*p->q));
	*out = p;
	return 0;
}

values *sim_inproc_values(sim_inproc *p)
{
	return p->v;
}

void sim_inproc_free(sim_inproc *p)
{
	if (p == NULL)
		return;
	values_free(p->v);
	free(p->q);
	free(p);
}

static int inproc_decide(void *arg, const sim_context *c, size_t *slate, size_t *n)
{
	sim_inproc *p = arg;
	predict_req req;
	const agent_decision *d;
	pending *q;
	int rc;

	rc = sim_request(c, &req);
	if (rc != 0)
		return rc;
	q = &p->q[p->nq];
	memset(q, 0, sizeof(*q));
	rc = decide_episode(&p->conf, p->v, &p->r, p->company, &req, NULL, NULL, &q->res, &q->ep.ep);
	request_predict_free(&req);
	if (rc != 0)
		return rc;
	/* The episode borrowed req's states: point it at the customer's own, kept until the flush. */
	util_strlcpy(q->states, c->states, sizeof(q->states));
	q->ep.ep.states = q->states;
	q->ep.kind = WOP_EPISODE;
	d = &q->res.dec;
	/* The offers of the request are OFFER_1..OFFER_10 in order. */
	for (size_t k = 0; k < d->n; k++)
		slate[k] = d->idx[k];
	*n = d->n;
	util_strlcpy(q->customer_id, c->customer_id, sizeof(q->customer_id));
	util_strlcpy(q->date, c->date, sizeof(q->date));
	util_strlcpy(q->state_key, d->state_key, sizeof(q->state_key));
	q->state = c->state;
	for (size_t k = 0; k < d->n; k++)
		q->offers[k] = offer_names[d->idx[k]];
	return 0;
}

/*
 * Memory-only learning: the writer's scoring (agent_rewards) and row update
 * (values_row_add) applied to absolute rows instead of committed deltas.
 */
static void learn_in_memory(sim_inproc *p, const pending *q)
{
	const char *const *offers = q->offers;
	double rw[OFFERS_SHOWN];
	int success[OFFERS_SHOWN];
	int n = 0;

	while (n < OFFERS_SHOWN && q->offers[n] != NULL)
		n++;
	agent_rewards(&p->conf, offers, n, q->rew.rin.accepted, q->rew.rin.accepted_offer,
	              q->rew.rin.clicked, rw, success);
	for (int k = 0; k < n; k++) {
		db_policy_row *row = &p->rows[q->state][sim_offer_index(offers[k])];

		if (row->company == NULL) {
			util_strlcpy(p->keys[q->state], q->state_key, sizeof(p->keys[q->state]));
			row->company = p->company;
			row->state_key = p->keys[q->state];
			row->offer = offer_names[sim_offer_index(offers[k])];
			row->alpha = 1.0; /* TB_POLICY's prior_alpha/prior_beta defaults */
			row->beta = 1.0;
		}
		values_row_add(row, rw[k], success[k]);
		row->rev = ++p->rev;
		values_set(p->v, row);
	}
}

static int inproc_flush(void *arg)
{
	sim_inproc *p = arg;
	int rc = 0;

	if (p->nq == 0)
		return 0;
	if (p->s == NULL) {
		for (size_t i = 0; i < p->nq; i++)
			learn_in_memory(p, &p->q[i]);
		p->nq = 0;
		return 0;
	}
	/* As offerd: /predict's episodes commit first, then the rewards that name them. */
	for (size_t i = 0; i < p->nq; i++)
		p->q[i].ep.next = i + 1 < p->nq ? &p->q[i + 1].ep : NULL;
	rc = writer_run_batch(p->s, p->v, &p->conf, &p->q[0].ep);
	for (size_t i = 0; rc == 0 && i < p->nq; i++) {
		if (p->q[i].ep.rc != 0)
			rc = p->q[i].ep.rc;
		p->q[i].rew.rin.episode_id = p->q[i].ep.ep.id;
		p->q[i].rew.next = i + 1 < p->nq ? &p->q[i + 1].rew : NULL;
	}
	if (rc == 0)
		rc = writer_run_batch(p->s, p->v, &p->conf, &p->q[0].rew);
	for (size_t i = 0; rc == 0 && i < p->nq; i++) {
		if (p->q[i].rew.rc != 0)
			rc = p->q[i].rew.rc;
	}
	if (rc != 0)
		log_msg(LOG_ERROR, "simulation: the store failed: %s", p->s->ops->errmsg(p->s));
	p->nq = 0;
	return rc;
}

static int inproc_learn(void *arg, const sim_context *c, const size_t *slate, size_t n,
                        const sim_outcome *o)
{
	sim_inproc *p = arg;
	pending *q = &p->q[p->nq];
	size_t len = 0;

	(void)c;
	q->rew.kind = WOP_REWARD;
	q->rew.rin.company = p->company;
	q->rew.rin.customer_id = q->customer_id;
	q->rew.rin.accepted = o->accepted;
	q->rew.rin.request_ts = q->date;
	if (o->slot >= 0) {
		util_strlcpy(q->accepted_offer, offer_names[slate[o->slot]], sizeof(q->accepted_offer));
		q->rew.rin.accepted_offer = q->accepted_offer;
	}
	for (size_t k = 0; k < n; k++) {
		if (!(o->clicked & (1u << k)))
			continue;
		len += (size_t)snprintf(q->clicked + len, sizeof(q->clicked) - len, "%s%s",
		                        len > 0 ? "," : "", offer_names[slate[k]]);
	}
	q->rew.rin.clicked = len > 0 ? q->clicked : NULL;
	p->nq++;
	return p->nq == p->batch ? inproc_flush(p) : 0;
}

void sim_inproc_agent(sim_inproc *p, sim_agent *out)
{
	memset(out, 0, sizeof(*out));
	out->label = agent_policy_name(p->conf.policy);
	out->decide = inproc_decide;
	out->learn = inproc_learn;
	out->flush = inproc_flush;
	out->arg = p;
}

/* --- the truth about a fixed candidate --------------------------------- */

int sim_truth(const sim_world *w, uint64_t from, uint64_t to, const agent_conf *conf, values *v,
              const char *company, int draws, uint64_t seed, double *slate_out, double *first_out)
{
	double slate = 0;
	double first = 0;
	agent_conf fixed;
	rng r;
	int rc = 0;

	*slate_out = 0;
	*first_out = 0;
	if (draws < 1 || to <= from)
		return ERR_INVAL;
	/* Fixed: its decisions must not advance the forgetting clock of the statistics. */
	fixed = *conf;
	fixed.forgetting = 1.0;
	conf = &fixed;
	rng_seed(&r, seed);
	for (uint64_t t = from; t < to; t++) {
		sim_context c;
		predict_req req;
		const double *p;

		sim_context_at(w, t, &c);
		p = c.p;
		rc = sim_request(&c, &req);
		if (rc != 0)
			return rc;
		for (int i = 0; i < draws; i++) {
			agent_decision d;
			size_t s[OFFERS_SHOWN];

			rc = agent_decide(conf, v, &r, company, &req, NULL, &d);
			if (rc != 0)
				break;
			for (size_t k = 0; k < d.n; k++)
				s[k] = d.idx[k];
			slate += sim_expected_ctx(&c, s, d.n) / draws;
			first += p[s[0]] / draws;
		}
		request_predict_free(&req);
		if (rc != 0)
			return rc;
	}
	*slate_out = slate / (double)(to - from);
	*first_out = first / (double)(to - from);
	return 0;
}
