/*
 * ope.c — off-policy evaluation (ope.h says what is estimated and why).
 *
 * The candidate's decision rule is its policy's own slot_probs (policy.h):
 * the probability of every offer at the next slot given the earlier ones,
 * the function agent_decide draws from, so evaluation, decisions and
 * logged propensities are one code path. Evaluation needs the probability
 * of the slate the logging policy drew and the expectation over all slates
 * for the doubly robust estimate; both come from slot_probs.
 *
 * Estimators, for n logged episodes with importance weight w_i = pi(a_i|x_i)
 * / mu(a_i|x_i), reward r_i in {0, 1}, reward model q and its expectation
 * under the candidate d_i = sum_a pi(a|x_i) q(x_i, a):
 *   IPS   mean(w_i r_i)
 *   SNIPS sum(w_i r_i) / sum(w_i)
 *   DR    mean(d_i + w_i (r_i - q(x_i, a_i)))
 *   clipped IPS  mean(min(w_i, tau) r_i)
 *   switch-DR    mean(d_i + w_i (r_i - q(x_i, a_i)) [w_i <= tau])
 *                (Wang, Agarwal, Dudik 2017): DR where the weight is at most
 *                tau, the reward model alone where it is not. Its bias is at
 *                most the candidate's probability of actions weighted past
 *                tau, E_mu[w [w > tau]], estimated by mean(w_i [w_i > tau]);
 *                tau is given or chosen among 1, 2, 5, ... 10^4, infinity to
 *                minimise variance / n + that bound squared (the paper's
 *                rule). With tau infinite it is DR; clipped IPS is IPS.
 * A contextual candidate (linear-ts, squarecb) is replayed in log order:
 * for each episode its slot_probs over the episode's context, then
 * policy_learn of the logged reward, so each weight is the probability the
 * candidate, having learned from the log's earlier episodes, gives the
 * logged slate.
 * Intervals are mean +- 1.96 standard errors (SNIPS by the delta method;
 * clipped IPS and switch-DR: of their variance, the bias bound besides).
 * Logged propensities come from an adaptive policy (its values change with
 * every reward), so the terms are a martingale difference sequence rather
 * than i.i.d.; the estimates stay unbiased and the normal interval is the
 * usual approximation. With few matching slates the weights are heavy-tailed
 * and the slate interval undercovers: the effective sample size says when.
 */
#include "ope.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "customer.h"
#include "db.h"
#include "model.h"
#include "policy.h"
#include "pylit.h"
#include "util.h"

#define Z95 1.959963984540054
#define SHRINK 5.0            /* pseudo-observations toward the parent level */
#define SLATE_MC_DRAWS 256    /* slate sums beyond OPE_EXACT_MAX offers */
#define CELLS_MAX (16u << 20) /* states x offers of the reward model */

/* --- interning ----------------------------------------------------------- */

/* Returns the index of key, adding it when add is set; -1 when absent. */
static int64_t intern(ope_intern *t, const char *key, int add)
{
	size_t len = strlen(key);

	return add ? intern_add(t, key, len) : intern_find(t, key, len);
}

/* --- the log --------------------------------------------------------------- */

void ope_log_init(ope_log *l)
{
	memset(l, 0, sizeof(*l));
	l->states = intern_new();
	l->segments = intern_new();
	l->offers = intern_new();
}

void ope_log_free(ope_log *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->eps[i].states);
		free(l->eps[i].ts);
	}
	free(l->eps);
	free(l->state_segment);
	intern_free(l->states);
	intern_free(l->segments);
	intern_free(l->offers);
	memset(l, 0, sizeof(*l));
}

int ope_log_offer(ope_log *l, const char *offer)
{
	int64_t i = intern(l->offers, offer, 0);

	if (i >= 0)
		return (int)i;
	if (l->offers->n >= OPE_OFFERS_MAX || strlen(offer) > REQ_OFFER_NAME_MAX)
		return ERR_TOOBIG;
	return (int)intern(l->offers, offer, 1);
}

size_t ope_log_noffers(const ope_log *l)
{
	return l->offers->n;
}

const char *ope_log_offer_name(const ope_log *l, size_t i)
{
	return i < l->offers->n ? l->offers->keys[i] : "";
}

const char *ope_log_state_key(const ope_log *l, size_t i)
{
	return i < l->states->n ? l->states->keys[i] : "";
}

int ope_log_add(ope_log *l, const char *state_key, const customer_attrs *customer,
                const char *const *offers, const double *propensity, int n, int accepted,
                const char *accepted_offer)
{
	ope_episode *e;
	int64_t st;

	if (n < 1 || n > OFFERS_SHOWN || state_key == NULL || state_key[0] == '\0' ||
	    strlen(state_key) >= AGENT_STATE_MAX)
		return ERR_INVAL;
	for (int k = 0; k < n; k++) {
		if (!(propensity[k] > 0 && propensity[k] <= 1))
			return ERR_INVAL;
	}
	if (l->n >= OPE_EPISODES_MAX)
		return ERR_TOOBIG;
	st = intern(l->states, state_key, 0);
	if (st < 0) {
		char seg[AGENT_SEGMENT_MAX];

		if (l->states->n >= OPE_STATES_MAX)
			return ERR_TOOBIG;
		st = intern(l->states, state_key, 1);
		if ((size_t)st >= l->state_cap) {
			l->state_cap = l->state_cap ? l->state_cap * 2 : 256;
			l->state_segment = xrealloc(l->state_segment, l->state_cap * sizeof(uint32_t));
		}
		customer_state_segment(state_key, seg, sizeof(seg));
		l->state_segment[st] = (uint32_t)intern(l->segments, seg, 1);
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->eps = xrealloc(l->eps, l->cap * sizeof(*l->eps));
	}
	e = &l->eps[l->n];
	memset(e, 0, sizeof(*e));
	e->state = (uint32_t)st;
	e->n = (uint8_t)n;
	e->slot = accepted ? OPE_SLOT_UNKNOWN : OPE_SLOT_NONE;
	for (int k = 0; k < n; k++) {
		int o = ope_log_offer(l, offers[k]);

		if (o < 0)
			return o;
		e->shown[k] = (uint16_t)o;
		e->propensity[k] = propensity[k];
		if (accepted && accepted_offer != NULL && strcmp(accepted_offer, offers[k]) == 0)
			e->slot = (int8_t)k;
	}
	if (customer != NULL) {
		e->customer = *customer;
	} else {
		e->customer.age = -1;
		e->customer.gender = 'U';
		util_strlcpy(e->customer.region, "Unknown", sizeof(e->customer.region));
	}
	l->n++;
	return 0;
}

void ope_log_context(ope_log *l, const char *states, const char *timestamp)
{
	ope_episode *e;

	if (l->n == 0 || states == NULL || timestamp == NULL || states[0] == '\0' ||
	    timestamp[0] == '\0')
		return;
	e = &l->eps[l->n - 1];
	free(e->states);
	free(e->ts);
	e->states = xstrdup(states);
	e->ts = xstrdup(timestamp);
}

/* --- the candidate's decision rule as probabilities ------------------------- */

/*
 * The candidate for one episode: a tabular policy set up for it, or a
 * contextual one with the episode's features over the log's choice set
 * (request offer i is the log's offer i, all allowed).
 */
typedef struct scorer {
	policy_tab *tab;
	policy *pol;
	const feat_ctx *ctx;
	const predict_req *req;
	size_t n; /* offers in the choice set */
} scorer;

/* The candidate's policy (policy.h) set up for one episode over the log's choice set. */
static void scorer_init(policy_tab *t, const ope_log *l, const ope_candidate *c, const char *state_key,
                        const customer_attrs *cust)
{
	size_t idx[OPE_OFFERS_MAX];
	char seg[AGENT_SEGMENT_MAX];

	for (size_t i = 0; i < l->offers->n; i++)
		idx[i] = i;
	customer_state_segment(state_key, seg, sizeof(seg));
	policy_tab_init(t, &c->conf, c->v, c->company, state_key, seg, cust,
	                (const char *const *)l->offers->keys, idx, l->offers->n);
}

/*
 * P(offer i at slot k | the offers taken, prefix[0..k-1] in slot order):
 * the policy's own slot_probs.
 */
static void scorer_probs(const scorer *s, const unsigned char *taken, const size_t *prefix, size_t k,
                         double *probs)
{
	size_t rem = 0;

	for (size_t i = 0; i < s->n; i++)
		rem += !taken[i];
	if (rem == 0) {
		memset(probs, 0, s->n * sizeof(double));
		return;
	}
	if (s->pol != NULL) {
		policy_slate before;

		memset(&before, 0, sizeof(before));
		before.n = k;
		for (size_t j = 0; j < k; j++)
			before.idx[j] = prefix[j];
		policy_slot_probs(s->pol, s->ctx, s->req, &before, probs);
		return;
	}
	s->tab->type->slot_probs(s->tab, taken, probs);
}

int ope_slot_probs(const ope_log *l, const ope_candidate *c, const char *state_key,
                   const customer_attrs *customer, const unsigned char *taken, double *probs)
{
	policy_tab *t;
	scorer sc;

	if (c->learner != NULL || policy_tab_at((size_t)c->conf.policy) == NULL)
		return ERR_INVAL;
	t = xmalloc(sizeof(*t));
	scorer_init(t, l, c, state_key, customer);
	memset(&sc, 0, sizeof(sc));
	sc.tab = t;
	sc.n = t->n;
	{
		/* The taken offers in index order: a tabular policy reads only the set. */
		size_t prefix[OFFERS_SHOWN];
		size_t k = 0;

		for (size_t i = 0; i < t->n && k < OFFERS_SHOWN; i++)
			if (taken[i])
				prefix[k++] = i;
		scorer_probs(&sc, taken, prefix, k, probs);
	}
	policy_tab_clear(t);
	free(t);
	return 0;
}

/* --- the reward model ------------------------------------------------------ */

/* Accept rates by (state, offer), shrunk to (segment, offer), offer, overall. */
typedef struct qmodel {
	size_t ns;
	size_t ng;
	size_t no;
	double *st; /* [state][offer][succ, trials] */
	double *sg; /* [segment][offer][succ, trials] */
	double *of; /* [offer][succ, trials] */
	double all[2];
} qmodel;

static void qm_init(qmodel *m, size_t ns, size_t ng, size_t no)
{
	m->ns = ns;
	m->ng = ng;
	m->no = no;
	m->st = xcalloc(ns * no * 2 + 2, sizeof(double));
	m->sg = xcalloc(ng * no * 2 + 2, sizeof(double));
	m->of = xcalloc(no * 2 + 2, sizeof(double));
	m->all[0] = 0;
	m->all[1] = 0;
}

static void qm_free(qmodel *m)
{
	free(m->st);
	free(m->sg);
	free(m->of);
}

static void qm_add(qmodel *m, size_t s, size_t g, size_t o, double succ)
{
	m->st[(s * m->no + o) * 2] += succ;
	m->st[(s * m->no + o) * 2 + 1] += 1;
	m->sg[(g * m->no + o) * 2] += succ;
	m->sg[(g * m->no + o) * 2 + 1] += 1;
	m->of[o * 2] += succ;
	m->of[o * 2 + 1] += 1;
	m->all[0] += succ;
	m->all[1] += 1;
}

static double qm_get(const qmodel *m, size_t s, size_t g, size_t o)
{
	const double *a = &m->st[(s * m->no + o) * 2];
	const double *b = &m->sg[(g * m->no + o) * 2];
	const double *c = &m->of[o * 2];
	double q = (m->all[0] + 0.5) / (m->all[1] + 1.0);

	q = (c[0] + SHRINK * q) / (c[1] + SHRINK);
	q = (b[0] + SHRINK * q) / (b[1] + SHRINK);
	return (a[0] + SHRINK * q) / (a[1] + SHRINK);
}

/* --- accumulating estimates -------------------------------------------------- */

typedef struct welford {
	size_t n;
	double mean;
	double m2;
} welford;

static void wf_add(welford *w, double x)
{
	double d = x - w->mean;

	w->n++;
	w->mean += d / (double)w->n;
	w->m2 += d * (x - w->mean);
}

static ope_interval wf_interval(const welford *w)
{
	ope_interval r;
	double se = w->n > 1 ? sqrt(w->m2 / (double)(w->n - 1) / (double)w->n) : NAN;

	r.value = w->n > 0 ? w->mean : NAN;
	r.lo = r.value - Z95 * se;
	r.hi = r.value + Z95 * se;
	return r;
}

static const double taus[OPE_TAUS] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10000, INFINITY};

typedef struct acc {
	welford logged;
	welford ips;
	welford dr;
	welford dm;
	/* Per threshold: clipped IPS, switch-DR, and w [w > tau] for the bias bound. */
	size_t ntau;
	double tau[OPE_TAUS];
	welford clip[OPE_TAUS];
	welford sw_dr[OPE_TAUS];
	double over[OPE_TAUS];
	double sw;
	double swr;
	double sw2;
	double sw2r;
	double maxw;
	size_t pos;
} acc;

static void acc_add(acc *a, double w, double r, double dm, double qlogged)
{
	wf_add(&a->logged, r);
	wf_add(&a->ips, w * r);
	wf_add(&a->dr, dm + w * (r - qlogged));
	wf_add(&a->dm, dm);
	for (size_t t = 0; t < a->ntau; t++) {
		wf_add(&a->clip[t], (w < a->tau[t] ? w : a->tau[t]) * r);
		wf_add(&a->sw_dr[t], dm + (w <= a->tau[t] ? w * (r - qlogged) : 0.0));
		a->over[t] += w > a->tau[t] ? w : 0.0;
	}
	a->sw += w;
	a->swr += w * r;
	a->sw2 += w * w;
	a->sw2r += w * w * r;
	if (w > a->maxw)
		a->maxw = w;
	a->pos += w > 0;
}

static void acc_result(const acc *a, ope_result *out)
{
	memset(out, 0, sizeof(*out));
	out->n = a->logged.n;
	if (out->n == 0)
		return;
	out->logged = wf_interval(&a->logged);
	out->ips = wf_interval(&a->ips);
	out->dr = wf_interval(&a->dr);
	out->dm = a->dm.mean;
	out->max_weight = a->maxw;
	out->support = (double)a->pos / (double)out->n;
	{
		/* The threshold of least estimated MSE: variance / n + bias bound^2. */
		size_t best = 0;
		double best_mse = INFINITY;

		for (size_t t = 0; t < a->ntau; t++) {
			ope_interval iv = wf_interval(&a->sw_dr[t]);
			double se = (iv.hi - iv.value) / Z95;
			double bias = a->over[t] / (double)out->n;
			double mse = se * se + bias * bias;

			if (!isnan(mse) && mse < best_mse) {
				best_mse = mse;
				best = t;
			}
		}
		out->tau = a->tau[best];
		out->bias_bound = a->over[best] / (double)out->n;
		out->clipped = wf_interval(&a->clip[best]);
		out->switch_dr = wf_interval(&a->sw_dr[best]);
	}
	if (a->sw > 0) {
		double v = a->swr / a->sw;
		/* Delta method; r is 0 or 1, so sum w^2 (r - v)^2 = (1 - 2v) sum w^2 r + v^2 sum w^2. */
		double var = (1.0 - 2.0 * v) * a->sw2r + v * v * a->sw2;
		double se = sqrt(var > 0 ? var : 0) / a->sw;

		out->snips.value = v;
		out->snips.lo = v - Z95 * se;
		out->snips.hi = v + Z95 * se;
		out->ess = a->sw * a->sw / a->sw2;
	} else {
		out->snips.value = out->snips.lo = out->snips.hi = NAN;
	}
}

/* --- per episode ------------------------------------------------------------- */

typedef struct episode_view {
	const scorer *s;
	const qmodel *qs; /* per-offer accept model, for slates */
	size_t state;
	size_t seg;
	size_t depth; /* slots the candidate fills */
} episode_view;

static double slate_q(const episode_view *v, const size_t *slate, size_t n)
{
	double none = 1.0;

	for (size_t k = 0; k < n; k++)
		none *= 1.0 - qm_get(v->qs, v->state, v->seg, slate[k]);
	return 1.0 - none;
}

/* Sum over the candidate's slates of P(slate) q(slate), exactly. */
static double dm_slate_exact(const episode_view *v, unsigned char *taken, size_t *slate, size_t k,
                             double p)
{
	double probs[OPE_OFFERS_MAX];
	double sum = 0;

	if (k == v->depth)
		return p * slate_q(v, slate, k);
	scorer_probs(v->s, taken, slate, k, probs);
	for (size_t i = 0; i < v->s->n; i++) {
		if (probs[i] <= 0)
			continue;
		taken[i] = 1;
		slate[k] = i;
		sum += dm_slate_exact(v, taken, slate, k + 1, p * probs[i]);
		taken[i] = 0;
	}
	return sum;
}

/* The same by sampling slates, for large choice sets. */
static double dm_slate_sampled(const episode_view *v, rng *r)
{
	double sum = 0;

	for (int d = 0; d < SLATE_MC_DRAWS; d++) {
		unsigned char taken[OPE_OFFERS_MAX] = {0};
		size_t slate[OFFERS_SHOWN];

		for (size_t k = 0; k < v->depth; k++) {
			double probs[OPE_OFFERS_MAX];
			double x = rng_uniform(r);
			size_t pick = SIZE_MAX;

			scorer_probs(v->s, taken, slate, k, probs);
			for (size_t i = 0; i < v->s->n; i++) {
				if (taken[i])
					continue;
				pick = i;
				if (x < probs[i])
					break;
				x -= probs[i];
			}
			taken[pick] = 1;
			slate[k] = pick;
		}
		sum += slate_q(v, slate, v->depth);
	}
	return sum / SLATE_MC_DRAWS;
}

/*
 * A contextual candidate learns episode e's logged outcome as the writer
 * would: the accepted slot scores r_accept, the others r_ignore (the log
 * keeps no clicks), credit by cascade.
 */
static void replay_learn(policy *p, const feat_ctx *ctx, const predict_req *req, const ope_episode *e)
{
	const policy_common *pc = policy_params(p);
	policy_slate shown;
	policy_feedback fb;

	memset(&shown, 0, sizeof(shown));
	memset(&fb, 0, sizeof(fb));
	shown.n = fb.n = e->n;
	for (size_t k = 0; k < e->n; k++) {
		shown.idx[k] = e->shown[k];
		shown.propensity[k] = e->propensity[k];
		fb.reward[k] = e->slot == (int)k ? pc->r_accept : pc->r_ignore;
	}
	policy_cascade(fb.n, e->slot, fb.credited);
	(void)policy_learn(p, ctx, req, &shown, &fb);
}

int ope_evaluate(const ope_log *l, const ope_candidate *c, ope_result *slate_out, ope_result *first_out)
{
	size_t ns = l->states->n;
	size_t ng = l->segments->n;
	size_t no = l->offers->n;
	qmodel qs[2];
	qmodel q1[2];
	acc as;
	acc a1;
	policy_tab *tab = NULL;
	predict_req *req = NULL;
	scorer sc;
	size_t skipped = 0;
	int stopped = 0;
	rng r;

	memset(slate_out, 0, sizeof(*slate_out));
	memset(first_out, 0, sizeof(*first_out));
	if (l->n == 0 || no == 0)
		return ERR_NOTFOUND;
	if (ns * no > CELLS_MAX)
		return ERR_TOOBIG;
	if (c->learner == NULL && policy_tab_at((size_t)c->conf.policy) == NULL)
		return ERR_INVAL;
	memset(&as, 0, sizeof(as));
	memset(&a1, 0, sizeof(a1));
	if (c->tau > 0) {
		as.ntau = a1.ntau = 1;
		as.tau[0] = a1.tau[0] = c->tau;
	} else {
		as.ntau = a1.ntau = OPE_TAUS;
		memcpy(as.tau, taus, sizeof(taus));
		memcpy(a1.tau, taus, sizeof(taus));
	}
	rng_seed(&r, c->seed);
	/*
	 * Two-fold cross-fitting: an episode of fold f is scored by the models
	 * fitted on fold 1 - f, so its own outcome never predicts itself.
	 */
	for (int f = 0; f < 2; f++) {
		qm_init(&qs[f], ns, ng, no);
		qm_init(&q1[f], ns, ng, no);
	}
	for (size_t i = 0; i < l->n; i++) {
		const ope_episode *e = &l->eps[i];
		int other = 1 - (int)(i & 1);
		size_t g = l->state_segment[e->state];

		for (size_t k = 0; k < e->n; k++) {
			double succ = e->slot == (int)k ? 1.0 : 0.0;

			if (e->slot == OPE_SLOT_UNKNOWN)
				succ = 1.0 / e->n; /* accepted, credit unknown: shared */
			qm_add(&qs[other], e->state, g, e->shown[k], succ);
		}
		if (e->slot != OPE_SLOT_UNKNOWN)
			qm_add(&q1[other], e->state, g, e->shown[0], e->slot == 0 ? 1.0 : 0.0);
	}
	memset(&sc, 0, sizeof(sc));
	sc.n = no;
	if (c->learner != NULL) {
		/* The choice set as a request: offer i is the log's offer i, all allowed. */
		req = xcalloc(1, sizeof(*req));
		for (size_t j = 0; j < no; j++) {
			util_strlcpy(req->offers[j], l->offers->keys[j], sizeof(req->offers[j]));
			req->allowed[j] = 1;
		}
		req->n_offers = no;
		req->n_allowed = no;
		sc.pol = c->learner;
		sc.req = req;
	} else {
		tab = xmalloc(sizeof(*tab));
		sc.tab = tab;
	}
	for (size_t i = 0; i < l->n; i++) {
		const ope_episode *e = &l->eps[i];
		int f = (int)(i & 1);
		feat_ctx fctx;
		episode_view v;
		double pi1[OPE_OFFERS_MAX];
		double pslate = 1.0;
		double mu = 1.0;
		double dm_slate;
		double dm_first = 0;
		double qlog = 1.0;
		size_t logged[OFFERS_SHOWN];

		if (c->progress != NULL && i % OPE_PROGRESS_EVERY == 0 &&
		    c->progress(c->progress_arg, i, l->n) != 0) {
			stopped = 1;
			break;
		}
		if (c->learner != NULL) {
			if (model_episode_context(e->states, e->ts, l->states->keys[e->state], &fctx) !=
			    0) {
				skipped++;
				continue;
			}
			sc.ctx = &fctx;
		} else {
			scorer_init(tab, l, c, l->states->keys[e->state], &e->customer);
		}
		v.s = &sc;
		v.qs = &qs[f];
		v.state = e->state;
		v.seg = l->state_segment[e->state];
		v.depth = no < OFFERS_SHOWN ? no : OFFERS_SHOWN;
		{
			unsigned char taken[OPE_OFFERS_MAX] = {0};
			size_t slate[OFFERS_SHOWN] = {0};

			scorer_probs(&sc, taken, slate, 0, pi1);
			for (size_t k = 0; k < e->n; k++) {
				double probs[OPE_OFFERS_MAX];

				scorer_probs(&sc, taken, slate, k, probs);
				pslate *= probs[e->shown[k]];
				taken[e->shown[k]] = 1;
				slate[k] = e->shown[k];
			}
			memset(taken, 0, sizeof(taken));
			if (no <= OPE_EXACT_MAX)
				dm_slate = dm_slate_exact(&v, taken, slate, 0, 1.0);
			else
				dm_slate = dm_slate_sampled(&v, &r);
			for (size_t j = 0; j < no; j++)
				dm_first += pi1[j] * qm_get(&q1[f], v.state, v.seg, j);
		}
		if (tab != NULL)
			policy_tab_clear(tab);
		else if (e->slot != OPE_SLOT_UNKNOWN)
			replay_learn(c->learner, &fctx, req, e);
		for (size_t k = 0; k < e->n; k++) {
			mu *= e->propensity[k];
			logged[k] = e->shown[k];
		}
		qlog = slate_q(&v, logged, e->n);
		acc_add(&as, pslate / mu, e->slot != OPE_SLOT_NONE ? 1.0 : 0.0, dm_slate, qlog);
		if (e->slot != OPE_SLOT_UNKNOWN)
			acc_add(&a1, pi1[e->shown[0]] / e->propensity[0], e->slot == 0 ? 1.0 : 0.0,
			        dm_first, qm_get(&q1[f], v.state, v.seg, e->shown[0]));
	}
	acc_result(&as, slate_out);
	acc_result(&a1, first_out);
	slate_out->skipped = first_out->skipped = skipped;
	free(tab);
	if (req != NULL)
		request_predict_free(req);
	free(req);
	for (int f = 0; f < 2; f++) {
		qm_free(&qs[f]);
		qm_free(&q1[f]);
	}
	if (stopped) {
		memset(slate_out, 0, sizeof(*slate_out));
		memset(first_out, 0, sizeof(*first_out));
		return ERR_UNAVAIL;
	}
	if (c->progress != NULL)
		(void)c->progress(c->progress_arg, l->n, l->n);
	return 0;
}

/* --- reading the database ------------------------------------------------------ */

#define POLICY_NAMES_MAX 8

typedef struct load_ctx {
	ope_log *l;
	enum ope_missing missing;
	int rc;
	char err[256];
	char names[POLICY_NAMES_MAX][DB_POLICY_MAX];
	size_t counts[POLICY_NAMES_MAX];
	size_t nnames;
} load_ctx;

static void count_policy(load_ctx *c, const char *name)
{
	for (size_t i = 0; i < c->nnames; i++) {
		if (strcmp(c->names[i], name) == 0) {
			c->counts[i]++;
			return;
		}
	}
	if (c->nnames < POLICY_NAMES_MAX) {
		util_strlcpy(c->names[c->nnames], name, sizeof(c->names[0]));
		c->counts[c->nnames++] = 1;
	}
}

static void customer_of(const char *states, customer_attrs *out)
{
	json_error_t jerr;
	json_t *j = NULL;
	req_error e;
	char err[128];

	out->age = -1;
	out->gender = 'U';
	util_strlcpy(out->region, "Unknown", sizeof(out->region));
	if (states == NULL)
		return;
	j = json_loads(states, 0, &jerr);
	if (j == NULL)
		j = pylit_parse(states, strlen(states), err, sizeof(err));
	if (json_is_object(j) && request_customer_from_states(j, out, &e) != 0) {
		out->age = -1;
		out->gender = 'U';
		util_strlcpy(out->region, "Unknown", sizeof(out->region));
	}
	json_decref(j);
}

/*
 * Columns: id, state_key, states, predicted_offer_1..3, propensity_1..3,
 * policy, has_reward, accepted, accepted_offer_id, request_timestamp.
 */
static int load_row(void *arg, int ncols, const char *const *vals)
{
	load_ctx *c = arg;
	const char *offers[OFFERS_SHOWN];
	double prop[OFFERS_SHOWN];
	customer_attrs cust;
	int n = 0;
	int rc;

	if (ncols < 14)
		return ERR_IO;
	c->l->read++;
	if (c->l->on_read != NULL && c->l->read % OPE_PROGRESS_EVERY == 0 &&
	    c->l->on_read(c->l->on_read_arg, c->l->read) != 0) {
		snprintf(c->err, sizeof(c->err), "stopped");
		return ERR_UNAVAIL;
	}
	for (int k = 0; k < OFFERS_SHOWN && vals[3 + k] != NULL; k++) {
		if (vals[6 + k] == NULL || util_strtod(vals[6 + k], 0.0, 1.0, &prop[k]) != 0 ||
		    prop[k] <= 0)
			break;
		offers[k] = vals[3 + k];
		n++;
	}
	if (vals[1] == NULL || vals[1][0] == '\0' || n == 0 ||
	    (n < OFFERS_SHOWN && vals[3 + n] != NULL)) {
		c->l->no_propensity++;
		return 0;
	}
	if (!db_bool(vals[10])) {
		c->l->no_reward++;
		if (c->missing == OPE_MISSING_SKIP)
			return 0;
	}
	customer_of(vals[2], &cust);
	count_policy(c, vals[9] ? vals[9] : "?");
	rc = ope_log_add(c->l, vals[1], &cust, offers, prop, n, db_bool(vals[11]), vals[12]);
	if (rc == 0)
		ope_log_context(c->l, vals[2], vals[13]);
	if (rc == ERR_TOOBIG && c->l->n >= OPE_EPISODES_MAX) {
		snprintf(c->err, sizeof(c->err), "more than %d episodes: narrow the window with --from",
		         OPE_EPISODES_MAX);
		return rc;
	}
	if (rc == ERR_TOOBIG) {
		c->l->unknown_offer++;
		return 0;
	}
	return 0;
}

/* The first OPE_OFFERS_MAX + 1 offers of a catalogue: enough to know it is too large. */
typedef struct catalogue {
	char *names[OPE_OFFERS_MAX + 1];
	size_t n;
} catalogue;

static int catalogue_row(void *arg, int ncols, const char *const *vals)
{
	catalogue *c = arg;

	if (ncols < 1 || vals[0] == NULL || c->n >= UTIL_ARRAY_LEN(c->names))
		return 0;
	c->names[c->n++] = xstrdup(vals[0]);
	return 0;
}

static int add_offer_list(ope_log *l, const char *list, char *err, size_t errlen)
{
	const char *p = list;

	while (p != NULL && *p != '\0') {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char name[REQ_OFFER_NAME_MAX + 1];

		if (len == 0 || len > REQ_OFFER_NAME_MAX) {
			snprintf(err, errlen, "--offers: empty or over-long offer name");
			return ERR_INVAL;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		if (ope_log_offer(l, name) < 0) {
			snprintf(err, errlen, "--offers: more than %d offers", OPE_OFFERS_MAX);
			return ERR_TOOBIG;
		}
		p = comma ? comma + 1 : NULL;
	}
	return 0;
}

int ope_missing_parse(const char *s, enum ope_missing *out)
{
	if (s != NULL && strcmp(s, "reject") == 0)
		*out = OPE_MISSING_REJECT;
	else if (s != NULL && strcmp(s, "skip") == 0)
		*out = OPE_MISSING_SKIP;
	else
		return ERR_INVAL;
	return 0;
}

const char *ope_missing_name(enum ope_missing m)
{
	return m == OPE_MISSING_SKIP ? "skip" : "reject";
}

int ope_load(store *s, const char *company, const char *from, const char *to, enum ope_missing missing,
             const char *offers, ope_log *out, char *err, size_t errlen)
{
	load_ctx *ctx = xcalloc(1, sizeof(*ctx));
	catalogue *cat = xcalloc(1, sizeof(*cat));
	int rc;

	ctx->l = out;
	ctx->missing = missing;
	if (offers != NULL) {
		rc = add_offer_list(out, offers, err, errlen);
		if (rc != 0)
			goto out;
	} else {
		rc = db_product_ids(s, company, catalogue_row, cat);
		if (rc != 0) {
			snprintf(err, errlen, "cannot read the catalogue: %s", s->ops->errmsg(s));
			goto out;
		}
		/* A catalogue larger than a request can carry says nothing about choice sets. */
		for (size_t i = 0; cat->n <= OPE_OFFERS_MAX && i < cat->n; i++)
			ope_log_offer(out, cat->names[i]);
	}
	rc = db_episodes_logged(s, company, from, to, load_row, ctx);
	if (rc != 0) {
		if (ctx->err[0] != '\0')
			snprintf(err, errlen, "%s", ctx->err);
		else
			snprintf(err, errlen, "cannot read the episodes: %s", s->ops->errmsg(s));
		goto out;
	}
	out->policies[0] = '\0';
	for (size_t i = 0; i < ctx->nnames; i++) {
		size_t len = strlen(out->policies);

		snprintf(out->policies + len, sizeof(out->policies) - len, "%s%s %zu", i ? ", " : "",
		         ctx->names[i], ctx->counts[i]);
	}
out:
	for (size_t i = 0; i < cat->n; i++)
		free(cat->names[i]);
	free(cat);
	free(ctx);
	return rc;
}
