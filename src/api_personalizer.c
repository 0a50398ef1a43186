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
 * episodes. The per-company configuration (service and policy) is stored
 * in tb_pz_config (cached here, reread every PZ_CONFIG_TTL_S); the
 * deferred events, multi-slot slot ids and the Apprentice
 * counters live in this process's memory; the model calls answer 501.
 * docs/personalizer.md lists that and every other difference.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api.h"
#include "evaluation.h"
#include "log.h"
#include "metrics.h"
#include "ope.h"
#include "personalizer.h"
#include "util.h"

/* The episode's customer_id is this prefix and the event id. */
#define PZ_CUSTOMER_PREFIX "pz:"
#define PZ_EVENT_STORED_MAX (REQ_ID_MAX - 3)
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
static int pz_customer_id(char out[REQ_ID_MAX + 1], const char *event, int slot)
{
	int n;

	if (slot < 0)
		n = snprintf(out, REQ_ID_MAX + 1, PZ_CUSTOMER_PREFIX "%.*s", PZ_EVENT_STORED_MAX, event);
	else
		n = snprintf(out, REQ_ID_MAX + 1, PZ_CUSTOMER_PREFIX "%.*s#%u",
		             PZ_MULTI_EVENT_STORED_MAX, event, (unsigned)slot % 10u);
	return n < 0 || n > REQ_ID_MAX ? ERR_RANGE : 0;
}

/* --- per-company configuration (memory) ------------------------------------ */

#define PZ_TENANTS_MAX 1024

typedef struct pz_tenant {
	char company[SERVER_COMPANY_MAX];
	pz_service_config svc;
	pz_policy policy;
	int policy_set;   /* PUT configurations/policy was called */
	double loaded_at; /* util_monotonic() of the last read of tb_pz_config, 0: never */
	/* Apprentice mode: how often the policy agreed with the baseline, and rewards. */
	uint64_t app_events, app_agreed, app_rewards, app_rewards_agreed;
	double app_reward_sum, app_reward_agreed_sum;
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
 * PZ_CONFIG_TTL_S, so a restart or another offerd on the same database sees
 * it. One connection of its own, opened when needed, under config_db_lock.
 */
#define PZ_CONFIG_TTL_S 2.0

static pthread_mutex_t config_db_lock = PTHREAD_MUTEX_INITIALIZER;
static store *config_db;

/* The stored configuration, on its own connection; a failed call closes it (reopened next time). */
static int config_db_read(server *s, const char *company, db_pz_config *out)
{
	int rc;

	pthread_mutex_lock(&config_db_lock);
	rc = config_db != NULL ? 0 : store_open(s->cfg->database_url, &config_db);
	if (rc == 0)
		rc = db_pz_config_get(config_db, company, out);
	if (rc != 0 && config_db != NULL) {
		store_close(config_db);
		config_db = NULL;
	}
	pthread_mutex_unlock(&config_db_lock);
	return rc;
}

static int config_db_write(server *s, const char *company, const char *service, const char *policy,
                           int policy_put)
{
	int rc;

	pthread_mutex_lock(&config_db_lock);
	rc = config_db != NULL ? 0 : store_open(s->cfg->database_url, &config_db);
	if (rc == 0 && service != NULL)
		rc = db_pz_service_put(config_db, company, service);
	if (rc == 0 && policy_put)
		rc = db_pz_policy_put(config_db, company, policy);
	if (rc != 0 && config_db != NULL) {
		store_close(config_db);
		config_db = NULL;
	}
	pthread_mutex_unlock(&config_db_lock);
	return rc;
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

/* --- events (memory): deferred activation, apprentice agreement ------------- */

/*
 * A fixed table of the events this process ranked, by a 64-bit hash of
 * company and event id: whether the event waits for its activation (and
 * the reward it was given meanwhile), and whether Apprentice mode's policy
 * agreed with the baseline. Bounded: a new event takes the oldest slot of
 * its probe window.
 */
#define PZ_EVENTS_SLOTS 65536
#define PZ_EVENTS_PROBE 8

typedef struct pz_event {
	uint64_t h;             /* 0: free */
	uint64_t seq;           /* insertion order, for eviction */
	unsigned char deferred; /* ranked with deferActivation and not activated yet */
	unsigned char has_reward;
	unsigned char apprentice;
	unsigned char agreed;
	double reward;          /* the first reward given while deferred */
	double ranked_at;       /* unix time of the rank, for rewardWaitTime */
	unsigned char rewarded; /* bit 0 (single) or bit k (slot k): a reward was taken */
	/* Multi-slot events: the slots' ids (hashed) in order, and rewards held per slot. */
	unsigned char n_slots;
	unsigned char slot_has[PZ_MULTI_SLOTS_MAX];
	uint64_t slot_h[PZ_MULTI_SLOTS_MAX];
	double slot_reward[PZ_MULTI_SLOTS_MAX];
} pz_event;

static pthread_mutex_t events_lock = PTHREAD_MUTEX_INITIALIZER;
static pz_event *events;
static uint64_t events_seq;

static uint64_t event_hash(const char *company, const char *id)
{
	char key[SERVER_COMPANY_MAX + PZ_ID_BYTES_MAX + 2];
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

static void event_put(const char *company, const char *id, const pz_event *in)
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
	*slot = *in;
	slot->h = h;
	slot->seq = ++events_seq;
	pthread_mutex_unlock(&events_lock);
}

/* A copy of the event's entry; returns 0 when the event is not in the table. */
static int event_get(const char *company, const char *id, pz_event *out)
{
	pz_event *e;

	pthread_mutex_lock(&events_lock);
	e = event_find_locked(event_hash(company, id));
	if (e != NULL)
		*out = *e;
	pthread_mutex_unlock(&events_lock);
	return e != NULL;
}

/*
 * A reward arriving for an event: marks the bits of mask rewarded (no
 * default reward for them). Returns 1 when the event is known and its
 * rewardWaitTime has passed: Personalizer discards such a reward.
 */
static int event_reward_late(const char *company, const char *id, unsigned mask, int64_t wait_s)
{
	pz_event *e;
	int late = 0;

	pthread_mutex_lock(&events_lock);
	e = event_find_locked(event_hash(company, id));
	if (e != NULL) {
		late = util_now() - e->ranked_at > (double)wait_s;
		if (!late)
			e->rewarded |= (unsigned char)mask;
	}
	pthread_mutex_unlock(&events_lock);
	return late;
}

/* --- default rewards: rewardWaitTime and defaultReward ---------------------- */

/*
 * Every event ranked here waits in a table until its rewardWaitTime has
 * passed; then each of its slots that got no reward and is not a deferred
 * event never activated gets the company's defaultReward, through the
 * writer as a default reward (TB_REWARDS.source 'default', always learned),
 * as offerd's reward_wait_seconds does for /predict. The table is bounded:
 * while PZ_DEFAULTS_MAX events wait, a new one gets no default. Ranks and
 * rewards sweep it (waits differ per company, so the whole table), at most
 * twice a second.
 */
#define PZ_DEFAULTS_MAX 16384
#define PZ_DEFAULTS_SWEEP_MAX 64

typedef struct pz_pending {
	double due;
	double value;
	unsigned char n_slots; /* 0: a single-slot event */
	unsigned char used;
	char company[SERVER_COMPANY_MAX];
	char event[PZ_EVENT_STORED_MAX + 1];
} pz_pending;

/* A default reward on its way to the writer; freed by its done callback. */
typedef struct pz_default_op {
	writer_op op; /* first: done() gets it */
	char company[SERVER_COMPANY_MAX];
	char customer[REQ_ID_MAX + 1];
} pz_default_op;

static pz_pending *pending;  /* under events_lock */
static size_t *pending_free; /* indexes of free entries, a stack */
static size_t pending_nfree;
static double last_sweep;

static void pending_push(const char *company, const char *id, size_t n_slots,
                         const pz_service_config *svc)
{
	pz_pending *p;

	pthread_mutex_lock(&events_lock);
	if (pending == NULL) {
		pending = xcalloc(PZ_DEFAULTS_MAX, sizeof(*pending));
		pending_free = xmalloc(PZ_DEFAULTS_MAX * sizeof(*pending_free));
		for (size_t i = 0; i < PZ_DEFAULTS_MAX; i++)
			pending_free[i] = PZ_DEFAULTS_MAX - 1 - i;
		pending_nfree = PZ_DEFAULTS_MAX;
	}
	if (pending_nfree == 0) {
		pthread_mutex_unlock(&events_lock);
		return;
	}
	p = &pending[pending_free[--pending_nfree]];
	p->used = 1;
	p->due = util_now() + (double)svc->reward_wait_s;
	p->value = svc->default_reward;
	p->n_slots = (unsigned char)n_slots;
	util_strlcpy(p->company, company, sizeof(p->company));
	util_strlcpy(p->event, id, sizeof(p->event));
	pthread_mutex_unlock(&events_lock);
}

static void default_done(writer_op *op)
{
	free(op);
}

static void default_submit(server *s, const pz_pending *p, unsigned mask)
{
	for (size_t k = 0; k < PZ_MULTI_SLOTS_MAX; k++) {
		pz_default_op *d;

		if (!(mask & (1u << k)))
			continue;
		d = xcalloc(1, sizeof(*d));
		util_strlcpy(d->company, p->company, sizeof(d->company));
		if (pz_customer_id(d->customer, p->event, p->n_slots == 0 ? -1 : (int)k) != 0) {
			free(d);
			continue;
		}
		d->op.kind = WOP_REWARD;
		d->op.rin.company = d->company;
		d->op.rin.customer_id = d->customer;
		d->op.rin.accepted = p->value > 0;
		d->op.rin.is_default = 1;
		d->op.done = default_done;
		if (writer_submit(s->w, &d->op) != 0)
			free(d);
	}
}

static void defaults_sweep(server *s)
{
	pz_pending due[PZ_DEFAULTS_SWEEP_MAX];
	unsigned mask[PZ_DEFAULTS_SWEEP_MAX];
	size_t n = 0;
	double now = util_now();

	pthread_mutex_lock(&events_lock);
	if (now - last_sweep < 0.5) {
		pthread_mutex_unlock(&events_lock);
		return;
	}
	last_sweep = now;
	for (size_t i = 0; pending != NULL && i < PZ_DEFAULTS_MAX && n < PZ_DEFAULTS_SWEEP_MAX; i++) {
		pz_pending *p = &pending[i];
		pz_event *e;

		if (!p->used || p->due > now)
			continue;
		e = event_find_locked(event_hash(p->company, p->event));
		unsigned all = p->n_slots == 0 ? 1u : (1u << p->n_slots) - 1;

		if (e != NULL && !e->deferred && (e->rewarded & all) != all) {
			due[n] = *p;
			mask[n++] = all & ~(unsigned)e->rewarded;
			e->rewarded = (unsigned char)all;
		}
		p->used = 0;
		pending_free[pending_nfree++] = i;
	}
	pthread_mutex_unlock(&events_lock);
	for (size_t i = 0; i < n; i++)
		default_submit(s, &due[i], mask[i]);
}

/*
 * A reward for a deferred event: kept (the first one) until activation.
 * Returns 1 when the event is deferred and the reward was taken.
 */
static int event_hold_reward(const char *company, const char *id, double value)
{
	pz_event *e;
	int held = 0;

	pthread_mutex_lock(&events_lock);
	e = event_find_locked(event_hash(company, id));
	if (e != NULL && e->deferred) {
		if (!e->has_reward) {
			e->has_reward = 1;
			e->reward = value;
		}
		held = 1;
	}
	pthread_mutex_unlock(&events_lock);
	return held;
}

/*
 * A multi-slot event's slot index for a slot id: returns 0..n-1, -1 when
 * the event is unknown or not multi-slot, -2 when it has no such slot.
 */
static int event_slot(const pz_event *e, const char *slot_id)
{
	uint64_t h = util_hash(slot_id);

	if (e->n_slots == 0)
		return -1;
	for (int k = 0; k < e->n_slots; k++) {
		if (e->slot_h[k] == h)
			return k;
	}
	return -2;
}

/* Holds a deferred multi-slot event's rewards; returns 1 when it is deferred. */
static int event_hold_slot_rewards(const char *company, const char *id, const int *slot,
                                   const double *value, size_t n)
{
	pz_event *e;
	int held = 0;

	pthread_mutex_lock(&events_lock);
	e = event_find_locked(event_hash(company, id));
	if (e != NULL && e->deferred) {
		for (size_t i = 0; i < n; i++) {
			if (!e->slot_has[slot[i]]) {
				e->slot_has[slot[i]] = 1;
				e->slot_reward[slot[i]] = value[i];
			}
		}
		held = 1;
	}
	pthread_mutex_unlock(&events_lock);
	return held;
}

/*
 * Activates an event: returns -1 when it is unknown, else 0, with *reward
 * set and 1 in *has_reward when a reward was held for it. For a multi-slot
 * event, held[k] (may be NULL) gets the slots' held rewards (has[k] set).
 */
static int event_activate(const char *company, const char *id, double *reward, int *has_reward,
                          double *held, unsigned char *has)
{
	pz_event *e;
	int rc = -1;

	*has_reward = 0;
	if (has != NULL)
		memset(has, 0, PZ_MULTI_SLOTS_MAX);
	pthread_mutex_lock(&events_lock);
	e = event_find_locked(event_hash(company, id));
	if (e != NULL) {
		rc = 0;
		if (e->deferred && e->has_reward) {
			*has_reward = 1;
			*reward = e->reward;
		}
		for (int k = 0; e->deferred && held != NULL && k < e->n_slots; k++) {
			has[k] = e->slot_has[k];
			held[k] = e->slot_reward[k];
		}
		rc = held != NULL && e->n_slots == 0 ? -1 : rc;
		e->deferred = 0;
		e->has_reward = 0;
		memset(e->slot_has, 0, sizeof(e->slot_has));
	}
	pthread_mutex_unlock(&events_lock);
	return rc;
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

/* 501 in Personalizer's shape, for the operations offerd does not serve. */
static void reply_not_implemented(http_req *r, const char *what)
{
	pz_error e;

	memset(&e, 0, sizeof(e));
	e.status = 501;
	e.code = "NotImplemented";
	snprintf(e.message, sizeof(e.message),
	         "%s is not implemented by offerd's Personalizer API (see docs/personalizer.md)", what);
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

typedef struct pz_ctx {
	api_call call;
	pz_op op;
	char id[PZ_ID_MAX + 1];        /* {eventId} of the path */
	char customer[REQ_ID_MAX + 1]; /* the episode's customer_id */
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
	/* reward, activate */
	writer_op rop;
	double value;
	/* multi-slot: one episode per slot, one reward per slot */
	pz_multi_rank_req multi;
	int multi_parsed;
	api_decision slot[PZ_MULTI_SLOTS_MAX];
	char slot_customer[PZ_MULTI_SLOTS_MAX][REQ_ID_MAX + 1];
	char slot_state[PZ_MULTI_SLOTS_MAX][AGENT_STATE_MAX + 16];
	size_t slot_served[PZ_MULTI_SLOTS_MAX];
	int slot_agreed[PZ_MULTI_SLOTS_MAX];
	writer_op slot_rop[PZ_MULTI_SLOTS_MAX];
	size_t n_ops;  /* operations submitted by a multi-slot call */
	size_t n_done; /* ... and done (under the call's lock) */
} pz_ctx;

static void pz_free(api_call *call)
{
	pz_ctx *c = (pz_ctx *)call;

	if (c->rank_parsed)
		pz_rank_free(&c->rank);
	if (c->multi_parsed)
		pz_multi_rank_free(&c->multi);
	request_predict_free(&c->d.req);
	decide_result_free(&c->d.res);
	for (size_t k = 0; k < PZ_MULTI_SLOTS_MAX; k++) {
		request_predict_free(&c->slot[k].req);
		decide_result_free(&c->slot[k].res);
	}
}

/*
 * The states of the episode's decision: the scalar members of the context
 * feature objects, so the tabular policies' state key reads the usual
 * fields (age, gender, region...) when the context carries them; anything
 * else leaves the customer unknown (one state per date).
 */
static json_t *context_states(json_t *context)
{
	json_t *states = json_object();
	json_t *obj;
	size_t i;

	json_array_foreach(context, i, obj) {
		const char *k;
		json_t *v;

		json_object_foreach(obj, k, v) {
			if (!json_is_object(v) && !json_is_array(v) && !json_is_null(v) &&
			    json_object_get(states, k) == NULL)
				json_object_set(states, k, v);
		}
	}
	return states;
}

/*
 * The decision for a rank: the agent version's policy over the allowed
 * actions, with the company's explorationPercentage as epsilon.
 *
 * Hook for the contextual policies (linear-ts, squarecb): they will read
 * c->rank.context and c->rank.actions[i].features here, instead of the
 * tabular state key, once agent_decide dispatches to them.
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
	metrics_decision(agent_policy_name(conf.policy));
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
	json_t *keep;
	int rc;

	for (size_t i = 0; i < n; i++)
		offers[i] = actions[i].id;
	util_now_iso(now);
	states = context_states(context);
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
	keep = json_pack("{s:O}", "contextFeatures", context);
	out->states_text = json_dumps(keep, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(keep);
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

static void rank_answer(api_call *call)
{
	pz_ctx *c = (pz_ctx *)call;
	pz_event ev;

	if (c->d.op.rc != 0) {
		api_pz_error(call->r, ERR_UNAVAIL,
		             "the event could not be stored; nothing was recorded, retry later");
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.deferred = (unsigned char)c->rank.defer_activation;
	ev.apprentice = c->mode == PZ_MODE_APPRENTICE;
	ev.agreed = (unsigned char)c->agreed;
	ev.ranked_at = util_now();
	event_put(call->company, c->rank.event_id, &ev);
	pending_push(call->company, c->rank.event_id, 0, &c->svc);
	if (c->mode == PZ_MODE_APPRENTICE) {
		pthread_mutex_lock(&tenants_lock);
		pz_tenant *t = tenant_locked(call->s, call->company);

		if (t != NULL) {
			t->app_events++;
			t->app_agreed += (uint64_t)c->agreed;
		}
		pthread_mutex_unlock(&tenants_lock);
	}
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

static void rank_complete(pz_ctx *c, const char *body, size_t len)
{
	http_req *r = c->call.r;
	unsigned char allowed[PZ_ACTIONS_MAX];
	pz_service_config svc;
	pz_error e;
	size_t baseline = 0;

	if (pz_rank_parse(body, len, &c->rank, &e) != 0) {
		reply_pz_error(r, &e);
		return;
	}
	c->rank_parsed = 1;
	if (c->rank.event_id[0] == '\0' && pz_event_id_new(c->rank.event_id) != 0) {
		api_pz_error(r, ERR_IO, "no event id could be generated");
		return;
	}
	if (strlen(c->rank.event_id) > PZ_EVENT_STORED_MAX) {
		pz_fail(&e, PZ_INVALID_RANK, "eventId",
		        "eventId is longer than %d bytes (offerd's limit).", PZ_EVENT_STORED_MAX);
		reply_pz_error(r, &e);
		return;
	}
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
	if (tenant_svc(c->call.s, c->call.company, &svc) != 0) {
		api_pz_error(r, ERR_UNAVAIL, "the event could not be prepared; retry later");
		return;
	}
	c->svc = svc;
	c->mode = svc.mode;
	defaults_sweep(c->call.s);
	if (pz_decide(&c->call, &c->d, &svc) != 0) {
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
	if (api_call_submit(&c->call, &c->d.op) != 0) {
		api_pz_error(r, ERR_UNAVAIL, "too many requests are waiting for the database");
		return;
	}
	if (!api_call_wait(&c->call))
		rank_answer(&c->call);
}

/* The answer of a reward, or of an activation that released a held reward. */
static void reward_answer(api_call *call)
{
	pz_ctx *c = (pz_ctx *)call;
	writer_op *op = &c->rop;
	pz_event ev;

	switch (op->rc) {
	case 0:
		metrics_reward(op->rout.agent_version, op->rin.accepted);
		if (event_get(call->company, c->id, &ev) && ev.apprentice) {
			pthread_mutex_lock(&tenants_lock);
			pz_tenant *t = tenant_locked(call->s, call->company);

			if (t != NULL) {
				t->app_rewards++;
				t->app_reward_sum += c->value;
				if (ev.agreed) {
					t->app_rewards_agreed++;
					t->app_reward_agreed_sum += c->value;
				}
			}
			pthread_mutex_unlock(&tenants_lock);
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
	c->rop.kind = WOP_REWARD;
	c->rop.rin.company = c->call.company;
	c->rop.rin.customer_id = c->customer;
	c->rop.rin.episode_id = 0;
	c->rop.rin.accepted = value > 0;
	c->rop.rin.request_ts = NULL;
	if (api_call_submit(&c->call, &c->rop) != 0) {
		api_pz_error(c->call.r, ERR_UNAVAIL, "too many requests are waiting for the database");
		return;
	}
	if (!api_call_wait(&c->call))
		reward_answer(&c->call);
}

static void reward_complete(pz_ctx *c, const char *body, size_t len)
{
	pz_error e;
	double value;

	if (pz_reward_parse(body, len, &value, &e) != 0) {
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
	defaults_sweep(c->call.s);
	if (event_reward_late(c->call.company, c->id, 1u, c->svc.reward_wait_s)) {
		/* After rewardWaitTime: accepted and discarded, as Personalizer does. */
		reply_no_content(c->call.r);
		return;
	}
	if (event_hold_reward(c->call.company, c->id, value)) {
		/* Deferred: the reward counts once the event is activated. */
		reply_no_content(c->call.r);
		return;
	}
	reward_submit(c, value);
}

static void activate_complete(pz_ctx *c, const char *body, size_t len)
{
	pz_error e;
	double value = 0;
	int has_reward;

	if (pz_activate_check(body, len, &e) != 0) {
		reply_pz_error(c->call.r, &e);
		return;
	}
	if (event_activate(c->call.company, c->id, &value, &has_reward, NULL, NULL) != 0) {
		api_pz_error(c->call.r, ERR_NOTFOUND,
		             "Event %.200s was not found (activation knows the events this offerd ranked"
		             " since it started).",
		             c->id);
		return;
	}
	if (!has_reward) {
		reply_no_content(c->call.r);
		return;
	}
	reward_submit(c, value);
}

/* The service configuration with offerd's Apprentice report; JSON text. */
static char *service_json(const pz_tenant *t)
{
	char *text = pz_service_config_json(&t->svc);
	json_t *j = json_loads(text, 0, NULL);
	json_t *app;

	free(text);
	if (j == NULL)
		return xstrdup("{}");
	app = json_pack("{s:I, s:I, s:f, s:I, s:f, s:f}", "events", (json_int_t)t->app_events, "agreed",
	                (json_int_t)t->app_agreed, "agreement",
	                t->app_events ? (double)t->app_agreed / (double)t->app_events : 0.0, "rewards",
	                (json_int_t)t->app_rewards, "baselineRewardSum", t->app_reward_sum,
	                "agreedRewardSum", t->app_reward_agreed_sum);
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
	if (tenant_refresh(c->call.s, c->call.company, 0) != 0) {
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
		util_now_iso(next.last_edit);
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
	case PZ_OP_SERVICE_GET: text = service_json(t); break;
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

/* Returns 1 while a multi-slot call's operations are not all done (c is suspended). */
static int multi_wait(pz_ctx *c)
{
	for (;;) {
		size_t done;

		pthread_mutex_lock(&c->call.lock);
		done = c->n_done;
		pthread_mutex_unlock(&c->call.lock);
		if (done >= c->n_ops)
			return 0;
		if (api_call_wait(&c->call))
			return 1;
	}
}

static void multi_rank_answer(api_call *call)
{
	pz_ctx *c = (pz_ctx *)call;
	pz_multi_rank_req *q = &c->multi;
	pz_slot_answer ans[PZ_MULTI_SLOTS_MAX];
	pz_event ev;
	size_t agreed = 0;

	if (multi_wait(c))
		return;
	for (size_t k = 0; k < q->n_slots; k++) {
		if (c->slot[k].op.rc != 0) {
			api_pz_error(
			    call->r, ERR_UNAVAIL,
			    "the event could not be stored whole; retry later with another eventId");
			return;
		}
	}
	memset(&ev, 0, sizeof(ev));
	ev.deferred = (unsigned char)q->defer_activation;
	ev.apprentice = c->mode == PZ_MODE_APPRENTICE;
	ev.n_slots = (unsigned char)q->n_slots;
	for (size_t k = 0; k < q->n_slots; k++) {
		char sid[PZ_ID_BYTES_MAX + 1];

		snprintf(sid, sizeof(sid), "%.*s", (int)q->slots[k].id_len, q->slots[k].id);
		ev.slot_h[k] = util_hash(sid);
		ans[k].id = q->slots[k].id;
		ans[k].reward_action_id = q->actions[c->slot_served[k]].id;
		agreed += (size_t)c->slot_agreed[k];
	}
	ev.agreed = agreed == q->n_slots;
	ev.ranked_at = util_now();
	event_put(call->company, q->event_id, &ev);
	pending_push(call->company, q->event_id, q->n_slots, &c->svc);
	if (c->mode == PZ_MODE_APPRENTICE) {
		pthread_mutex_lock(&tenants_lock);
		pz_tenant *t = tenant_locked(call->s, call->company);

		if (t != NULL) {
			t->app_events += q->n_slots;
			t->app_agreed += agreed;
		}
		pthread_mutex_unlock(&tenants_lock);
	}
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
	pz_multi_rank_req *q = &c->multi;
	unsigned char taken[PZ_ACTIONS_MAX];
	pz_service_config svc;
	pz_error e;

	if (pz_multi_rank_parse(body, len, q, &e) != 0) {
		reply_pz_error(r, &e);
		return;
	}
	c->multi_parsed = 1;
	if (q->n_slots > PZ_MULTI_SLOTS_MAX) {
		pz_fail(&e, PZ_INVALID_RANK, "slots", "offerd serves at most %d slots, got %zu.",
		        PZ_MULTI_SLOTS_MAX, q->n_slots);
		reply_pz_error(r, &e);
		return;
	}
	if (q->event_id[0] == '\0' && pz_event_id_new(q->event_id) != 0) {
		api_pz_error(r, ERR_IO, "no event id could be generated");
		return;
	}
	if (strlen(q->event_id) > PZ_MULTI_EVENT_STORED_MAX) {
		pz_fail(&e, PZ_INVALID_RANK, "eventId",
		        "eventId is longer than %d bytes (offerd's limit).", PZ_MULTI_EVENT_STORED_MAX);
		reply_pz_error(r, &e);
		return;
	}
	if (tenant_svc(c->call.s, c->call.company, &svc) != 0) {
		api_pz_error(r, ERR_UNAVAIL, "the event could not be prepared; retry later");
		return;
	}
	c->svc = svc;
	c->mode = svc.mode;
	defaults_sweep(c->call.s);
	memset(taken, 0, sizeof(taken));
	for (size_t k = 0; k < q->n_slots; k++) {
		const pz_slot *sl = &q->slots[k];
		api_decision *d = &c->slot[k];
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
		(void)pz_customer_id(c->slot_customer[k], q->event_id, (int)k); /* length checked */
		if (pz_request(c->slot_customer[k], q->context, q->actions, q->n_actions, allowed,
		               &d->req, &e) != 0) {
			reply_pz_error(r, &e);
			return;
		}
		if (pz_decide(&c->call, d, &svc) != 0) {
			api_pz_error(r, ERR_INVAL, "slots[%zu] has no action left", k);
			return;
		}
		c->slot_served[k] = d->res.dec.idx[0];
		if (c->mode != PZ_MODE_ONLINE) {
			/* Each slot's baselineAction: distinct, and not excluded by its slot. */
			c->slot_agreed[k] = c->slot_served[k] == sl->baseline;
			c->slot_served[k] = sl->baseline;
			serve_baseline(d, sl->baseline, c->mode, c->slot_state[k],
			               sizeof(c->slot_state[k]));
		}
		taken[c->slot_served[k]] = 1;
	}
	for (size_t k = 0; k < q->n_slots; k++) {
		if (api_call_submit(&c->call, &c->slot[k].op) != 0) {
			api_pz_error(r, ERR_UNAVAIL, "too many requests are waiting for the database");
			return;
		}
		c->n_ops++;
	}
	multi_rank_answer(&c->call);
}

static void multi_reward_answer(api_call *call)
{
	pz_ctx *c = (pz_ctx *)call;
	size_t found = 0;

	if (multi_wait(c))
		return;
	for (size_t k = 0; k < c->n_ops; k++) {
		int rc = c->slot_rop[k].rc;

		if (rc == 0)
			metrics_reward(c->slot_rop[k].rout.agent_version, c->slot_rop[k].rin.accepted);
		if (rc == 0 || rc == ERR_CONFLICT) {
			found++;
		} else if (rc != ERR_NOTFOUND) {
			api_pz_error(call->r, rc == ERR_UNAVAIL ? ERR_UNAVAIL : ERR_IO,
			             "a reward could not be stored; retry later");
			return;
		}
	}
	if (c->n_ops > 0 && found == 0) {
		api_pz_error(call->r, ERR_NOTFOUND, "Event %.200s was not found.", c->id);
		return;
	}
	reply_no_content(call->r);
}

/* Queues one reward per slot with has[k] (value[k]), then answers. */
static void multi_reward_submit(pz_ctx *c, const unsigned char *has, const double *value)
{
	for (size_t k = 0; k < PZ_MULTI_SLOTS_MAX; k++) {
		writer_op *op = &c->slot_rop[c->n_ops];

		if (!has[k])
			continue;
		(void)pz_customer_id(c->slot_customer[c->n_ops], c->id, (int)k);
		op->kind = WOP_REWARD;
		op->rin.company = c->call.company;
		op->rin.customer_id = c->slot_customer[c->n_ops];
		op->rin.accepted = value[k] > 0;
		if (api_call_submit(&c->call, op) != 0) {
			api_pz_error(c->call.r, ERR_UNAVAIL,
			             "too many requests are waiting for the database");
			return;
		}
		c->n_ops++;
	}
	multi_reward_answer(&c->call);
}

static void multi_reward_complete(pz_ctx *c, const char *body, size_t len)
{
	pz_multi_reward_req q;
	unsigned char has[PZ_MULTI_SLOTS_MAX];
	double value[PZ_MULTI_SLOTS_MAX];
	int slot[PZ_SLOTS_MAX];
	double vals[PZ_SLOTS_MAX];
	pz_event ev;
	pz_error e;

	if (pz_multi_reward_parse(body, len, &q, &e) != 0) {
		reply_pz_error(c->call.r, &e);
		return;
	}
	if (strlen(c->id) > PZ_MULTI_EVENT_STORED_MAX || !event_get(c->call.company, c->id, &ev) ||
	    ev.n_slots == 0) {
		api_pz_error(
		    c->call.r, ERR_NOTFOUND,
		    "Multi-slot event %.200s was not found (offerd knows the multi-slot events it"
		    " ranked since it started).",
		    c->id);
		return;
	}
	memset(has, 0, sizeof(has));
	for (size_t i = 0; i < q.n; i++) {
		slot[i] = event_slot(&ev, q.rewards[i].slot_id);
		if (slot[i] < 0) {
			pz_fail(&e, PZ_INVALID_REWARD, "reward",
			        "Slot %.200s is not a slot of event %.200s.", q.rewards[i].slot_id,
			        c->id);
			reply_pz_error(c->call.r, &e);
			return;
		}
		vals[i] = q.rewards[i].value;
		has[slot[i]] = 1;
		value[slot[i]] = vals[i];
	}
	{
		unsigned m = 0;

		for (size_t i = 0; i < q.n; i++)
			m |= 1u << slot[i];
		if (tenant_svc(c->call.s, c->call.company, &c->svc) == 0 &&
		    event_reward_late(c->call.company, c->id, m, c->svc.reward_wait_s)) {
			reply_no_content(c->call.r);
			return;
		}
	}
	if (event_hold_slot_rewards(c->call.company, c->id, slot, vals, q.n)) {
		reply_no_content(c->call.r);
		return;
	}
	multi_reward_submit(c, has, value);
}

static void multi_activate_complete(pz_ctx *c, const char *body, size_t len)
{
	unsigned char has[PZ_MULTI_SLOTS_MAX];
	double value[PZ_MULTI_SLOTS_MAX];
	double v1 = 0;
	int h1;
	pz_error e;

	if (pz_activate_check(body, len, &e) != 0) {
		reply_pz_error(c->call.r, &e);
		return;
	}
	if (event_activate(c->call.company, c->id, &v1, &h1, value, has) != 0) {
		api_pz_error(
		    c->call.r, ERR_NOTFOUND,
		    "Multi-slot event %.200s was not found (offerd knows the multi-slot events it"
		    " ranked since it started).",
		    c->id);
		return;
	}
	multi_reward_submit(c, has, value);
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
	pz_time_format(q->start, out->from);
	pz_time_format(q->end, out->to);
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

/* --- logs ------------------------------------------------------------------- */

/*
 * DELETE logs deletes the company's Personalizer events (episodes and their
 * rewards; /predict's episodes and the learned values stay); GET
 * logs/properties gives the first and last event times. Both on a
 * connection of their own, at once.
 */
static void logs_complete(pz_ctx *c)
{
	http_req *r = c->call.r;
	char from[48];
	char to[48];
	int64_t t_from = 0;
	int64_t t_to = 0;
	int64_t deleted = 0;
	store *st = NULL;
	int rc;

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
	switch (c->op) {
	case PZ_OP_RANK: rank_complete(c, body, len); return;
	case PZ_OP_REWARD: reward_complete(c, body, len); return;
	case PZ_OP_ACTIVATE: activate_complete(c, body, len); return;
	case PZ_OP_SERVICE_GET:
	case PZ_OP_SERVICE_PUT:
	case PZ_OP_POLICY_GET:
	case PZ_OP_POLICY_PUT:
	case PZ_OP_POLICY_DELETE: config_complete(c, body, len); return;
	case PZ_OP_MULTI_RANK: multi_rank_complete(c, body, len); return;
	case PZ_OP_MULTI_REWARD: multi_reward_complete(c, body, len); return;
	case PZ_OP_MULTI_ACTIVATE: multi_activate_complete(c, body, len); return;
	case PZ_OP_EVAL_LIST:
	case PZ_OP_EVAL_CREATE:
	case PZ_OP_EVAL_GET:
	case PZ_OP_EVAL_DELETE: eval_complete(c, body, len); return;
	case PZ_OP_MODEL_GET:
	case PZ_OP_MODEL_PUT:
	case PZ_OP_MODEL_DELETE:
	case PZ_OP_MODEL_PROPERTIES: reply_not_implemented(call->r, "The model API"); return;
	case PZ_OP_LOGS_DELETE:
	case PZ_OP_LOGS_PROPERTIES: logs_complete(c); return;
	default: api_pz_error(call->r, ERR_NOTFOUND, "Requested resource does not exist."); return;
	}
}

/* After api_call_wait: the episode of a rank, or the reward of a reward or activation. */
static void pz_resume(api_call *call)
{
	pz_ctx *c = (pz_ctx *)call;

	switch (c->op) {
	case PZ_OP_RANK: rank_answer(call); return;
	case PZ_OP_MULTI_RANK: multi_rank_answer(call); return;
	case PZ_OP_MULTI_REWARD:
	case PZ_OP_MULTI_ACTIVATE: multi_reward_answer(call); return;
	default: reward_answer(call); return;
	}
}

/* The writer's thread, under the call's lock: counts a multi-slot call's operations. */
static void pz_op_done(api_call *call, writer_op *op)
{
	(void)op;
	((pz_ctx *)call)->n_done++;
}

const api_endpoint api_personalizer_endpoint = {
    .ctx_size = sizeof(pz_ctx),
    .complete = pz_complete,
    .resume = pz_resume,
    .op_done = pz_op_done,
    .free = pz_free,
};
