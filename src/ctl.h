/*
 * ctl.h — offerctl's subcommands. offerctl.c dispatches argv[1] to one of
 * these; each gets argc/argv starting at its own name (argv[0] = "batch"),
 * parses its own flags and returns the process exit code.
 */
#ifndef OFFERD_CTL_H
#define OFFERD_CTL_H

#include <stddef.h>
#include <stdio.h>

#include "client.h"
#include "config.h"
#include "util.h"

int ctl_products(int argc, char **argv); /* products import FILE [--company C] */
int ctl_agent(int argc, char **argv);    /* agent release|list ... */
int ctl_batch(int argc, char **argv);    /* batch INPUT.csv -o OUTPUT.csv ... */
int ctl_replay(int argc, char **argv);   /* replay FILE.json [--v2] [--url U] */
int ctl_train(int argc, char **argv);    /* train --transactions FILE ... */
int ctl_simulate(int argc, char **argv); /* simulate --policy P ... */
int ctl_evaluate(int argc, char **argv); /* evaluate --policy P ... */
int ctl_keys(int argc, char **argv);     /* keys create|list|revoke ... */
int ctl_db(int argc, char **argv);       /* db migrate|count TABLE */
int ctl_rules(int argc, char **argv);    /* rules set|show --company C ... */
int ctl_export(int argc, char **argv);   /* export --company C --format dsjson|csv ... */

/* customers forget ID --company C (ctl_customers.c) */
int ctl_customers(int argc, char **argv);

/*
 * A command: one option table (config.h) filling a struct of `size` bytes,
 * a count of plain arguments, and what runs once they are read. ctl_run
 * gives every command the same rules and the same steps: the struct zeroed,
 * init (the "not given" marks the table cannot express), the table parsed
 * (--help or -h anywhere prints the help and exits 0 without doing anything;
 * an unknown option, an option of another command, a missing value or an
 * argument too many or too few is an error, exit 2), check, run, the
 * struct's strings freed.
 */
typedef struct ctl_spec ctl_spec;
struct ctl_spec {
	const char *prog;   /* "offerctl batch" */
	const char *usage;  /* the first lines of --help: usage and what it does */
	const char *footer; /* printed after the options (exit status...), or NULL */
	const config_opt *opts;
	size_t nopts;
	size_t min_args, max_args;
	size_t size; /* of the struct opts fills */
	/* Sets fields before the table is parsed, or NULL. */
	void (*init)(void *o);
	/*
	 * Checks what the table cannot (a required option, an enumeration, a
	 * default that depends on another option) and derives fields, or NULL.
	 * Returns -1 to go on, else the exit status after reporting the error.
	 */
	int (*check)(const ctl_spec *spec, void *o, const char **args, size_t nargs);
	/* Does the command's work; returns the exit status. */
	int (*run)(const ctl_spec *spec, void *o, const char **args, size_t nargs);
};

/* A ctl_spec's option table and its length. */
#define CTL_OPTS(table) .opts = (table), .nopts = UTIL_ARRAY_LEN(table)

#define CTL_ARGS_MAX 4

/*
 * Runs the command spec describes over argv (argv[0] is the command's
 * name): the steps of struct ctl_spec, in order. Returns the exit status.
 */
int ctl_run(const ctl_spec *spec, int argc, char **argv);

/*
 * Parses argv (argv[0] is the command's name) into target, which the
 * caller zeroed, and args (at most CTL_ARGS_MAX; args and nargs may be NULL
 * when the command takes no plain argument). Returns -1 to go on, else the
 * exit status: 0 after --help was printed, 2 after a usage error was
 * reported.
 */
int ctl_parse(const ctl_spec *spec, void *target, int argc, char **argv, const char **args,
              size_t *nargs);
/* Frees the strings ctl_parse put into target from spec's option table. */
void ctl_free(const ctl_spec *spec, void *target);
/* Prints spec's help: usage, the options from its table, the footer. */
void ctl_help(const ctl_spec *spec, FILE *f);
/*
 * Reports a usage error as "prog: what is wrong (see prog --help)" on
 * stderr and returns 2, the exit status of a usage error.
 */
int ctl_usage(const ctl_spec *spec, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Checks the --url and --api-key of a command that calls offerd over HTTP
 * (api_key may be NULL). Returns 0, or 2 after reporting what is wrong.
 */
int ctl_check_server(const ctl_spec *spec, const char *url, const char *api_key);

struct store;
/*
 * Opens the store at url and brings its schema up to date; prog names the
 * command in the messages. Returns 0 and the store in *out (the caller
 * closes it with store_close()), or the error code after reporting it,
 * with *out NULL.
 */
int ctl_open_db(const char *prog, const char *url, struct store **out);

/* The --url and --api-key rows every command that calls offerd over HTTP has. */
#define CTL_URL_DEFAULT "http://127.0.0.1:8000"
#define CTL_OPT_URL(type, field)                                                                   \
	{                                                                                          \
		"url URL", "OFFERD_URL", CONFIG_STR, offsetof(type, field), CTL_URL_DEFAULT, 0, 0, \
		    "offerd's address"                                                             \
	}
#define CTL_OPT_API_KEY(type, field)                                                               \
	{                                                                                          \
		"api-key KEY", "OFFERD_API_KEY", CONFIG_STR, offsetof(type, field), NULL, 0, 0,    \
		    "sent as Authorization: Bearer KEY; needed unless offerd runs with --auth off" \
	}
/* The requests in flight of client.h's engine; dflt is the command's default as text. */
#define CTL_OPT_CONCURRENCY(type, field, dflt)                                     \
	{                                                                          \
		"concurrency N", NULL, CONFIG_INT, offsetof(type, field), dflt, 1, \
		    CLIENT_CONCURRENCY_MAX, "requests in flight"                   \
	}

/* The --database-url row every database command has; `field` is a char * in `type`. */
#define CTL_OPT_DATABASE_URL(type, field)                                              \
	{                                                                              \
		"database-url URL", "DATABASE_URL", CONFIG_STR, offsetof(type, field), \
		    CONFIG_DATABASE_URL_DEFAULT, 0, 0, CONFIG_DATABASE_URL_HELP        \
	}

#endif
