/*
 * fuzz_csv.c — libFuzzer driver for the streaming CSV reader
 * (csv_reader_feed / csv_reader_finish).
 *
 * The first input byte picks a chunk size (1..64) and the rest is the CSV.
 * The same bytes are read twice, once in one piece and once in chunks, and
 * the rows the callback sees (number, customer id, body or error) and the
 * final result must be identical: where the bytes are cut must not matter.
 * A low row limit keeps each run short and exercises the limit path.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "csvin.h"
#include "util.h"

/* Everything one read produced, as text. */
typedef struct trace {
	buf b;
	int64_t last_row;
} trace;

static int on_record(void *arg, const csv_record *rec)
{
	trace *t = arg;

	if (rec->row != t->last_row + 1)
		abort();
	t->last_row = rec->row;
	if ((rec->req == NULL) == (rec->error == NULL))
		abort();
	if (rec->customer_id == NULL)
		abort();
	if (buf_addf(&t->b, "%lld|%s|", (long long)rec->row, rec->customer_id) != 0)
		abort();
	if (rec->req != NULL) {
		char *js = request_predict_body(rec->req);

		/* A request is valid: some offer allowed, its date and customer id set. */
		if (js == NULL || rec->req->n_allowed == 0 || rec->req->customer_id[0] == '\0' ||
		    rec->req->date.month < 1)
			abort();
		if (buf_adds(&t->b, js) != 0)
			abort();
		free(js);
	} else {
		if (buf_adds(&t->b, "ERROR ") != 0)
			abort();
		if (buf_adds(&t->b, rec->error) != 0)
			abort();
	}
	if (buf_adds(&t->b, "\n") != 0)
		abort();
	return 0;
}

static void run(const uint8_t *data, size_t size, size_t chunk, trace *t)
{
	csv_reader *rd = csv_reader_new(NULL, on_record, t);
	int rc = 0;

	buf_init(&t->b, (size_t)1 << 26);
	t->last_row = 0;
	csv_reader_set_today(rd, "2030-06-15");
	csv_reader_set_max_rows(rd, 200);
	for (size_t off = 0; rc == 0 && off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;

		rc = csv_reader_feed(rd, data + off, n);
	}
	if (rc == 0)
		rc = csv_reader_finish(rd);
	if (rc != 0 && csv_reader_error(rd)[0] == '\0')
		abort();
	if (buf_addf(&t->b, "rc=%d rows=%lld err=%s\n", rc, (long long)csv_reader_rows(rd),
	             csv_reader_error(rd)) != 0)
		abort();
	csv_reader_free(rd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	trace whole;
	trace chunked;
	size_t chunk;

	if (size < 1)
		return 0;
	chunk = 1 + data[0] % 64;
	data++;
	size--;
	run(data, size, size ? size : 1, &whole);
	run(data, size, chunk, &chunked);
	if (whole.b.len != chunked.b.len || memcmp(whole.b.data, chunked.b.data, whole.b.len) != 0)
		abort();
	buf_free(&whole.b);
	buf_free(&chunked.b);
	return 0;
}
