/*
 * client.h — offerctl's one HTTP client engine (libcurl's multi interface),
 * used by `offerctl batch`, `offerctl replay` and `offerctl simulate --url`.
 *
 * A producer adds requests (jobs) in order; up to `concurrency` are in
 * flight from one thread, and finished jobs are handed back to the emitter
 * strictly in the order they were added. Memory stays bounded however many
 * jobs pass: jobs live in a fixed ring (the reorder window); the producer
 * adds only while client_room() says so, and a finished job leaves the ring
 * as soon as every job before it has finished.
 *
 * Retrying is deliberately narrow. /predict writes an episode, so a request
 * that may have reached the server is not repeated blindly: retried are 503
 * and 429 (the server refused the work; its Retry-After is honoured, bounded)
 * and transport errors where the request cannot have been answered
 * (connection refused or reset, nothing received), with jittered exponential
 * backoff. A timeout is not retried.
 *
 * When the server is clearly unusable (CLIENT_TRIP jobs in a row failed to
 * connect after all retries, or it answers 401/403/404/405, which would be
 * the same for every request) the engine stops sending: the remaining jobs
 * finish at once with an error saying they were not sent.
 */
#ifndef OFFERD_CLIENT_H
#define OFFERD_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#define CLIENT_URL_MAX 2048
#define CLIENT_KEY_MAX 512
#define CLIENT_CONCURRENCY_MAX 1024
#define CLIENT_ANSWER_MAX (64 * 1024) /* bytes of one answer */
#define CLIENT_ATTEMPTS 6             /* first try plus five retries */
#define CLIENT_TRIP 16                /* jobs failing to connect in a row before giving up */
/* Jobs a producer may still add after client_room() turned false (one read's worth). */
#define CLIENT_BURST 8192

typedef struct client client;

typedef struct client_conf {
	const char *url;        /* the endpoint, e.g. http://127.0.0.1:8000/predict */
	const char *method;     /* "POST" (NULL) or "PUT" */
	const char *api_key;    /* sent as Authorization: Bearer KEY; NULL for none */
	const char *user_agent; /* NULL: "offerctl" */
	int concurrency;        /* requests in flight, 1..CLIENT_CONCURRENCY_MAX */
	size_t window;          /* jobs pending at most (the reorder window) */
} client_conf;

/* A finished job as the emitter sees it; every pointer is valid during the call only. */
typedef struct client_job {
	int64_t seq;        /* 1-based, in the order added */
	const char *id;     /* what the producer passed ("" for NULL) */
	long status;        /* HTTP status of the last answer; 0 when none */
	const char *answer; /* the last answer's body; NULL when none */
	const char *error;  /* why the job failed outside HTTP; NULL otherwise */
	int attempts;
} client_job;

/* Called for each finished job in order. A non-zero return is kept for client_step. */
typedef int (*client_emit_fn)(void *arg, const client_job *j);

/* Makes an engine; *out is freed with client_free. Returns 0, ERR_NOMEM or ERR_IO. */
int client_new(const client_conf *conf, client_emit_fn emit, void *arg, client **out);
void client_free(client *c);

/* Whether the producer may add another job. */
int client_room(const client *c);
/* Whether every job added has been emitted. */
int client_idle(const client *c);
/*
 * Adds the next job. `body` (owned, may be NULL) is sent; with `error`
 * (owned) the job finishes at once with that error. Takes ownership of both.
 */
void client_add(client *c, const char *id, char *body, char *error);
/*
 * One turn: start requests, let curl work for at most max_wait seconds,
 * collect finished transfers, emit what is in order. Returns the emitter's
 * first non-zero result (0 while there is none).
 */
int client_step(client *c, double max_wait);
/*
 * Sends one request and waits for its end (retries included): for callers
 * that need each answer before the next request. On return *status is the
 * HTTP status (0 when none) and *answer (caller frees, may be NULL) the body;
 * returns 0 when an answer came, or ERR_UNAVAIL with *error (caller frees)
 * saying why not. Only on an idle engine.
 */
int client_call(client *c, const char *body, long *status, char **answer, char **error);

/* Jobs emitted, and retries made, so far. */
int64_t client_emitted(const client *c);
int64_t client_retries(const client *c);
/*
 * Why the server could not be used at all, or NULL: the engine stopped
 * sending (unreachable, or an answer that would be the same for every
 * request), or nothing was ever answered and jobs failed to reach it.
 */
const char *client_unusable(const client *c);

/* Checks a base URL (http:// or https://, at most CLIENT_URL_MAX). 0 or ERR_INVAL. */
int client_check_url(const char *url);
/* Checks an API key for a header line: bounded, no space or control character. */
int client_check_key(const char *key, const char **why);
/* base without trailing slashes, then path. Caller frees. */
char *client_endpoint(const char *base, const char *path);

#endif
