/*
 * api.c — routing, tenants, errors, and the small endpoints: /is-alive,
 * /metrics and the static files (/, /docs, /openapi.json).
 */
#include "api.h"

#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "auth.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

enum route_id {
	R_ALIVE,
	R_READY,
	R_PREDICT,
	R_PREDICT_V2,
	R_REWARDS,
	R_BATCH,
	R_METRICS,
	R_OPENAPI,
	R_DOCS,
	R_DOCS_ASSET,
	R_INDEX,
};

typedef struct route {
	const char *path;
	int prefix;         /* path is a prefix (static assets) */
	const char *method;
	const char *allow;  /* Allow header for 405 */
	enum route_id id;
	int auth;           /* needs a tenant */
	const char *label;  /* for logs and metrics */
} route;

static const route routes[] = {
    {"/is-alive", 0, "GET", "GET, HEAD", R_ALIVE, 0, "/is-alive"},
    {"/ready", 0, "GET", "GET, HEAD", R_READY, 0, "/ready"},
    {"/predict", 0, "POST", "POST", R_PREDICT, 1, "/predict"},
    {"/predict-v2", 0, "POST", "POST", R_PREDICT_V2, 1, "/predict-v2"},
    {"/rewards", 0, "PUT", "PUT", R_REWARDS, 1, "/rewards"},
    {"/batch", 0, "POST", "POST", R_BATCH, 1, "/batch"},
    {"/metrics", 0, "GET", "GET, HEAD", R_METRICS, 0, "/metrics"},
    {"/openapi.json", 0, "GET", "GET, HEAD", R_OPENAPI, 0, "static"},
    {"/docs", 0, "GET", "GET, HEAD", R_DOCS, 0, "static"},
    {"/docs/assets/", 1, "GET", "GET, HEAD", R_DOCS_ASSET, 0, "static"},
    {"/", 0, "GET", "GET, HEAD", R_INDEX, 0, "static"},
};

void api_print_routes(void)
{
	for (size_t i = 0; i < UTIL_ARRAY_LEN(routes); i++)
		printf("%s %s%s\n", routes[i].method, routes[i].path, routes[i].prefix ? "{file}" : "");
}

int api_status(int err)
{
	switch (err) {
	case 0: return 200;
	case ERR_SYNTAX: return 400;
	case ERR_AUTH: return 401;
	case ERR_NOTFOUND: return 404;
	case ERR_METHOD: return 405;
	case ERR_CONFLICT: return 409;
	case ERR_TOOBIG: return 413;
	case ERR_MEDIA: return 415;
	case ERR_INVAL:
	case ERR_RANGE: return 422;
	case ERR_RATE: return 429;
	case ERR_UNAVAIL: return 503;
	default: return 500;
	}
}

static const char *reason(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

static void reply_json(http_req *r, int status, json_t *j)
{
	char *body = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

	json_decref(j);
	http_reply(r, status, "application/json", body, strlen(body));
}

void api_error(http_req *r, int err, const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int status = api_status(err);
	json_t *j;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	j = json_object();
	json_object_set_new(j, "status", json_integer(status));
	json_object_set_new(j, "error", json_string(reason(status)));
	if (field != NULL && field[0] != '\0')
		json_object_set_new(j, "field", json_string(field));
	/* Messages may quote client input: keep them valid UTF-8 for JSON. */
	{
		json_t *m = json_string(msg);

		json_object_set_new(j, "message", m ? m : json_string("invalid input (not UTF-8)"));
	}
	if (status == 503)
		http_add_header(r, "Retry-After", "1");
	if (status == 401)
		http_add_header(r, "WWW-Authenticate", "Bearer");
	reply_json(r, status, j);
}

void api_error_req(http_req *r, const req_error *e)
{
	api_error(r, e->err, e->field, "%s", e->message);
}

int api_require_type(http_req *r, const char *type, const char *alt)
{
	const char *ct = http_header(r, "Content-Type");
	size_t n;

	/* A missing type is taken as the expected one: curl -d and many
	 * clients send none or a form type by default. */
	if (ct == NULL || ct[0] == '\0')
		return 0;
	n = strcspn(ct, "; ");
	if ((strlen(type) == n && strncasecmp(ct, type, n) == 0) ||
	    (alt != NULL && strlen(alt) == n && strncasecmp(ct, alt, n) == 0))
		return 0;
	api_error(r, ERR_MEDIA, "Content-Type", "Content-Type must be %s, got \"%.64s\"", type, ct);
	return ERR_MEDIA;
}

/* --- tenants ------------------------------------------------------------ */

static int resolve_tenant(server *s, http_req *r, api_tenant *t)
{
	const char *key = NULL;
	const char *why = NULL;
	int rc;

	if (strcmp(s->cfg->auth, "off") == 0) {
		util_strlcpy(t->company, s->cfg->company, sizeof(t->company));
		snprintf(t->key_id, sizeof(t->key_id), "company:%s", t->company);
		return 0;
	}
	rc = auth_key_from_headers(http_header(r, "X-API-Key"), http_header(r, "Authorization"), &key,
	                           &why);
	if (rc != 0) {
		api_error(r, rc, "Authorization", "%s", why);
		return rc;
	}
	if (key == NULL || key[0] == '\0') {
		api_error(r, ERR_AUTH, "Authorization",
		          "an API key is required: send \"Authorization: Bearer KEY\" or \"X-API-Key: KEY\"");
		return ERR_AUTH;
	}
	if (strlen(key) > 256 || !server_key_company(s, key, t->company, sizeof(t->company))) {
		api_error(r, ERR_AUTH, "Authorization", "the API key is not valid");
		return ERR_AUTH;
	}
	/* Buckets are per key: the hash, never the key itself, stays in memory. */
	auth_hash(key, t->key_id);
	return 0;
}

/* --- static files -------------------------------------------------------- */

typedef struct static_file {
	char *path;
	char *data;
	size_t len;
	struct static_file *next;
} static_file;

/* Loaded once, kept for the life of the process; files are small. */
static pthread_mutex_t static_lock = PTHREAD_MUTEX_INITIALIZER;
static static_file *static_files;

static const char *content_type(const char *path)
{
	static const struct {
		const char *ext;
		const char *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"}, {".js", "application/javascript"},
	    {".css", "text/css"},                  {".json", "application/json"},
	    {".png", "image/png"},                 {".svg", "image/svg+xml"},
	    {".map", "application/json"},
	};
	const char *dot = strrchr(path, '.');

	for (size_t i = 0; dot != NULL && i < UTIL_ARRAY_LEN(types); i++) {
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	}
	return "text/plain; charset=utf-8";
}

static const static_file *load_static(const char *path)
{
	static_file *f;
	struct stat st;
	int fd;

	pthread_mutex_lock(&static_lock);
	for (f = static_files; f != NULL; f = f->next) {
		if (strcmp(f->path, path) == 0)
			goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto out;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (64 << 20)) {
		close(fd);
		goto out;
	}
	f = xcalloc(1, sizeof(*f));
	f->path = xstrdup(path);
	f->len = (size_t)st.st_size;
	f->data = xmalloc(f->len + 1);
	if (read(fd, f->data, f->len) != (ssize_t)f->len) {
		close(fd);
		free(f->data);
		free(f->path);
		free(f);
		f = NULL;
		goto out;
	}
	close(fd);
	f->next = static_files;
	static_files = f;
out:
	pthread_mutex_unlock(&static_lock);
	return f;
}

static void serve_static(server *s, http_req *r, const char *rel)
{
	char path[4096];
	const static_file *f;

	/* Asset names are plain file names: no traversal, no hidden files. */
	for (const char *p = rel; *p != '\0'; p++) {
		if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '.' || *p == '/') ||
		    (p[0] == '.' && (p == rel || p[-1] == '/'))) {
			api_error(r, ERR_NOTFOUND, NULL, "no such file");
			return;
		}
	}
	snprintf(path, sizeof(path), "%s/%s", s->share_dir, rel);
	f = load_static(path);
	if (f == NULL) {
		api_error(r, ERR_NOTFOUND, NULL, "%s is not installed (share directory %s)", rel,
		          s->share_dir);
		return;
	}
	http_add_header(r, "Cache-Control", "public, max-age=300");
	http_reply_static(r, 200, content_type(rel), f->data, f->len);
}

/* --- small endpoints ----------------------------------------------------- */

static void is_alive(server *s, http_req *r)
{
	agent_conf c;
	char v[DB_VERSION_MAX + 8];
	json_t *j;

	server_conf(s, &c);
	snprintf(v, sizeof(v), "%s-API", c.version);
	j = json_object();
	json_object_set_new(j, "status", json_string("I'm alive and running"));
	json_object_set_new(j, "agent-version", json_string(v));
	reply_json(r, 200, j);
}

static void metrics(server *s, http_req *r)
{
	metrics_extra x;
	writer_stats ws;
	agent_conf c;
	buf b;

	writer_get_stats(s->w, &ws);
	server_conf(s, &c);
	memset(&x, 0, sizeof(x));
	x.episodes = ws.episodes;
	x.rewards = ws.rewards;
	x.batches = ws.batches;
	x.writer_failures = ws.failures;
	x.queue_depth = ws.queued;
	x.last_batch = ws.last_batch;
	_Static_assert(WRITER_SIZE_BUCKETS == UTIL_ARRAY_LEN(x.batch_size), "bucket counts differ");
	for (size_t i = 0; i < WRITER_SIZE_BUCKETS; i++)
		x.batch_size[i] = ws.batch_size[i];
	x.batch_ops = ws.ops;
	x.connections = s->http ? http_connections(s->http) : 0;
	x.values = values_count(s->vals);
	x.agent_version = c.version;
	x.policy = agent_policy_name(c.policy);
	x.store = s->dialect == STORE_PG ? "postgresql" : "sqlite";
	buf_init(&b, 16 << 20);
	metrics_render(&b, &x);
	http_reply(r, 200, "text/plain; version=0.0.4", buf_steal(&b), b.len);
}

void api_route(void *app, http_req *r)
{
	server *s = app;
	const char *path = http_path(r);
	const char *method = http_method(r);
	const route *rt = NULL;
	api_tenant t;

	for (size_t i = 0; i < UTIL_ARRAY_LEN(routes); i++) {
		if (routes[i].prefix ? strncmp(path, routes[i].path, strlen(routes[i].path)) == 0
		                     : strcmp(path, routes[i].path) == 0) {
			rt = &routes[i];
			break;
		}
	}
	if (rt == NULL) {
		http_set_label(r, "other");
		api_error(r, ERR_NOTFOUND, NULL, "no route %.128s (see /docs)", path);
		return;
	}
	http_set_label(r, rt->label);
	if (atomic_load(&s->draining)) {
		/* Shutting down: keep-alive clients must not keep us alive. */
		http_add_header(r, "Connection", "close");
		api_error(r, ERR_UNAVAIL, NULL, "offerd is shutting down; retry on another instance");
		return;
	}
	if (strcmp(method, rt->method) != 0 &&
	    !(strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
		http_add_header(r, "Allow", rt->allow);
		api_error(r, ERR_METHOD, NULL, "%s is not allowed on %s; allowed: %s", method, rt->path,
		          rt->allow);
		return;
	}
	if (rt->auth && resolve_tenant(s, r, &t) != 0)
		return;
	if (rt->auth && s->rate != NULL) {
		double retry = 0;

		if (!ratelimit_take(s->rate, t.key_id, util_monotonic(), &retry)) {
			char after[24];

			snprintf(after, sizeof(after), "%.0f", retry < 1 ? 1.0 : retry + 0.5);
			http_add_header(r, "Retry-After", after);
			api_error(r, ERR_RATE, NULL, "rate limit of %g requests/s exceeded; retry in %s s",
			          s->cfg->rate, after);
			return;
		}
	}
	switch (rt->id) {
	case R_ALIVE: is_alive(s, r); break;
	case R_READY: api_ready(s, r); break;
	case R_PREDICT: api_predict_route(s, r, &t, 0); break;
	case R_PREDICT_V2: api_predict_route(s, r, &t, 1); break;
	case R_REWARDS: api_rewards_route(s, r, &t); break;
	case R_BATCH: api_batch_route(s, r, &t); break;
	case R_METRICS: metrics(s, r); break;
	case R_OPENAPI: serve_static(s, r, "openapi.json"); break;
	case R_DOCS: serve_static(s, r, "docs.html"); break;
	case R_DOCS_ASSET: {
		char rel[512];

		snprintf(rel, sizeof(rel), "swagger-ui/%.400s", path + strlen("/docs/assets/"));
		serve_static(s, r, rel);
		break;
	}
	case R_INDEX: serve_static(s, r, "index.html"); break;
	}
}

void api_done(void *app, http_req *r, int status, double seconds)
{
	server *s = app;

	metrics_request(http_label(r), status, seconds);
	if (strcmp(s->cfg->access_log, "on") == 0) {
		/* The path is decoded by MHD: %0a would forge a log line. */
		char path[256];
		size_t j = 0;

		for (const char *p = http_path(r); *p != '\0' && j + 5 < sizeof(path); p++) {
			unsigned char c = (unsigned char)*p;

			if (c < 0x20 || c == 0x7f || c == '\\') {
				snprintf(path + j, sizeof(path) - j, "\\x%02x", c);
				j += 4;
			} else {
				path[j++] = (char)c;
			}
		}
		path[j] = '\0';
		log_msg(LOG_INFO, "%s %s %d %.3fms id=%s", http_method(r), path, status, seconds * 1e3,
		        http_request_id(r));
	}
}
