/*
 * feat.c — a request's states, calendar and segment as hashed sparse
 * features (feat.h lists them). Everything a client sends is used:
 * numbers as scaled numbers plus a coarse bin, dates as tenure, strings as
 * categories; nothing here rejects a request.
 */
#include "feat.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "date.h"
#include "util.h"

#define KEY_MAX 48 /* bytes of a key that count */
#define NAME_MAX_LEN (KEY_MAX + FEAT_VALUE_MAX + 16)
_Static_assert(NAME_MAX_LEN == FEAT_NAME_LEN, "feat.h's name length is the builders'");
#define NUM_SCALE 50.0   /* x / (|x| + 50): ages and counts spread over (0, 1) */
#define TENURE_SCALE 5.0 /* years */

uint64_t feat_hash(const char *name)
{
	return util_hash(name);
}

/* Set by feat_context_named for the one call on this thread; NULL otherwise. */
static _Thread_local feat_names *naming;

static void add(feat_ctx *c, const char *name, double v)
{
	if (v == 0 || !isfinite(v))
		return;
	if (c->n >= FEAT_CTX_MAX) {
		c->ignored++;
		return;
	}
	if (naming != NULL)
		util_strlcpy(naming->name[c->n], name, FEAT_NAME_LEN);
	c->hash[c->n] = feat_hash(name);
	c->val[c->n] = v;
	c->n++;
}

static void addf(feat_ctx *c, double v, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void addf(feat_ctx *c, double v, const char *fmt, ...)
{
	char name[NAME_MAX_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	add(c, name, v);
}

/* Lower-cases and trims src into dst (at most max bytes of content). */
static void normalise(const char *src, char *dst, size_t max)
{
	size_t n = 0;

	while (*src != '\0' && isspace((unsigned char)*src))
		src++;
	while (*src != '\0' && n < max) {
		unsigned char ch = (unsigned char)*src++;

		/* Control bytes would make names that print badly; they carry no meaning. */
		dst[n++] = ch < 0x20 ? '_' : (char)tolower(ch);
	}
	while (n > 0 && isspace((unsigned char)dst[n - 1]))
		n--;
	dst[n] = '\0';
}

/* A key reduced to its letters and digits, for matching spellings of one name. */
static int key_is(const char *key, const char *letters)
{
	for (; *key != '\0'; key++) {
		if (!isalnum((unsigned char)*key))
			continue;
		if (*letters == '\0' || tolower((unsigned char)*key) != *letters)
			return 0;
		letters++;
	}
	return *letters == '\0';
}

static int half_octave(double x)
{
	return (int)floor(2.0 * log2(1.0 + fabs(x)));
}

static void add_number(feat_ctx *c, const char *key, double x)
{
	/* Bounded: a client's 1e300 is one more big number, not an overflow. */
	if (x > 1e12)
		x = 1e12;
	if (x < -1e12)
		x = -1e12;
	addf(c, x / (fabs(x) + NUM_SCALE), "%s", key);
	addf(c, 1.0, "%s#b%s%d", key, x < 0 ? "-" : "", half_octave(x));
}

static int is_missing(const char *v)
{
	return v[0] == '\0' || strcmp(v, "null") == 0 || strcmp(v, "none") == 0 ||
	       strcmp(v, "unknown") == 0 || strcmp(v, "n/a") == 0 || strcmp(v, "na") == 0 ||
	       strcmp(v, "?") == 0 || strcmp(v, "-") == 0;
}

static void add_string(feat_ctx *c, const char *key, const char *raw, const date_ymd *today)
{
	char v[FEAT_VALUE_MAX + 1];
	char tmp[REQ_STRING_MAX + 1];
	double x;
	date_ymd d;

	normalise(raw, v, FEAT_VALUE_MAX);
	if (is_missing(v)) {
		addf(c, 1.0, "%s=?", key);
		return;
	}
	util_strlcpy(tmp, raw, sizeof(tmp));
	util_trim(tmp);
	if (util_strtod(tmp, -1e300, 1e300, &x) == 0) {
		add_number(c, key, x);
		return;
	}
	if (today != NULL && today->year > 0 && date_parse(tmp, &d) == 0) {
		long days = date_days_between(&d, today);
		double years = (double)days / 365.25;

		if (days < 0) {
			addf(c, 1.0, "%s=future", key);
			return;
		}
		addf(c, years / (years + TENURE_SCALE), "%s", key);
		addf(c, 1.0, "%s#t%d", key, (int)floor(log2(1.0 + years)));
		return;
	}
	addf(c, 1.0, "%s=%s", key, v);
}

int feat_context_json(json_t *states, const date_ymd *date, const customer_attrs *cust, const char *rfm,
                      feat_ctx *out)
{
	const char *k;
	json_t *v;

	memset(out, 0, sizeof(*out));
	if (states != NULL && !json_is_object(states))
		return ERR_INVAL;
	add(out, "bias", 1.0);
	json_object_foreach(states, k, v) {
		char key[KEY_MAX + 1];

		normalise(k, key, KEY_MAX);
		if (key_is(key, "gender") || key_is(key, "region"))
			continue; /* below, as request.c normalised them */
		if (key_is(key, "lastoffer")) {
			if (json_is_string(v)) {
				char name[REQ_OFFER_NAME_MAX + 1];

				util_strlcpy(name, json_string_value(v), sizeof(name));
				util_trim(name);
				util_strlcpy(out->last_offer, name, sizeof(out->last_offer));
			}
			add(out, out->last_offer[0] != '\0' ? "lastoffer:any" : "lastoffer=?", 1.0);
			continue;
		}
		if (json_is_integer(v))
			add_number(out, key, (double)json_integer_value(v));
		else if (json_is_real(v))
			add_number(out, key, json_real_value(v));
		else if (json_is_boolean(v))
			addf(out, 1.0, "%s=%s", key, json_is_true(v) ? "true" : "false");
		else if (json_is_string(v))
			add_string(out, key, json_string_value(v), date);
		else if (json_is_null(v))
			addf(out, 1.0, "%s=?", key);
		else
			out->ignored++;
	}
	if (cust != NULL) {
		addf(out, 1.0, "gender=%c", cust->gender);
		addf(out, 1.0, "region=%s", cust->region);
	}
	if (date != NULL && date->month >= 1 && date->month <= 12) {
		/* The season as a wave over the year (day resolution, two features), not 12 categories. */
		date_ymd jan1 = {date->year, 1, 1, 0};
		double doy = (double)date_days_between(&jan1, date);

		add(out, "season:sin", sin(2 * M_PI * doy / 365.25));
		add(out, "season:cos", cos(2 * M_PI * doy / 365.25));
		addf(out, 1.0, "half=%d", date->day > 15 ? 1 : 0);
		addf(out, 1.0, "wday=%d", date->weekday);
		add(out, "weekend", date->weekday == 0 || date->weekday == 6 ? 1.0 : 0.0);
	}
	if (rfm != NULL && rfm[0] != '\0') {
		char seg[FEAT_VALUE_MAX + 1];

		normalise(rfm, seg, FEAT_VALUE_MAX);
		addf(out, 1.0, "rfm=%s", seg);
	}
	return 0;
}

int feat_context(const predict_req *req, const char *rfm, feat_ctx *out)
{
	json_t *states = NULL;
	json_error_t jerr;
	int rc;

	if (req->states_text != NULL) {
		states = json_loads(req->states_text, 0, &jerr);
		if (!json_is_object(states)) {
			json_decref(states);
			memset(out, 0, sizeof(*out));
			return ERR_INVAL;
		}
	}
	rc = feat_context_json(states, &req->date, &req->customer, rfm, out);
	json_decref(states);
	return rc;
}

int feat_context_named(const predict_req *req, const char *rfm, feat_ctx *out, feat_names *names)
{
	int rc;

	naming = names;
	rc = feat_context(req, rfm, out);
	naming = NULL;
	return rc;
}

double feat_ctx_value(const feat_ctx *ctx, const char *name)
{
	uint64_t h = feat_hash(name);
	double s = 0;

	for (size_t i = 0; i < ctx->n; i++) {
		if (ctx->hash[i] == h)
			s += ctx->val[i];
	}
	return s;
}

/* The bucket of a hash: the bias owns bucket 0, everything else [1, d). */
static uint32_t bucket(uint64_t h, uint64_t bias, unsigned bits)
{
	uint64_t d = (uint64_t)1 << bits;

	if (h == bias)
		return 0;
	h *= 0x9e3779b97f4a7c15ULL;
	return (uint32_t)(1 + (h >> 17) % (d - 1));
}

uint32_t feat_bucket(const char *name, unsigned bits)
{
	if (bits < FEAT_BITS_MIN)
		bits = FEAT_BITS_MIN;
	if (bits > FEAT_BITS_MAX)
		bits = FEAT_BITS_MAX;
	return bucket(feat_hash(name), feat_hash("bias"), bits);
}

static void put(feat_vec *v, uint32_t idx, double x)
{
	for (size_t i = 0; i < v->n; i++) {
		if (v->idx[i] == idx) {
			v->val[i] += x;
			return;
		}
	}
	if (v->n < FEAT_NNZ_MAX) {
		v->idx[v->n] = idx;
		v->val[v->n] = x;
		v->n++;
	}
}

void feat_offer(const feat_ctx *ctx, const char *offer, size_t slot, int slot_features, unsigned bits,
                enum feat_mode mode, feat_vec *out)
{
	uint64_t bias = feat_hash("bias");
	uint64_t oh = feat_hash(offer);
	char name[REQ_OFFER_NAME_MAX + 32];

	if (bits < FEAT_BITS_MIN)
		bits = FEAT_BITS_MIN;
	if (bits > FEAT_BITS_MAX)
		bits = FEAT_BITS_MAX;
	out->n = 0;
	for (size_t i = 0; i < ctx->n; i++) {
		put(out, bucket(ctx->hash[i], bias, bits), ctx->val[i]);
		/* offer x context: the same feature, salted with the offer. */
		if (mode == FEAT_CROSS)
			put(out, bucket((ctx->hash[i] ^ oh) * 0xff51afd7ed558ccdULL, bias, bits),
			    ctx->val[i]);
	}
	if (ctx->last_offer[0] != '\0' && strcmp(ctx->last_offer, offer) == 0)
		put(out, bucket(feat_hash("lastoffer=this"), bias, bits), 1.0);
	if (slot_features && slot > 0) {
		snprintf(name, sizeof(name), "slot=%zu", slot);
		put(out, bucket(feat_hash(name), bias, bits), 1.0);
	}
	if (mode == FEAT_CROSS) {
		snprintf(name, sizeof(name), "offer=%s", offer);
		put(out, bucket(feat_hash(name), bias, bits), 1.0);
	}
}
