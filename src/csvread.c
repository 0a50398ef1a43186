/*
 * csvread.c — the push-parser core every CSV reader uses (libcsv
 * underneath); the contract is in csvread.h.
 *
 * The reader has two phases. Until the first line end outside quotes it
 * keeps the raw header bytes (at most header_max), because a sniffed
 * delimiter must be known before libcsv sees a byte. Then every byte goes
 * straight to libcsv, whose field callback copies the row's kept fields into
 * one bounded buffer and whose row callback hands the row over. libcsv grows
 * its own field buffer without limit, so its realloc hook refuses to go past
 * field_hard_max: a runaway quoted field stops the reader instead of eating
 * memory. libcsv has no user pointer in that hook, hence the thread-local.
 */
#include "csvread.h"

#include <csv.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

enum rd_state { RD_HEADER = 0, RD_ROWS, RD_DONE, RD_FAILED };

struct csvr {
	csvr_options opt;
	csvr_row_fn fn;
	void *arg;
	enum rd_state state;
	int rc; /* sticky: the first fatal error or callback return */
	char err[CSVR_ERROR_MAX];

	/* Header phase. */
	buf head;        /* raw bytes up to and including the first line end */
	int head_quoted; /* inside quotes while scanning for that line end */

	struct csv_parser parser;
	int parser_ready;
	unsigned char delim;
	int header_done;  /* the header row has been handed over */
	int width;        /* fields kept per row: the header's, at most columns_max */
	int unterminated; /* the last row ends inside an open quote */

	/* The row being read. */
	int nfields;
	char *rowbuf;           /* kept fields, each NUL-terminated */
	size_t rowlen;          /* bytes used in rowbuf */
	size_t rowcap;          /* columns_max fields of field_max bytes and a NUL */
	size_t *off;            /* columns_max offsets into rowbuf */
	char **field;           /* columns_max pointers, set when the row is handed over */
	unsigned char *problem; /* columns_max enum csvr_problem */
	int problem_col;
	int extra_nonempty;
	int field_overflow; /* the field being read went past field_hard_max */

	int64_t rows;
};

/* The hard field limit of the reader inside csv_parse / csv_fini on this thread. */
static _Thread_local size_t field_hard_max;

static void *capped_realloc(void *p, size_t n)
{
	/* NULL makes libcsv stop with CSV_ENOMEM, which the reader reports. */
	if (n > field_hard_max)
		return NULL;
	return xrealloc(p, n);
}

int csvr_fail(csvr *r, int rc, const char *fmt, ...)
{
	va_list ap;

	if (r->rc != 0)
		return r->rc;
	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	r->rc = rc;
	r->state = RD_FAILED;
	return rc;
}

csvr *csvr_new(const csvr_options *opt, csvr_row_fn fn, void *arg)
{
	csvr *r = xcalloc(1, sizeof(*r));
	size_t cols;

	r->opt = *opt;
	if (r->opt.columns_max < 1)
		r->opt.columns_max = 1;
	if (r->opt.field_hard_rc == 0)
		r->opt.field_hard_rc = ERR_INVAL;
	cols = (size_t)r->opt.columns_max;
	r->fn = fn;
	r->arg = arg;
	r->state = RD_HEADER;
	buf_init(&r->head, r->opt.header_max + 1);
	/*
	 * Every kept field fits: columns_max fields of field_max bytes and a
	 * NUL. Allocated once; pages a row never reaches are never touched.
	 */
	r->rowcap = cols * (r->opt.field_max + 1);
	r->rowbuf = xmalloc(r->rowcap);
	r->off = xcalloc(cols, sizeof(*r->off));
	r->field = xcalloc(cols, sizeof(*r->field));
	r->problem = xcalloc(cols, sizeof(*r->problem));
	r->problem_col = -1;
	return r;
}

void csvr_free(csvr *r)
{
	if (r == NULL)
		return;
	if (r->parser_ready)
		csv_free(&r->parser);
	buf_free(&r->head);
	free(r->rowbuf);
	free(r->off);
	free(r->field);
	free(r->problem);
	free(r);
}

void csvr_set_rows_max(csvr *r, int64_t rows_max)
{
	r->opt.rows_max = rows_max;
}

const char *csvr_error(const csvr *r)
{
	return r->err;
}

int64_t csvr_rows(const csvr *r)
{
	return r->rows;
}

unsigned char csvr_delim(const csvr *r)
{
	return r->delim;
}

int csvr_name_fold(const char *name, char *out, size_t outlen)
{
	size_t k = 0;

	if (outlen == 0)
		return ERR_RANGE;
	for (const char *p = name; *p != '\0'; p++) {
		if (*p == ' ' || *p == '_' || *p == '-' || *p == '.')
			continue;
		if (k + 1 >= outlen) {
			out[k] = '\0';
			return ERR_RANGE;
		}
		out[k++] = (char)tolower((unsigned char)*p);
	}
	out[k] = '\0';
	return 0;
}

int csvr_name_is(const char *name, const char *canon)
{
	char a[64];
	char b[64];

	if (csvr_name_fold(name, a, sizeof(a)) != 0 || csvr_name_fold(canon, b, sizeof(b)) != 0)
		return 0;
	return strcmp(a, b) == 0;
}

/* --- rows -------------------------------------------------------------- */

static void row_reset(csvr *r)
{
	r->nfields = 0;
	r->rowlen = 0;
	r->problem_col = -1;
	r->extra_nonempty = 0;
	r->field_overflow = 0;
}

/* Hands the current row (the header first) to the callback. */
static void take_row(csvr *r)
{
	csvr_row row = {0};
	int kept;
	int rc;

	if (r->header_done && r->rows >= r->opt.rows_max) {
		csvr_fail(r, ERR_TOOBIG, "row %lld: more than %lld data rows", (long long)r->rows + 1,
		          (long long)r->opt.rows_max);
		return;
	}
	if (!r->header_done)
		r->width = r->nfields < r->opt.columns_max ? r->nfields : r->opt.columns_max;
	else
		r->rows++;
	kept = r->nfields < r->width ? r->nfields : r->width;
	for (int c = 0; c < kept; c++)
		r->field[c] = r->rowbuf + r->off[c];
	row.row = r->header_done ? r->rows : 0;
	row.nfields = r->nfields;
	row.nkept = kept;
	row.field = r->field;
	row.problem = r->problem;
	row.problem_col = r->problem_col;
	row.extra_nonempty = r->extra_nonempty;
	row.unterminated = r->unterminated;
	r->header_done = 1;
	rc = r->fn(r->arg, &row);
	if (rc != 0)
		csvr_fail(r, rc, "row %lld: stopped by the caller (%d)", (long long)row.row, rc);
}

static void on_field(void *data, size_t len, void *arg)
{
	csvr *r = arg;
	int c = r->nfields++;
	int limit = r->header_done ? r->width : r->opt.columns_max;
	int overflow = r->field_overflow;
	char *dst;

	r->field_overflow = 0;
	if (r->rc != 0)
		return;
	if (c >= limit) {
		/* Past the kept width only "is there text" matters. */
		if (overflow)
			r->extra_nonempty = 1;
		for (size_t i = 0; i < len; i++) {
			if (!isspace(((const unsigned char *)data)[i])) {
				r->extra_nonempty = 1;
				break;
			}
		}
		return;
	}
	/* Cannot happen: at most columns_max fields of at most field_max bytes are kept. */
	if (r->rowcap - r->rowlen < r->opt.field_max + 1) {
		csvr_fail(r, ERR_TOOBIG, "row %lld: row buffer overflow", (long long)r->rows + 1);
		return;
	}
	dst = r->rowbuf + r->rowlen;
	r->off[c] = r->rowlen;
	r->problem[c] = CSVR_FIELD_OK;
	/* One pass copies the field and finds a NUL in it (memccpy stops there). */
	if (overflow || len > r->opt.field_max)
		r->problem[c] = CSVR_FIELD_TOO_LONG;
	else if (len > 0 && memccpy(dst, data, '\0', len) != NULL)
		r->problem[c] = CSVR_FIELD_NUL;
	if (r->problem[c] != CSVR_FIELD_OK) {
		if (r->problem_col < 0)
			r->problem_col = c;
		len = 0;
	}
	dst[len] = '\0';
	r->rowlen += len + 1;
}

static void on_row(int term, void *arg)
{
	csvr *r = arg;

	(void)term;
	if (r->rc == 0)
		take_row(r);
	row_reset(r);
}

/* --- feeding ----------------------------------------------------------- */

static int parse_bytes(csvr *r, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (;;) {
		size_t n;

		field_hard_max = r->opt.field_hard_max;
		n = csv_parse(&r->parser, p, len, on_field, on_row, r);
		if (r->rc != 0)
			return r->rc;
		if (n == len)
			return 0;
		if (csv_error(&r->parser) != CSV_ENOMEM)
			return csvr_fail(r, ERR_INVAL, "row %lld: %s", (long long)r->rows + 1,
			                 csv_strerror(csv_error(&r->parser)));
		if (!r->opt.field_hard_row)
			return csvr_fail(r, r->opt.field_hard_rc,
			                 "row %lld: a field is longer than %zu bytes "
			                 "(is a quote left open?)",
			                 (long long)r->rows + 1, r->opt.field_hard_max);
		/*
		 * A field went past field_hard_max: capped_realloc refused to grow
		 * libcsv's buffer, which stopped with its state saved. The row gets
		 * the error (on_field), the field's bytes so far are dropped, and
		 * parsing goes on where libcsv stopped, so one bad field costs its
		 * row, not the file.
		 */
		r->field_overflow = 1;
		r->parser.entry_pos = 0;
		r->parser.spaces = 0;
		r->parser.status = 0;
		p += n;
		len -= n;
	}
}

static int space_only(unsigned char c)
{
	return c == ' ';
}

/* The delimiter the header line uses most outside quotes: ';', ',' or TAB. */
static unsigned char sniff_delim(const unsigned char *h, size_t len)
{
	size_t semi = 0;
	size_t comma = 0;
	size_t tab = 0;
	int quoted = 0;

	for (size_t i = 0; i < len; i++) {
		if (h[i] == '"')
			quoted = !quoted;
		else if (quoted)
			continue;
		else if (h[i] == ';')
			semi++;
		else if (h[i] == ',')
			comma++;
		else if (h[i] == '\t')
			tab++;
	}
	/* Ties go to ';' (Company B's choice), then ','. */
	if (semi >= comma && semi >= tab && semi > 0)
		return ';';
	if (comma >= tab && comma > 0)
		return ',';
	if (tab > 0)
		return '\t';
	return ',';
}

/* Fixes the delimiter, starts libcsv and parses the header bytes. */
static int start_rows(csvr *r)
{
	const unsigned char *h = (const unsigned char *)r->head.data;
	size_t len = r->head.len;
	int rc;

	if (len >= 3 && memcmp(h, "\xEF\xBB\xBF", 3) == 0) {
		h += 3;
		len -= 3;
	}
	r->delim = r->opt.delim != 0 ? r->opt.delim : sniff_delim(h, len);
	if (csv_init(&r->parser, CSV_APPEND_NULL) != 0)
		return csvr_fail(r, ERR_NOMEM, "cannot start the CSV parser");
	r->parser_ready = 1;
	csv_set_delim(&r->parser, r->delim);
	csv_set_realloc_func(&r->parser, capped_realloc);
	if (r->delim == '\t') {
		/* libcsv trims tabs as white space by default; as the delimiter they must stay. */
		csv_set_space_func(&r->parser, space_only);
	}
	r->state = RD_ROWS;
	rc = parse_bytes(r, h, len);
	buf_free(&r->head);
	return rc;
}

int csvr_feed(csvr *r, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;
	int rc;

	if (r->state == RD_FAILED)
		return r->rc;
	if (r->state == RD_DONE)
		return csvr_fail(r, ERR_INVAL, "data fed after the end");
	if (r->state == RD_ROWS)
		return parse_bytes(r, data, len);
	/* Header phase: find the first line end outside quotes. */
	for (i = 0; i < len; i++) {
		if (p[i] == '"')
			r->head_quoted = !r->head_quoted;
		else if (!r->head_quoted && (p[i] == '\n' || p[i] == '\r'))
			break;
	}
	if (i == len) {
		if (buf_add(&r->head, p, len) != 0)
			return csvr_fail(r, ERR_INVAL, "header: the first line is longer than %zu bytes",
			                 r->opt.header_max);
		return 0;
	}
	if (buf_add(&r->head, p, i + 1) != 0)
		return csvr_fail(r, ERR_INVAL, "header: the first line is longer than %zu bytes",
		                 r->opt.header_max);
	rc = start_rows(r);
	if (rc != 0)
		return rc;
	return parse_bytes(r, p + i + 1, len - i - 1);
}

int csvr_finish(csvr *r)
{
	int rc;

	if (r->state == RD_FAILED)
		return r->rc;
	if (r->state == RD_DONE)
		return 0;
	if (r->state == RD_HEADER) {
		size_t n = r->head.len;

		if (n >= 3 && memcmp(r->head.data, "\xEF\xBB\xBF", 3) == 0)
			n -= 3;
		if (n == 0)
			return csvr_fail(r, ERR_INVAL, "empty input: no header line");
		rc = start_rows(r);
		if (rc != 0)
			return rc;
	}
	/*
	 * libcsv (non-strict) hands over an unclosed quoted field as if it were
	 * closed; its public parser state tells us, so the row can say so.
	 */
	if (r->parser.pstate == 2 && r->parser.quoted)
		r->unterminated = 1;
	field_hard_max = r->opt.field_hard_max;
	csv_fini(&r->parser, on_field, on_row, r);
	if (r->rc != 0)
		return r->rc;
	if (!r->header_done)
		return csvr_fail(r, ERR_INVAL, "empty input: no header line");
	r->state = RD_DONE;
	return 0;
}
