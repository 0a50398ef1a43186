/*
 * customer.c — normalisation of customer attributes, offer flags and offer
 * ids (see customer.h). request.c (JSON bodies), csvin.c (CSV rows),
 * rules.c (rules files) and agent.c read customers and offers only through
 * these functions, so that one spelling means the same thing everywhere.
 */
#include "customer.h"

#include <ctype.h>
#include <float.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "csvread.h"
#include "util.h"

#define TEXT_MAX 64 /* longest gender or region worth comparing */

/* --- the customer id ------------------------------------------------------ */

int customer_id_check(const char *s, char *err, size_t errlen)
{
	size_t len = strlen(s);

	if (len == 0) {
		snprintf(err, errlen, "missing customer_id");
		return ERR_INVAL;
	}
	if (len > CUSTOMER_ID_MAX) {
		snprintf(err, errlen, "customer_id is longer than %d bytes", CUSTOMER_ID_MAX);
		return ERR_INVAL;
	}
	if (!util_utf8_valid(s)) {
		snprintf(err, errlen, "customer_id is not valid UTF-8");
		return ERR_INVAL;
	}
	return 0;
}

/* --- fields ------------------------------------------------------------- */

static const char *const field_keys[CUSTOMER_F_COUNT] = {
    "customer_id", "timestamp", "age", "gender", "region", "last_offer", "client-since",
};

/* Spellings after folding (csvr_name_fold: lower case, no ' ', '_', '-', '.'). */
static const struct {
	const char *folded;
	enum customer_field field;
} field_names[] = {
    {"customerid", CUSTOMER_F_ID},
    {"customer", CUSTOMER_F_ID},
    {"custid", CUSTOMER_F_ID},
    {"clientid", CUSTOMER_F_ID},
    {"customerno", CUSTOMER_F_ID},
    {"customernumber", CUSTOMER_F_ID},
    {"timestamp", CUSTOMER_F_TIMESTAMP},
    {"date", CUSTOMER_F_TIMESTAMP},
    {"age", CUSTOMER_F_AGE},
    {"gender", CUSTOMER_F_GENDER},
    {"sex", CUSTOMER_F_GENDER},
    {"region", CUSTOMER_F_REGION},
    {"lastoffer", CUSTOMER_F_LAST_OFFER},
    {"clientsince", CUSTOMER_F_CLIENT_SINCE},
    {"customersince", CUSTOMER_F_CLIENT_SINCE},
};

const char *customer_field_key(enum customer_field f)
{
	return (int)f >= 0 && f < CUSTOMER_F_COUNT ? field_keys[f] : "";
}

int customer_field_find(const char *name, enum customer_field *out)
{
	char folded[64];

	if (csvr_name_fold(name, folded, sizeof(folded)) != 0)
		return ERR_INVAL;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(field_names); i++) {
		if (strcmp(folded, field_names[i].folded) == 0) {
			*out = field_names[i].field;
			return 0;
		}
	}
	return ERR_INVAL;
}

void customer_attrs_init(customer_attrs *c)
{
	c->age = -1;
	c->gender = 'U';
	util_strlcpy(c->region, "Unknown", sizeof(c->region));
}

/* Copies s without the blanks around it; "" when it is too long to be a name. */
static const char *trimmed(const char *s, char tmp[TEXT_MAX])
{
	if (strlen(s) >= TEXT_MAX)
		return "";
	util_strlcpy(tmp, s, TEXT_MAX);
	return util_trim(tmp);
}

char customer_gender(const char *s)
{
	static const util_pair map[] = {
	    {"m", "M"}, {"male", "M"}, {"man", "M"}, {"f", "F"}, {"female", "F"}, {"woman", "F"},
	};
	char tmp[TEXT_MAX];

	return util_pair_find(map, UTIL_ARRAY_LEN(map), trimmed(s, tmp), 1, "U")[0];
}

const char *customer_gender_text(char gender)
{
	return gender == 'M' ? "M" : gender == 'F' ? "F" : "unknown";
}

const char *customer_region(const char *s)
{
	static const util_pair map[] = {
	    {"europa", "Europa"},
	    {"europe", "Europa"},
	    {"eu", "Europa"},
	    {"americas", "Americas"},
	    {"america", "Americas"},
	    {"north america", "Americas"},
	    {"south america", "Americas"},
	    {"latam", "Americas"},
	    {"asia", "Asia"},
	    {"apac", "Asia"},
	};
	char tmp[TEXT_MAX];

	return util_pair_find(map, UTIL_ARRAY_LEN(map), trimmed(s, tmp), 1, "Unknown");
}

int customer_age_text(const char *s, double *out)
{
	/* Any finite number: out of range is customer_age()'s answer, not "not a number". */
	return util_strtod(s, -DBL_MAX, DBL_MAX, out) == 0 ? 0 : ERR_INVAL;
}

int customer_age(double v, int *out)
{
	if (!(v >= 0 && v <= CUSTOMER_AGE_MAX))
		return ERR_RANGE;
	*out = (int)v;
	return 0;
}

int customer_flag(const char *s, enum customer_syntax syntax, int *out)
{
	/*
	 * JSON bodies are typed, so only the unambiguous strings count there.
	 * CSV cells come from spreadsheets and databases, which write yes/no,
	 * T/F and leave false blank.
	 */
	static const struct {
		const char *text;
		int flag;
		int csv_only;
	} spellings[] = {
	    {"true", 1, 0}, {"1", 1, 0}, {"false", 0, 0}, {"0", 0, 0}, {"t", 1, 1}, {"yes", 1, 1},
	    {"y", 1, 1},    {"f", 0, 1}, {"no", 0, 1},    {"n", 0, 1}, {"", 0, 1},
	};

	for (size_t i = 0; i < UTIL_ARRAY_LEN(spellings); i++) {
		if (spellings[i].csv_only && syntax != CUSTOMER_CSV)
			continue;
		if (util_streq_nocase(s, spellings[i].text)) {
			*out = spellings[i].flag;
			return 0;
		}
	}
	return ERR_INVAL;
}

int customer_offer_number(const char *s, int *n)
{
	int64_t v;

	if (strncasecmp(s, "offer", 5) != 0)
		return ERR_INVAL;
	s += 5;
	if (*s == '_' || *s == '-' || *s == ' ')
		s++;
	/* util_strtonum accepts a sign; an offer number is digits only. */
	if (!isdigit((unsigned char)*s))
		return ERR_INVAL;
	if (util_strtonum(s, 1, CUSTOMER_OFFER_NUM_MAX, &v) != 0)
		return ERR_INVAL;
	*n = (int)v;
	return 0;
}

int customer_offer_name(int n, char *out, size_t outlen)
{
	int w = snprintf(out, outlen, "OFFER_%d", n);

	return w >= 0 && (size_t)w < outlen ? 0 : ERR_RANGE;
}

int customer_offer_id(const char *s, char *out, size_t outlen)
{
	size_t len = strlen(s);
	int n;

	if (len == 0 || len > CUSTOMER_OFFER_ID_MAX)
		return ERR_INVAL;
	for (const char *p = s; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == ',')
			return ERR_INVAL;
	}
	if (customer_offer_number(s, &n) == 0)
		return customer_offer_name(n, out, outlen);
	if (len >= outlen)
		return ERR_RANGE;
	memcpy(out, s, len + 1);
	return 0;
}

void customer_segment(const customer_attrs *c, const char *rfm, char *out, size_t outlen)
{
	const char *band;

	if (rfm != NULL && rfm[0] != '\0') {
		util_strlcpy(out, rfm, outlen);
		return;
	}
	if (c->age < 0)
		band = "ageU";
	else if (c->age < 30)
		band = "lt30";
	else if (c->age <= 65)
		band = "30to65";
	else
		band = "gt65";
	snprintf(out, outlen, "%s-%c-%s", c->region, c->gender, band);
}

int customer_state_key(const char *segment, const date_ymd *d, char *out, size_t outlen)
{
	const char *month = date_month_name(d->month);
	const char *weekday = date_weekday_name(d->weekday);
	int n;

	if (outlen > 0)
		out[0] = '\0';
	if (segment == NULL || segment[0] == '\0' || month == NULL || weekday == NULL || d->day < 1 ||
	    d->day > 31)
		return ERR_INVAL;
	n = snprintf(out, outlen, "%s_%s_%d_%s", segment, month, date_half(d->day), weekday);
	if (n < 0 || (size_t)n >= outlen)
		return ERR_RANGE;
	return 0;
}

void customer_state_segment(const char *state_key, char *out, size_t outlen)
{
	const char *us = strchr(state_key, '_');
	size_t n = us ? (size_t)(us - state_key) : strlen(state_key);

	if (outlen == 0)
		return;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, state_key, n);
	out[n] = '\0';
}
