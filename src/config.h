/*
 * config.h — options as one declarative table, as Redis does: each row is a
 * name, an environment variable, a kind, the target field, a default,
 * bounds and help. offerd's configuration and every offerctl command are
 * parsed by the same function, so every command answers --help the same
 * way and treats unknown options the same way. Flags win over the
 * environment, which wins over defaults. `offerd --help` and the README's
 * configuration table are printed from offerd's table.
 */
#ifndef OFFERD_CONFIG_H
#define OFFERD_CONFIG_H

#include <stddef.h>
#include <stdio.h>

/* --- the option table mechanism ----------------------------------------- */

enum config_kind {
	CONFIG_STR,  /* char *, owned (config_opts_free frees it); with max > 0, a name:
	              * min..max bytes, no control character */
	CONFIG_INT,  /* int within [min, max] */
	CONFIG_I64,  /* int64_t within [min, max] */
	CONFIG_DBL,  /* double within [min, max] */
	CONFIG_FLAG, /* int set to 1; takes no value */
};

/*
 * One row. `name` is the long name, optionally preceded by a one-letter
 * short name and a comma, and followed by a space and the value's name for
 * help: "o,output FILE" is -o FILE or --output FILE.
 */
typedef struct config_opt {
	const char *name;
	const char *env; /* environment variable, or NULL */
	enum config_kind kind;
	size_t offset;    /* of the target field in the caller's struct */
	const char *dflt; /* default as text; NULL leaves the field as the caller set it */
	double min, max;  /* bounds of numbers; of a string's length when max > 0 */
	const char *help;
} config_opt;

/* config_opts_parse's result besides 0 and ERR_INVAL: --help or -h was given. */
#define CONFIG_HELP 1

/*
 * Fills target from the table: defaults, then the environment, then
 * argv[1..argc-1] ("--name VALUE", "--name=VALUE", "-o VALUE"; "--" ends
 * the options). Arguments that are not options go to args[], at most
 * max_args of them (*nargs says how many). Returns 0, CONFIG_HELP when
 * --help/-h is among the options (nothing else is checked), or ERR_INVAL
 * after printing "prog: what is wrong" to stderr: an unknown option, a
 * missing value, a value out of bounds, one argument too many.
 */
int config_opts_parse(const char *prog, const config_opt *t, size_t n, void *target, int argc,
                      char **argv, const char **args, size_t max_args, size_t *nargs);
/* Frees the CONFIG_STR fields of target. */
void config_opts_free(const config_opt *t, size_t n, void *target);
/* Prints one help line per option: name, value, help, default, environment. */
void config_opts_help(FILE *f, const config_opt *t, size_t n);

/* --- offerd's configuration --------------------------------------------- */

/* The database offerd and offerctl's database commands use by default, and its help. */
#define CONFIG_DATABASE_URL_DEFAULT "sqlite:var/offerd.db"
#define CONFIG_DATABASE_URL_HELP "sqlite:PATH or postgresql://user@host:port/db"

typedef struct offerd_config {
	char *host;
	int port;
	char *database_url;
	int threads;
	char *share_dir;
	char *company; /* tenant when auth is off */
	char *auth;    /* "on" or "off" */
	int queue_max;
	int batch_max;
	int writers;        /* database writer connections (PostgreSQL) */
	double refresh;     /* seconds between reloads of agents/values/catalogue */
	int body_max;       /* JSON bodies */
	int batch_body_max; /* /batch CSV bodies, MiB */
	int conn_limit;
	int per_ip_limit;
	int conn_timeout;
	int head_timeout; /* seconds for a complete request head */
	int header_limit;
	char *cors_origin; /* origins allowed to call from a browser, comma-separated */
	double rate;       /* requests per second per key, 0 = unlimited */
	int rate_burst;
	char *log_level;
	char *log_format;
	char *access_log;          /* "on" or "off" */
	char *metrics_auth;        /* "admin" (GET /metrics needs an admin key) or "off" */
	int retention_days;        /* every company's window; 0 keeps the log for ever */
	char *retention;           /* per-company windows "B=30,C=365" (retention.h) */
	double retention_interval; /* seconds between retention passes */
} offerd_config;

/* Fills c from defaults, then the environment, then argv. Returns 0, 1 after
 * --help/--routes/--version were handled (caller exits 0), or -1 on error. */
int config_load(offerd_config *c, int argc, char **argv);
void config_free(offerd_config *c);
/* Prints the table as Markdown (for the README). */
void config_print_markdown(void);

#endif
