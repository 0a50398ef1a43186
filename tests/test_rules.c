/*
 * test_rules.c — eligibility rules: the built-in Company B set equals
 * examples/rules-company-B.txt, the parser accepts the documented format and
 * rejects everything else with the line number, and rules_apply denies
 * exactly the offers it should.
 *
 * Run from the repository root (scripts/run-tests.sh does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

static const char company_b_canonical[] = "region = Europa -> deny OFFER_4 OFFER_5 OFFER_6\n"
                                          "age > 65 -> deny OFFER_1 OFFER_3 OFFER_4\n";

static rules *parse_ok(const char *text)
{
	rules *r = NULL;
	char err[256];
	int rc = rules_parse(text, strlen(text), "t", &r, err, sizeof(err));

	if (rc != 0)
		fail_msg("unexpected parse error: %s", err);
	return r;
}

static char *format(const rules *r)
{
	buf b;

	buf_init(&b, 1 << 20);
	assert_int_equal(rules_format(r, &b), 0);
	return buf_steal(&b);
}

static void test_default_equals_example_file(void **unused)
{
	rules *def = NULL;
	rules *file = NULL;
	char err[256];
	char *a;
	char *b;

	(void)unused;
	assert_int_equal(rules_default(&def), 0);
	if (rules_load("examples/rules-company-B.txt", &file, NULL, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(rules_count(def), 2);
	assert_true(rules_equal(def, file));
	a = format(def);
	b = format(file);
	assert_string_equal(a, company_b_canonical);
	assert_string_equal(a, b);
	free(a);
	free(b);
	rules_free(def);
	rules_free(file);
}

static void test_format_roundtrip(void **unused)
{
	const char *text = "\xEF\xBB\xBF# a BOM, CRLF, odd spacing and aliases\r\n"
	                   "  AGE>=18->DENY offer_2   Offer-7 OFFER10 # trailing comment\r\n"
	                   "\r\n"
	                   "Client_Since != 2020-01-01 -> deny OFFER_1\r\n"
	                   "lastoffer == offer_3 -> deny OFFER_3\r\n"
	                   "gender = female -> deny OFFER_9\r\n"
	                   "region = \"North # America -> West\" -> deny OFFER_8\r\n"
	                   "region != unknown -> deny OFFER_999";
	rules *r = parse_ok(text);
	rules *again;
	char *canon = format(r);

	(void)unused;
	assert_int_equal(rules_count(r), 6);
	assert_string_equal(canon, "age >= 18 -> deny OFFER_2 OFFER_7 OFFER_10\n"
	                           "client-since != 2020-01-01 -> deny OFFER_1\n"
	                           "last_offer = offer_3 -> deny OFFER_3\n"
	                           "gender = F -> deny OFFER_9\n"
	                           "region = \"North # America -> West\" -> deny OFFER_8\n"
	                           "region != unknown -> deny OFFER_999\n");
	again = parse_ok(canon);
	assert_true(rules_equal(r, again));
	free(canon);
	rules_free(r);
	rules_free(again);
}

/* A rule's field is spelled as a CSV header may spell it (customer_field_find). */
static void test_field_spellings(void **unused)
{
	rules *r = parse_ok("sex = F -> deny OFFER_1\n"
	                    "Customer_Since = 2020-01-01 -> deny OFFER_2\n"
	                    "LAST-OFFER = OFFER_3 -> deny OFFER_3\n");
	char *canon = format(r);

	(void)unused;
	assert_string_equal(canon, "gender = F -> deny OFFER_1\n"
	                           "client-since = 2020-01-01 -> deny OFFER_2\n"
	                           "last_offer = OFFER_3 -> deny OFFER_3\n");
	free(canon);
	rules_free(r);
}

static void test_empty_set(void **unused)
{
	rules *r = parse_ok("# only comments\n\n   \n");
	json_t *states = json_pack("{s:i, s:s}", "age", 90, "region", "Europa");
	json_t *offers = json_pack("{s:b}", "OFFER_1", 1);
	int n = -1;

	(void)unused;
	assert_int_equal(rules_count(r), 0);
	assert_int_equal(rules_apply(r, states, offers, &n), 0);
	assert_int_equal(n, 0);
	assert_true(json_is_true(json_object_get(offers, "OFFER_1")));
	json_decref(states);
	json_decref(offers);
	rules_free(r);
	r = parse_ok("");
	assert_int_equal(rules_count(r), 0);
	rules_free(r);
}

static void test_parse_errors(void **unused)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
	    {"regoin = Europa -> deny OFFER_4", "t:1: unknown field 'regoin'"},
	    {"# ok\n\nregion Europa -> deny OFFER_4", "t:3: expected an operator"},
	    {"region = Europa deny OFFER_4", "t:1: expected 'CONDITION -> deny OFFER_n ...'"},
	    {"region = Europa -> allow OFFER_4", "t:1: expected 'deny' after '->', got 'allow'"},
	    {"region = Europa ->", "t:1: expected 'deny OFFER_n ...' after '->'"},
	    {"region = Europa -> deny", "t:1: 'deny' names no offer"},
	    {"region = Europa -> deny OFFER_4 IPHONE", "t:1: 'IPHONE' is not an offer"},
	    {"region = Europa -> deny OFFER_0", "t:1: 'OFFER_0' is not an offer"},
	    {"region = Europa -> deny OFFER_1000", "is not an offer"},
	    {"region = Europa -> deny OFFER_+4", "is not an offer"},
	    {"region = Europa -> deny OFFER_4 offer_4", "t:1: OFFER_4 is named twice"},
	    {"age > old -> deny OFFER_1", "t:1: age needs a whole number between 0 and 1000, got 'old'"},
	    {"age > 65.5 -> deny OFFER_1", "age needs a whole number"},
	    {"age > -> deny OFFER_1", "t:1: missing value after 'age >'"},
	    {"region > Europa -> deny OFFER_1", "t:1: operator '>' only works on age"},
	    {"gender = other -> deny OFFER_1", "t:1: gender is M (male), F (female) or unknown"},
	    {"region = Eu\"\"ropa -> deny OFFER_1", "t:1: a value may not contain '\"'"},
	    {"region = \"Europa -> deny OFFER_1", "t:1: expected 'CONDITION -> deny"},
	    {"= Europa -> deny OFFER_1", "t:1: expected a field name"},
	    {"region = Europa\x01 -> deny OFFER_1", "control character 0x01"},
	    {"x\n\n\n", "t:1: expected 'CONDITION -> deny"},
	    {"x -> deny OFFER_1\n", "t:1: unknown field 'x'"},
	    /* Fields of the request that are not states are no rule's. */
	    {"customer_id = 5 -> deny OFFER_1", "t:1: unknown field 'customer_id'"},
	    {"date = 2022-01-01 -> deny OFFER_1", "t:1: unknown field 'date'"},
	};

	(void)unused;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
		rules *r = NULL;
		char err[256];
		int rc = rules_parse(cases[i].text, strlen(cases[i].text), "t", &r, err, sizeof(err));

		assert_int_equal(rc, ERR_INVAL);
		assert_null(r);
		if (strstr(err, cases[i].msg) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
	}
}

static void test_limits(void **unused)
{
	buf b;
	rules *r = NULL;
	char err[256];

	(void)unused;
	/* A value over RULES_VALUE_MAX - 1 bytes. */
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_adds(&b, "region = "), 0);
	for (int i = 0; i < RULES_VALUE_MAX; i++)
		assert_int_equal(buf_add(&b, "x", 1), 0);
	assert_int_equal(buf_adds(&b, " -> deny OFFER_1\n"), 0);
	assert_int_equal(rules_parse(b.data, b.len, "t", &r, err, sizeof(err)), ERR_INVAL);
	assert_non_null(strstr(err, "t:1: value longer than 127 bytes"));
	buf_free(&b);

	/* A line over RULES_LINE_MAX. */
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_adds(&b, "# fine\n#"), 0);
	for (int i = 0; i < RULES_LINE_MAX; i++)
		assert_int_equal(buf_add(&b, "x", 1), 0);
	assert_int_equal(rules_parse(b.data, b.len, "t", &r, err, sizeof(err)), ERR_INVAL);
	assert_non_null(strstr(err, "t:2: line longer than 1024 bytes"));
	buf_free(&b);

	/* More than RULES_MAX rules; exactly RULES_MAX is fine. */
	buf_init(&b, 1 << 20);
	for (int i = 0; i < RULES_MAX; i++)
		assert_int_equal(buf_addf(&b, "age = %d -> deny OFFER_1\n", i), 0);
	assert_int_equal(rules_parse(b.data, b.len, "t", &r, err, sizeof(err)), 0);
	assert_int_equal(rules_count(r), RULES_MAX);
	rules_free(r);
	r = NULL;
	assert_int_equal(buf_adds(&b, "age = 999 -> deny OFFER_1\n"), 0);
	assert_int_equal(rules_parse(b.data, b.len, "t", &r, err, sizeof(err)), ERR_INVAL);
	assert_non_null(strstr(err, "more than 256 rules"));
	buf_free(&b);

	/* More than RULES_DENY_MAX offers in one rule. */
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_adds(&b, "age = 1 -> deny"), 0);
	for (int i = 1; i <= RULES_DENY_MAX + 1; i++)
		assert_int_equal(buf_addf(&b, " OFFER_%d", i), 0);
	assert_int_equal(rules_parse(b.data, b.len, "t", &r, err, sizeof(err)), ERR_INVAL);
	assert_non_null(strstr(err, "more than 64 offers in one rule"));
	buf_free(&b);

	/* The file size limit, and NUL bytes. */
	assert_int_equal(rules_parse("", RULES_FILE_MAX + 1, "t", &r, err, sizeof(err)), ERR_TOOBIG);
	assert_int_equal(rules_parse("age = 1\0 -> deny OFFER_1", 24, "t", &r, err, sizeof(err)),
	                 ERR_INVAL);
	assert_non_null(strstr(err, "NUL"));

	assert_int_equal(rules_load("/nonexistent/rules.txt", &r, NULL, err, sizeof(err)), ERR_IO);
	assert_non_null(strstr(err, "/nonexistent/rules.txt"));
}

/* rules_load keeps the file's text when asked (offerctl rules set stores it): the bytes read,
 * and the same set as parsing them. */
static void test_load_keeps_text(void **unused)
{
	const char *path = "examples/rules-company-B-caps.txt";
	FILE *f = fopen(path, "rb");
	char want[8192];
	size_t n;
	char *text = NULL;
	rules *loaded = NULL;
	rules *parsed = NULL;
	char err[256];

	(void)unused;
	assert_non_null(f);
	n = fread(want, 1, sizeof(want) - 1, f);
	fclose(f);
	want[n] = '\0';
	assert_int_equal(rules_load(path, &loaded, &text, err, sizeof(err)), 0);
	assert_non_null(text);
	assert_string_equal(text, want);
	assert_int_equal(rules_parse(want, n, path, &parsed, err, sizeof(err)), 0);
	assert_true(rules_equal(loaded, parsed));
	free(text);
	rules_free(loaded);
	rules_free(parsed);
}

/* Applies the default rules to one customer; returns the offers object (caller frees). */
static json_t *apply_default(json_t *states, int *ndenied)
{
	rules *r = NULL;
	json_t *offers = json_object();

	assert_int_equal(rules_default(&r), 0);
	for (int k = 1; k <= 10; k++) {
		char key[24];

		snprintf(key, sizeof(key), "OFFER_%d", k);
		json_object_set_new(offers, key, json_boolean(k != 10));
	}
	assert_int_equal(rules_apply(r, states, offers, ndenied), 0);
	json_decref(states);
	rules_free(r);
	return offers;
}

static int is_true(const json_t *offers, int k)
{
	char key[24];

	snprintf(key, sizeof(key), "OFFER_%d", k);
	return json_is_true(json_object_get(offers, key));
}

static void test_apply_company_b(void **unused)
{
	json_t *o;
	int n;

	(void)unused;
	/* Europa: 4, 5, 6 denied; 10 was false already. */
	o = apply_default(json_pack("{s:i, s:s}", "age", 30, "region", "Europa"), &n);
	assert_int_equal(n, 3);
	for (int k = 1; k <= 10; k++)
		assert_int_equal(is_true(o, k), k != 4 && k != 5 && k != 6 && k != 10);
	json_decref(o);

	/* Over 65 elsewhere: 1, 3, 4. */
	o = apply_default(json_pack("{s:i, s:s}", "age", 66, "region", "Asia"), &n);
	assert_int_equal(n, 3);
	for (int k = 1; k <= 10; k++)
		assert_int_equal(is_true(o, k), k != 1 && k != 3 && k != 4 && k != 10);
	json_decref(o);

	/* Both: the union (1, 3, 4, 5, 6); region compared without regard to case. */
	o = apply_default(json_pack("{s:i, s:s}", "age", 80, "region", "EUROPA"), &n);
	assert_int_equal(n, 5);
	for (int k = 1; k <= 10; k++)
		assert_int_equal(is_true(o, k), k == 2 || (k >= 7 && k <= 9));
	json_decref(o);

	/*
	 * 65 is not older than 65, and neither is 65.5: ages are whole years,
	 * truncated, as the agent reads them (customer_age).
	 */
	o = apply_default(json_pack("{s:i, s:s}", "age", 65, "region", "Americas"), &n);
	assert_int_equal(n, 0);
	json_decref(o);
	o = apply_default(json_pack("{s:f, s:s}", "age", 65.5, "region", "Americas"), &n);
	assert_int_equal(n, 0);
	json_decref(o);
	o = apply_default(json_pack("{s:f, s:s}", "age", 66.0, "region", "Americas"), &n);
	assert_int_equal(n, 3);
	json_decref(o);

	/* A string holding a number is an age, as /predict reads it; a mistyped region does not match. */
	o = apply_default(json_pack("{s:s, s:i}", "age", "70", "region", 3), &n);
	assert_int_equal(n, 3);
	json_decref(o);
	/* A missing, mistyped or impossible field does not match. */
	o = apply_default(json_pack("{s:s, s:b}", "age", "seventy", "region", 1), &n);
	assert_int_equal(n, 0);
	json_decref(o);
	o = apply_default(json_pack("{s:i}", "age", 151), &n);
	assert_int_equal(n, 0);
	json_decref(o);
	o = apply_default(json_object(), &n);
	assert_int_equal(n, 0);
	json_decref(o);
}

/*
 * Rules compare what the agent sees (customer.h): a row whose region is
 * written "Europe" or "EU" is in Europa for the agent, so Company B's
 * Europa rule denies it OFFER_4..6; genders and ages likewise.
 */
static void test_apply_normalised(void **unused)
{
	static const char *const europa[] = {"Europe", "EU", " eu ", "EUROPA", "europe"};
	static const char *const not_europa[] = {"Asia", "Europe West", "", "unknown"};
	json_t *o;
	int n;

	(void)unused;
	for (size_t i = 0; i < sizeof(europa) / sizeof(europa[0]); i++) {
		o = apply_default(json_pack("{s:i, s:s}", "age", 30, "region", europa[i]), &n);
		if (n != 3)
			fail_msg("region '%s': %d offers denied, want 3", europa[i], n);
		for (int k = 1; k <= 10; k++)
			assert_int_equal(is_true(o, k), k != 4 && k != 5 && k != 6 && k != 10);
		json_decref(o);
	}
	for (size_t i = 0; i < sizeof(not_europa) / sizeof(not_europa[0]); i++) {
		o = apply_default(json_pack("{s:i, s:s}", "age", 30, "region", not_europa[i]), &n);
		if (n != 0)
			fail_msg("region '%s': %d offers denied, want 0", not_europa[i], n);
		json_decref(o);
	}

	/* A rule may name a region by any spelling the agent knows; unknown is the agent's Unknown. */
	{
		rules *r = parse_ok("region = Europe -> deny OFFER_1\n"
		                    "region = LATAM -> deny OFFER_2\n"
		                    "region = unknown -> deny OFFER_3\n"
		                    "region = Mars -> deny OFFER_4\n"
		                    "gender = F -> deny OFFER_5\n"
		                    "age >= 66 -> deny OFFER_6\n");
		unsigned char denied[CUSTOMER_OFFER_NUM_MAX + 1];
		json_t *st;

		st = json_pack("{s:s, s:s, s:s}", "region", "EU", "gender", "Female", "age", "66.0");
		assert_int_equal(rules_match(r, st, denied), 3);
		assert_true(denied[1] && denied[5] && denied[6]);
		json_decref(st);
		st = json_pack("{s:s, s:s, s:f}", "region", "South America", "gender", "woman", "age",
		               65.9);
		assert_int_equal(rules_match(r, st, denied), 2);
		assert_true(denied[2] && denied[5] && !denied[6]);
		json_decref(st);
		/* A region the agent does not know is its Unknown; a rule's own label matches itself. */
		st = json_pack("{s:s, s:s}", "region", "mars", "gender", "M");
		assert_int_equal(rules_match(r, st, denied), 2);
		assert_true(denied[3] && denied[4] && !denied[5]);
		json_decref(st);
		rules_free(r);
	}
}

static void test_apply_other_keys(void **unused)
{
	rules *r = parse_ok("gender = F -> deny OFFER_2\nregion != Asia -> deny OFFER_3\n");
	json_t *states = json_pack("{s:s, s:s}", "gender", "f", "region", "Europa");
	/* Clients send other spellings and types; denied keys become false whatever they held. */
	json_t *offers = json_pack("{s:s, s:i, s:b, s:b}", "offer_2", "True", "Offer-3", 1, "OFFER_4", 1,
	                           "extra", 1);
	int n;

	(void)unused;
	assert_int_equal(rules_apply(r, states, offers, &n), 0);
	assert_int_equal(n, 2);
	assert_true(json_is_false(json_object_get(offers, "offer_2")));
	assert_true(json_is_false(json_object_get(offers, "Offer-3")));
	assert_true(json_is_true(json_object_get(offers, "OFFER_4")));
	assert_true(json_is_true(json_object_get(offers, "extra")));
	{
		json_t *str = json_string("x");

		assert_int_equal(rules_apply(r, offers, str, &n), ERR_INVAL);
		json_decref(str);
	}
	json_decref(states);
	json_decref(offers);
	rules_free(r);
}

/* Contact-policy lines (issue 16.2): each kind, its line, and the canonical text. */
static void test_contact_lines(void **unused)
{
	static const char text[] = "# Company B with caps\n"
	                           "region = Europa -> deny OFFER_4 OFFER_5 OFFER_6\n"
	                           "cap OFFER_3 2 per 7d\n"
	                           "CAP * 5 per 1D   # every offer\n"
	                           "cooldown OFFER_1 30d after accept\n"
	                           "\n"
	                           "cooldown * 90m After Accept\n"
	                           "not-last\n"
	                           "age > 65 -> deny OFFER_1 OFFER_3 OFFER_4\n"
	                           "cap OFFER_2 1 per 2w\n";
	rules *r = parse_ok(text);
	rules *again;
	const rules_contact *c;
	size_t n = 0;
	char *canon;
	int line[CUSTOMER_OFFER_NUM_MAX + 1];
	json_t *states;

	(void)unused;
	assert_int_equal(rules_count(r), 2);
	c = rules_contacts(r, &n);
	assert_int_equal(n, 6);
	assert_int_equal(c[0].kind, RULES_CAP);
	assert_int_equal(c[0].line, 3);
	assert_int_equal(c[0].offer, 3);
	assert_int_equal(c[0].limit, 2);
	assert_true(c[0].window == 7 * 86400.0);
	assert_int_equal(c[1].kind, RULES_CAP);
	assert_int_equal(c[1].offer, 0);
	assert_int_equal(c[1].limit, 5);
	assert_true(c[1].window == 86400.0);
	assert_int_equal(c[2].kind, RULES_COOLDOWN);
	assert_int_equal(c[2].offer, 1);
	assert_true(c[2].window == 30 * 86400.0);
	assert_int_equal(c[3].kind, RULES_COOLDOWN);
	assert_int_equal(c[3].line, 7);
	assert_true(c[3].window == 90 * 60.0);
	assert_int_equal(c[4].kind, RULES_NOT_LAST);
	assert_int_equal(c[4].line, 8);
	assert_true(c[5].window == 14 * 86400.0);
	/* The longest window: not-last looks back RULES_NOT_LAST_WINDOW (30 days). */
	assert_true(rules_horizon(r) == 30 * 86400.0);
	/* The canonical text parses to the same set. */
	canon = format(r);
	assert_non_null(strstr(canon, "cap OFFER_3 2 per 7d\n"));
	assert_non_null(strstr(canon, "cap * 5 per 1d\n"));
	assert_non_null(strstr(canon, "cooldown * 90m after accept\n"));
	assert_non_null(strstr(canon, "cap OFFER_2 1 per 14d\n"));
	assert_non_null(strstr(canon, "not-last\n"));
	again = parse_ok(canon);
	assert_true(rules_equal(r, again));
	free(canon);
	rules_free(again);
	/* Deny rules know their lines: OFFER_4 by line 2 first, OFFER_1 by line 9. */
	states = json_pack("{s:i, s:s}", "age", 70, "region", "Europa");
	assert_int_equal(rules_deny_lines(r, states, line), 2);
	assert_int_equal(line[4], 2);
	assert_int_equal(line[5], 2);
	assert_int_equal(line[1], 9);
	assert_int_equal(line[3], 9);
	assert_int_equal(line[2], 0);
	json_decref(states);
	/* A shared set lives until its last holder lets go. */
	assert_ptr_equal(rules_ref(r), r);
	rules_free(r);
	assert_int_equal(rules_count(r), 2);
	rules_free(r);
	/* Without contact lines the horizon is 0: no history is kept. */
	r = parse_ok("age > 65 -> deny OFFER_1\n");
	assert_true(rules_horizon(r) == 0);
	rules_free(r);
}

static void test_contact_errors(void **unused)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
	    {"cap OFFER_3 2 per", "t:1: expected a duration like 30m, 12h, 7d or 2w"},
	    {"cap OFFER_3 2 per 7y", "expected a duration"},
	    {"cap OFFER_3 2 per 367d", "at most 366 days"},
	    {"cap OFFER_3 2 per 0d", "expected a duration"},
	    {"cap OFFER_3 0 per 7d", "t:1: cap needs a number of shows between 1 and 64, got '0'"},
	    {"cap OFFER_3 65 per 7d", "between 1 and 64"},
	    {"cap OFFER_3 two per 7d", "got 'two'"},
	    {"cap IPHONE 2 per 7d",
	     "t:1: 'IPHONE' is not an offer (expected OFFER_1 .. OFFER_999 or *)"},
	    {"cap OFFER_3 2 in 7d", "expected 'cap OFFER_n|* N per DURATION'"},
	    {"cap", "expected an offer (OFFER_n or *)"},
	    {"cap OFFER_3 2 per 7d extra", "t:1: unexpected 'extra' at the end of the line"},
	    {"\n\ncooldown OFFER_1 30d", "t:3: expected 'cooldown OFFER_n|* DURATION after accept'"},
	    {"cooldown OFFER_1 30d after click", "after accept"},
	    {"cooldown OFFER_1 after accept", "expected a duration"},
	    {"not-last please", "t:1: unexpected 'please'"},
	    {"notlast", "t:1: expected 'CONDITION -> deny OFFER_n ...', 'cap ...'"},
	};

	(void)unused;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
		rules *r = NULL;
		char err[256];
		int rc = rules_parse(cases[i].text, strlen(cases[i].text), "t", &r, err, sizeof(err));

		assert_int_equal(rc, ERR_INVAL);
		assert_null(r);
		if (strstr(err, cases[i].msg) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_equals_example_file),
	    cmocka_unit_test(test_load_keeps_text),
	    cmocka_unit_test(test_format_roundtrip),
	    cmocka_unit_test(test_field_spellings),
	    cmocka_unit_test(test_empty_set),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_contact_lines),
	    cmocka_unit_test(test_contact_errors),
	    cmocka_unit_test(test_apply_company_b),
	    cmocka_unit_test(test_apply_normalised),
	    cmocka_unit_test(test_apply_other_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
