/*
 * store.c — picks a backend from the database URL.
 */
#include "store.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "util.h"

int store_open(const char *url, store **out)
{
	char safe[256];

	*out = NULL;
	if (url == NULL || *url == '\0') {
		log_msg(LOG_ERROR, "database URL is empty");
		return ERR_INVAL;
	}
	if (strncmp(url, "sqlite:", 7) == 0) {
		const char *path = url + 7;

		/* Accept sqlite:///abs/path and sqlite://rel as well as sqlite:path. */
		if (strncmp(path, "//", 2) == 0)
			path += 2;
		if (*path == '\0') {
			log_msg(LOG_ERROR, "sqlite URL has no path: %s", url);
			return ERR_INVAL;
		}
		return store_sqlite_open(path, out);
	}
	if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0)
		return store_pg_open(url, out);
	store_url_safe(url, safe, sizeof(safe));
	log_msg(LOG_ERROR, "unsupported database URL (use sqlite:PATH or postgresql://...): %s", safe);
	return ERR_INVAL;
}

void store_url_safe(const char *url, char *out, size_t n)
{
	const char *auth = strstr(url, "://");
	const char *query = strchr(url, '?');
	const char *end = query != NULL ? query : url + strlen(url);
	const char *at = NULL;
	const char *colon = NULL;
	buf b;
	int rc;

	/* The user part ends at the authority's last '@' (a raw '@' in a password is taken). */
	if (auth != NULL && auth < end) {
		for (const char *p = auth + 3; p < end; p++) {
			if (*p == '@')
				at = p;
		}
		colon = at != NULL ? memchr(auth + 3, ':', (size_t)(at - (auth + 3))) : NULL;
	}
	buf_init(&b, 2 * strlen(url) + 16); /* room for every "***", however short what it hides */
	if (colon != NULL)
		rc = buf_add(&b, url, (size_t)(colon + 1 - url)) || buf_adds(&b, "***") ||
		     buf_add(&b, at, (size_t)(end - at));
	else
		rc = buf_add(&b, url, (size_t)(end - url));
	/* Parameters: password=... is hidden, the others kept. */
	for (const char *p = query; rc == 0 && p != NULL && *p != '\0';) {
		size_t len = strcspn(p + 1, "&") + 1;

		if (strncasecmp(p + 1, "password=", 9) == 0)
			rc = buf_add(&b, p, 10) || buf_adds(&b, "***");
		else
			rc = buf_add(&b, p, len);
		p += len;
	}
	util_strlcpy(out, rc == 0 && b.data != NULL ? b.data : "", n);
	buf_free(&b);
}

void store_close(store *s)
{
	if (s != NULL)
		s->ops->close(s);
}

void store_slot_init(store_slot *slot)
{
	pthread_mutex_init(&slot->lock, NULL);
	slot->s = NULL;
}

store *store_slot_take(store_slot *slot, const char *url, double wait, int *busy)
{
	int unused;

	if (busy == NULL)
		busy = &unused;
	*busy = 0;
	if (wait > 0) {
		struct timespec until;
		double whole = (double)(time_t)wait;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += (time_t)wait;
		until.tv_nsec += (long)((wait - whole) * 1e9);
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (pthread_mutex_timedlock(&slot->lock, &until) != 0) {
			*busy = 1;
			return NULL;
		}
	} else {
		pthread_mutex_lock(&slot->lock);
	}
	if (slot->s == NULL && store_open(url, &slot->s) != 0) {
		slot->s = NULL;
		pthread_mutex_unlock(&slot->lock);
		return NULL;
	}
	return slot->s;
}

void store_slot_give(store_slot *slot, int failed)
{
	if (failed) {
		store_close(slot->s);
		slot->s = NULL;
	}
	pthread_mutex_unlock(&slot->lock);
}

void store_slot_end(store_slot *slot)
{
	store_close(slot->s);
	slot->s = NULL;
	pthread_mutex_destroy(&slot->lock);
}
