/*
 * csvout.h — every CSV offerd writes goes through csv_write_field: the
 * result CSV of `offerctl batch` and POST /batch, and the curves of
 * `offerctl simulate --csv`.
 *
 * The result CSV: customer_id,response_date,offer_1,offer_2,offer_3
 * [,product_1,product_2,product_3],status,error — comma-separated, CRLF line
 * ends (RFC 4180), fields quoted when they hold a comma, quote, CR/LF or
 * edge spaces.
 *
 * Formula injection (OWASP "CSV Injection"): a spreadsheet runs a cell that
 * starts with =, +, -, @, TAB or CR as a formula. Such a field is written
 * with a single quote in front and inside double quotes, so it shows as
 * text: `=1+2` becomes `"'=1+2"`. Company B opens these files in a
 * spreadsheet, and customer ids and error texts echo their input.
 */
#ifndef OFFERD_CSVOUT_H
#define OFFERD_CSVOUT_H

#include "customer.h"
#include "util.h"

typedef struct csv_result {
	const char *customer_id;
	const char *response_date;          /* NULL on error */
	const char *offers[OFFERS_SHOWN];   /* NULL past the last offer */
	const char *products[OFFERS_SHOWN]; /* with products only; NULL = no name */
	const char *error;                  /* NULL when the row is ok */
} csv_result;

/* Appends the header line; with_products adds product_1..3. */
int csv_write_header(buf *out, int with_products);
/* Appends one result line; status is "ok" when error is NULL, else "error". */
int csv_write_result(buf *out, const csv_result *res, int with_products);
/*
 * Appends one field (no delimiter, no line end): quoted when needed, and
 * neutralised when a spreadsheet would take it for a formula. NULL appends
 * nothing. Returns 0 or ERR_TOOBIG (the buffer's limit).
 */
int csv_write_field(buf *out, const char *s);

#endif
