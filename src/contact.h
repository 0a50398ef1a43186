/*
 * contact.h — each customer's recent contacts (the offers offerd showed
 * them and the ones they accepted), held in memory so that a company's
 * contact policy (rules.h: cap, cooldown, not-last) is checked without a
 * database read on the request path.
 *
 * The book is fed by this process's own committed decisions and rewards
 * (api.c, once the writer is done) and by the refresher, which reads the
 * episodes and rewards other processes committed (server.c): a contact made
 * by another offerd is seen here within one --refresh interval, which is
 * the window in which two processes may disagree. Events are keyed by their
 * episode id, so reading one twice changes nothing.
 *
 * Memory is bounded: events older than the horizon (the longest window of
 * any company's policy) are dropped, at most CONTACT_EVENTS_MAX events are
 * kept per customer (the oldest go first), and at most max_customers
 * customers are tracked (a new one beyond that is not tracked until pruning
 * makes room; contact_stats counts those). Thread-safe: one mutex.
 */
#ifndef OFFERD_CONTACT_H
#define OFFERD_CONTACT_H

#include <stddef.h>
#include <stdint.h>

#include "rules.h"

#define CONTACT_EVENTS_MAX 128 /* events kept per customer (caps allow at most 64 shows) */
#define CONTACT_CUSTOMERS_DEFAULT 2000000

typedef struct contact_book contact_book;

/* An empty book that tracks at most max_customers customers; free with contact_free(). */
contact_book *contact_new(size_t max_customers);
void contact_free(contact_book *b);

/*
 * Records that episode `episode` (0: unknown, never deduplicated) showed
 * offers[0..n) to the customer at time t (seconds since the epoch), the
 * first offer in slot 1. A second call for the same episode changes nothing.
 */
int contact_shown(contact_book *b, const char *company, const char *customer, int64_t episode, double t,
                  const char *const *offers, size_t n);
/*
 * Records that the customer accepted offers[0..n) of episode `episode` at
 * time t (one offer when the client named it, else every offer shown).
 */
int contact_accepted(contact_book *b, const char *company, const char *customer, int64_t episode,
                     double t, const char *const *offers, size_t n);

/*
 * Checks the contact lines of r for the customer at time now: for every
 * offers[i] with check[i] set, hit[i] becomes the line that excludes it
 * (borrowed from r), or NULL. Returns the number excluded.
 */
size_t contact_check(contact_book *b, const char *company, const char *customer, const rules *r,
                     double now, const char *const *offers, const unsigned char *check, size_t n,
                     const rules_contact **hit);

/*
 * Drops events older than `before` and customers left without events,
 * visiting at most max_buckets of the table from where the last call
 * stopped (so the refresher prunes a slice at a time). Returns the number of
 * customers dropped.
 */
size_t contact_prune(contact_book *b, double before, size_t max_buckets);

/*
 * Erasure (issue 16.3): contact_forget drops one customer's history (the
 * process that erased, after the commit); contact_clear drops every
 * customer's, for a rebuild from the database after another process erased
 * someone (TB_ERASURES names nobody, so nobody in particular can be dropped).
 */
void contact_forget(contact_book *b, const char *company, const char *customer);
void contact_clear(contact_book *b);

typedef struct contact_stats {
	size_t customers;   /* tracked now */
	size_t events;      /* held now */
	uint64_t untracked; /* contacts not recorded because the book was full */
} contact_stats;

void contact_get_stats(contact_book *b, contact_stats *out);

#endif
