/*
 * api_console.c — the data behind the web console (share/console/, served at
 * /console by api.c's static routes). Three admin-only GET endpoints:
 *
 *   /console/api/overview?minutes=N  decisions, rewards and acceptance per
 *                                    minute, in total and per agent version
 *   /console/api/model?minutes=N     the learned values (TB_POLICY): the best
 *                                    offers per state and per part of the
 *                                    state, how each offer's reward moved,
 *                                    and the contextual versions' offers
 *                                    with their heaviest features
 *   /console/api/episodes?limit=N    the latest decisions with their state,
 *                                    eligible set, propensities, the
 *                                    explanation computed now, and reward
 *
 * They read the database on a connection of their own (never the writer's,
 * so a console never delays a commit), one request at a time, and every
 * query is bounded: a window, or the latest episodes, read at most
 * CONSOLE_SCAN_MAX of the newest rows, walked by the primary key, whatever
 * the size of the tables (console_floor); the per-minute grouping happens
 * in SQL. The statements are db.c's (db_console_*): this file only shapes
 * their rows. Timestamps come back as text in the store's own form
 * (SQLite's "...T...Z", PostgreSQL's "... +00" in the session's time zone)
 * and are read with their offset.
 */
#include "api.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "agent.h"
#include "customer.h"
#include "date.h"
#include "db.h"
#include "decide.h"
#include "log.h"
#include "policy.h"
#include "request.h"
#include "server.h"
#include "store.h"
#include "util.h"
#include "values.h"

#define CONSOLE_MINUTES_DEFAULT 60
#define CONSOLE_MINUTES_MAX 1440 /* a day of minutes */
#define CONSOLE_SCAN_MAX 200000  /* newest episodes or rewards one window reads */
#define CONSOLE_VERSIONS_MAX 16  /* agent versions charted; the rest are summed in "other" */
#define CONSOLE_EPISODES_DEFAULT 50
#define CONSOLE_EPISODES_MAX 200
#define CONSOLE_POLICY_ROWS_MAX 20000 /* TB_POLICY rows read, the most observed first */
#define CONSOLE_STATES_MAX 40         /* states listed, the most observed first */
#define CONSOLE_BEST 3                /* best offers listed per state or feature value */
#define CONSOLE_MOVED_MAX 6           /* offers whose movement is charted */
#define CONSOLE_LOCK_SECONDS 5        /* a request waits this long for the connection */
#define CONSOLE_CONFS_MAX 8           /* agent versions one answer explains with */
#define CONSOLE_WEIGHT_EPISODES 50    /* latest decisions whose contexts weigh the features */
#define CONSOLE_WEIGHT_TOP 5          /* features listed per offer */

/* The console's connection; its store (.s) is the queries' while a request holds it. */
static store_slot console_slot = STORE_SLOT_INIT;

/* --- the connection ---------------------------------------------------------------- */

/* Takes the connection (opening it when needed); replies 503 and returns non-zero when it cannot. */
static int console_acquire(server *s, http_req *r)
{
	int busy;
	store *db = store_slot_take(&console_slot, s->cfg->database_url, CONSOLE_LOCK_SECONDS, &busy);

	if (db == NULL) {
		api_error(r, ERR_UNAVAIL, NULL,
		          busy ? "the console's database connection is busy; retry"
		               : "the console cannot connect to the database; retry");
		return ERR_UNAVAIL;
	}
	return 0;
}

/* Gives the connection back; after a failed query it is closed, and the next request reopens it. */
static void console_release(int rc)
{
	if (rc != 0)
		log_msg(LOG_WARN, "console: query failed: %s",
		        console_slot.s->ops->errmsg(console_slot.s));
	store_slot_give(&console_slot, rc != 0);
}

/*
 * Gives the connection back after a handler's queries (rc: their result)
 * and starts the answer: a new object with "company", or NULL after
 * answering that the console could not read what. A row callback's
 * ERR_NOMEM is no fault of the connection: it stays open.
 */
static json_t *console_answer(http_req *r, int rc, const char *what, const char *company)
{
	json_t *j;

	console_release(rc == ERR_NOMEM ? 0 : rc);
	if (rc != 0) {
		api_error(r, rc == ERR_NOMEM ? ERR_NOMEM : ERR_UNAVAIL, NULL,
		          "the console could not read %s; retry", what);
		return NULL;
	}
	j = json_object();
	json_object_set_new(j, "company", json_string(company));
	return j;
}

static void console_reply(http_req *r, json_t *j)
{
	char *body = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

	json_decref(j);
	if (body == NULL) {
		api_error(r, ERR_NOMEM, NULL, "the answer could not be written");
		return;
	}
	http_add_header(r, "Cache-Control", "no-store");
	http_reply(r, 200, "application/json", body, strlen(body));
}

/* The integer query parameter name in [min, max], dflt when absent; replies 400 and returns non-zero when bad. */
static int console_query_int(http_req *r, const char *name, int64_t min, int64_t max, int64_t dflt,
                             int64_t *out)
{
	const char *v = http_query(r, name);

	*out = dflt;
	if (v == NULL)
		return 0;
	if (util_strtonum(v, min, max, out) != 0) {
		api_error(r, ERR_SYNTAX, name,
		          "%s must be a whole number from %lld to %lld, got \"%.32s\"", name,
		          (long long)min, (long long)max, v);
		return ERR_SYNTAX;
	}
	return 0;
}

/* --- timestamps ------------------------------------------------------------------- */

/* A window of whole minutes ending with the current one. */
typedef struct console_window {
	int64_t minutes;
	int64_t start;             /* epoch seconds of the first minute */
	char from[DATE_STAMP_LEN]; /* start, as the rows' times are written, for the queries */
} console_window;

static void console_window_init(console_window *w, int64_t minutes)
{
	int64_t now = (int64_t)time(NULL);

	w->minutes = minutes;
	w->start = (now / 60 + 1 - minutes) * 60;
	date_stamp_format(w->start, 0, w->from);
}

/* The minute index of a stored timestamp in w, or -1 outside it (or unreadable). */
static int64_t console_window_index(const console_window *w, const char *ts)
{
	int64_t e;
	int64_t i;
	int ms;

	if (date_stamp_parse(ts, &e, &ms) != 0)
		return -1;
	i = (e - w->start) / 60;
	if (e < w->start || i >= w->minutes)
		return -1;
	return i;
}

static json_t *console_times(const console_window *w)
{
	json_t *a = json_array();

	for (int64_t i = 0; i < w->minutes; i++)
		json_array_append_new(a, json_integer(w->start + i * 60));
	return a;
}

/*
 * The id above which a query reads the rows of tb_episodes (rewards = 0)
 * or tb_rewards (1): the newest id less CONSOLE_SCAN_MAX, at least 0.
 * Called with the connection held.
 */
static int console_floor(int rewards, int64_t *out)
{
	int64_t top = 0;
	int rc = db_contact_top(console_slot.s, rewards, &top);

	*out = top > CONSOLE_SCAN_MAX ? top - CONSOLE_SCAN_MAX : 0;
	return rc;
}

/* --- GET /console/api/overview ------------------------------------------------------ */

/* The per-minute counts of a series, in the order the queries' count columns fill them. */
enum { OV_DECISIONS, OV_REWARDS, OV_ACCEPTED, OV_COUNTS };

typedef struct overview_series {
	char version[DB_VERSION_MAX];
	int64_t *count[OV_COUNTS]; /* [OV_*][minute] */
} overview_series;

typedef struct overview {
	console_window w;
	overview_series total;
	overview_series versions[CONSOLE_VERSIONS_MAX + 1]; /* the last one is "other" */
	size_t nversions;
	int first; /* the OV_* the current query's first count column adds to */
	int err;
} overview;

static int series_init(overview_series *x, const char *version, int64_t minutes)
{
	util_strlcpy(x->version, version, sizeof(x->version));
	for (size_t c = 0; c < OV_COUNTS; c++)
		x->count[c] = xcalloc((size_t)minutes, sizeof(int64_t));
	return 0;
}

static void series_free(overview_series *x)
{
	for (size_t c = 0; c < OV_COUNTS; c++)
		free(x->count[c]);
}

/* The series of version (created when new; past CONSOLE_VERSIONS_MAX, "other"). */
static overview_series *overview_version(overview *o, const char *version)
{
	size_t i;

	if (version == NULL)
		version = "(none)";
	for (i = 0; i < o->nversions; i++) {
		if (strcmp(o->versions[i].version, version) == 0)
			return &o->versions[i];
	}
	if (o->nversions == CONSOLE_VERSIONS_MAX) {
		overview_series *other = &o->versions[CONSOLE_VERSIONS_MAX];

		if (other->count[0] == NULL && series_init(other, "other", o->w.minutes) != 0)
			return NULL;
		return other;
	}
	if (series_init(&o->versions[o->nversions], version, o->w.minutes) != 0)
		return NULL;
	return &o->versions[o->nversions++];
}

/*
 * Rows: first timestamp of the minute, agent version, then counts that add
 * to the version's and the total series from o->first on (decisions; or
 * rewards, accepted). A minute outside the window is skipped.
 */
static int overview_row(void *arg, int ncols, const char *const *vals)
{
	overview *o = arg;
	int64_t i = console_window_index(&o->w, vals[0]);
	overview_series *v;

	if (i < 0)
		return 0;
	v = overview_version(o, vals[1]);
	if (v == NULL)
		return ERR_NOMEM;
	for (int c = o->first; c < OV_COUNTS && 2 + c - o->first < ncols; c++) {
		int64_t n = (int64_t)db_num(vals[2 + c - o->first]);

		v->count[c][i] += n;
		o->total.count[c][i] += n;
	}
	return 0;
}

static json_t *ints_json(const int64_t *x, int64_t n, int64_t *sum)
{
	json_t *a = json_array();

	*sum = 0;
	for (int64_t i = 0; i < n; i++) {
		json_array_append_new(a, json_integer((json_int_t)x[i]));
		*sum += x[i];
	}
	return a;
}

static json_t *series_json(const overview_series *x, int64_t minutes)
{
	json_t *j = json_object();
	json_t *acc = json_array();
	int64_t d, rw, ac;
	const int64_t *rewards = x->count[OV_REWARDS];
	const int64_t *accepted = x->count[OV_ACCEPTED];

	json_object_set_new(j, "version", json_string(x->version));
	json_object_set_new(j, "decisions", ints_json(x->count[OV_DECISIONS], minutes, &d));
	json_object_set_new(j, "rewards", ints_json(rewards, minutes, &rw));
	json_object_set_new(j, "accepted", ints_json(accepted, minutes, &ac));
	/* Acceptance per minute: accepted / rewarded, null in a minute without rewards. */
	for (int64_t i = 0; i < minutes; i++)
		json_array_append_new(acc, rewards[i] > 0
		                               ? json_real((double)accepted[i] / (double)rewards[i])
		                               : json_null());
	json_object_set_new(j, "acceptance", acc);
	json_object_set_new(j, "totals",
	                    json_pack("{sIsIsIso}", "decisions", (json_int_t)d, "rewards",
	                              (json_int_t)rw, "accepted", (json_int_t)ac, "acceptance",
	                              rw > 0 ? json_real((double)ac / (double)rw) : json_null()));
	return j;
}

void api_console_overview(server *s, http_req *r, const struct route *rt, const api_tenant *t)
{
	overview *o = NULL;
	int64_t minutes;
	int64_t scan = 0;
	json_t *j = NULL;
	json_t *vs;
	int rc;

	(void)rt;
	if (console_query_int(r, "minutes", 1, CONSOLE_MINUTES_MAX, CONSOLE_MINUTES_DEFAULT, &minutes) !=
	    0)
		return;
	o = xcalloc(1, sizeof(*o));
	console_window_init(&o->w, minutes);
	if (series_init(&o->total, "all", minutes) != 0) {
		api_error(r, ERR_NOMEM, NULL, "out of memory");
		goto out;
	}
	if (console_acquire(s, r) != 0)
		goto out;
	rc = console_floor(0, &scan);
	o->first = OV_DECISIONS;
	if (rc == 0)
		rc = db_console_decisions(console_slot.s, t->company, o->w.from, scan, overview_row, o);
	if (rc == 0)
		rc = console_floor(1, &scan);
	o->first = OV_REWARDS;
	if (rc == 0)
		rc = db_console_rewards(console_slot.s, t->company, o->w.from, scan, overview_row, o);
	j = console_answer(r, rc, "the decisions", t->company);
	if (j == NULL)
		goto out;
	json_object_set_new(j, "minutes", json_integer((json_int_t)minutes));
	{
		char from[DATE_TIME_TEXT_LEN];

		date_time_format(o->w.start, from);
		json_object_set_new(j, "from", json_string(from));
	}
	json_object_set_new(j, "scan_max", json_integer(CONSOLE_SCAN_MAX));
	json_object_set_new(j, "time", console_times(&o->w));
	json_object_set_new(j, "all", series_json(&o->total, minutes));
	vs = json_array();
	for (size_t i = 0; i < o->nversions; i++)
		json_array_append_new(vs, series_json(&o->versions[i], minutes));
	if (o->versions[CONSOLE_VERSIONS_MAX].count[0] != NULL)
		json_array_append_new(vs, series_json(&o->versions[CONSOLE_VERSIONS_MAX], minutes));
	json_object_set_new(j, "versions", vs);
	console_reply(r, j);
out:
	if (o != NULL) {
		series_free(&o->total);
		for (size_t i = 0; i <= CONSOLE_VERSIONS_MAX; i++)
			series_free(&o->versions[i]);
		free(o);
	}
}

/* --- GET /console/api/model ------------------------------------------------------- */

/*
 * The learned values, aggregated in jansson objects used as hash tables:
 * a cell is [n, reward_sum, prior weight, prior value x weight], and an
 * offer's value is (reward_sum + prior) / (n + prior weight), as values.c
 * reads it.
 */
static const char *const model_parts[] = {"segment", "month", "half", "weekday"};

typedef struct model_acc {
	json_t *states;   /* state -> offer -> cell */
	json_t *parts[4]; /* model_parts[i]: value -> offer -> cell */
	json_t *offers;   /* offer -> cell */
	size_t rows;
} model_acc;

static void cell_add(json_t *map, const char *key, const char *offer, const double add[4])
{
	json_t *offers = json_object_get(map, key);
	json_t *cell;

	if (offers == NULL) {
		offers = json_object();
		json_object_set_new(map, key, offers);
	}
	cell = offer != NULL ? json_object_get(offers, offer) : offers;
	if (offer != NULL && cell == NULL) {
		cell = json_pack("[ffff]", 0.0, 0.0, 0.0, 0.0);
		json_object_set_new(offers, offer, cell);
	}
	for (size_t i = 0; i < 4; i++)
		json_real_set(json_array_get(cell, i),
		              json_real_value(json_array_get(cell, i)) + add[i]);
}

static double cell_n(const json_t *cell)
{
	return json_real_value(json_array_get(cell, 0));
}

static double cell_value(const json_t *cell)
{
	double w = cell_n(cell) + json_real_value(json_array_get(cell, 2));

	if (w <= 0)
		return 0;
	return (json_real_value(json_array_get(cell, 1)) + json_real_value(json_array_get(cell, 3))) / w;
}

/* Rows: state_key, offer, n, reward_sum, prior_value, prior_weight. */
static int model_row(void *arg, int ncols, const char *const *vals)
{
	model_acc *m = arg;
	char part[CUSTOMER_STATE_KEY_MAX];
	const char *key = vals[0];
	const char *offer = vals[1];
	double pw = db_num(vals[5]);
	double add[4] = {db_num(vals[2]), db_num(vals[3]), pw, db_num(vals[4]) * pw};

	(void)ncols;
	if (key == NULL || offer == NULL)
		return 0;
	m->rows++;
	cell_add(m->states, key, offer, add);
	cell_add(m->offers, "all", offer, add);
	/* A state key is Segment_Month_Half_Weekday: each part is a feature of the state. */
	for (size_t i = 0; i < UTIL_ARRAY_LEN(model_parts) && *key != '\0'; i++) {
		size_t n = strcspn(key, "_");

		if (n >= sizeof(part))
			break;
		memcpy(part, key, n);
		part[n] = '\0';
		cell_add(m->parts[i], part, offer, add);
		key += n;
		if (*key == '_')
			key++;
	}
	return 0;
}

typedef struct ranked {
	const char *key;
	json_t *cell;
	double sort;
} ranked;

static int ranked_desc(const void *a, const void *b)
{
	double x = ((const ranked *)a)->sort;
	double y = ((const ranked *)b)->sort;

	if (x != y)
		return x < y ? 1 : -1;
	return strcmp(((const ranked *)a)->key, ((const ranked *)b)->key);
}

/*
 * The members of obj (key -> value) ranked by score(value, arg), highest
 * first, ties by key: every listing of the console is such a top-k. *n gets
 * the count; the caller frees the array (the keys and values stay obj's).
 */
static ranked *ranked_new(json_t *obj, double (*score)(json_t *v, const void *arg), const void *arg,
                          size_t *n)
{
	ranked *rk = xcalloc(json_object_size(obj) ? json_object_size(obj) : 1, sizeof(*rk));
	const char *key;
	json_t *v;
	size_t k = 0;

	json_object_foreach(obj, key, v) {
		rk[k].key = key;
		rk[k].cell = v;
		rk[k].sort = score(v, arg);
		k++;
	}
	qsort(rk, k, sizeof(*rk), ranked_desc);
	*n = k;
	return rk;
}

/* {"offer": offer, "name": its product name when the catalogue has one}: a new object. */
static json_t *offer_json(server *s, const char *company, const char *offer)
{
	char name[256];
	json_t *o = json_object();

	json_object_set_new(o, "offer", json_string(offer));
	if (api_product_name(s, company, offer, name, sizeof(name)))
		json_object_set_new(o, "name", json_string(name));
	return o;
}

static double by_value(json_t *cell, const void *arg)
{
	(void)arg;
	return cell_value(cell);
}

/* The observations over offers (offer -> cell). */
static double by_total(json_t *offers, const void *arg)
{
	double total = 0;
	const char *o;
	json_t *cell;

	(void)arg;
	json_object_foreach(offers, o, cell)
		total += cell_n(cell);
	return total;
}

/* offers (offer -> cell) as a list, best value first, with n and value. */
static json_t *offers_best(server *s, const char *company, json_t *offers, size_t max, double *total)
{
	size_t k;
	ranked *rk = ranked_new(offers, by_value, NULL, &k);
	json_t *a = json_array();

	*total = by_total(offers, NULL);
	for (size_t i = 0; i < k && i < max; i++) {
		json_t *o = offer_json(s, company, rk[i].key);

		json_object_set_new(o, "value", json_real(rk[i].sort));
		json_object_set_new(o, "n", json_real(cell_n(rk[i].cell)));
		json_array_append_new(a, o);
	}
	free(rk);
	return a;
}

/* map (key -> offer -> cell) as [{name: key, n, best}], the most observed first, at most max. */
static json_t *groups_json(server *s, const char *company, json_t *map, const char *name, size_t max)
{
	size_t k;
	ranked *rk = ranked_new(map, by_total, NULL, &k);
	json_t *a = json_array();

	for (size_t i = 0; i < k && i < max; i++) {
		double total;
		json_t *g = json_object();

		json_object_set_new(g, name, json_string(rk[i].key));
		json_object_set_new(g, "best",
		                    offers_best(s, company, rk[i].cell, CONSOLE_BEST, &total));
		json_object_set_new(g, "n", json_real(total));
		json_array_append_new(a, g);
	}
	free(rk);
	return a;
}

/* How the first-slot reward of each offer moved: per minute, rewards and their sum. */
typedef struct moved {
	console_window w;
	json_t *offers; /* offer -> [[n per minute], [sum per minute]] */
} moved;

/* Rows: first timestamp of the minute, offer shown first, rewards, their sum. */
static int moved_row(void *arg, int ncols, const char *const *vals)
{
	moved *m = arg;
	int64_t i = console_window_index(&m->w, vals[0]);
	json_t *x;

	(void)ncols;
	if (i < 0 || vals[1] == NULL)
		return 0;
	x = json_object_get(m->offers, vals[1]);
	if (x == NULL) {
		json_t *n = json_array();
		json_t *sum = json_array();

		for (int64_t k = 0; k < m->w.minutes; k++) {
			json_array_append_new(n, json_real(0));
			json_array_append_new(sum, json_real(0));
		}
		x = json_pack("[oo]", n, sum);
		json_object_set_new(m->offers, vals[1], x);
	}
	for (size_t c = 0; c < 2; c++) {
		json_t *v = json_array_get(json_array_get(x, c), (size_t)i);

		json_real_set(v, json_real_value(v) + db_num(vals[2 + c]));
	}
	return 0;
}

/* The rewards of an offer's [[n per minute], [sum per minute]] over arg's window. */
static double by_rewards(json_t *x, const void *arg)
{
	const moved *m = arg;
	double total = 0;

	for (int64_t i = 0; i < m->w.minutes; i++)
		total += json_real_value(json_array_get(json_array_get(x, 0), (size_t)i));
	return total;
}

/* The charted offers (the most rewarded), each with its running mean reward per minute. */
static json_t *moved_json(server *s, const char *company, moved *m)
{
	size_t k;
	ranked *rk = ranked_new(m->offers, by_rewards, m, &k);
	json_t *out = json_object();
	json_t *list = json_array();

	for (size_t i = 0; i < k && i < CONSOLE_MOVED_MAX; i++) {
		json_t *o = offer_json(s, company, rk[i].key);
		json_t *vals = json_array();
		json_t *counts = json_array();
		double cn = 0, cs = 0;

		for (int64_t t = 0; t < m->w.minutes; t++) {
			double dn = json_real_value(
			    json_array_get(json_array_get(rk[i].cell, 0), (size_t)t));

			cn += dn;
			cs += json_real_value(json_array_get(json_array_get(rk[i].cell, 1), (size_t)t));
			json_array_append_new(counts, json_integer((json_int_t)dn));
			json_array_append_new(vals, cn > 0 ? json_real(cs / cn) : json_null());
		}
		json_object_set_new(o, "rewards", counts);
		json_object_set_new(o, "value", vals);
		json_array_append_new(list, o);
	}
	free(rk);
	json_object_set_new(out, "minutes", json_integer((json_int_t)m->w.minutes));
	json_object_set_new(out, "time", console_times(&m->w));
	json_object_set_new(out, "offers", list);
	return out;
}

static json_t *console_weights(server *s, const char *company);

void api_console_model(server *s, http_req *r, const struct route *rt, const api_tenant *t)
{
	model_acc m;
	moved mv;
	int64_t minutes;
	int64_t scan = 0;
	json_t *j;
	json_t *features;
	json_t *all;
	json_t *weights = NULL;
	double total;
	int rc;

	(void)rt;
	if (console_query_int(r, "minutes", 1, CONSOLE_MINUTES_MAX, CONSOLE_MINUTES_DEFAULT, &minutes) !=
	    0)
		return;
	memset(&m, 0, sizeof(m));
	memset(&mv, 0, sizeof(mv));
	m.states = json_object();
	m.offers = json_object();
	for (size_t i = 0; i < UTIL_ARRAY_LEN(m.parts); i++)
		m.parts[i] = json_object();
	console_window_init(&mv.w, minutes);
	mv.offers = json_object();
	if (console_acquire(s, r) != 0)
		goto out;
	rc = db_console_policy(console_slot.s, t->company, CONSOLE_POLICY_ROWS_MAX, model_row, &m);
	if (rc == 0)
		rc = console_floor(1, &scan);
	if (rc == 0)
		rc = db_console_first_offer_rewards(console_slot.s, t->company, mv.w.from, scan,
		                                    moved_row, &mv);
	if (rc == 0) {
		weights = console_weights(s, t->company);
		if (weights == NULL)
			rc = ERR_IO;
	}
	j = console_answer(r, rc, "the model", t->company);
	if (j == NULL)
		goto out;
	json_object_set_new(j, "rows", json_integer((json_int_t)m.rows));
	json_object_set_new(j, "truncated", json_boolean(m.rows >= CONSOLE_POLICY_ROWS_MAX));
	all = json_object_get(m.offers, "all");
	json_object_set_new(j, "offers",
	                    all != NULL ? offers_best(s, t->company, all, SIZE_MAX, &total)
	                                : json_array());
	json_object_set_new(j, "states",
	                    groups_json(s, t->company, m.states, "state", CONSOLE_STATES_MAX));
	features = json_array();
	for (size_t i = 0; i < UTIL_ARRAY_LEN(model_parts); i++)
		json_array_append_new(features,
		                      json_pack("{ssso}", "feature", model_parts[i], "values",
		                                groups_json(s, t->company, m.parts[i], "value", 64)));
	json_object_set_new(j, "features", features);
	json_object_set_new(j, "moved", moved_json(s, t->company, &mv));
	json_object_set_new(j, "contextual", weights);
	weights = NULL;
	console_reply(r, j);
out:
	json_decref(m.states);
	json_decref(m.offers);
	for (size_t i = 0; i < UTIL_ARRAY_LEN(m.parts); i++)
		json_decref(m.parts[i]);
	json_decref(mv.offers);
	json_decref(weights);
}

/* --- explanations, computed now ----------------------------------------------------- */

/*
 * The console explains logged decisions on demand, with agent_explain over
 * the episode's stored request and the model as it is now (the answer says
 * "now": the model moved since the decision). Nothing is stored at decision
 * time, so the default /predict path pays nothing for the console. The
 * agent versions' configurations come from the server (champion and
 * challenger) or, for older versions, from tb_agents on the console's
 * connection.
 */
typedef struct console_confs {
	decide_arms arms;
	agent_conf extra[CONSOLE_CONFS_MAX];
	unsigned char unknown[CONSOLE_CONFS_MAX]; /* tb_agents has no such version */
	size_t nextra;
} console_confs;

static void console_confs_init(server *s, console_confs *c)
{
	memset(c, 0, sizeof(*c));
	server_arms(s, &c->arms);
}

/* The configuration of version, or NULL when it cannot be had. Called with the connection held. */
static const agent_conf *console_conf(server *s, console_confs *c, const char *version)
{
	db_agent a;
	char err[128];
	agent_conf *out;
	int rc;

	if (version == NULL)
		return NULL;
	if (strcmp(c->arms.champion.version, version) == 0)
		return &c->arms.champion;
	if (c->arms.x.challenger[0] != '\0' && strcmp(c->arms.challenger.version, version) == 0)
		return &c->arms.challenger;
	for (size_t i = 0; i < c->nextra; i++) {
		if (strcmp(c->extra[i].version, version) == 0)
			return c->unknown[i] ? NULL : &c->extra[i];
	}
	if (c->nextra == CONSOLE_CONFS_MAX)
		return NULL;
	out = &c->extra[c->nextra++];
	memset(&a, 0, sizeof(a));
	rc = db_agent_by_version(console_slot.s, version, &a);
	if (rc == 0)
		rc = agent_conf_from_db(&a, out, err, sizeof(err));
	db_agent_clear(&a);
	if (rc != 0) {
		memset(out, 0, sizeof(*out));
		util_strlcpy(out->version, version, sizeof(out->version));
		c->unknown[c->nextra - 1] = 1;
		return NULL;
	}
	out->models = s->models;
	return out;
}

/*
 * Rebuilds the request of a logged episode: its customer, timestamp and
 * states, and as offers the eligible set decide recorded (the shown offers
 * when none was). rfm becomes the segment the decision used when it was
 * not the demographic one (model_episode_context's reading). Returns 0 or
 * ERR_INVAL.
 */
static int console_episode_req(json_t *ep, predict_req *req, char rfm[CUSTOMER_SEGMENT_MAX],
                               const char **rfmp)
{
	const char *offers[REQ_OFFERS_MAX];
	unsigned char allowed[REQ_OFFERS_MAX];
	json_t *elig = json_object_get(json_object_get(ep, "eligibility"), "eligible");
	json_t *shown = json_object_get(ep, "shown");
	json_t *states = json_object_get(ep, "states");
	const char *key = json_string_value(json_object_get(ep, "state_key"));
	char demo[CUSTOMER_SEGMENT_MAX];
	req_error e;
	size_t n = 0;
	size_t i;
	json_t *v;

	if (!json_is_object(states) || key == NULL)
		return ERR_INVAL;
	json_array_foreach(shown, i, v) {
		if (n < REQ_OFFERS_MAX)
			offers[n++] = json_string_value(json_object_get(v, "offer"));
	}
	json_array_foreach(elig, i, v) {
		size_t k = 0;

		if (!json_is_string(v))
			continue;
		while (k < n && strcmp(offers[k], json_string_value(v)) != 0)
			k++;
		if (k == n && n < REQ_OFFERS_MAX)
			offers[n++] = json_string_value(v);
	}
	for (i = 0; i < n; i++) {
		if (offers[i] == NULL)
			return ERR_INVAL;
		allowed[i] = 1;
	}
	if (n == 0 || json_object_get(ep, "customer_id") == NULL ||
	    json_string_value(json_object_get(ep, "request_timestamp")) == NULL ||
	    request_predict_from_row(json_string_value(json_object_get(ep, "customer_id")),
	                             json_string_value(json_object_get(ep, "request_timestamp")), states,
	                             offers, allowed, n, req, &e) != 0)
		return ERR_INVAL;
	customer_segment(&req->customer, NULL, demo, sizeof(demo));
	customer_state_segment(key, rfm, CUSTOMER_SEGMENT_MAX);
	*rfmp = strcmp(rfm, demo) != 0 ? rfm : NULL;
	return 0;
}

static json_t *explanation_offer_json(const char *offer, const policy_explanation *x)
{
	json_t *o = json_object();
	json_t *top = json_array();

	json_object_set_new(o, "offer", json_string(offer));
	json_object_set_new(o, "score", json_real(x->score));
	json_object_set_new(o, "uncertainty", json_real(x->uncertainty));
	json_object_set_new(o, "explored", json_boolean(x->explored));
	if (x->tabular) {
		json_object_set_new(o, "value", json_real(x->value));
		json_object_set_new(o, "count", json_real(x->count));
	}
	for (size_t f = 0; f < x->ntop; f++)
		json_array_append_new(top, json_pack("{s:s,s:f}", "name", x->top[f].name, "weight",
		                                     x->top[f].weight));
	json_object_set_new(o, "top_features", top);
	return o;
}

/*
 * Sets ep's "explanation_now": agent_explain of its shown slate with its
 * version's configuration and the model now, or {"error": why}. Called
 * with the connection held.
 */
static void console_explain_episode(server *s, console_confs *cc, const char *company, json_t *ep)
{
	predict_req *req = xcalloc(1, sizeof(*req));
	policy_explanation ex[OFFERS_SHOWN];
	agent_decision dec;
	const agent_conf *conf;
	const char *rfm = NULL;
	char seg[CUSTOMER_SEGMENT_MAX];
	json_t *shown = json_object_get(ep, "shown");
	json_t *out = json_object();
	json_t *list = json_array();
	const char *why = NULL;

	conf = console_conf(s, cc, json_string_value(json_object_get(ep, "agent_version")));
	if (conf == NULL) {
		why = "the episode's agent version is unknown";
		goto out;
	}
	if (console_episode_req(ep, req, seg, &rfm) != 0) {
		why = "the episode's request cannot be rebuilt";
		goto out;
	}
	memset(&dec, 0, sizeof(dec));
	for (size_t k = 0; k < json_array_size(shown) && k < OFFERS_SHOWN; k++) {
		json_t *o = json_array_get(shown, k);
		const char *offer = json_string_value(json_object_get(o, "offer"));
		size_t i = 0;

		while (i < req->n_offers && strcmp(req->offers[i], offer) != 0)
			i++;
		if (i == req->n_offers)
			break;
		dec.idx[dec.n] = i;
		dec.propensity[dec.n] = json_number_value(json_object_get(o, "propensity"));
		dec.n++;
	}
	customer_state_segment(json_string_value(json_object_get(ep, "state_key")), dec.segment,
	                       sizeof(dec.segment));
	util_strlcpy(dec.state_key, json_string_value(json_object_get(ep, "state_key")),
	             sizeof(dec.state_key));
	memset(ex, 0, sizeof(ex));
	if (dec.n == 0 || agent_explain(conf, s->vals, company, req, rfm, &dec, ex) != 0) {
		why = "the policy cannot explain this slate";
		goto out;
	}
	for (size_t k = 0; k < dec.n; k++)
		json_array_append_new(list, explanation_offer_json(req->offers[dec.idx[k]], &ex[k]));
out:
	json_object_set_new(out, "as_of", json_string("now"));
	json_object_set_new(out, "policy",
	                    json_string(conf != NULL ? agent_policy_name(conf->policy) : ""));
	if (why != NULL)
		json_object_set_new(out, "error", json_string(why));
	json_object_set_new(out, "offers", list);
	json_object_set_new(ep, "explanation_now", out);
	request_predict_free(req);
	free(req);
}

/* --- GET /console/api/episodes ---------------------------------------------------- */

typedef struct episodes {
	server *s;
	const char *company;
	json_t *list;
} episodes;

/* JSON text parsed, or the text itself when it is not JSON (NULL: null). */
static json_t *json_or_text(const char *text)
{
	json_t *j;

	if (text == NULL)
		return json_null();
	j = json_loads(text, JSON_DECODE_ANY, NULL);
	if (j == NULL)
		j = json_string(text);
	return j != NULL ? j : json_null();
}

static json_t *num_or_null(const char *v)
{
	return v != NULL ? json_real(db_num(v)) : json_null();
}

static const char *const level_names[] = {"state", "segment", "company", "none"};

/*
 * Rows: id, customer_id, states, state_key, policy, agent_version, epsilon,
 * offer 1..3, propensity 1..3, request_timestamp, last_update, rewarded,
 * accepted, accepted_offer_id, reward 1..3, source, eligibility (db_console_episodes).
 */
static int episode_row(void *arg, int ncols, const char *const *vals)
{
	episodes *e = arg;
	json_t *j = json_object();
	json_t *shown = json_array();
	json_t *expl = json_array();
	const char *offers[OFFERS_SHOWN];
	vstats st[OFFERS_SHOWN];
	int level[OFFERS_SHOWN];
	char segment[CUSTOMER_SEGMENT_MAX];
	size_t n = 0;
	int64_t id = 0;

	(void)ncols;
	if (vals[0] != NULL)
		util_strtonum(vals[0], 0, INT64_MAX, &id);
	json_object_set_new(j, "id", json_integer((json_int_t)id));
	json_object_set_new(j, "customer_id", vals[1] ? json_string(vals[1]) : json_null());
	json_object_set_new(j, "time", vals[14] ? json_string(vals[14]) : json_null());
	json_object_set_new(j, "request_timestamp", vals[13] ? json_string(vals[13]) : json_null());
	json_object_set_new(j, "state_key", vals[3] ? json_string(vals[3]) : json_null());
	json_object_set_new(j, "policy", vals[4] ? json_string(vals[4]) : json_null());
	json_object_set_new(j, "agent_version", vals[5] ? json_string(vals[5]) : json_null());
	json_object_set_new(j, "epsilon", num_or_null(vals[6]));
	json_object_set_new(j, "states", json_or_text(vals[2]));
	segment[0] = '\0';
	if (vals[3] != NULL)
		customer_state_segment(vals[3], segment, sizeof(segment));
	for (size_t i = 0; i < OFFERS_SHOWN; i++) {
		if (vals[7 + i] == NULL)
			break;
		offers[n++] = vals[7 + i];
	}
	/* The explanation a logged decision can still be given: the learned value
	 * of each shown offer in its state now, and where it came from. */
	if (n > 0 && vals[3] != NULL)
		values_lookup(e->s->vals, e->company, vals[3], segment, offers, n, st, level);
	for (size_t i = 0; i < n; i++) {
		char name[256];
		json_t *o = json_object();

		json_object_set_new(o, "offer", json_string(offers[i]));
		if (api_product_name(e->s, e->company, offers[i], name, sizeof(name)))
			json_object_set_new(o, "name", json_string(name));
		json_object_set_new(o, "propensity", num_or_null(vals[10 + i]));
		json_array_append_new(shown, o);
		if (vals[3] == NULL)
			continue;
		o = json_object();
		json_object_set_new(o, "offer", json_string(offers[i]));
		json_object_set_new(o, "value", json_real(values_mean(&st[i], 0)));
		json_object_set_new(o, "n", json_real(st[i].n));
		json_object_set_new(o, "from",
		                    json_string(
		                        level_names[level[i] < 0 || level[i] > 3 ? 3 : level[i]]));
		json_array_append_new(expl, o);
	}
	json_object_set_new(j, "shown", shown);
	json_object_set_new(j, "explanation", expl);
	if (vals[15] != NULL && db_bool(vals[15])) {
		json_t *rw = json_object();

		json_object_set_new(rw, "accepted", json_boolean(vals[16] != NULL && db_bool(vals[16])));
		json_object_set_new(rw, "accepted_offer",
		                    vals[17] ? json_string(vals[17]) : json_null());
		json_object_set_new(rw, "rewards",
		                    json_pack("[ooo]", num_or_null(vals[18]), num_or_null(vals[19]),
		                              num_or_null(vals[20])));
		json_object_set_new(rw, "source", vals[21] ? json_string(vals[21]) : json_null());
		json_object_set_new(j, "reward", rw);
	} else {
		json_object_set_new(j, "reward", json_null());
	}
	json_object_set_new(j, "eligibility", json_or_text(vals[22]));
	json_array_append_new(e->list, j);
	return 0;
}

void api_console_episodes(server *s, http_req *r, const struct route *rt, const api_tenant *t)
{
	episodes e;
	int64_t limit;
	int64_t scan = 0;
	json_t *j;
	int rc;

	(void)rt;
	if (console_query_int(r, "limit", 1, CONSOLE_EPISODES_MAX, CONSOLE_EPISODES_DEFAULT, &limit) !=
	    0)
		return;
	memset(&e, 0, sizeof(e));
	e.s = s;
	e.company = t->company;
	e.list = json_array();
	if (console_acquire(s, r) != 0)
		goto out;
	rc = console_floor(0, &scan);
	if (rc == 0)
		rc = db_console_episodes(console_slot.s, t->company, limit, scan, episode_row, &e);
	if (rc == 0) {
		console_confs *cc = xmalloc(sizeof(*cc));
		size_t i;
		json_t *ep;

		console_confs_init(s, cc);
		json_array_foreach(e.list, i, ep)
			console_explain_episode(s, cc, t->company, ep);
		free(cc);
	}
	j = console_answer(r, rc, "the episodes", t->company);
	if (j == NULL)
		goto out;
	json_object_set_new(j, "limit", json_integer((json_int_t)limit));
	json_object_set_new(j, "eligibility_recorded", json_true());
	json_object_set_new(j, "episodes", e.list);
	e.list = NULL;
	console_reply(r, j);
out:
	json_decref(e.list);
}

/* --- the contextual models' feature weights (GET /console/api/model) ------------------ */

/*
 * A contextual model's weights are hashed (feat.h): a weight has no name
 * until a context gives it one. So the console weighs the features of real
 * customers: for the latest CONSOLE_WEIGHT_EPISODES decisions, every offer
 * of the episode's eligible set is explained (agent_explain, the model now)
 * as if shown first, and per offer the features' contributions (posterior
 * mean weight x value) are averaged over those contexts; the heaviest are
 * listed, with the offer's mean score.
 */
typedef struct weights_acc {
	json_t *offers; /* offer -> {"n": contexts, "score": sum, "f": {name -> sum}} */
	size_t episodes;
} weights_acc;

static void weights_add(weights_acc *w, const char *offer, const policy_explanation *x)
{
	json_t *o = json_object_get(w->offers, offer);
	json_t *f;

	if (o == NULL) {
		o = json_pack("{s:f,s:f,s:o}", "n", 0.0, "score", 0.0, "f", json_object());
		json_object_set_new(w->offers, offer, o);
	}
	json_object_set_new(o, "n", json_real(json_real_value(json_object_get(o, "n")) + 1));
	json_object_set_new(o, "score",
	                    json_real(json_real_value(json_object_get(o, "score")) + x->score));
	f = json_object_get(o, "f");
	for (size_t i = 0; i < x->ntop; i++) {
		json_t *v = json_object_get(f, x->top[i].name);

		json_object_set_new(f, x->top[i].name,
		                    json_real((v != NULL ? json_real_value(v) : 0) + x->top[i].weight));
	}
}

static double abs_double(double v)
{
	return v < 0 ? -v : v;
}

/* The accumulated offers as [{offer, name, score, contexts, features: [{name, weight}]}], best score first. */
/* An offer's mean score over the contexts it was scored in. */
static double by_score(json_t *o, const void *arg)
{
	(void)arg;
	return json_real_value(json_object_get(o, "score")) / json_real_value(json_object_get(o, "n"));
}

/* A feature's mean weight over arg's count of contexts, by size whatever its sign. */
static double by_weight(json_t *v, const void *arg)
{
	return abs_double(json_real_value(v) / *(const double *)arg);
}

static json_t *weights_json(server *s, const char *company, weights_acc *w)
{
	size_t k;
	ranked *rk = ranked_new(w->offers, by_score, NULL, &k);
	json_t *list = json_array();

	for (size_t i = 0; i < k; i++) {
		double cnt = json_real_value(json_object_get(rk[i].cell, "n"));
		size_t m;
		ranked *fr = ranked_new(json_object_get(rk[i].cell, "f"), by_weight, &cnt, &m);
		json_t *feats = json_array();
		json_t *x;

		for (size_t q = 0; q < m && q < CONSOLE_WEIGHT_TOP; q++)
			json_array_append_new(feats, json_pack("{s:s,s:f}", "name", fr[q].key, "weight",
			                                       json_real_value(fr[q].cell) / cnt));
		free(fr);
		x = offer_json(s, company, rk[i].key);
		json_object_set_new(x, "score", json_real(rk[i].sort));
		json_object_set_new(x, "contexts", json_integer((json_int_t)cnt));
		json_object_set_new(x, "features", feats);
		json_array_append_new(list, x);
	}
	free(rk);
	return list;
}

/* One contextual version's weights over the episodes in eps. */
static json_t *weights_version(server *s, const char *company, const agent_conf *conf, json_t *eps)
{
	weights_acc w;
	predict_req *req = xcalloc(1, sizeof(*req));
	json_t *out;
	size_t i;
	json_t *ep;

	w.offers = json_object();
	w.episodes = 0;
	json_array_foreach(eps, i, ep) {
		const char *rfm = NULL;
		char seg[CUSTOMER_SEGMENT_MAX];
		const char *key = json_string_value(json_object_get(ep, "state_key"));
		agent_decision dec;
		policy_explanation x;

		if (console_episode_req(ep, req, seg, &rfm) != 0)
			continue;
		w.episodes++;
		memset(&dec, 0, sizeof(dec));
		customer_state_segment(key, dec.segment, sizeof(dec.segment));
		util_strlcpy(dec.state_key, key, sizeof(dec.state_key));
		dec.n = 1;
		for (size_t k = 0; k < req->n_offers; k++) {
			dec.idx[0] = k;
			dec.propensity[0] = 1;
			memset(&x, 0, sizeof(x));
			if (agent_explain(conf, s->vals, company, req, rfm, &dec, &x) == 0)
				weights_add(&w, req->offers[k], &x);
		}
		request_predict_free(req);
	}
	free(req);
	out = json_object();
	json_object_set_new(out, "version", json_string(conf->version));
	json_object_set_new(out, "policy", json_string(agent_policy_name(conf->policy)));
	json_object_set_new(out, "episodes", json_integer((json_int_t)w.episodes));
	json_object_set_new(out, "offers", weights_json(s, company, &w));
	json_decref(w.offers);
	return out;
}

/*
 * The feature weights of the contextual versions deciding now (champion,
 * challenger or shadow) as a list, [] when none is contextual; NULL when
 * the episodes cannot be read. Called with the connection held.
 */
static json_t *console_weights(server *s, const char *company)
{
	decide_arms arms;
	const agent_conf *confs[2];
	size_t nconfs = 0;
	episodes e;
	int64_t scan = 0;
	json_t *out = json_array();
	int rc;

	server_arms(s, &arms);
	if (agent_policy_contextual(arms.champion.policy))
		confs[nconfs++] = &arms.champion;
	if (arms.x.challenger[0] != '\0' && agent_policy_contextual(arms.challenger.policy))
		confs[nconfs++] = &arms.challenger;
	if (nconfs == 0)
		return out;
	memset(&e, 0, sizeof(e));
	e.s = s;
	e.company = company;
	e.list = json_array();
	rc = console_floor(0, &scan);
	if (rc == 0)
		rc = db_console_episodes(console_slot.s, company, CONSOLE_WEIGHT_EPISODES, scan,
		                         episode_row, &e);
	if (rc != 0) {
		json_decref(e.list);
		json_decref(out);
		return NULL;
	}
	for (size_t i = 0; i < nconfs; i++)
		json_array_append_new(out, weights_version(s, company, confs[i], e.list));
	json_decref(e.list);
	return out;
}
