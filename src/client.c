/*
 * client.c — the HTTP client engine of client.h: libcurl's multi socket
 * interface driven by epoll, one easy handle per request in flight, a ring
 * of jobs emitted in order, and bounded, jittered retries.
 */
#include "client.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define BACKOFF_BASE 0.1 /* seconds before the first retry */
#define BACKOFF_CAP 5.0
#define RETRY_AFTER_CAP 30.0 /* the server's Retry-After, bounded */
#define TIMEOUT 30L
#define CONNECT_TIMEOUT 5L

enum job_state { JOB_FREE = 0, JOB_READY, JOB_WAIT, JOB_FLIGHT, JOB_DONE };

/* One request, identified by its 1-based sequence number. */
typedef struct job {
	enum job_state state;
	int64_t seq;
	char *id;   /* owned */
	char *body; /* request body; owned; NULL when the job failed before sending */
	size_t body_len;
	int attempts;
	double due;   /* monotonic time of the next attempt, for JOB_WAIT */
	long status;  /* HTTP status of the last answer, 0 when none */
	char *answer; /* the last answer's body; owned */
	char *error;  /* why the job failed outside HTTP; owned; NULL otherwise */
} job;

typedef struct conn {
	CURL *easy;
	buf resp;
	job *job; /* NULL when idle */
} conn;

struct client {
	CURLM *multi;
	struct curl_slist *headers;
	char *url;
	conn *conns;
	int nconns;
	int nfree;
	job *ring;
	size_t cap;     /* ring slots: the window plus a producer's burst */
	size_t window;  /* jobs the producer may have pending */
	int64_t head;   /* next sequence number to emit */
	int64_t tail;   /* next sequence number to add */
	int64_t cursor; /* next sequence number to consider sending */
	int64_t *retry; /* sequence numbers in JOB_WAIT */
	size_t nretry;
	int conn_failures;
	char *broken; /* why sending stopped; owned; NULL while sending */
	uint64_t rng;
	client_emit_fn emit;
	void *emit_arg;
	int emit_rc;
	int64_t retries;
	int64_t answered;  /* jobs that got an HTTP answer */
	int64_t unreached; /* jobs that failed to connect after all retries */
	int epfd;          /* epoll set of curl's sockets */
	double timer_at;   /* when curl wants its timeout action; < 0 for never */
	int curl_ready;
};

static job *slot(client *e, int64_t seq)
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
	client *e = arg;
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
	client *e = arg;

	(void)multi;
	e->timer_at = timeout_ms < 0 ? -1 : util_monotonic() + (double)timeout_ms / 1000.0;
	return 0;
}

int client_new(const client_conf *conf, client_emit_fn emit, void *arg, client **out)
{
	client *e = xcalloc(1, sizeof(*e));
	char *auth = NULL;
	int concurrency = conf->concurrency;
	int rc = 0;

	*out = e;
	e->epfd = -1;
	e->url = xstrdup(conf->url);
	e->window = conf->window;
	e->cap = conf->window + CLIENT_BURST + 2;
	e->ring = xcalloc(e->cap, sizeof(*e->ring));
	e->retry = xcalloc(e->cap, sizeof(*e->retry));
	e->head = e->tail = e->cursor = 1;
	e->emit = emit;
	e->emit_arg = arg;
	e->rng = (uint64_t)getpid() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(util_now() * 1e6);
	e->timer_at = -1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		rc = ERR_IO;
		goto out;
	}
	e->curl_ready = 1;
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
	if (conf->api_key != NULL) {
		auth = xasprintf("Authorization: Bearer %s", conf->api_key);
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

		buf_init(&c->resp, CLIENT_ANSWER_MAX);
		c->easy = curl_easy_init();
		if (c->easy == NULL) {
			rc = ERR_NOMEM;
			goto out;
		}
		curl_easy_setopt(c->easy, CURLOPT_URL, e->url);
		if (conf->method != NULL && strcmp(conf->method, "POST") != 0)
			curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, conf->method);
		curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, e->headers);
		curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_answer);
		curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
		curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
		curl_easy_setopt(c->easy, CURLOPT_TIMEOUT, TIMEOUT);
		curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT);
		curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c->easy, CURLOPT_TCP_NODELAY, 1L);
		curl_easy_setopt(c->easy, CURLOPT_USERAGENT,
		                 conf->user_agent != NULL ? conf->user_agent : "offerctl");
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

void client_free(client *e)
{
	if (e == NULL)
		return;
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
	if (e->epfd >= 0)
		close(e->epfd);
	curl_slist_free_all(e->headers);
	if (e->curl_ready)
		curl_global_cleanup();
	free(e->conns);
	free(e->ring);
	free(e->retry);
	free(e->broken);
	free(e->url);
	free(e);
}

int client_room(const client *e)
{
	return (size_t)(e->tail - e->head) < e->window;
}

int client_idle(const client *e)
{
	return e->head == e->tail;
}

int64_t client_emitted(const client *e)
{
	return e->head - 1;
}

int64_t client_retries(const client *e)
{
	return e->retries;
}

const char *client_unusable(const client *e)
{
	if (e->broken != NULL)
		return e->broken;
	if (e->answered == 0 && e->unreached > 0)
		return "the server could not be reached";
	return NULL;
}

void client_add(client *e, const char *id, char *body, char *error)
{
	job *j;

	/* Producers check client_room() and add at most CLIENT_BURST more. */
	if ((size_t)(e->tail - e->head) >= e->cap) {
		log_msg(LOG_ERROR, "client: reorder ring overflow (bug)");
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

static double jitter(client *e)
{
	/* xorshift64: the spread only has to keep retries from moving in lockstep. */
	e->rng ^= e->rng << 13;
	e->rng ^= e->rng >> 7;
	e->rng ^= e->rng << 17;
	return 0.5 + (double)(e->rng >> 11) / 9007199254740992.0 * 0.5;
}

static void start_job(client *e, job *j)
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
		log_msg(LOG_ERROR, "client: no idle connection (bug)");
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

static void not_sent(client *e, job *j)
{
	finish(j, xasprintf("not sent: %s", e->broken));
}

static void trip(client *e, char *why)
{
	if (e->broken == NULL) {
		e->broken = why;
		log_msg(LOG_ERROR, "offerctl: stopped sending: %s", why);
	} else {
		free(why);
	}
}

static void schedule_retry(client *e, job *j, double retry_after)
{
	double delay = BACKOFF_BASE * pow(2.0, (double)(j->attempts - 1));

	if (delay > BACKOFF_CAP)
		delay = BACKOFF_CAP;
	delay *= jitter(e);
	if (retry_after > 0)
		delay = retry_after < RETRY_AFTER_CAP ? retry_after : RETRY_AFTER_CAP;
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
	case CURLE_GOT_NOTHING: return 1;
	default: return 0;
	}
}

/* A transfer finished: keep the answer, retry, or record the failure. */
static void on_done(client *e, conn *c, CURLcode res)
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
		buf_init(&c->resp, CLIENT_ANSWER_MAX);
		e->conn_failures = 0;
		if ((status == 503 || status == 429) && j->attempts < CLIENT_ATTEMPTS &&
		    e->broken == NULL) {
			curl_easy_getinfo(c->easy, CURLINFO_RETRY_AFTER, &retry_after);
			log_msg(LOG_DEBUG, "offerctl: request %lld: HTTP %ld, retrying",
			        (long long)j->seq, status);
			schedule_retry(e, j, (double)retry_after);
			return;
		}
		finish(j, NULL);
		if (status == 401 || status == 403 || status == 404 || status == 405)
			trip(e, xasprintf("%s answered HTTP %ld to request %lld", e->url, status,
			                  (long long)j->seq));
		return;
	}
	if (res == CURLE_WRITE_ERROR) {
		finish(j, xasprintf("the answer is larger than %d bytes", CLIENT_ANSWER_MAX));
		buf_init(&c->resp, CLIENT_ANSWER_MAX);
		return;
	}
	if (retryable(res) && j->attempts < CLIENT_ATTEMPTS && e->broken == NULL) {
		log_msg(LOG_DEBUG, "offerctl: request %lld: %s, retrying", (long long)j->seq,
		        curl_easy_strerror(res));
		schedule_retry(e, j, 0);
		return;
	}
	finish(j, xasprintf("%s (after %d attempt%s)", curl_easy_strerror(res), j->attempts,
	                    j->attempts == 1 ? "" : "s"));
	if (retryable(res))
		e->unreached++;
	if (retryable(res) && ++e->conn_failures >= CLIENT_TRIP)
		trip(e, xasprintf("%d requests in a row could not reach %s", e->conn_failures, e->url));
}

/* Starts what can start: due retries first (they are older), then new jobs. */
static void start_ready(client *e)
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
static void emit_ready(client *e)
{
	while (e->head < e->tail) {
		job *j = slot(e, e->head);
		client_job view;
		int rc;

		if (j->state != JOB_DONE)
			break;
		view.seq = j->seq;
		view.id = j->id;
		view.status = j->status;
		view.answer = j->answer;
		view.error = j->error;
		view.attempts = j->attempts;
		rc = e->emit(e->emit_arg, &view);
		if (rc != 0 && e->emit_rc == 0)
			e->emit_rc = rc;
		job_clear(j);
		e->head++;
	}
}

/* Lets curl act on the sockets epoll found ready, and on its timer when due. */
static void drive(client *e, double max_wait)
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

int client_step(client *e, double max_wait)
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

/* client_call's emitter: keeps the one job's outcome. */
typedef struct call_result {
	int done;
	long status;
	char *answer;
	char *error;
} call_result;

static int keep_result(void *arg, const client_job *j)
{
	call_result *r = arg;

	r->done = 1;
	r->status = j->status;
	r->answer = j->answer != NULL ? xstrdup(j->answer) : NULL;
	r->error = j->error != NULL ? xstrdup(j->error) : NULL;
	return 0;
}

int client_call(client *e, const char *body, long *status, char **answer, char **error)
{
	call_result r;
	client_emit_fn emit = e->emit;
	void *arg = e->emit_arg;

	memset(&r, 0, sizeof(r));
	*status = 0;
	*answer = NULL;
	*error = NULL;
	if (!client_idle(e))
		return ERR_INVAL;
	e->emit = keep_result;
	e->emit_arg = &r;
	client_add(e, NULL, xstrdup(body), NULL);
	while (!r.done)
		client_step(e, 1.0);
	e->emit = emit;
	e->emit_arg = arg;
	*status = r.status;
	*answer = r.answer;
	*error = r.error;
	return r.error != NULL ? ERR_UNAVAIL : 0;
}

int client_check_url(const char *url)
{
	if (url == NULL || strlen(url) > CLIENT_URL_MAX ||
	    (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
		return ERR_INVAL;
	return 0;
}

int client_check_key(const char *key, const char **why)
{
	*why = NULL;
	/* The key goes into a header line: no control characters, bounded. */
	if (strlen(key) > CLIENT_KEY_MAX) {
		*why = "the API key is longer than 512 bytes";
		return ERR_INVAL;
	}
	for (const char *p = key; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x21 || *p == 0x7f) {
			*why = "the API key holds a space or control character";
			return ERR_INVAL;
		}
	}
	return 0;
}

char *client_endpoint(const char *base, const char *path)
{
	size_t n = strlen(base);

	while (n > 0 && base[n - 1] == '/')
		n--;
	return xasprintf("%.*s%s", (int)n, base, path);
}
