/*
 * cors.h — which web origins may call offerd from a browser (--cors-origin),
 * and what their preflight is told. http.c adds the headers; this module
 * only parses the list and matches an Origin against it.
 */
#ifndef OFFERD_CORS_H
#define OFFERD_CORS_H

#include <stddef.h>

/* Origins --cors-origin may list. */
#define CORS_MAX 16
/* Request headers and methods a browser may use on a cross-origin call. */
#define CORS_ALLOW_HEADERS "Authorization, X-API-Key, Content-Type, Idempotency-Key, X-Request-Id"
#define CORS_ALLOW_METHODS "GET, HEAD, POST, PUT"
/* Response headers a page may read. */
#define CORS_EXPOSE_HEADERS "X-Request-Id, Retry-After"
/* Seconds a browser may cache a preflight's answer. */
#define CORS_MAX_AGE "600"

typedef struct cors {
	char *origin[CORS_MAX];
	size_t n;
	int any; /* "*": every origin */
} cors;

/*
 * Parses a comma-separated list of origins ("https://shop.example.com",
 * "http://127.0.0.1:8080": a scheme, a host, an optional port, no path, not
 * even "/"), or "*". NULL or "" allows none. Returns 0, or ERR_INVAL with a
 * message in err. c is zeroed first; free it with cors_free().
 */
int cors_parse(cors *c, const char *list, char *err, size_t errlen);
/* 1 when origin (an Origin header) may call: listed (case-insensitively), or "*". */
int cors_allowed(const cors *c, const char *origin);
/* 1 when the list allows any origin at all (CORS is on). */
int cors_enabled(const cors *c);
void cors_free(cors *c);

#endif
