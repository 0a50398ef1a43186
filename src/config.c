/*
 * config.c — the option table mechanism (config_opts_*) and offerd's table.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "retention.h"
#include "util.h"

/* offerd's rows below spell the kinds short, so each row stays one or two lines. */
#define C_STR CONFIG_STR
#define C_INT CONFIG_INT
#define C_DBL CONFIG_DBL

/* --- the mechanism -------------------------------------------------------- */

/* A row's name split: "o,output FILE" -> short 'o', long "output" (6), value "FILE". */
typedef struct opt_name {
	char short_name;
	const char *name;
	size_t len;
	const char *value; /* NULL when the row names none */
} opt_name;

static opt_name split_name(const char *spec)
{
	opt_name n = {0, spec, 0, NULL};
	const char *space;

	if (spec[0] != '\0' && spec[1] == ',') {
		n.short_name = spec[0];
		n.name = spec + 2;
	}
	space = strchr(n.name, ' ');
	n.len = space != NULL ? (size_t)(space - n.name) : strlen(n.name);
	if (space != NULL)
		n.value = space + 1;
	return n;
}

static void *field(void *target, const config_opt *o)
{
	return (char *)target + o->offset;
}

/* Sets one field from text; `origin` names where a bad value came from besides the flag. */
static int set_opt(const char *prog, const config_opt *o, void *target, const char *v,
                   const char *origin)
{
	opt_name nm = split_name(o->name);
	void *p = field(target, o);
	int64_t lo;
	int64_t hi;
	int64_t i;
	double d;

	switch (o->kind) {
	case CONFIG_STR:
		if (o->max > 0 && (strlen(v) < (size_t)o->min || strlen(v) > (size_t)o->max)) {
			fprintf(stderr, "%s: --%.*s%s must be %.0f to %.0f bytes, got %zu\n", prog,
			        (int)nm.len, nm.name, origin, o->min, o->max, strlen(v));
			return ERR_INVAL;
		}
		/* A name (a company's) is joined to others with a control character in keys. */
		for (const char *c = v; o->max > 0 && *c != '\0'; c++) {
			if ((unsigned char)*c < 0x20 || *c == 0x7f) {
				fprintf(stderr, "%s: --%.*s%s must not hold a control character\n", prog,
				        (int)nm.len, nm.name, origin);
				return ERR_INVAL;
			}
		}
		free(*(char **)p);
		*(char **)p = xstrdup(v);
		return 0;
	case CONFIG_FLAG: *(int *)p = 1; return 0;
	case CONFIG_INT:
	case CONFIG_I64:
		/* Bounds past int64_t (a table that wrote (double)INT64_MAX) are clamped. */
		lo = o->min <= -9.2e18 ? INT64_MIN : (int64_t)o->min;
		hi = o->max >= 9.2e18 ? INT64_MAX : (int64_t)o->max;
		if (util_strtonum(v, lo, hi, &i) != 0) {
			fprintf(stderr,
			        "%s: --%.*s%s must be an integer from %.0f to %.0f, got \"%.80s\"\n",
			        prog, (int)nm.len, nm.name, origin, o->min, o->max, v);
			return ERR_INVAL;
		}
		if (o->kind == CONFIG_INT)
			*(int *)p = (int)i;
		else
			*(int64_t *)p = i;
		return 0;
	case CONFIG_DBL:
		if (util_strtod(v, o->min, o->max, &d) != 0) {
			fprintf(stderr, "%s: --%.*s%s must be a number from %g to %g, got \"%.80s\"\n",
			        prog, (int)nm.len, nm.name, origin, o->min, o->max, v);
			return ERR_INVAL;
		}
		*(double *)p = d;
		return 0;
	}
	return ERR_INVAL;
}

/* The row that argument `a` names: "--name", "--name=v" or "-x"; NULL when none. */
static const config_opt *find_opt(const config_opt *t, size_t n, const char *a, const char **eq)
{
	*eq = NULL;
	if (a[0] == '-' && a[1] == '-') {
		const char *name = a + 2;
		const char *e = strchr(name, '=');
		size_t len = e != NULL ? (size_t)(e - name) : strlen(name);

		for (size_t i = 0; i < n; i++) {
			opt_name nm = split_name(t[i].name);

			if (nm.len == len && strncmp(nm.name, name, len) == 0) {
				*eq = e;
				return &t[i];
			}
		}
		return NULL;
	}
	for (size_t i = 0; a[0] == '-' && a[1] != '\0' && a[2] == '\0' && i < n; i++) {
		if (split_name(t[i].name).short_name == a[1])
			return &t[i];
	}
	return NULL;
}

int config_opts_parse(const char *prog, const config_opt *t, size_t n, void *target, int argc,
                      char **argv, const char **args, size_t max_args, size_t *nargs)
{
	int options = 1;

	*nargs = 0;
	/* --help wins over everything else, so it never acts on the other arguments. */
	for (int a = 1; a < argc && strcmp(argv[a], "--") != 0; a++) {
		if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0)
			return CONFIG_HELP;
	}
	for (size_t i = 0; i < n; i++) {
		if (t[i].dflt != NULL && set_opt(prog, &t[i], target, t[i].dflt, " (default)") != 0)
			return ERR_INVAL;
	}
	for (size_t i = 0; i < n; i++) {
		const char *v = t[i].env != NULL ? getenv(t[i].env) : NULL;
		char origin[80];

		if (v == NULL || v[0] == '\0')
			continue;
		snprintf(origin, sizeof(origin), " (from $%s)", t[i].env);
		if (set_opt(prog, &t[i], target, v, origin) != 0)
			return ERR_INVAL;
	}
	for (int a = 1; a < argc; a++) {
		const char *arg = argv[a];
		const config_opt *o;
		const char *eq;
		const char *val;

		if (options && strcmp(arg, "--") == 0) {
			options = 0;
			continue;
		}
		if (!options || arg[0] != '-' || strcmp(arg, "-") == 0) {
			if (*nargs >= max_args) {
				fprintf(stderr, "%s: unexpected argument \"%.80s\" (see %s --help)\n",
				        prog, arg, prog);
				return ERR_INVAL;
			}
			args[(*nargs)++] = arg;
			continue;
		}
		o = find_opt(t, n, arg, &eq);
		if (o == NULL) {
			fprintf(stderr, "%s: unknown option %.80s (see %s --help)\n", prog, arg, prog);
			return ERR_INVAL;
		}
		if (o->kind == CONFIG_FLAG) {
			if (eq != NULL) {
				fprintf(stderr, "%s: %.*s takes no value\n", prog, (int)(eq - arg), arg);
				return ERR_INVAL;
			}
			val = "1";
		} else if (eq != NULL) {
			val = eq + 1;
		} else if (a + 1 < argc) {
			val = argv[++a];
		} else {
			fprintf(stderr, "%s: %s needs a value (see %s --help)\n", prog, arg, prog);
			return ERR_INVAL;
		}
		if (set_opt(prog, o, target, val, "") != 0)
			return ERR_INVAL;
	}
	return 0;
}

void config_opts_free(const config_opt *t, size_t n, void *target)
{
	for (size_t i = 0; i < n; i++) {
		if (t[i].kind == CONFIG_STR) {
			char **p = field(target, &t[i]);

			free(*p);
			*p = NULL;
		}
	}
}

void config_opts_help(FILE *f, const config_opt *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		opt_name nm = split_name(t[i].name);
		char left[64];

		if (nm.short_name != 0)
			snprintf(left, sizeof(left), "-%c, --%.*s%s%s", nm.short_name, (int)nm.len,
			         nm.name, nm.value ? " " : "", nm.value ? nm.value : "");
		else
			snprintf(left, sizeof(left), "--%.*s%s%s", (int)nm.len, nm.name,
			         nm.value ? " " : "", nm.value ? nm.value : "");
		char dflt[160] = "";
		int width;

		if (t[i].kind != CONFIG_FLAG && t[i].env != NULL)
			snprintf(dflt, sizeof(dflt), "(default $%s, else %s)", t[i].env,
			         t[i].dflt != NULL && t[i].dflt[0] != '\0' ? t[i].dflt : "none");
		else if (t[i].kind != CONFIG_FLAG && t[i].dflt != NULL && t[i].dflt[0] != '\0')
			snprintf(dflt, sizeof(dflt), "(default %s)", t[i].dflt);
		width = fprintf(f, "  %-22s %s", left, t[i].help);
		/* A default that would run past 100 columns goes on a line of its own. */
		if (dflt[0] != '\0' && width + 1 + (int)strlen(dflt) > 100)
			fprintf(f, "\n  %-22s %s", "", dflt);
		else if (dflt[0] != '\0')
			fprintf(f, " %s", dflt);
		fputc('\n', f);
	}
}

/* --- offerd's table ---------------------------------------------------------- */

#define F(field) offsetof(offerd_config, field)

static const config_opt table[] = {
    {"host", "OFFERD_HOST", C_STR, F(host), "127.0.0.1", 0, 0,
     "address to listen on (0.0.0.0 for all interfaces)"},
    {"port", "PORT", C_INT, F(port), "8000", 0, 65535, "TCP port (0 picks a free one)"},
    {"database-url", "DATABASE_URL", C_STR, F(database_url), CONFIG_DATABASE_URL_DEFAULT, 0, 0,
     CONFIG_DATABASE_URL_HELP},
    {"threads", "OFFERD_THREADS", C_INT, F(threads), "2", 1, 256, "HTTP worker threads"},
    {"share-dir", "OFFERD_SHARE_DIR", C_STR, F(share_dir), "", 0, 0,
     "static files (docs, upload page); default: <binary dir>/share"},
    {"company", "OFFERD_COMPANY", C_STR, F(company), "A", 1, DB_COMPANY_MAX - 1,
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
    {"batch-body-max-mb", "OFFERD_BATCH_BODY_MAX_MB", C_INT, F(batch_body_max), "1024", 1, 1 << 20,
     "largest /batch CSV upload in MiB"},
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
    {"log-level", "OFFERD_LOG_LEVEL", C_STR, F(log_level), "info", 0, 0, "debug, info, warn or error"},
    {"log-format", "OFFERD_LOG_FORMAT", C_STR, F(log_format), "text", 0, 0, "text or json"},
    {"access-log", "OFFERD_ACCESS_LOG", C_STR, F(access_log), "on", 0, 0,
     "one log line per request: on or off"},
    {"metrics-auth", "OFFERD_METRICS_AUTH", C_STR, F(metrics_auth), "admin", 0, 0,
     "admin: GET /metrics needs an admin key, as it names every company; off: anyone who "
     "reaches the port may read it (a private network)"},
    {"retention-days", "OFFERD_RETENTION_DAYS", C_INT, F(retention_days), "0", 0, RETENTION_DAYS_MAX,
     "days episodes and their rewards are kept (by write time); 0 = for ever"},
    {"retention", "OFFERD_RETENTION", C_STR, F(retention), "", 0, 0,
     "per-company windows overriding --retention-days, e.g. B=30,C=365 (C=0: for ever)"},
    {"retention-interval", "OFFERD_RETENTION_INTERVAL", C_DBL, F(retention_interval), "60", 0.05, 86400,
     "seconds between retention passes"},
};

static void usage(void)
{
	printf("usage: offerd [--flag value ...]\n\n"
	       "Serves the next-best-offer agent: GET /is-alive, POST /predict, POST /predict-v2,\n"
	       "PUT /rewards, POST /batch, GET /metrics, GET /docs, GET /openapi.json.\n"
	       "Flags win over environment variables, which win over defaults.\n\n");
	for (size_t i = 0; i < UTIL_ARRAY_LEN(table); i++) {
		const config_opt *e = &table[i];

		printf("  --%-20s %-26s %s (default: %s)\n", e->name, e->env, e->help,
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
		const config_opt *e = &table[i];

		printf("| `--%s` | `%s` | `%s` | %s |\n", e->name, e->env, e->dflt, e->help);
	}
}

/* Declared in api.h; printed for --routes. */
void api_print_routes(void);

int config_load(offerd_config *c, int argc, char **argv)
{
	const char *args[1];
	size_t nargs;
	int rc;

	memset(c, 0, sizeof(*c));
	/* The actions besides --help, where an option may stand. */
	for (int a = 1; a < argc && strcmp(argv[a], "--") != 0; a++) {
		if (strcmp(argv[a], "--routes") == 0) {
			api_print_routes();
			return 1;
		}
		if (strcmp(argv[a], "--config-markdown") == 0) {
			config_print_markdown();
			return 1;
		}
		if (strcmp(argv[a], "--version") == 0) {
			printf("offerd %s\n", OFFERD_VERSION);
			return 1;
		}
	}
	rc = config_opts_parse("offerd", table, UTIL_ARRAY_LEN(table), c, argc, argv, args, 0, &nargs);
	if (rc == CONFIG_HELP) {
		usage();
		return 1;
	}
	if (rc != 0)
		return -1;
	if (strcmp(c->auth, "on") != 0 && strcmp(c->auth, "off") != 0) {
		fprintf(stderr, "offerd: --auth must be on or off\n");
		return -1;
	}
	if (strcmp(c->access_log, "on") != 0 && strcmp(c->access_log, "off") != 0) {
		fprintf(stderr, "offerd: --access-log must be on or off\n");
		return -1;
	}
	if (strcmp(c->metrics_auth, "admin") != 0 && strcmp(c->metrics_auth, "off") != 0) {
		fprintf(stderr, "offerd: --metrics-auth must be admin or off\n");
		return -1;
	}
	if (strcmp(c->log_format, "text") != 0 && strcmp(c->log_format, "json") != 0) {
		fprintf(stderr, "offerd: --log-format must be text or json\n");
		return -1;
	}
	{
		retention_conf rc_check = {0};
		char err[160];

		if (retention_parse(c->retention, &rc_check, err, sizeof(err)) != 0) {
			fprintf(stderr, "offerd: %s\n", err);
			return -1;
		}
	}
	return 0;
}

void config_free(offerd_config *c)
{
	config_opts_free(table, UTIL_ARRAY_LEN(table), c);
}
