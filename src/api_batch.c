/*
 * api_batch.c — POST /batch: Company B's CSV in, the result CSV out.
 *
 * Streaming: rows are parsed as the upload arrives (csvin), decided in
 * memory, and their episodes queued for the writer; result rows go to an
 * anonymous temporary file, which becomes the response once every episode
 * is committed. Memory stays bounded by one row plus the writer's queue,
 * whatever the size of the upload. When the writer's queue is full the
 * upload waits (it blocks one HTTP thread, which only /batch ever does).
 *
 * Company B's eligibility rules apply by default; `?rules=none` turns them
 * off; `?v2=1` adds product names.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "csvin.h"
#include "log.h"
#include "metrics.h"
#include "rules.h"
#include "util.h"

#define BATCH_FLUSH (64 * 1024)
#define BATCH_SUBMIT_WAIT_S 60

typedef struct batch_ctx {
	server *s;
	http_req *r;
	csv_reader *rd;
	rules *rs;
	int v2;
	char company[SERVER_COMPANY_MAX];
	char today[11];
	int fd;
	buf out;
	pthread_mutex_t lock;
	int refs;           /* the request + each pending row */
	size_t pending;
	int failed;         /* first writer error */
	int input_done;
	int replied;
	int64_t ok, errors;
} batch_ctx;

typedef struct batch_row {
	api_decision d;
	batch_ctx *b;
} batch_row;

static void ctx_unref(batch_ctx *b)
{
	int last;

	pthread_mutex_lock(&b->lock);
	last = --b->refs == 0;
	pthread_mutex_unlock(&b->lock);
	if (!last)
		return;
	csv_reader_free(b->rd);
	rules_free(b->rs);
	buf_free(&b->out);
	if (b->fd >= 0)
		close(b->fd);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

static void ctx_free_request(void *p)
{
	ctx_unref(p);
}

static int flush_out(batch_ctx *b)
{
	size_t off = 0;

	while (off < b->out.len) {
		ssize_t w = write(b->fd, b->out.data + off, b->out.len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return ERR_IO;
		off += (size_t)w;
	}
	buf_reset(&b->out);
	return 0;
}

/* Called with b->lock held, once input is done and nothing is pending. */
static void finish(batch_ctx *b)
{
	struct stat st;
	char n[32];

	if (b->replied)
		return;
	b->replied = 1;
	if (b->failed != 0 || flush_out(b) != 0 || fstat(b->fd, &st) != 0 ||
	    lseek(b->fd, 0, SEEK_SET) != 0) {
		api_error(b->r, b->failed == ERR_UNAVAIL ? ERR_UNAVAIL : ERR_IO, NULL,
		          "the episodes could not all be stored; retry the upload");
		return;
	}
	snprintf(n, sizeof(n), "%lld", (long long)b->ok);
	http_add_header(b->r, "X-Batch-Rows-Ok", n);
	snprintf(n, sizeof(n), "%lld", (long long)b->errors);
	http_add_header(b->r, "X-Batch-Rows-Failed", n);
	http_add_header(b->r, "Content-Disposition", "attachment; filename=\"offers.csv\"");
	http_reply_fd(b->r, 200, "text/csv; charset=utf-8", b->fd, (uint64_t)st.st_size);
	b->fd = -1;  /* the response owns it now */
}

static void row_done(writer_op *op)
{
	batch_row *row = op->arg;
	batch_ctx *b = row->b;

	pthread_mutex_lock(&b->lock);
	if (op->rc != 0 && b->failed == 0)
		b->failed = op->rc;
	b->pending--;
	if (b->pending == 0 && b->input_done)
		finish(b);
	pthread_mutex_unlock(&b->lock);
	request_predict_free(&row->d.req);
	free(row);
	ctx_unref(b);
}

static void write_error(batch_ctx *b, const char *customer_id, const char *error)
{
	csv_result res;

	memset(&res, 0, sizeof(res));
	res.customer_id = customer_id;
	res.error = error;
	csv_write_result(&b->out, &res, b->v2);
	b->errors++;
	metrics_batch_rows(0);
}

static int on_record(void *arg, const csv_record *rec)
{
	batch_ctx *b = arg;
	batch_row *row;
	csv_result res;
	char names[CSV_RESULT_OFFERS][256];
	req_error e;
	double waited = 0;

	if (rec->body == NULL) {
		write_error(b, rec->customer_id, rec->error);
		goto flush;
	}
	row = xcalloc(1, sizeof(*row));
	row->b = b;
	if (request_predict_from_json(rec->body, &row->d.req, &e) != 0) {
		char msg[400];

		snprintf(msg, sizeof(msg), "%s: %s", e.field, e.message);
		write_error(b, rec->customer_id, msg);
		free(row);
		goto flush;
	}
	if (api_decide(b->s, b->company, &row->d) != 0) {
		write_error(b, rec->customer_id, "no eligible offer");
		request_predict_free(&row->d.req);
		free(row);
		goto flush;
	}
	memset(&res, 0, sizeof(res));
	res.customer_id = row->d.req.customer_id;
	res.response_date = b->today;
	for (size_t k = 0; k < row->d.res.dec.n && k < CSV_RESULT_OFFERS; k++) {
		res.offers[k] = row->d.res.offers[k];
		if (b->v2 && api_product_name(b->s, b->company, res.offers[k], names[k], sizeof(names[k])))
			res.products[k] = names[k];
	}
	csv_write_result(&b->out, &res, b->v2);
	b->ok++;
	metrics_batch_rows(1);
	row->d.op.done = row_done;
	row->d.op.arg = row;
	pthread_mutex_lock(&b->lock);
	b->pending++;
	b->refs++;
	pthread_mutex_unlock(&b->lock);
	while (writer_submit(b->s->w, &row->d.op) != 0) {
		struct timespec ts = {0, 1000000L};

		if (waited > BATCH_SUBMIT_WAIT_S) {
			pthread_mutex_lock(&b->lock);
			b->pending--;
			b->refs--;
			if (b->failed == 0)
				b->failed = ERR_UNAVAIL;
			pthread_mutex_unlock(&b->lock);
			request_predict_free(&row->d.req);
			free(row);
			return ERR_UNAVAIL;
		}
		nanosleep(&ts, NULL);
		waited += 0.001;
	}
flush:
	if (b->out.len >= BATCH_FLUSH && flush_out(b) != 0)
		return ERR_IO;
	return 0;
}

static void reply_reader_error(batch_ctx *b, http_req *r, int rc)
{
	if (rc == ERR_UNAVAIL)
		api_error(r, ERR_UNAVAIL, NULL, "the database is not keeping up; retry the upload");
	else if (rc == ERR_TOOBIG)
		api_error(r, ERR_TOOBIG, "body", "%s", csv_reader_error(b->rd));
	else if (rc == ERR_IO)
		api_error(r, ERR_IO, NULL, "cannot write the result file");
	else
		api_error(r, ERR_SYNTAX, "body", "%s", csv_reader_error(b->rd));
}

static int batch_chunk(void *app, http_req *r, const char *data, size_t len)
{
	batch_ctx *b = http_ctx(r);
	int rc;

	(void)app;
	rc = csv_reader_feed(b->rd, data, len);
	if (rc != 0)
		reply_reader_error(b, r, rc);
	return rc;
}

static void batch_complete(void *app, http_req *r)
{
	batch_ctx *b = http_ctx(r);
	int rc;

	(void)app;
	rc = csv_reader_finish(b->rd);
	if (rc != 0) {
		reply_reader_error(b, r, rc);
		return;
	}
	if (csv_reader_rows(b->rd) == 0 && b->ok + b->errors == 0) {
		api_error(r, ERR_SYNTAX, "body", "%s",
		          csv_reader_error(b->rd)[0] ? csv_reader_error(b->rd)
		                                     : "the CSV has a header but no rows, or is empty");
		return;
	}
	http_defer(r);
	pthread_mutex_lock(&b->lock);
	b->input_done = 1;
	if (b->pending == 0)
		finish(b);
	pthread_mutex_unlock(&b->lock);
}

static int open_tmp(void)
{
	int fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0) {
		char path[] = "/tmp/offerd-batch-XXXXXX";

		fd = mkstemp(path);
		if (fd >= 0)
			unlink(path);
	}
	return fd;
}

void api_batch_route(server *s, http_req *r, const api_tenant *t)
{
	const char *v2 = http_query(r, "v2");
	const char *rules_q = http_query(r, "rules");
	batch_ctx *b;

	if (api_require_type(r, "text/csv", "application/csv") != 0)
		return;
	b = xcalloc(1, sizeof(*b));
	b->fd = open_tmp();
	if (b->fd < 0) {
		free(b);
		api_error(r, ERR_IO, NULL, "cannot create a temporary file");
		return;
	}
	b->s = s;
	b->r = r;
	b->refs = 1;
	b->v2 = v2 != NULL && (strcmp(v2, "1") == 0 || strcmp(v2, "true") == 0);
	util_strlcpy(b->company, t->company, sizeof(b->company));
	util_today(b->today);
	pthread_mutex_init(&b->lock, NULL);
	buf_init(&b->out, 1 << 24);
	if (rules_q == NULL || strcmp(rules_q, "none") != 0)
		rules_default(&b->rs);
	b->rd = csv_reader_new(b->rs, on_record, b);
	csv_write_header(&b->out, b->v2);
	http_set_ctx(r, b, ctx_free_request);
	http_expect_body(r, (size_t)s->cfg->batch_body_max << 20, batch_chunk, batch_complete);
}
