/*
 * fuzz_request.c — libFuzzer driver for the JSON body parsers of /predict
 * and /rewards (request_parse_predict, request_parse_reward).
 *
 * Both parsers see every input. Beyond "no crash, no leak, no UB" the
 * driver checks the contract callers rely on: a return of 0 yields a
 * request that satisfies the documented limits (distinct from an error,
 * which always carries a message and a negative code).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "request.h"
#include "util.h"

static void check_error(int rc, const req_error *e)
{
	if (rc >= 0 || e->err != rc || e->message[0] == '\0')
		abort();
	if (memchr(e->field, '\0', sizeof(e->field)) == NULL ||
	    memchr(e->message, '\0', sizeof(e->message)) == NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	predict_req p;
	reward_req r;
	req_error e;
	int rc;

	memset(&e, 0, sizeof(e));
	rc = request_parse_predict((const char *)data, size, &p, &e);
	if (rc == 0) {
		if (p.n_offers == 0 || p.n_offers > REQ_OFFERS_MAX || p.n_allowed == 0 ||
		    p.n_allowed > p.n_offers || p.states_text == NULL)
			abort();
		if (p.customer_id[0] == '\0' || strlen(p.customer_id) > CUSTOMER_ID_MAX)
			abort();
		if (p.date.month < 1 || p.date.month > 12 || p.date.day < 1 || p.date.day > 31 ||
		    p.date.weekday < 0 || p.date.weekday > 6)
			abort();
		if (p.customer.gender != 'M' && p.customer.gender != 'F' && p.customer.gender != 'U')
			abort();
		if (p.customer.age < -1 || p.customer.age > 150)
			abort();
		for (size_t i = 0; i < p.n_offers; i++) {
			if (p.offers[i][0] == '\0' || strchr(p.offers[i], ',') != NULL)
				abort();
		}
		request_predict_free(&p);
	} else {
		check_error(rc, &e);
		if (p.states_text != NULL)
			abort(); /* freed on error */
	}

	memset(&e, 0, sizeof(e));
	rc = request_parse_reward((const char *)data, size, &r, &e);
	if (rc == 0) {
		if (r.customer_id[0] == '\0' || (r.accepted != 0 && r.accepted != 1) || r.episode_id < 0)
			abort();
		request_reward_free(&r);
	} else {
		check_error(rc, &e);
		if (r.clicked != NULL)
			abort();
	}
	return 0;
}
