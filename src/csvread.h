/*
 * csvread.h — the one CSV reader: a push parser over libcsv that every CSV
 * offerd and offerctl read goes through (the customer CSV of batch,
 * csvin.c; the transactions of `offerctl train`, rfm.c; the catalogue of
 * `offerctl products import`, ctl_admin.c). csvread.c is the only file that
 * includes <csv.h>. What a row means is the caller's business; this module
 * owns the bytes:
 *
 *   - feed bytes in chunks of any size; the callback is called once per row
 *     (the header first, as row 0), in order, and never more than one row
 *     (plus the header line) is held in memory;
 *   - the delimiter is fixed by the caller or sniffed from the header line:
 *     whichever of ';', ',' or TAB occurs most outside quotes (ties go to
 *     ';', then ',');
 *   - a UTF-8 BOM is skipped; CRLF, LF and CR line ends and RFC 4180 quoting
 *     (embedded delimiters, quotes doubled, newlines) are handled; blank
 *     lines are skipped and not counted; libcsv trims blanks around unquoted
 *     fields;
 *   - hard limits: columns kept per row, bytes of a field (a longer field is
 *     not kept and its row is marked; a field past field_hard_max stops the
 *     reader, or with field_hard_row marks its row too), bytes of the header
 *     line, data rows;
 *   - header names are compared ignoring case, ' ', '_', '-' and '.'
 *     (csvr_name_fold, csvr_name_is).
 */
#ifndef OFFERD_CSVREAD_H
#define OFFERD_CSVREAD_H

#include <stddef.h>
#include <stdint.h>

#define CSVR_ERROR_MAX 512 /* bytes of an error message */

typedef struct csvr_options {
	unsigned char delim;   /* ',', ';', '\t'...; 0 sniffs it from the header line */
	int columns_max;       /* fields kept per row; later fields are counted, not kept */
	size_t field_max;      /* a longer field is not kept and its row is marked */
	size_t field_hard_max; /* libcsv's field buffer stops here: a fatal error */
	int field_hard_rc;     /* what that error returns: ERR_INVAL (also for 0) or ERR_TOOBIG */
	int field_hard_row;    /* 1: a field past field_hard_max is its row's CSVR_FIELD_TOO_LONG
	                         * and reading goes on (an open quote that swallows the rest
	                         * of the input ends as that row's unterminated field) */
	size_t header_max;     /* bytes of the header line */
	int64_t rows_max;      /* data rows; one more is a fatal ERR_TOOBIG */
} csvr_options;

/* Why a kept field has no text. */
enum csvr_problem { CSVR_FIELD_OK = 0, CSVR_FIELD_TOO_LONG, CSVR_FIELD_NUL };

/*
 * One row as handed to the callback; everything is borrowed for the call.
 * The header (row 0) fixes the width: a data row keeps at most as many
 * fields as the header has (and never more than columns_max).
 */
typedef struct csvr_row {
	int64_t row;                  /* 0 for the header, then 1-based data rows */
	int nfields;                  /* fields in the row, kept or not */
	int nkept;                    /* fields kept: field[0 .. nkept-1] */
	char **field;                 /* NUL-terminated; "" for a field with a problem; may be
	                            * modified in place (trimmed) by the callback */
	const unsigned char *problem; /* enum csvr_problem per kept field */
	int problem_col;              /* first kept field with a problem, -1 when none */
	int extra_nonempty;           /* a field past the kept width holds non-blank text */
	int unterminated;             /* the input ended inside this row's open quote */
} csvr_row;

typedef struct csvr csvr;

/*
 * Called once per row. A non-zero return stops the reader and is returned
 * by csvr_feed / csvr_finish; call csvr_fail() first to give the message,
 * else it is "row N: stopped by the caller (RC)".
 */
typedef int (*csvr_row_fn)(void *arg, const csvr_row *row);

/* Makes a reader (opt is copied). The caller frees it with csvr_free(). */
csvr *csvr_new(const csvr_options *opt, csvr_row_fn fn, void *arg);
void csvr_free(csvr *r);
/* Changes the row limit before or while reading. */
void csvr_set_rows_max(csvr *r, int64_t rows_max);

/*
 * Feeds len bytes. Returns 0; the callback's non-zero return; ERR_INVAL
 * for a header line over header_max or a libcsv error; field_hard_rc for a
 * field over field_hard_max; ERR_TOOBIG past rows_max. After an error the
 * reader accepts nothing more; csvr_error() says why.
 */
int csvr_feed(csvr *r, const void *data, size_t len);
/* Ends the input: delivers a last row without a line end. Same returns;
 * ERR_INVAL "empty input: no header line" when there was no row at all. */
int csvr_finish(csvr *r);

/* Records a fatal error (the first one wins) and returns rc; for callbacks. */
int csvr_fail(csvr *r, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The message of the fatal error ("" when none). */
const char *csvr_error(const csvr *r);
/* Data rows delivered so far (the header is not counted). */
int64_t csvr_rows(const csvr *r);
/* The delimiter in use (0 until the header line is complete). */
unsigned char csvr_delim(const csvr *r);

/*
 * Folds a header name for comparison: lower case, without ' ', '_', '-'
 * and '.'. Returns 0, or ERR_RANGE when the folded name does not fit outlen.
 */
int csvr_name_fold(const char *name, char *out, size_t outlen);
/* 1 when name and canon are the same header name once folded. */
int csvr_name_is(const char *name, const char *canon);

#endif
