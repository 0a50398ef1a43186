/*
 * contact.c — each customer's recent contacts in memory, and the contact
 * policy checked against them (see contact.h). A chained hash table keyed
 * by company and customer; each customer holds a small growable array of
 * events, offers interned to small numbers.
 */
#include "contact.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "customer.h"
#include "intern.h"
#include "util.h"

enum { EV_SHOWN = 1, EV_ACCEPTED = 2 };

typedef struct contact_event {
	int64_t episode;
	double t;
	int32_t offer[OFFERS_SHOWN]; /* interned ids; slot order for a show */
	uint8_t n;                   /* offers in offer[] */
	uint8_t kind;
} contact_event;

typedef struct contact_rec {
	struct contact_rec *next;
	uint64_t hash;
	contact_event *ev; /* nev of cap, unordered */
	uint32_t nev;
	uint32_t cap;
	char key[]; /* company '\x1f' customer */
} contact_rec;

struct contact_book {
	pthread_mutex_t lock;
	contact_rec **bucket;
	size_t nbuckets; /* a power of two */
	size_t ncust;
	size_t nevents;
	size_t max_customers;
	size_t prune_at; /* the next bucket contact_prune visits */
	uint64_t untracked;
	intern_table *offers;
};

#define CONTACT_KEY_MAX 256

/* company SEP customer into key; returns its length, or 0 when too long. */
static size_t make_key(const char *company, const char *customer, char key[CONTACT_KEY_MAX])
{
	size_t a = strlen(company);
	size_t c = strlen(customer);

	if (a + c + 2 > CONTACT_KEY_MAX)
		return 0;
	memcpy(key, company, a);
	key[a] = '\x1f';
	memcpy(key + a + 1, customer, c + 1);
	return a + 1 + c;
}

contact_book *contact_new(size_t max_customers)
{
	contact_book *b = xcalloc(1, sizeof(*b));

	pthread_mutex_init(&b->lock, NULL);
	b->nbuckets = 1024;
	b->bucket = xcalloc(b->nbuckets, sizeof(*b->bucket));
	b->max_customers = max_customers;
	b->offers = intern_new();
	return b;
}

/* Frees every customer's record and empties the table (the caller holds the lock, or owns b). */
static void drop_all(contact_book *b)
{
	for (size_t i = 0; i < b->nbuckets; i++) {
		contact_rec *r = b->bucket[i];

		while (r != NULL) {
			contact_rec *next = r->next;

			free(r->ev);
			free(r);
			r = next;
		}
		b->bucket[i] = NULL;
	}
	b->ncust = 0;
	b->nevents = 0;
	b->prune_at = 0;
}

void contact_free(contact_book *b)
{
	if (b == NULL)
		return;
	drop_all(b);
	free(b->bucket);
	intern_free(b->offers);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* With the lock: the customer's record, or NULL. */
static contact_rec *find(contact_book *b, const char *key, size_t len, uint64_t h)
{
	for (contact_rec *r = b->bucket[h & (b->nbuckets - 1)]; r != NULL; r = r->next) {
		if (r->hash == h && strncmp(r->key, key, len + 1) == 0)
			return r;
	}
	return NULL;
}

/* With the lock: doubles the table once it holds more customers than buckets. */
static void grow(contact_book *b)
{
	size_t n = b->nbuckets * 2;
	contact_rec **nb;

	if (b->ncust <= b->nbuckets || n > ((size_t)1 << 28))
		return;
	nb = xcalloc(n, sizeof(*nb));
	for (size_t i = 0; i < b->nbuckets; i++) {
		contact_rec *r = b->bucket[i];

		while (r != NULL) {
			contact_rec *next = r->next;

			r->next = nb[r->hash & (n - 1)];
			nb[r->hash & (n - 1)] = r;
			r = next;
		}
	}
	free(b->bucket);
	b->bucket = nb;
	b->nbuckets = n;
	b->prune_at = 0;
}

/* With the lock: the customer's record, made when new; NULL when the book is full. */
static contact_rec *find_or_add(contact_book *b, const char *key, size_t len)
{
	uint64_t h = util_hash_bytes(key, len);
	contact_rec *r = find(b, key, len, h);

	if (r != NULL)
		return r;
	if (b->ncust >= b->max_customers) {
		b->untracked++;
		return NULL;
	}
	r = xcalloc(1, sizeof(*r) + len + 1);
	memcpy(r->key, key, len + 1);
	r->hash = h;
	r->next = b->bucket[h & (b->nbuckets - 1)];
	b->bucket[h & (b->nbuckets - 1)] = r;
	b->ncust++;
	grow(b);
	return r;
}

/* With the lock: room for one more event, dropping the oldest when full. */
static contact_event *add_event(contact_book *b, contact_rec *r)
{
	if (r->nev == r->cap && r->cap < CONTACT_EVENTS_MAX) {
		r->cap = r->cap == 0 ? 4 : r->cap * 2;
		if (r->cap > CONTACT_EVENTS_MAX)
			r->cap = CONTACT_EVENTS_MAX;
		r->ev = xrealloc(r->ev, r->cap * sizeof(*r->ev));
	}
	if (r->nev == r->cap) {
		uint32_t oldest = 0;

		for (uint32_t i = 1; i < r->nev; i++) {
			if (r->ev[i].t < r->ev[oldest].t)
				oldest = i;
		}
		return &r->ev[oldest];
	}
	b->nevents++;
	return &r->ev[r->nev++];
}

static int has_event(const contact_rec *r, int kind, int64_t episode)
{
	if (episode == 0)
		return 0;
	for (uint32_t i = 0; i < r->nev; i++) {
		if (r->ev[i].episode == episode && r->ev[i].kind == kind)
			return 1;
	}
	return 0;
}

static int record(contact_book *b, const char *company, const char *customer, int kind, int64_t episode,
                  double t, const char *const *offers, size_t n)
{
	char key[CONTACT_KEY_MAX];
	size_t len = make_key(company, customer, key);
	contact_rec *r;
	contact_event *e;
	int rc = 0;

	if (len == 0)
		return ERR_RANGE;
	if (n > OFFERS_SHOWN)
		n = OFFERS_SHOWN;
	pthread_mutex_lock(&b->lock);
	r = find_or_add(b, key, len);
	if (r == NULL || has_event(r, kind, episode))
		goto out;
	e = add_event(b, r);
	memset(e, 0, sizeof(*e));
	e->episode = episode;
	e->t = t;
	e->kind = (uint8_t)kind;
	for (size_t k = 0; k < n; k++) {
		int64_t id;

		if (offers[k] == NULL)
			break;
		id = intern_add(b->offers, offers[k], strlen(offers[k]));
		if (id < 0) {
			rc = (int)id;
			break;
		}
		e->offer[e->n++] = (int32_t)id;
	}
out:
	pthread_mutex_unlock(&b->lock);
	return rc;
}

int contact_shown(contact_book *b, const char *company, const char *customer, int64_t episode, double t,
                  const char *const *offers, size_t n)
{
	return record(b, company, customer, EV_SHOWN, episode, t, offers, n);
}

int contact_accepted(contact_book *b, const char *company, const char *customer, int64_t episode,
                     double t, const char *const *offers, size_t n)
{
	return record(b, company, customer, EV_ACCEPTED, episode, t, offers, n);
}

static int event_has(const contact_event *e, int32_t offer)
{
	for (uint8_t k = 0; k < e->n; k++) {
		if (e->offer[k] == offer)
			return 1;
	}
	return 0;
}

/* With the lock: whether line c excludes offer (interned id, -1 when never seen; number num). */
static int excludes(const rules_contact *c, const contact_rec *r, double now, int32_t offer, int num,
                    const contact_event *last)
{
	int count = 0;

	if (offer < 0)
		return 0;
	if (c->kind == RULES_NOT_LAST)
		return last != NULL && last->n > 0 && last->offer[0] == offer;
	if (c->offer != 0 && c->offer != num)
		return 0;
	for (uint32_t i = 0; i < r->nev; i++) {
		const contact_event *e = &r->ev[i];

		if (e->t <= now - c->window || !event_has(e, offer))
			continue;
		if (c->kind == RULES_COOLDOWN && e->kind == EV_ACCEPTED)
			return 1;
		if (c->kind == RULES_CAP && e->kind == EV_SHOWN && ++count >= c->limit)
			return 1;
	}
	return 0;
}

size_t contact_check(contact_book *b, const char *company, const char *customer, const rules *r,
                     double now, const char *const *offers, const unsigned char *check, size_t n,
                     const rules_contact **hit)
{
	char key[CONTACT_KEY_MAX];
	size_t len = make_key(company, customer, key);
	size_t nlines;
	const rules_contact *lines = rules_contacts(r, &nlines);
	const contact_event *last = NULL;
	const contact_rec *rec;
	size_t excluded = 0;

	for (size_t i = 0; i < n; i++)
		hit[i] = NULL;
	if (len == 0 || nlines == 0)
		return 0;
	pthread_mutex_lock(&b->lock);
	rec = find(b, key, len, util_hash_bytes(key, len));
	if (rec == NULL)
		goto out;
	for (uint32_t i = 0; i < rec->nev; i++) {
		const contact_event *e = &rec->ev[i];

		if (e->kind == EV_SHOWN && e->t > now - RULES_NOT_LAST_WINDOW &&
		    (last == NULL || e->t > last->t))
			last = e;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t id;
		int num = 0;

		if (!check[i])
			continue;
		id = intern_find(b->offers, offers[i], strlen(offers[i]));
		if (customer_offer_number(offers[i], &num) != 0)
			num = -1;
		for (size_t l = 0; l < nlines; l++) {
			if (excludes(&lines[l], rec, now, (int32_t)id, num, last)) {
				hit[i] = &lines[l];
				excluded++;
				break;
			}
		}
	}
out:
	pthread_mutex_unlock(&b->lock);
	return excluded;
}

size_t contact_prune(contact_book *b, double before, size_t max_buckets)
{
	size_t dropped = 0;

	pthread_mutex_lock(&b->lock);
	for (size_t v = 0; v < max_buckets && v < b->nbuckets; v++) {
		contact_rec **pp = &b->bucket[b->prune_at];

		while (*pp != NULL) {
			contact_rec *r = *pp;
			uint32_t k = 0;

			for (uint32_t i = 0; i < r->nev; i++) {
				if (r->ev[i].t >= before)
					r->ev[k++] = r->ev[i];
			}
			b->nevents -= r->nev - k;
			r->nev = k;
			if (k == 0) {
				*pp = r->next;
				free(r->ev);
				free(r);
				b->ncust--;
				dropped++;
			} else {
				pp = &r->next;
			}
		}
		b->prune_at = (b->prune_at + 1) & (b->nbuckets - 1);
	}
	pthread_mutex_unlock(&b->lock);
	return dropped;
}

void contact_forget(contact_book *b, const char *company, const char *customer)
{
	char key[CONTACT_KEY_MAX];
	size_t len = make_key(company, customer, key);
	uint64_t h = util_hash_bytes(key, len);
	contact_rec **pp;

	if (len == 0)
		return;
	pthread_mutex_lock(&b->lock);
	for (pp = &b->bucket[h & (b->nbuckets - 1)]; *pp != NULL; pp = &(*pp)->next) {
		contact_rec *r = *pp;

		if (r->hash == h && strncmp(r->key, key, len + 1) == 0) {
			*pp = r->next;
			b->nevents -= r->nev;
			b->ncust--;
			free(r->ev);
			free(r);
			break;
		}
	}
	pthread_mutex_unlock(&b->lock);
}

void contact_clear(contact_book *b)
{
	pthread_mutex_lock(&b->lock);
	drop_all(b);
	pthread_mutex_unlock(&b->lock);
}

void contact_get_stats(contact_book *b, contact_stats *out)
{
	pthread_mutex_lock(&b->lock);
	out->customers = b->ncust;
	out->events = b->nevents;
	out->untracked = b->untracked;
	pthread_mutex_unlock(&b->lock);
}
