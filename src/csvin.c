/*
 * csvin.c — the customer CSV: each row of a Company B style file becomes a
 * /predict request with the eligibility rules applied (the result CSV is
 * written by csvout.c). The contract and the normalisation choices are
 * documented in csvin.h. The bytes (delimiter, BOM, quoting, line ends,
 * limits) are csvread.c's; this file gives the columns their meaning.
 */
#include "csvin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csvread.h"
#include "customer.h"
#include "date.h"

/* A column's role: one of the customer's fields (customer.h), an offer, or none. */
enum col_role {
	COL_OFFER = CUSTOMER_F_COUNT,
	COL_IGNORE,
	COL_NROLES,
};

struct csv_reader {
	const rules *rules;
	csv_record_fn fn;
	void *arg;
	char today[11];
	csvr *csv; /* the bytes: delimiter, quoting, limits */

	/* Columns, from the header. */
	int ncols;
	unsigned char role[CSV_COLUMNS_MAX];
	int offer_num[CSV_COLUMNS_MAX];
	int col_of[COL_NROLES]; /* column of each single role, -1 if absent */
	int noffers;
	int offer_cols[CSV_COLUMNS_MAX]; /* offer columns sorted by offer number */
	char offer_name[CSV_COLUMNS_MAX][CUSTOMER_OFFER_ID_MAX + 1]; /* OFFER_<n> per column */

	const csvr_row *row; /* the row being turned into a record */
};

/* The reader's byte-level limits; the customer CSV is sniffed (Company B writes ';'). */
static const csvr_options csv_options = {
    .delim = 0,
    .columns_max = CSV_COLUMNS_MAX,
    .field_max = CSV_FIELD_MAX,
    .field_hard_max = CSV_FIELD_HARD_MAX,
    .field_hard_row = 1, /* an over-long field is its row's error; the file goes on */
    .header_max = CSV_HEADER_MAX,
    .rows_max = CSV_ROWS_DEFAULT,
};

static int on_row(void *arg, const csvr_row *row);

csv_reader *csv_reader_new(const rules *rs, csv_record_fn fn, void *arg)
{
	csv_reader *rd = xcalloc(1, sizeof(*rd));

	rd->rules = rs;
	rd->fn = fn;
	rd->arg = arg;
	date_today(rd->today);
	rd->csv = csvr_new(&csv_options, on_row, rd);
	for (int i = 0; i < COL_NROLES; i++)
		rd->col_of[i] = -1;
	memset(rd->role, COL_IGNORE, sizeof(rd->role)); /* a column past the header has none */
	return rd;
}

void csv_reader_free(csv_reader *rd)
{
	if (rd == NULL)
		return;
	csvr_free(rd->csv);
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

static int header_role(const char *name, int *offer)
{
	enum customer_field f;

	if (customer_offer_number(name, offer) == 0)
		return COL_OFFER;
	if (customer_field_find(name, &f) == 0)
		return (int)f;
	return COL_IGNORE;
}

static char *row_field(csv_reader *rd, int col)
{
	return rd->row->field[col];
}

/* Sets up the columns from the header row. */
static int take_header(csv_reader *rd)
{
	const csvr_row *row = rd->row;

	if (row->nfields > CSV_COLUMNS_MAX)
		return csvr_fail(rd->csv, ERR_INVAL, "header: more than %d columns", CSV_COLUMNS_MAX);
	if (row->problem_col >= 0)
		return csvr_fail(rd->csv, ERR_INVAL,
		                 "header: column %d is longer than %d bytes or holds a NUL",
		                 row->problem_col + 1, CSV_FIELD_MAX);
	rd->ncols = row->nfields;
	for (int c = 0; c < rd->ncols; c++) {
		char *name = util_trim(row_field(rd, c));
		int offer = 0;
		int role = header_role(name, &offer);

		rd->role[c] = (unsigned char)role;
		if (role == COL_OFFER) {
			for (int k = 0; k < rd->noffers; k++) {
				if (rd->offer_num[rd->offer_cols[k]] == offer)
					return csvr_fail(rd->csv, ERR_INVAL,
					                 "header: columns %d and %d are both OFFER_%d",
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
				return csvr_fail(rd->csv, ERR_INVAL,
				                 "header: columns %d and %d are both %s",
				                 rd->col_of[role] + 1, c + 1,
				                 customer_field_key((enum customer_field)role));
			rd->col_of[role] = c;
		}
	}
	if (rd->col_of[CUSTOMER_F_ID] < 0)
		return csvr_fail(rd->csv, ERR_INVAL,
		                 "header: no customer_id column (is the first line the header?)");
	if (rd->col_of[CUSTOMER_F_AGE] < 0)
		return csvr_fail(rd->csv, ERR_INVAL, "header: no age column");
	if (rd->noffers == 0)
		return csvr_fail(rd->csv, ERR_INVAL, "header: no offer columns (Offer_1, Offer_2, ...)");
	return 0;
}

/* --- rows -------------------------------------------------------------- */

/* Adds key: s, or writes an error naming key when s is not UTF-8 (jansson refuses it). */
static int set_str(json_t *obj, const char *key, const char *s, char *err, size_t errlen)
{
	json_t *v = json_string(s);

	if (v == NULL) {
		snprintf(err, errlen, "%s is not valid UTF-8 (save the file as UTF-8)", key);
		return ERR_INVAL;
	}
	json_object_set_new(obj, key, v);
	return 0;
}

/* The value of a field's column, trimmed; "" when the column is absent. */
static const char *role_value(csv_reader *rd, enum customer_field f)
{
	int c = rd->col_of[f];

	return c < 0 ? "" : util_trim(row_field(rd, c));
}

/*
 * Turns the current row into a /predict request in *out, or writes why not
 * into err. The caller has checked the column count and field problems.
 * The CSV's own conventions (placeholder dates, whole ages, spreadsheet
 * flags, the rules) are applied here; every check a /predict body gets is
 * request_predict_from_row's.
 */
static int build_request(csv_reader *rd, const char *id, predict_req *out, char *err, size_t errlen)
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

	rc = customer_id_check(id, err, errlen);
	if (rc != 0)
		goto out;

	v = role_value(rd, CUSTOMER_F_TIMESTAMP);
	rc = parse_date(v, ts_date);
	if (rc < 0) {
		snprintf(err, errlen, "timestamp is not a date (YYYY-MM-DD): '%.64s'", v);
		goto out;
	}
	timestamp = rc == 1 ? ts_date : rd->today;

	v = role_value(rd, CUSTOMER_F_AGE);
	if (*v == '\0') {
		snprintf(err, errlen, "missing age");
		rc = ERR_INVAL;
		goto out;
	}
	if (customer_age_text(v, &age_read) != 0) {
		snprintf(err, errlen, "age is not a number: '%.64s'", v);
		rc = ERR_INVAL;
		goto out;
	}
	/* Spreadsheets write whole numbers as "71.0"; a fraction is not an age in a file. */
	if (age_read != trunc(age_read)) {
		snprintf(err, errlen, "age is not a whole number of years: '%.64s'", v);
		rc = ERR_INVAL;
		goto out;
	}
	if (customer_age(age_read, &age) != 0) {
		snprintf(err, errlen, "age is out of range 0..%d: '%.64s'", CUSTOMER_AGE_MAX, v);
		rc = ERR_INVAL;
		goto out;
	}
	json_object_set_new(states, customer_field_key(CUSTOMER_F_AGE), json_integer(age));
	json_object_set_new(states, customer_field_key(CUSTOMER_F_GENDER),
	                    json_string(customer_gender_text(
	                        customer_gender(role_value(rd, CUSTOMER_F_GENDER)))));

	v = role_value(rd, CUSTOMER_F_CLIENT_SINCE);
	rc = parse_date(v, date);
	if (rc < 0) {
		snprintf(err, errlen, "client-since is not a date (YYYY-MM-DD): '%.64s'", v);
		goto out;
	}
	json_object_set_new(states, customer_field_key(CUSTOMER_F_CLIENT_SINCE),
	                    json_string(rc == 1 ? date : "unknown"));

	v = role_value(rd, CUSTOMER_F_REGION);
	rc = set_str(states, customer_field_key(CUSTOMER_F_REGION), *v != '\0' ? v : "unknown", err,
	             errlen);
	if (rc != 0)
		goto out;

	v = role_value(rd, CUSTOMER_F_LAST_OFFER);
	if (*v == '\0')
		v = "unknown";
	else if (customer_offer_id(v, canon, sizeof(canon)) == 0)
		v = canon;
	rc = set_str(states, customer_field_key(CUSTOMER_F_LAST_OFFER), v, err, errlen);
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
	rc = request_predict_from_row(id, timestamp, states, names, allowed, (size_t)rd->noffers, out,
	                              &e);
	if (rc != 0)
		snprintf(err, errlen, "%s: %s", e.field, e.message);
out:
	json_decref(states);
	return rc;
}

/* Names column c for messages: its canonical name, else "column N". */
static const char *column_name(const csv_reader *rd, int c, char *name, size_t len)
{
	if (rd->role[c] == COL_OFFER)
		customer_offer_name(rd->offer_num[c], name, len);
	else if (rd->role[c] != COL_IGNORE)
		snprintf(name, len, "%s", customer_field_key((enum customer_field)rd->role[c]));
	else
		snprintf(name, len, "column %d", c + 1);
	return name;
}

/* Delivers the current data row to the callback, as a body or an error. */
static int take_row(csv_reader *rd)
{
	const csvr_row *row = rd->row;
	char err[CSV_ERROR_MAX] = "";
	char name[32];
	csv_record rec = {0};
	predict_req req;
	int have_req = 0;
	const char *id = "";
	int id_col = rd->col_of[CUSTOMER_F_ID];
	int rc;

	if (id_col < row->nkept && row->problem[id_col] == CSVR_FIELD_OK)
		id = util_trim(row_field(rd, id_col));
	if (row->unterminated) {
		snprintf(err, sizeof(err),
		         "a quoted field is not closed: the rest of the file "
		         "from this row on is inside quotes");
	} else if (row->nfields > rd->ncols && row->extra_nonempty) {
		snprintf(err, sizeof(err), "too many columns: %d, the header has %d", row->nfields,
		         rd->ncols);
	} else if (row->nfields < rd->ncols) {
		snprintf(err, sizeof(err),
		         "missing columns: the row has %d of %d (the first missing is %s)", row->nfields,
		         rd->ncols, column_name(rd, row->nfields, name, sizeof(name)));
	} else if (row->problem_col >= 0) {
		column_name(rd, row->problem_col, name, sizeof(name));
		if (row->problem[row->problem_col] == CSVR_FIELD_NUL)
			snprintf(err, sizeof(err), "%s holds a NUL byte", name);
		else
			snprintf(err, sizeof(err), "%s is longer than %d bytes", name, CSV_FIELD_MAX);
	} else {
		have_req = build_request(rd, id, &req, err, sizeof(err)) == 0;
	}
	/* An id that is not one (not UTF-8, too long...) is not echoed into a JSON or CSV answer;
	 * a request built from the row has passed build_request's check already. */
	if (!have_req && customer_id_check(id, NULL, 0) != 0)
		id = "";
	rec.row = row->row;
	rec.customer_id = id;
	rec.req = have_req ? &req : NULL;
	rec.error = have_req ? NULL : err;
	rc = rd->fn(rd->arg, &rec);
	if (have_req)
		request_predict_free(&req);
	return rc;
}

/* csvread's callback: the header sets up the columns, every later row is a record. */
static int on_row(void *arg, const csvr_row *row)
{
	csv_reader *rd = arg;
	int rc;

	rd->row = row;
	rc = row->row == 0 ? take_header(rd) : take_row(rd);
	rd->row = NULL;
	return rc;
}

/* --- feeding ----------------------------------------------------------- */

int csv_reader_feed(csv_reader *rd, const void *data, size_t len)
{
	return csvr_feed(rd->csv, data, len);
}

int csv_reader_finish(csv_reader *rd)
{
	return csvr_finish(rd->csv);
}

const char *csv_reader_error(const csv_reader *rd)
{
	return csvr_error(rd->csv);
}

int64_t csv_reader_rows(const csv_reader *rd)
{
	return csvr_rows(rd->csv);
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
	csvr_set_rows_max(rd->csv, max_rows);
}
