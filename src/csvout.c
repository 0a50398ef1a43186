/*
 * csvout.c — the one CSV field writer (RFC 4180 quoting plus OWASP's formula
 * neutralisation) and the result CSV built on it. csvout.h says why.
 */
#include "csvout.h"

#include <ctype.h>
#include <string.h>

/* A spreadsheet evaluates a cell starting with one of these. */
static int formula_lead(const char *s)
{
	return s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL;
}

int csv_write_field(buf *out, const char *s)
{
	size_t n;
	int formula;
	int need;
	int rc;

	if (s == NULL)
		return 0;
	n = strlen(s);
	formula = formula_lead(s);
	need = formula || strpbrk(s, ",\"\r\n") != NULL ||
	       (n > 0 && (isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1])));
	if (!need)
		return buf_add(out, s, n);
	rc = buf_add(out, formula ? "\"'" : "\"", formula ? 2 : 1);
	for (const char *p = s; rc == 0 && *p != '\0'; p++) {
		const char *q = strchr(p, '"');
		size_t run = q != NULL ? (size_t)(q - p) : strlen(p);

		rc = buf_add(out, p, run);
		p += run;
		if (rc == 0 && *p == '"')
			rc = buf_add(out, "\"\"", 2);
		if (*p == '\0')
			break;
	}
	if (rc == 0)
		rc = buf_add(out, "\"", 1);
	return rc;
}

int csv_write_header(buf *out, int with_products)
{
	int rc = buf_adds(out, "customer_id,response_date,offer_1,offer_2,offer_3");

	if (rc == 0 && with_products)
		rc = buf_adds(out, ",product_1,product_2,product_3");
	if (rc == 0)
		rc = buf_adds(out, ",status,error\r\n");
	return rc;
}

int csv_write_result(buf *out, const csv_result *res, int with_products)
{
	int ok = res->error == NULL;
	int rc;

	rc = csv_write_field(out, res->customer_id);
	if (rc == 0)
		rc = buf_add(out, ",", 1);
	if (rc == 0 && ok)
		rc = csv_write_field(out, res->response_date);
	for (int i = 0; i < OFFERS_SHOWN && rc == 0; i++) {
		rc = buf_add(out, ",", 1);
		if (rc == 0 && ok)
			rc = csv_write_field(out, res->offers[i]);
	}
	for (int i = 0; with_products && i < OFFERS_SHOWN && rc == 0; i++) {
		rc = buf_add(out, ",", 1);
		if (rc == 0 && ok)
			rc = csv_write_field(out, res->products[i]);
	}
	if (rc == 0)
		rc = buf_adds(out, ok ? ",ok," : ",error,");
	if (rc == 0 && !ok)
		rc = csv_write_field(out, res->error);
	if (rc == 0)
		rc = buf_add(out, "\r\n", 2);
	return rc;
}
