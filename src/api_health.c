/*
 * api_health.c — GET /ready, the readiness probe. /is-alive keeps the
 * brief's meaning (the process answers, and which agent version it serves);
 * /ready says whether offerd can do its work now: the database answers a
 * query on a connection of its own, and the writer is running (not stopped
 * for a shutdown). 200 when both hold, else 503, with the details as JSON
 * either way (a 503 has the Error shape of every error, plus the details).
 * The Docker image's HEALTHCHECK calls it.
 */
#include "api.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "db.h"
#include "log.h"
#include "store.h"
#include "util.h"

/* A probe's answer is reused for this long, so that probes from many
 * monitors cost one query, and a database that does not answer ties up
 * at most one HTTP thread (the others reuse the last answer). */
#define HEALTH_CACHE_SECONDS 0.5

static pthread_mutex_t health_lock = PTHREAD_MUTEX_INITIALIZER;
static store_slot health_slot = STORE_SLOT_INIT; /* its own connection */
static atomic_int health_db_ok;                  /* the last check's result */
static char health_db_error[160];                /* why it failed; guarded by health_lock */
static double health_checked;                    /* util_monotonic() of the last check */

/* Pings the database (db_ping) on the probe's own connection, opening it
 * when needed. Called with health_lock held. */
static void check_database(server *s)
{
	store *db = store_slot_take(&health_slot, s->cfg->database_url, 0, NULL);
	int rc;

	if (db == NULL) {
		atomic_store(&health_db_ok, 0);
		util_strlcpy(health_db_error, "cannot connect", sizeof(health_db_error));
		return;
	}
	rc = db_ping(db);
	atomic_store(&health_db_ok, rc == 0);
	if (rc != 0)
		util_strlcpy(health_db_error, db->ops->errmsg(db), sizeof(health_db_error));
	/* A broken connection is reopened by the next probe. */
	store_slot_give(&health_slot, rc != 0);
}

void api_ready(server *s, http_req *r)
{
	writer_stats ws;
	int db_ok;
	int writer_ok = !atomic_load(&s->draining);
	char db_error[sizeof(health_db_error)];
	json_t *j;
	json_t *db;
	json_t *wr;
	char *body;

	db_error[0] = '\0';
	if (pthread_mutex_trylock(&health_lock) == 0) {
		if (health_checked == 0 || util_monotonic() - health_checked > HEALTH_CACHE_SECONDS) {
			check_database(s);
			health_checked = util_monotonic();
		}
		util_strlcpy(db_error, health_db_error, sizeof(db_error));
		pthread_mutex_unlock(&health_lock);
	}
	/* When another probe holds the lock (it may wait for a connect
	 * timeout), this one reports the last result without waiting. */
	db_ok = atomic_load(&health_db_ok);
	if (!db_ok && db_error[0] == '\0')
		util_strlcpy(db_error, "the last check failed; another is in progress",
		             sizeof(db_error));
	writer_get_stats(s->w, &ws);

	j = json_object();
	if (db_ok && writer_ok) {
		json_object_set_new(j, "status", json_string("ready"));
	} else {
		/* Every 4xx and 5xx body has the Error shape; the details follow. */
		json_object_set_new(j, "status", json_integer(503));
		json_object_set_new(j, "error", json_string("Service Unavailable"));
		json_object_set_new(j, "message",
		                    json_string(
		                        !db_ok ? "not ready: the database is unreachable"
		                               : "not ready: the writer is stopped (shutting down)"));
	}
	db = json_object();
	json_object_set_new(db, "status", json_string(db_ok ? "ok" : "unreachable"));
	json_object_set_new(db, "store", json_string(s->dialect == STORE_PG ? "postgresql" : "sqlite"));
	if (!db_ok) {
		/* A driver's message in the server's encoding may not be UTF-8. */
		char *fixed = util_utf8_fixed(db_error);

		json_object_set_new(db, "error", json_string(fixed != NULL ? fixed : db_error));
		free(fixed);
	}
	json_object_set_new(j, "database", db);
	wr = json_object();
	json_object_set_new(wr, "status", json_string(writer_ok ? "running" : "stopped"));
	json_object_set_new(wr, "queued", json_integer((json_int_t)ws.queued));
	json_object_set_new(wr, "failed_batches", json_integer((json_int_t)ws.failures));
	json_object_set_new(j, "writer", wr);
	if (!db_ok || !writer_ok) {
		http_add_header(r, "Retry-After", "1");
		log_msg(LOG_DEBUG, "not ready: database %s, writer %s", db_ok ? "ok" : "unreachable",
		        writer_ok ? "running" : "stopped");
	}
	http_add_header(r, "Cache-Control", "no-store");
	body = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	http_reply(r, db_ok && writer_ok ? 200 : 503, "application/json", body, strlen(body));
}
