/*
 * request.h — validation of the JSON bodies of /predict, /predict-v2 and
 * /rewards into plain C structs. Every rejection names the field and the
 * problem; nothing here knows about HTTP.
 */
#ifndef OFFERD_REQUEST_H
#define OFFERD_REQUEST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "customer.h"
#include "date.h"

#define REQ_OFFERS_MAX 64 /* offers in one request */
#define REQ_OFFER_NAME_MAX CUSTOMER_OFFER_ID_MAX
#define REQ_STATE_FIELDS_MAX 64
#define REQ_STRING_MAX 256 /* any state value */
#define REQ_CLICKED_MAX REQ_OFFERS_MAX

/* Why a body was rejected: err is an ERR_* code, field the JSON path. */
typedef struct req_error {
	int err;
	char field[64];
	char message[256];
} req_error;

/*
 * Fills e: the code err, the JSON path field (NULL: none) and a printf-style
 * message; returns err. The one way a body parser reports a rejected field.
 */
int request_error(req_error *e, int err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

typedef struct predict_req {
	char customer_id[CUSTOMER_ID_MAX + 1];
	char timestamp[40]; /* as normalised: YYYY-MM-DD or the date-time given */
	date_ymd date;      /* the timestamp's date, as written */
	char *states_text;  /* the states as received, as JSON text; owned */
	customer_attrs customer;
	size_t n_offers; /* offers listed, in request order */
	char offers[REQ_OFFERS_MAX][REQ_OFFER_NAME_MAX + 1];
	unsigned char allowed[REQ_OFFERS_MAX];
	size_t n_allowed;
} predict_req;

typedef struct reward_req {
	char customer_id[CUSTOMER_ID_MAX + 1];
	char timestamp[40];
	int accepted;
	int64_t episode_id;                          /* 0 when absent */
	char accepted_offer[REQ_OFFER_NAME_MAX + 1]; /* "" when absent */
	char *clicked;                               /* comma-separated offers or NULL; owned */
} reward_req;

/* Parses and validates a /predict body. On error fills e and returns e->err. */
int request_parse_predict(const char *body, size_t len, predict_req *out, req_error *e);
/*
 * The same for a row read from a file (csvin.c): the customer id and
 * timestamp as text, the states object (borrowed; stored serialised), the
 * offers in order with their flags (1 allowed, 0 not). Every check of a
 * /predict body applies; on error fills e and returns e->err.
 */
int request_predict_from_row(const char *customer_id, const char *timestamp, json_t *states,
                             const char *const *offers, const unsigned char *allowed, size_t n_offers,
                             predict_req *out, req_error *e);
/* The /predict body of r, compact JSON text the caller frees; NULL when it cannot be made. */
char *request_predict_body(const predict_req *r);
/* Copies src into dst, which owns its own states_text; free both. */
void request_predict_copy(predict_req *dst, const predict_req *src);
void request_predict_free(predict_req *r);

/* Parses and validates a /rewards body. */
int request_parse_reward(const char *body, size_t len, reward_req *out, req_error *e);
void request_reward_free(reward_req *r);

/* Normalises one state object into c (age band, gender, region). */
int request_customer_from_states(json_t *states, customer_attrs *c, req_error *e);

/* Interprets an offer flag: 1 true, 0 false, -1 not a flag. */
int request_flag(json_t *v);

/* Parses a body that must be one JSON object (every JSON route's); duplicate keys are refused.
 * Returns a new reference, or NULL with e's ERR_SYNTAX saying where and why. */
json_t *request_body(const char *body, size_t len, req_error *e);

/* The first member of the object o not named in keys[0..n-1], or NULL: a misspelt member,
 * which admin bodies refuse (POST /evaluations, PUT /rules, promote and rollback). */
const char *request_unknown_member(json_t *o, const char *const *keys, size_t n);

/* The kind of a JSON value for an error message: "an object", "a string", "null"... (static text). */
const char *request_json_type_name(const json_t *v);

#endif
