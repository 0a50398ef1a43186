/*
 * server.h — what offerd holds in memory between requests, and the thread
 * that keeps it fresh. offerd is stateless apart from these caches: every
 * fact lives in the database, and each process reloads what others changed
 * every `--refresh` seconds (agent version, learned values, catalogue,
 * segments, API keys), so several processes can share one PostgreSQL.
 */
#ifndef OFFERD_SERVER_H
#define OFFERD_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "agent.h"
#include "config.h"
#include "http.h"
#include "ratelimit.h"
#include "store.h"
#include "strmap.h"
#include "values.h"
#include "writer.h"

#define SERVER_COMPANY_MAX 64

typedef struct server {
	offerd_config *cfg;
	char *share_dir;
	enum store_dialect dialect;
	store *reader; /* the refresher's own connection */
	writer *w;
	values *vals;
	struct model_set *models; /* the contextual policies' models (model.h) */
	http_server *http;
	ratelimit *rate;                 /* NULL when --rate 0 */
	struct evaluation_runner *evals; /* evaluation jobs (evaluation.h) */

	pthread_rwlock_t lock; /* guards the fields below */
	agent_conf conf;
	strmap *products;        /* company SEP offer -> product name */
	strmap *segments;        /* company SEP customer -> RFM segment */
	strmap *keys;            /* sha256(key) hex -> company */
	int64_t policy_rev;      /* the revision counter at the last refresh */
	int64_t policy_rev_prev; /* ... and at the one before */
	int policy_loaded;
	int64_t segments_count;

	pthread_t refresher;
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	int stopping;
	int refresh_now;     /* SIGHUP: reload at once */
	atomic_int draining; /* SIGTERM: new requests get 503 and a close */
} server;

#define SERVER_SEP "\x1f"

/* Opens the stores, migrates, loads the caches; does not listen yet. */
int server_init(server *s, offerd_config *cfg, const char *argv0);
/* Starts the refresher thread. */
int server_start_refresher(server *s);
/* One reload of everything; the refresher calls it every --refresh seconds. */
int server_refresh(server *s);
/* Wakes the refresher for an immediate reload (SIGHUP). */
void server_refresh_soon(server *s);
/* Stops the refresher and drains the writer (requests then get 503). */
void server_shutdown(server *s);
/* Frees everything; no HTTP thread may use s any more. */
void server_free(server *s);

/* A copy of the current agent configuration. */
void server_conf(server *s, agent_conf *out);
/* Copies the product name of company's offer into out; returns 1 if found. */
int server_product(server *s, const char *company, const char *offer, char *out, size_t outlen);
/* Copies the customer's RFM segment into out; returns 1 if known. */
int server_segment(server *s, const char *company, const char *customer, char *out, size_t outlen);
/* The company of an API key and whether it is an admin key (*admin 1);
 * returns 0 when the key is unknown or revoked. */
int server_key_company(server *s, const char *key, char *out, size_t outlen, int *admin);

#endif
