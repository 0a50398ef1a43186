/*
 * http.h — the HTTP boundary. http.c is the only file that includes
 * microhttpd.h; the API layer sees requests through these functions.
 *
 * Life of a request: when the headers are in, the app's route function is
 * called. It either replies at once (errors, static files, /is-alive) or
 * asks for the body with http_expect_body(). When the body is complete, the
 * complete function runs; it replies, or calls http_defer() and replies
 * later from any thread (the connection is suspended meanwhile, so no
 * thread waits for the database).
 */
#ifndef OFFERD_HTTP_H
#define OFFERD_HTTP_H

#include <stddef.h>
#include <stdint.h>

typedef struct http_req http_req;
typedef struct http_server http_server;

typedef void (*http_route_fn)(void *app, http_req *r);
/* A chunk of a streamed body; return 0, or an ERR_* after replying. */
typedef int (*http_chunk_fn)(void *app, http_req *r, const char *data, size_t len);
/* Called after the request is answered and done (for logs and metrics). */
typedef void (*http_done_fn)(void *app, http_req *r, int status, double seconds);

typedef struct http_config {
	const char *host;
	int port;
	int threads;              /* MHD worker threads */
	unsigned conn_limit;      /* open connections at most */
	unsigned per_ip_limit;    /* per client address; 0 = none */
	unsigned conn_timeout;    /* seconds of inactivity before a close */
	unsigned head_timeout;    /* seconds for a request head to arrive (0: 10) */
	size_t header_limit;      /* bytes of request headers per connection */
	const char *cors_origins; /* --cors-origin: comma-separated origins, "*", or NULL/"" */
	http_route_fn route;
	http_done_fn done;
	void *app;
} http_config;

int http_start(const http_config *cfg, http_server **out);
/* Stops accepting new connections; in-flight requests continue. */
void http_quiesce(http_server *s);
/* Requests started and not yet completed (idle keep-alive connections excluded). */
unsigned http_inflight(http_server *s);
/* Connections currently open. */
unsigned http_connections(http_server *s);
void http_stop(http_server *s);
/* The port actually bound (when cfg->port was 0). */
int http_port(http_server *s);

const char *http_method(const http_req *r);
const char *http_path(const http_req *r);
/* A request header, or NULL. */
const char *http_header(http_req *r, const char *name);
/* A query-string argument, or NULL. */
const char *http_query(http_req *r, const char *key);
/*
 * Calls fn(arg, key, value) for each query-string argument (value NULL for
 * "?key" without "="); stops at the first non-zero return, which it returns.
 */
int http_query_each(http_req *r, int (*fn)(void *arg, const char *key, const char *value), void *arg);
/* The request's id: the client's X-Request-Id or a generated one. */
const char *http_request_id(const http_req *r);
/* The buffered body (NUL-terminated) when not streamed. */
const char *http_body(const http_req *r, size_t *len);

/*
 * Accepts a body of at most max bytes. With chunk == NULL it is buffered;
 * otherwise chunk is called for each piece. complete runs once it is all in.
 */
void http_expect_body(http_req *r, size_t max, http_chunk_fn chunk, http_route_fn complete);

/* Per-request state of the app, freed with free_fn after the request. */
void http_set_ctx(http_req *r, void *ctx, void (*free_fn)(void *));
void *http_ctx(const http_req *r);
/* The route's label for logs and metrics (static string). */
void http_set_label(http_req *r, const char *label);
const char *http_label(const http_req *r);

/* Adds a response header (copied). */
void http_add_header(http_req *r, const char *name, const char *value);

/* Suspends the connection until a later http_reply* or http_resume from any thread. */
void http_defer(http_req *r);
/*
 * Resumes a deferred request (from any thread) and runs fn on the
 * connection's own MHD thread, where fn replies, defers again, or (while a
 * streamed body is still coming in) returns to let the body go on. The
 * writer thread uses it so that building an answer never delays the next
 * database commit.
 */
void http_resume(http_req *r, http_route_fn fn);

/* Replies with body (malloc'ed; ownership passes to http). */
void http_reply(http_req *r, int status, const char *content_type, char *body, size_t len);
/* Replies with data that outlives the server (static assets). */
void http_reply_static(http_req *r, int status, const char *content_type, const void *data, size_t len);
/* Replies with size bytes of an open file, which http closes. */
void http_reply_fd(http_req *r, int status, const char *content_type, int fd, uint64_t size);
int http_replied(const http_req *r);

/*
 * The source of a streamed body: copies at most max bytes into out and
 * returns how many, 0 at the end, or a negative ERR_* to abort (the
 * connection is closed and the client sees a cut body). It runs on the
 * connection's own MHD thread whenever the socket takes more, so a slow
 * client only delays the next call.
 */
typedef long (*http_stream_fn)(void *arg, char *out, size_t max);
/*
 * Replies with a body of unknown length (chunked in HTTP/1.1) read from
 * fn; free_fn(arg) (may be NULL) runs once the response is done with,
 * also when the client went away first.
 */
void http_reply_stream(http_req *r, int status, const char *content_type, http_stream_fn fn, void *arg,
                       void (*free_fn)(void *));

#endif
