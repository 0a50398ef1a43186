/*
 * test_metrics.c — the Prometheus text of /metrics stays valid whatever the
 * agent version string holds: every label value is escaped (\\, \", \n), so
 * each sample is one line that parses; and every policy's decisions are counted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/*
 * Every policy has its decisions line, the contextual ones too: the list of
 * names was once metrics.c's own, and linear-ts and squarecb were missing
 * from it, so their decisions were not counted.
 */
static void test_decisions_every_policy(void **unused)
{
	buf b;
	metrics_extra x;
	char line[96];

	(void)unused;
	memset(&x, 0, sizeof(x));
	x.agent_version = "1.0.0";
	x.policy = "squarecb";
	x.store = "sqlite";
	metrics_decision(POLICY_SQUARECB);
	metrics_decision(POLICY_SQUARECB);
	metrics_decision(POLICY_LINEAR_TS);
	metrics_decision((enum agent_policy)99); /* not a policy: not counted, no crash */
	buf_init(&b, 1 << 20);
	assert_int_equal(metrics_render(&b, &x), 0);
	assert_non_null(b.data);
	assert_non_null(strstr(b.data, "offerd_decisions_total{policy=\"squarecb\"} 2\n"));
	assert_non_null(strstr(b.data, "offerd_decisions_total{policy=\"linear-ts\"} 1\n"));
	for (int p = 0; p < AGENT_POLICY_COUNT; p++) {
		snprintf(line, sizeof(line), "offerd_decisions_total{policy=\"%s\"} ",
		         agent_policy_name((enum agent_policy)p));
		assert_non_null(strstr(b.data, line));
	}
	assert_null(strstr(b.data, "policy=\"unknown\"} "));
	buf_free(&b);
}

/*
 * Requests are counted under the labels registered (the route table's, at
 * start); any other label, and any past the table's size, under "other".
 */
static void test_route_labels(void **unused)
{
	buf b;
	metrics_extra x;
	static char name[METRICS_LABELS_MAX][24]; /* labels outlive the test: metrics keeps them */

	(void)unused;
	memset(&x, 0, sizeof(x));
	x.agent_version = "1.0.0";
	x.policy = "ucb";
	x.store = "sqlite";
	metrics_label("/a");
	metrics_label("/b");
	metrics_label("/a"); /* once only */
	for (int i = 0; i < METRICS_LABELS_MAX; i++) {
		snprintf(name[i], sizeof(name[i]), "/many-%d", i);
		/* 1 ("other") + 2 + 45 fill the table */
		assert_int_equal(metrics_label(name[i]), i < METRICS_LABELS_MAX - 3 ? 0 : ERR_RANGE);
	}
	metrics_request("/b", 200, 0.001);
	metrics_request("/b", 200, 0.001);
	metrics_request("/a", 404, 0.001);
	metrics_request("/no-such", 404, 0.001);
	metrics_request(name[METRICS_LABELS_MAX - 1], 200, 0.001); /* past the table: other */
	metrics_request("/many-0", 200, 0.001);
	buf_init(&b, 1 << 20);
	assert_int_equal(metrics_render(&b, &x), 0);
	assert_non_null(strstr(b.data, "offerd_http_requests_total{route=\"/b\",status=\"200\"} 2\n"));
	assert_non_null(strstr(b.data, "offerd_http_requests_total{route=\"/a\",status=\"404\"} 1\n"));
	assert_non_null(
	    strstr(b.data, "offerd_http_requests_total{route=\"other\",status=\"404\"} 1\n"));
	assert_non_null(
	    strstr(b.data, "offerd_http_requests_total{route=\"other\",status=\"200\"} 1\n"));
	assert_non_null(
	    strstr(b.data, "offerd_http_requests_total{route=\"/many-0\",status=\"200\"} 1\n"));
	assert_null(strstr(b.data, name[METRICS_LABELS_MAX - 1]));
	/* One histogram per label, so "/a" has exactly one count line. */
	assert_non_null(strstr(b.data, "offerd_http_request_duration_seconds_count{route=\"/a\"} 1\n"));
	assert_null(strstr(strstr(b.data, "_count{route=\"/a\"}") + 1, "_count{route=\"/a\"}"));
	buf_free(&b);
}

static void test_label_values_escaped(void **unused)
{
	buf b;
	metrics_extra x;

	(void)unused;
	memset(&x, 0, sizeof(x));
	x.agent_version = "1.0.0\"} 1\nfake_metric{a=\"b";
	x.policy = "ucb\\";
	x.store = "sqlite";
	metrics_reward("2.0.0\nx\"y\\z", 1);
	buf_init(&b, 1 << 20);
	assert_int_equal(metrics_render(&b, &x), 0);
	assert_non_null(b.data);
	assert_non_null(strstr(b.data, "agent_version=\"1.0.0\\\"} 1\\nfake_metric{a=\\\"b\","
	                               "policy=\"ucb\\\\\",store=\"sqlite\"} 1\n"));
	assert_non_null(strstr(b.data, "offerd_rewards_total{agent_version=\"2.0.0\\nx\\\"y\\\\z\","
	                               "accepted=\"true\"} 1\n"));
	assert_non_null(strstr(b.data, "offerd_acceptance_rate{agent_version=\"2.0.0\\nx\\\"y\\\\z\"}"
	                               " 1.000000\n"));
	/* No line starts with the injected name: the newline stayed inside a label. */
	assert_null(strstr(b.data, "\nfake_metric"));
	/* Every non-comment line is NAME{...} VALUE or NAME VALUE: one space-separated value. */
	for (char *line = b.data; *line != '\0';) {
		char *end = strchr(line, '\n');

		assert_non_null(end);
		if (line[0] != '#') {
			char *brace = memchr(line, '{', (size_t)(end - line));

			assert_true(line[0] >= 'a' && line[0] <= 'z');
			if (brace != NULL)
				assert_non_null(memchr(brace, '}', (size_t)(end - brace)));
		}
		line = end + 1;
	}
	buf_free(&b);
}

/*
 * Text over the buffer's limit is an error the caller sees, with nothing
 * left in the buffer: before, the render returned nothing and the appends
 * after the overflow refilled the buffer with the text's tail.
 */
static void test_render_over_limit(void **unused)
{
	buf b;
	metrics_extra x;
	char *full;
	size_t n;

	(void)unused;
	memset(&x, 0, sizeof(x));
	x.agent_version = "1.0.0";
	x.policy = "ucb";
	x.store = "sqlite";
	metrics_reward("3.0.0", 0);
	buf_init(&b, 1 << 20);
	assert_int_equal(metrics_render(&b, &x), 0);
	n = b.len;
	full = buf_steal(&b);
	/* Exactly the limit fits, and the text is the same. */
	buf_init(&b, n);
	assert_int_equal(metrics_render(&b, &x), 0);
	assert_int_equal(b.len, n);
	assert_string_equal(b.data, full);
	buf_free(&b);
	/* One byte short fails at the very end; a tiny limit fails at the start. */
	buf_init(&b, n - 1);
	assert_int_equal(metrics_render(&b, &x), ERR_TOOBIG);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	buf_init(&b, 16);
	assert_int_equal(metrics_render(&b, &x), ERR_TOOBIG);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	free(full);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decisions_every_policy),
	    cmocka_unit_test(test_route_labels),
	    cmocka_unit_test(test_label_values_escaped),
	    cmocka_unit_test(test_render_over_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
