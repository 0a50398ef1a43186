/*
 * rules.c — eligibility rules: the built-in Company B set, the strict
 * line-oriented parser for rules files, and their application to a request's
 * offers. The format is documented in rules.h.
 */
#include "rules.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "customer.h"

enum rules_op { RULES_EQ = 0, RULES_NE, RULES_LT, RULES_LE, RULES_GT, RULES_GE };

typedef struct rules_rule {
	int line;                  /* in the text it was parsed from (0: built in) */
	enum customer_field field; /* one of the states' (CUSTOMER_F_AGE on) */
	enum rules_op op;
	int64_t num;                /* the value, for age */
	char text[RULES_VALUE_MAX]; /* the value, for text fields */
	int ndeny;
	int deny[RULES_DENY_MAX]; /* offer numbers, in the order written */
} rules_rule;

struct rules {
	size_t n;
	rules_rule *rule; /* n entries, owned */
	size_t ncontact;
	rules_contact contact[RULES_CONTACT_MAX];
	atomic_int refs; /* rules_ref() holders plus the creator; freed at 0 */
};

/* Operator spellings, two-character ones first so "<=" is not read as "<". */
static const struct {
	const char *text;
	enum rules_op op;
} op_table[] = {
    {"==", RULES_EQ}, {"!=", RULES_NE}, {"<=", RULES_LE}, {">=", RULES_GE},
    {"=", RULES_EQ},  {"<", RULES_LT},  {">", RULES_GT},
};

static const char *const op_names[] = {"=", "!=", "<", "<=", ">", ">="};

/* Company B's contract, as the brief states it. */
static const rules_rule company_b[] = {
    {.line = 1,
     .field = CUSTOMER_F_REGION,
     .op = RULES_EQ,
     .text = "Europa",
     .ndeny = 3,
     .deny = {4, 5, 6}},
    {.line = 2, .field = CUSTOMER_F_AGE, .op = RULES_GT, .num = 65, .ndeny = 3, .deny = {1, 3, 4}},
};

static rules *rules_alloc(size_t n)
{
	rules *r = xcalloc(1, sizeof(*r));

	r->rule = xcalloc(n ? n : 1, sizeof(*r->rule));
	r->n = 0;
	atomic_init(&r->refs, 1);
	return r;
}

int rules_default(rules **out)
{
	rules *r = rules_alloc(UTIL_ARRAY_LEN(company_b));

	memcpy(r->rule, company_b, sizeof(company_b));
	r->n = UTIL_ARRAY_LEN(company_b);
	*out = r;
	return 0;
}

rules *rules_ref(rules *r)
{
	atomic_fetch_add(&r->refs, 1);
	return r;
}

void rules_free(rules *r)
{
	if (r == NULL || atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	free(r->rule);
	free(r);
}

size_t rules_count(const rules *r)
{
	return r->n;
}

const rules_contact *rules_contacts(const rules *r, size_t *n)
{
	*n = r->ncontact;
	return r->contact;
}

double rules_horizon(const rules *r)
{
	double h = 0;

	for (size_t i = 0; i < r->ncontact; i++) {
		double w = r->contact[i].kind == RULES_NOT_LAST ? RULES_NOT_LAST_WINDOW
		                                                : r->contact[i].window;

		if (w > h)
			h = w;
	}
	return h;
}

static int rule_equal(const rules_rule *a, const rules_rule *b)
{
	if (a->field != b->field || a->op != b->op || a->ndeny != b->ndeny)
		return 0;
	if (a->field == CUSTOMER_F_AGE ? a->num != b->num : strcmp(a->text, b->text) != 0)
		return 0;
	return memcmp(a->deny, b->deny, (size_t)a->ndeny * sizeof(a->deny[0])) == 0;
}

static int contact_equal(const rules_contact *a, const rules_contact *b)
{
	return a->kind == b->kind && a->offer == b->offer && a->limit == b->limit &&
	       a->window == b->window;
}

int rules_equal(const rules *a, const rules *b)
{
	if (a->n != b->n || a->ncontact != b->ncontact)
		return 0;
	for (size_t i = 0; i < a->ncontact; i++) {
		if (!contact_equal(&a->contact[i], &b->contact[i]))
			return 0;
	}
	for (size_t i = 0; i < a->n; i++) {
		if (!rule_equal(&a->rule[i], &b->rule[i]))
			return 0;
	}
	return 1;
}

int rules_format(const rules *r, buf *out)
{
	int rc = 0;

	for (size_t i = 0; i < r->n && rc == 0; i++) {
		const rules_rule *ru = &r->rule[i];

		rc = buf_addf(out, "%s %s ", customer_field_key(ru->field), op_names[ru->op]);
		if (rc == 0 && ru->field == CUSTOMER_F_AGE)
			rc = buf_addf(out, "%lld", (long long)ru->num);
		else if (rc == 0 && (strchr(ru->text, '#') != NULL || strstr(ru->text, "->") != NULL))
			rc = buf_addf(out, "\"%s\"", ru->text);
		else if (rc == 0)
			rc = buf_adds(out, ru->text);
		if (rc == 0)
			rc = buf_adds(out, " -> deny");
		for (int k = 0; k < ru->ndeny && rc == 0; k++)
			rc = buf_addf(out, " OFFER_%d", ru->deny[k]);
		if (rc == 0)
			rc = buf_adds(out, "\n");
	}
	for (size_t i = 0; i < r->ncontact && rc == 0; i++) {
		const rules_contact *c = &r->contact[i];
		char what[32];
		char win[32];

		if (c->offer > 0)
			snprintf(what, sizeof(what), "OFFER_%d", c->offer);
		else
			util_strlcpy(what, "*", sizeof(what));
		rules_duration_text(c->window, win, sizeof(win));
		if (c->kind == RULES_CAP)
			rc = buf_addf(out, "cap %s %d per %s\n", what, c->limit, win);
		else if (c->kind == RULES_COOLDOWN)
			rc = buf_addf(out, "cooldown %s %s after accept\n", what, win);
		else
			rc = buf_adds(out, "not-last\n");
	}
	return rc;
}

void rules_duration_text(double seconds, char *out, size_t n)
{
	static const struct {
		char unit;
		long long secs;
	} units[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
	long long v = (long long)seconds;

	for (size_t i = 0; i < UTIL_ARRAY_LEN(units); i++) {
		if (v % units[i].secs == 0 || units[i].secs == 1) {
			snprintf(out, n, "%lld%c", v / units[i].secs, units[i].unit);
			return;
		}
	}
}

/* --- parsing ----------------------------------------------------------- */

typedef struct parser {
	const char *name;
	int line;
	char *err;
	size_t errlen;
} parser;

static int perr(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes "NAME:LINE: message" and returns ERR_INVAL for the caller to return. */
static int perr(parser *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->errlen > 0)
		snprintf(p->err, p->errlen, "%s:%d: %s", p->name, p->line, msg);
	return ERR_INVAL;
}

/* A field of the states, named as a CSV header may name it (customer_field_find). */
static int field_lookup(const char *s, size_t len, enum customer_field *out)
{
	char name[64];

	if (len >= sizeof(name))
		return ERR_INVAL;
	memcpy(name, s, len);
	name[len] = '\0';
	if (customer_field_find(name, out) != 0 || *out < CUSTOMER_F_AGE)
		return ERR_INVAL;
	return 0;
}

/* Finds `needle` in s outside double quotes; NULL when absent. */
static char *find_unquoted(char *s, const char *needle)
{
	size_t n = strlen(needle);
	int quoted = 0;

	for (; *s != '\0'; s++) {
		if (*s == '"')
			quoted = !quoted;
		else if (!quoted && strncmp(s, needle, n) == 0)
			return s;
	}
	return NULL;
}

/* Parses "FIELD OP VALUE" (already trimmed) into ru. */
static int parse_condition(parser *p, char *s, rules_rule *ru)
{
	char *q = s;
	char *value;
	size_t flen;
	size_t vlen;
	int found = 0;

	while (isalnum((unsigned char)*q) || *q == '_' || *q == '-')
		q++;
	flen = (size_t)(q - s);
	if (flen == 0)
		return perr(p, "expected a field name (age, gender, region, last_offer, client-since)");
	if (field_lookup(s, flen, &ru->field) != 0)
		return perr(p,
		            "unknown field '%.*s' (expected age, gender, region, last_offer, "
		            "client-since)",
		            (int)flen, s);
	while (*q == ' ' || *q == '\t')
		q++;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(op_table); i++) {
		size_t olen = strlen(op_table[i].text);

		if (strncmp(q, op_table[i].text, olen) == 0) {
			ru->op = op_table[i].op;
			q += olen;
			found = 1;
			break;
		}
	}
	if (!found)
		return perr(p, "expected an operator (= != < <= > >=) after '%s'",
		            customer_field_key(ru->field));
	value = util_trim(q);
	vlen = strlen(value);
	if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
		value[vlen - 1] = '\0';
		value++;
		vlen -= 2;
	}
	if (strchr(value, '"') != NULL)
		return perr(p, "a value may not contain '\"'");
	if (vlen == 0)
		return perr(p, "missing value after '%s %s'", customer_field_key(ru->field),
		            op_names[ru->op]);
	if (ru->field == CUSTOMER_F_AGE) {
		int rc = util_strtonum(value, 0, 1000, &ru->num);

		if (rc != 0)
			return perr(p, "age needs a whole number between 0 and 1000, got '%s'", value);
		return 0;
	}
	if (ru->op != RULES_EQ && ru->op != RULES_NE)
		return perr(p, "operator '%s' only works on age; %s takes = or !=", op_names[ru->op],
		            customer_field_key(ru->field));
	if (vlen >= sizeof(ru->text))
		return perr(p, "value longer than %zu bytes", sizeof(ru->text) - 1);
	if (ru->field == CUSTOMER_F_GENDER) {
		/* Rules compare against the normalised state, so only these can match. */
		char g = customer_gender(value);

		if (g == 'U' && !util_streq_nocase(value, "unknown"))
			return perr(p, "gender is M (male), F (female) or unknown, got '%s'", value);
		util_strlcpy(ru->text, customer_gender_text(g), sizeof(ru->text));
		return 0;
	}
	util_strlcpy(ru->text, value, sizeof(ru->text));
	return 0;
}

/* Splits off the next blank-separated token of *s; NULL at the end. */
static char *next_token(char **s)
{
	char *p = *s;
	char *tok;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return NULL;
	tok = p;
	while (*p != '\0' && *p != ' ' && *p != '\t')
		p++;
	if (*p != '\0')
		*p++ = '\0';
	*s = p;
	return tok;
}

/* Parses "deny OFFER ..." (already trimmed) into ru. */
static int parse_action(parser *p, char *s, rules_rule *ru)
{
	char *tok = next_token(&s);

	ru->ndeny = 0;
	if (tok == NULL)
		return perr(p, "expected 'deny OFFER_n ...' after '->'");
	if (!util_streq_nocase(tok, "deny"))
		return perr(p, "expected 'deny' after '->', got '%s'", tok);
	for (tok = next_token(&s); tok != NULL; tok = next_token(&s)) {
		int n;

		if (customer_offer_number(tok, &n) != 0)
			return perr(p, "'%s' is not an offer (expected OFFER_1 .. OFFER_%d)", tok,
			            CUSTOMER_OFFER_NUM_MAX);
		for (int k = 0; k < ru->ndeny; k++) {
			if (ru->deny[k] == n)
				return perr(p, "OFFER_%d is named twice", n);
		}
		if (ru->ndeny >= RULES_DENY_MAX)
			return perr(p, "more than %d offers in one rule", RULES_DENY_MAX);
		ru->deny[ru->ndeny++] = n;
	}
	if (ru->ndeny == 0)
		return perr(p, "'deny' names no offer");
	return 0;
}

/* Parses a duration "N" + s|m|h|d|w (e.g. 7d) into seconds, 1 s .. RULES_WINDOW_MAX. */
static int parse_duration(parser *p, const char *tok, double *out)
{
	static const struct {
		char unit;
		int64_t secs;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}};
	size_t len = tok != NULL ? strlen(tok) : 0;
	char num[24];
	int64_t v;

	if (len < 2 || len - 1 >= sizeof(num))
		return perr(p, "expected a duration like 30m, 12h, 7d or 2w, got '%s'",
		            tok != NULL ? tok : "");
	memcpy(num, tok, len - 1);
	num[len - 1] = '\0';
	for (size_t i = 0; i < UTIL_ARRAY_LEN(units); i++) {
		if (tolower((unsigned char)tok[len - 1]) != units[i].unit)
			continue;
		if (util_strtonum(num, 1, RULES_WINDOW_MAX, &v) != 0 ||
		    v * units[i].secs > RULES_WINDOW_MAX)
			break;
		*out = (double)(v * units[i].secs);
		return 0;
	}
	return perr(p, "expected a duration like 30m, 12h, 7d or 2w (at most %d days), got '%s'",
	            RULES_WINDOW_MAX / 86400, tok);
}

/* "*" (every offer, 0) or OFFER_n (n). */
static int parse_contact_offer(parser *p, const char *tok, int *out)
{
	if (tok == NULL)
		return perr(p, "expected an offer (OFFER_n or *)");
	if (strcmp(tok, "*") == 0) {
		*out = 0;
		return 0;
	}
	if (customer_offer_number(tok, out) != 0)
		return perr(p, "'%s' is not an offer (expected OFFER_1 .. OFFER_%d or *)", tok,
		            CUSTOMER_OFFER_NUM_MAX);
	return 0;
}

/*
 * Parses a contact-policy line (already trimmed, comment removed):
 *   cap OFFER|* N per DURATION
 *   cooldown OFFER|* DURATION after accept
 *   not-last
 * Returns 1 when the line is not one (no such keyword), 0 when parsed, or
 * ERR_INVAL after writing the message.
 */
static int parse_contact(parser *p, char *s, rules_contact *c)
{
	char *tok = next_token(&s);
	char *extra;
	int64_t v;
	int rc;

	memset(c, 0, sizeof(*c));
	c->line = p->line;
	if (tok == NULL)
		return 1;
	if (util_streq_nocase(tok, "not-last")) {
		c->kind = RULES_NOT_LAST;
	} else if (util_streq_nocase(tok, "cap")) {
		c->kind = RULES_CAP;
		rc = parse_contact_offer(p, next_token(&s), &c->offer);
		if (rc != 0)
			return rc;
		tok = next_token(&s);
		if (tok == NULL || util_strtonum(tok, 1, RULES_CAP_MAX, &v) != 0)
			return perr(p, "cap needs a number of shows between 1 and %d, got '%s'",
			            RULES_CAP_MAX, tok != NULL ? tok : "");
		c->limit = (int)v;
		tok = next_token(&s);
		if (tok == NULL || !util_streq_nocase(tok, "per"))
			return perr(
			    p, "expected 'cap OFFER_n|* N per DURATION', e.g. 'cap OFFER_3 2 per 7d'");
		rc = parse_duration(p, next_token(&s), &c->window);
		if (rc != 0)
			return rc;
	} else if (util_streq_nocase(tok, "cooldown")) {
		c->kind = RULES_COOLDOWN;
		rc = parse_contact_offer(p, next_token(&s), &c->offer);
		if (rc != 0)
			return rc;
		rc = parse_duration(p, next_token(&s), &c->window);
		if (rc != 0)
			return rc;
		tok = next_token(&s);
		if (tok == NULL || !util_streq_nocase(tok, "after") || (tok = next_token(&s)) == NULL ||
		    !util_streq_nocase(tok, "accept"))
			return perr(p, "expected 'cooldown OFFER_n|* DURATION after accept', e.g. "
			               "'cooldown OFFER_1 30d after accept'");
	} else {
		return 1;
	}
	extra = next_token(&s);
	if (extra != NULL)
		return perr(p, "unexpected '%s' at the end of the line", extra);
	return 0;
}

/* What a line held. */
enum line_kind { LINE_NONE = 0, LINE_RULE, LINE_CONTACT };

/* Parses one line into ru or c; *kind says which (LINE_NONE: blank or comment). */
static int parse_line(parser *p, char *line, rules_rule *ru, rules_contact *c, enum line_kind *kind)
{
	char tmp[RULES_LINE_MAX + 1];
	char *hash;
	char *arrow;
	char *s;
	int rc;

	*kind = LINE_NONE;
	hash = find_unquoted(line, "#");
	if (hash != NULL)
		*hash = '\0';
	s = util_trim(line);
	if (*s == '\0')
		return 0;
	for (char *ch = s; *ch != '\0'; ch++) {
		if ((unsigned char)*ch < 0x20 && *ch != '\t')
			return perr(p, "control character 0x%02x", (unsigned char)*ch);
	}
	arrow = find_unquoted(s, "->");
	if (arrow == NULL) {
		util_strlcpy(tmp, s, sizeof(tmp));
		rc = parse_contact(p, tmp, c);
		if (rc == 1)
			return perr(
			    p, "expected 'CONDITION -> deny OFFER_n ...', 'cap ...', 'cooldown ...' "
			       "or 'not-last'");
		if (rc == 0)
			*kind = LINE_CONTACT;
		return rc;
	}
	*arrow = '\0';
	memset(ru, 0, sizeof(*ru));
	ru->line = p->line;
	rc = parse_condition(p, util_trim(s), ru);
	if (rc != 0)
		return rc;
	rc = parse_action(p, util_trim(arrow + 2), ru);
	if (rc != 0)
		return rc;
	*kind = LINE_RULE;
	return 0;
}

int rules_parse(const char *text, size_t len, const char *name, rules **out, char *err, size_t errlen)
{
	parser p = {.name = name ? name : "rules", .line = 0, .err = err, .errlen = errlen};
	char line[RULES_LINE_MAX + 1];
	rules *r = NULL;
	size_t pos = 0;
	int rc = 0;

	if (errlen > 0)
		err[0] = '\0';
	if (len > RULES_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", p.name, RULES_FILE_MAX);
		rc = ERR_TOOBIG;
		goto out;
	}
	r = rules_alloc(RULES_MAX);
	/* A UTF-8 BOM from a Windows editor is not part of the first rule. */
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		pos = 3;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;
		size_t llen = end - pos;
		rules_rule ru;
		rules_contact c;
		enum line_kind kind;

		p.line++;
		if (llen > 0 && text[end - 1] == '\r')
			llen--;
		if (llen > RULES_LINE_MAX) {
			rc = perr(&p, "line longer than %d bytes", RULES_LINE_MAX);
			goto out;
		}
		if (memchr(text + pos, '\0', llen) != NULL) {
			rc = perr(&p, "NUL byte in the line");
			goto out;
		}
		memcpy(line, text + pos, llen);
		line[llen] = '\0';
		pos = end + 1;
		rc = parse_line(&p, line, &ru, &c, &kind);
		if (rc != 0)
			goto out;
		if (kind == LINE_NONE)
			continue;
		if (kind == LINE_CONTACT) {
			if (r->ncontact >= RULES_CONTACT_MAX) {
				rc = perr(&p, "more than %d contact-policy lines", RULES_CONTACT_MAX);
				goto out;
			}
			r->contact[r->ncontact++] = c;
			continue;
		}
		if (r->n >= RULES_MAX) {
			rc = perr(&p, "more than %d rules", RULES_MAX);
			goto out;
		}
		r->rule[r->n++] = ru;
	}
	*out = r;
	r = NULL;
out:
	rules_free(r);
	return rc;
}

int rules_load(const char *path, rules **out, char **text_out, char *err, size_t errlen)
{
	FILE *f = NULL;
	char *text = NULL;
	size_t len;
	int rc = 0;

	f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		rc = ERR_IO;
		goto out;
	}
	/* Read one byte past the limit to tell "exactly at the limit" from "over"; one more for
	 * the NUL. */
	text = xmalloc(RULES_FILE_MAX + 2);
	len = fread(text, 1, RULES_FILE_MAX + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		rc = ERR_IO;
		goto out;
	}
	text[len] = '\0';
	rc = rules_parse(text, len, path, out, err, errlen);
	if (rc == 0 && text_out != NULL) {
		*text_out = text;
		text = NULL;
	}
out:
	if (f != NULL)
		fclose(f);
	free(text);
	return rc;
}

/* --- application ------------------------------------------------------- */

/*
 * The age a rule compares: whole years as customer_age() makes them from a
 * number or a string holding one, the way /predict reads states.age.
 * Returns 0, or ERR_INVAL when the state is absent, not an age or out of range.
 */
static int state_age(const json_t *v, int *out)
{
	char tmp[64];
	double age;

	if (json_is_number(v)) {
		age = json_number_value(v);
	} else if (json_is_string(v)) {
		util_strlcpy(tmp, json_string_value(v), sizeof(tmp));
		if (customer_age_text(util_trim(tmp), &age) != 0)
			return ERR_INVAL;
	} else {
		return ERR_INVAL;
	}
	return customer_age(age, out);
}

/*
 * 1 when the text state v equals the rule's value once both are read the
 * way the agent reads them (customer.h): a gender as M, F or unknown; a
 * region as Europa, Americas, Asia or Unknown when the rule names one of
 * those, else as the text it is (a label customer.h does not know can only
 * match itself).
 */
static int text_equal(const rules_rule *ru, const char *v)
{
	const char *want;

	switch (ru->field) {
	case CUSTOMER_F_GENDER:
		/* The rule's value was normalised when it was parsed. */
		return util_streq_nocase(customer_gender_text(customer_gender(v)), ru->text);
	case CUSTOMER_F_REGION:
		want = customer_region(ru->text);
		if (strcmp(want, "Unknown") == 0 && !util_streq_nocase(ru->text, "unknown"))
			return util_streq_nocase(v, ru->text);
		return strcmp(customer_region(v), want) == 0;
	default: return util_streq_nocase(v, ru->text);
	}
}

static int rule_matches(const rules_rule *ru, const json_t *states)
{
	const json_t *v = json_object_get(states, customer_field_key(ru->field));
	int64_t a;
	int64_t b;
	int age;

	if (v == NULL)
		return 0;
	if (ru->field != CUSTOMER_F_AGE) {
		int eq;

		if (!json_is_string(v))
			return 0;
		eq = text_equal(ru, json_string_value(v));
		return ru->op == RULES_EQ ? eq : !eq;
	}
	if (state_age(v, &age) != 0)
		return 0;
	a = age;
	b = ru->num;
	switch (ru->op) {
	case RULES_EQ: return a == b;
	case RULES_NE: return a != b;
	case RULES_LT: return a < b;
	case RULES_LE: return a <= b;
	case RULES_GT: return a > b;
	case RULES_GE: return a >= b;
	}
	return 0;
}

int rules_deny_lines(const rules *r, const json_t *states, int line[CUSTOMER_OFFER_NUM_MAX + 1])
{
	int matched = 0;

	memset(line, 0, (CUSTOMER_OFFER_NUM_MAX + 1) * sizeof(line[0]));
	for (size_t i = 0; i < r->n; i++) {
		const rules_rule *ru = &r->rule[i];

		if (!rule_matches(ru, states))
			continue;
		for (int k = 0; k < ru->ndeny; k++) {
			if (line[ru->deny[k]] == 0)
				line[ru->deny[k]] = ru->line > 0 ? ru->line : 1;
		}
		matched++;
	}
	return matched;
}

int rules_match(const rules *r, const json_t *states, unsigned char denied[CUSTOMER_OFFER_NUM_MAX + 1])
{
	int matched = 0;

	memset(denied, 0, CUSTOMER_OFFER_NUM_MAX + 1);
	for (size_t i = 0; i < r->n; i++) {
		const rules_rule *ru = &r->rule[i];

		if (!rule_matches(ru, states))
			continue;
		for (int k = 0; k < ru->ndeny; k++)
			denied[ru->deny[k]] = 1;
		matched++;
	}
	return matched;
}

int rules_apply(const rules *r, const json_t *states, json_t *offers, int *ndenied)
{
	unsigned char denied[CUSTOMER_OFFER_NUM_MAX + 1];
	int count = 0;

	if (ndenied != NULL)
		*ndenied = 0;
	if (!json_is_object(states) || !json_is_object(offers))
		return ERR_INVAL;
	if (rules_match(r, states, denied) == 0)
		return 0;
	for (void *it = json_object_iter(offers); it != NULL; it = json_object_iter_next(offers, it)) {
		int n;

		if (customer_offer_number(json_object_iter_key(it), &n) != 0 || !denied[n])
			continue;
		if (!json_is_false(json_object_iter_value(it)))
			count++;
		json_object_iter_set(offers, it, json_false());
	}
	if (ndenied != NULL)
		*ndenied = count;
	return 0;
}
