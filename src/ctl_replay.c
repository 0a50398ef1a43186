/*
 * ctl_replay.c — `offerctl replay`: each element of a JSON array of request
 * bodies (like company_A.json) to /predict through the HTTP engine of
 * client.h, one JSON answer per line on stdout, in file order.
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

#include "client.h"
#include "util.h"

#define REPLAY_FILE_MAX (64 << 20)
#define REPLAY_WINDOW 1024

typedef struct replay_opts {
	char *url;
	char *api_key;
	int concurrency;
	int v2;
} replay_opts;

#define O(field) offsetof(replay_opts, field)

static const config_opt opts[] = {
    CTL_OPT_URL(replay_opts, url),
    CTL_OPT_API_KEY(replay_opts, api_key),
    CTL_OPT_CONCURRENCY(replay_opts, concurrency, "4"),
    {"v2", NULL, CONFIG_FLAG, O(v2), NULL, 0, 0, "call /predict-v2"},
};

typedef struct replay {
	int64_t ok;
	int64_t failed;
} replay;

static int emit_answer(void *arg, const client_job *j)
{
	replay *r = arg;
	json_t *line = NULL;
	json_t *answer = NULL;
	char *text;
	int rc = 0;

	if (j->answer != NULL)
		answer = json_loads(j->answer, JSON_PRESERVE_ORDER | JSON_DECODE_ANY, NULL);
	if (j->error == NULL && j->status >= 200 && j->status <= 299 && answer != NULL) {
		line = json_incref(answer);
		r->ok++;
	} else {
		json_t *detail;

		if (j->error != NULL)
			detail = json_string(j->error);
		else if (answer != NULL)
			detail = json_incref(answer);
		else
			detail = json_stringn_nocheck(j->answer ? j->answer : "",
			                              j->answer ? strlen(j->answer) : 0);
		line = json_pack("{s:I, s:o}", "status", (json_int_t)j->status, "error",
		                 detail != NULL ? detail : json_null());
		r->failed++;
	}
	text = line != NULL ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)
	                    : NULL;
	if (text == NULL || printf("%s\n", text) < 0)
		rc = ERR_IO;
	free(text);
	json_decref(line);
	json_decref(answer);
	return rc;
}

static int run(ctl_cmd *c)
{
	const replay_opts *o = c->opts;
	client_conf cc;
	replay r = {0};
	client *eng = NULL;
	json_t *root = NULL;
	json_error_t jerr;
	const char *input = c->args[0];
	char *url = NULL;
	size_t next = 0;
	int exit_code = 2;

	if (strcmp(input, "-") == 0) {
		root = json_loadf(stdin, JSON_PRESERVE_ORDER, &jerr);
	} else {
		struct stat st;

		if (stat(input, &st) != 0) {
			fprintf(stderr, "offerctl replay: %s: %s\n", input, strerror(errno));
			goto out;
		}
		if (st.st_size > REPLAY_FILE_MAX) {
			fprintf(stderr, "offerctl replay: %s: larger than %d bytes\n", input,
			        REPLAY_FILE_MAX);
			goto out;
		}
		root = json_load_file(input, JSON_PRESERVE_ORDER, &jerr);
	}
	if (root == NULL) {
		fprintf(stderr, "offerctl replay: %s:%d:%d: %s\n", input, jerr.line, jerr.column,
		        jerr.text);
		goto out;
	}
	if (!json_is_array(root)) {
		fprintf(stderr, "offerctl replay: %s: expected a JSON array of request bodies\n", input);
		goto out;
	}
	url = client_endpoint(o->url, o->v2 ? "/predict-v2" : "/predict");
	memset(&cc, 0, sizeof(cc));
	cc.url = url;
	cc.api_key = o->api_key != NULL && o->api_key[0] != '\0' ? o->api_key : NULL;
	cc.concurrency = o->concurrency;
	cc.window = REPLAY_WINDOW;
	if (client_new(&cc, emit_answer, &r, &eng) != 0) {
		fprintf(stderr, "offerctl replay: cannot initialise libcurl\n");
		goto out;
	}
	for (;;) {
		while (next < json_array_size(root) && client_room(eng)) {
			json_t *item = json_array_get(root, next++);
			char *body = json_dumps(item,
			                        JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
			const char *id = json_string_value(json_object_get(item, "customer_id"));

			client_add(eng, id, body, body == NULL ? xstrdup("cannot serialise") : NULL);
		}
		if (next >= json_array_size(root) && client_idle(eng))
			break;
		if (client_step(eng, 1.0) != 0) {
			fprintf(stderr, "offerctl replay: writing to stdout failed\n");
			goto out;
		}
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, "offerctl replay: writing to stdout failed\n");
		goto out;
	}
	fprintf(stderr, "offerctl replay: %lld requests: %lld ok, %lld failed\n",
	        (long long)(r.ok + r.failed), (long long)r.ok, (long long)r.failed);
	if (client_unusable(eng) != NULL) {
		fprintf(stderr, "offerctl replay: %s: %s\n", o->url, client_unusable(eng));
		exit_code = 2;
		goto out;
	}
	exit_code = r.failed > 0 ? 1 : 0;
out:
	client_free(eng);
	json_decref(root);
	free(url);
	return exit_code;
}

const ctl_spec ctl_replay_spec = {
    CTL_USAGE("replay", " FILE.json [options]",
              "Sends each element of a JSON array of request bodies (like company_A.json)\n"
              "to /predict and prints one JSON answer per line, in file order: the server's\n"
              "answer, or {\"status\": N, \"error\": ...} when the request failed. FILE may be -.\n"),
    .footer = "Exit status: 0 every request answered 2xx, 1 some failed, 2 could not run\n"
              "(usage, unreadable file, the server unreachable or refusing every request).\n",
    CTL_OPTS(opts, replay_opts),
    .min_args = 1,
    .max_args = 1,
    .run = run,
};
