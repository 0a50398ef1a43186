/*
 * ctl_batch.c — `offerctl batch` (a customer CSV in, a result CSV out, one
 * /predict call per row) and `offerctl replay` (a JSON array of request
 * bodies, one answer per line). Both are clients of a running offerd and
 * share the HTTP engine below: libcurl's multi interface, N requests in
 * flight from one thread, bounded retries with backoff, and answers handed
 * back strictly in input order.
 *
 * Memory stays bounded however large the input: jobs live in a fixed ring
 * (the reorder window). The reader only adds rows while the ring has room,
 * and a finished row leaves the ring as soon as every row before it has
 * finished. A slow row therefore holds back at most one window of rows.
 *
 * Retrying is deliberately narrow. /predict writes an episode, so a request
 * that may have reached the server is not repeated blindly: retried are 503
 * and 429 (the server refused the work) and transport errors where the
 * request was not or could not have been answered (connection refused or
 * reset, nothing received). A timeout is not retried. Attempts are capped at
 * HTTP_ATTEMPTS and the delay at HTTP_BACKOFF_CAP seconds.
 *
 * When the server is clearly unusable (HTTP_TRIP rows in a row failed to
 * connect after all retries, or it answers 401/403/404/405, which would be
 * the same for every row) the engine stops sending: the remaining rows are
 * still read and written, with an error saying they were not sent.
 */
#include "ctl.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csvin.h"
#include "csvout.h"
#include "log.h"
#include "rules.h"
#include "util.h"

#define URL_DEFAULT "http://127.0.0.1:8000"
#define URL_MAX 2048
#define API_KEY_MAX 512
#define CONCURRENCY_DEFAULT 16
#define CONCURRENCY_MAX 1024
#define WINDOW_PER_REQUEST 64        /* rows read ahead per request in flight */
#define WINDOW_MIN 1024
#define WINDOW_MAX 65536
#define READ_CHUNK 8192              /* bytes of CSV per read; also bounds ring overshoot */
#define ANSWER_MAX (64 * 1024)       /* bytes of one HTTP answer */
#define REPLAY_FILE_MAX (64 << 20)
#define HTTP_ATTEMPTS 6              /* first try plus five retries */
#define HTTP_BACKOFF_BASE 0.1        /* seconds before the first retry */
#define HTTP_BACKOFF_CAP 5.0
#define HTTP_RETRY_AFTER_CAP 30.0    /* the server's Retry-After, bounded */
#define HTTP_TIMEOUT 30L
#define HTTP_CONNECT_TIMEOUT 5L
#define HTTP_TRIP 16                 /* rows failing to connect in a row before giving up */
#define PROGRESS_TTY_EVERY 0.2       /* seconds between progress bar redraws */
#define PROGRESS_LOG_EVERY 5.0       /* seconds between plain progress lines */
#define FAILURES_SHOWN 10            /* failed rows listed on stderr */

/* --- options shared by both commands ----------------------------------- */

typedef struct opts {
	const char *input;
	const char *output;
	const char *url;
	const char *rules_path;
	const char *api_key;
	int concurrency;
	int v2;
	int quiet;
} opts;

static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "offerctl %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see offerctl %s --help)\n", cmd);
	return 2;
}

static void batch_help(void)
{
	printf("usage: offerctl batch INPUT.csv -o OUTPUT.csv [options]\n\n"
	       "Sends every row of a customer CSV to offerd's /predict and writes one result\n"
	       "row per input row, in input order. INPUT or OUTPUT may be - (stdin/stdout).\n\n"
	       "  -o, --output FILE     the result CSV (required)\n"
	       "  --url URL             offerd's address (default $OFFERD_URL, else %s)\n"
	       "  --rules FILE          eligibility rules replacing Company B's built-in ones\n"
	       "  --concurrency N       requests in flight, 1..%d (default %d)\n"
	       "  --v2                  call /predict-v2 and add product_1..3 columns\n"
	       "  --api-key KEY         sent as Authorization: Bearer KEY (default $OFFERD_API_KEY)\n"
	       "  --quiet               no progress on stderr\n\n"
	       "Exit status: 0 every row ok, 1 some rows failed (see the error column),\n"
	       "2 the command could not run (usage, unreadable input, bad header, the server\n"
	       "unreachable or refusing every request: 401, 403, 404, 405); the output then\n"
	       "still holds every row read, with its error.\n",
	       URL_DEFAULT, CONCURRENCY_MAX, CONCURRENCY_DEFAULT);
}

static void replay_help(void)
{
	printf("usage: offerctl replay FILE.json [options]\n\n"
	       "Sends each element of a JSON array of request bodies (like company_A.json)\n"
	       "to /predict and prints one JSON answer per line, in file order: the server's\n"
	       "answer, or {\"status\": N, \"error\": ...} when the request failed.\n\n"
	       "  --url URL             offerd's address (default $OFFERD_URL, else %s)\n"
	       "  --v2                  call /predict-v2\n"
	       "  --concurrency N       requests in flight, 1..%d (default 4)\n"
	       "  --api-key KEY         sent as Authorization: Bearer KEY (default $OFFERD_API_KEY)\n\n"
	       "Exit status: 0 every request answered 2xx, 1 some failed, 2 could not run\n"
	       "(usage, unreadable file, the server unreachable or refusing every request).\n",
	       URL_DEFAULT, CONCURRENCY_MAX);
}

/*
 * Parses argv (argv[0] is the subcommand). Returns 0, 2 for a usage error
 * (already reported), or 3 when --help was printed.
 */
static int parse_opts(int argc, char **argv, int batch, opts *o)
{
	const char *cmd = argv[0];
	const char *conc = NULL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **dst = NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			if (batch)
				batch_help();
			else
				replay_help();
			return 3;
		}
		if (strcmp(a, "--v2") == 0) {
			o->v2 = 1;
			continue;
		}
		if (batch && strcmp(a, "--quiet") == 0) {
			o->quiet = 1;
			continue;
		}
		if (strcmp(a, "--url") == 0)
			dst = &o->url;
		else if (strcmp(a, "--api-key") == 0)
			dst = &o->api_key;
		else if (strcmp(a, "--concurrency") == 0)
			dst = &conc;
		else if (batch && (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0))
			dst = &o->output;
		else if (batch && strcmp(a, "--rules") == 0)
			dst = &o->rules_path;
		if (dst != NULL) {
			if (i + 1 >= argc)
				return usage_error(cmd, "%s needs a value", a);
			*dst = argv[++i];
			continue;
		}
		if (a[0] == '-' && a[1] != '\0')
			return usage_error(cmd, "unknown option %s", a);
		if (o->input != NULL)
			return usage_error(cmd, "one input file only (got %s and %s)", o->input, a);
		o->input = a;
	}
	if (o->input == NULL)
		return usage_error(cmd, "missing the input file");
	if (batch && o->output == NULL)
		return usage_error(cmd, "missing -o OUTPUT.csv");
	if (conc != NULL) {
		int64_t n;

		if (util_strtonum(conc, 1, CONCURRENCY_MAX, &n) != 0)
			return usage_error(cmd, "--concurrency must be 1..%d, got '%s'", CONCURRENCY_MAX, conc);
		o->concurrency = (int)n;
	}
	if (o->url == NULL)
		o->url = getenv("OFFERD_URL");
	if (o->url == NULL || o->url[0] == '\0')
		o->url = URL_DEFAULT;
	if (strlen(o->url) > URL_MAX ||
	    (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0))
		return usage_error(cmd, "--url must be an http:// or https:// address, got '%.100s'", o->url);
	if (o->api_key == NULL)
		o->api_key = getenv("OFFERD_API_KEY");
	if (o->api_key != NULL && o->api_key[0] == '\0')
		o->api_key = NULL;
	if (o->api_key != NULL) {
		/* The key goes into a header line: no control characters, bounded. */
		if (strlen(o->api_key) > API_KEY_MAX)
			return usage_error(cmd, "the API key is longer than %d bytes", API_KEY_MAX);
		for (const char *p = o->api_key; *p != '\0'; p++) {
			if ((unsigned char)*p < 0x21 || *p == 0x7f)
				return usage_error(cmd, "the API key holds a space or control character");
		}
	}
	return 0;
}

/* The endpoint URL: the base without trailing slashes, then the path. Caller frees. */
static char *endpoint_url(const char *base, int v2)
{
	size_t n = strlen(base);

	while (n > 0 && base[n - 1] == '/')
		n--;
	return xasprintf("%.*s%s", (int)n, base, v2 ? "/predict-v2" : "/predict");
}

/* --- the HTTP engine --------------------------------------------------- */

enum job_state { JOB_FREE = 0, JOB_READY, JOB_WAIT, JOB_FLIGHT, JOB_DONE };

/* One request, identified by its 1-based sequence number in the input. */
typedef struct job {
	enum job_state state;
	int64_t seq;
	char *id;        /* customer id for the output; owned */
	char *body;      /* request JSON; owned; NULL when the row failed before sending */
	size_t body_len;
	int attempts;
	double due;      /* monotonic time of the next attempt, for JOB_WAIT */
	long status;     /* HTTP status of the last answer, 0 when none */
	char *answer;    /* the last answer's body; owned */
	char *error;     /* why the job failed outside HTTP; owned; NULL otherwise */
} job;

typedef struct conn {
	CURL *easy;
	buf resp;
	job *job;        /* NULL when idle */
} conn;

typedef struct engine engine;
/* Called for each finished job in sequence order; the job is freed after. */
typedef int (*emit_fn)(void *arg, engine *e, job *j);

struct engine {
	CURLM *multi;
	struct curl_slist *headers;
	char *url;
	conn *conns;
	int nconns;
	int nfree;
	job *ring;
	size_t cap;       /* ring slots: the window plus what one read can add */
	size_t window;    /* rows the producer may have pending */
	int64_t head;     /* next sequence number to emit */
	int64_t tail;     /* next sequence number to add */
	int64_t cursor;   /* next sequence number to consider sending */
	int64_t *retry;   /* sequence numbers in JOB_WAIT */
	size_t nretry;
	int conn_failures;
	char *broken;     /* why sending stopped; owned; NULL while sending */
	uint64_t rng;
	emit_fn emit;
	void *emit_arg;
	int emit_rc;
	int64_t retries;  /* retries made, for the summary */
	int64_t answered; /* jobs that got an HTTP answer */
	int64_t unreached;/* jobs that failed to connect after all retries */
	int epfd;         /* epoll set of curl's sockets */
	double timer_at;  /* when curl wants its timeout action; < 0 for never */
};

static job *slot(engine *e, int64_t seq)
{
	return &e->ring[(size_t)(seq - 1) % e->cap];
}

static size_t on_answer(char *data, size_t size, size_t nmemb, void *arg)
{
	conn *c = arg;
	size_t n = size * nmemb;

	/* A short count makes curl fail the transfer with CURLE_WRITE_ERROR. */
	if (buf_add(&c->resp, data, n) != 0)
		return 0;
	return n;
}

/* curl asks to watch (or stop watching) a socket. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
	engine *e = arg;
	struct epoll_event ev;

	(void)easy;
	(void)sockp;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL);
		return 0;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
	ev.data.fd = fd;
	if (epoll_ctl(e->epfd, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT)
		epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev);
	return 0;
}

/* curl asks to be called back after timeout_ms (-1: never). */
static int on_timer(CURLM *multi, long timeout_ms, void *arg)
{
	engine *e = arg;

	(void)multi;
	e->timer_at = timeout_ms < 0 ? -1 : util_monotonic() + (double)timeout_ms / 1000.0;
	return 0;
}

static int engine_init(engine *e, const char *url, const char *api_key, int concurrency,
                       size_t window, emit_fn emit, void *arg)
{
	char *auth = NULL;
	int rc = 0;

	memset(e, 0, sizeof(*e));
	e->url = xstrdup(url);
	e->window = window;
	e->cap = window + READ_CHUNK + 2;
	e->ring = xcalloc(e->cap, sizeof(*e->ring));
	e->retry = xcalloc(e->cap, sizeof(*e->retry));
	e->head = e->tail = e->cursor = 1;
	e->emit = emit;
	e->emit_arg = arg;
	e->rng = (uint64_t)getpid() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(util_now() * 1e6);
	e->timer_at = -1;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd < 0) {
		rc = ERR_IO;
		goto out;
	}
	e->multi = curl_multi_init();
	if (e->multi == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	/*
	 * The socket interface: curl says which sockets to watch and epoll says
	 * which are ready, so a turn costs the ready sockets, not all of them
	 * (curl_multi_perform visits every transfer and polls each one).
	 */
	curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
	curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
	/* Keep-alive connections, one per request in flight, are the whole speed. */
	curl_multi_setopt(e->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)concurrency);
	curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, (long)concurrency);
	e->headers = curl_slist_append(e->headers, "Content-Type: application/json");
	e->headers = curl_slist_append(e->headers, "Accept: application/json");
	e->headers = curl_slist_append(e->headers, "Expect:");
	if (api_key != NULL) {
		auth = xasprintf("Authorization: Bearer %s", api_key);
		e->headers = curl_slist_append(e->headers, auth);
	}
	if (e->headers == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	e->nconns = concurrency;
	e->nfree = concurrency;
	e->conns = xcalloc((size_t)concurrency, sizeof(*e->conns));
	for (int i = 0; i < concurrency; i++) {
		conn *c = &e->conns[i];

		c->easy = curl_easy_init();
		if (c->easy == NULL) {
			rc = ERR_NOMEM;
			goto out;
		}
		buf_init(&c->resp, ANSWER_MAX);
		curl_easy_setopt(c->easy, CURLOPT_URL, e->url);
		curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, e->headers);
		curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_answer);
		curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
		curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
		curl_easy_setopt(c->easy, CURLOPT_TIMEOUT, HTTP_TIMEOUT);
		curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT, HTTP_CONNECT_TIMEOUT);
		curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c->easy, CURLOPT_TCP_NODELAY, 1L);
		curl_easy_setopt(c->easy, CURLOPT_USERAGENT, "offerctl");
	}
out:
	free(auth);
	return rc;
}

static void job_clear(job *j)
{
	free(j->id);
	free(j->body);
	free(j->answer);
	free(j->error);
	memset(j, 0, sizeof(*j));
}

static void engine_free(engine *e)
{
	for (int i = 0; e->conns != NULL && i < e->nconns; i++) {
		if (e->conns[i].easy != NULL) {
			if (e->conns[i].job != NULL)
				curl_multi_remove_handle(e->multi, e->conns[i].easy);
			curl_easy_cleanup(e->conns[i].easy);
		}
		buf_free(&e->conns[i].resp);
	}
	for (size_t i = 0; e->ring != NULL && i < e->cap; i++)
		job_clear(&e->ring[i]);
	if (e->multi != NULL)
		curl_multi_cleanup(e->multi);
	if (e->epfd > 0)
		close(e->epfd);
	curl_slist_free_all(e->headers);
	free(e->conns);
	free(e->ring);
	free(e->retry);
	free(e->broken);
	free(e->url);
	memset(e, 0, sizeof(*e));
}

/* Whether the producer may add another job. */
static int engine_room(const engine *e)
{
	return (size_t)(e->tail - e->head) < e->window;
}

static int engine_idle(const engine *e)
{
	return e->head == e->tail;
}

/*
 * Why the server could not be used at all, or NULL: it stopped the engine
 * (unreachable, or an answer that would be the same for every request), or
 * it never answered and requests failed to reach it. The command then
 * "could not run" (exit 2), even though each row holds its error.
 */
static const char *engine_unusable(const engine *e)
{
	if (e->broken != NULL)
		return e->broken;
	if (e->answered == 0 && e->unreached > 0)
		return "the server could not be reached";
	return NULL;
}

/*
 * Adds the next job. `body` (owned, may be NULL) is sent; with `error`
 * (owned) the job is finished at once. Takes ownership of both.
 */
static void engine_add(engine *e, const char *id, char *body, char *error)
{
	job *j;

	/* The producer checks engine_room() before each read; one read adds < READ_CHUNK rows. */
	if ((size_t)(e->tail - e->head) >= e->cap) {
		log_msg(LOG_ERROR, "offerctl: reorder ring overflow (bug)");
		abort();
	}
	j = slot(e, e->tail);
	j->seq = e->tail++;
	j->id = xstrdup(id != NULL ? id : "");
	j->body = body;
	j->body_len = body != NULL ? strlen(body) : 0;
	j->error = error;
	j->state = error != NULL || body == NULL ? JOB_DONE : JOB_READY;
	if (j->state == JOB_DONE && j->error == NULL)
		j->error = xstrdup("nothing to send");
}

static double jitter(engine *e)
{
	/* xorshift64: the spread only has to keep retries from moving in lockstep. */
	e->rng ^= e->rng << 13;
	e->rng ^= e->rng >> 7;
	e->rng ^= e->rng << 17;
	return 0.5 + (double)(e->rng >> 11) / 9007199254740992.0 * 0.5;
}

static void start_job(engine *e, job *j)
{
	conn *c = NULL;

	for (int i = 0; i < e->nconns; i++) {
		if (e->conns[i].job == NULL) {
			c = &e->conns[i];
			break;
		}
	}
	/* Callers check nfree first; no idle connection here is an engine bug. */
	if (c == NULL) {
		log_msg(LOG_ERROR, "offerctl: no idle connection (bug)");
		abort();
	}
	buf_reset(&c->resp);
	free(j->answer);
	j->answer = NULL;
	j->status = 0;
	j->attempts++;
	j->state = JOB_FLIGHT;
	c->job = j;
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)j->body_len);
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, j->body);
	curl_multi_add_handle(e->multi, c->easy);
	e->nfree--;
}

static void finish(job *j, char *error)
{
	j->state = JOB_DONE;
	if (error != NULL) {
		free(j->error);
		j->error = error;
	}
}

static void not_sent(engine *e, job *j)
{
	finish(j, xasprintf("not sent: %s", e->broken));
}

static void trip(engine *e, char *why)
{
	if (e->broken == NULL) {
		e->broken = why;
		log_msg(LOG_ERROR, "offerctl: stopped sending: %s", why);
	} else {
		free(why);
	}
}

static void schedule_retry(engine *e, job *j, double retry_after)
{
	double delay = HTTP_BACKOFF_BASE * pow(2.0, (double)(j->attempts - 1));

	if (delay > HTTP_BACKOFF_CAP)
		delay = HTTP_BACKOFF_CAP;
	delay *= jitter(e);
	if (retry_after > 0)
		delay = retry_after < HTTP_RETRY_AFTER_CAP ? retry_after : HTTP_RETRY_AFTER_CAP;
	j->state = JOB_WAIT;
	j->due = util_monotonic() + delay;
	e->retry[e->nretry++] = j->seq;
	e->retries++;
}

/* Transport errors after which the request cannot have produced an answer. */
static int retryable(CURLcode res)
{
	switch (res) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		return 1;
	default:
		return 0;
	}
}

/* A transfer finished: keep the answer, retry, or record the failure. */
static void on_done(engine *e, conn *c, CURLcode res)
{
	job *j = c->job;
	long status = 0;
	curl_off_t retry_after = 0;

	curl_multi_remove_handle(e->multi, c->easy);
	c->job = NULL;
	e->nfree++;
	if (res == CURLE_OK) {
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
		j->status = status;
		e->answered++;
		j->answer = c->resp.data != NULL ? buf_steal(&c->resp) : xstrdup("");
		buf_init(&c->resp, ANSWER_MAX);
		e->conn_failures = 0;
		if ((status == 503 || status == 429) && j->attempts < HTTP_ATTEMPTS && e->broken == NULL) {
			curl_easy_getinfo(c->easy, CURLINFO_RETRY_AFTER, &retry_after);
			log_msg(LOG_DEBUG, "offerctl: row %lld: HTTP %ld, retrying", (long long)j->seq, status);
			schedule_retry(e, j, (double)retry_after);
			return;
		}
		finish(j, NULL);
		if (status == 401 || status == 403 || status == 404 || status == 405)
			trip(e, xasprintf("%s answered HTTP %ld to row %lld", e->url, status,
			                  (long long)j->seq));
		return;
	}
	if (res == CURLE_WRITE_ERROR) {
		finish(j, xasprintf("the answer is larger than %d bytes", ANSWER_MAX));
		buf_init(&c->resp, ANSWER_MAX);
		return;
	}
	if (retryable(res) && j->attempts < HTTP_ATTEMPTS && e->broken == NULL) {
		log_msg(LOG_DEBUG, "offerctl: row %lld: %s, retrying", (long long)j->seq,
		        curl_easy_strerror(res));
		schedule_retry(e, j, 0);
		return;
	}
	finish(j, xasprintf("%s (after %d attempt%s)", curl_easy_strerror(res), j->attempts,
	                    j->attempts == 1 ? "" : "s"));
	if (retryable(res))
		e->unreached++;
	if (retryable(res) && ++e->conn_failures >= HTTP_TRIP)
		trip(e, xasprintf("%d rows in a row could not reach %s", e->conn_failures, e->url));
}

/* Starts what can start: due retries first (they are older), then new rows. */
static void start_ready(engine *e)
{
	double now = util_monotonic();

	for (size_t i = 0; i < e->nretry;) {
		job *j = slot(e, e->retry[i]);

		if (e->broken != NULL) {
			not_sent(e, j);
		} else if (e->nfree > 0 && j->due <= now) {
			start_job(e, j);
		} else {
			i++;
			continue;
		}
		e->retry[i] = e->retry[--e->nretry];
	}
	while (e->cursor < e->tail) {
		job *j = slot(e, e->cursor);

		if (j->state == JOB_READY) {
			if (e->broken != NULL)
				not_sent(e, j);
			else if (e->nfree > 0)
				start_job(e, j);
			else
				break;
		}
		e->cursor++;
	}
}

/* Hands finished jobs at the head of the window to the emitter, in order. */
static void emit_ready(engine *e)
{
	while (e->head < e->tail) {
		job *j = slot(e, e->head);
		int rc;

		if (j->state != JOB_DONE)
			break;
		rc = e->emit(e->emit_arg, e, j);
		if (rc != 0 && e->emit_rc == 0)
			e->emit_rc = rc;
		job_clear(j);
		e->head++;
	}
}

/* Lets curl act on the sockets epoll found ready, and on its timer when due. */
static void drive(engine *e, double max_wait)
{
	struct epoll_event evs[64];
	double now = util_monotonic();
	int running = 0;
	int timeout_ms;
	int n;

	/* New transfers set a zero timer: start them before waiting on anything. */
	if (e->timer_at >= 0 && e->timer_at <= now) {
		e->timer_at = -1;
		curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
		now = util_monotonic();
	}
	for (size_t i = 0; i < e->nretry; i++) {
		double d = slot(e, e->retry[i])->due - now;

		if (d < max_wait)
			max_wait = d;
	}
	if (e->timer_at >= 0 && e->timer_at - now < max_wait)
		max_wait = e->timer_at - now;
	/* With nothing in flight and nothing to retry there is nothing to wait for. */
	if (e->nfree == e->nconns && e->nretry == 0)
		max_wait = 0;
	timeout_ms = max_wait > 0 ? (int)ceil(max_wait * 1000.0) : 0;
	n = epoll_wait(e->epfd, evs, (int)UTIL_ARRAY_LEN(evs), timeout_ms);
	for (int i = 0; i < n; i++) {
		int flags = 0;

		if (evs[i].events & EPOLLIN)
			flags |= CURL_CSELECT_IN;
		if (evs[i].events & EPOLLOUT)
			flags |= CURL_CSELECT_OUT;
		if (evs[i].events & (EPOLLERR | EPOLLHUP))
			flags |= CURL_CSELECT_ERR;
		curl_multi_socket_action(e->multi, evs[i].data.fd, flags, &running);
	}
	if (e->timer_at >= 0 && e->timer_at <= util_monotonic()) {
		e->timer_at = -1;
		curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
}

/*
 * One turn: start requests, let curl work for at most max_wait seconds,
 * collect finished transfers, emit. Returns the emitter's first error.
 */
static int engine_step(engine *e, double max_wait)
{
	CURLMsg *msg;
	int left;

	start_ready(e);
	drive(e, max_wait);
	while ((msg = curl_multi_info_read(e->multi, &left)) != NULL) {
		char *priv = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		on_done(e, (conn *)(void *)priv, msg->data.result);
	}
	start_ready(e);
	emit_ready(e);
	return e->emit_rc;
}

/* --- batch ------------------------------------------------------------- */

typedef struct batch {
	const opts *o;
	engine eng;
	FILE *out;
	buf line;
	int64_t ok;
	int64_t failed;
	int shown;
	int write_failed;
	/* progress */
	int tty;
	double start;
	double last_progress;
	off_t in_size;    /* 0 when unknown (a pipe) */
	off_t in_read;
} batch;

static int on_record(void *arg, const csv_record *rec)
{
	batch *b = arg;
	char *body = NULL;

	if (rec->body != NULL) {
		body = json_dumps(rec->body, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (body == NULL)
			engine_add(&b->eng, rec->customer_id, NULL, xstrdup("cannot serialise the request"));
		else
			engine_add(&b->eng, rec->customer_id, body, NULL);
		return 0;
	}
	engine_add(&b->eng, rec->customer_id, NULL, xstrdup(rec->error));
	return 0;
}

/* Why a non-2xx answer failed, from the server's {"status","error","field","message"}. */
static char *http_error_text(long status, const char *answer)
{
	json_t *root = json_loads(answer != NULL ? answer : "", 0, NULL);
	const char *msg = json_string_value(json_object_get(root, "message"));
	const char *field = json_string_value(json_object_get(root, "field"));
	char *text;

	if (msg == NULL)
		msg = json_string_value(json_object_get(root, "error"));
	if (msg != NULL && field != NULL && field[0] != '\0')
		text = xasprintf("HTTP %ld (%s): %s", status, field, msg);
	else if (msg != NULL)
		text = xasprintf("HTTP %ld: %s", status, msg);
	else
		text = xasprintf("HTTP %ld: %.200s", status, answer != NULL ? answer : "");
	json_decref(root);
	return text;
}

/*
 * Reads a 2xx /predict answer into res: "best-three-offers" is a list
 * (/predict) or an object offer -> product name or null (/predict-v2), in
 * the order chosen. Strings point into root. Returns 0 or ERR_INVAL.
 */
static int read_answer(json_t *root, csv_result *res)
{
	json_t *best = json_object_get(root, "best-three-offers");
	int n = 0;

	res->response_date = json_string_value(json_object_get(root, "response-date"));
	if (res->response_date == NULL)
		return ERR_INVAL;
	if (json_is_array(best)) {
		size_t i;
		json_t *v;

		json_array_foreach(best, i, v) {
			if (!json_is_string(v) || n >= CSV_RESULT_OFFERS)
				return ERR_INVAL;
			res->offers[n++] = json_string_value(v);
		}
	} else if (json_is_object(best)) {
		const char *key;
		json_t *v;

		json_object_foreach(best, key, v) {
			if (n >= CSV_RESULT_OFFERS || (!json_is_string(v) && !json_is_null(v)))
				return ERR_INVAL;
			res->offers[n] = key;
			res->products[n++] = json_string_value(v);
		}
	} else {
		return ERR_INVAL;
	}
	return n > 0 ? 0 : ERR_INVAL;
}

static int emit_row(void *arg, engine *e, job *j)
{
	batch *b = arg;
	csv_result res = {.customer_id = j->id};
	json_t *root = NULL;
	char *error = NULL;
	int rc;

	(void)e;
	if (j->error != NULL) {
		res.error = j->error;
	} else if (j->status < 200 || j->status > 299) {
		error = http_error_text(j->status, j->answer);
		res.error = error;
	} else {
		root = json_loads(j->answer, JSON_PRESERVE_ORDER, NULL);
		if (root == NULL || read_answer(root, &res) != 0) {
			memset(&res, 0, sizeof(res));
			res.customer_id = j->id;
			error = xasprintf("unexpected answer from the server: %.200s", j->answer);
			res.error = error;
		}
	}
	if (res.error != NULL) {
		b->failed++;
		if (b->shown < FAILURES_SHOWN && !b->o->quiet) {
			if (b->tty)
				fputs("\r\033[K", stderr);
			fprintf(stderr, "row %lld (customer_id '%s'): %s\n", (long long)j->seq, j->id,
			        res.error);
			b->shown++;
		}
	} else {
		b->ok++;
	}
	buf_reset(&b->line);
	rc = csv_write_result(&b->line, &res, b->o->v2);
	if (rc != 0) {
		/* Only an absurd error text can exceed the line buffer; keep the row anyway. */
		buf_init(&b->line, b->line.limit);
		res = (csv_result){.customer_id = "", .error = "result row too long"};
		rc = csv_write_result(&b->line, &res, b->o->v2);
	}
	if (rc == 0 && fwrite(b->line.data, 1, b->line.len, b->out) != b->line.len)
		rc = ERR_IO;
	if (rc != 0)
		b->write_failed = 1;
	json_decref(root);
	free(error);
	return rc;
}

static void fmt_duration(char *out, size_t len, double s)
{
	long t = (long)(s + 0.5);

	if (t >= 3600)
		snprintf(out, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(out, len, "%ld:%02ld", t / 60, t % 60);
}

static void progress(batch *b, int final)
{
	double now = util_monotonic();
	double elapsed = now - b->start;
	int64_t done = b->eng.head - 1;
	int64_t nread = b->eng.tail - 1;
	double rate = elapsed > 0 ? (double)done / elapsed : 0;
	double total = 0;
	char eta[32] = "?";

	if (b->o->quiet)
		return;
	if (!final && now - b->last_progress < (b->tty ? PROGRESS_TTY_EVERY : PROGRESS_LOG_EVERY))
		return;
	b->last_progress = now;
	/* Rows still to come are estimated from the bytes still to read. */
	if (b->in_size > 0 && b->in_read > 0)
		total = (double)nread * (double)b->in_size / (double)b->in_read;
	if (total < (double)done)
		total = (double)done;
	if (total > 0 && rate > 0)
		fmt_duration(eta, sizeof(eta), (total - (double)done) / rate);
	if (b->tty) {
		char bar[31];
		int fill = total > 0 ? (int)(30.0 * (double)done / total) : 0;

		for (int i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[30] = '\0';
		fprintf(stderr, "\r\033[K[%s] %lld rows  %.0f rows/s  ETA %s", bar, (long long)done, rate,
		        final ? "0:00" : eta);
		if (final)
			fputc('\n', stderr);
	} else if (!final) {
		fprintf(stderr, "offerctl batch: %lld rows done, %.0f rows/s, ETA %s\n", (long long)done,
		        rate, eta);
	}
	fflush(stderr);
}

int ctl_batch(int argc, char **argv)
{
	opts o = {.concurrency = CONCURRENCY_DEFAULT};
	batch b;
	rules *rs = NULL;
	csv_reader *rd = NULL;
	FILE *in = NULL;
	char *url = NULL;
	char *tmp_path = NULL;
	char *fatal = NULL;
	char err[512];
	char chunk[READ_CHUNK];
	int eof = 0;
	int curl_ready = 0;
	int rc;
	int exit_code = 2;
	double elapsed;
	size_t window;
	struct stat in_st;
	struct stat out_st;

	memset(&b, 0, sizeof(b));
	memset(&in_st, 0, sizeof(in_st));
	buf_init(&b.line, 64 * 1024);
	rc = parse_opts(argc, argv, 1, &o);
	if (rc != 0) {
		exit_code = rc == 3 ? 0 : rc;
		goto out;
	}
	b.o = &o;
	if (o.rules_path != NULL)
		rc = rules_load(o.rules_path, &rs, err, sizeof(err));
	else
		rc = rules_default(&rs);
	if (rc != 0) {
		fprintf(stderr, "offerctl batch: rules: %s\n", err);
		goto out;
	}
	if (strcmp(o.input, "-") == 0) {
		in = stdin;
	} else {
		in = fopen(o.input, "rb");
		if (in == NULL) {
			fprintf(stderr, "offerctl batch: %s: %s\n", o.input, strerror(errno));
			goto out;
		}
	}
	if (fstat(fileno(in), &in_st) == 0 && S_ISREG(in_st.st_mode))
		b.in_size = in_st.st_size;
	/*
	 * OUTPUT replaces its file at the end: if it is the input (the same name,
	 * another path, a symbolic or a hard link), the input would be lost.
	 */
	if (strcmp(o.output, "-") != 0 && stat(o.output, &out_st) == 0 &&
	    out_st.st_dev == in_st.st_dev && out_st.st_ino == in_st.st_ino) {
		fprintf(stderr, "offerctl batch: %s is the input file %s; write the result elsewhere\n",
		        o.output, o.input);
		goto out;
	}
	/* Written beside the target and renamed at the end, so OUTPUT is never half a file. */
	if (strcmp(o.output, "-") == 0) {
		b.out = stdout;
	} else {
		tmp_path = xasprintf("%s.tmp-%ld", o.output, (long)getpid());
		b.out = fopen(tmp_path, "wb");
		if (b.out == NULL) {
			fprintf(stderr, "offerctl batch: %s: %s\n", tmp_path, strerror(errno));
			free(tmp_path);
			tmp_path = NULL;
			goto out;
		}
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "offerctl batch: cannot initialise libcurl\n");
		goto out;
	}
	curl_ready = 1;
	url = endpoint_url(o.url, o.v2);
	window = (size_t)o.concurrency * WINDOW_PER_REQUEST;
	window = window < WINDOW_MIN ? WINDOW_MIN : window > WINDOW_MAX ? WINDOW_MAX : window;
	if (engine_init(&b.eng, url, o.api_key, o.concurrency, window, emit_row, &b) != 0) {
		fprintf(stderr, "offerctl batch: cannot initialise libcurl handles\n");
		goto out;
	}
	rd = csv_reader_new(rs, on_record, &b);
	buf_reset(&b.line);
	if (csv_write_header(&b.line, o.v2) != 0 ||
	    fwrite(b.line.data, 1, b.line.len, b.out) != b.line.len) {
		fprintf(stderr, "offerctl batch: cannot write the output\n");
		goto out;
	}
	b.tty = isatty(STDERR_FILENO);
	b.start = util_monotonic();
	b.last_progress = b.start;
	for (;;) {
		while (!eof && engine_room(&b.eng)) {
			size_t n = fread(chunk, 1, sizeof(chunk), in);

			if (n > 0) {
				b.in_read += (off_t)n;
				rc = csv_reader_feed(rd, chunk, n);
			} else {
				if (ferror(in)) {
					fatal = xasprintf("%s: read error", o.input);
					eof = 1;
					break;
				}
				rc = csv_reader_finish(rd);
				eof = 1;
			}
			if (rc != 0) {
				fatal = xstrdup(csv_reader_error(rd));
				eof = 1;
			}
		}
		if (eof && engine_idle(&b.eng))
			break;
		if (engine_step(&b.eng, PROGRESS_TTY_EVERY) != 0 && b.write_failed)
			break;
		progress(&b, 0);
	}
	progress(&b, 1);
	if (b.write_failed || fflush(b.out) != 0 || ferror(b.out)) {
		fprintf(stderr, "offerctl batch: writing %s failed: %s\n", o.output, strerror(errno));
		goto out;
	}
	if (fatal != NULL && b.ok + b.failed == 0) {
		/* Nothing was processed (a bad header, say): no output file at all. */
		fprintf(stderr, "offerctl batch: %s: %s\n", o.input, fatal);
		goto out;
	}
	if (tmp_path != NULL) {
		int close_rc = fclose(b.out);

		b.out = NULL;
		if (close_rc != 0 || rename(tmp_path, o.output) != 0) {
			fprintf(stderr, "offerctl batch: writing %s failed: %s\n", o.output, strerror(errno));
			goto out;
		}
		free(tmp_path);
		tmp_path = NULL;
	}
	elapsed = util_monotonic() - b.start;
	fprintf(stderr, "offerctl batch: %lld rows: %lld ok, %lld failed in %.2f s (%.0f rows/s)",
	        (long long)(b.ok + b.failed), (long long)b.ok, (long long)b.failed, elapsed,
	        elapsed > 0 ? (double)(b.ok + b.failed) / elapsed : 0.0);
	if (b.eng.retries > 0)
		fprintf(stderr, ", %lld retries", (long long)b.eng.retries);
	fprintf(stderr, "; wrote %s\n", o.output);
	if (b.failed > b.shown && !o.quiet)
		fprintf(stderr, "offerctl batch: %lld more failed rows: see the error column\n",
		        (long long)(b.failed - b.shown));
	if (fatal != NULL) {
		fprintf(stderr, "offerctl batch: %s: stopped: %s\n", o.input, fatal);
		if (b.ok + b.failed > 0)
			fprintf(stderr, "offerctl batch: %s holds the %lld rows before that point\n",
			        o.output, (long long)(b.ok + b.failed));
		exit_code = 2;
		goto out;
	}
	if (engine_unusable(&b.eng) != NULL) {
		fprintf(stderr, "offerctl batch: %s: %s\n", o.url, engine_unusable(&b.eng));
		exit_code = 2;
		goto out;
	}
	exit_code = b.failed > 0 ? 1 : 0;
out:
	if (b.eng.ring != NULL)
		engine_free(&b.eng);
	if (curl_ready)
		curl_global_cleanup();
	csv_reader_free(rd);
	rules_free(rs);
	if (in != NULL && in != stdin)
		fclose(in);
	if (b.out != NULL && b.out != stdout)
		fclose(b.out);
	else if (b.out == stdout)
		fflush(stdout);
	if (tmp_path != NULL) {
		unlink(tmp_path);
		free(tmp_path);
	}
	buf_free(&b.line);
	free(url);
	free(fatal);
	return exit_code;
}

/* --- replay ------------------------------------------------------------ */

typedef struct replay {
	int64_t ok;
	int64_t failed;
} replay;

static int emit_answer(void *arg, engine *e, job *j)
{
	replay *r = arg;
	json_t *line = NULL;
	json_t *answer = NULL;
	char *text;
	int rc = 0;

	(void)e;
	if (j->answer != NULL)
		answer = json_loads(j->answer, JSON_PRESERVE_ORDER | JSON_DECODE_ANY, NULL);
	if (j->error == NULL && j->status >= 200 && j->status <= 299 && answer != NULL) {
		line = json_incref(answer);
		r->ok++;
	} else {
		json_t *detail;

		if (j->error != NULL)
			detail = json_string(j->error);
		else if (answer != NULL)
			detail = json_incref(answer);
		else
			detail = json_stringn_nocheck(j->answer ? j->answer : "",
			                              j->answer ? strlen(j->answer) : 0);
		line = json_pack("{s:I, s:o}", "status", (json_int_t)j->status, "error",
		                 detail != NULL ? detail : json_null());
		r->failed++;
	}
	text = line != NULL ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)
	                    : NULL;
	if (text == NULL || printf("%s\n", text) < 0)
		rc = ERR_IO;
	free(text);
	json_decref(line);
	json_decref(answer);
	return rc;
}

int ctl_replay(int argc, char **argv)
{
	opts o = {.concurrency = 4};
	replay r = {0};
	engine eng;
	json_t *root = NULL;
	json_error_t jerr;
	char *url = NULL;
	int curl_ready = 0;
	int exit_code = 2;
	size_t next = 0;
	int rc;

	memset(&eng, 0, sizeof(eng));
	rc = parse_opts(argc, argv, 0, &o);
	if (rc != 0) {
		exit_code = rc == 3 ? 0 : rc;
		goto out;
	}
	if (strcmp(o.input, "-") == 0) {
		root = json_loadf(stdin, JSON_PRESERVE_ORDER, &jerr);
	} else {
		struct stat st;

		if (stat(o.input, &st) != 0) {
			fprintf(stderr, "offerctl replay: %s: %s\n", o.input, strerror(errno));
			goto out;
		}
		if (st.st_size > REPLAY_FILE_MAX) {
			fprintf(stderr, "offerctl replay: %s: larger than %d bytes\n", o.input, REPLAY_FILE_MAX);
			goto out;
		}
		root = json_load_file(o.input, JSON_PRESERVE_ORDER, &jerr);
	}
	if (root == NULL) {
		fprintf(stderr, "offerctl replay: %s:%d:%d: %s\n", o.input, jerr.line, jerr.column,
		        jerr.text);
		goto out;
	}
	if (!json_is_array(root)) {
		fprintf(stderr, "offerctl replay: %s: expected a JSON array of request bodies\n", o.input);
		goto out;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "offerctl replay: cannot initialise libcurl\n");
		goto out;
	}
	curl_ready = 1;
	url = endpoint_url(o.url, o.v2);
	if (engine_init(&eng, url, o.api_key, o.concurrency, WINDOW_MIN, emit_answer, &r) != 0) {
		fprintf(stderr, "offerctl replay: cannot initialise libcurl handles\n");
		goto out;
	}
	for (;;) {
		while (next < json_array_size(root) && engine_room(&eng)) {
			json_t *item = json_array_get(root, next++);
			char *body = json_dumps(item, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
			const char *id = json_string_value(json_object_get(item, "customer_id"));

			engine_add(&eng, id, body, body == NULL ? xstrdup("cannot serialise") : NULL);
		}
		if (next >= json_array_size(root) && engine_idle(&eng))
			break;
		if (engine_step(&eng, 1.0) != 0) {
			fprintf(stderr, "offerctl replay: writing to stdout failed\n");
			goto out;
		}
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, "offerctl replay: writing to stdout failed\n");
		goto out;
	}
	fprintf(stderr, "offerctl replay: %lld requests: %lld ok, %lld failed\n",
	        (long long)(r.ok + r.failed), (long long)r.ok, (long long)r.failed);
	if (engine_unusable(&eng) != NULL) {
		fprintf(stderr, "offerctl replay: %s: %s\n", o.url, engine_unusable(&eng));
		exit_code = 2;
		goto out;
	}
	exit_code = r.failed > 0 ? 1 : 0;
out:
	if (eng.ring != NULL)
		engine_free(&eng);
	if (curl_ready)
		curl_global_cleanup();
	json_decref(root);
	free(url);
	return exit_code;
}
