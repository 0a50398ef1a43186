/*
 * retention.h — how long the decision log is kept (issue 16.4). A thread of
 * its own, with its own database connection, deletes episodes older than
 * their company's window, and their rewards, in batches of at most
 * RETENTION_BATCH episodes (fewer while a batch's transaction takes longer
 * than RETENTION_BATCH_SECONDS), one short transaction each, never on the
 * path of a request.
 *
 * Windows: --retention-days N is every company's (0: kept for ever), and
 * --retention "B=30,C=365" overrides it per company (C=0 keeps C's log for
 * ever whatever the default). Age is the episode's write time (the server's
 * clock), not the client's timestamp.
 *
 * Several offerd on one database may all run it: a batch deletes rows by
 * id, so two processes that pick the same batch delete it once (the
 * second deletes nothing). A reward that arrives for an episode in the
 * very batch being deleted makes that batch fail (foreign key) and it is
 * taken again on the next pass, with its reward.
 */
#ifndef OFFERD_RETENTION_H
#define OFFERD_RETENTION_H

#include <stdatomic.h>
#include <stddef.h>

#include "db.h"
#include "store.h"
#include "util.h"

/* Episodes per batch at most and at least, and the transaction time the size adapts to. */
#define RETENTION_BATCH 1000
#define RETENTION_BATCH_MIN 100
#define RETENTION_BATCH_SECONDS 0.05
#define RETENTION_RULES_MAX 64
#define RETENTION_DAYS_MAX 36500

typedef struct retention_rule {
	char company[DB_COMPANY_MAX];
	int days; /* 0: kept for ever */
} retention_rule;

typedef struct retention_conf {
	int default_days; /* 0: kept for ever */
	retention_rule rules[RETENTION_RULES_MAX];
	size_t nrules;
	double interval; /* seconds between passes */
} retention_conf;

/*
 * Parses --retention's "COMPANY=DAYS,COMPANY=DAYS" (spaces allowed around
 * items; "" is no override) into c's rules. Returns 0, or ERR_INVAL with
 * the reason in err.
 */
int retention_parse(const char *spec, retention_conf *c, char *err, size_t errlen);
/* Whether c deletes anything at all. */
int retention_active(const retention_conf *c);

/*
 * One pass on s: for each window, deletes the episodes written before
 * now - days (and their rewards), RETENTION_BATCH at a time, until none is
 * left or *stop is set. Between batches it pauses as long as the batch
 * took, so writers get at least half of the database's write time.
 * Counts into the metrics. Returns 0 or the first store error.
 */
int retention_pass(store *s, const retention_conf *c, double now, const atomic_int *stop);

typedef struct retention retention;

/*
 * Starts the thread on its own connection to database_url (opened by the
 * thread, so a database that is down only delays the first pass). *out is
 * NULL when c deletes nothing. Stop and free it with retention_stop.
 */
int retention_start(const char *database_url, const retention_conf *c, retention **out);
/* Stops the thread between two batches and frees r (NULL is fine). */
void retention_stop(retention *r);

/* Appends the retention metrics in Prometheus text: 0 or ERR_TOOBIG. */
int retention_metrics(buf *b) __attribute__((warn_unused_result));

#endif
