/*
 * config.c — the table and its parser.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

enum ctype { C_STR, C_INT, C_DBL };

typedef struct config_entry {
	const char *flag;      /* --flag */
	const char *env;       /* environment variable */
	enum ctype type;
	size_t offset;
	const char *dflt;
	double min, max;
	const char *help;
} config_entry;

#define F(field) offsetof(offerd_config, field)

static const config_entry table[] = {
    {"host", "OFFERD_HOST", C_STR, F(host), "127.0.0.1", 0, 0,
     "address to listen on (0.0.0.0 for all interfaces)"},
    {"port", "PORT", C_INT, F(port), "8000", 0, 65535, "TCP port (0 picks a free one)"},
    {"database-url", "DATABASE_URL", C_STR, F(database_url), "sqlite:var/offerd.db", 0, 0,
     "sqlite:PATH or postgresql://user@host:port/db"},
    {"threads", "OFFERD_THREADS", C_INT, F(threads), "2", 1, 256, "HTTP worker threads"},
    {"share-dir", "OFFERD_SHARE_DIR", C_STR, F(share_dir), "", 0, 0,
     "static files (docs, upload page); default: <binary dir>/share"},
    {"company", "OFFERD_COMPANY", C_STR, F(company), "A", 0, 0,
     "the tenant of unauthenticated requests when --auth off"},
    {"auth", "OFFERD_AUTH", C_STR, F(auth), "on", 0, 0,
     "on: API keys required on /predict, /predict-v2, /rewards, /batch; off: local development"},
    {"queue-max", "OFFERD_QUEUE_MAX", C_INT, F(queue_max), "20000", 1, 10000000,
     "operations waiting for the writer before 503"},
    {"batch-max", "OFFERD_BATCH_MAX", C_INT, F(batch_max), "1024", 1, 100000,
     "operations per database transaction"},
    {"writers", "OFFERD_WRITERS", C_INT, F(writers), "2", 1, 8,
     "writer threads, each with its own connection, so commits overlap (SQLite: always 1)"},
    {"refresh", "OFFERD_REFRESH", C_DBL, F(refresh), "1", 0.05, 3600,
     "seconds between reloads of agent version, learned values, catalogue and segments"},
    {"body-max", "OFFERD_BODY_MAX", C_INT, F(body_max), "65536", 256, 64 << 20,
     "largest JSON body in bytes"},
    {"batch-body-max-mb", "OFFERD_BATCH_BODY_MAX_MB", C_INT, F(batch_body_max), "1024", 1,
     1 << 20, "largest /batch CSV upload in MiB"},
    {"conn-limit", "OFFERD_CONN_LIMIT", C_INT, F(conn_limit), "4096", 1, 1000000,
     "open connections at most"},
    {"per-ip-limit", "OFFERD_PER_IP_LIMIT", C_INT, F(per_ip_limit), "256", 0, 1000000,
     "open connections per client address (0 = no limit), so one client cannot take them all"},
    {"conn-timeout", "OFFERD_CONN_TIMEOUT", C_INT, F(conn_timeout), "30", 1, 86400,
     "seconds of inactivity before a connection is closed"},
    {"head-timeout", "OFFERD_HEAD_TIMEOUT", C_INT, F(head_timeout), "10", 1, 3600,
     "seconds for a request head to arrive after the connection (or its request line); "
     "slower clients get a 408 and a close"},
    {"header-limit", "OFFERD_HEADER_LIMIT", C_INT, F(header_limit), "32768", 4096, 1 << 20,
     "bytes of request headers per connection"},
    {"cors-origin", "OFFERD_CORS_ORIGIN", C_STR, F(cors_origin), "", 0, 0,
     "origins whose web pages may call the API from a browser (CORS), comma-separated, "
     "e.g. https://shop.example.com; * for any"},
    {"rate", "OFFERD_RATE", C_DBL, F(rate), "0", 0, 1e9,
     "requests per second per API key (token bucket); 0 = unlimited"},
    {"rate-burst", "OFFERD_RATE_BURST", C_INT, F(rate_burst), "100", 1, 1000000,
     "token bucket size per API key"},
    {"log-level", "OFFERD_LOG_LEVEL", C_STR, F(log_level), "info", 0, 0,
     "debug, info, warn or error"},
    {"log-format", "OFFERD_LOG_FORMAT", C_STR, F(log_format), "text", 0, 0, "text or json"},
    {"access-log", "OFFERD_ACCESS_LOG", C_STR, F(access_log), "on", 0, 0,
     "one log line per request: on or off"},
};

static int set_value(offerd_config *c, const config_entry *e, const char *v, const char *origin)
{
	char *p = (char *)c + e->offset;
	int64_t i;
	double d;

	switch (e->type) {
	case C_STR:
		free(*(char **)(void *)p);
		*(char **)(void *)p = xstrdup(v);
		return 0;
	case C_INT:
		if (util_strtonum(v, (int64_t)e->min, (int64_t)e->max, &i) != 0) {
			fprintf(stderr, "offerd: %s %s: must be an integer from %.0f to %.0f, got \"%s\"\n",
			        origin, e->flag, e->min, e->max, v);
			return -1;
		}
		*(int *)(void *)p = (int)i;
		return 0;
	case C_DBL:
		if (util_strtod(v, e->min, e->max, &d) != 0) {
			fprintf(stderr, "offerd: %s %s: must be a number from %g to %g, got \"%s\"\n", origin,
			        e->flag, e->min, e->max, v);
			return -1;
		}
		*(double *)(void *)p = d;
		return 0;
	}
	return -1;
}

static void usage(void)
{
	printf("usage: offerd [--flag value ...]\n\n"
	       "Serves the next-best-offer agent: GET /is-alive, POST /predict, POST /predict-v2,\n"
	       "PUT /rewards, POST /batch, GET /metrics, GET /docs, GET /openapi.json.\n"
	       "Flags win over environment variables, which win over defaults.\n\n");
	for (size_t i = 0; i < UTIL_ARRAY_LEN(table); i++) {
		const config_entry *e = &table[i];

		printf("  --%-20s %-26s %s (default: %s)\n", e->flag, e->env, e->help,
		       e->dflt[0] ? e->dflt : "none");
	}
	printf("\n  --help                 this text\n"
	       "  --routes               print the routes served, one \"METHOD PATH\" per line\n"
	       "  --version              print the version\n");
}

void config_print_markdown(void)
{
	printf("| flag | environment | default | meaning |\n|---|---|---|---|\n");
	for (size_t i = 0; i < UTIL_ARRAY_LEN(table); i++) {
		const config_entry *e = &table[i];

		printf("| `--%s` | `%s` | `%s` | %s |\n", e->flag, e->env, e->dflt, e->help);
	}
}

/* Declared in api.h; printed for --routes. */
void api_print_routes(void);

int config_load(offerd_config *c, int argc, char **argv)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < UTIL_ARRAY_LEN(table); i++) {
		if (set_value(c, &table[i], table[i].dflt, "default") != 0)
			return -1;
	}
	for (size_t i = 0; i < UTIL_ARRAY_LEN(table); i++) {
		const char *v = getenv(table[i].env);

		if (v != NULL && v[0] != '\0' && set_value(c, &table[i], v, "environment") != 0)
			return -1;
	}
	for (int a = 1; a < argc; a++) {
		const char *arg = argv[a];
		const char *val = NULL;
		const char *eq;
		size_t namelen;
		size_t i;

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			usage();
			return 1;
		}
		if (strcmp(arg, "--routes") == 0) {
			api_print_routes();
			return 1;
		}
		if (strcmp(arg, "--config-markdown") == 0) {
			config_print_markdown();
			return 1;
		}
		if (strcmp(arg, "--version") == 0) {
			printf("offerd %s\n", OFFERD_VERSION);
			return 1;
		}
		if (strncmp(arg, "--", 2) != 0) {
			fprintf(stderr, "offerd: unexpected argument \"%s\" (see --help)\n", arg);
			return -1;
		}
		arg += 2;
		eq = strchr(arg, '=');
		namelen = eq ? (size_t)(eq - arg) : strlen(arg);
		for (i = 0; i < UTIL_ARRAY_LEN(table); i++) {
			if (strlen(table[i].flag) == namelen && strncmp(table[i].flag, arg, namelen) == 0)
				break;
		}
		if (i == UTIL_ARRAY_LEN(table)) {
			fprintf(stderr, "offerd: unknown flag --%.*s (see --help)\n", (int)namelen, arg);
			return -1;
		}
		if (eq != NULL) {
			val = eq + 1;
		} else if (a + 1 < argc) {
			val = argv[++a];
		} else {
			fprintf(stderr, "offerd: --%s needs a value\n", table[i].flag);
			return -1;
		}
		if (set_value(c, &table[i], val, "flag") != 0)
			return -1;
	}
	if (strcmp(c->auth, "on") != 0 && strcmp(c->auth, "off") != 0) {
		fprintf(stderr, "offerd: --auth must be on or off\n");
		return -1;
	}
	if (strcmp(c->access_log, "on") != 0 && strcmp(c->access_log, "off") != 0) {
		fprintf(stderr, "offerd: --access-log must be on or off\n");
		return -1;
	}
	if (strcmp(c->log_format, "text") != 0 && strcmp(c->log_format, "json") != 0) {
		fprintf(stderr, "offerd: --log-format must be text or json\n");
		return -1;
	}
	return 0;
}

void config_free(offerd_config *c)
{
	for (size_t i = 0; i < UTIL_ARRAY_LEN(table); i++) {
		if (table[i].type == C_STR) {
			char **p = (char **)(void *)((char *)c + table[i].offset);

			free(*p);
			*p = NULL;
		}
	}
}
