/*
 * export.c — the decision log in DSJSON or CSV, one page of rows at a time
 * (see export.h for why pages rather than one long statement).
 *
 * DSJSON, one JSON object per line per episode, the fields Vowpal Wabbit's
 * --dsjson parser and Personalizer's log tools read:
 *   _label_cost          -reward of the first shown offer (0 when no reward came)
 *   _label_probability   propensity_1: the chance the policy had of putting
 *                        that offer first
 *   _label_Action        1 (the chosen action is the first of "a")
 *   _labelIndex          0 (its index in c._multi)
 *   o                    [{"v": reward, "EventId", "ActionTaken": false}] when rewarded
 *   Timestamp            the episode's write time, UTC
 *   Version              "1"
 *   EventId              the episode id
 *   a                    [1, 2, 3]: the shown offers in slot order (1-based
 *                        indices into c._multi)
 *   c                    {"Customer": {"id"}, "State": the request's states,
 *                         "_multi": [{"Offer": {"id": "OFFER_4"}}, ...]}
 *   p                    [propensity_1, propensity_2, propensity_3]: slot k's
 *                        propensity is conditional on the slots before it
 *   VWState              {"m": the agent version that decided}
 *   _original_label_cost the same as _label_cost (no cost was rewritten)
 * The actions are the offers shown, not the whole catalogue: an episode
 * records only those. An episode without a logged propensity has
 * "_skipLearn": true and no label fields.
 *
 * CSV (RFC 4180, CRLF), one row per shown slot, Open Bandit Pipeline's
 * columns first: timestamp, episode_id, customer_id, position (0-based
 * slot), item_id, pscore, reward, rewarded, accepted, request_timestamp,
 * state_key, policy, agent_version, context (the states as JSON text).
 */
#include "export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "csvout.h"
#include "customer.h"
#include "date.h"
#include "db.h"
#include "util.h"

/* page_row's "stop the page here", a positive code no ERR_* takes. */
#define PAGE_FULL 1

struct export_cursor {
	store *s;
	export_opts o;
	int64_t last_id;
	int64_t episodes;
	int64_t page_rows;
	int header_done;
	int done;
	int rc; /* the first formatting error of a page */
	buf out;
};

/* The page's columns, in db_decisions_page's order. */
enum {
	COL_ID,
	COL_CUSTOMER,
	COL_STATES,
	COL_OFFER_1,
	COL_PROP_1 = COL_OFFER_1 + OFFERS_SHOWN,
	COL_WRITTEN = COL_PROP_1 + OFFERS_SHOWN,
	COL_REQUEST_TS,
	COL_STATE_KEY,
	COL_POLICY,
	COL_VERSION,
	COL_REWARD_ID,
	COL_ACCEPTED,
	COL_ACCEPTED_OFFER,
	COL_REWARD_1,
	COL_NCOLS = COL_REWARD_1 + OFFERS_SHOWN,
};

int export_parse_format(const char *s, enum export_format *out)
{
	if (s != NULL && strcmp(s, "dsjson") == 0) {
		*out = EXPORT_DSJSON;
		return 0;
	}
	if (s != NULL && strcmp(s, "csv") == 0) {
		*out = EXPORT_CSV;
		return 0;
	}
	return ERR_INVAL;
}

const char *export_content_type(enum export_format f)
{
	return f == EXPORT_CSV ? "text/csv; charset=utf-8" : "application/x-ndjson";
}

int export_iso_utc(const char *ts, char out[32])
{
	int64_t t;
	int ms;

	util_strlcpy(out, ts != NULL ? ts : "", 32);
	if (date_stamp_parse(ts, &t, &ms) != 0)
		return ERR_INVAL;
	date_stamp_format(t, ms, out);
	return 0;
}

/* Slot k's reward: the writer's score, else whether it was the accepted offer. */
static double slot_reward(const char *const *vals, int k)
{
	const char *offer = vals[COL_OFFER_1 + k];
	int accepted;

	if (vals[COL_REWARD_ID] == NULL)
		return 0;
	if (vals[COL_REWARD_1 + k] != NULL)
		return db_num(vals[COL_REWARD_1 + k]);
	accepted = db_bool(vals[COL_ACCEPTED]);
	if (!accepted)
		return 0;
	if (vals[COL_ACCEPTED_OFFER] == NULL)
		return k == 0;
	return offer != NULL && strcmp(offer, vals[COL_ACCEPTED_OFFER]) == 0;
}

static int json_to_buf(const char *data, size_t size, void *arg)
{
	return buf_add(arg, data, size) == 0 ? 0 : -1;
}

/* The request's states as a JSON object; anything else becomes {"raw": text}. */
static json_t *states_object(const char *text)
{
	json_t *j = text != NULL ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;

	if (json_is_object(j))
		return j;
	json_decref(j);
	return json_pack("{s:s}", "raw", text != NULL ? text : "");
}

static int dsjson_row(export_cursor *c, const char *const *vals, const char *ts)
{
	json_t *line = json_object();
	json_t *ctx = json_object();
	json_t *multi = json_array();
	json_t *a = json_array();
	json_t *p = json_array();
	int rewarded = vals[COL_REWARD_ID] != NULL;
	int has_prop = vals[COL_PROP_1] != NULL;
	double reward = slot_reward(vals, 0);
	double cost = reward != 0 ? -reward : 0; /* no "-0.0" */
	int rc = 0;

	for (int k = 0; k < OFFERS_SHOWN && vals[COL_OFFER_1 + k] != NULL; k++) {
		json_array_append_new(multi,
		                      json_pack("{s:{s:s}}", "Offer", "id", vals[COL_OFFER_1 + k]));
		json_array_append_new(a, json_integer(k + 1));
		json_array_append_new(p, vals[COL_PROP_1 + k] != NULL
		                             ? json_real(db_num(vals[COL_PROP_1 + k]))
		                             : json_null());
	}
	/* Tools find a log line by its first key, so the label comes first. */
	if (has_prop) {
		json_object_set_new(line, "_label_cost", json_real(cost));
		json_object_set_new(line, "_label_probability", json_real(db_num(vals[COL_PROP_1])));
		json_object_set_new(line, "_label_Action", json_integer(1));
		json_object_set_new(line, "_labelIndex", json_integer(0));
	} else {
		json_object_set_new(line, "_skipLearn", json_true());
	}
	if (rewarded)
		json_object_set_new(line, "o",
		                    json_pack("[{s:f,s:s,s:b}]", "v", reward, "EventId", vals[COL_ID],
		                              "ActionTaken", 0));
	json_object_set_new(line, "Timestamp", json_string(ts));
	json_object_set_new(line, "Version", json_string("1"));
	json_object_set_new(line, "EventId", json_string(vals[COL_ID]));
	json_object_set_new(line, "a", a);
	json_object_set_new(ctx, "Customer",
	                    json_pack("{s:s}", "id", vals[COL_CUSTOMER] ? vals[COL_CUSTOMER] : ""));
	json_object_set_new(ctx, "State", states_object(vals[COL_STATES]));
	json_object_set_new(ctx, "_multi", multi);
	json_object_set_new(line, "c", ctx);
	json_object_set_new(line, "p", p);
	json_object_set_new(line, "VWState",
	                    json_pack("{s:s}", "m", vals[COL_VERSION] ? vals[COL_VERSION] : ""));
	if (has_prop)
		json_object_set_new(line, "_original_label_cost", json_real(cost));
	if (json_dump_callback(line, json_to_buf, &c->out, JSON_COMPACT) != 0 ||
	    buf_add(&c->out, "\n", 1) != 0)
		rc = ERR_TOOBIG;
	json_decref(line);
	return rc;
}

/* A number field; NULL writes an empty field. */
static int csv_num(buf *b, const char *v)
{
	if (v == NULL)
		return buf_adds(b, ",");
	return buf_addf(b, ",%.17g", db_num(v));
}

static int csv_text(buf *b, const char *v)
{
	int rc = buf_adds(b, ",");

	return rc == 0 ? csv_write_field(b, v) : rc;
}

static int csv_rows(export_cursor *c, const char *const *vals, const char *ts)
{
	buf *b = &c->out;
	int rc = 0;

	for (int k = 0; k < OFFERS_SHOWN && vals[COL_OFFER_1 + k] != NULL && rc == 0; k++) {
		rc = csv_write_field(b, ts);
		rc = rc == 0 ? buf_addf(b, ",%s", vals[COL_ID]) : rc;
		rc = rc == 0 ? csv_text(b, vals[COL_CUSTOMER]) : rc;
		rc = rc == 0 ? buf_addf(b, ",%d", k) : rc;
		rc = rc == 0 ? csv_text(b, vals[COL_OFFER_1 + k]) : rc;
		rc = rc == 0 ? csv_num(b, vals[COL_PROP_1 + k]) : rc;
		rc = rc == 0
		         ? buf_addf(b, ",%.17g,%d,%d", slot_reward(vals, k), vals[COL_REWARD_ID] != NULL,
		                    vals[COL_REWARD_ID] != NULL && db_bool(vals[COL_ACCEPTED]))
		         : rc;
		rc = rc == 0 ? csv_text(b, vals[COL_REQUEST_TS]) : rc;
		rc = rc == 0 ? csv_text(b, vals[COL_STATE_KEY]) : rc;
		rc = rc == 0 ? csv_text(b, vals[COL_POLICY]) : rc;
		rc = rc == 0 ? csv_text(b, vals[COL_VERSION]) : rc;
		rc = rc == 0 ? csv_text(b, vals[COL_STATES]) : rc;
		rc = rc == 0 ? buf_adds(b, "\r\n") : rc;
	}
	return rc;
}

static int page_row(void *arg, int ncols, const char *const *vals)
{
	export_cursor *c = arg;
	char ts[32];
	int rc;

	if (ncols < COL_NCOLS || vals[COL_ID] == NULL)
		return ERR_IO;
	util_strtonum(vals[COL_ID], 0, INT64_MAX, &c->last_id);
	c->page_rows++;
	if (c->rc != 0)
		return 0; /* the buffer is gone: count the rows, write nothing */
	export_iso_utc(vals[COL_WRITTEN], ts);
	rc = c->o.format == EXPORT_CSV ? csv_rows(c, vals, ts) : dsjson_row(c, vals, ts);
	if (rc != 0) {
		c->rc = rc;
		return 0;
	}
	c->episodes++;
	/* Enough for one chunk: the page ends here and the next starts after this episode. */
	return c->out.len >= EXPORT_CHUNK_SOFT ? PAGE_FULL : 0;
}

int export_open(store *s, const export_opts *o, export_cursor **out)
{
	export_cursor *c = xcalloc(1, sizeof(*c));

	c->s = s;
	c->o = *o;
	buf_init(&c->out, EXPORT_CHUNK_MAX);
	*out = c;
	return 0;
}

int export_next(export_cursor *c, const char **data, size_t *len)
{
	int rc;

	buf_reset(&c->out);
	*data = "";
	*len = 0;
	if (!c->header_done) {
		c->header_done = 1;
		if (c->o.format == EXPORT_CSV &&
		    buf_adds(&c->out, "timestamp,episode_id,customer_id,position,item_id,pscore,reward,"
		                      "rewarded,accepted,request_timestamp,state_key,policy,"
		                      "agent_version,context\r\n") != 0)
			return ERR_TOOBIG;
	}
	if (!c->done) {
		c->page_rows = 0;
		c->rc = 0;
		rc = db_decisions_page(c->s, c->o.company, c->last_id, c->o.w.from, c->o.w.to,
		                       EXPORT_PAGE, page_row, c);
		if (rc == PAGE_FULL)
			rc = 0;
		else if (rc == 0 && c->page_rows < EXPORT_PAGE)
			c->done = 1;
		if (rc == 0)
			rc = c->rc;
		if (rc != 0)
			return rc;
	}
	*data = c->out.data != NULL ? c->out.data : "";
	*len = c->out.len;
	return 0;
}

int64_t export_episodes(const export_cursor *c)
{
	return c->episodes;
}

void export_free(export_cursor *c)
{
	if (c == NULL)
		return;
	buf_free(&c->out);
	free(c);
}

int export_count(store *s, const export_opts *o, int64_t *out)
{
	return db_decisions_count(s, o->company, o->w.from, o->w.to, out);
}
