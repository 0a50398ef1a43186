/*
 * store.c — picks a backend from the database URL.
 */
#include "store.h"

#include <string.h>

#include "log.h"
#include "util.h"

int store_open(const char *url, store **out)
{
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
	log_msg(LOG_ERROR, "unsupported database URL (use sqlite:PATH or postgresql://...): %s", url);
	return ERR_INVAL;
}

void store_close(store *s)
{
	if (s != NULL)
		s->ops->close(s);
}
