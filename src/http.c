/*
 * http.c — libmicrohttpd glue: a thread pool on epoll, connections that
 * suspend while the writer commits, bounded bodies, request ids and the
 * access log hook. The only file that includes microhttpd.h.
 */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "rng.h"
#include "util.h"

#define HTTP_EXTRA_HEADERS 8

struct http_server {
	struct MHD_Daemon *d;
	http_config cfg;
	atomic_uint connections;
	atomic_uint inflight;
	int port;
};

enum phase { PH_HEADERS = 0, PH_BODY, PH_DISCARD, PH_WAITING, PH_DONE };

struct http_req {
	http_server *srv;
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
	char request_id[40];
	const char *label;
	double start;
	enum phase phase;
	size_t body_max;
	buf body;
	http_chunk_fn chunk;
	http_route_fn complete;
	int deferred;              /* the replier's: resume on reply */
	int suspended;             /* the MHD thread's own copy: never written elsewhere */
	http_route_fn resume_fn;   /* set by http_resume, run on the MHD thread */
	size_t discarded;          /* bytes thrown away after a 413 */
	struct MHD_Response *resp;
	int status;
	int queued;
	size_t nhdr;
	char *hdr_name[HTTP_EXTRA_HEADERS];
	char *hdr_value[HTTP_EXTRA_HEADERS];
	void *ctx;
	void (*ctx_free)(void *);
};

const char *http_method(const http_req *r) { return r->method; }
const char *http_path(const http_req *r) { return r->path; }
const char *http_request_id(const http_req *r) { return r->request_id; }
void *http_ctx(const http_req *r) { return r->ctx; }
int http_replied(const http_req *r) { return r->resp != NULL || r->queued; }
const char *http_label(const http_req *r) { return r->label ? r->label : "other"; }
void http_set_label(http_req *r, const char *label) { r->label = label; }

const char *http_header(http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_query(http_req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_body(const http_req *r, size_t *len)
{
	*len = r->body.len;
	return r->body.data ? r->body.data : "";
}

void http_expect_body(http_req *r, size_t max, http_chunk_fn chunk, http_route_fn complete)
{
	r->body_max = max;
	r->chunk = chunk;
	r->complete = complete;
	buf_init(&r->body, max);
	r->phase = PH_BODY;
}

void http_set_ctx(http_req *r, void *ctx, void (*free_fn)(void *))
{
	r->ctx = ctx;
	r->ctx_free = free_fn;
}

void http_add_header(http_req *r, const char *name, const char *value)
{
	if (r->nhdr == HTTP_EXTRA_HEADERS)
		return;
	r->hdr_name[r->nhdr] = xstrdup(name);
	r->hdr_value[r->nhdr] = xstrdup(value);
	r->nhdr++;
}

void http_defer(http_req *r)
{
	r->deferred = 1;
	r->suspended = 1;
	MHD_suspend_connection(r->conn);
}

void http_resume(http_req *r, http_route_fn fn)
{
	r->resume_fn = fn;
	r->deferred = 0;
	/* MHD_resume_connection takes the daemon's lock, which publishes the
	 * fields above to the MHD thread that takes it next. */
	MHD_resume_connection(r->conn);
}

/* Attaches the response; queued by the access handler on its thread. */
static void attach(http_req *r, int status, const char *ctype, struct MHD_Response *resp)
{
	if (resp == NULL) {
		log_msg(LOG_ERROR, "cannot create a response");
		return;
	}
	if (ctype != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, "X-Request-Id", r->request_id);
	for (size_t i = 0; i < r->nhdr; i++)
		MHD_add_response_header(resp, r->hdr_name[i], r->hdr_value[i]);
	r->status = status;
	r->resp = resp;
	if (r->deferred) {
		/* Resuming hands the connection back to its MHD thread, which calls
		 * the access handler again and queues r->resp there. */
		r->deferred = 0;
		MHD_resume_connection(r->conn);
	}
}

void http_reply(http_req *r, int status, const char *content_type, char *body, size_t len)
{
	attach(r, status, content_type,
	       MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE));
}

void http_reply_static(http_req *r, int status, const char *content_type, const void *data,
                       size_t len)
{
	attach(r, status, content_type,
	       MHD_create_response_from_buffer(len, (void *)(uintptr_t)data, MHD_RESPMEM_PERSISTENT));
}

void http_reply_fd(http_req *r, int status, const char *content_type, int fd, uint64_t size)
{
	attach(r, status, content_type, MHD_create_response_from_fd64(size, fd));
}

static enum MHD_Result queue(http_req *r)
{
	enum MHD_Result ret;

	ret = MHD_queue_response(r->conn, (unsigned)r->status, r->resp);
	MHD_destroy_response(r->resp);
	r->resp = NULL;
	r->queued = 1;
	r->phase = PH_DONE;
	return ret;
}

static void reply_too_big(http_req *r)
{
	char *msg = xasprintf("{\"status\":413,\"error\":\"Payload Too Large\",\"field\":\"body\","
	                      "\"message\":\"the body is larger than %zu bytes\"}",
	                      r->body_max);

	http_reply(r, 413, "application/json", msg, strlen(msg));
}

/* A route or handler that neither replied nor suspended: a bug, logged, and a 500. */
static void reply_no_answer(http_req *r, const char *who)
{
	static const char body[] = "{\"status\":500,\"error\":\"Internal Server Error\"}";

	log_msg(LOG_ERROR, "%s for %s %s gave no answer", who, r->method, r->path);
	http_reply_static(r, 500, "application/json", body, sizeof(body) - 1);
}

static void new_request_id(http_req *r)
{
	const char *given = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Request-Id");

	if (given != NULL && given[0] != '\0' && strlen(given) < sizeof(r->request_id)) {
		int ok = 1;

		/* Echo only what is safe to log and to put back in a header. */
		for (const char *p = given; *p != '\0'; p++) {
			if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
				ok = 0;
		}
		if (ok) {
			util_strlcpy(r->request_id, given, sizeof(r->request_id));
			return;
		}
	}
	snprintf(r->request_id, sizeof(r->request_id), "%016llx",
	         (unsigned long long)rng_next(rng_thread()));
}

/* The declared Content-Length, or 0. */
static size_t declared_length(struct MHD_Connection *conn)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
	int64_t n = 0;

	if (cl == NULL || util_strtonum(cl, 0, INT64_MAX, &n) != 0)
		return 0;
	return (size_t)n;
}

static int has_body(struct MHD_Connection *conn)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                             MHD_HTTP_HEADER_TRANSFER_ENCODING);

	return (cl != NULL && strcmp(cl, "0") != 0) || te != NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
	http_server *s = cls;
	http_req *r = *con_cls;

	(void)version;
	if (r == NULL) {
		r = xcalloc(1, sizeof(*r));
		r->srv = s;
		r->conn = conn;
		r->method = method;
		r->path = url;
		r->start = util_monotonic();
		atomic_fetch_add(&s->inflight, 1);
		new_request_id(r);
		*con_cls = r;
		s->cfg.route(s->cfg.app, r);
		if (r->resp == NULL && r->phase == PH_HEADERS)
			reply_no_answer(r, "route");  /* neither replied nor asked for a body */
		/* MHD closes the connection after a response queued in the first
		 * call, so an answer to a request without a body waits for the
		 * next call (keep-alive). An early answer to a request with a body
		 * (401, 415, 429...) must go now: MHD cannot queue it while the
		 * upload is in progress, and closing is right for such errors. */
		if (r->resp == NULL && r->phase == PH_BODY && declared_length(conn) > r->body_max)
			reply_too_big(r);
		if (r->resp != NULL && has_body(conn))
			return queue(r);
		return MHD_YES;
	}
	if (r->phase == PH_DISCARD) {
		/* A chunked body went over the limit: read and drop the rest (up to
		 * a bound), then answer 413, since MHD cannot answer mid-upload. */
		if (*upload_size > 0) {
			r->discarded += *upload_size;
			*upload_size = 0;
			return r->discarded > 16 * r->body_max + (1u << 20) ? MHD_NO : MHD_YES;
		}
		return queue(r);  /* the body is all in: answer now */
	}
	/* Resumed (or called again while suspended, which MHD does not do). */
	r->suspended = 0;
	if (r->resume_fn != NULL) {
		http_route_fn fn = r->resume_fn;

		r->resume_fn = NULL;
		fn(s->cfg.app, r);
		/* Suspended again: the data offered now comes back after the next resume. */
		if (r->suspended && r->resp == NULL)
			return MHD_YES;
		/* While the body streams in, fn may just let it go on. */
		if (r->resp == NULL && r->phase == PH_WAITING)
			reply_no_answer(r, "resumed handler");
	}
	if (r->resp != NULL)
		return queue(r);
	if (r->phase == PH_BODY && *upload_size > 0) {
		size_t n = *upload_size;

		*upload_size = 0;
		if (r->chunk != NULL) {
			if (r->body.len + n > r->body_max) {
				reply_too_big(r);
				goto reject;
			}
			if (r->chunk(s->cfg.app, r, upload_data, n) != 0)
				goto reject;
			r->body.len += n;  /* counts bytes only; nothing kept */
			return MHD_YES;
		}
		if (buf_add(&r->body, upload_data, n) != 0) {
			reply_too_big(r);
			goto reject;
		}
		return MHD_YES;
	}
	if (r->phase == PH_BODY) {
		r->phase = PH_WAITING;
		r->complete(s->cfg.app, r);
		/*
		 * Not r->deferred: the replier may already have answered and
		 * cleared it on its thread. Until MHD calls us again after the
		 * resume, r's answer fields belong to the replier.
		 */
		if (r->suspended)
			return MHD_YES;
		if (r->resp == NULL)
			reply_no_answer(r, "handler");
		return queue(r);
	}
	return MHD_YES;
reject:
	/* MHD cannot queue an answer in the middle of an upload: drop the rest
	 * of the body and answer when it is in (see PH_DISCARD). */
	r->phase = PH_DISCARD;
	return r->resp != NULL ? MHD_YES : MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	http_server *s = cls;
	http_req *r = *con_cls;

	(void)conn;
	(void)toe;
	if (r == NULL)
		return;
	if (s->cfg.done != NULL)
		s->cfg.done(s->cfg.app, r, r->queued ? r->status : 0, util_monotonic() - r->start);
	if (r->ctx_free != NULL)
		r->ctx_free(r->ctx);
	if (r->resp != NULL)
		MHD_destroy_response(r->resp);
	for (size_t i = 0; i < r->nhdr; i++) {
		free(r->hdr_name[i]);
		free(r->hdr_value[i]);
	}
	buf_free(&r->body);
	free(r);
	*con_cls = NULL;
	atomic_fetch_sub(&s->inflight, 1);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
	http_server *s = cls;

	(void)conn;
	(void)socket_ctx;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		atomic_fetch_add(&s->connections, 1);
	else
		atomic_fetch_sub(&s->connections, 1);
}

/*
 * Decodes %XX in place as MHD would, except %00: a NUL would cut the path
 * short ("/predict%00" served as "/predict"), so it stays as written.
 */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	char *w = s;

	(void)cls;
	(void)conn;
	for (const char *p = s; *p != '\0'; p++) {
		int hi = p[1] != '\0' ? util_hexval((unsigned char)p[1]) : -1;
		int lo = hi >= 0 && p[2] != '\0' ? util_hexval((unsigned char)p[2]) : -1;

		if (*p == '%' && hi >= 0 && lo >= 0 && (hi | lo) != 0) {
			*w++ = (char)(hi * 16 + lo);
			p += 2;
		} else {
			*w++ = *p;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_msg(LOG_WARN, "http: %s", msg);
}

int http_start(const http_config *cfg, http_server **out)
{
	http_server *s = xcalloc(1, sizeof(*s));
	struct sockaddr_in6 a6;
	struct sockaddr_in a4;
	const struct sockaddr *sa;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
	                 MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;

	s->cfg = *cfg;
	memset(&a4, 0, sizeof(a4));
	memset(&a6, 0, sizeof(a6));
	if (inet_pton(AF_INET, cfg->host, &a4.sin_addr) == 1) {
		a4.sin_family = AF_INET;
		a4.sin_port = htons((uint16_t)cfg->port);
		sa = (const struct sockaddr *)&a4;
	} else if (inet_pton(AF_INET6, cfg->host, &a6.sin6_addr) == 1) {
		a6.sin6_family = AF_INET6;
		a6.sin6_port = htons((uint16_t)cfg->port);
		sa = (const struct sockaddr *)&a6;
		flags |= MHD_USE_IPv6;
	} else if (strcmp(cfg->host, "localhost") == 0) {
		a4.sin_family = AF_INET;
		a4.sin_port = htons((uint16_t)cfg->port);
		a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa = (const struct sockaddr *)&a4;
	} else {
		log_msg(LOG_ERROR, "--host must be an IPv4 or IPv6 address, got \"%s\"", cfg->host);
		free(s);
		return ERR_INVAL;
	}
	s->d = MHD_start_daemon(
	    flags, (uint16_t)cfg->port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
	    mhd_log, NULL, MHD_OPTION_SOCK_ADDR, sa,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(cfg->threads > 0 ? cfg->threads : 2),
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->per_ip_limit,
	    MHD_OPTION_CONNECTION_LIMIT, cfg->conn_limit, MHD_OPTION_CONNECTION_TIMEOUT,
	    cfg->conn_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg->header_limit,
	    MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
	    s, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024,
	    MHD_OPTION_END);
	if (s->d == NULL) {
		log_msg(LOG_ERROR, "cannot listen on %s:%d (in use, or not permitted)", cfg->host,
		        cfg->port);
		free(s);
		return ERR_IO;
	}
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info != NULL ? info->port : cfg->port;
	*out = s;
	return 0;
}

int http_port(http_server *s)
{
	return s->port;
}

unsigned http_connections(http_server *s)
{
	return atomic_load(&s->connections);
}

unsigned http_inflight(http_server *s)
{
	return atomic_load(&s->inflight);
}

void http_quiesce(http_server *s)
{
	MHD_socket fd = MHD_quiesce_daemon(s->d);

	if (fd != MHD_INVALID_SOCKET)
		close(fd);
}

void http_stop(http_server *s)
{
	if (s == NULL)
		return;
	MHD_stop_daemon(s->d);
	free(s);
}
