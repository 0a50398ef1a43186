/*
 * http.c — libmicrohttpd glue: a thread pool on epoll, connections that
 * suspend while the writer commits, bounded bodies, request ids and the
 * access log hook. The only file that includes microhttpd.h.
 */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cors.h"
#include "log.h"
#include "rng.h"
#include "util.h"

#define HTTP_EXTRA_HEADERS 12
/* The longest request target (RFC 9112 3: at least 8000 octets). */
#define HTTP_TARGET_MAX 8192
/*
 * MHD's memory per connection is --header-limit and this much more, so that
 * a head somewhat over offerd's own limits reaches check_head and gets
 * offerd's JSON 414 or 431; only heads beyond that get MHD's HTML. No more:
 * MHD 0.9.75 zeroes the whole of it before each request of a keep-alive
 * connection, and at twice --header-limit (80 KiB) that memset alone took a
 * quarter of GET /is-alive's CPU (docs/performance.md).
 */
#define HTTP_POOL_SLACK (16u << 10)
/*
 * A body over the limit is read and dropped, up to this much more than the
 * limit, before the 413 is sent: a client that sends its whole body before
 * reading (Python's urllib) would otherwise meet a reset instead of the 413.
 */
#define HTTP_DRAIN_MAX (8u << 20)

/*
 * A connection, as the head deadline sees it (see "slow clients" below).
 * Every field is guarded by the server's conns_lock.
 */
typedef struct http_conn {
	MHD_socket fd;
	double waiting_since; /* when it began to wait for a request head */
	double deadline;      /* by when that head must be in; 0: a request is handled */
	int shut;             /* closed by offerd (deadline or eviction) */
	struct http_conn *prev, *next;
} http_conn;

struct http_server {
	struct MHD_Daemon *d;
	http_config cfg;
	atomic_uint connections;
	atomic_uint inflight;
	int port;
	pthread_mutex_t conns_lock;
	http_conn *conns; /* every open connection */
	pthread_t reaper;
	pthread_cond_t reaper_cond;
	int reaper_stop; /* guarded by conns_lock */
	int reaper_started;
	atomic_ullong shed; /* connections closed for a late head */
	cors cors;          /* origins allowed to call from a browser */
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
	int deferred;            /* the replier's: resume on reply */
	int suspended;           /* the MHD thread's own copy: never written elsewhere */
	http_route_fn resume_fn; /* set by http_resume, run on the MHD thread */
	size_t discarded;        /* bytes thrown away after a 413 */
	struct MHD_Response *resp;
	int status;
	int queued;
	size_t nhdr;
	char *hdr_name[HTTP_EXTRA_HEADERS];
	char *hdr_value[HTTP_EXTRA_HEADERS];
	void *ctx;
	void (*ctx_free)(void *);
	int started;            /* the head is in and checked: the route ran */
	const char *raw_target; /* the request target as received (MHD's buffer) */
	size_t raw_target_len;  /* its length up to the first NUL */
	int target_bad;         /* it holds a byte no request target may hold */
	http_conn *hc;          /* its connection's deadline entry */
	struct head_set *heads; /* the set of heads being read it is in, or NULL */
};

/*
 * The requests whose head an MHD thread is reading: the request line is in
 * (on_uri), the access handler has not run. mhd_log uses it to find the
 * request libmicrohttpd is rejecting, when it is the only one.
 */
typedef struct head_set {
	atomic_uint count;
	_Atomic(http_req *) last; /* the latest added, or NULL once it left */
} head_set;

static _Thread_local head_set thread_heads;

static void heads_add(http_req *r)
{
	r->heads = &thread_heads;
	atomic_fetch_add(&r->heads->count, 1);
	atomic_store(&r->heads->last, r);
}

static void heads_remove(http_req *r)
{
	http_req *me = r;

	if (r->heads == NULL)
		return;
	atomic_compare_exchange_strong(&r->heads->last, &me, NULL);
	atomic_fetch_sub(&r->heads->count, 1);
	r->heads = NULL;
}

const char *http_method(const http_req *r)
{
	return r->method;
}
const char *http_path(const http_req *r)
{
	return r->path;
}
const char *http_request_id(const http_req *r)
{
	return r->request_id;
}
void *http_ctx(const http_req *r)
{
	return r->ctx;
}
int http_replied(const http_req *r)
{
	return r->resp != NULL || r->queued;
}
const char *http_label(const http_req *r)
{
	return r->label ? r->label : "other";
}
void http_set_label(http_req *r, const char *label)
{
	r->label = label;
}

const char *http_header(http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_query(http_req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

typedef struct query_each {
	int (*fn)(void *arg, const char *key, const char *value);
	void *arg;
	int rc;
} query_each;

static enum MHD_Result query_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	query_each *q = cls;

	(void)kind;
	q->rc = q->fn(q->arg, key, value);
	return q->rc == 0 ? MHD_YES : MHD_NO;
}

int http_query_each(http_req *r, int (*fn)(void *arg, const char *key, const char *value), void *arg)
{
	query_each q = {fn, arg, 0};

	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_iter, &q);
	return q.rc;
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

void http_reply_static(http_req *r, int status, const char *content_type, const void *data, size_t len)
{
	attach(r, status, content_type,
	       MHD_create_response_from_buffer(len, (void *)(uintptr_t)data, MHD_RESPMEM_PERSISTENT));
}

void http_reply_fd(http_req *r, int status, const char *content_type, int fd, uint64_t size)
{
	attach(r, status, content_type, MHD_create_response_from_fd64(size, fd));
}

/* A streamed body (http_reply_stream): the app's source and how to free it. */
typedef struct stream_src {
	http_stream_fn fn;
	void *arg;
	void (*free_fn)(void *);
} stream_src;

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
	stream_src *src = cls;
	long n = src->fn(src->arg, out, max);

	(void)pos;
	if (n > 0)
		return (ssize_t)n;
	return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_free(void *cls)
{
	stream_src *src = cls;

	if (src->free_fn != NULL)
		src->free_fn(src->arg);
	free(src);
}

void http_reply_stream(http_req *r, int status, const char *content_type, http_stream_fn fn, void *arg,
                       void (*free_fn)(void *))
{
	stream_src *src = xmalloc(sizeof(*src));
	struct MHD_Response *resp;

	src->fn = fn;
	src->arg = arg;
	src->free_fn = free_fn;
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_read, src,
	                                         stream_free);
	if (resp == NULL)
		stream_free(src);
	attach(r, status, content_type, resp);
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

/*
 * Whether to read and drop a body declared too large before the 413: yes
 * unless the client waits for "100 Continue" (then it reads the 413 before
 * sending anything) or the body is too large to be worth reading.
 */
static int drain_before_413(http_req *r)
{
	const char *expect = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	                                                 MHD_HTTP_HEADER_EXPECT);

	if (expect != NULL && strcasecmp(expect, "100-continue") == 0)
		return 0;
	return declared_length(r->conn) <= r->body_max + HTTP_DRAIN_MAX;
}

static int has_body(struct MHD_Connection *conn)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                             MHD_HTTP_HEADER_TRANSFER_ENCODING);

	return (cl != NULL && strcmp(cl, "0") != 0) || te != NULL;
}

static const char *reason_phrase(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

/*
 * Replies a JSON error that http.c decides itself (framing, limits) and
 * closes the connection after it: after a framing error the next byte
 * cannot be trusted to start a request. field and msg are static strings
 * without quotes or backslashes.
 */
static void reply_close(http_req *r, int status, const char *field, const char *msg)
{
	char *body = xasprintf("{\"status\":%d,\"error\":\"%s\",\"field\":\"%s\",\"message\":\"%s\"}",
	                       status, reason_phrase(status), field, msg);

	http_add_header(r, "Connection", "close");
	http_reply(r, status, "application/json", body, strlen(body));
}

/* RFC 9110 5.6.2: a header name is a token. */
static int is_token(const char *p, size_t n)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c != '\0' && strchr(extra, c) != NULL)))
			return 0;
	}
	return 1;
}

/*
 * RFC 9112 3.2: Host is uri-host [":" port]; a reg-name, an IPv4 address or
 * an IP literal in brackets are all within these characters (RFC 3986 3.2.2).
 * Empty is allowed (a target without an authority).
 */
static int is_host(const char *p, size_t n)
{
	static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	                              "-._~%!$&'()*+,;=:[]";

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\0' || strchr(allowed, p[i]) == NULL)
			return 0;
	}
	return 1;
}

typedef struct head_scan {
	int bad_name;
	int n_host;         /* Host fields */
	int host_bad;       /* one that is not host[:port] */
	int n_length;       /* Content-Length fields */
	const char *length; /* the first one */
	int length_bad;     /* not 1*DIGIT, or two that differ */
	int n_coding;       /* transfer codings, over all Transfer-Encoding fields */
	int chunked_seen;
	int chunked_last; /* the last coding seen is chunked */
	int chunked_twice;
	int other_coding; /* a coding other than chunked */
} head_scan;

/* Transfer-Encoding: a comma-separated list of codings (RFC 9112 6.1). */
static void scan_codings(head_scan *h, const char *v)
{
	while (*v != '\0') {
		size_t n;

		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		if (*v == '\0')
			break;
		n = strcspn(v, ",");
		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		if (n == 7 && strncasecmp(v, "chunked", 7) == 0) {
			h->chunked_twice |= h->chunked_seen;
			h->chunked_seen = 1;
			h->chunked_last = 1;
		} else {
			h->other_coding = 1;
			h->chunked_last = 0;
		}
		h->n_coding++;
		v += strcspn(v, ",");
	}
}

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                   const char *value, size_t value_size)
{
	head_scan *h = cls;

	(void)kind;
	if (!is_token(key, key_size))
		h->bad_name = 1;
	if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0) {
		h->n_host++;
		h->host_bad |= !is_host(value, value_size);
	} else if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		if (value_size == 0 || strspn(value, "0123456789") != value_size)
			h->length_bad = 1;
		else if (h->length != NULL && strcmp(h->length, value) != 0)
			h->length_bad = 1;
		if (h->length == NULL)
			h->length = value;
		h->n_length++;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		if (value_size == 0)
			h->other_coding = 1;
		scan_codings(h, value);
	}
	return MHD_YES;
}

/*
 * The path of a request target. RFC 9112 3.2.2: a server MUST accept the
 * absolute-form (http://host/predict), which a client talking to a proxy
 * sends; offerd routes its path ("/" when it has none). libmicrohttpd has
 * taken the query off already.
 */
static const char *origin_path(const char *url)
{
	const char *p;

	if (strncasecmp(url, "http://", 7) == 0)
		p = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		p = url + 8;
	else
		return url;
	p += strcspn(p, "/");
	return *p == '/' ? p : "/";
}

/*
 * What RFC 9112 requires of a request head and libmicrohttpd 0.9.75 lets
 * through: a proxy in front of offerd may frame the same bytes another way,
 * so every ambiguity is a 400 and a close (RFC 9112 6.3, 11.2). Returns 0,
 * or -1 after replying.
 */
static int check_head(http_req *r, const char *url, const char *version)
{
	const union MHD_ConnectionInfo *info;
	head_scan h;
	int http10;

	memset(&h, 0, sizeof(h));
	/* A NUL or a control byte in the target: MHD stops at the NUL and
	 * would serve "/is-alive\0junk" as /is-alive. MHD ends the target with
	 * a NUL where the space before the version was, so the target as
	 * received ends right before the version. */
	if (r->target_bad || (r->raw_target != NULL && r->raw_target == url && version != NULL &&
	                      version[0] != '\0' && r->raw_target + r->raw_target_len + 1 != version)) {
		reply_close(r, 400, "request-target",
		            "the request target holds a control character, a space or a NUL");
		return -1;
	}
	if (r->raw_target_len > HTTP_TARGET_MAX) {
		reply_close(r, 414, "request-target", "the request target is longer than 8192 bytes");
		return -1;
	}
	info = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if (info != NULL && info->header_size > r->srv->cfg.header_limit) {
		reply_close(r, 431, "headers", "the request head is larger than --header-limit bytes");
		return -1;
	}
	MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, scan_header, &h);
	http10 = version != NULL && strcmp(version, MHD_HTTP_VERSION_1_0) == 0;
	{
		/* The first broken rule answers. */
		const struct {
			int broken;
			int status;
			const char *field;
			const char *msg;
		} rules[] = {
		    {h.bad_name, 400, "headers",
		     "a header name holds a character other than a token's (a space before the colon?)"},
		    /* RFC 9112 3.2: a server MUST answer 400 to these. */
		    {h.n_host == 0 && !http10, 400, "Host",
		     "a Host header is required (HTTP/1.1, RFC 9112 3.2)"},
		    {h.n_host > 1, 400, "Host", "a request must carry one Host header, not several"},
		    {h.host_bad, 400, "Host", "the Host header must be host[:port]"},
		    {h.n_coding > 0 && h.n_length > 0, 400, "Transfer-Encoding",
		     "Transfer-Encoding and Content-Length together make the body length ambiguous"},
		    {h.length_bad, 400, "Content-Length",
		     "Content-Length must be one decimal number, given once (or repeated unchanged)"},
		    /* RFC 9112 6.1: an HTTP/1.0 sender may not know chunked framing. */
		    {h.n_coding > 0 && http10, 400, "Transfer-Encoding",
		     "Transfer-Encoding is not allowed in HTTP/1.0"},
		    {h.n_coding > 0 && (!h.chunked_last || h.chunked_twice), 400, "Transfer-Encoding",
		     "Transfer-Encoding must end with chunked, once, or the body length is unknown"},
		    {h.other_coding, 501, "Transfer-Encoding",
		     "offerd decodes no transfer coding but chunked; send Transfer-Encoding: chunked"},
		};

		for (size_t i = 0; i < UTIL_ARRAY_LEN(rules); i++) {
			if (rules[i].broken) {
				reply_close(r, rules[i].status, rules[i].field, rules[i].msg);
				return -1;
			}
		}
	}
	return 0;
}

/* --- slow clients --------------------------------------------------------------
 *
 * libmicrohttpd's --conn-timeout counts inactivity only: a client that sends
 * one header line every few seconds keeps its connection for ever, and a few
 * thousand such connections leave no room for anyone. So:
 *  - a request head must be complete within --head-timeout seconds of the
 *    connection's accept, or of its request line on a kept-alive connection
 *    (which may idle for --conn-timeout seconds before that line, in total,
 *    however slowly bytes trickle in);
 *  - when open connections reach 7/8 of --conn-limit, each new one closes
 *    the connection that has waited longest for a request head (a slow
 *    client, or an idle kept-alive one): the slots a slow client holds go to
 *    new clients instead of being refused at the limit;
 *  - libmicrohttpd's --per-ip-limit bounds what one address holds.
 * A connection closed so gets a 408 first. A reaper thread checks deadlines
 * four times a second; offerd closes a connection by shutting its socket
 * down, which libmicrohttpd then sees as the client's close.
 */

#define HTTP_REAP_INTERVAL 0.25

static const char late_408[] =
    "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: application/json\r\n"
    "Content-Length: 107\r\n\r\n"
    "{\"status\":408,\"error\":\"Request Timeout\",\"message\":\"the request head did not "
    "arrive in time; connect again\"}";

/* Called with conns_lock held; c's socket stays open until MHD's close
 * notification, which waits for the lock. */
static void shut_conn(http_server *s, http_conn *c)
{
	ssize_t n;

	c->shut = 1;
	c->deadline = 0;
	/* Best effort, never blocking: the client may be gone already. */
	n = send(c->fd, late_408, sizeof(late_408) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)n;
	shutdown(c->fd, SHUT_RDWR);
	atomic_fetch_add(&s->shed, 1);
}

static http_conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn,
	                                                             MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

/* The connection begins to wait for a head: accepted, or its last request done. */
static void head_wait(http_server *s, http_conn *c, double limit)
{
	double now = util_monotonic();

	pthread_mutex_lock(&s->conns_lock);
	if (!c->shut) {
		c->waiting_since = now;
		c->deadline = now + limit;
	}
	pthread_mutex_unlock(&s->conns_lock);
}

/* The request line is in: the rest of the head has --head-timeout. */
static void head_started(http_server *s, http_conn *c)
{
	double limit = util_monotonic() + (double)s->cfg.head_timeout;

	pthread_mutex_lock(&s->conns_lock);
	if (c->deadline > limit)
		c->deadline = limit;
	pthread_mutex_unlock(&s->conns_lock);
}

/* The head is in: no deadline while the request is handled. */
static void head_done(http_server *s, http_conn *c)
{
	pthread_mutex_lock(&s->conns_lock);
	c->deadline = 0;
	pthread_mutex_unlock(&s->conns_lock);
}

/* Closes the connection that has waited longest for a head, other than keep. */
static void evict_one(http_server *s, const http_conn *keep)
{
	http_conn *oldest = NULL;

	pthread_mutex_lock(&s->conns_lock);
	for (http_conn *c = s->conns; c != NULL; c = c->next) {
		if (c != keep && !c->shut && c->deadline != 0 &&
		    (oldest == NULL || c->waiting_since < oldest->waiting_since))
			oldest = c;
	}
	if (oldest != NULL)
		shut_conn(s, oldest);
	pthread_mutex_unlock(&s->conns_lock);
}

static void *reaper_main(void *arg)
{
	http_server *s = arg;
	unsigned long long reported = 0;

	pthread_mutex_lock(&s->conns_lock);
	while (!s->reaper_stop) {
		struct timespec until;
		double now = util_monotonic();
		unsigned long long shed;

		for (http_conn *c = s->conns; c != NULL; c = c->next) {
			if (!c->shut && c->deadline != 0 && now > c->deadline)
				shut_conn(s, c);
		}
		shed = atomic_load(&s->shed);
		if (shed != reported) {
			log_msg(
			    LOG_WARN,
			    "http: closed %llu connections waiting for a request head "
			    "(late, or to make room near the limit; %llu so far; --head-timeout %u s, "
			    "--conn-limit %u)",
			    shed - reported, shed, s->cfg.head_timeout, s->cfg.conn_limit);
			reported = shed;
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += (long)(HTTP_REAP_INTERVAL * 1e9);
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->reaper_cond, &s->conns_lock, &until);
	}
	pthread_mutex_unlock(&s->conns_lock);
	return NULL;
}

/* --- CORS ----------------------------------------------------------------- */

/*
 * With --cors-origin, a request whose Origin is listed gets
 * Access-Control-Allow-Origin, and its preflight (OPTIONS with
 * Access-Control-Request-Method) is answered here: 204 with the methods and
 * headers offerd takes. Returns 1 after answering a preflight. Other
 * origins get nothing, which the browser treats as a refusal.
 */
static int cors_headers(http_req *r)
{
	const http_server *s = r->srv;
	const char *origin;

	if (!cors_enabled(&s->cors))
		return 0;
	/* The answer depends on Origin: caches must keep one per origin. */
	http_add_header(r, "Vary", "Origin");
	origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
	if (!cors_allowed(&s->cors, origin))
		return 0;
	http_add_header(r, "Access-Control-Allow-Origin", origin);
	if (strcmp(r->method, "OPTIONS") != 0 ||
	    MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Access-Control-Request-Method") ==
	        NULL) {
		http_add_header(r, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
		return 0;
	}
	http_add_header(r, "Access-Control-Allow-Methods", CORS_ALLOW_METHODS);
	http_add_header(r, "Access-Control-Allow-Headers", CORS_ALLOW_HEADERS);
	http_add_header(r, "Access-Control-Max-Age", CORS_MAX_AGE);
	http_reply_static(r, 204, NULL, "", 0);
	return 1;
}

/*
 * Called by MHD when the request line is in, before the headers: the
 * target is seen here as received, before MHD splits off the query and
 * decodes it. The request object starts here, so that a request MHD
 * rejects by itself is still freed (on_completed).
 */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	http_server *s = cls;
	http_req *r = xcalloc(1, sizeof(*r));

	r->srv = s;
	r->conn = conn;
	r->start = util_monotonic();
	r->hc = conn_of(conn);
	if (r->hc != NULL)
		head_started(s, r->hc);
	heads_add(r);
	if (uri != NULL) {
		r->raw_target = uri;
		r->raw_target_len = strlen(uri);
		for (const char *p = uri; *p != '\0'; p++) {
			if ((unsigned char)*p <= 0x20 || *p == 0x7f)
				r->target_bad = 1;
		}
	}
	return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
	http_server *s = cls;
	http_req *r = *con_cls;

	if (r == NULL) {
		/* on_uri makes r; this is for a request line MHD did not report. */
		r = on_uri(s, NULL, conn);
		*con_cls = r;
	}
	if (!r->started) {
		r->started = 1;
		heads_remove(r);
		if (r->hc != NULL)
			head_done(s, r->hc);
		r->method = method;
		r->path = url;
		atomic_fetch_add(&s->inflight, 1);
		new_request_id(r);
		*con_cls = r;
		if (check_head(r, url, version) != 0)
			return queue(r);
		r->path = origin_path(url);
		if (cors_headers(r) == 0)
			s->cfg.route(s->cfg.app, r);
		if (r->resp == NULL && r->phase == PH_HEADERS)
			reply_no_answer(r, "route"); /* neither replied nor asked for a body */
		/* MHD closes the connection after a response queued in the first
		 * call, so an answer to a request without a body waits for the
		 * next call (keep-alive). An early answer to a request with a body
		 * (401, 415, 429...) must go now: MHD cannot queue it while the
		 * upload is in progress, and closing is right for such errors. */
		if (r->resp == NULL && r->phase == PH_BODY && declared_length(conn) > r->body_max) {
			reply_too_big(r);
			if (drain_before_413(r)) {
				r->phase = PH_DISCARD;
				return MHD_YES;
			}
		}
		if (r->resp != NULL && has_body(conn))
			return queue(r);
		return MHD_YES;
	}
	if (r->phase == PH_DISCARD) {
		/* A body over the limit (declared, or chunked and grown past it):
		 * read and drop the rest (up to a bound), then answer 413, since
		 * MHD cannot answer mid-upload and a client still sending would
		 * meet a reset instead of the answer. */
		if (*upload_size > 0) {
			r->discarded += *upload_size;
			*upload_size = 0;
			return r->discarded > r->body_max + HTTP_DRAIN_MAX ? MHD_NO : MHD_YES;
		}
		return queue(r); /* the body is all in: answer now */
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
			r->body.len += n; /* counts bytes only; nothing kept */
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
	if (r == NULL)
		return;
	heads_remove(r);
	/* Not started: MHD answered the request itself (a malformed head);
	 * there is no method or path to log. */
	if (r->started && s->cfg.done != NULL)
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
	/* A kept-alive connection idles until its next request line, at most
	 * --conn-timeout seconds however slowly bytes come. */
	if (r->hc != NULL && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		head_wait(s, r->hc, (double)s->cfg.conn_timeout);
	if (r->started)
		atomic_fetch_sub(&s->inflight, 1);
	free(r);
	*con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
	http_server *s = cls;
	http_conn *c;
	const union MHD_ConnectionInfo *ci;
	unsigned open;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		open = atomic_fetch_add(&s->connections, 1) + 1;
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		c = xcalloc(1, sizeof(*c));
		c->fd = ci != NULL ? ci->connect_fd : MHD_INVALID_SOCKET;
		c->waiting_since = util_monotonic();
		c->deadline = c->waiting_since + (double)s->cfg.head_timeout;
		c->shut = c->fd == MHD_INVALID_SOCKET;
		pthread_mutex_lock(&s->conns_lock);
		c->next = s->conns;
		if (s->conns != NULL)
			s->conns->prev = c;
		s->conns = c;
		pthread_mutex_unlock(&s->conns_lock);
		*socket_ctx = c;
		if (open > s->cfg.conn_limit - s->cfg.conn_limit / 8)
			evict_one(s, c);
		return;
	}
	atomic_fetch_sub(&s->connections, 1);
	c = *socket_ctx;
	if (c == NULL)
		return;
	pthread_mutex_lock(&s->conns_lock);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&s->conns_lock);
	free(c);
	*socket_ctx = NULL;
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

/*
 * libmicrohttpd 0.9.75 answers some malformed heads itself, before offerd
 * sees them: an unparsable or over-2^64 Content-Length, a head over its
 * memory, a header line without a colon. Its answer is HTML without
 * X-Request-Id, and for a bad Content-Length it even sends its status line
 * and headers twice. It logs "Error processing request (HTTP response code
 * is N ..." first, on the connection's own thread, before it writes
 * anything. When exactly one request on this thread is between its request
 * line and its access handler, that request is the one being rejected:
 * offerd writes its own JSON answer and shuts the socket for writing, so
 * libmicrohttpd's answer fails and it closes the connection. When it cannot
 * tell (several heads in progress on the thread, or no request line yet:
 * 414, 505), libmicrohttpd's own answer goes out; the README lists those.
 */
static void answer_for_mhd(unsigned status)
{
	http_req *r = atomic_load(&thread_heads.last);
	const char *msg;
	char date[64];
	struct tm tm;
	time_t now;
	char *body;
	char *resp;
	ssize_t n;

	if (atomic_load(&thread_heads.count) != 1 || r == NULL || r->hc == NULL || r->started)
		return;
	switch (status) {
	case 400:
		msg = "the request head is malformed: a Content-Length that is not one decimal number, "
		      "or a header line without a colon";
		break;
	case 413: msg = "Content-Length is larger than any body offerd takes"; break;
	case 431: msg = "the request head is larger than offerd keeps for a connection"; break;
	default: return;
	}
	now = time(NULL);
	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
		date[0] = '\0';
	new_request_id(r);
	body = xasprintf("{\"status\":%u,\"error\":\"%s\",\"message\":\"%s\"}", status,
	                 reason_phrase((int)status), msg);
	resp = xasprintf("HTTP/1.1 %u %s\r\nDate: %s\r\nConnection: close\r\n"
	                 "Content-Type: application/json\r\nX-Request-Id: %s\r\n"
	                 "Content-Length: %zu\r\n\r\n%s",
	                 status, reason_phrase((int)status), date, r->request_id, strlen(body), body);
	pthread_mutex_lock(&r->srv->conns_lock);
	if (!r->hc->shut) {
		r->hc->shut = 1;
		r->hc->deadline = 0;
		n = send(r->hc->fd, resp, strlen(resp), MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)n;
		shutdown(r->hc->fd, SHUT_WR);
	}
	pthread_mutex_unlock(&r->srv->conns_lock);
	free(resp);
	free(body);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	static const char rejecting[] = "Error processing request (HTTP response code is %u";
	char msg[512];
	va_list again;

	(void)cls;
	va_copy(again, ap);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_msg(LOG_WARN, "http: %s", msg);
	if (strncmp(fmt, rejecting, sizeof(rejecting) - 1) == 0)
		answer_for_mhd(va_arg(again, unsigned));
	va_end(again);
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
	char err[256];

	s->cfg = *cfg;
	if (s->cfg.head_timeout == 0)
		s->cfg.head_timeout = 10;
	pthread_mutex_init(&s->conns_lock, NULL);
	pthread_cond_init(&s->reaper_cond, NULL);
	if (cors_parse(&s->cors, cfg->cors_origins, err, sizeof(err)) != 0) {
		log_msg(LOG_ERROR, "--cors-origin: %s", err);
		free(s);
		return ERR_INVAL;
	}
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
		cors_free(&s->cors);
		free(s);
		return ERR_INVAL;
	}
	s->d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, s,
	                        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR, sa,
	                        MHD_OPTION_THREAD_POOL_SIZE,
	                        (unsigned)(cfg->threads > 0 ? cfg->threads : 2),
	                        MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->per_ip_limit,
	                        MHD_OPTION_CONNECTION_LIMIT, cfg->conn_limit,
	                        MHD_OPTION_CONNECTION_TIMEOUT, cfg->conn_timeout,
	                        MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg->header_limit + HTTP_POOL_SLACK,
	                        MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
	                        MHD_OPTION_URI_LOG_CALLBACK, on_uri, s, MHD_OPTION_NOTIFY_COMPLETED,
	                        on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
	                        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, MHD_OPTION_END);
	if (s->d == NULL) {
		log_msg(LOG_ERROR, "cannot listen on %s:%d (in use, or not permitted)", cfg->host,
		        cfg->port);
		cors_free(&s->cors);
		free(s);
		return ERR_IO;
	}
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info != NULL ? info->port : cfg->port;
	if (pthread_create(&s->reaper, NULL, reaper_main, s) != 0) {
		log_msg(LOG_ERROR, "cannot start the connection reaper thread");
		http_stop(s);
		return ERR_IO;
	}
	s->reaper_started = 1;
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
	if (s->reaper_started) {
		pthread_mutex_lock(&s->conns_lock);
		s->reaper_stop = 1;
		pthread_cond_signal(&s->reaper_cond);
		pthread_mutex_unlock(&s->conns_lock);
		pthread_join(s->reaper, NULL);
	}
	MHD_stop_daemon(s->d);
	cors_free(&s->cors);
	free(s);
}
