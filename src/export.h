/*
 * export.h — the decision log as a file (issue 16.5): episodes joined with
 * their rewards, written as DSJSON (the decision-service JSON that Vowpal
 * Wabbit's --dsjson and Personalizer's log tools read) or as a CSV with one
 * row per shown slot (Open Bandit Pipeline's columns). `offerctl export`
 * and GET /export share this file; neither holds more than one page of rows.
 *
 * How it streams: a cursor reads the log in keyset pages (id > the last id
 * seen, EXPORT_PAGE rows each) and formats one page per export_next call.
 * Each page is one short statement, the same on SQLite and PostgreSQL, so
 * a long export holds no transaction or server-side cursor open (no
 * statement_timeout to lift, nothing that keeps VACUUM from cleaning up),
 * and an HTTP client that reads slowly only delays the next page. Rows
 * written after the export started are included when they fall in the
 * range; rows deleted meanwhile (retention, erasure) are not.
 */
#ifndef OFFERD_EXPORT_H
#define OFFERD_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "date.h"
#include "db.h"
#include "store.h"

/* Episodes per page: one statement and one chunk of output each. */
#define EXPORT_PAGE 1000
/*
 * A page ends early once its output passes EXPORT_CHUNK_SOFT (episodes with
 * large states), and the next page goes on after the last episode written;
 * EXPORT_CHUNK_MAX bounds the output of one page (one episode's rows at
 * most take a few times the largest body offerd accepts).
 */
#define EXPORT_CHUNK_SOFT (4u << 20)
#define EXPORT_CHUNK_MAX (64u << 20)

enum export_format { EXPORT_DSJSON = 1, EXPORT_CSV = 2 };

typedef struct export_opts {
	char company[DB_COMPANY_MAX];
	date_window w; /* of the episodes' write time (server clock): date_window_parse */
	enum export_format format;
} export_opts;

/* "dsjson" or "csv" into *out: 0 or ERR_INVAL. */
int export_parse_format(const char *s, enum export_format *out);
/* The MIME type of a format. */
const char *export_content_type(enum export_format f);

typedef struct export_cursor export_cursor;

/* A cursor over o's rows on s (borrowed: s must outlive it). The caller frees it with export_free. */
int export_open(store *s, const export_opts *o, export_cursor **out);
/*
 * The next piece of the export: the header (CSV) and one page of rows.
 * *data and *len stay valid until the next call; *len is 0 at the end.
 * Returns 0 or the store's error (the message is in the store's errmsg).
 */
int export_next(export_cursor *c, const char **data, size_t *len);
/* Episodes written so far. */
int64_t export_episodes(const export_cursor *c);
void export_free(export_cursor *c);

/* The number of episodes in o's range, for a progress bar. */
int export_count(store *s, const export_opts *o, int64_t *out);

/*
 * A timestamp as either store prints it ("2026-12-03 22:04:01.123456+00",
 * "2026-12-03T22:04:01.123Z") as UTC YYYY-MM-DDTHH:MM:SS.mmmZ into out;
 * returns 0, or ERR_INVAL (out then holds the text as it was, cut to fit).
 */
int export_iso_utc(const char *ts, char out[32]);

#endif
