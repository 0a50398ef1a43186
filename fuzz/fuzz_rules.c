/*
 * fuzz_rules.c — libFuzzer driver for the rules parser (rules.c): the text
 * of offerctl rules set, PUT /rules and offerctl batch --rules, eligibility
 * rules and contact-policy lines.
 *
 * The parser takes bytes with a length (NULs included). An accepted set
 * must format to a text that parses back to an equal set (rules_equal), its
 * contact lines must be in range (limits, windows, line numbers), and
 * rules_deny_lines must only name lines of the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "rules.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rules *r = NULL;
	rules *again = NULL;
	char err[512];
	const rules_contact *c;
	size_t n = 0;
	size_t lines = 1;
	int line[CUSTOMER_OFFER_NUM_MAX + 1];
	json_t *states;
	buf b;
	int rc;

	if (size > 64 * 1024)
		return 0;
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	rc = rules_parse((const char *)data, size, "fuzz", &r, err, sizeof(err));
	if (rc != 0) {
		if (rc != ERR_INVAL && rc != ERR_TOOBIG)
			abort();
		if (r != NULL || err[0] == '\0')
			abort();
		return 0;
	}
	c = rules_contacts(r, &n);
	for (size_t i = 0; i < n; i++) {
		if (c[i].line < 1 || (size_t)c[i].line > lines)
			abort();
		if (c[i].kind == RULES_CAP && (c[i].limit < 1 || c[i].limit > RULES_CAP_MAX))
			abort();
		if (c[i].kind != RULES_NOT_LAST && (c[i].window < 1 || c[i].window > RULES_WINDOW_MAX))
			abort();
	}
	buf_init(&b, 1 << 22);
	if (rules_format(r, &b) != 0)
		abort();
	if (rules_parse(b.data != NULL ? b.data : "", b.len, "again", &again, err, sizeof(err)) != 0)
		abort();
	if (!rules_equal(r, again))
		abort();
	states = json_pack("{s:i, s:s, s:s, s:s}", "age", 70, "gender", "F", "region", "Europa",
	                   "last_offer", "OFFER_1");
	rules_deny_lines(r, states, line);
	for (int k = 0; k <= CUSTOMER_OFFER_NUM_MAX; k++) {
		if (line[k] < 0 || (size_t)line[k] > lines)
			abort();
	}
	json_decref(states);
	buf_free(&b);
	rules_free(again);
	rules_free(r);
	return 0;
}
