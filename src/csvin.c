/*
 * csvin.c — the streaming customer-CSV reader (libcsv underneath) that turns
 * each row into a /predict request with the eligibility rules applied (the
 * result CSV is written by csvout.c). The contract and the normalisation choices are
 * documented in csvin.h.
 *
 * The reader has two phases. Until the first line end outside quotes it
 * keeps the raw header bytes (at most CSV_HEADER_MAX), because the delimiter
 * must be known before libcsv sees a byte. Then every byte goes straight to
 * libcsv, whose field callback copies the row's fields into one bounded
 * buffer and whose row callback builds and delivers the record. libcsv grows
 * its own field buffer without limit, so its realloc hook refuses to go past
 * CSV_FIELD_HARD_MAX: a runaway quoted field stops the reader instead of
 * eating memory.
 */
#include "csvin.h"

#include <csv.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "customer.h"
#include "date.h"

enum col_role {
	COL_IGNORE = 0,
	COL_ID,
	COL_AGE,
	COL_TS,
	COL_GENDER,
	COL_REGION,
	COL_LAST_OFFER,
	COL_CLIENT_SINCE,
	COL_OFFER,
	COL_NROLES,
};

/* Canonical names, used in messages and as JSON keys where they are keys. */
static const char *const role_names[COL_NROLES] = {
	"(ignored)", "customer_id", "age", "timestamp", "gender",
	"region", "last_offer", "client-since", "offer",
};

/* Header spellings after folding (lower case, no ' ', '_', '-', '.'). */
static const struct {
	const char *folded;
	enum col_role role;
} header_names[] = {
	{"customerid", COL_ID},       {"customer", COL_ID},          {"custid", COL_ID},
	{"clientid", COL_ID},         {"customerno", COL_ID},        {"customernumber", COL_ID},
	{"age", COL_AGE},             {"timestamp", COL_TS},         {"date", COL_TS},
	{"gender", COL_GENDER},       {"sex", COL_GENDER},           {"region", COL_REGION},
	{"lastoffer", COL_LAST_OFFER}, {"clientsince", COL_CLIENT_SINCE},
	{"customersince", COL_CLIENT_SINCE},
};

enum rd_state { RD_HEADER = 0, RD_ROWS, RD_DONE, RD_FAILED };

/* Why a field of the current row cannot be used, noted while it streams in. */
enum field_problem { FP_NONE = 0, FP_TOO_LONG, FP_NUL };

struct csv_reader {
	const rules *rules;
	csv_record_fn fn;
	void *arg;
	char today[11];
	int64_t max_rows;
	enum rd_state state;
	int rc;                  /* sticky: the first fatal error or callback return */
	char err[CSV_ERROR_MAX];

	/* Header phase. */
	buf head;                /* raw bytes up to and including the first line end */
	int head_quoted;         /* inside quotes while scanning for that line end */

	struct csv_parser parser;
	int parser_ready;
	int header_done;         /* libcsv has delivered the header row */
	int at_eof_unterminated; /* the last row ends inside an open quote */

	/* Columns, from the header. */
	int ncols;
	unsigned char role[CSV_COLUMNS_MAX];
	int offer_num[CSV_COLUMNS_MAX];
	int col_of[COL_NROLES];  /* column of each single role, -1 if absent */
	int noffers;
	int offer_cols[CSV_COLUMNS_MAX];  /* offer columns sorted by offer number */
	char offer_name[CSV_COLUMNS_MAX][CUSTOMER_OFFER_ID_MAX + 1];  /* OFFER_<n> per column */

	/* The row being read. */
	int nfields;
	buf rowbuf;                       /* fields, each NUL-terminated */
	size_t off[CSV_COLUMNS_MAX];
	int problem_col;                  /* first field with a problem, -1 if none */
	enum field_problem problem;
	int extra_nonempty;               /* a field past the header's width has text */
	int field_overflow;               /* the field being read went over CSV_FIELD_HARD_MAX */

	int64_t rows;
};

static void *capped_realloc(void *p, size_t n)
{
	/* NULL makes libcsv stop with CSV_ENOMEM, which the reader reports. */
	if (n > CSV_FIELD_HARD_MAX)
		return NULL;
	return xrealloc(p, n);
}

static int reader_fail(csv_reader *rd, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Records a fatal error; the reader accepts nothing after it. */
static int reader_fail(csv_reader *rd, int rc, const char *fmt, ...)
{
	va_list ap;

	if (rd->rc != 0)
		return rd->rc;
	va_start(ap, fmt);
	vsnprintf(rd->err, sizeof(rd->err), fmt, ap);
	va_end(ap);
	rd->rc = rc;
	rd->state = RD_FAILED;
	return rc;
}

csv_reader *csv_reader_new(const rules *rs, csv_record_fn fn, void *arg)
{
	csv_reader *rd = xcalloc(1, sizeof(*rd));

	rd->rules = rs;
	rd->fn = fn;
	rd->arg = arg;
	rd->max_rows = CSV_ROWS_DEFAULT;
	rd->state = RD_HEADER;
	util_today(rd->today);
	buf_init(&rd->head, CSV_HEADER_MAX + 1);
	buf_init(&rd->rowbuf, (size_t)CSV_COLUMNS_MAX * (CSV_FIELD_MAX + 1));
	for (int i = 0; i < COL_NROLES; i++)
		rd->col_of[i] = -1;
	rd->problem_col = -1;
	return rd;
}

void csv_reader_free(csv_reader *rd)
{
	if (rd == NULL)
		return;
	if (rd->parser_ready)
		csv_free(&rd->parser);
	buf_free(&rd->head);
	buf_free(&rd->rowbuf);
	free(rd);
}

/*
 * Reads a date as date_parse() does (YYYY-MM-DD or an ISO 8601 date-time).
 * Returns 1 and fills out[11] for a real date, 0 for blank or a placeholder
 * before 1970 (the export's 1900-01-xx "no value"), ERR_INVAL otherwise.
 */
static int parse_date(const char *s, char out[DATE_TEXT_LEN])
{
	date_ymd d;

	if (s[0] == '\0')
		return 0;
	if (date_parse(s, &d) != 0)
		return ERR_INVAL;
	if (d.year < 1970)
		return 0;
	date_format(&d, out);
	return 1;
}

/* --- header ------------------------------------------------------------ */

static enum col_role header_role(const char *name, int *offer)
{
	char folded[64];
	size_t k = 0;

	if (customer_offer_number(name, offer) == 0)
		return COL_OFFER;
	for (const char *p = name; *p != '\0'; p++) {
		if (*p == ' ' || *p == '_' || *p == '-' || *p == '.')
			continue;
		if (k + 1 >= sizeof(folded))
			return COL_IGNORE;
		folded[k++] = (char)tolower((unsigned char)*p);
	}
	folded[k] = '\0';
	for (size_t i = 0; i < UTIL_ARRAY_LEN(header_names); i++) {
		if (strcmp(folded, header_names[i].folded) == 0)
			return header_names[i].role;
	}
	return COL_IGNORE;
}

static char *row_field(csv_reader *rd, int col)
{
	return rd->rowbuf.data + rd->off[col];
}

/* Sets up the columns from the header row held in the row buffer. */
static int take_header(csv_reader *rd)
{
	if (rd->nfields > CSV_COLUMNS_MAX)
		return reader_fail(rd, ERR_INVAL, "header: more than %d columns", CSV_COLUMNS_MAX);
	if (rd->problem_col >= 0)
		return reader_fail(rd, ERR_INVAL, "header: column %d is longer than %d bytes or holds a NUL",
		            rd->problem_col + 1, CSV_FIELD_MAX);
	rd->ncols = rd->nfields;
	for (int c = 0; c < rd->ncols; c++) {
		char *name = util_trim(row_field(rd, c));
		int offer = 0;
		enum col_role role = header_role(name, &offer);

		rd->role[c] = (unsigned char)role;
		if (role == COL_OFFER) {
			for (int k = 0; k < rd->noffers; k++) {
				if (rd->offer_num[rd->offer_cols[k]] == offer)
					return reader_fail(rd, ERR_INVAL, "header: columns %d and %d are both OFFER_%d",
					            rd->offer_cols[k] + 1, c + 1, offer);
			}
			rd->offer_num[c] = offer;
			customer_offer_name(offer, rd->offer_name[c], sizeof(rd->offer_name[c]));
			/* Insertion sort: the body lists offers by number, whatever the column order. */
			int k = rd->noffers++;
			while (k > 0 && rd->offer_num[rd->offer_cols[k - 1]] > offer) {
				rd->offer_cols[k] = rd->offer_cols[k - 1];
				k--;
			}
			rd->offer_cols[k] = c;
		} else if (role != COL_IGNORE) {
			if (rd->col_of[role] >= 0)
				return reader_fail(rd, ERR_INVAL, "header: columns %d and %d are both %s",
				            rd->col_of[role] + 1, c + 1, role_names[role]);
			rd->col_of[role] = c;
		}
	}
	if (rd->col_of[COL_ID] < 0)
		return reader_fail(rd, ERR_INVAL, "header: no customer_id column (is the first line the header?)");
	if (rd->col_of[COL_AGE] < 0)
		return reader_fail(rd, ERR_INVAL, "header: no age column");
	if (rd->noffers == 0)
		return reader_fail(rd, ERR_INVAL, "header: no offer columns (Offer_1, Offer_2, ...)");
	rd->header_done = 1;
	return 0;
}

/* --- rows -------------------------------------------------------------- */

/* Adds key: s, or writes an error when s is not UTF-8 (jansson refuses it). */
static int set_str(json_t *obj, const char *key, const char *s, const char *field, char *err,
                   size_t errlen)
{
	json_t *v = json_string(s);

	if (v == NULL) {
		snprintf(err, errlen, "%s is not valid UTF-8 (save the file as UTF-8)", field);
		return ERR_INVAL;
	}
	json_object_set_new(obj, key, v);
	return 0;
}

/* Writes an error when s is not UTF-8: ids are echoed in JSON answers and stored. */
static int check_utf8(const char *s, const char *field, char *err, size_t errlen)
{
	json_t *probe = json_object();
	int rc = set_str(probe, "v", s, field, err, errlen);

	json_decref(probe);
	return rc;
}

/* The value of a single-role column, trimmed; "" when the column is absent. */
static const char *role_value(csv_reader *rd, enum col_role role)
{
	int c = rd->col_of[role];

	return c < 0 ? "" : util_trim(row_field(rd, c));
}

/*
 * Turns the current row into a /predict request in *out, or writes why not
 * into err. The caller has checked the column count and field problems.
 * The CSV's own conventions (placeholder dates, whole ages, spreadsheet
 * flags, the rules) are applied here; every check a /predict body gets is
 * request_predict_from_row's.
 */
static int build_request(csv_reader *rd, const char *id, predict_req *out, char *err,
                         size_t errlen)
{
	json_t *states = json_object();
	const char *names[CSV_COLUMNS_MAX];
	unsigned char allowed[CSV_COLUMNS_MAX];
	unsigned char denied[CUSTOMER_OFFER_NUM_MAX + 1];
	char date[DATE_TEXT_LEN];
	char ts_date[DATE_TEXT_LEN];
	const char *timestamp;
	char canon[CUSTOMER_OFFER_ID_MAX + 1];
	const char *v;
	double age_read;
	int age;
	int eligible = 0;
	int rc;
	req_error e;

	if (*id == '\0') {
		snprintf(err, errlen, "missing customer_id");
		rc = ERR_INVAL;
		goto out;
	}
	if (strlen(id) > CSV_ID_MAX) {
		snprintf(err, errlen, "customer_id is longer than %d bytes", CSV_ID_MAX);
		rc = ERR_INVAL;
		goto out;
	}
	rc = check_utf8(id, "customer_id", err, errlen);
	if (rc != 0)
		goto out;

	v = role_value(rd, COL_TS);
	rc = parse_date(v, ts_date);
	if (rc < 0) {
		snprintf(err, errlen, "timestamp is not a date (YYYY-MM-DD): '%.64s'", v);
		goto out;
	}
	timestamp = rc == 1 ? ts_date : rd->today;

	v = role_value(rd, COL_AGE);
	if (*v == '\0') {
		snprintf(err, errlen, "missing age");
		rc = ERR_INVAL;
		goto out;
	}
	/* Spreadsheets write whole numbers as "71.0"; a fraction is not an age in a file. */
	if (customer_age_text(v, &age_read) != 0 || age_read != (double)(int64_t)age_read) {
		snprintf(err, errlen, "age is not a number: '%.64s'", v);
		rc = ERR_INVAL;
		goto out;
	}
	if (customer_age(age_read, &age) != 0) {
		snprintf(err, errlen, "age is out of range 0..%d: '%.64s'", CUSTOMER_AGE_MAX, v);
		rc = ERR_INVAL;
		goto out;
	}
	json_object_set_new(states, "age", json_integer(age));
	json_object_set_new(states, "gender",
	                    json_string(customer_gender_text(customer_gender(role_value(rd, COL_GENDER)))));

	v = role_value(rd, COL_CLIENT_SINCE);
	rc = parse_date(v, date);
	if (rc < 0) {
		snprintf(err, errlen, "client-since is not a date (YYYY-MM-DD): '%.64s'", v);
		goto out;
	}
	json_object_set_new(states, "client-since", json_string(rc == 1 ? date : "unknown"));

	v = role_value(rd, COL_REGION);
	rc = set_str(states, "region", *v != '\0' ? v : "unknown", "region", err, errlen);
	if (rc != 0)
		goto out;

	v = role_value(rd, COL_LAST_OFFER);
	if (*v == '\0')
		v = "unknown";
	else if (customer_offer_id(v, canon, sizeof(canon)) == 0)
		v = canon;
	rc = set_str(states, "last_offer", v, "last_offer", err, errlen);
	if (rc != 0)
		goto out;

	for (int k = 0; k < rd->noffers; k++) {
		int c = rd->offer_cols[k];
		int flag;

		v = util_trim(row_field(rd, c));
		names[k] = rd->offer_name[c];
		if (customer_flag(v, CUSTOMER_CSV, &flag) != 0) {
			snprintf(err, errlen, "%s is not true or false: '%.64s'", names[k], v);
			rc = ERR_INVAL;
			goto out;
		}
		allowed[k] = (unsigned char)flag;
	}
	if (rd->rules != NULL && rules_match(rd->rules, states, denied) > 0) {
		for (int k = 0; k < rd->noffers; k++) {
			if (denied[rd->offer_num[rd->offer_cols[k]]])
				allowed[k] = 0;
		}
	}
	for (int k = 0; k < rd->noffers; k++)
		eligible += allowed[k];
	if (eligible == 0) {
		snprintf(err, errlen, "no eligible offer: every offer is false or denied by the rules");
		rc = ERR_INVAL;
		goto out;
	}
	rc = request_predict_from_row(id, timestamp, states, names, allowed, (size_t)rd->noffers,
	                              out, &e);
	if (rc != 0)
		snprintf(err, errlen, "%s: %s", e.field, e.message);
out:
	json_decref(states);
	return rc;
}

static void row_reset(csv_reader *rd)
{
	rd->nfields = 0;
	buf_reset(&rd->rowbuf);
	rd->problem_col = -1;
	rd->problem = FP_NONE;
	rd->extra_nonempty = 0;
	rd->field_overflow = 0;
}

/* Names column c for messages: its canonical name, else "column N". */
static const char *column_name(const csv_reader *rd, int c, char *name, size_t len)
{
	if (rd->role[c] == COL_OFFER)
		customer_offer_name(rd->offer_num[c], name, len);
	else if (rd->role[c] != COL_IGNORE)
		snprintf(name, len, "%s", role_names[rd->role[c]]);
	else
		snprintf(name, len, "column %d", c + 1);
	return name;
}

/* Delivers the current data row to the callback, as a body or an error. */
static int take_row(csv_reader *rd)
{
	char err[CSV_ERROR_MAX] = "";
	char name[32];
	csv_record rec = {0};
	predict_req req;
	int have_req = 0;
	const char *id = "";
	int id_col = rd->col_of[COL_ID];
	int rc;

	if (rd->rows >= rd->max_rows)
		return reader_fail(rd, ERR_TOOBIG, "row %lld: more than %lld data rows",
		            (long long)rd->rows + 1, (long long)rd->max_rows);
	rd->rows++;
	if (id_col < rd->nfields && id_col != rd->problem_col)
		id = util_trim(row_field(rd, id_col));
	if (rd->at_eof_unterminated) {
		snprintf(err, sizeof(err), "a quoted field is not closed: the rest of the file "
		         "from this row on is inside quotes");
	} else if (rd->nfields > rd->ncols && rd->extra_nonempty) {
		snprintf(err, sizeof(err), "too many columns: %d, the header has %d", rd->nfields,
		         rd->ncols);
	} else if (rd->nfields < rd->ncols) {
		snprintf(err, sizeof(err), "missing columns: the row has %d of %d (the first missing is %s)",
		         rd->nfields, rd->ncols, column_name(rd, rd->nfields, name, sizeof(name)));
	} else if (rd->problem_col >= 0) {
		column_name(rd, rd->problem_col, name, sizeof(name));
		if (rd->problem == FP_NUL)
			snprintf(err, sizeof(err), "%s holds a NUL byte", name);
		else
			snprintf(err, sizeof(err), "%s is longer than %d bytes", name, CSV_FIELD_MAX);
	} else {
		have_req = build_request(rd, id, &req, err, sizeof(err)) == 0;
	}
	/* An id that is not UTF-8 or too long cannot be echoed into a JSON or CSV answer. */
	if (strlen(id) > CSV_ID_MAX)
		id = "";
	rec.row = rd->rows;
	rec.customer_id = id;
	rec.req = have_req ? &req : NULL;
	rec.error = have_req ? NULL : err;
	rc = rd->fn(rd->arg, &rec);
	if (have_req)
		request_predict_free(&req);
	if (rc != 0) {
		rd->rc = rc;
		rd->state = RD_FAILED;
		snprintf(rd->err, sizeof(rd->err), "row %lld: stopped by the caller (%d)",
		         (long long)rd->rows, rc);
	}
	return rc;
}

static void on_field(void *data, size_t len, void *arg)
{
	csv_reader *rd = arg;
	int c = rd->nfields++;
	int overflow = rd->field_overflow;

	rd->field_overflow = 0;
	if (rd->rc != 0)
		return;
	if (c >= CSV_COLUMNS_MAX || (rd->header_done && c >= rd->ncols)) {
		/* Past the header's width only "is there text" matters. */
		if (overflow)
			rd->extra_nonempty = 1;
		for (size_t i = 0; i < len; i++) {
			if (!isspace(((const unsigned char *)data)[i])) {
				rd->extra_nonempty = 1;
				break;
			}
		}
		return;
	}
	rd->off[c] = rd->rowbuf.len;
	if (overflow || len > CSV_FIELD_MAX || memchr(data, '\0', len) != NULL) {
		if (rd->problem_col < 0) {
			rd->problem_col = c;
			rd->problem = overflow || len > CSV_FIELD_MAX ? FP_TOO_LONG : FP_NUL;
		}
		len = 0;
	}
	/* Cannot overflow: the buffer holds CSV_COLUMNS_MAX fields of CSV_FIELD_MAX. */
	if (buf_add(&rd->rowbuf, data, len) != 0 || buf_add(&rd->rowbuf, "", 1) != 0)
		reader_fail(rd, ERR_TOOBIG, "row %lld: row buffer overflow", (long long)rd->rows + 1);
}

static void on_row(int term, void *arg)
{
	csv_reader *rd = arg;

	(void)term;
	if (rd->rc == 0) {
		if (!rd->header_done)
			take_header(rd);
		else
			take_row(rd);
	}
	row_reset(rd);
}

/* --- feeding ----------------------------------------------------------- */

static int parse_bytes(csv_reader *rd, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (;;) {
		size_t n = csv_parse(&rd->parser, p, len, on_field, on_row, rd);

		if (rd->rc != 0)
			return rd->rc;
		if (n == len)
			return 0;
		if (csv_error(&rd->parser) != CSV_ENOMEM)
			return reader_fail(rd, ERR_INVAL, "row %lld: %s", (long long)rd->rows + 1,
			                   csv_strerror(csv_error(&rd->parser)));
		/*
		 * A field went over CSV_FIELD_HARD_MAX (capped_realloc refused to
		 * grow libcsv's buffer, which stopped with its state saved): the
		 * row gets the error (on_field), the field's bytes so far are
		 * dropped, and parsing goes on where libcsv stopped, so one bad
		 * field costs its row, not the file. An open quote that swallows
		 * the rest of the file ends as that row's "not closed" error.
		 */
		rd->field_overflow = 1;
		rd->parser.entry_pos = 0;
		rd->parser.spaces = 0;
		rd->parser.status = 0;
		p += n;
		len -= n;
	}
}

static int space_only(unsigned char c)
{
	return c == ' ';
}

/* Picks the delimiter from the header line, starts libcsv and parses the header bytes. */
static int start_rows(csv_reader *rd)
{
	const unsigned char *h = (const unsigned char *)rd->head.data;
	size_t len = rd->head.len;
	size_t semi = 0;
	size_t comma = 0;
	size_t tab = 0;
	int quoted = 0;
	unsigned char delim;
	int rc;

	if (len >= 3 && memcmp(h, "\xEF\xBB\xBF", 3) == 0) {
		h += 3;
		len -= 3;
	}
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
		delim = ';';
	else if (comma >= tab && comma > 0)
		delim = ',';
	else if (tab > 0)
		delim = '\t';
	else
		delim = ',';
	if (csv_init(&rd->parser, CSV_APPEND_NULL) != 0)
		return reader_fail(rd, ERR_NOMEM, "cannot start the CSV parser");
	rd->parser_ready = 1;
	csv_set_delim(&rd->parser, delim);
	csv_set_realloc_func(&rd->parser, capped_realloc);
	if (delim == '\t') {
		/* libcsv trims tabs as white space by default; as the delimiter they must stay. */
		csv_set_space_func(&rd->parser, space_only);
	}
	rd->state = RD_ROWS;
	rc = parse_bytes(rd, h, len);
	buf_free(&rd->head);
	return rc;
}

int csv_reader_feed(csv_reader *rd, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;
	int rc;

	if (rd->state == RD_FAILED)
		return rd->rc;
	if (rd->state == RD_DONE)
		return reader_fail(rd, ERR_INVAL, "data fed after the end");
	if (rd->state == RD_ROWS)
		return parse_bytes(rd, data, len);
	/* Header phase: find the first line end outside quotes. */
	for (i = 0; i < len; i++) {
		if (p[i] == '"')
			rd->head_quoted = !rd->head_quoted;
		else if (!rd->head_quoted && (p[i] == '\n' || p[i] == '\r'))
			break;
	}
	if (i == len) {
		if (buf_add(&rd->head, p, len) != 0)
			return reader_fail(rd, ERR_INVAL, "header: the first line is longer than %d bytes",
			            CSV_HEADER_MAX);
		return 0;
	}
	if (buf_add(&rd->head, p, i + 1) != 0)
		return reader_fail(rd, ERR_INVAL, "header: the first line is longer than %d bytes", CSV_HEADER_MAX);
	rc = start_rows(rd);
	if (rc != 0)
		return rc;
	return parse_bytes(rd, p + i + 1, len - i - 1);
}

int csv_reader_finish(csv_reader *rd)
{
	int rc;

	if (rd->state == RD_FAILED)
		return rd->rc;
	if (rd->state == RD_DONE)
		return 0;
	if (rd->state == RD_HEADER) {
		size_t n = rd->head.len;

		if (n >= 3 && memcmp(rd->head.data, "\xEF\xBB\xBF", 3) == 0)
			n -= 3;
		if (n == 0)
			return reader_fail(rd, ERR_INVAL, "empty input: no header line");
		rc = start_rows(rd);
		if (rc != 0)
			return rc;
	}
	/*
	 * libcsv (non-strict) hands over an unclosed quoted field as if it were
	 * closed; its public parser state tells us, so the row can say so.
	 */
	if (rd->parser.pstate == 2 && rd->parser.quoted)
		rd->at_eof_unterminated = 1;
	csv_fini(&rd->parser, on_field, on_row, rd);
	if (rd->rc != 0)
		return rd->rc;
	if (!rd->header_done)
		return reader_fail(rd, ERR_INVAL, "empty input: no header line");
	rd->state = RD_DONE;
	return 0;
}

const char *csv_reader_error(const csv_reader *rd)
{
	return rd->err;
}

int64_t csv_reader_rows(const csv_reader *rd)
{
	return rd->rows;
}

int csv_reader_set_today(csv_reader *rd, const char *date)
{
	char out[11];

	if (parse_date(date, out) != 1 || strlen(date) != 10)
		return ERR_INVAL;
	memcpy(rd->today, out, sizeof(rd->today));
	return 0;
}

void csv_reader_set_max_rows(csv_reader *rd, int64_t max_rows)
{
	rd->max_rows = max_rows;
}
