/*
 * api_personalizer.c — the Azure Personalizer v1.0 API under
 * /personalizer/v1.0/ (issue 14), on offerd's own loop.
 *
 * Every path of the API is a row of api.c's route table naming this one
 * endpoint; pz_path_parse() picks the operation and personalizer.c parses
 * and answers in Personalizer's shapes. What maps to what:
 *
 *   rank        one decision by the current agent version over the actions
 *               (decide_episode, as /predict), stored as an episode whose
 *               customer_id is "pz:" + eventId and whose one shown offer is
 *               rewardActionId;
 *   reward      a writer operation like PUT /rewards on that episode:
 *               value > 0 is an acceptance (the agent's r_accept), <= 0 is
 *               not (r_ignore); the first reward counts;
 *   activate    a deferred event's reward is held until its activation;
 *   multislot   one episode per slot ("pz:" + eventId + "#k"), at most 3,
 *               no action repeated, one reward per slot;
 *   evaluations jobs of offerd's evaluation runner (evaluation.h, the
 *               table tb_evaluations), as POST /evaluations.
 *
 * So /metrics, offerctl evaluate and the learned values see both APIs'
 * episodes. Every state that outlives a request is in the database, so
 * several offerd processes on one database agree and a restart loses
 * nothing: the per-company configuration in tb_pz_config (cached here,
 * reread every PZ_CONFIG_TTL_S), the deferred events with their held
 * rewards, the multi-slot slot ids and Apprentice agreement in
 * tb_pz_events, the Apprentice report in tb_pz_apprentice, and the events
 * due a default reward are read from tb_episodes. This process keeps
 * caches only. docs/personalizer.md lists every difference.
 */
#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api.h"
#include "date.h"
#include "evaluation.h"
#include "log.h"
#include "metrics.h"
#include "ope.h"
#include "personalizer.h"
#include "util.h"

/* The episode's customer_id is this prefix and the event id. */
#define PZ_CUSTOMER_PREFIX "pz:"
#define PZ_EVENT_STORED_MAX (CUSTOMER_ID_MAX - 3)
/* Slots in one multi-slot rank: each is an episode of customer_id pz:EVENT#k. */
#define PZ_MULTI_SLOTS_MAX OFFERS_SHOWN
#define PZ_MULTI_EVENT_STORED_MAX (PZ_EVENT_STORED_MAX - 2)

/*
 * The episode customer_id of an event (slot < 0) or of one slot of a
 * multi-slot event: "pz:" EVENT or "pz:" EVENT "#" SLOT. The event id's
 * length was checked against PZ_EVENT_STORED_MAX (PZ_MULTI_EVENT_STORED_MAX),
 * so the id always fits; a truncated one would name another event, so it
 * is refused (ERR_RANGE) rather than cut.
 */
static int pz_customer_id(char out[CUSTOMER_ID_MAX + 1], const char *event, int slot)
{
	int n;

	if (slot < 0)
		n = snprintf(out, CUSTOMER_ID_MAX + 1, PZ_CUSTOMER_PREFIX "%.*s", PZ_EVENT_STORED_MAX,
		             event);
	else
		n = snprintf(out, CUSTOMER_ID_MAX + 1, PZ_CUSTOMER_PREFIX "%.*s#%u",
		             PZ_MULTI_EVENT_STORED_MAX, event, (unsigned)slot % 10u);
	return n < 0 || n > CUSTOMER_ID_MAX ? ERR_RANGE : 0;
}

/* --- the database: configuration, event state, Apprentice report ---------- */

/*
 * tb_pz_config, tb_pz_events and tb_pz_apprentice hold every state that
 * outlives a request, so a restart or another offerd on the same database
 * sees it. One connection of their own (store.h's slot); a call that could
 * not reach the database closes it (reopened the next time).
 */
static store_slot pz_db_slot = STORE_SLOT_INIT;

/* Takes the connection and returns it; NULL (nothing held) when it cannot be opened. */
static store *pz_db_acquire(server *s)
{
	return store_slot_take(&pz_db_slot, s->cfg->database_url, 0, NULL);
}

/* Ends a use of st that returned rc: returns rc, or ERR_UNAVAIL when st is NULL. */
static int pz_db_release(store *st, int rc)
{
	if (st == NULL)
		return ERR_UNAVAIL;
	store_slot_give(&pz_db_slot, rc == ERR_UNAVAIL || rc == ERR_IO);
	return rc;
}

/* --- per-company configuration (cached) ----------------------------------- */

#define PZ_TENANTS_MAX 1024

typedef struct pz_tenant {
	char company[DB_COMPANY_MAX];
	pz_service_config svc;
	pz_policy policy;
	int policy_set;    /* PUT configurations/policy was called */
	double loaded_at;  /* util_monotonic() of the last read of tb_pz_config, 0: never */
	double swept_at;   /* util_monotonic() of the last complete default sweep, 0: never */
	double swept_wait; /* ... and the rewardWaitTime it used */
} pz_tenant;

static pthread_mutex_t tenants_lock = PTHREAD_MUTEX_INITIALIZER;
static pz_tenant *tenants[PZ_TENANTS_MAX];
static size_t n_tenants;

/* The company's entry (created with the defaults), with tenants_lock held; NULL when full. */
static pz_tenant *tenant_locked(server *s, const char *company)
{
	agent_conf conf;
	pz_tenant *t;

	for (size_t i = 0; i < n_tenants; i++) {
		if (strcmp(tenants[i]->company, company) == 0)
			return tenants[i];
	}
	if (n_tenants == PZ_TENANTS_MAX)
		return NULL;
	t = xcalloc(1, sizeof(*t));
	util_strlcpy(t->company, company, sizeof(t->company));
	pz_service_config_default(&t->svc);
	/* A new loop explores as the agent version does. */
	server_conf(s, &conf);
	if (conf.policy == POLICY_EPSILON_GREEDY)
		t->svc.exploration = conf.epsilon;
	tenants[n_tenants++] = t;
	return t;
}

/*
 * tb_pz_config is the configuration's home: PUT writes it through, GET
 * reads it, and the rank and reward paths reread it once it is older than
 * PZ_CONFIG_TTL_S.
 */
#define PZ_CONFIG_TTL_S 2.0

static int config_db_read(server *s, const char *company, db_pz_config *out)
{
	store *st = pz_db_acquire(s);

	return pz_db_release(st, st != NULL ? db_pz_config_get(st, company, out) : 0);
}

static int config_db_write(server *s, const char *company, const char *service, const char *policy,
                           int policy_put)
{
	store *st = pz_db_acquire(s);
	int rc = 0;

	if (st != NULL && service != NULL)
		rc = db_pz_service_put(st, company, service);
	if (st != NULL && rc == 0 && policy_put)
		rc = db_pz_policy_put(st, company, policy);
	return pz_db_release(st, rc);
}

/* The stored configuration into the company's entry when older than max_age seconds. */
static int tenant_refresh(server *s, const char *company, double max_age)
{
	db_pz_config stored = {NULL, NULL};
	pz_service_config svc;
	pz_policy policy;
	pz_error e;
	pz_tenant *t;
	double now = util_monotonic();
	int have_svc = 0, have_policy = 0;
	int rc;

	pthread_mutex_lock(&tenants_lock);
	t = tenant_locked(s, company);
	rc = t == NULL ? ERR_UNAVAIL : 0;
	if (t != NULL && t->loaded_at > 0 && now - t->loaded_at < max_age)
		t = NULL;
	pthread_mutex_unlock(&tenants_lock);
	if (t == NULL)
		return rc;
	rc = config_db_read(s, company, &stored);
	if (rc != 0) {
		/* The cached copy serves; the next try waits max_age, not every rank. */
		log_msg(LOG_WARN, "personalizer: the configuration of %s could not be read", company);
		pthread_mutex_lock(&tenants_lock);
		t = tenant_locked(s, company);
		if (t != NULL)
			t->loaded_at = now;
		pthread_mutex_unlock(&tenants_lock);
		return ERR_UNAVAIL;
	}
	if (stored.service != NULL) {
		json_t *j = json_loads(stored.service, 0, NULL);
		json_t *edit = json_object_get(j, "lastConfigurationEditDate");
		size_t n = strlen(stored.service);

		have_svc = pz_service_config_parse(stored.service, n, &svc, &e) == 0;
		if (have_svc && json_is_string(edit))
			util_strlcpy(svc.last_edit, json_string_value(edit), sizeof(svc.last_edit));
		json_decref(j);
	}
	if (stored.policy != NULL)
		have_policy = pz_policy_parse(stored.policy, strlen(stored.policy), &policy, &e) == 0;
	db_pz_config_clear(&stored);
	pthread_mutex_lock(&tenants_lock);
	t = tenant_locked(s, company);
	if (t != NULL) {
		if (have_svc)
			t->svc = svc;
		t->policy_set = have_policy;
		if (have_policy)
			t->policy = policy;
		t->loaded_at = now;
	}
	pthread_mutex_unlock(&tenants_lock);
	return t != NULL ? 0 : ERR_UNAVAIL;
}

/* A copy of the company's service configuration. */
static int tenant_svc(server *s, const char *company, pz_service_config *out)
{
	pz_tenant *t;

	/* The database unreachable: the last configuration read serves. */
	(void)tenant_refresh(s, company, PZ_CONFIG_TTL_S);
	pthread_mutex_lock(&tenants_lock);
	t = tenant_locked(s, company);
	if (t != NULL)
		*out = t->svc;
	pthread_mutex_unlock(&tenants_lock);
	return t != NULL ? 0 : ERR_UNAVAIL;
}

/* --- events: this process's cache, tb_pz_events' rows ----------------------- */

_Static_assert(DB_PZ_SLOTS_MAX == PZ_MULTI_SLOTS_MAX, "a row holds one reward per slot");

/*
 * The events this process ranked, by a 64-bit hash of company and event id:
 * when (rewardWaitTime), which slots were rewarded here, and whether the
 * event has a row in tb_pz_events (defaults come from the database:
 * api_pz_defaults_sweep). Only a
 * deferred, multi-slot or Apprentice event has a row; a reward for any
 * other event ranked here (Online, single-slot, not deferred: the common
 * case) needs no database read, and every other event's state is read from
 * its row, so all processes on the database agree on it. Bounded: a new
 * event takes the oldest slot of its probe window.
 */
#define PZ_EVENTS_SLOTS 65536
#define PZ_EVENTS_PROBE 8

typedef struct pz_event {
	uint64_t h;   /* 0: free */
	uint64_t seq; /* insertion order, for eviction */
	double ranked_at;
	unsigned char stored;   /* has a row in tb_pz_events */
	unsigned char rewarded; /* bit 0 (single) or bit k (slot k): a reward was taken here */
} pz_event;

static pthread_mutex_t events_lock = PTHREAD_MUTEX_INITIALIZER;
static pz_event *events;
static uint64_t events_seq;

static uint64_t event_hash(const char *company, const char *id)
{
	char key[DB_COMPANY_MAX + PZ_ID_BYTES_MAX + 2];
	uint64_t h;

	snprintf(key, sizeof(key), "%s" SERVER_SEP "%s", company, id);
	h = util_hash(key);
	return h != 0 ? h : 1;
}

/* With events_lock held: the event's slot, or NULL. */
static pz_event *event_find_locked(uint64_t h)
{
	if (events == NULL)
		return NULL;
	for (size_t k = 0; k < PZ_EVENTS_PROBE; k++) {
		pz_event *e = &events[(h + k) % PZ_EVENTS_SLOTS];

		if (e->h == h)
			return e;
	}
	return NULL;
}

static void event_put(const char *company, const char *id, double ranked_at, int stored)
{
	uint64_t h = event_hash(company, id);
	pz_event *slot;

	pthread_mutex_lock(&events_lock);
	if (events == NULL)
		events = xcalloc(PZ_EVENTS_SLOTS, sizeof(*events));
	slot = event_find_locked(h);
	for (size_t k = 0; slot == NULL && k < PZ_EVENTS_PROBE; k++) {
		pz_event *e = &events[(h + k) % PZ_EVENTS_SLOTS];

		if (e->h == 0)
			slot = e;
	}
	for (size_t k = 0; slot == NULL && k < PZ_EVENTS_PROBE; k++) {
		pz_event *e = &events[(h + k) % PZ_EVENTS_SLOTS];

		if (slot == NULL || e->seq < slot->seq)
			slot = e;
	}
	memset(slot, 0, sizeof(*slot));
	slot->h = h;
	slot->seq = ++events_seq;
	slot->ranked_at = ranked_at;
	slot->stored = (unsigned char)(stored != 0);
	pthread_mutex_unlock(&events_lock);
}

/*
 * A copy of the event's cache entry, with the bits of mask marked rewarded
 * (mask 0: a look only). Returns 0 when the event is not in the table.
 */
static int event_get(const char *company, const char *id, unsigned mask, pz_event *out)
{
	pz_event *e;

	pthread_mutex_lock(&events_lock);
	e = event_find_locked(event_hash(company, id));
	if (e != NULL) {
		*out = *e;
		e->rewarded |= (unsigned char)mask;
	}
	pthread_mutex_unlock(&events_lock);
	return e != NULL;
}

/* What a reward or an activation knows of an event (event_lookup). */
enum { EV_UNKNOWN = 0, EV_LOCAL = 1, EV_STORED = 2 };

/*
 * The state of an event that gets the rewards of mask: EV_LOCAL when this
 * process ranked it and it has no row (ev->ranked_at set), EV_STORED with ev
 * read from its row, EV_UNKNOWN when neither (ranked by another process
 * without a row, or never), or < 0 when the database cannot be read. The
 * caller clears ev (db_pz_event_clear).
 */
static int event_lookup(server *s, const char *company, const char *id, unsigned mask, db_pz_event *ev)
{
	pz_event local;
	store *st;
	int rc;

	memset(ev, 0, sizeof(*ev));
	if (event_get(company, id, mask, &local) && !local.stored) {
		ev->ranked_at = local.ranked_at;
		return EV_LOCAL;
	}
	st = pz_db_acquire(s);
	rc = pz_db_release(st, st != NULL ? db_pz_event_get(st, company, id, ev) : 0);
	if (rc < 0)
		return rc;
	return rc == 1 ? EV_STORED : EV_UNKNOWN;
}

/* Whether a reward for a known event comes after its rewardWaitTime (Personalizer discards it). */
static int event_late(int kind, const db_pz_event *ev, int64_t wait_s)
{
	return kind != EV_UNKNOWN && util_now() - ev->ranked_at > (double)wait_s;
}

/*
 * Holds rewards (bits of mask, values by slot) for a deferred event until
 * its activation: 1 when held, 0 when the event is not deferred (any more:
 * deliver them now), < 0 when the database cannot be reached.
 */
static int event_hold(server *s, const char *company, const char *id, unsigned mask,
                      const double value[PZ_MULTI_SLOTS_MAX])
{
	store *st = pz_db_acquire(s);

	return pz_db_release(st, st != NULL ? db_pz_event_hold(st, company, id, (int)mask, value) : 0);
}

/* Adds to company's Apprentice report; a failure is logged (the report is advisory). */
static void apprentice_add(server *s, const char *company, const db_pz_apprentice *delta)
{
	store *st = pz_db_acquire(s);

	if (pz_db_release(st, st != NULL ? db_pz_apprentice_add(st, company, delta) : 0) != 0)
		log_msg(LOG_WARN, "personalizer: the Apprentice report of %s could not be updated",
		        company);
}

/* --- default rewards: rewardWaitTime and defaultReward ---------------------- */

/*
 * An event's episode (each slot's, for a multi-slot event) still without a
 * reward once the company's rewardWaitTime has passed gets the company's
 * defaultReward through the writer as a default reward (TB_REWARDS.source
 * 'default', always learned), as offerd's reward_wait_seconds does for
 * /predict (server.c, expire_episodes). The database says which are due
 * (db_pz_defaults_due: no reward row, older than the wait, the event not
 * deferred), so whichever process sweeps first gives them and a restart
 * forgets none; the writer stores one reward per episode (ON CONFLICT DO
 * NOTHING), so two processes sweeping together, or a sweep racing a late
 * client reward, store one. Every process's refresher sweeps (at most once
 * a second): the companies with a stored configuration and those this
 * process has served, at most PZ_DEFAULTS_SWEEP_MAX slots a company a
 * sweep (the rest at the next). A process's first sweep of a company reads
 * all its history; the next ones only the episodes that came due since the
 * last complete sweep (PZ_DEFAULTS_SLACK_S more, for writes committed
 * late), so a sweep costs what came due, not the table (TB_EPISODES'
 * index on last_update).
 */
#define PZ_DEFAULTS_SWEEP_MAX 1000
#define PZ_DEFAULTS_EVERY_S 1.0
#define PZ_DEFAULTS_SLACK_S 60.0
#define PZ_DEFAULTS_ALL_S 1e9 /* "all the history" (about 31 years) */

/* Makes sure the company has an entry in the tenant table (its configuration read). */
static int default_company(void *arg, int ncols, const char *const *vals)
{
	pz_service_config svc;

	if (ncols >= 1 && vals[0] != NULL && strlen(vals[0]) < DB_COMPANY_MAX)
		(void)tenant_svc(arg, vals[0], &svc);
	return 0;
}

void api_pz_defaults_sweep(server *s, store *st)
{
	static double last_sweep;
	char company[DB_COMPANY_MAX];
	server_due w = {s, 0, 0};
	double now = util_monotonic();
	int rc = 0;

	if (s->w == NULL || now - last_sweep < PZ_DEFAULTS_EVERY_S)
		return;
	last_sweep = now;
	if (db_pz_config_companies(st, default_company, s) != 0)
		log_msg(LOG_WARN, "personalizer: cannot list the configured companies: %s",
		        st->ops->errmsg(st));
	for (size_t i = 0; rc >= 0 && rc != 1; i++) {
		pz_service_config svc;
		double swept_at = 0;
		double swept_wait = 0;
		double lookback;

		pthread_mutex_lock(&tenants_lock);
		rc = i < n_tenants ? 0 : -1;
		if (rc == 0) {
			util_strlcpy(company, tenants[i]->company, sizeof(company));
			swept_at = tenants[i]->swept_at;
			swept_wait = tenants[i]->swept_wait;
		}
		pthread_mutex_unlock(&tenants_lock);
		if (rc != 0 || tenant_svc(s, company, &svc) != 0)
			break;
		w.accepted = svc.default_reward > 0;
		w.listed = 0;
		/* The last complete sweep handled every episode older than its wait then. */
		lookback = swept_at > 0 ? swept_wait + (now - swept_at) + PZ_DEFAULTS_SLACK_S
		                        : PZ_DEFAULTS_ALL_S;
		rc = db_pz_defaults_due(st, company, (double)svc.reward_wait_s, lookback,
		                        PZ_DEFAULTS_SWEEP_MAX, server_due_reward, &w);
		if (rc < 0)
			log_msg(LOG_WARN,
			        "personalizer: cannot list the events due a default reward: %s",
			        st->ops->errmsg(st));
		if (rc == 0 && w.listed < PZ_DEFAULTS_SWEEP_MAX) {
			/* Complete: the next sweep starts from here. */
			pthread_mutex_lock(&tenants_lock);
			tenants[i]->swept_at = now;
			tenants[i]->swept_wait = (double)svc.reward_wait_s;
			pthread_mutex_unlock(&tenants_lock);
		}
	}
}

/* --- errors ----------------------------------------------------------------- */

static void reply_pz_error(http_req *r, const pz_error *e)
{
	char *body = pz_error_json(e);

	if (e->status == 503)
		http_add_header(r, "Retry-After", "1");
	http_reply(r, e->status, "application/json", body, strlen(body));
}

void api_pz_error(http_req *r, int err, const char *fmt, ...)
{
	char msg[320];
	pz_error e;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	memset(&e, 0, sizeof(e));
	pz_error_from_err(&e, err, msg);
	reply_pz_error(r, &e);
}

static void reply_json_text(http_req *r, int status, char *body)
{
	http_reply(r, status, "application/json", body, strlen(body));
}

static void reply_no_content(http_req *r)
{
	http_reply(r, 204, "application/json", xstrdup(""), 0);
}

/* --- the endpoint ---------------------------------------------------------- */

/* A multi-slot call's state: one episode per slot, one reward per slot. */
typedef struct pz_multi {
	pz_multi_rank_req multi;
	int multi_parsed;
	api_decision slot[PZ_MULTI_SLOTS_MAX];
	char slot_customer[PZ_MULTI_SLOTS_MAX][CUSTOMER_ID_MAX + 1];
	char slot_state[PZ_MULTI_SLOTS_MAX][AGENT_STATE_MAX + 16];
	size_t slot_served[PZ_MULTI_SLOTS_MAX];
	int slot_agreed[PZ_MULTI_SLOTS_MAX];
	writer_op slot_rop[PZ_MULTI_SLOTS_MAX];
	size_t n_ops; /* operations submitted */
} pz_multi;

typedef struct pz_ctx {
	api_call call;
	pz_op op;
	char id[PZ_ID_MAX + 1];             /* {eventId} of the path */
	char customer[CUSTOMER_ID_MAX + 1]; /* the episode's customer_id */
	/* rank */
	pz_rank_req rank;
	int rank_parsed;
	api_decision d;
	pz_learning_mode mode;
	pz_service_config svc; /* the company's, when the call started */
	char state_key[AGENT_STATE_MAX + 16];
	pz_ranked ranking[PZ_ACTIONS_MAX];
	size_t n_ranked;
	size_t served; /* the action served: rewardActionId */
	int agreed;    /* Apprentice: the policy chose the baseline too */
	/* reward, activate: the writer operation is d.op (a rank's, unused by them) */
	double value;
	int ev_apprentice; /* the event was ranked in Apprentice mode (its row says) */
	int ev_agreed;     /* ... and the policy agreed with the baseline */
	int multi_submit;  /* the rewards went out one per slot (multi_reward_submit) */
	/* multi-slot: allocated by the multi-slot calls only (it is most of the size) */
	struct pz_multi *m;
} pz_ctx;

static void pz_free(api_call *call)
{
	pz_ctx *c = (pz_ctx *)call;

	if (c->rank_parsed)
		pz_rank_free(&c->rank);
	request_predict_free(&c->d.req);
	decide_result_free(&c->d.res);
	if (c->m == NULL)
		return;
	if (c->m->multi_parsed)
		pz_multi_rank_free(&c->m->multi);
	for (size_t k = 0; k < PZ_MULTI_SLOTS_MAX; k++) {
		request_predict_free(&c->m->slot[k].req);
		decide_result_free(&c->m->slot[k].res);
	}
	free(c->m);
	c->m = NULL;
}

/* The multi-slot state of a call, allocated on first use; freed by pz_free. */
static pz_multi *multi_of(pz_ctx *c)
{
	if (c->m == NULL)
		c->m = xcalloc(1, sizeof(*c->m));
	return c->m;
}

/*
 * The decision for a rank: the agent version's policy over the allowed
 * actions, with the company's explorationPercentage as epsilon.
 *
 * Hook for the contextual policies (linear-ts, squarecb): they will read
 * c->rank.context and c->rank.actions[i].features here, instead of the
 * tabular state key, once agent_decide dispatches to them; the action
 * features need pz_rank_parse then (the lean parse rank_complete uses
 * checks them but keeps none).
 */
static int pz_decide(api_call *call, api_decision *d, const pz_service_config *svc)
{
	agent_conf conf;
	decide_gate g;
	int rc;

	server_conf(call->s, &conf);
	if (conf.policy == POLICY_EPSILON_GREEDY)
		conf.epsilon = svc->exploration;
	/* The company's rules and contact policy apply to ranks as to /predict (issue 16). */
	server_gate(call->s, call->company, &g);
	rc = decide_episode(&conf, call->s->vals, rng_thread(), call->company, &d->req, NULL, &g,
	                    &d->res, &d->op.ep);
	server_gate_release(&g);
	if (rc != 0)
		return rc;
	metrics_decision(conf.policy);
	d->op.kind = WOP_EPISODE;
	/* One shown offer per episode: the action served. */
	d->op.ep.offers[1] = NULL;
	d->op.ep.offers[2] = NULL;
	return 0;
}

/*
 * The decision's request: the actions (allowed[i]) as offers, the context
 * as states when the tabular state can read it (else none), and the
 * context kept as it came in the episode's states text.
 */
static int pz_request(const char *customer, json_t *context, const pz_action *actions, size_t n,
                      const unsigned char *allowed, predict_req *out, pz_error *e)
{
	const char *offers[PZ_ACTIONS_MAX];
	char now[32];
	req_error re;
	json_t *states;
	char *keep;
	int rc;

	for (size_t i = 0; i < n; i++)
		offers[i] = actions[i].id;
	date_stamp_now(now);
	states = pz_context_states(context);
	rc = request_predict_from_row(customer, now, states, offers, allowed, n, out, &re);
	if (rc != 0 && strncmp(re.field, "states", 6) == 0) {
		/* Context values the tabular state cannot read: one state for all. */
		json_decref(states);
		states = json_object();
		rc = request_predict_from_row(customer, now, states, offers, allowed, n, out, &re);
	}
	json_decref(states);
	if (rc != 0)
		return pz_fail(e, PZ_INVALID_RANK, "actions", "%s", re.message);
	free(out->states_text);
	/* {"contextFeatures":[...]} as jansson writes it, without an object around the list. */
	keep = json_dumps(context, JSON_COMPACT | JSON_PRESERVE_ORDER);
	out->states_text = keep != NULL ? xasprintf("{\"contextFeatures\":%s}", keep) : NULL;
	free(keep);
	if (out->states_text == NULL)
		return pz_fail(e, PZ_INTERNAL, NULL, "the context cannot be stored");
	return 0;
}

/* Serves the baseline (Apprentice, LoggingOnly): offer and propensity, and LoggingOnly's state. */
static void serve_baseline(api_decision *d, size_t baseline, pz_learning_mode mode, char *state,
                           size_t state_len)
{
	d->op.ep.offers[0] = d->req.offers[baseline];
	d->op.ep.propensity[0] = 1.0;
	if (mode == PZ_MODE_LOGGING_ONLY) {
		/* Logged under a state no decision reads: nothing is learned. */
		snprintf(state, state_len, "LoggingOnly/%s", d->res.dec.state_key);
		d->op.ep.state_key = state;
	}
}

/*
 * Records a new event once its episodes are stored: its row in
 * tb_pz_events when it is deferred, multi-slot (slots: the slot ids) or
 * ranked in Apprentice mode, with the report's counts (agreed of n slots),
 * and this process's cache entry and wait for a default reward. Returns 0,
 * or replies an error and returns < 0.
 */
static int event_record(pz_ctx *c, const char *id, int deferred, json_t *slots, size_t n_slots,
                        size_t agreed)
{
	server *s = c->call.s;
	const char *company = c->call.company;
	int apprentice = c->mode == PZ_MODE_APPRENTICE;
	int stored = deferred || slots != NULL || apprentice;
	double now = util_now();
	db_pz_event ev;
	store *st;
	int rc;

	if (stored) {
		memset(&ev, 0, sizeof(ev));
		ev.ranked_at = now;
		ev.deferred = deferred;
		ev.apprentice = apprentice;
		ev.agreed = agreed == (n_slots > 0 ? n_slots : 1);
		ev.slots = slots != NULL ? json_dumps(slots, JSON_COMPACT) : NULL;
		st = pz_db_acquire(s);
		rc = st != NULL ? db_pz_event_put(st, company, id, &ev) : 0;
		if (st != NULL && rc == 0 && apprentice) {
			db_pz_apprentice a = {0};

			a.events = (int64_t)(n_slots > 0 ? n_slots : 1);
			a.agreed = (int64_t)agreed;
			rc = db_pz_apprentice_add(st, company, &a);
		}
		rc = pz_db_release(st, rc);
		free(ev.slots);
		if (rc == ERR_CONFLICT) {
			api_pz_error(c->call.r, ERR_CONFLICT, "Event %.200s was ranked already.", id);
			return rc;
		}
		if (rc != 0) {
			api_pz_error(
			    c->call.r, ERR_UNAVAIL,
			    "the event's state could not be stored; retry later with another eventId");
			return rc;
		}
	}
	event_put(company, id, now, stored);
	return 0;
}

static void rank_answer(api_call *call)
{
	pz_ctx *c = (pz_ctx *)call;

	if (c->d.op.rc != 0) {
		api_pz_error(call->r, ERR_UNAVAIL,
		             "the event could not be stored; nothing was recorded, retry later");
		return;
	}
	if (event_record(c, c->rank.event_id, c->rank.defer_activation, NULL, 0, (size_t)c->agreed) != 0)
		return;
	reply_json_text(call->r, 201,
	                pz_rank_answer_json(c->ranking, c->n_ranked, c->rank.event_id,
	                                    c->rank.actions[c->served].id));
}

/* Fills c->ranking: the served action first, the other allowed ones, the excluded last. */
static void rank_order(pz_ctx *c, double p_served)
{
	const pz_rank_req *q = &c->rank;
	/* Eligible: allowed by the client and by the company's rules (decide.h). */
	const unsigned char *ok = c->d.res.eligible;
	size_t n_ok = c->d.res.n_eligible;
	double rest = n_ok > 1 ? (1.0 - p_served) / (double)(n_ok - 1) : 0.0;
	size_t n = 0;

	if (n_ok <= 1)
		p_served = 1.0;
	c->ranking[n].id = q->actions[c->served].id;
	c->ranking[n++].probability = p_served;
	for (size_t i = 0; i < q->n_actions; i++) {
		if (i != c->served && ok[i]) {
			c->ranking[n].id = q->actions[i].id;
			c->ranking[n++].probability = rest;
		}
	}
	for (size_t i = 0; i < q->n_actions; i++) {
		if (i != c->served && !ok[i]) {
			c->ranking[n].id = q->actions[i].id;
			c->ranking[n++].probability = 0.0;
		}
	}
	c->n_ranked = n;
}

/*
 * What every rank does once its body is parsed: the event id (generated
 * when the client sent none; at most max bytes, offerd's limit), the
 * company's service configuration into c->svc and c->mode, and a sweep of
 * the default rewards due. Returns 0, or replies an error and returns < 0.
 */
static int rank_prepare(pz_ctx *c, char event_id[PZ_ID_MAX + 1], size_t max)
{
	pz_error e;

	if (event_id[0] == '\0' && pz_event_id_new(event_id) != 0) {
		api_pz_error(c->call.r, ERR_IO, "no event id could be generated");
		return ERR_IO;
	}
	if (strlen(event_id) > max) {
		int rc = pz_fail(&e, PZ_INVALID_RANK, "eventId",
		                 "eventId is longer than %zu bytes (offerd's limit).", max);

		reply_pz_error(c->call.r, &e);
		return rc;
	}
	if (tenant_svc(c->call.s, c->call.company, &c->svc) != 0) {
		api_pz_error(c->call.r, ERR_UNAVAIL, "the event could not be prepared; retry later");
		return ERR_UNAVAIL;
	}
	c->mode = c->svc.mode;
	return 0;
}

static void rank_complete(pz_ctx *c, const char *body, size_t len)
{
	http_req *r = c->call.r;
	unsigned char allowed[PZ_ACTIONS_MAX];
	pz_error e;
	size_t baseline = 0;

	if (pz_rank_parse_lean(body, len, &c->rank, &e) != 0) {
		reply_pz_error(r, &e);
		return;
	}
	c->rank_parsed = 1;
	if (rank_prepare(c, c->rank.event_id, PZ_EVENT_STORED_MAX) != 0)
		return;
	(void)pz_customer_id(c->customer, c->rank.event_id, -1); /* length checked above */
	for (size_t i = 0; i < c->rank.n_actions; i++)
		allowed[i] = !c->rank.actions[i].excluded;
	for (baseline = 0; c->rank.actions[baseline].excluded; baseline++)
		;
	if (pz_request(c->customer, c->rank.context, c->rank.actions, c->rank.n_actions, allowed,
	               &c->d.req, &e) != 0) {
		reply_pz_error(r, &e);
		return;
	}
	if (pz_decide(&c->call, &c->d, &c->svc) != 0) {
		api_pz_error(r, ERR_INVAL, "%s",
		             c->d.res.why[0] != '\0' ? c->d.res.why : "no action is allowed");
		return;
	}
	c->served = c->d.res.dec.idx[0];
	/* The company's rules may leave the client's baseline out: then the first eligible action. */
	for (baseline = c->d.res.eligible[baseline] ? baseline : 0; !c->d.res.eligible[baseline];
	     baseline++)
		;
	if (c->mode == PZ_MODE_ONLINE) {
		rank_order(c, c->d.res.dec.propensity[0]);
	} else {
		/* Apprentice and LoggingOnly serve the baseline, the first allowed action. */
		c->agreed = c->served == baseline;
		c->served = baseline;
		serve_baseline(&c->d, baseline, c->mode, c->state_key, sizeof(c->state_key));
		rank_order(c, 1.0);
	}
	api_call_run(&c->call, &c->d.op);
}

/* The answer of a reward, or of an activation that released a held reward. */
static void reward_answer(api_call *call)
{
	pz_ctx *c = (pz_ctx *)call;
	writer_op *op = &c->d.op;

	switch (op->rc) {
	case 0:
		metrics_reward(op->rout.agent_version, op->rin.accepted);
		if (c->ev_apprentice) {
			db_pz_apprentice a = {0};

			a.rewards = 1;
			a.reward_sum = c->value;
			a.rewards_agreed = c->ev_agreed;
			a.agreed_sum = c->ev_agreed ? c->value : 0.0;
			apprentice_add(call->s, call->company, &a);
		}
		reply_no_content(call->r);
		return;
	case ERR_CONFLICT:
		/* rewardAggregation earliest: a later reward is accepted and ignored. */
		reply_no_content(call->r);
		return;
	case ERR_NOTFOUND:
		api_pz_error(call->r, ERR_NOTFOUND, "Event %.200s was not found.", c->id);
		return;
	default:
		api_pz_error(call->r, op->rc == ERR_UNAVAIL ? ERR_UNAVAIL : ERR_IO,
		             "the reward could not be stored; nothing was recorded, retry later");
	}
}

/* Queues the reward value for the event's episode. */
static void reward_submit(pz_ctx *c, double value)
{
	c->value = value;
	c->d.op.kind = WOP_REWARD;
	c->d.op.rin.company = c->call.company;
	c->d.op.rin.customer_id = c->customer;
	c->d.op.rin.episode_id = 0;
	c->d.op.rin.accepted = value > 0;
	c->d.op.rin.request_ts = NULL;
	api_call_run(&c->call, &c->d.op);
}

static void reply_unavailable(pz_ctx *c)
{
	api_pz_error(c->call.r, ERR_UNAVAIL, "the event's state could not be read; retry later");
}

static void reward_complete(pz_ctx *c, const char *body, size_t len)
{
	double value[PZ_MULTI_SLOTS_MAX] = {0};
	db_pz_event ev;
	pz_error e;
	int kind;
	int held = 0;

	if (pz_reward_parse(body, len, &value[0], &e) != 0) {
		reply_pz_error(c->call.r, &e);
		return;
	}
	if (strlen(c->id) > PZ_EVENT_STORED_MAX) {
		api_pz_error(c->call.r, ERR_NOTFOUND, "Event %.200s was not found.", c->id);
		return;
	}
	if (tenant_svc(c->call.s, c->call.company, &c->svc) != 0) {
		api_pz_error(c->call.r, ERR_UNAVAIL, "too many companies configured in this process");
		return;
	}
	kind = event_lookup(c->call.s, c->call.company, c->id, 1u, &ev);
	if (kind < 0) {
		reply_unavailable(c);
		return;
	}
	c->ev_apprentice = ev.apprentice;
	c->ev_agreed = ev.agreed;
	if (!event_late(kind, &ev, c->svc.reward_wait_s) && ev.deferred)
		held = event_hold(c->call.s, c->call.company, c->id, 1u, value);
	if (event_late(kind, &ev, c->svc.reward_wait_s) || held == 1) {
		/* After rewardWaitTime: accepted and discarded, as Personalizer does;
		 * deferred: the reward counts once the event is activated. */
		db_pz_event_clear(&ev);
		reply_no_content(c->call.r);
		return;
	}
	db_pz_event_clear(&ev);
	if (held < 0) {
		reply_unavailable(c);
		return;
	}
	reward_submit(c, value[0]);
}

/* The service configuration with offerd's Apprentice report; JSON text. */
static char *service_json(const pz_service_config *svc, const db_pz_apprentice *a)
{
	char *text = pz_service_config_json(svc);
	json_t *j = json_loads(text, 0, NULL);
	json_t *app;

	free(text);
	if (j == NULL)
		return xstrdup("{}");
	app = json_pack("{s:I, s:I, s:f, s:I, s:f, s:f}", "events", (json_int_t)a->events, "agreed",
	                (json_int_t)a->agreed, "agreement",
	                a->events ? (double)a->agreed / (double)a->events : 0.0, "rewards",
	                (json_int_t)a->rewards, "baselineRewardSum", a->reward_sum, "agreedRewardSum",
	                a->agreed_sum);
	if (app != NULL)
		json_object_set_new(j, "offerdApprentice", app);
	text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	json_decref(j);
	return text != NULL ? text : xstrdup("{}");
}

/* The policy offerd runs, as a PolicyContract, when none was put. */
static void default_policy(server *s, const pz_tenant *t, pz_policy *p)
{
	agent_conf conf;

	server_conf(s, &conf);
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "offerd %s (agent %s)", agent_policy_name(conf.policy),
	         conf.version);
	snprintf(p->arguments, sizeof(p->arguments), "--cb_explore_adf --epsilon %g",
	         t->svc.exploration);
}

static void config_complete(pz_ctx *c, const char *body, size_t len)
{
	http_req *r = c->call.r;
	pz_service_config next;
	pz_policy policy;
	db_pz_apprentice app = {0};
	pz_tenant *t;
	pz_error e;
	char *text = NULL;
	char *stored = NULL;
	int rc = 0;

	memset(&e, 0, sizeof(e));
	if (c->op == PZ_OP_SERVICE_PUT)
		rc = pz_service_config_parse(body, len, &next, &e);
	else if (c->op == PZ_OP_POLICY_PUT)
		rc = pz_policy_parse(body, len, &policy, &e);
	if (rc != 0) {
		reply_pz_error(r, &e);
		return;
	}
	/* The stored configuration, read through: another process may have put it. */
	rc = tenant_refresh(c->call.s, c->call.company, 0);
	if (rc == 0 && (c->op == PZ_OP_SERVICE_GET || c->op == PZ_OP_SERVICE_PUT)) {
		store *st = pz_db_acquire(c->call.s);

		rc = pz_db_release(st, st != NULL ? db_pz_apprentice_get(st, c->call.company, &app) : 0);
	}
	if (rc != 0) {
		api_pz_error(r, ERR_UNAVAIL, "the configuration could not be read; retry later");
		return;
	}
	if (c->op == PZ_OP_SERVICE_PUT) {
		pthread_mutex_lock(&tenants_lock);
		t = tenant_locked(c->call.s, c->call.company);
		if (t != NULL) {
			if (!next.mode_given)
				next.mode = t->svc.mode;
			rc = pz_service_config_transition(&t->svc, &next, &e);
		}
		pthread_mutex_unlock(&tenants_lock);
		if (rc != 0) {
			reply_pz_error(r, &e);
			return;
		}
		date_stamp_now(next.last_edit);
		stored = pz_service_config_json(&next);
		rc = config_db_write(c->call.s, c->call.company, stored, NULL, 0);
	} else if (c->op == PZ_OP_POLICY_PUT) {
		stored = pz_policy_json(&policy);
		rc = config_db_write(c->call.s, c->call.company, NULL, stored, 1);
	} else if (c->op == PZ_OP_POLICY_DELETE) {
		rc = config_db_write(c->call.s, c->call.company, NULL, NULL, 1);
	}
	free(stored);
	if (rc != 0) {
		api_pz_error(r, ERR_UNAVAIL, "the configuration could not be stored; retry later");
		return;
	}
	pthread_mutex_lock(&tenants_lock);
	t = tenant_locked(c->call.s, c->call.company);
	if (t == NULL) {
		pthread_mutex_unlock(&tenants_lock);
		api_pz_error(r, ERR_UNAVAIL, "too many companies configured in this process");
		return;
	}
	switch (c->op) {
	case PZ_OP_SERVICE_PUT:
		next.mode_given = 1;
		t->svc = next;
		/* fall through */
	case PZ_OP_SERVICE_GET: text = service_json(&t->svc, &app); break;
	case PZ_OP_POLICY_PUT:
		t->policy = policy;
		t->policy_set = 1;
		text = pz_policy_json(&t->policy);
		break;
	case PZ_OP_POLICY_DELETE:
		t->policy_set = 0;
		/* fall through */
	default:
		if (t->policy_set) {
			text = pz_policy_json(&t->policy);
		} else {
			default_policy(c->call.s, t, &policy);
			text = pz_policy_json(&policy);
		}
		break;
	}
	pthread_mutex_unlock(&tenants_lock);
	reply_json_text(r, 200, text);
}

/* --- multi-slot ------------------------------------------------------------ */

static void multi_rank_answer(api_call *call)
{
	pz_ctx *c = (pz_ctx *)call;
	pz_multi_rank_req *q = &c->m->multi;
	pz_slot_answer ans[PZ_MULTI_SLOTS_MAX];
	json_t *slot_ids;
	size_t agreed = 0;
	int rc;

	if (api_call_wait_all(call))
		return;
	for (size_t k = 0; k < q->n_slots; k++) {
		if (c->m->slot[k].op.rc != 0) {
			api_pz_error(
			    call->r, ERR_UNAVAIL,
			    "the event could not be stored whole; retry later with another eventId");
			return;
		}
	}
	slot_ids = json_array();
	for (size_t k = 0; k < q->n_slots; k++) {
		json_array_append_new(slot_ids, json_stringn(q->slots[k].id, q->slots[k].id_len));
		ans[k].id = q->slots[k].id;
		ans[k].reward_action_id = q->actions[c->m->slot_served[k]].id;
		agreed += (size_t)c->m->slot_agreed[k];
	}
	rc = event_record(c, q->event_id, q->defer_activation, slot_ids, q->n_slots, agreed);
	json_decref(slot_ids);
	if (rc != 0)
		return;
	reply_json_text(call->r, 201, pz_multi_rank_answer_json(ans, q->n_slots, q->event_id));
}

/*
 * POST multislot/rank: slot by slot, a decision over the actions the slot
 * does not exclude and no earlier slot took; each slot is an episode of
 * customer_id pz:EVENT#k (k from 0, in the request's order).
 */
static void multi_rank_complete(pz_ctx *c, const char *body, size_t len)
{
	http_req *r = c->call.r;
	pz_multi_rank_req *q = &multi_of(c)->multi;
	unsigned char taken[PZ_ACTIONS_MAX];
	pz_error e;

	if (pz_multi_rank_parse(body, len, q, &e) != 0) {
		reply_pz_error(r, &e);
		return;
	}
	c->m->multi_parsed = 1;
	if (q->n_slots > PZ_MULTI_SLOTS_MAX) {
		pz_fail(&e, PZ_INVALID_RANK, "slots", "offerd serves at most %d slots, got %zu.",
		        PZ_MULTI_SLOTS_MAX, q->n_slots);
		reply_pz_error(r, &e);
		return;
	}
	if (rank_prepare(c, q->event_id, PZ_MULTI_EVENT_STORED_MAX) != 0)
		return;
	memset(taken, 0, sizeof(taken));
	for (size_t k = 0; k < q->n_slots; k++) {
		const pz_slot *sl = &q->slots[k];
		api_decision *d = &c->m->slot[k];
		unsigned char allowed[PZ_ACTIONS_MAX];
		size_t n_allowed = 0;

		for (size_t i = 0; i < q->n_actions; i++) {
			allowed[i] = !sl->excluded[i] && !taken[i];
			n_allowed += allowed[i];
		}
		if (n_allowed == 0 || (c->mode != PZ_MODE_ONLINE && taken[sl->baseline])) {
			pz_fail(&e, PZ_INVALID_RANK, "slots",
			        "slots[%zu] has no action left: every action is excluded or taken by an"
			        " earlier slot.",
			        k);
			reply_pz_error(r, &e);
			return;
		}
		(void)pz_customer_id(c->m->slot_customer[k], q->event_id, (int)k); /* length checked */
		if (pz_request(c->m->slot_customer[k], q->context, q->actions, q->n_actions, allowed,
		               &d->req, &e) != 0) {
			reply_pz_error(r, &e);
			return;
		}
		if (pz_decide(&c->call, d, &c->svc) != 0) {
			api_pz_error(r, ERR_INVAL, "slots[%zu] has no action left", k);
			return;
		}
		c->m->slot_served[k] = d->res.dec.idx[0];
		if (c->mode != PZ_MODE_ONLINE) {
			/* Each slot's baselineAction: distinct, and not excluded by its slot. */
			c->m->slot_agreed[k] = c->m->slot_served[k] == sl->baseline;
			c->m->slot_served[k] = sl->baseline;
			serve_baseline(d, sl->baseline, c->mode, c->m->slot_state[k],
			               sizeof(c->m->slot_state[k]));
		}
		taken[c->m->slot_served[k]] = 1;
	}
	for (size_t k = 0; k < q->n_slots; k++) {
		if (api_call_queue(&c->call, &c->m->slot[k].op) != 0)
			return;
		c->m->n_ops++;
	}
	multi_rank_answer(&c->call);
}

static void multi_reward_answer(api_call *call)
{
	pz_ctx *c = (pz_ctx *)call;
	size_t found = 0;

	if (api_call_wait_all(call))
		return;
	for (size_t k = 0; k < c->m->n_ops; k++) {
		int rc = c->m->slot_rop[k].rc;

		if (rc == 0)
			metrics_reward(c->m->slot_rop[k].rout.agent_version,
			               c->m->slot_rop[k].rin.accepted);
		if (rc == 0 || rc == ERR_CONFLICT) {
			found++;
		} else if (rc != ERR_NOTFOUND) {
			api_pz_error(call->r, rc == ERR_UNAVAIL ? ERR_UNAVAIL : ERR_IO,
			             "a reward could not be stored; retry later");
			return;
		}
	}
	if (c->m->n_ops > 0 && found == 0) {
		api_pz_error(call->r, ERR_NOTFOUND, "Event %.200s was not found.", c->id);
		return;
	}
	reply_no_content(call->r);
}

/* Queues one reward per slot with has[k] (value[k]), then answers. */
static void multi_reward_submit(pz_ctx *c, const unsigned char *has, const double *value)
{
	(void)multi_of(c);
	c->multi_submit = 1;
	for (size_t k = 0; k < PZ_MULTI_SLOTS_MAX; k++) {
		writer_op *op = &c->m->slot_rop[c->m->n_ops];

		if (!has[k])
			continue;
		(void)pz_customer_id(c->m->slot_customer[c->m->n_ops], c->id, (int)k);
		op->kind = WOP_REWARD;
		op->rin.company = c->call.company;
		op->rin.customer_id = c->m->slot_customer[c->m->n_ops];
		op->rin.accepted = value[k] > 0;
		if (api_call_queue(&c->call, op) != 0)
			return;
		c->m->n_ops++;
	}
	multi_reward_answer(&c->call);
}

/* Slot k of a multi-slot event's slot ids (JSON array text) named id: k, or -1. */
static int slot_index(const char *slots, const char *id)
{
	json_t *list = json_loads(slots, 0, NULL);
	json_t *v;
	size_t i;
	int found = -1;

	json_array_foreach(list, i, v) {
		if (found < 0 && i < PZ_MULTI_SLOTS_MAX && json_is_string(v) &&
		    strcmp(json_string_value(v), id) == 0)
			found = (int)i;
	}
	json_decref(list);
	return found;
}

/* A multi-slot event's row into ev: 0, or replies 404 or 503 and returns < 0. */
static int multi_lookup(pz_ctx *c, db_pz_event *ev)
{
	int kind = event_lookup(c->call.s, c->call.company, c->id, 0, ev);

	if (kind < 0) {
		reply_unavailable(c);
		return kind;
	}
	if (kind != EV_STORED || ev->slots == NULL || strlen(c->id) > PZ_MULTI_EVENT_STORED_MAX) {
		db_pz_event_clear(ev);
		api_pz_error(c->call.r, ERR_NOTFOUND, "Multi-slot event %.200s was not found.", c->id);
		return ERR_NOTFOUND;
	}
	return 0;
}

static void multi_reward_complete(pz_ctx *c, const char *body, size_t len)
{
	pz_multi_reward_req q;
	unsigned char has[PZ_MULTI_SLOTS_MAX] = {0};
	double value[PZ_MULTI_SLOTS_MAX] = {0};
	unsigned mask = 0;
	db_pz_event ev;
	pz_error e;
	int held = 0;
	int late;

	if (pz_multi_reward_parse(body, len, &q, &e) != 0) {
		reply_pz_error(c->call.r, &e);
		return;
	}
	if (multi_lookup(c, &ev) != 0)
		return;
	for (size_t i = 0; i < q.n; i++) {
		int k = slot_index(ev.slots, q.rewards[i].slot_id);

		if (k < 0) {
			db_pz_event_clear(&ev);
			pz_fail(&e, PZ_INVALID_REWARD, "reward",
			        "Slot %.200s is not a slot of event %.200s.", q.rewards[i].slot_id,
			        c->id);
			reply_pz_error(c->call.r, &e);
			return;
		}
		has[k] = 1;
		value[k] = q.rewards[i].value;
		mask |= 1u << k;
	}
	if (tenant_svc(c->call.s, c->call.company, &c->svc) != 0) {
		db_pz_event_clear(&ev);
		api_pz_error(c->call.r, ERR_UNAVAIL, "too many companies configured in this process");
		return;
	}
	late = event_late(EV_STORED, &ev, c->svc.reward_wait_s);
	if (!late) {
		pz_event local;

		(void)event_get(c->call.company, c->id, mask, &local);
		if (ev.deferred)
			held = event_hold(c->call.s, c->call.company, c->id, mask, value);
	}
	db_pz_event_clear(&ev);
	if (held < 0) {
		reply_unavailable(c);
		return;
	}
	if (late || held == 1) {
		reply_no_content(c->call.r);
		return;
	}
	multi_reward_submit(c, has, value);
}

/*
 * POST events/{id}/activate and multislot/events/{id}/activate: a deferred
 * event's held rewards are delivered (one per slot for a multi-slot event);
 * an event that was not deferred (or is activated already) answers 204.
 */
static void activate_complete(pz_ctx *c, const char *body, size_t len)
{
	int multi = c->op == PZ_OP_MULTI_ACTIVATE;
	unsigned char has[PZ_MULTI_SLOTS_MAX] = {0};
	db_pz_event ev;
	pz_error e;
	store *st;
	int rc;

	if (pz_activate_check(body, len, &e) != 0) {
		reply_pz_error(c->call.r, &e);
		return;
	}
	if (multi && multi_lookup(c, &ev) != 0)
		return;
	if (multi)
		db_pz_event_clear(&ev);
	st = pz_db_acquire(c->call.s);
	rc = pz_db_release(st, st != NULL ? db_pz_event_activate(st, c->call.company, c->id, &ev) : 0);
	if (rc < 0) {
		reply_unavailable(c);
		return;
	}
	if (rc == 1) {
		/* Was deferred: the held rewards count now. */
		for (int k = 0; k < PZ_MULTI_SLOTS_MAX; k++)
			has[k] = (unsigned char)((ev.held_mask >> k) & 1);
		c->ev_apprentice = ev.apprentice;
		c->ev_agreed = ev.agreed;
		multi = ev.slots != NULL;
		db_pz_event_clear(&ev);
		if (multi)
			multi_reward_submit(c, has, ev.held);
		else if (has[0])
			reward_submit(c, ev.held[0]);
		else
			reply_no_content(c->call.r);
		return;
	}
	if (!multi) {
		/* Not deferred: known to this process, by a row, or as an episode? */
		rc = event_lookup(c->call.s, c->call.company, c->id, 0, &ev);
		db_pz_event_clear(&ev);
		if (rc == EV_UNKNOWN && strlen(c->id) <= PZ_EVENT_STORED_MAX) {
			st = pz_db_acquire(c->call.s);
			rc = pz_db_release(st, st != NULL ? db_pz_episode_exists(st, c->call.company,
			                                                         c->customer)
			                                  : 0);
			rc = rc == 1 ? EV_STORED : rc;
		}
		if (rc < 0) {
			reply_unavailable(c);
			return;
		}
		if (rc == EV_UNKNOWN) {
			api_pz_error(c->call.r, ERR_NOTFOUND, "Event %.200s was not found.", c->id);
			return;
		}
	}
	reply_no_content(c->call.r);
}

/* --- evaluations ------------------------------------------------------------ */

/*
 * Evaluations are jobs of offerd's evaluation runner (evaluation.h): the
 * same table (tb_evaluations), background thread and estimators as POST
 * /evaluations, so any process answers GET and a long evaluation never
 * holds a connection. POST answers 201 with the evaluation "pending"; GET
 * shows it "completed" once the job is done. The request keeps
 * Personalizer's name and window, and each candidate its name, arguments
 * and source, so the answer is rebuilt from the row.
 */

/* Personalizer's status of a job's. */
static const char *eval_status(const char *job_status)
{
	if (strcmp(job_status, "done") == 0)
		return "completed";
	if (strcmp(job_status, "failed") == 0)
		return "failed";
	return "pending";
}

/* One slate estimand of a job's results as Personalizer's summary. */
static void eval_summary(json_t *res, pz_summary *t)
{
	json_t *est = json_object_get(res, "estimates");
	json_t *ips = json_object_get(est, "ips");
	json_t *ci = json_object_get(ips, "ci95");
	double n = (double)json_integer_value(json_object_get(res, "episodes"));
	double snips = json_number_value(json_object_get(json_object_get(est, "snips"), "value"));

	if (n <= 0 || ips == NULL)
		return;
	t->ips_den = n;
	t->ips_num = json_number_value(json_object_get(ips, "value")) * n;
	t->snips_den = snips > 0 ? t->ips_num / snips : n;
	t->nonzero = json_number_value(json_object_get(res, "support")) * n;
	if (json_is_array(ci))
		t->confidence = (json_number_value(json_array_get(ci, 1)) -
		                 json_number_value(json_array_get(ci, 0))) /
		                2;
}

/* A job (evaluation_get) as Personalizer's Evaluation; NULL when it is not one of its. */
static char *eval_json(json_t *job)
{
	json_t *req = json_object_get(job, "request");
	json_t *pz = json_object_get(req, "personalizer");
	json_t *pols = json_object_get(req, "policies");
	json_t *res = json_object_get(job, "results");
	pz_policy_result results[EVAL_POLICIES_MAX];
	pz_evaluation ev;
	size_t n = json_array_size(pols);

	if (!json_is_object(pz))
		return NULL;
	memset(results, 0, sizeof(results));
	ev.id = json_string_value(json_object_get(job, "id"));
	ev.name = json_string_value(json_object_get(pz, "name"));
	ev.start = json_integer_value(json_object_get(pz, "start"));
	ev.end = json_integer_value(json_object_get(pz, "end"));
	ev.status = eval_status(json_string_value(json_object_get(job, "status")));
	ev.n_results = n < EVAL_POLICIES_MAX ? n : EVAL_POLICIES_MAX;
	ev.results = results;
	for (size_t k = 0; k < ev.n_results; k++) {
		json_t *p = json_array_get(pols, k);

		results[k].name = json_string_value(json_object_get(p, "label"));
		results[k].arguments = json_string_value(json_object_get(p, "arguments"));
		results[k].source = json_string_value(json_object_get(p, "source"));
		if (results[k].name == NULL || results[k].arguments == NULL || results[k].source == NULL)
			return NULL;
		results[k].total.time = ev.end;
		results[k].total.window_s = ev.end - ev.start;
		eval_summary(json_array_get(res, k), &results[k].total);
	}
	if (ev.id == NULL || ev.name == NULL)
		return NULL;
	return pz_evaluation_json(&ev);
}

/* Candidate k of the job: Personalizer's name, arguments and source beside offerd's policy. */
static void eval_candidate(eval_policy *p, const char *policy, double epsilon, const char *label,
                           const char *args, const char *source)
{
	util_strlcpy(p->name, policy, sizeof(p->name));
	if (epsilon >= 0)
		snprintf(p->params, sizeof(p->params), "{\"epsilon\":%.17g}", epsilon);
	util_strlcpy(p->label, label, sizeof(p->label));
	util_strlcpy(p->arguments, args, sizeof(p->arguments));
	util_strlcpy(p->source, source, sizeof(p->source));
}

/* The job of a POST evaluations: Online, Random, then the custom policies. */
static void eval_request_of(server *s, const pz_eval_req *q, const pz_service_config *svc,
                            eval_request *out)
{
	agent_conf conf;
	char args[64];

	evaluation_request_init(out);
	util_strlcpy(out->pz_name, q->name, sizeof(out->pz_name));
	out->pz_start = q->start;
	out->pz_end = q->end;
	date_time_format(q->start, out->from);
	date_time_format(q->end, out->to);
	out->missing = OPE_MISSING_SKIP;
	server_conf(s, &conf);
	snprintf(args, sizeof(args), "%s --epsilon %g", agent_policy_name(conf.policy),
	         conf.policy == POLICY_EPSILON_GREEDY ? svc->exploration : conf.epsilon);
	eval_candidate(&out->policies[0], agent_policy_name(conf.policy),
	               conf.policy == POLICY_EPSILON_GREEDY ? svc->exploration : -1, "Online", args,
	               "Online");
	eval_candidate(&out->policies[1], "random", -1, "Random", "random", "Random");
	out->n = 2;
	for (size_t k = 0; k < q->n_policies && out->n < EVAL_POLICIES_MAX; k++) {
		/* A custom policy: epsilon-greedy over the learned values with its --epsilon. */
		eval_candidate(&out->policies[out->n++], "epsilon-greedy",
		               q->policies[k].epsilon >= 0 ? q->policies[k].epsilon : 0.2,
		               q->policies[k].name, q->policies[k].arguments, "Custom");
	}
}

static void eval_create(pz_ctx *c, const char *body, size_t len)
{
	http_req *r = c->call.r;
	const char *company = c->call.company;
	pz_service_config svc;
	pz_eval_req *q = xcalloc(1, sizeof(*q));
	eval_request *job = xmalloc(sizeof(*job));
	char id[EVAL_ID_LEN + 1];
	json_t *row = NULL;
	char *text = NULL;
	pz_error e;
	int rc;

	if (pz_eval_parse(body, len, q, &e) != 0) {
		reply_pz_error(r, &e);
		goto out;
	}
	if (tenant_svc(c->call.s, company, &svc) != 0) {
		api_pz_error(r, ERR_UNAVAIL, "too many companies configured in this process");
		goto out;
	}
	eval_request_of(c->call.s, q, &svc, job);
	rc = evaluation_submit(c->call.s->evals, company, job, id);
	if (rc == 0)
		rc = evaluation_get(c->call.s->evals, company, id, &row);
	if (rc == 0)
		text = eval_json(row);
	if (text == NULL) {
		api_pz_error(r, ERR_UNAVAIL,
		             "the evaluation could not be queued (%d running or waiting); retry later",
		             EVAL_QUEUE_MAX);
		goto out;
	}
	reply_json_text(r, 201, text);
out:
	json_decref(row);
	free(job);
	free(q);
}

static void eval_complete(pz_ctx *c, const char *body, size_t len)
{
	http_req *r = c->call.r;
	const char *company = c->call.company;
	json_t *jobs = NULL;
	char *text = NULL;
	pz_error e;
	int rc;

	if (c->op == PZ_OP_EVAL_CREATE) {
		eval_create(c, body, len);
		return;
	}
	if (c->op == PZ_OP_EVAL_LIST) {
		json_t *list = json_array();
		json_t *job;
		size_t k;

		rc = evaluation_get(c->call.s->evals, company, NULL, &jobs);
		json_array_foreach(jobs, k, job) {
			char *one = eval_json(job);

			if (one != NULL)
				json_array_append_new(list, json_loads(one, 0, NULL));
			free(one);
		}
		text = json_dumps(list, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
		json_decref(list);
	} else {
		rc = evaluation_get(c->call.s->evals, company, c->id, &jobs);
		if (rc == 0)
			text = eval_json(jobs);
		if (text != NULL && c->op == PZ_OP_EVAL_DELETE) {
			free(text);
			text = NULL;
			rc = evaluation_delete(c->call.s->evals, company, c->id);
			if (rc == 0) {
				json_decref(jobs);
				reply_no_content(r);
				return;
			}
		}
	}
	json_decref(jobs);
	if (rc == ERR_UNAVAIL) {
		free(text);
		api_pz_error(r, ERR_UNAVAIL, "the evaluations could not be read; retry later");
	} else if (text == NULL) {
		pz_fail(&e, PZ_EVAL_NOT_FOUND, "evaluationId", "Evaluation %.200s was not found.",
		        c->id);
		reply_pz_error(r, &e);
	} else {
		reply_json_text(r, 200, text);
	}
}

/* --- model: export, import, reset ------------------------------------------ */

/*
 * GET model exports the learned state of the company's current agent
 * version (the tabular values of TB_POLICY and the contextual rows of
 * TB_MODEL, personalizer.h's document); PUT model replaces it with an
 * exported one and DELETE model clears it, in one transaction on the
 * Personalizer connection. The new values are written as offerd's learning
 * writes them, with new revisions, so every offerd process on the database
 * installs them at its next refresh (--refresh).
 */

/* A TB_POLICY row of the company, appended to the JSON array arg. */
static int model_value_row(void *arg, int ncols, const char *const *vals)
{
	pz_value_row r;
	double *num[8] = {&r.n,           &r.reward_sum,   &r.successes,   &r.failures,
	                  &r.prior_value, &r.prior_weight, &r.prior_alpha, &r.prior_beta};

	if (ncols < 10 || vals[0] == NULL || vals[1] == NULL)
		return ERR_IO;
	r.state_key = vals[0];
	r.offer = vals[1];
	for (int k = 0; k < 8; k++) {
		if (vals[2 + k] == NULL || util_strtod(vals[2 + k], -1e300, 1e300, num[k]) != 0)
			return ERR_IO;
	}
	json_array_append_new(arg, pz_value_row_json(&r));
	return 0;
}

/* A TB_MODEL row of the version, appended to the JSON array arg. */
static int model_ctx_row(void *arg, const db_model_row *row)
{
	pz_model_row r = {row->offer, row->n, row->tick, row->stats};

	json_array_append_new(arg, pz_model_row_json(&r));
	return 0;
}

static int model_read(store *st, const char *company, const char *version, json_t *cur_values,
                      json_t *ctx)
{
	int rc = db_pz_values_each(st, company, model_value_row, cur_values);

	return rc != 0 ? rc : db_pz_model_each(st, company, version, model_ctx_row, ctx);
}

/* The index of (state_key, offer) in the sorted target rows, or -1. */
static long model_find_value(const pz_model *m, const char *state_key, const char *offer)
{
	pz_value_row key;
	const pz_value_row *hit;

	memset(&key, 0, sizeof(key));
	key.state_key = state_key;
	key.offer = offer;
	for (size_t lo = 0, hi = m->n_values; lo < hi;) {
		size_t mid = lo + (hi - lo) / 2;
		int c;

		hit = &m->values[mid];
		c = strcmp(state_key, hit->state_key);
		c = c != 0 ? c : strcmp(offer, hit->offer);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* A target value row as the deltas (from cur, NULL: nothing yet) and priors to write. */
static void model_value_delta(const char *company, const pz_value_row *t, const pz_value_row *cur,
                              db_policy_row *delta, db_policy_row *prior)
{
	static const pz_value_row none = {NULL, NULL, 0, 0, 0, 0, 0, 0, 1, 1};
	const pz_value_row *c = cur != NULL ? cur : &none;

	memset(delta, 0, sizeof(*delta));
	delta->company = company;
	delta->state_key = t->state_key;
	delta->offer = t->offer;
	delta->n = t->n - c->n;
	delta->reward_sum = t->reward_sum - c->reward_sum;
	delta->alpha = t->successes - c->successes;
	delta->beta = t->failures - c->failures;
	*prior = *delta;
	prior->prior_value = t->prior_value;
	prior->prior_weight = t->prior_weight;
	prior->alpha = t->prior_alpha;
	prior->beta = t->prior_beta;
}

/* A current value row from its JSON export. */
static void model_value_from(json_t *o, pz_value_row *r)
{
	r->state_key = json_string_value(json_object_get(o, "stateKey"));
	r->offer = json_string_value(json_object_get(o, "offer"));
	r->n = json_number_value(json_object_get(o, "n"));
	r->reward_sum = json_number_value(json_object_get(o, "rewardSum"));
	r->successes = json_number_value(json_object_get(o, "successes"));
	r->failures = json_number_value(json_object_get(o, "failures"));
}

/*
 * TB_POLICY: every current row becomes the target's (or zero, not in the
 * target). The counts are added inside the caller's transaction; the priors
 * are set after it, in db_policy_set_priors' own (*priors, *n_priors, for
 * the caller to write and free).
 */
static int model_write_values(store *st, const char *company, const pz_model *m, json_t *cur,
                              db_policy_row **priors, size_t *n_priors)
{
	size_t n = json_array_size(cur) + m->n_values;
	db_policy_row *delta = xcalloc(n + 1, sizeof(*delta));
	db_policy_row *prior = xcalloc(n + 1, sizeof(*prior));
	unsigned char *seen = xcalloc(m->n_values + 1, 1);
	static const pz_value_row zero = {NULL, NULL, 0, 0, 0, 0, 0, 0, 1, 1};
	size_t k = 0;
	json_t *o;
	size_t i;
	int rc = 0;

	json_array_foreach(cur, i, o) {
		pz_value_row c;
		pz_value_row t = zero;
		long at;

		model_value_from(o, &c);
		at = model_find_value(m, c.state_key, c.offer);
		if (at >= 0) {
			t = m->values[at];
			seen[at] = 1;
		}
		t.state_key = c.state_key;
		t.offer = c.offer;
		model_value_delta(company, &t, &c, &delta[k], &prior[k]);
		k++;
	}
	for (i = 0; i < m->n_values; i++) {
		if (!seen[i]) {
			model_value_delta(company, &m->values[i], NULL, &delta[k], &prior[k]);
			k++;
		}
	}
	if (k > 0)
		rc = db_policy_add(st, delta, k, NULL, NULL);
	free(delta);
	free(seen);
	*priors = prior;
	*n_priors = k;
	return rc;
}

/* stats with every number 0 (a row's shape, cleared), as JSON text the caller frees. */
static char *model_zero_stats(const char *stats)
{
	json_t *j = json_loads(stats, 0, NULL);
	const char *key;
	json_t *v;
	char *text;

	json_object_foreach(j, key, v) {
		for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++)
			json_array_set_new(v, i, json_real(0.0));
	}
	text = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	return text != NULL ? text : xstrdup("{}");
}

static int model_lock_row(void *arg, const db_model_row *row)
{
	(void)arg;
	(void)row;
	return 0;
}

static int model_put_row(store *st, const char *company, const char *version, const char *offer,
                         double n, int64_t tick, const char *stats)
{
	db_model_row row = {company, version, offer, n, tick, stats, 0};
	int64_t rev;
	int rc = db_model_lock(st, company, version, offer, model_lock_row, NULL);

	return rc != 0 ? rc : db_model_put(st, &row, &rev);
}

/*
 * TB_MODEL of the version: the target's rows at the version's clock tick
 * (so nothing decays them), every other offer's row cleared. The clock row
 * stays: it counts the episodes this database's processes learned.
 */
static int model_write_rows(store *st, const char *company, const char *version, const pz_model *m,
                            json_t *cur)
{
	int64_t tick = 0;
	json_t *o;
	size_t i;
	int rc = 0;

	json_array_foreach(cur, i, o) {
		if (strcmp(json_string_value(json_object_get(o, "offer")), "") == 0)
			tick = json_integer_value(json_object_get(o, "tick"));
	}
	json_array_foreach(cur, i, o) {
		const char *offer = json_string_value(json_object_get(o, "offer"));
		int kept = 0;
		char *zero;

		for (size_t k = 0; k < m->n_rows && !kept; k++)
			kept = strcmp(m->rows[k].offer, offer) == 0;
		if (rc != 0 || kept || offer[0] == '\0')
			continue;
		zero = json_dumps(json_object_get(o, "stats"), JSON_COMPACT);
		{
			char *cleared = model_zero_stats(zero != NULL ? zero : "{}");

			rc = model_put_row(st, company, version, offer, 0, tick, cleared);
			free(cleared);
		}
		free(zero);
	}
	for (i = 0; rc == 0 && i < m->n_rows; i++)
		rc = model_put_row(st, company, version, m->rows[i].offer, m->rows[i].n, tick,
		                   m->rows[i].stats);
	return rc;
}

/*
 * Replaces the learned state with m (empty: a reset): the counts and the
 * contextual rows in one transaction, then the priors in a second one.
 */
static int model_replace(store *st, const char *company, const char *version, const pz_model *m)
{
	json_t *cur_values = json_array();
	json_t *ctx = json_array();
	db_policy_row *priors = NULL;
	size_t n_priors = 0;
	int rc = st->ops->begin(st);

	if (rc == 0)
		rc = model_read(st, company, version, cur_values, ctx);
	if (rc == 0)
		rc = model_write_values(st, company, m, cur_values, &priors, &n_priors);
	if (rc == 0)
		rc = model_write_rows(st, company, version, m, ctx);
	if (rc == 0)
		rc = st->ops->commit(st);
	else
		(void)st->ops->rollback(st);
	if (rc == 0 && n_priors > 0)
		rc = db_policy_set_priors(st, priors, n_priors);
	if (rc != 0)
		log_msg(LOG_WARN, "personalizer: the model of %s could not be replaced: %s", company,
		        st->ops->errmsg(st));
	free(priors);
	json_decref(cur_values);
	json_decref(ctx);
	return rc;
}

static void model_complete(pz_ctx *c, const char *body, size_t len)
{
	http_req *r = c->call.r;
	agent_conf conf;
	pz_model m;
	pz_error e;
	json_t *cur_values = NULL;
	json_t *ctx = NULL;
	store *st;
	int rc;

	memset(&m, 0, sizeof(m));
	if (c->op == PZ_OP_MODEL_PUT && pz_model_parse(body, len, &m, &e) != 0) {
		reply_pz_error(r, &e);
		return;
	}
	server_conf(c->call.s, &conf);
	st = pz_db_acquire(c->call.s);
	if (st != NULL && c->op == PZ_OP_MODEL_GET) {
		cur_values = json_array();
		ctx = json_array();
		rc = model_read(st, c->call.company, conf.version, cur_values, ctx);
	} else {
		rc = st != NULL ? model_replace(st, c->call.company, conf.version, &m) : 0;
	}
	rc = pz_db_release(st, rc);
	pz_model_free(&m);
	if (rc != 0) {
		json_decref(cur_values);
		json_decref(ctx);
		api_pz_error(r, ERR_UNAVAIL, "the model could not be %s; retry later",
		             c->op == PZ_OP_MODEL_GET ? "read" : "written");
		return;
	}
	if (c->op != PZ_OP_MODEL_GET) {
		log_msg(LOG_INFO, "personalizer: the model of %s (agent %s) was %s", c->call.company,
		        conf.version, c->op == PZ_OP_MODEL_PUT ? "imported" : "reset");
		reply_no_content(r);
		return;
	}
	{
		char *text = pz_model_json(c->call.company, conf.version, agent_policy_name(conf.policy),
		                           cur_values, ctx);

		http_reply(r, 200, "application/octet-stream", text, strlen(text));
	}
}

/*
 * GET model/properties: the company's model is its learned rows (TB_POLICY,
 * TB_MODEL); creationTime is the oldest row's last update, lastModifiedTime
 * the newest's. A company that learned nothing yet: both are now.
 */
static void model_properties(pz_ctx *c, const char *body, size_t len)
{
	int64_t created = 0;
	int64_t modified = 0;
	store *st = pz_db_acquire(c->call.s);
	int rc = pz_db_release(st, st != NULL
	                               ? db_pz_model_times(st, c->call.company, &created, &modified)
	                               : 0);

	(void)body;
	(void)len;
	if (rc != 0) {
		reply_unavailable(c);
		return;
	}
	if (created == 0 || modified == 0) {
		created = (int64_t)util_now();
		modified = created;
	}
	reply_json_text(c->call.r, 200, pz_model_properties_json(created, modified));
}

/* --- logs ------------------------------------------------------------------- */

/*
 * DELETE logs deletes the company's Personalizer events (episodes and their
 * rewards; /predict's episodes and the learned values stay); GET
 * logs/properties gives the first and last event times. Both on a
 * connection of their own, at once.
 */
static void logs_complete(pz_ctx *c, const char *body, size_t len)
{
	http_req *r = c->call.r;
	char from[48];
	char to[48];
	int64_t t_from = 0;
	int64_t t_to = 0;
	int64_t deleted = 0;
	store *st = NULL;
	int rc;

	(void)body;
	(void)len;
	rc = store_open(c->call.s->cfg->database_url, &st);
	if (rc == 0 && c->op == PZ_OP_LOGS_DELETE)
		rc = db_pz_events_delete(st, c->call.company, &deleted);
	else if (rc == 0)
		rc = db_pz_events_range(st, c->call.company, from, to, sizeof(from));
	store_close(st);
	if (rc != 0) {
		api_pz_error(r, ERR_UNAVAIL, "the events could not be reached; retry later");
		return;
	}
	if (c->op == PZ_OP_LOGS_DELETE) {
		log_msg(LOG_INFO, "personalizer: deleted %lld events of company %s", (long long)deleted,
		        c->call.company);
		reply_no_content(r);
		return;
	}
	if (from[0] != '\0' && (pz_time_parse(from, &t_from) != 0 || pz_time_parse(to, &t_to) != 0)) {
		t_from = 0;
		t_to = 0;
	}
	reply_json_text(r, 200, pz_logs_properties_json(t_from, t_to));
}

/* An activation answers as the reward it released: one slot's, or a multi-slot event's. */
static void activate_answer(api_call *call)
{
	if (((pz_ctx *)call)->multi_submit)
		multi_reward_answer(call);
	else
		reward_answer(call);
}

/*
 * Each operation's handlers, by the op pz_path_parse found: complete()
 * takes the body and answers or queues; resume() answers after
 * api_call_wait (NULL: the operation answers at once, it never waits).
 */
static const struct {
	void (*complete)(pz_ctx *c, const char *body, size_t len);
	void (*resume)(api_call *call);
} pz_ops[] = {
    [PZ_OP_RANK] = {rank_complete, rank_answer},
    [PZ_OP_REWARD] = {reward_complete, reward_answer},
    [PZ_OP_ACTIVATE] = {activate_complete, activate_answer},
    [PZ_OP_MULTI_RANK] = {multi_rank_complete, multi_rank_answer},
    [PZ_OP_MULTI_REWARD] = {multi_reward_complete, multi_reward_answer},
    [PZ_OP_MULTI_ACTIVATE] = {activate_complete, activate_answer},
    [PZ_OP_SERVICE_GET] = {config_complete, NULL},
    [PZ_OP_SERVICE_PUT] = {config_complete, NULL},
    [PZ_OP_POLICY_GET] = {config_complete, NULL},
    [PZ_OP_POLICY_PUT] = {config_complete, NULL},
    [PZ_OP_POLICY_DELETE] = {config_complete, NULL},
    [PZ_OP_EVAL_LIST] = {eval_complete, NULL},
    [PZ_OP_EVAL_CREATE] = {eval_complete, NULL},
    [PZ_OP_EVAL_GET] = {eval_complete, NULL},
    [PZ_OP_EVAL_DELETE] = {eval_complete, NULL},
    [PZ_OP_MODEL_GET] = {model_complete, NULL},
    [PZ_OP_MODEL_PUT] = {model_complete, NULL},
    [PZ_OP_MODEL_DELETE] = {model_complete, NULL},
    [PZ_OP_MODEL_PROPERTIES] = {model_properties, NULL},
    [PZ_OP_LOGS_DELETE] = {logs_complete, NULL},
    [PZ_OP_LOGS_PROPERTIES] = {logs_complete, NULL},
};

static void pz_complete(api_call *call, const char *body, size_t len)
{
	pz_ctx *c = (pz_ctx *)call;
	pz_error e;

	if (pz_path_parse(http_method(call->r), http_path(call->r), &c->op, c->id, &e) != 0) {
		reply_pz_error(call->r, &e);
		return;
	}
	if (c->id[0] != '\0')
		(void)pz_customer_id(c->customer, c->id, -1);
	if ((size_t)c->op >= UTIL_ARRAY_LEN(pz_ops) || pz_ops[c->op].complete == NULL) {
		api_pz_error(call->r, ERR_NOTFOUND, "Requested resource does not exist.");
		return;
	}
	pz_ops[c->op].complete(c, body, len);
}

/* After api_call_wait: the episode of a rank, or the reward of a reward or activation. */
static void pz_resume(api_call *call)
{
	pz_ctx *c = (pz_ctx *)call;

	assert(pz_ops[c->op].resume != NULL);
	pz_ops[c->op].resume(call);
}

const api_endpoint api_personalizer_endpoint = {
    .ctx_size = sizeof(pz_ctx),
    .complete = pz_complete,
    .resume = pz_resume,
    .free = pz_free,
};
