/*
 * fuzz_personalizer.c — libFuzzer driver for the Personalizer v1.0 wire
 * format (personalizer.c): every body parser (rank, multi-slot rank,
 * reward, multi-slot reward, activate, service configuration, policy,
 * evaluation, model import), the path router, durations and times.
 *
 * Every parser sees every input. Beyond "no crash, no leak, no UB" the
 * driver checks the contract the endpoints rely on: an accepted body
 * satisfies the documented limits (counts, ids, ranges, exclusions), and a
 * rejection always carries a 4xx status, a code and a message, and leaves
 * nothing to free.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"
#include "fuzz.h"
#include "personalizer.h"
#include "util.h"

static void check_error(int rc, const pz_error *e)
{
	if (rc >= 0 || e->status < 400 || e->status > 499 || e->code == NULL || e->message[0] == '\0')
		abort();
	if (memchr(e->target, '\0', sizeof(e->target)) == NULL ||
	    memchr(e->message, '\0', sizeof(e->message)) == NULL)
		abort();
}

static void check_id(const char *id, size_t len)
{
	if (id == NULL || len == 0 || len > PZ_ID_BYTES_MAX || strlen(id) != len)
		abort();
}

static void check_actions(const pz_action *a, size_t n)
{
	if (n == 0 || n > PZ_ACTIONS_MAX)
		abort();
	for (size_t i = 0; i < n; i++) {
		check_id(a[i].id, a[i].id_len);
		if (!json_is_array(a[i].features) || json_array_size(a[i].features) == 0)
			abort();
		for (size_t j = 0; j < i; j++) {
			if (a[j].id_len == a[i].id_len && memcmp(a[j].id, a[i].id, a[i].id_len) == 0)
				abort();
		}
	}
}

/* The lean parse (the API's) agrees with pz_rank_parse: the same rank or the same error. */
static void check_lean(const char *body, size_t size, int rc, const pz_rank_req *r, const pz_error *e)
{
	pz_rank_req l;
	pz_error le;
	int lrc = pz_rank_parse_lean(body, size, &l, &le);

	if ((rc == 0) != (lrc == 0))
		abort();
	if (rc != 0) {
		if (rc != lrc || e->status != le.status || e->inner != le.inner ||
		    strcmp(e->message, le.message) != 0 || strcmp(e->target, le.target) != 0 ||
		    l.root != NULL)
			abort();
		return;
	}
	if (l.n_actions != r->n_actions || l.n_allowed != r->n_allowed ||
	    strcmp(l.event_id, r->event_id) != 0 || l.defer_activation != r->defer_activation ||
	    !json_equal(l.context, r->context))
		abort();
	for (size_t i = 0; i < r->n_actions; i++) {
		if (l.actions[i].id_len != r->actions[i].id_len ||
		    strcmp(l.actions[i].id, r->actions[i].id) != 0 ||
		    l.actions[i].excluded != r->actions[i].excluded)
			abort();
	}
	pz_rank_free(&l);
}

static void fuzz_rank(const char *body, size_t size)
{
	pz_rank_req r;
	pz_error e;
	size_t allowed = 0;
	int rc = pz_rank_parse(body, size, &r, &e);

	check_lean(body, size, rc, &r, &e);

	if (rc != 0) {
		check_error(rc, &e);
		if (r.root != NULL)
			abort();
		return;
	}
	check_actions(r.actions, r.n_actions);
	for (size_t i = 0; i < r.n_actions; i++)
		allowed += !r.actions[i].excluded;
	if (allowed != r.n_allowed || allowed == 0 || !json_is_array(r.context))
		abort();
	if (r.event_id[0] != '\0' &&
	    pz_event_id_check(r.event_id, strlen(r.event_id), PZ_INVALID_RANK, &e) != 0)
		abort();
	{
		/* The answer for this request, written by hand, is what jansson writes (its ids
		 * through buf_add_json). */
		pz_ranked ranking[PZ_ACTIONS_MAX];
		json_t *list = json_array();
		json_t *want_j;
		char *want;
		char *s;

		for (size_t i = 0; i < r.n_actions; i++) {
			ranking[i].id = r.actions[i].id;
			ranking[i].probability = r.actions[i].excluded ? 0 : 1.0 / (double)r.n_allowed;
			json_array_append_new(list, json_pack("{s:s, s:f}", "id", ranking[i].id,
			                                      "probability", ranking[i].probability));
		}
		want_j = json_pack("{s:o, s:s, s:s}", "ranking", list, "eventId", "e", "rewardActionId",
		                   r.actions[0].id);
		want = json_dumps(want_j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
		s = pz_rank_answer_json(ranking, r.n_actions, "e", r.actions[0].id);
		if (want == NULL || s == NULL || strcmp(s, want) != 0)
			abort();
		free(want);
		json_decref(want_j);
		free(s);
	}
	pz_rank_free(&r);
}

static void fuzz_multi_rank(const char *body, size_t size)
{
	pz_multi_rank_req r;
	pz_error e;
	int rc = pz_multi_rank_parse(body, size, &r, &e);

	if (rc != 0) {
		check_error(rc, &e);
		if (r.root != NULL)
			abort();
		return;
	}
	check_actions(r.actions, r.n_actions);
	if (r.n_slots == 0 || r.n_slots > r.n_actions || r.n_slots > PZ_SLOTS_MAX)
		abort();
	for (size_t i = 0; i < r.n_slots; i++) {
		check_id(r.slots[i].id, r.slots[i].id_len);
		if (r.slots[i].baseline >= r.n_actions || r.slots[i].excluded[r.slots[i].baseline])
			abort();
		for (size_t j = 0; j < i; j++) {
			if (r.slots[j].baseline == r.slots[i].baseline)
				abort();
		}
	}
	pz_multi_rank_free(&r);
}

static void fuzz_small(const char *body, size_t size)
{
	pz_error e;
	double v;
	int rc;

	rc = pz_reward_parse(body, size, &v, &e);
	if (rc == 0 && !(v >= PZ_REWARD_MIN && v <= PZ_REWARD_MAX))
		abort();
	if (rc != 0)
		check_error(rc, &e);
	{
		pz_multi_reward_req r;

		rc = pz_multi_reward_parse(body, size, &r, &e);
		if (rc == 0) {
			if (r.n == 0 || r.n > PZ_SLOTS_MAX)
				abort();
			for (size_t i = 0; i < r.n; i++) {
				if (r.rewards[i].slot_id[0] == '\0' || !(r.rewards[i].value >= -1) ||
				    !(r.rewards[i].value <= 1))
					abort();
			}
		} else {
			check_error(rc, &e);
		}
	}
	rc = pz_activate_check(body, size, &e);
	if (rc != 0)
		check_error(rc, &e);
}

static void fuzz_config(const char *body, size_t size)
{
	pz_service_config c;
	pz_policy p;
	pz_error e;
	int rc = pz_service_config_parse(body, size, &c, &e);

	if (rc == 0) {
		char *s;
		pz_service_config back;

		if (c.reward_wait_s < PZ_WAIT_MIN_S || c.reward_wait_s > PZ_WAIT_MAX_S ||
		    !(c.exploration >= 0 && c.exploration <= 1) ||
		    !(c.default_reward >= -1 && c.default_reward <= 1))
			abort();
		/* What offerd answers, it accepts back unchanged. */
		s = pz_service_config_json(&c);
		if (pz_service_config_parse(s, strlen(s), &back, &e) != 0 ||
		    back.reward_wait_s != c.reward_wait_s || back.model_export_s != c.model_export_s ||
		    back.log_retention_days != c.log_retention_days ||
		    back.aggregation != c.aggregation || back.mode != c.mode)
			abort();
		free(s);
	} else {
		check_error(rc, &e);
	}
	rc = pz_policy_parse(body, size, &p, &e);
	if (rc == 0) {
		if (!p.cb_explore_adf || p.n_tokens == 0 || p.n_tokens > PZ_POLICY_TOKENS_MAX)
			abort();
	} else {
		check_error(rc, &e);
	}
	{
		pz_eval_req *r = xmalloc(sizeof(*r));

		rc = pz_eval_parse(body, size, r, &e);
		if (rc == 0) {
			if (r->start >= r->end || r->n_policies > PZ_EVAL_POLICIES_MAX)
				abort();
		} else {
			check_error(rc, &e);
		}
		free(r);
	}
}

/* A model import: an accepted document keeps its limits and exports back the same. */
static void fuzz_model(const char *body, size_t size)
{
	pz_model m;
	pz_model back;
	pz_error e;
	json_t *values;
	json_t *rows;
	char *s;
	int rc = pz_model_parse(body, size, &m, &e);

	if (rc != 0) {
		check_error(rc, &e);
		if (m.root != NULL || m.values != NULL || m.rows != NULL)
			abort();
		return;
	}
	values = json_array();
	rows = json_array();
	for (size_t i = 0; i < m.n_values; i++) {
		const pz_value_row *v = &m.values[i];

		if (v->state_key[0] == '\0' || v->offer[0] == '\0' || !(v->n >= 0) ||
		    !(v->prior_alpha > 0) || !(v->prior_beta > 0))
			abort();
		json_array_append_new(values, pz_value_row_json(v));
	}
	for (size_t i = 0; i < m.n_rows; i++) {
		if (m.rows[i].offer[0] == '\0' || m.rows[i].stats == NULL || !(m.rows[i].n >= 0))
			abort();
		json_array_append_new(rows, pz_model_row_json(&m.rows[i]));
	}
	s = pz_model_json("A", "1.0.0", "epsilon-greedy", values, rows);
	if (pz_model_parse(s, strlen(s), &back, &e) != 0 || back.n_values != m.n_values ||
	    back.n_rows != m.n_rows)
		abort();
	pz_model_free(&back);
	free(s);
	pz_model_free(&m);
}

static void fuzz_text(const char *text)
{
	char path[600];
	char id[PZ_ID_MAX + 1];
	pz_op op;
	pz_error e;
	int64_t v;
	int rc;

	if (pz_duration_parse(text, &v) == 0 && (v < 0 || v > 100LL * 86400))
		abort();
	if (pz_time_parse(text, &v) == 0) {
		char out[DATE_TIME_TEXT_LEN];
		int64_t back;

		date_time_format(v, out);
		if (pz_time_parse(out, &back) != 0 || back != v)
			abort();
	}
	if (strlen(text) < 400) {
		static const char *const methods[] = {"GET", "POST", "PUT", "DELETE"};

		for (size_t m = 0; m < 4; m++) {
			util_strlcpy(path, PZ_PREFIX, sizeof(path));
			util_strlcpy(path + strlen(PZ_PREFIX), text, sizeof(path) - strlen(PZ_PREFIX));
			rc = pz_path_parse(methods[m], path, &op, id, &e);
			if (rc == 0 && (op == PZ_OP_NONE || strlen(id) > PZ_ID_MAX))
				abort();
			if (rc != 0 && (e.status < 400 || e.status > 499 || op != PZ_OP_NONE))
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	char *text;

	fuzz_rank(body, size);
	fuzz_multi_rank(body, size);
	fuzz_small(body, size);
	fuzz_config(body, size);
	fuzz_model(body, size);
	text = xstrndup(body, size);
	fuzz_text(text);
	free(text);
	return 0;
}
