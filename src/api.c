/*
 * api.c — routing, tenants, errors, and the small endpoints: /is-alive,
 * /metrics and the static files (/, /docs, /openapi.json, /console).
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
#include "personalizer.h"
#include "retention.h"
#include "util.h"

/* Route flags. */
#define ROUTE_AUTH 0x1     /* needs a tenant (API key) and is rate limited */
#define ROUTE_PREFIX 0x2   /* path is a prefix (static assets) */
#define ROUTE_JSON 0x4     /* a JSON body, at most --body-max bytes */
#define ROUTE_CSV 0x8      /* a CSV body, at most --batch-body-max-mb */
#define ROUTE_PZ 0x10      /* Personalizer v1.0: its error shape; "{name}" matches one segment */
#define ROUTE_ADMIN 0x20   /* needs an admin key (implies ROUTE_AUTH): 403 for a client key */
#define ROUTE_METRICS 0x40 /* ROUTE_ADMIN unless --metrics-auth off: /metrics names every company */

typedef struct route route;

struct route {
	const char *methods; /* also the Allow header of a 405 */
	const char *path;
	unsigned flags;
	void (*handler)(server *s, http_req *r, const route *rt,
	                const api_tenant *t); /* a GET endpoint, or */
	const api_endpoint *endpoint;         /* a call (api_call's skeleton) */
	const char *file;                     /* for serve_file: under the share directory */
	const char *label;                    /* for logs and metrics */
};

static void is_alive(server *s, http_req *r, const route *rt, const api_tenant *t);
static void ready(server *s, http_req *r, const route *rt, const api_tenant *t);
static void metrics(server *s, http_req *r, const route *rt, const api_tenant *t);
static void serve_file(server *s, http_req *r, const route *rt, const api_tenant *t);
static void serve_asset(server *s, http_req *r, const route *rt, const api_tenant *t);
static void keys_me(server *s, http_req *r, const route *rt, const api_tenant *t);
static void export_log(server *s, http_req *r, const route *rt, const api_tenant *t);
static void experiments(server *s, http_req *r, const route *rt, const api_tenant *t);

static const route routes[] = {
    {"GET, HEAD", "/is-alive", 0, is_alive, NULL, NULL, "/is-alive"},
    {"GET, HEAD", "/ready", 0, ready, NULL, NULL, "/ready"},
    {"POST", "/predict", ROUTE_AUTH | ROUTE_JSON, NULL, &api_predict_endpoint, NULL, "/predict"},
    {"POST", "/predict-v2", ROUTE_AUTH | ROUTE_JSON, NULL, &api_predict_endpoint, NULL, "/predict-v2"},
    {"PUT", "/rewards", ROUTE_AUTH | ROUTE_JSON, NULL, &api_rewards_endpoint, NULL, "/rewards"},
    {"POST", "/batch", ROUTE_AUTH | ROUTE_CSV, NULL, &api_batch_endpoint, NULL, "/batch"},
    {"GET, PUT", "/rules", ROUTE_ADMIN | ROUTE_JSON, NULL, &api_rules_endpoint, NULL, "/rules"},
    {"GET, HEAD", "/metrics", ROUTE_METRICS, metrics, NULL, NULL, "/metrics"},
    {"GET, HEAD", "/keys/me", ROUTE_AUTH, keys_me, NULL, NULL, "/keys/me"},
    {"GET", "/export", ROUTE_ADMIN, export_log, NULL, NULL, "/export"},
    {"GET, HEAD", "/experiments", ROUTE_ADMIN, experiments, NULL, NULL, "/experiments"},
    {"POST", "/experiments/promote", ROUTE_ADMIN | ROUTE_JSON, NULL, &api_experiments_promote_endpoint,
     NULL, "/experiments"},
    {"POST", "/experiments/rollback", ROUTE_ADMIN | ROUTE_JSON, NULL, &api_experiments_rollback_endpoint,
     NULL, "/experiments"},
    {"GET, HEAD, POST", "/evaluations", ROUTE_ADMIN | ROUTE_JSON, NULL, &api_evaluations_endpoint, NULL,
     "/evaluations"},
    {"GET, HEAD", "/evaluations/", ROUTE_ADMIN | ROUTE_JSON | ROUTE_PREFIX, NULL,
     &api_evaluations_endpoint, NULL, "/evaluations"},
    {"DELETE", "/customers/{customer_id}", ROUTE_ADMIN | ROUTE_JSON, NULL, &api_customers_endpoint, NULL,
     "/customers"},
    {"GET, HEAD", "/openapi.json", 0, serve_file, NULL, "openapi.json", "static"},
    {"GET, HEAD", "/docs", 0, serve_file, NULL, "docs.html", "static"},
    {"GET, HEAD", "/docs/assets/", ROUTE_PREFIX, serve_asset, NULL, "swagger-ui/", "static"},
    /* The web console (api_console.c): its data, then its pages and assets. */
    {"GET, HEAD", "/console", 0, serve_file, NULL, "console/index.html", "static"},
    {"GET, HEAD", "/console/api/overview", ROUTE_ADMIN, api_console_overview, NULL, NULL,
     "/console/api/overview"},
    {"GET, HEAD", "/console/api/model", ROUTE_ADMIN, api_console_model, NULL, NULL,
     "/console/api/model"},
    {"GET, HEAD", "/console/api/episodes", ROUTE_ADMIN, api_console_episodes, NULL, NULL,
     "/console/api/episodes"},
    {"GET, HEAD", "/console/", ROUTE_PREFIX, serve_asset, NULL, "console/", "static"},
/* Personalizer v1.0 (api_personalizer.c): one endpoint, pz_path_parse picks the operation. */
#define PZ_ROW(methods, path, label)                                               \
	{                                                                          \
		methods, PZ_PREFIX path, ROUTE_AUTH | ROUTE_JSON | ROUTE_PZ, NULL, \
		    &api_personalizer_endpoint, NULL, "/personalizer/v1.0/" label  \
	}
    PZ_ROW("POST", "rank", "rank"),
    PZ_ROW("POST", "events/{eventId}/reward", "reward"),
    PZ_ROW("POST", "events/{eventId}/activate", "activate"),
    PZ_ROW("POST", "multislot/rank", "multislot/rank"),
    PZ_ROW("POST", "multislot/events/{eventId}/reward", "multislot/reward"),
    PZ_ROW("POST", "multislot/events/{eventId}/activate", "multislot/activate"),
    PZ_ROW("GET, PUT", "configurations/service", "configurations"),
    PZ_ROW("GET, PUT, DELETE", "configurations/policy", "configurations"),
    PZ_ROW("GET, POST", "evaluations", "evaluations"),
    PZ_ROW("GET, DELETE", "evaluations/{evaluationId}", "evaluations"),
    PZ_ROW("GET, PUT, DELETE", "model", "model"),
    PZ_ROW("GET", "model/properties", "model"),
    PZ_ROW("DELETE", "logs", "logs"),
    PZ_ROW("GET", "logs/properties", "logs"),
#undef PZ_ROW
    {"GET, HEAD", "/", 0, serve_file, NULL, "index.html", "static"},
};

/* Whether method is one of the comma-separated list. */
static int method_allowed(const char *methods, const char *method)
{
	size_t n = strlen(method);

	for (const char *p = methods; *p != '\0';) {
		size_t len = strcspn(p, ",");

		if (len == n && strncmp(p, method, n) == 0)
			return 1;
		p += len;
		while (*p == ',' || *p == ' ')
			p++;
	}
	return 0;
}

void api_metrics_routes(void)
{
	for (size_t i = 0; i < UTIL_ARRAY_LEN(routes); i++) {
		if (metrics_label(routes[i].label) != 0)
			log_msg(LOG_WARN, "metrics: route %s counted as \"other\" (METRICS_LABELS_MAX)",
			        routes[i].label);
	}
}

void api_print_routes(void)
{
	for (size_t i = 0; i < UTIL_ARRAY_LEN(routes); i++) {
		for (const char *p = routes[i].methods; *p != '\0';) {
			int len = (int)strcspn(p, ",");

			printf("%.*s %s%s\n", len, p, routes[i].path,
			       routes[i].flags & ROUTE_PREFIX ? "{file}" : "");
			p += len;
			while (*p == ',' || *p == ' ')
				p++;
		}
	}
}

int api_status(int err)
{
	switch (err) {
	case 0: return 200;
	case ERR_SYNTAX: return 400;
	case ERR_AUTH: return 401;
	case ERR_FORBIDDEN: return 403;
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
	case 403: return "Forbidden";
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
	/* A field or a message may quote client input: JSON takes only UTF-8, so other bytes
	 * become U+FFFD. */
	if (field != NULL && field[0] != '\0') {
		char *f = util_utf8_fixed(field);

		json_object_set_new(j, "field", json_string(f != NULL ? f : field));
		free(f);
	}
	{
		char *m = util_utf8_fixed(msg);

		json_object_set_new(j, "message", json_string(m != NULL ? m : msg));
		free(m);
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

/* api_error, or Personalizer's error shape on its routes (rt may be NULL). */
static void route_error(http_req *r, const route *rt, int err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void route_error(http_req *r, const route *rt, int err, const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (rt != NULL && (rt->flags & ROUTE_PZ))
		api_pz_error(r, err, "%s", msg);
	else
		api_error(r, err, field, "%s", msg);
}

/* Checks the Content-Type is one of the accepted ones; replies 415 if not. */
static int require_type(http_req *r, const route *rt, const char *type, const char *alt)
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
	route_error(r, rt, ERR_MEDIA, "Content-Type", "Content-Type must be %s, got \"%.64s\"", type,
	            ct);
	return ERR_MEDIA;
}

int api_idempotency_key(http_req *r, char *out, size_t n)
{
	const char *v = http_header(r, "Idempotency-Key");
	size_t len;

	out[0] = '\0';
	if (v == NULL)
		return 0;
	len = strlen(v);
	if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
		v++;
		len -= 2;
	}
	for (size_t i = 0; i < len; i++) {
		if (v[i] < 0x21 || v[i] > 0x7e || v[i] == '"') {
			api_error(r, ERR_SYNTAX, "Idempotency-Key",
			          "Idempotency-Key must be visible ASCII characters (such as a UUID)");
			return ERR_SYNTAX;
		}
	}
	if (len == 0 || len > DB_IDEM_KEY_MAX || len >= n) {
		api_error(r, ERR_SYNTAX, "Idempotency-Key",
		          "Idempotency-Key must be 1 to %d characters, got %zu", DB_IDEM_KEY_MAX, len);
		return ERR_SYNTAX;
	}
	memcpy(out, v, len);
	out[len] = '\0';
	return 0;
}

void api_idempotency_reused(http_req *r, const char *key)
{
	api_error(r, ERR_INVAL, "Idempotency-Key",
	          "Idempotency-Key \"%s\" was used for another request; nothing was recorded", key);
}

/* --- tenants ------------------------------------------------------------ */

static int resolve_tenant(server *s, http_req *r, const route *rt, int flags, api_tenant *t)
{
	const char *key = NULL;
	const char *x_key = NULL;
	const char *why = NULL;
	int rc;

	if (strcmp(s->cfg->auth, "off") == 0) {
		util_strlcpy(t->company, s->cfg->company, sizeof(t->company));
		snprintf(t->key_id, sizeof(t->key_id), "company:%s", t->company);
		t->admin = 1; /* --auth off is a trusted development setting */
		return 0;
	}
	/* Personalizer's clients send Ocp-Apim-Subscription-Key: another name for X-API-Key. */
	rc = auth_key_subscription(http_header(r, "X-API-Key"),
	                           http_header(r, "Ocp-Apim-Subscription-Key"), &x_key, &why);
	if (rc == 0)
		rc = auth_key_from_headers(x_key, http_header(r, "Authorization"), &key, &why);
	if (rc != 0) {
		route_error(r, rt, rc, "Authorization", "%s", why);
		return rc;
	}
	if (key == NULL || key[0] == '\0') {
		route_error(
		    r, rt, ERR_AUTH, "Authorization",
		    "an API key is required: send \"Authorization: Bearer KEY\", \"X-API-Key: KEY\""
		    " or \"Ocp-Apim-Subscription-Key: KEY\"");
		return ERR_AUTH;
	}
	if (strlen(key) > 256 ||
	    !server_key_company(s, key, t->company, sizeof(t->company), &t->admin)) {
		route_error(r, rt, ERR_AUTH, "Authorization", "the API key is not valid");
		return ERR_AUTH;
	}
	if ((flags & ROUTE_ADMIN) && !t->admin) {
		route_error(r, rt, ERR_FORBIDDEN, "Authorization",
		            "this path needs an admin key; the key is a client key (offerctl keys "
		            "create --role admin)");
		return ERR_FORBIDDEN;
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
	static const util_pair types[] = {
	    {".html", "text/html; charset=utf-8"},
	    {".js", "application/javascript"},
	    {".css", "text/css"},
	    {".json", "application/json"},
	    {".png", "image/png"},
	    {".svg", "image/svg+xml"},
	    {".map", "application/json"},
	};

	return util_pair_find(types, UTIL_ARRAY_LEN(types), strrchr(path, '.'), 0,
	                      "text/plain; charset=utf-8");
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
		/* The install path stays in the log: clients get the URL path only (issue 15.16). */
		log_msg(LOG_INFO, "static file %s not found under %s", rel, s->share_dir);
		api_error(r, ERR_NOTFOUND, NULL, "no such file: %.256s", http_path(r));
		return;
	}
	http_add_header(r, "Cache-Control", "public, max-age=300");
	/* The browser takes the type as sent, and no other site may frame a page: the console
	 * acts with an admin key, and a framed page could be clicked through by another site. */
	http_add_header(r, "X-Content-Type-Options", "nosniff");
	if (strncmp(content_type(rel), "text/html", 9) == 0) {
		http_add_header(r, "X-Frame-Options", "DENY");
		http_add_header(r, "Content-Security-Policy", "frame-ancestors 'none'");
	}
	http_reply_static(r, 200, content_type(rel), f->data, f->len);
}

static void serve_file(server *s, http_req *r, const route *rt, const api_tenant *t)
{
	(void)t;
	serve_static(s, r, rt->file);
}

/* rt->path is a prefix: the rest of the path names a file under rt->file. */
static void serve_asset(server *s, http_req *r, const route *rt, const api_tenant *t)
{
	char rel[512];

	(void)t;
	snprintf(rel, sizeof(rel), "%s%.400s", rt->file, http_path(r) + strlen(rt->path));
	serve_static(s, r, rel);
}

/* --- small endpoints ----------------------------------------------------- */

/* GET /ready: the route table's shape around api_health.c. */
static void ready(server *s, http_req *r, const route *rt, const api_tenant *t)
{
	(void)rt;
	(void)t;
	api_ready(s, r);
}

/* GET /export: the route table's shape around api_export.c. */
static void export_log(server *s, http_req *r, const route *rt, const api_tenant *t)
{
	(void)rt;
	api_export(s, r, t);
}

/* GET /keys/me: the company and role of the key that asks (the console's sign-in). */
static void keys_me(server *s, http_req *r, const route *rt, const api_tenant *t)
{
	json_t *j = json_object();

	(void)s;
	(void)rt;
	json_object_set_new(j, "company", json_string(t->company));
	json_object_set_new(j, "role", json_string(t->admin ? DB_ROLE_ADMIN : DB_ROLE_CLIENT));
	reply_json(r, 200, j);
}

/* GET /experiments: the arms of the key's company (api_experiments.c). */
static void experiments(server *s, http_req *r, const route *rt, const api_tenant *t)
{
	(void)rt;
	api_experiments_get(s, r, t);
}

static void is_alive(server *s, http_req *r, const route *rt, const api_tenant *t)
{
	agent_conf c;
	char v[DB_VERSION_MAX + 8];
	json_t *j;

	(void)t;
	(void)rt;
	server_conf(s, &c);
	snprintf(v, sizeof(v), "%s-API", c.version);
	j = json_object();
	json_object_set_new(j, "status", json_string("I'm alive and running"));
	json_object_set_new(j, "agent-version", json_string(v));
	reply_json(r, 200, j);
}

/* The experiments' arms of every company, for /metrics. */
typedef struct arms_acc {
	metrics_arm *a;
	size_t n;
} arms_acc;

static void arms_add(void *arg, const char *company, const experiment_arm *arms, size_t n)
{
	arms_acc *acc = arg;

	acc->a = xrealloc(acc->a, (acc->n + n) * sizeof(*acc->a));
	for (size_t i = 0; i < n; i++) {
		metrics_arm *m = &acc->a[acc->n++];

		util_strlcpy(m->company, company, sizeof(m->company));
		util_strlcpy(m->version, arms[i].version, sizeof(m->version));
		m->arm = experiment_role_name(arms[i].role);
		m->traffic = arms[i].traffic;
		m->decisions = (long long)arms[i].decisions;
		m->rewards = (long long)arms[i].rewards;
		m->acceptance = arms[i].acceptance;
		m->lo = arms[i].lo;
		m->hi = arms[i].hi;
		m->p_better = arms[i].p_better;
	}
}

static void metrics(server *s, http_req *r, const route *rt, const api_tenant *t)
{
	arms_acc arms = {NULL, 0};
	metrics_extra x;
	writer_stats ws;
	agent_conf c;
	buf b;
	size_t len;
	int rc;

	(void)rt;
	(void)t;
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
	x.contact_rows = atomic_load(&s->contact_rows_read);
	x.agent_version = c.version;
	x.policy = agent_policy_name(c.policy);
	x.store = s->dialect == STORE_PG ? "postgresql" : "sqlite";
	server_experiment_each(s, arms_add, &arms);
	x.arms = arms.a;
	x.narms = arms.n;
	buf_init(&b, 16 << 20);
	rc = metrics_render(&b, &x);
	if (rc == 0)
		rc = retention_metrics(&b);
	free(arms.a);
	if (rc != 0) {
		buf_free(&b);
		api_error(r, ERR_IO, NULL, "the metrics text is over its %d MiB limit", 16);
		return;
	}
	len = b.len;
	http_reply(r, 200, "text/plain; version=0.0.4", buf_steal(&b), len);
}

/* --- the skeleton of a call ---------------------------------------------- */

/*
 * Calls waiting for room in the writer's queue (api_call_wait_room). The
 * queue is full of operations, and every call's operation that is done
 * wakes them all; each holds a reference (counted in pending) meanwhile.
 */
static pthread_mutex_t room_lock = PTHREAD_MUTEX_INITIALIZER;
static api_call *room_waiters;

/* Unlocks c, and frees it when the request is over and nothing refers to it. */
static void call_unlock_or_free(api_call *c)
{
	int last = c->gone && c->pending == 0;

	pthread_mutex_unlock(&c->lock);
	if (!last)
		return;
	if (c->ep->free != NULL)
		c->ep->free(c);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* The request is over (MHD's thread): the context goes with its last operation. */
static void call_free_request(void *p)
{
	api_call *c = p;

	pthread_mutex_lock(&c->lock);
	c->gone = 1;
	call_unlock_or_free(c);
}

/* The connection's thread, resumed by call_kick. */
static void call_resume(void *app, http_req *r)
{
	api_call *c = http_ctx(r);

	(void)app;
	c->ep->resume(c);
}

/* With c->lock held: something c may wait for happened; resume c if it waits. */
static void call_kick(api_call *c)
{
	c->kicked = 1;
	if (c->waiting && !c->gone) {
		c->waiting = 0;
		c->kicked = 0;
		http_resume(c->r, call_resume);
	}
}

/* The writer's thread: hand over to the connection's thread at once. */
static void call_op_done(writer_op *op)
{
	api_call *c = op->arg;
	api_call *w;

	/* A committed decision or acceptance is a contact (contact.h). */
	server_contact_op(c->s, op);
	pthread_mutex_lock(&c->lock);
	c->pending--;
	if (c->ep->op_done != NULL)
		c->ep->op_done(c, op);
	call_kick(c);
	call_unlock_or_free(c);
	/* The queue has room for one more: wake whoever waits for it. */
	pthread_mutex_lock(&room_lock);
	w = room_waiters;
	room_waiters = NULL;
	pthread_mutex_unlock(&room_lock);
	while (w != NULL) {
		api_call *next = w->room_next;

		pthread_mutex_lock(&w->lock);
		w->room_next = NULL;
		w->in_room = 0;
		w->pending--; /* the list's reference */
		call_kick(w);
		call_unlock_or_free(w);
		w = next;
	}
}

int api_call_submit(api_call *c, writer_op *op)
{
	int rc;

	op->done = call_op_done;
	op->arg = c;
	/* Counted first: the writer may be done with op before writer_submit returns. */
	pthread_mutex_lock(&c->lock);
	c->pending++;
	pthread_mutex_unlock(&c->lock);
	rc = writer_submit(c->s->w, op);
	if (rc != 0) {
		pthread_mutex_lock(&c->lock);
		c->pending--;
		pthread_mutex_unlock(&c->lock);
	}
	return rc;
}

int api_call_queue(api_call *c, writer_op *op)
{
	int rc = api_call_submit(c, op);

	if (rc != 0)
		route_error(c->r, c->rt, ERR_UNAVAIL, NULL,
		            "too many requests are waiting for the database");
	return rc;
}

void api_call_run(api_call *c, writer_op *op)
{
	if (api_call_queue(c, op) != 0)
		return;
	if (!api_call_wait(c))
		c->ep->resume(c);
}

/* Suspends c unless it was kicked since it last looked (or wait is 0). */
static int call_suspend(api_call *c, int wait)
{
	/* Suspended under the lock, so the resume cannot come before the suspend. */
	pthread_mutex_lock(&c->lock);
	if (c->kicked)
		wait = 0;
	c->kicked = 0;
	if (wait) {
		c->waiting = 1;
		http_defer(c->r);
	}
	pthread_mutex_unlock(&c->lock);
	return wait;
}

int api_call_wait(api_call *c)
{
	int wait;

	pthread_mutex_lock(&c->lock);
	wait = c->pending > 0;
	pthread_mutex_unlock(&c->lock);
	return call_suspend(c, wait);
}

int api_call_wait_all(api_call *c)
{
	for (;;) {
		int idle;

		pthread_mutex_lock(&c->lock);
		idle = c->pending == 0;
		pthread_mutex_unlock(&c->lock);
		if (idle)
			return 0;
		if (api_call_wait(c))
			return 1;
	}
}

int api_call_wait_room(api_call *c)
{
	pthread_mutex_lock(&c->lock);
	if (!c->in_room) {
		/* Not listed yet: the list holds a reference until it wakes c. */
		c->in_room = 1;
		c->pending++;
		pthread_mutex_unlock(&c->lock);
		pthread_mutex_lock(&room_lock);
		c->room_next = room_waiters;
		room_waiters = c;
		pthread_mutex_unlock(&room_lock);
	} else {
		pthread_mutex_unlock(&c->lock);
	}
	return call_suspend(c, 1);
}

void api_call_yield(api_call *c)
{
	pthread_mutex_lock(&c->lock);
	c->kicked = 0;
	http_defer(c->r);
	http_resume(c->r, call_resume);
	pthread_mutex_unlock(&c->lock);
}

static int call_chunk(void *app, http_req *r, const char *data, size_t len)
{
	api_call *c = http_ctx(r);

	(void)app;
	return c->ep->chunk(c, data, len);
}

static void call_complete(void *app, http_req *r)
{
	api_call *c = http_ctx(r);
	size_t len = 0;
	const char *body = c->ep->chunk != NULL ? NULL : http_body(r, &len);

	(void)app;
	c->ep->complete(c, body, len);
}

/* The route of every call: context, Content-Type, body. */
static void call_route(server *s, http_req *r, const route *rt, const api_tenant *t)
{
	const api_endpoint *ep = rt->endpoint;
	size_t max = (size_t)s->cfg->body_max;
	api_call *c;

	if (rt->flags & ROUTE_CSV) {
		if (require_type(r, rt, "text/csv", "application/csv") != 0)
			return;
		max = (size_t)s->cfg->batch_body_max << 20;
	} else if (require_type(r, rt, "application/json", "text/json") != 0) {
		return;
	} else if ((rt->flags & ROUTE_PZ) && max < PZ_BODY_MAX) {
		/* Personalizer's ranks carry feature lists: its own limit (docs/personalizer.md). */
		max = PZ_BODY_MAX;
	}
	c = xcalloc(1, ep->ctx_size);
	c->s = s;
	c->r = r;
	c->ep = ep;
	c->rt = rt;
	util_strlcpy(c->company, t->company, sizeof(c->company));
	pthread_mutex_init(&c->lock, NULL);
	http_set_ctx(r, c, call_free_request);
	if (ep->start != NULL && ep->start(c) != 0)
		return;
	http_expect_body(r, max, ep->chunk != NULL ? call_chunk : NULL, call_complete);
}

/* --- query parameters ---------------------------------------------------- */

/*
 * The query parameters a route takes, "name=v1|v2 name2=...", by path; any
 * other parameter, on any route, is a 400 naming it. "name=*" takes any
 * value: the handler checks it (a number within bounds, say).
 */
static const struct {
	const char *path;
	const char *query;
} route_queries[] = {
    {"/batch", "v2=0|1|true|false rules=default|none"},
    {"/console/api/overview", "minutes=*"},
    {"/console/api/model", "minutes=*"},
    {"/console/api/episodes", "limit=*"},
    {"/export", "from=* to=* format=dsjson|csv"},
    {"/predict", "explain=0|1|true|false"},
    {"/predict-v2", "explain=0|1|true|false"},
};

static const char *route_query(const route *rt)
{
	for (size_t i = 0; i < UTIL_ARRAY_LEN(route_queries); i++) {
		if (strcmp(route_queries[i].path, rt->path) == 0)
			return route_queries[i].query;
	}
	return "";
}

typedef struct query_check {
	http_req *r;
	const route *rt;
	const char *seen[8]; /* the keys met so far (a route takes three at most) */
	size_t n_seen;
} query_check;

/* Whether word (len bytes) is one of the '|'-separated list [p, end); "*" takes any word. */
static int query_word_in(const char *p, const char *end, const char *word, size_t len)
{
	if (end - p == 1 && *p == '*')
		return 1;
	while (p < end) {
		size_t n = strcspn(p, "| ");

		if (p + n > end)
			n = (size_t)(end - p);
		if (n == len && strncmp(p, word, len) == 0)
			return 1;
		p += n + 1;
	}
	return 0;
}

/* One query argument against the route's list: a 400 when unknown, given twice (?format=csv
 * &format=dsjson would leave one unheard), or its value is not taken. */
static int query_one(void *arg, const char *key, const char *value)
{
	query_check *q = arg;
	const char *spec = route_query(q->rt);

	for (size_t i = 0; i < q->n_seen; i++) {
		if (strcmp(q->seen[i], key) == 0) {
			api_error(q->r, ERR_SYNTAX, key, "query parameter %.64s is given twice", key);
			return ERR_SYNTAX;
		}
	}
	if (q->n_seen < UTIL_ARRAY_LEN(q->seen))
		q->seen[q->n_seen++] = key;

	for (const char *p = spec; *p != '\0';) {
		size_t n = strcspn(p, "=");
		const char *vals = p + n + 1;
		const char *end = vals + strcspn(vals, " ");

		if (p[n] == '\0')
			break;
		if (strlen(key) == n && strncmp(p, key, n) == 0) {
			if (value != NULL && query_word_in(vals, end, value, strlen(value)))
				return 0;
			if (end - vals == 1 && *vals == '*') {
				if (value != NULL && value[0] != '\0')
					return 0;
				api_error(q->r, ERR_SYNTAX, key, "query parameter %.64s needs a value",
				          key);
				return ERR_SYNTAX;
			}
			api_error(q->r, ERR_SYNTAX, key,
			          "query parameter %.64s must be one of %.*s, got \"%.64s\"", key,
			          (int)(end - vals), vals, value ? value : "");
			return ERR_SYNTAX;
		}
		p = *end == ' ' ? end + 1 : end;
	}
	if (spec[0] == '\0')
		api_error(q->r, ERR_SYNTAX, key, "unknown query parameter %.64s: %s takes none", key,
		          q->rt->path);
	else
		api_error(q->r, ERR_SYNTAX, key, "unknown query parameter %.64s: %s takes %s", key,
		          q->rt->path, spec);
	return ERR_SYNTAX;
}

/* --- routing ------------------------------------------------------------- */

/*
 * Whether path matches pattern, where "{name}" stands for one non-empty
 * segment; with rest, a "{name}" that ends the pattern takes the rest of the
 * path, '/' included: a customer id may hold one, which the client sends as
 * %2F and libmicrohttpd has decoded before routing.
 */
static int path_match(const char *pattern, const char *path, int rest)
{
	while (*pattern != '\0') {
		if (*pattern == '{') {
			const char *close = strchr(pattern, '}');
			size_t n = close != NULL && close[1] == '\0' && rest ? strlen(path)
			                                                     : strcspn(path, "/");

			if (n == 0 || close == NULL)
				return 0;
			path += n;
			pattern = close + 1;
			continue;
		}
		if (*pattern++ != *path++)
			return 0;
	}
	return *path == '\0';
}

static int route_matches(const route *rt, const char *path)
{
	if (rt->flags & ROUTE_PREFIX)
		return strncmp(path, rt->path, strlen(rt->path)) == 0;
	/* Personalizer's ids are one segment, as Azure's routes have them. */
	if ((rt->flags & ROUTE_PZ) || strchr(rt->path, '{') != NULL)
		return path_match(rt->path, path, !(rt->flags & ROUTE_PZ));
	return strcmp(path, rt->path) == 0;
}

void api_route(void *app, http_req *r)
{
	server *s = app;
	const char *path = http_path(r);
	const char *method = http_method(r);
	const route *rt = NULL;
	api_tenant t;
	int flags;

	memset(&t, 0, sizeof(t));
	for (size_t i = 0; i < UTIL_ARRAY_LEN(routes); i++) {
		if (route_matches(&routes[i], path)) {
			rt = &routes[i];
			break;
		}
	}
	if (rt == NULL) {
		http_set_label(r, "other");
		if (strncmp(path, PZ_PREFIX, strlen(PZ_PREFIX)) == 0)
			api_pz_error(r, ERR_NOTFOUND,
			             "Requested resource does not exist on the server: %.128s", path);
		else
			api_error(r, ERR_NOTFOUND, NULL, "no route %.128s (see /docs)", path);
		return;
	}
	http_set_label(r, rt->label);
	flags = rt->flags;
	if (atomic_load(&s->draining)) {
		/* Shutting down: keep-alive clients must not keep us alive. */
		http_add_header(r, "Connection", "close");
		route_error(r, rt, ERR_UNAVAIL, NULL,
		            "offerd is shutting down; retry on another instance");
		return;
	}
	if (!method_allowed(rt->methods, method)) {
		http_add_header(r, "Allow", rt->methods);
		route_error(r, rt, ERR_METHOD, NULL, "%s is not allowed on %s; allowed: %s", method,
		            rt->path, rt->methods);
		return;
	}
	{
		query_check q = {.r = r, .rt = rt};

		/* Unknown parameters and values are errors, never silently ignored (issue 15.16). */
		if (http_query_each(r, query_one, &q) != 0)
			return;
	}
	if ((flags & ROUTE_METRICS) && strcmp(s->cfg->metrics_auth, "admin") == 0)
		flags |= ROUTE_ADMIN;
	if ((flags & (ROUTE_AUTH | ROUTE_ADMIN)) && resolve_tenant(s, r, rt, flags, &t) != 0)
		return;
	if ((flags & (ROUTE_AUTH | ROUTE_ADMIN)) && s->rate != NULL) {
		double retry = 0;

		if (!ratelimit_take(s->rate, t.key_id, util_monotonic(), &retry)) {
			char after[24];

			snprintf(after, sizeof(after), "%.0f", retry < 1 ? 1.0 : retry + 0.5);
			http_add_header(r, "Retry-After", after);
			route_error(r, rt, ERR_RATE, NULL,
			            "rate limit of %g requests/s exceeded; retry in %s s", s->cfg->rate,
			            after);
			return;
		}
	}
	if (rt->endpoint != NULL)
		call_route(s, r, rt, &t);
	else
		rt->handler(s, r, rt, &t);
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
