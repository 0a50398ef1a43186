/*
 * api_export.c — GET /export?from=&to=&format=dsjson|csv (admin keys): the
 * tenant's decision log, streamed with export.c's cursor. The export has a
 * database connection of its own, opened per request, so a long download
 * never holds the refresher's or a writer's. The first page is read before
 * the status line goes out, so a bad range or a database that is down is a
 * JSON error; after that, each page is read when the client has taken the
 * previous one (one short statement on the connection's MHD thread).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "export.h"
#include "log.h"
#include "store.h"
#include "util.h"

/* Exports running at once in this process; more get a 503. */
#define EXPORT_CONCURRENT_MAX 4

static atomic_int running;

typedef struct export_stream {
	store *db;
	export_cursor *cur;
	const char *data; /* the current page's output */
	size_t len;
	size_t off;
	int done;
} export_stream;

static void stream_free(void *arg)
{
	export_stream *x = arg;

	export_free(x->cur);
	store_close(x->db);
	free(x);
	atomic_fetch_sub(&running, 1);
}

static long stream_read(void *arg, char *out, size_t max)
{
	export_stream *x = arg;
	size_t n;

	while (x->off == x->len) {
		int rc;

		if (x->done)
			return 0;
		rc = export_next(x->cur, &x->data, &x->len);
		x->off = 0;
		if (rc != 0) {
			log_msg(LOG_WARN, "GET /export: reading the log failed after the first page: %s",
			        x->db->ops->errmsg(x->db));
			return ERR_IO;
		}
		if (x->len == 0)
			x->done = 1;
	}
	n = x->len - x->off;
	if (n > max)
		n = max;
	memcpy(out, x->data + x->off, n);
	x->off += n;
	return (long)n;
}

void api_export(server *s, http_req *r, const api_tenant *t)
{
	export_opts o;
	export_stream *x = NULL;
	const char *format = http_query(r, "format");
	const char *field;
	char err[160];
	int rc;

	memset(&o, 0, sizeof(o));
	util_strlcpy(o.company, t->company, sizeof(o.company));
	if (export_parse_format(format != NULL ? format : "dsjson", &o.format) != 0) {
		api_error(r, ERR_SYNTAX, "format", "format must be dsjson or csv");
		return;
	}
	if (date_window_parse(http_query(r, "from"), http_query(r, "to"), &o.w, &field, err,
	                      sizeof(err)) != 0) {
		api_error(r, ERR_SYNTAX, field, "%s", err);
		return;
	}
	if (atomic_fetch_add(&running, 1) >= EXPORT_CONCURRENT_MAX) {
		atomic_fetch_sub(&running, 1);
		http_add_header(r, "Retry-After", "10");
		api_error(r, ERR_UNAVAIL, NULL, "%d exports are running; try again later",
		          EXPORT_CONCURRENT_MAX);
		return;
	}
	x = xcalloc(1, sizeof(*x));
	rc = store_open(s->cfg->database_url, &x->db);
	if (rc != 0) {
		api_error(r, ERR_UNAVAIL, NULL, "the database is unavailable");
		goto fail;
	}
	export_open(x->db, &o, &x->cur);
	rc = export_next(x->cur, &x->data, &x->len);
	if (rc != 0) {
		log_msg(LOG_WARN, "GET /export: %s", x->db->ops->errmsg(x->db));
		api_error(r, rc == ERR_UNAVAIL ? ERR_UNAVAIL : ERR_IO, NULL, "reading the log failed");
		goto fail;
	}
	x->done = x->len == 0;
	http_add_header(r, "Content-Disposition",
	                o.format == EXPORT_CSV ? "attachment; filename=\"decisions.csv\""
	                                       : "attachment; filename=\"decisions.dsjson\"");
	http_reply_stream(r, 200, export_content_type(o.format), stream_read, x, stream_free);
	return;
fail:
	stream_free(x);
}
