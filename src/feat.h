/*
 * feat.h — what the contextual policies know about a request: a sparse
 * feature vector built from every key of `states`, the calendar of the
 * timestamp, the RFM segment, and the offer.
 *
 * Feature names are hashed into 2^bits buckets (Vowpal Wabbit's hashing
 * trick), so a key a client adds tomorrow is used without a dictionary to
 * keep in sync between processes, and the memory of a model is fixed by
 * bits alone: a per-offer model holds d(d+1)/2 + d statistics, d = 2^bits,
 * whatever the vocabulary (docs/simulation.md measures the collisions).
 *
 * What becomes a feature (every one value 1 unless said otherwise):
 *   bias                       always
 *   KEY (number)               x / (|x| + 50), and KEY#bN with N the
 *                              half-octave of |x| (a coarse bin, so a linear
 *                              model can bend: ages 23-31, 32-44, 45-63...)
 *   KEY (date string)          tenure: years since that date at the request's
 *                              date, y / (y + 5), and KEY#tN its octave
 *   KEY=value (other string)   lower-cased, trimmed, 48 bytes at most;
 *                              empty, "null", "unknown", "n/a": KEY=?
 *   KEY=true / KEY=false       booleans
 *   gender=M|F|U, region=R     as request.c normalises them
 *   last_offer                 lastoffer:any, and per offer lastoffer=this
 *                              when the candidate is the offer shown last
 *   season:sin, season:cos     the day of the year as a wave (the month at
 *                              day resolution; 12 month categories cost ~1
 *                              point of regret in the simulator: more
 *                              parameters, more collisions; a client that
 *                              needs them sends "month" in states)
 *   half=0|1, wday=0..6, weekend
 *   rfm=SEGMENT                when the customer's segment is known
 *   slot=K                     per slot K >= 1 (position), on request
 * Nested objects and arrays are counted in `ignored`, not used.
 *
 * The file is feat.h, not features.h: with -Isrc that name would shadow
 * glibc's <features.h> for every system header.
 */
#ifndef OFFERD_FEAT_H
#define OFFERD_FEAT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "request.h"

#define FEAT_BITS_MIN 3
#define FEAT_BITS_MAX 7
#define FEAT_CTX_MAX 96   /* context features kept from one request */
#define FEAT_NNZ_MAX 200  /* features of one (request, offer, slot) */
#define FEAT_VALUE_MAX 48 /* bytes of a string value that count */
#define FEAT_NAME_LEN 112 /* bytes of a feature's name, with its NUL */

/* The context of one request, hashed, before the offer is known. */
typedef struct feat_ctx {
	size_t n;
	uint64_t hash[FEAT_CTX_MAX];
	double val[FEAT_CTX_MAX];
	char last_offer[REQ_OFFER_NAME_MAX + 1]; /* "" when not given */
	size_t ignored;                          /* values not used */
} feat_ctx;

/* A sparse vector: distinct bucket indexes in [0, 2^bits), bias at 0. */
typedef struct feat_vec {
	size_t n;
	uint32_t idx[FEAT_NNZ_MAX];
	double val[FEAT_NNZ_MAX];
} feat_vec;

/* How feat_offer combines the offer with the context. */
enum feat_mode {
	FEAT_PER_OFFER = 0, /* the context only: each offer has its own model */
	FEAT_CROSS = 1,     /* one shared model: context, offer, offer x context */
};

/* The hash of a feature name, as the builders use it. */
uint64_t feat_hash(const char *name);

/*
 * Builds the context of req (states as JSON text, customer, date); rfm is
 * the customer's RFM segment or NULL. Returns 0, or ERR_INVAL when the
 * states text is not a JSON object (request.c has already refused that).
 */
int feat_context(const predict_req *req, const char *rfm, feat_ctx *out);
/* The same from parsed states (borrowed); date and customer as request.c fills them. */
int feat_context_json(json_t *states, const date_ymd *date, const customer_attrs *c, const char *rfm,
                      feat_ctx *out);

/* The names of a context's features, ctx->hash[i]'s at name[i] (explanations only). */
typedef struct feat_names {
	char name[FEAT_CTX_MAX][FEAT_NAME_LEN];
} feat_names;

/*
 * feat_context, also writing each feature's name into names: the slower
 * path /predict?explain=1 takes; feat_context never builds names.
 */
int feat_context_named(const predict_req *req, const char *rfm, feat_ctx *out, feat_names *names);

/* Returns the value of feature `name` in ctx, or 0 when absent. For tests and audits. */
double feat_ctx_value(const feat_ctx *ctx, const char *name);

/* The bucket of feature `name` in 2^bits buckets, as feat_offer places it. */
uint32_t feat_bucket(const char *name, unsigned bits);

/*
 * The vector of ctx for one candidate offer at slot (0-based; slot features
 * for slot >= 1 when slot_features), in 2^bits buckets.
 */
void feat_offer(const feat_ctx *ctx, const char *offer, size_t slot, int slot_features, unsigned bits,
                enum feat_mode mode, feat_vec *out);

#endif
