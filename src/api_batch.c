/*
 * api_batch.c — POST /batch: Company B's CSV in, the result CSV out.
 *
 * Two passes, so that the client always learns exactly which rows became
 * episodes. First, as the upload arrives, it is spooled to an anonymous
 * temporary file and checked by a csvin reader that decides nothing: a file
 * rejected then (bad header, too many rows, a body over the limit) has
 * recorded nothing. Then the spooled file is read again, a slice per turn
 * of the connection's thread: each row is decided in memory and its episode
 * queued for the writer (api.c's call skeleton); each row's result line is
 * written, in input order, once the writer is done with it (status error
 * if it could not be stored), to a second temporary file that becomes the
 * response. A row that cannot be used is its own error and the file goes
 * on. At most about BATCH_WINDOW rows are in flight: beyond that, or while
 * the writer's queue is full, the connection is suspended until the writer
 * is done with some, so memory stays bounded whatever the size of the
 * upload, no HTTP thread waits, and one upload cannot fill the writer's
 * queue for everyone else.
 *
 * Company B's eligibility rules apply by default; `?rules=none` turns them
 * off; `?v2=1` adds product names.
 *
 * With an Idempotency-Key (issue 15.2), once the upload has passed the
 * first pass and before any row is decided, the key is claimed in its own
 * transaction with the SHA-256 of the query and the bytes uploaded. A key
 * already claimed answers 409 for the same upload (it was recorded once,
 * or is being recorded now; result files are not kept, so the first
 * answer is the only one) and 422 for another upload; nothing is decided.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "api.h"
#include "auth.h"
#include "csvin.h"
#include "csvout.h"
#include "date.h"
#include "log.h"
#include "metrics.h"
#include "rules.h"
#include "util.h"

#define BATCH_FLUSH (64 * 1024)
#define BATCH_WINDOW 4096       /* rows read and not yet written out, at most (about) */
#define BATCH_SLICE (64 * 1024) /* bytes of the upload decided per turn on an HTTP thread */

/* One input row, from the moment it is read until its result line is written. */
typedef struct batch_row {
	api_decision d; /* when decided: its episode goes to the writer */
	struct batch_row *next;
	int decided;
	int done;          /* the writer is done with d.op: under the call's lock */
	char *customer_id; /* when not decided: the row's id and why (malloc'd) */
	char *error;
} batch_row;

typedef struct batch_ctx {
	api_call call;
	csv_reader *check; /* the first pass, while the upload comes in */
	csv_reader *rd;    /* the second pass, which decides */
	rules *rs;
	int in_fd; /* the upload, spooled for the second pass */
	char *slice;
	int v2;
	char today[11];
	int fd;  /* the result file, -1 once the response owns it */
	buf out; /* result lines not yet in the file */
	/* Rows in input order, linked and unlinked on the connection's thread only. */
	batch_row *head;
	batch_row *tail;
	batch_row *unqueued; /* the first row not yet handed to the writer */
	size_t nrows;
	int input_done;
	int64_t ok, errors;
	/* The Idempotency-Key ("" without one), the upload's SHA-256 so far, and its claim. */
	char idem_key[DB_IDEM_KEY_MAX + 1];
	char idem_hash[AUTH_HASH_LEN + 1];
	EVP_MD_CTX *md;
	writer_op key_op;
	int claiming; /* key_op is with the writer */
} batch_ctx;

static void row_free(batch_row *row)
{
	request_predict_free(&row->d.req);
	decide_result_free(&row->d.res);
	free(row->customer_id);
	free(row->error);
	free(row);
}

static void batch_free(api_call *call)
{
	batch_ctx *b = (batch_ctx *)call;

	while (b->head != NULL) {
		batch_row *next = b->head->next;

		row_free(b->head);
		b->head = next;
	}
	EVP_MD_CTX_free(b->md);
	csv_reader_free(b->check);
	csv_reader_free(b->rd);
	rules_free(b->rs);
	buf_free(&b->out);
	free(b->slice);
	if (b->fd >= 0)
		close(b->fd);
	if (b->in_fd >= 0)
		close(b->in_fd);
}

static int write_all(int fd, const char *data, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return ERR_IO;
		off += (size_t)w;
	}
	return 0;
}

static int flush_out(batch_ctx *b)
{
	int rc = write_all(b->fd, b->out.data, b->out.len);

	buf_reset(&b->out);
	return rc;
}

/* The writer's thread, under the call's lock. */
static void batch_op_done(api_call *call, writer_op *op)
{
	batch_row *row;

	if (op == &((batch_ctx *)call)->key_op)
		return; /* the Idempotency-Key's claim: its rc says */
	row = (batch_row *)(void *)((char *)op - offsetof(batch_row, d.op));
	row->done = 1;
}

static void write_row(batch_ctx *b, const batch_row *row)
{
	char names[OFFERS_SHOWN][256];
	csv_result res;

	memset(&res, 0, sizeof(res));
	if (!row->decided) {
		res.customer_id = row->customer_id;
		res.error = row->error;
		csv_write_result(&b->out, &res, b->v2);
		b->errors++;
		metrics_batch_rows(0);
		return;
	}
	if (row->d.op.rc != 0) {
		/* Said on the row, like any other row error: the client retries just it. */
		res.customer_id = row->d.req.customer_id;
		res.error = "the database failed to store this row; nothing was recorded, send it again";
		csv_write_result(&b->out, &res, b->v2);
		b->errors++;
		metrics_batch_rows(0);
		return;
	}
	res.customer_id = row->d.req.customer_id;
	res.response_date = b->today;
	for (size_t k = 0; k < row->d.res.dec.n && k < OFFERS_SHOWN; k++) {
		res.offers[k] = row->d.res.offers[k];
		if (b->v2 && api_product_name(b->call.s, b->call.company, res.offers[k], names[k],
		                              sizeof(names[k])))
			res.products[k] = names[k];
	}
	csv_write_result(&b->out, &res, b->v2);
	b->ok++;
	metrics_batch_rows(1);
}

/* Writes the finished rows at the head, in input order. */
static int drain(batch_ctx *b)
{
	batch_row *first = b->head;
	batch_row *last = NULL;

	pthread_mutex_lock(&b->call.lock);
	for (batch_row *row = b->head; row != NULL && (!row->decided || row->done); row = row->next)
		last = row;
	pthread_mutex_unlock(&b->call.lock);
	if (last == NULL)
		return 0;
	b->head = last->next;
	if (b->head == NULL)
		b->tail = NULL;
	last->next = NULL;
	while (first != NULL) {
		batch_row *next = first->next;

		write_row(b, first);
		row_free(first);
		b->nrows--;
		first = next;
	}
	if (b->out.len >= BATCH_FLUSH)
		return flush_out(b);
	return 0;
}

/* Hands the decided rows to the writer; ERR_UNAVAIL when its queue is full. */
static int queue_rows(batch_ctx *b)
{
	while (b->unqueued != NULL) {
		batch_row *row = b->unqueued;

		if (row->decided) {
			if (api_call_submit(&b->call, &row->d.op) != 0)
				return ERR_UNAVAIL;
		}
		b->unqueued = row->next;
	}
	return 0;
}

/* The rows not yet queued will not be: each says so on its line. */
static void fail_unqueued(batch_ctx *b, const char *error)
{
	for (batch_row *row = b->unqueued; row != NULL; row = row->next) {
		if (!row->decided)
			continue;
		row->decided = 0;
		row->customer_id = xstrdup(row->d.req.customer_id);
		row->error = xstrdup(error);
	}
	b->unqueued = NULL;
}

/* The second pass's callback: decides the row (in memory) and appends it. */
static int on_record(void *arg, const csv_record *rec)
{
	batch_ctx *b = arg;
	batch_row *row = xcalloc(1, sizeof(*row));

	if (rec->req == NULL) {
		row->error = xstrdup(rec->error);
	} else if (request_predict_copy(&row->d.req, rec->req),
	           api_decide(b->call.s, b->call.company, &row->d) != 0) {
		row->error = xstrdup("no eligible offer");
	} else {
		row->decided = 1;
	}
	if (!row->decided)
		row->customer_id = xstrdup(rec->customer_id);
	if (b->tail != NULL)
		b->tail->next = row;
	else
		b->head = row;
	b->tail = row;
	if (b->unqueued == NULL)
		b->unqueued = row;
	b->nrows++;
	return 0;
}

static void batch_answer(batch_ctx *b)
{
	http_req *r = b->call.r;
	struct stat st;
	char n[32];

	if (flush_out(b) != 0 || fstat(b->fd, &st) != 0 || lseek(b->fd, 0, SEEK_SET) != 0) {
		api_error(r, ERR_IO, NULL, "cannot read the result file back");
		return;
	}
	snprintf(n, sizeof(n), "%lld", (long long)b->ok);
	http_add_header(r, "X-Batch-Rows-Ok", n);
	snprintf(n, sizeof(n), "%lld", (long long)b->errors);
	http_add_header(r, "X-Batch-Rows-Failed", n);
	http_add_header(r, "Content-Disposition", "attachment; filename=\"offers.csv\"");
	http_reply_fd(r, 200, "text/csv; charset=utf-8", b->fd, (uint64_t)st.st_size);
	b->fd = -1; /* the response owns it now */
}

/*
 * The connection's thread: queues the decided rows, writes the finished
 * ones, and waits while too many are in flight or the writer's queue is
 * full. Returns 0 to go on (decide more, or answer once all is written),
 * 1 when suspended until the writer is done with a row, or an ERR_* after
 * replying.
 */
static int pump(batch_ctx *b)
{
	for (;;) {
		const batch_row *before = b->unqueued;
		int full = queue_rows(b) != 0;

		if (drain(b) != 0) {
			api_error(b->call.r, ERR_IO, NULL, "cannot write the result file");
			return ERR_IO;
		}
		if (!full && (b->input_done ? b->head == NULL : b->nrows < BATCH_WINDOW))
			return 0;
		if (api_call_wait(&b->call))
			return 1;
		if (full && b->unqueued == before && atomic_load(&b->call.s->draining)) {
			/* The writer may be stopping: no room will come. */
			fail_unqueued(
			    b, "offerd is shutting down; nothing was recorded, send this row again");
			continue;
		}
		/* Nothing of ours is queued and the queue is full of others' work. */
		if (full && b->unqueued == before && api_call_wait_room(&b->call))
			return 1;
		/* Something was done (maybe just now): write it out and look again. */
	}
}

static void reply_reader_error(batch_ctx *b, const csv_reader *rd, int rc)
{
	http_req *r = b->call.r;

	if (rc == ERR_TOOBIG)
		api_error(r, ERR_TOOBIG, "body", "%s", csv_reader_error(rd));
	else
		api_error(r, ERR_SYNTAX, "body", "%s", csv_reader_error(rd));
}

/* The first pass only checks: the rows are decided once the whole file is known good. */
static int check_record(void *arg, const csv_record *rec)
{
	(void)arg;
	(void)rec;
	return 0;
}

/* The first pass: spools the upload and checks it as it comes in. */
static int batch_chunk(api_call *call, const char *data, size_t len)
{
	batch_ctx *b = (batch_ctx *)call;
	int rc = csv_reader_feed(b->check, data, len);

	if (b->md != NULL)
		EVP_DigestUpdate(b->md, data, len);
	if (rc != 0) {
		reply_reader_error(b, b->check, rc);
		return rc;
	}
	if (write_all(b->in_fd, data, len) != 0) {
		api_error(call->r, ERR_IO, NULL, "cannot spool the upload to a temporary file");
		return ERR_IO;
	}
	return 0;
}

/* Appends a row that failed without a decision (the second pass's own failure). */
static void add_error_row(batch_ctx *b, const char *error)
{
	csv_record rec;

	memset(&rec, 0, sizeof(rec));
	rec.customer_id = "";
	rec.error = error;
	on_record(b, &rec);
}

/* The second pass: decides the next slice of the spooled upload. */
static void feed_slice(batch_ctx *b)
{
	ssize_t n;
	int rc;

	do {
		n = read(b->in_fd, b->slice, BATCH_SLICE);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		add_error_row(b, "the rest of the file could not be read back; it was not processed");
		b->input_done = 1;
		return;
	}
	if (n == 0) {
		rc = csv_reader_finish(b->rd);
		b->input_done = 1;
	} else {
		rc = csv_reader_feed(b->rd, b->slice, (size_t)n);
	}
	if (rc != 0) {
		/* The first pass took these bytes: this is not expected, but its rows are said. */
		char msg[CSV_ERROR_MAX + 64];

		snprintf(msg, sizeof(msg), "the rest of the file was not processed: %s",
		         csv_reader_error(b->rd));
		add_error_row(b, msg);
		b->input_done = 1;
	}
}

/*
 * The writer is done with the Idempotency-Key's claim: returns 1 to decide
 * the rows, or 0 after answering that the key was used.
 */
static int key_claimed(batch_ctx *b)
{
	http_req *r = b->call.r;

	b->claiming = 0;
	switch (b->key_op.rc) {
	case 0: return 1;
	case ERR_CONFLICT:
		api_error(r, ERR_CONFLICT, "Idempotency-Key",
		          "this upload was already sent with Idempotency-Key \"%s\": its rows are "
		          "recorded once, and their results were the answer to that request (result "
		          "files are not kept); nothing was recorded now",
		          b->idem_key);
		return 0;
	case ERR_INVAL: api_idempotency_reused(r, b->idem_key); return 0;
	default:
		api_error(r, ERR_UNAVAIL, NULL,
		          "the Idempotency-Key could not be stored; nothing was recorded, retry later");
		return 0;
	}
}

/*
 * The connection's thread (after the upload, and each time it is resumed):
 * decides one slice at a time and yields the thread between slices, so a
 * large file never holds up the other connections MHD serves on it.
 */
static void batch_step(api_call *call)
{
	batch_ctx *b = (batch_ctx *)call;
	int fed = 0;

	if (b->claiming && !key_claimed(b))
		return;
	for (;;) {
		if (pump(b) != 0)
			return;
		if (b->input_done) {
			batch_answer(b);
			return;
		}
		if (fed) {
			api_call_yield(call);
			return;
		}
		feed_slice(b);
		fed = 1;
	}
}

/*
 * The upload is in and the first pass found the file usable: nothing has
 * been decided yet, so a file rejected here (bad header, too many rows, a
 * body over the limit) has recorded nothing. Only now is it decided.
 */
static void batch_complete(api_call *call, const char *body, size_t len)
{
	batch_ctx *b = (batch_ctx *)call;
	int rc;

	(void)body;
	(void)len;
	rc = csv_reader_finish(b->check);
	if (rc != 0) {
		reply_reader_error(b, b->check, rc);
		return;
	}
	if (csv_reader_rows(b->check) == 0) {
		api_error(call->r, ERR_SYNTAX, "body", "%s",
		          csv_reader_error(b->check)[0]
		              ? csv_reader_error(b->check)
		              : "the CSV has a header but no rows, or is empty");
		return;
	}
	if (lseek(b->in_fd, 0, SEEK_SET) != 0) {
		api_error(call->r, ERR_IO, NULL, "cannot read the spooled upload");
		return;
	}
	b->rd = csv_reader_new(b->rs, on_record, b);
	b->slice = xmalloc(BATCH_SLICE);
	if (b->md != NULL) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int n = 0;

		EVP_DigestFinal_ex(b->md, md, &n);
		util_hex(md, n < sizeof(b->idem_hash) / 2 ? n : sizeof(b->idem_hash) / 2, b->idem_hash);
		b->key_op.kind = WOP_KEY;
		b->key_op.kin.company = call->company;
		b->key_op.kin.key = b->idem_key;
		b->key_op.kin.route = "/batch";
		b->key_op.kin.hash = b->idem_hash;
		b->claiming = 1;
		api_call_run(call, &b->key_op); /* batch_step goes on once the key is claimed */
		return;
	}
	batch_step(call);
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

static int batch_start(api_call *call)
{
	batch_ctx *b = (batch_ctx *)call;
	const char *v2 = http_query(call->r, "v2");
	const char *rules_q = http_query(call->r, "rules");

	buf_init(&b->out, 1 << 24);
	b->fd = open_tmp();
	b->in_fd = open_tmp();
	if (b->fd < 0 || b->in_fd < 0) {
		api_error(call->r, ERR_IO, NULL, "cannot create a temporary file");
		return ERR_IO;
	}
	b->v2 = v2 != NULL && (strcmp(v2, "1") == 0 || strcmp(v2, "true") == 0);
	date_today(b->today);
	if (rules_q == NULL || strcmp(rules_q, "none") != 0)
		rules_default(&b->rs);
	b->check = csv_reader_new(b->rs, check_record, b);
	csv_write_header(&b->out, b->v2);
	if (api_idempotency_key(call->r, b->idem_key, sizeof(b->idem_key)) != 0)
		return ERR_SYNTAX;
	if (b->idem_key[0] != '\0') {
		/* The fingerprint: what changes the answer (the options), then the bytes. */
		char opts[16];

		snprintf(opts, sizeof(opts), "%d %d\n", b->v2, b->rs != NULL);
		b->md = EVP_MD_CTX_new();
		if (b->md == NULL || EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1) {
			api_error(call->r, ERR_NOMEM, NULL, "out of memory");
			return ERR_NOMEM;
		}
		EVP_DigestUpdate(b->md, "POST /batch\n", 12);
		EVP_DigestUpdate(b->md, opts, strlen(opts));
	}
	return 0;
}

const api_endpoint api_batch_endpoint = {
    .ctx_size = sizeof(batch_ctx),
    .start = batch_start,
    .chunk = batch_chunk,
    .complete = batch_complete,
    .resume = batch_step,
    .op_done = batch_op_done,
    .free = batch_free,
};
