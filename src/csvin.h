/*
 * csvin.h — Company B style customer CSV in, /predict requests out. Shared
 * by `offerctl batch` (which sends each request as a JSON body,
 * request_predict_body) and the server's POST /batch (which decides it
 * directly). The result CSV is written by csvout.h.
 *
 * The reader is a push parser (csvread.h, over libcsv): feed it bytes in chunks of any
 * size as they arrive; it calls back once per data row, in order, and never
 * holds more than one row (plus the header line) in memory.
 *
 * Input: the first line is the header. The delimiter is whichever of ';',
 * ',' or TAB occurs most in that line (outside quotes). A UTF-8 BOM is
 * skipped; CRLF, LF and CR line ends and RFC 4180 quoting (embedded
 * delimiters, quotes doubled, newlines) are handled; blank lines are skipped
 * and not counted. Header names are matched as customer_field_find
 * (customer.h) does, ignoring case, spaces, '_', '-' and '.': customer_id (also customer, cust_id, client_id, customer number),
 * age, timestamp (also date), gender (also sex), region, last_offer,
 * client-since (also customer_since), and Offer_<n> for the offers. Other
 * columns are ignored. customer_id, age and at least one offer column are
 * required; a header without them is a fatal error.
 *
 * Normalisation of each row (all values trimmed first; the spellings of
 * genders, ages, flags and offers are customer.h's, shared with JSON bodies):
 *   customer_id   required, at most CUSTOMER_ID_MAX bytes
 *   age           required, a whole number 0..150 ("71.0" is accepted)
 *   timestamp     YYYY-MM-DD or an ISO 8601 date-time (the date is kept);
 *                 blank or a placeholder before 1970 (1900-01-01) becomes
 *                 the reader's "today" (UTC, fixed when the reader is made)
 *   gender        M/m/Male/man -> "M", F/f/Female/woman -> "F", else "unknown"
 *   region        trimmed; blank -> "unknown"
 *   last_offer    Offer_3 -> "OFFER_3"; blank -> "unknown"; other text kept
 *   client-since  a date as for timestamp; blank or before 1970 -> "unknown"
 *   offers        True/true/T/1/yes/Y -> true; False/false/F/0/no/N/blank ->
 *                 false; anything else is a row error
 * then the eligibility rules set denied offers to false. A row with no offer
 * left is an error ("no eligible offer").
 *
 * A row that cannot be sent (missing customer_id, age not a number, wrong
 * number of columns, a field over CSV_FIELD_MAX, ...) is reported to the
 * callback with an error message naming the field: rows are never dropped.
 */
#ifndef OFFERD_CSVIN_H
#define OFFERD_CSVIN_H

#include <stddef.h>
#include <stdint.h>

#include "request.h"
#include "rules.h"
#include "util.h"

#define CSV_COLUMNS_MAX 256            /* columns in the header and in a row */
#define CSV_FIELD_MAX 1024             /* bytes of a field; longer is a row error */
#define CSV_FIELD_HARD_MAX (64 * 1024) /* bytes buffered of a field; the rest is dropped (a row error) */
#define CSV_HEADER_MAX (64 * 1024)     /* bytes of the header line */
#define CSV_ROWS_DEFAULT 10000000      /* default row limit; see csv_reader_set_max_rows */
#define CSV_ERROR_MAX 512              /* bytes of an error message */

/*
 * One data row, as handed to the callback. Everything is borrowed for the
 * call; a callback that keeps the request copies it (the struct) and
 * xstrdup's its states_text.
 */
typedef struct csv_record {
	int64_t row;             /* 1-based data row number (the header is not counted) */
	const char *customer_id; /* "" when missing */
	const predict_req *req;  /* the row as a /predict request, or NULL on error */
	const char *error;       /* NULL when req is set, else why the row is rejected */
} csv_record;

/* Called once per row in input order. A non-zero return stops the reader
 * and is returned by csv_reader_feed / csv_reader_finish. */
typedef int (*csv_record_fn)(void *arg, const csv_record *rec);

typedef struct csv_reader csv_reader;

/*
 * Makes a reader. `rs` (borrowed, may be NULL for none) must outlive it.
 * The caller frees it with csv_reader_free().
 */
csv_reader *csv_reader_new(const rules *rs, csv_record_fn fn, void *arg);
void csv_reader_free(csv_reader *rd);

/* Overrides "today" (YYYY-MM-DD) for blank and placeholder timestamps; for tests. */
int csv_reader_set_today(csv_reader *rd, const char *date);
/* Lowers or raises the row limit (default CSV_ROWS_DEFAULT); beyond it feeding fails. */
void csv_reader_set_max_rows(csv_reader *rd, int64_t max_rows);

/*
 * Feeds len bytes. Returns 0; the callback's non-zero return; ERR_INVAL for
 * a fatal input problem (a bad header) or
 * ERR_TOOBIG (over the row limit), with a message from csv_reader_error().
 * After an error the reader accepts nothing more.
 */
int csv_reader_feed(csv_reader *rd, const void *data, size_t len);
/* Ends the input: delivers a last row without a line end. Same returns. */
int csv_reader_finish(csv_reader *rd);
/* The message of the last fatal error ("" when none). */
const char *csv_reader_error(const csv_reader *rd);
/* Data rows delivered so far. */
int64_t csv_reader_rows(const csv_reader *rd);

#endif
