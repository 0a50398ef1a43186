/*
 * rules.h — eligibility rules: which offers a customer may not be shown,
 * decided from the customer's states before the agent is asked.
 *
 * A rule set is a list of "condition -> deny OFFERS" lines. The built-in
 * default is Company B's contract (rules_default); a text file in the format
 * below replaces it (rules_parse / rules_load):
 *
 *     # Company B: comments start with '#', blank lines are ignored.
 *     region = Europa -> deny OFFER_4 OFFER_5 OFFER_6
 *     age > 65        -> deny OFFER_1 OFFER_3 OFFER_4
 *
 * Fields: age (operators = != < <= > >=, an integer), and the text fields
 * gender, region, last_offer, client-since (operators = and !=, compared
 * case-insensitively). A field may be spelled as a CSV header may
 * (customer_field_find: sex, customer_since, Last-Offer, ...). Rules compare the values the agent uses, as
 * customer.h normalises them, not the text a client sent (which is stored
 * as received): age in whole years, truncated, from a number or a string
 * holding one ("66.0" is 66, 65.5 is 65); gender as M, F or unknown (a
 * rule's Male/female/man/woman read as M/F); region as Europa, Americas,
 * Asia or Unknown ("Europe", "EU" are Europa; a blank or unrecognised region
 * is Unknown, which "region = unknown" matches), except that a rule value
 * customer.h does not know as a region matches only that text. The value
 * is the text between the operator and "->", trimmed; it may be written in
 * double quotes. Offers are
 * OFFER_<n> (any case, n in 1..CUSTOMER_OFFER_NUM_MAX). Rules are independent:
 * an offer is denied when any rule whose condition holds denies it. A file
 * with no rules at all means "no restrictions".
 *
 * The same file holds the company's contact policy (issue 16.2), one line
 * each, enforced by contact.c from the customer's recent decisions:
 *
 *     cap OFFER_3 2 per 7d          # OFFER_3 shown at most 2 times in 7 days
 *     cap * 5 per 1d                # every offer, each counted on its own
 *     cooldown OFFER_1 30d after accept  # not shown for 30 days once accepted
 *     cooldown * 7d after accept
 *     not-last                      # not the offer shown first last time
 *
 * Durations are a whole number and a unit: s, m, h, d or w (at most 366
 * days). A cap counts the decisions that showed the offer in any slot.
 */
#ifndef OFFERD_RULES_H
#define OFFERD_RULES_H

#include <stddef.h>

#include <jansson.h>

#include "customer.h"
#include "util.h"

#define RULES_MAX 256       /* rules per set */
#define RULES_DENY_MAX 64   /* offers named by one rule */
#define RULES_VALUE_MAX 128 /* bytes of a text value, with the NUL */
#define RULES_LINE_MAX 1024 /* bytes of one line of a rules file */
#define RULES_FILE_MAX (256 * 1024)

#define RULES_CONTACT_MAX 64                 /* contact-policy lines per set */
#define RULES_CAP_MAX 64                     /* shows a cap may allow (contact.c keeps 64 a customer) */
#define RULES_WINDOW_MAX (366 * 86400)       /* seconds of the longest window */
#define RULES_NOT_LAST_WINDOW (30.0 * 86400) /* how far back "not-last" looks */

typedef struct rules rules;

enum rules_contact_kind { RULES_CAP = 1, RULES_COOLDOWN, RULES_NOT_LAST };

/* One contact-policy line. */
typedef struct rules_contact {
	int line; /* in the rules text */
	enum rules_contact_kind kind;
	int offer;     /* OFFER_n's n; 0 for '*' (every offer); unused by not-last */
	int limit;     /* cap: shows allowed within the window */
	double window; /* seconds: the cap's window, the cool-down's length */
} rules_contact;

/* Company B's rules (see the top of this file). The caller frees the set. */
int rules_default(rules **out);

/*
 * Parses a rules text of len bytes (need not be NUL-terminated). `name` is
 * used in messages ("NAME:LINE: ..."). On error returns ERR_INVAL (or
 * ERR_TOOBIG) and writes a one-line message naming the line into err; on
 * success *out is a new set the caller frees with rules_free().
 */
int rules_parse(const char *text, size_t len, const char *name, rules **out, char *err, size_t errlen);
/*
 * Reads and parses a rules file (offerctl batch --rules, offerctl rules
 * set); same contract as rules_parse(). With text not NULL, the file's text
 * (NUL-terminated: the parse refused a NUL byte) is also kept in *text for
 * the caller to free.
 */
int rules_load(const char *path, rules **out, char **text, char *err, size_t errlen);
/* Frees r once its last holder lets go: the creator and every rules_ref(). */
void rules_free(rules *r);
/* Another holder of r (the server's cache and a request share a set); returns r. */
rules *rules_ref(rules *r);

/* The contact-policy lines of the set (*n of them), in file order; borrowed from r. */
const rules_contact *rules_contacts(const rules *r, size_t *n);
/* Seconds of history the contact policy needs: its longest window (0: none). */
double rules_horizon(const rules *r);
/* "7d", "12h", "90s": the shortest exact text of a duration, into out. */
void rules_duration_text(double seconds, char *out, size_t n);

/* Number of rules in the set. */
size_t rules_count(const rules *r);
/* 1 when both sets hold the same rules in the same order. */
int rules_equal(const rules *a, const rules *b);
/* Appends the canonical text form of the set (one rule per line) to out. */
int rules_format(const rules *r, buf *out);

/*
 * Evaluates the rules against `states` (the object of normalised states,
 * as for rules_apply): denied[n] becomes 1 for every offer number n that a
 * matching rule denies, 0 for the others. Returns the number of rules that
 * matched.
 */
/*
 * The same as rules_match, but line[n] becomes the line number of the first
 * matching rule that denies offer n (1 for the built-in set's first), 0 when
 * none does. Returns the number of rules that matched.
 */
int rules_deny_lines(const rules *r, const json_t *states, int line[CUSTOMER_OFFER_NUM_MAX + 1]);

int rules_match(const rules *r, const json_t *states, unsigned char denied[CUSTOMER_OFFER_NUM_MAX + 1]);

/*
 * Applies the rules to a JSON offers object: every offer of the `offers` object (keys OFFER_<n>,
 * any case) that a matching rule denies is set to false. `states` is the
 * object of states ("age", "gender", "region", ...), read as the agent
 * reads them (see the top of this file). A rule whose field is absent from
 * states, has the wrong type or is not an age 0..150 does not match.
 * *ndenied (may be NULL) receives the number of offers switched from true
 * to false. Returns 0, or ERR_INVAL when states or offers is not an object.
 */
int rules_apply(const rules *r, const json_t *states, json_t *offers, int *ndenied);

#endif
