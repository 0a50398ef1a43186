/*
 * customer.h — the domain rules about a customer and the offers shown to
 * them, written once for every input path (a JSON body, a string holding
 * JSON or a Python dict, a CSV row) and for offerctl train:
 *
 *   customer id   1 to CUSTOMER_ID_MAX bytes of UTF-8, kept as sent (a tab too)
 *   fields        customer_id, timestamp and the states' age, gender,
 *                 region, last_offer, client-since; a CSV header or a
 *                 rule may spell them in other ways (customer_field_find)
 *   gender        M/m/Male/man -> 'M', F/f/Female/woman -> 'F', else 'U'
 *   region        Europa/Europe/EU, Americas/America/LATAM/..., Asia/APAC,
 *                 else "Unknown"
 *   age           a decimal number 0..150 (whole years, truncated)
 *   offer flags   true/false, "True"/"False" in any case, 1/0; a CSV cell
 *                 also takes t/f, yes/no, y/n and blank (false)
 *   offer ids     OFFER_<n> in any case, with '_', '-', ' ' or nothing
 *                 before n, is the offer OFFER_<n>; other names are kept
 *   segment       the RFM segment when known, else REGION-GENDER-AGEBAND
 *   state key     SEGMENT_MonthName_Half_WeekdayName: the join key between
 *                 the priors offerctl train writes and what /predict reads
 */
#ifndef OFFERD_CUSTOMER_H
#define OFFERD_CUSTOMER_H

#include <stddef.h>

#include "date.h"

#define CUSTOMER_ID_MAX 128    /* bytes of a customer id */
#define CUSTOMER_REGION_MAX 16 /* "Americas" and its NUL fit with room */
#define CUSTOMER_AGE_MAX 150
#define CUSTOMER_OFFER_ID_MAX 63 /* bytes of an offer id */
/* The case study's "best three offers": the most offers one decision shows.
 * Episodes, slates, rewards and the CSV result all use this one name. */
#define OFFERS_SHOWN 3
#define CUSTOMER_OFFER_NUM_MAX 999 /* OFFER_1 .. OFFER_999 */
#define CUSTOMER_SEGMENT_MAX 32    /* bytes of a segment, with the NUL */
#define CUSTOMER_STATE_KEY_MAX 128 /* bytes of a state key, with the NUL */

/* The fields a request or a CSV row carries about a customer. */
enum customer_field {
	CUSTOMER_F_ID = 0, /* customer_id */
	CUSTOMER_F_TIMESTAMP,
	CUSTOMER_F_AGE, /* from here on, keys of the request's "states" */
	CUSTOMER_F_GENDER,
	CUSTOMER_F_REGION,
	CUSTOMER_F_LAST_OFFER,
	CUSTOMER_F_CLIENT_SINCE,
	CUSTOMER_F_COUNT,
};

/* The field's key in a request: "customer_id", "timestamp", "age", "gender",
 * "region", "last_offer" or "client-since". */
const char *customer_field_key(enum customer_field f);
/*
 * The field a name spells (a CSV header, a rule's field): compared ignoring
 * case, ' ', '_', '-' and '.', with the other spellings files use (custid,
 * date, sex, customer_since, ...). 0, or ERR_INVAL when it names none.
 */
int customer_field_find(const char *name, enum customer_field *out);

/*
 * Whether s is a customer id, alike on every path that takes one (a JSON
 * body, a CSV row, DELETE /customers/{customer_id}, offerctl customers
 * forget), so that every customer offerd records can be named for erasure:
 * 1 to CUSTOMER_ID_MAX bytes of UTF-8. Other bytes are data: a control
 * character is stored as sent, and the erasure's URL carries it as %XX.
 * 0, or ERR_INVAL with why (naming customer_id) in err (err may be NULL, errlen 0).
 */
int customer_id_check(const char *s, char *err, size_t errlen);

/* The normalised attributes a policy reads. */
typedef struct customer_attrs {
	int age;                          /* -1 when unknown */
	char gender;                      /* 'M', 'F' or 'U' (unknown) */
	char region[CUSTOMER_REGION_MAX]; /* "Europa", "Americas", "Asia" or "Unknown" */
} customer_attrs;

/* Everything unknown: age -1, gender 'U', region "Unknown". */
void customer_attrs_init(customer_attrs *c);

/* 'M', 'F' or 'U' for a gender as clients write it (blanks around are ignored). */
char customer_gender(const char *s);
/* The text of a normalised gender in stored states and rules: "M", "F" or "unknown". */
const char *customer_gender_text(char gender);
/* "Europa", "Americas", "Asia" or "Unknown" (blanks around are ignored). Static string. */
const char *customer_region(const char *s);

/*
 * Reads an age written as text: a decimal number (no hex, inf or nan).
 * Returns 0 with *out, or ERR_INVAL. The range is customer_age()'s.
 */
int customer_age_text(const char *s, double *out);
/* Whole years of an age 0..150 (truncated); ERR_RANGE outside. */
int customer_age(double v, int *out);

/* Where a flag was written: typed JSON, or a spreadsheet's CSV cell. */
enum customer_syntax { CUSTOMER_JSON = 0, CUSTOMER_CSV };

/*
 * Reads an offer flag written as text (see the top of this file): 1 for
 * allowed, 0 for not. Returns 0 or ERR_INVAL when it is not a flag.
 */
int customer_flag(const char *s, enum customer_syntax syntax, int *out);

/*
 * Parses an offer number: "OFFER_4", "offer_4", "Offer-4", "offer 4",
 * "OFFER4" (any case). Writes n (1..CUSTOMER_OFFER_NUM_MAX) and returns 0,
 * else ERR_INVAL.
 */
int customer_offer_number(const char *s, int *n);
/* Writes the canonical id of offer n, "OFFER_<n>". Returns 0 or ERR_RANGE (outlen short). */
int customer_offer_name(int n, char *out, size_t outlen);
/*
 * Writes the canonical id of an offer name: OFFER_<n> when it names an
 * offer number, else the name as given. Returns ERR_INVAL when the name is
 * empty, longer than CUSTOMER_OFFER_ID_MAX, or holds a comma or a control
 * character (ids are stored comma-separated); ERR_RANGE when outlen is short.
 */
int customer_offer_id(const char *s, char *out, size_t outlen);

/*
 * The customer's segment: the RFM segment when known (rfm may be NULL or
 * ""), else a demographic bucket REGION-GENDER-AGEBAND such as
 * "Europa-M-lt30" (age bands lt30, 30to65, gt65, ageU when unknown).
 */
void customer_segment(const customer_attrs *c, const char *rfm, char *out, size_t outlen);

/*
 * The state key SEGMENT_MonthName_Half_WeekdayName, e.g.
 * "Q1_January_0_Saturday": the brief's state (segment, month, first 15 days
 * or not, weekday). Only d's month, day and weekday are read. offerctl
 * train keys its priors with it and /predict looks them up with it.
 * Returns 0, ERR_INVAL (no segment, or a month or weekday out of range) or
 * ERR_RANGE (outlen too short; out holds a truncated key).
 */
int customer_state_key(const char *segment, const date_ymd *d, char *out, size_t outlen);

/* The segment of a state key: its first component, before '_' (truncated to outlen). */
void customer_state_segment(const char *state_key, char *out, size_t outlen);

#endif
