/*
 * ctl_batch.c — `offerctl batch`: a customer CSV in, a result CSV out, one
 * /predict call per row, through the HTTP engine of client.h (N requests in
 * flight, bounded retries, answers back in input order). Memory stays
 * bounded however large the input: the reader adds rows only while the
 * engine has room in its reorder window.
 */
#include "ctl.h"

#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "csvin.h"
#include "csvout.h"
#include "log.h"
#include "rules.h"
#include "util.h"

#define CONCURRENCY_DEFAULT "16"
#define WINDOW_PER_REQUEST 64 /* rows read ahead per request in flight */
#define WINDOW_MIN 1024
#define WINDOW_MAX 65536
#define READ_CHUNK 8192 /* bytes of CSV per read: fewer rows than that */

/* One read adds fewer than READ_CHUNK rows after client_room() turned false. */
_Static_assert(READ_CHUNK <= CLIENT_BURST, "a read may overrun the reorder window");
#define PROGRESS_TTY_EVERY 0.2 /* seconds between progress bar redraws */
#define PROGRESS_LOG_EVERY 5.0 /* seconds between plain progress lines */
#define FAILURES_SHOWN 10      /* failed rows listed on stderr */

typedef struct batch_opts {
	char *output;
	char *url;
	char *rules_path;
	char *api_key;
	int concurrency;
	int v2;
	int quiet;
} batch_opts;

#define O(field) offsetof(batch_opts, field)

static const config_opt opts[] = {
    {"o,output FILE", NULL, CONFIG_STR, O(output), NULL, 0, 0, "the result CSV (required)"},
    CTL_OPT_URL(batch_opts, url),
    CTL_OPT_API_KEY(batch_opts, api_key),
    {"rules FILE", NULL, CONFIG_STR, O(rules_path), NULL, 0, 0,
     "eligibility rules replacing Company B's built-in ones"},
    CTL_OPT_CONCURRENCY(batch_opts, concurrency, CONCURRENCY_DEFAULT),
    {"v2", NULL, CONFIG_FLAG, O(v2), NULL, 0, 0, "call /predict-v2 and add product_1..3 columns"},
    {"quiet", NULL, CONFIG_FLAG, O(quiet), NULL, 0, 0, "no progress on stderr"},
};

/* Why a non-2xx answer failed, from the server's {"status","error","field","message"}. */
static char *http_error_text(long status, const char *answer)
{
	json_t *root = json_loads(answer != NULL ? answer : "", 0, NULL);
	const char *msg = json_string_value(json_object_get(root, "message"));
	const char *field = json_string_value(json_object_get(root, "field"));
	char *text;

	if (msg == NULL)
		msg = json_string_value(json_object_get(root, "error"));
	if (msg != NULL && field != NULL && field[0] != '\0')
		text = xasprintf("HTTP %ld (%s): %s", status, field, msg);
	else if (msg != NULL)
		text = xasprintf("HTTP %ld: %s", status, msg);
	else
		text = xasprintf("HTTP %ld: %.200s", status, answer != NULL ? answer : "");
	json_decref(root);
	return text;
}

typedef struct batch {
	const batch_opts *o;
	const char *input;
	client *eng;
	FILE *in;
	char *tmp_path; /* OUTPUT is written here and renamed at the end; owned */
	char *fatal;    /* why reading stopped early; owned; NULL when it did not */
	FILE *out;
	buf line;
	int64_t nread; /* rows handed to the engine */
	int64_t ok;
	int64_t failed;
	int shown;
	int write_failed;
	/* progress */
	int tty;
	double start;
	double last_progress;
	off_t in_size; /* 0 when unknown (a pipe) */
	off_t in_read;
} batch;

static int on_record(void *arg, const csv_record *rec)
{
	batch *b = arg;
	char *body = NULL;

	b->nread++;
	if (rec->req != NULL) {
		body = request_predict_body(rec->req);
		if (body == NULL)
			client_add(b->eng, rec->customer_id, NULL,
			           xstrdup("cannot serialise the request"));
		else
			client_add(b->eng, rec->customer_id, body, NULL);
		return 0;
	}
	client_add(b->eng, rec->customer_id, NULL, xstrdup(rec->error));
	return 0;
}

/*
 * Reads a 2xx /predict answer into res: "best-three-offers" is a list
 * (/predict) or an object offer -> product name or null (/predict-v2), in
 * the order chosen. Strings point into root. Returns 0 or ERR_INVAL.
 */
static int read_answer(json_t *root, csv_result *res)
{
	json_t *best = json_object_get(root, "best-three-offers");
	int n = 0;

	res->response_date = json_string_value(json_object_get(root, "response-date"));
	if (res->response_date == NULL)
		return ERR_INVAL;
	if (json_is_array(best)) {
		size_t i;
		json_t *v;

		json_array_foreach(best, i, v) {
			if (!json_is_string(v) || n >= OFFERS_SHOWN)
				return ERR_INVAL;
			res->offers[n++] = json_string_value(v);
		}
	} else if (json_is_object(best)) {
		const char *key;
		json_t *v;

		json_object_foreach(best, key, v) {
			if (n >= OFFERS_SHOWN || (!json_is_string(v) && !json_is_null(v)))
				return ERR_INVAL;
			res->offers[n] = key;
			res->products[n++] = json_string_value(v);
		}
	} else {
		return ERR_INVAL;
	}
	return n > 0 ? 0 : ERR_INVAL;
}

static int emit_row(void *arg, const client_job *j)
{
	batch *b = arg;
	csv_result res = {.customer_id = j->id};
	json_t *root = NULL;
	char *error = NULL;
	int rc;

	if (j->error != NULL) {
		res.error = j->error;
	} else if (j->status < 200 || j->status > 299) {
		error = http_error_text(j->status, j->answer);
		res.error = error;
	} else {
		root = json_loads(j->answer, JSON_PRESERVE_ORDER, NULL);
		if (root == NULL || read_answer(root, &res) != 0) {
			memset(&res, 0, sizeof(res));
			res.customer_id = j->id;
			error = xasprintf("unexpected answer from the server: %.200s", j->answer);
			res.error = error;
		}
	}
	if (res.error != NULL) {
		b->failed++;
		if (b->shown < FAILURES_SHOWN && !b->o->quiet) {
			if (b->tty)
				fputs("\r\033[K", stderr);
			fprintf(stderr, "row %lld (customer_id '%s'): %s\n", (long long)j->seq, j->id,
			        res.error);
			b->shown++;
		}
	} else {
		b->ok++;
	}
	buf_reset(&b->line);
	rc = csv_write_result(&b->line, &res, b->o->v2);
	if (rc != 0) {
		/* Only an absurd error text can exceed the line buffer; keep the row anyway. */
		buf_init(&b->line, b->line.limit);
		res = (csv_result){.customer_id = "", .error = "result row too long"};
		rc = csv_write_result(&b->line, &res, b->o->v2);
	}
	if (rc == 0 && fwrite(b->line.data, 1, b->line.len, b->out) != b->line.len)
		rc = ERR_IO;
	if (rc != 0)
		b->write_failed = 1;
	json_decref(root);
	free(error);
	return rc;
}

static void fmt_duration(char *out, size_t len, double s)
{
	long t = (long)(s + 0.5);

	if (t >= 3600)
		snprintf(out, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(out, len, "%ld:%02ld", t / 60, t % 60);
}

static void progress(batch *b, int final)
{
	double now = util_monotonic();
	double elapsed = now - b->start;
	int64_t done = client_emitted(b->eng);
	int64_t nread = b->nread;
	double rate = elapsed > 0 ? (double)done / elapsed : 0;
	double total = 0;
	char eta[32] = "?";

	if (b->o->quiet)
		return;
	if (!final && now - b->last_progress < (b->tty ? PROGRESS_TTY_EVERY : PROGRESS_LOG_EVERY))
		return;
	b->last_progress = now;
	/* Rows still to come are estimated from the bytes still to read. */
	if (b->in_size > 0 && b->in_read > 0)
		total = (double)nread * (double)b->in_size / (double)b->in_read;
	if (total < (double)done)
		total = (double)done;
	if (total > 0 && rate > 0)
		fmt_duration(eta, sizeof(eta), (total - (double)done) / rate);
	if (b->tty) {
		char bar[31];
		int fill = total > 0 ? (int)(30.0 * (double)done / total) : 0;

		for (int i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[30] = '\0';
		fprintf(stderr, "\r\033[K[%s] %lld rows  %.0f rows/s  ETA %s", bar, (long long)done,
		        rate, final ? "0:00" : eta);
		if (final)
			fputc('\n', stderr);
	} else if (!final) {
		fprintf(stderr, "offerctl batch: %lld rows done, %.0f rows/s, ETA %s\n", (long long)done,
		        rate, eta);
	}
	fflush(stderr);
}

/*
 * Opens the input and a temporary file beside OUTPUT (renamed at the end, so
 * OUTPUT is never half a file). Returns 0, or -1 after reporting.
 */
static int open_files(batch *b)
{
	const char *output = b->o->output;
	struct stat in_st;
	struct stat out_st;

	memset(&in_st, 0, sizeof(in_st));
	if (strcmp(b->input, "-") == 0) {
		b->in = stdin;
	} else {
		b->in = fopen(b->input, "rb");
		if (b->in == NULL) {
			fprintf(stderr, "offerctl batch: %s: %s\n", b->input, strerror(errno));
			return -1;
		}
	}
	if (fstat(fileno(b->in), &in_st) == 0 && S_ISREG(in_st.st_mode))
		b->in_size = in_st.st_size;
	/*
	 * OUTPUT replaces its file at the end: if it is the input (the same name,
	 * another path, a symbolic or a hard link), the input would be lost.
	 */
	if (strcmp(output, "-") != 0 && stat(output, &out_st) == 0 && out_st.st_dev == in_st.st_dev &&
	    out_st.st_ino == in_st.st_ino) {
		fprintf(stderr, "offerctl batch: %s is the input file %s; write the result elsewhere\n",
		        output, b->input);
		return -1;
	}
	if (strcmp(output, "-") == 0) {
		b->out = stdout;
		return 0;
	}
	b->tmp_path = xasprintf("%s.tmp-%ld", output, (long)getpid());
	b->out = fopen(b->tmp_path, "wb");
	if (b->out == NULL) {
		fprintf(stderr, "offerctl batch: %s: %s\n", b->tmp_path, strerror(errno));
		free(b->tmp_path);
		b->tmp_path = NULL;
		return -1;
	}
	return 0;
}

/*
 * Reads the input into the engine while it has room and lets it work, until
 * every row read has been written. A read error or a fatal CSV error stops
 * reading (b->fatal); the rows before it are still finished and written.
 */
static void pump(batch *b, csv_reader *rd)
{
	char chunk[READ_CHUNK];
	int eof = 0;
	int rc;

	for (;;) {
		while (!eof && client_room(b->eng)) {
			size_t n = fread(chunk, 1, sizeof(chunk), b->in);

			if (n > 0) {
				b->in_read += (off_t)n;
				rc = csv_reader_feed(rd, chunk, n);
			} else {
				if (ferror(b->in)) {
					b->fatal = xasprintf("%s: read error", b->input);
					eof = 1;
					break;
				}
				rc = csv_reader_finish(rd);
				eof = 1;
			}
			if (rc != 0) {
				b->fatal = xstrdup(csv_reader_error(rd));
				eof = 1;
			}
		}
		if (eof && client_idle(b->eng))
			break;
		if (client_step(b->eng, PROGRESS_TTY_EVERY) != 0 && b->write_failed)
			break;
		progress(b, 0);
	}
	progress(b, 1);
}

/* Prints the closing lines on stderr. */
static void report(const batch *b)
{
	double elapsed = util_monotonic() - b->start;

	fprintf(stderr, "offerctl batch: %lld rows: %lld ok, %lld failed in %.2f s (%.0f rows/s)",
	        (long long)(b->ok + b->failed), (long long)b->ok, (long long)b->failed, elapsed,
	        elapsed > 0 ? (double)(b->ok + b->failed) / elapsed : 0.0);
	if (client_retries(b->eng) > 0)
		fprintf(stderr, ", %lld retries", (long long)client_retries(b->eng));
	fprintf(stderr, "; wrote %s\n", b->o->output);
	if (b->failed > b->shown && !b->o->quiet)
		fprintf(stderr, "offerctl batch: %lld more failed rows: see the error column\n",
		        (long long)(b->failed - b->shown));
	if (b->fatal != NULL) {
		fprintf(stderr, "offerctl batch: %s: stopped: %s\n", b->input, b->fatal);
		if (b->ok + b->failed > 0)
			fprintf(stderr, "offerctl batch: %s holds the %lld rows before that point\n",
			        b->o->output, (long long)(b->ok + b->failed));
	}
	if (client_unusable(b->eng) != NULL)
		fprintf(stderr, "offerctl batch: %s: %s\n", b->o->url, client_unusable(b->eng));
}

static int run(ctl_cmd *c)
{
	const batch_opts *o = c->opts;
	client_conf cc;
	batch b;
	rules *rs = NULL;
	csv_reader *rd = NULL;
	char *url = NULL;
	char err[512];
	int rc;
	int exit_code;
	size_t window;

	memset(&b, 0, sizeof(b));
	buf_init(&b.line, 64 * 1024);
	b.input = c->args[0];
	exit_code = 2;
	b.o = o;
	if (o->rules_path != NULL)
		rc = rules_load(o->rules_path, &rs, NULL, err, sizeof(err));
	else
		rc = rules_default(&rs);
	if (rc != 0) {
		fprintf(stderr, "offerctl batch: rules: %s\n", err);
		goto out;
	}
	if (open_files(&b) != 0)
		goto out;
	url = client_endpoint(o->url, o->v2 ? "/predict-v2" : "/predict");
	window = (size_t)o->concurrency * WINDOW_PER_REQUEST;
	window = window < WINDOW_MIN ? WINDOW_MIN : window > WINDOW_MAX ? WINDOW_MAX : window;
	memset(&cc, 0, sizeof(cc));
	cc.url = url;
	cc.api_key = o->api_key != NULL && o->api_key[0] != '\0' ? o->api_key : NULL;
	cc.concurrency = o->concurrency;
	cc.window = window;
	if (client_new(&cc, emit_row, &b, &b.eng) != 0) {
		fprintf(stderr, "offerctl batch: cannot initialise libcurl\n");
		goto out;
	}
	rd = csv_reader_new(rs, on_record, &b);
	buf_reset(&b.line);
	if (csv_write_header(&b.line, o->v2) != 0 ||
	    fwrite(b.line.data, 1, b.line.len, b.out) != b.line.len) {
		fprintf(stderr, "offerctl batch: cannot write the output\n");
		goto out;
	}
	b.tty = isatty(STDERR_FILENO);
	b.start = util_monotonic();
	b.last_progress = b.start;
	pump(&b, rd);
	if (b.write_failed || fflush(b.out) != 0 || ferror(b.out)) {
		fprintf(stderr, "offerctl batch: writing %s failed: %s\n", o->output, strerror(errno));
		goto out;
	}
	if (b.fatal != NULL && b.ok + b.failed == 0) {
		/* Nothing was processed (a bad header, say): no output file at all. */
		fprintf(stderr, "offerctl batch: %s: %s\n", b.input, b.fatal);
		goto out;
	}
	if (b.tmp_path != NULL) {
		int close_rc = fclose(b.out);

		b.out = NULL;
		if (close_rc != 0 || rename(b.tmp_path, o->output) != 0) {
			fprintf(stderr, "offerctl batch: writing %s failed: %s\n", o->output,
			        strerror(errno));
			goto out;
		}
		free(b.tmp_path);
		b.tmp_path = NULL;
	}
	report(&b);
	/* Stopped reading, or a server that could not be used: the command could not run. */
	if (b.fatal != NULL || client_unusable(b.eng) != NULL)
		exit_code = 2;
	else
		exit_code = b.failed > 0 ? 1 : 0;
out:
	client_free(b.eng);
	csv_reader_free(rd);
	rules_free(rs);
	if (b.in != NULL && b.in != stdin)
		fclose(b.in);
	if (b.out != NULL && b.out != stdout)
		fclose(b.out);
	else if (b.out == stdout)
		fflush(stdout);
	if (b.tmp_path != NULL) {
		unlink(b.tmp_path);
		free(b.tmp_path);
	}
	buf_free(&b.line);
	free(url);
	free(b.fatal);
	return exit_code;
}

/* Returns -1 to go on, else 2 after reporting a usage error. */
static int check(const ctl_cmd *c)
{
	const batch_opts *o = c->opts;

	if (o->output == NULL)
		return ctl_usage(c->spec, "missing -o OUTPUT.csv");
	return -1;
}

const ctl_spec ctl_batch_spec = {
    CTL_USAGE("batch", " INPUT.csv -o OUTPUT.csv [options]",
              "Sends every row of a customer CSV to offerd's /predict and writes one result\n"
              "row per input row, in input order. INPUT or OUTPUT may be - (stdin/stdout).\n"),
    .footer = "Exit status: 0 every row ok, 1 some rows failed (see the error column),\n"
              "2 the command could not run (usage, unreadable input, bad header, OUTPUT is\n"
              "the input, the server unreachable or refusing every request: 401, 403, 404,\n"
              "405); the output then still holds every row read, with its error.\n",
    CTL_OPTS(opts, batch_opts),
    .min_args = 1,
    .max_args = 1,
    .check = check,
    .run = run,
};
