/*
 * ctl.h — offerctl's subcommands. offerctl.c dispatches argv[1] to one of
 * these, with argc/argv starting at its own name (argv[0] = "batch"); each
 * is a ctl_spec (its option table, checks and work) that ctl_run runs, and
 * returns the process exit code.
 */
#ifndef OFFERD_CTL_H
#define OFFERD_CTL_H

#include <stddef.h>
#include <stdio.h>

#include "client.h"
#include "config.h"
#include "db.h"
#include "util.h"

#define CTL_ARGS_MAX 4

typedef struct ctl_spec ctl_spec;

/* One run of a command: what ctl_run read from the command line. */
typedef struct ctl_cmd {
	const ctl_spec *spec;
	void *opts;                     /* the struct spec's table filled */
	const char *args[CTL_ARGS_MAX]; /* the plain arguments, nargs of them */
	size_t nargs;
	struct store *store; /* ctl_store's, or NULL until it is called; ctl_run closes it */
} ctl_cmd;

/*
 * A command: one option table (config.h) filling a struct of `size` bytes,
 * a count of plain arguments, and what runs once they are read. ctl_run
 * gives every command the same rules and the same steps: the struct zeroed
 * or preset (the "not given" marks the table cannot express), the table parsed
 * (--help or -h anywhere prints the help and exits 0 without doing anything;
 * an unknown option, an option of another command, a missing value or an
 * argument too many or too few is an error, exit 2), check, the --url and
 * --api-key rows checked when the table has them (CTL_OPT_NAME_URL, given),
 * run, the store closed if run opened it (ctl_store), the struct's strings
 * freed.
 */
struct ctl_spec {
	const char *prog;   /* "offerctl batch" */
	const char *usage;  /* the first lines of --help: usage and what it does */
	const char *footer; /* printed after the options (exit status...), or NULL */
	const config_opt *opts;
	size_t nopts;
	size_t size; /* of the struct opts fills */
	size_t min_args, max_args;
	/*
	 * The struct before the table is parsed, `size` bytes (numbers only:
	 * the "not given" marks a default cannot express), or NULL for zeros.
	 */
	const void *preset;
	/*
	 * Checks what the table cannot (a required option, an enumeration, a
	 * default that depends on another option) and derives fields, or NULL.
	 * Returns -1 to go on, else the exit status after reporting the error.
	 */
	int (*check)(const ctl_cmd *c);
	/* Does the command's work; returns the exit status. */
	int (*run)(ctl_cmd *c);
};

/*
 * A ctl_spec's name and help: "offerctl NAME" begins both the prog and the
 * usage line; SYNOPSIS (from a space) is the rest of that line, TEXT what the
 * command does.
 */
#define CTL_USAGE(name, synopsis, text) \
	.prog = "offerctl " name, .usage = "usage: offerctl " name synopsis "\n\n" text

/* A ctl_spec's option table, its length and the struct it fills. */
#define CTL_OPTS(table, type) .opts = (table), .nopts = UTIL_ARRAY_LEN(table), .size = sizeof(type)

/*
 * Runs the command spec describes over argv (argv[0] is the command's
 * name): the steps of struct ctl_spec, in order. Returns the exit status.
 */
int ctl_run(const ctl_spec *spec, int argc, char **argv);

/* The commands that are one spec each; offerctl.c runs them with ctl_run. */
extern const ctl_spec ctl_batch_spec;     /* batch INPUT.csv -o OUTPUT.csv ... */
extern const ctl_spec ctl_replay_spec;    /* replay FILE.json [--v2] [--url U] */
extern const ctl_spec ctl_train_spec;     /* train --transactions FILE ... */
extern const ctl_spec ctl_simulate_spec;  /* simulate --policy P ... */
extern const ctl_spec ctl_evaluate_spec;  /* evaluate --policy P ... */
extern const ctl_spec ctl_export_spec;    /* export --company C --format dsjson|csv ... */
extern const ctl_spec ctl_customers_spec; /* customers forget ID --company C */

/*
 * The families of actions (products import, agent release|list..., keys
 * create|list|revoke, db migrate|count; rules set|show): each picks the
 * action's spec by argv[1] and runs it. Return the exit status.
 */
int ctl_products(int argc, char **argv);
int ctl_agent(int argc, char **argv);
int ctl_keys(int argc, char **argv);
int ctl_db(int argc, char **argv);
int ctl_rules(int argc, char **argv);

/*
 * Reports a usage error as "prog: what is wrong (see prog --help)" on
 * stderr and returns 2, the exit status of a usage error.
 */
int ctl_usage(const ctl_spec *spec, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct store;
/*
 * Opens the store at url and brings its schema up to date; prog names the
 * command in the messages. Returns 0 and the store in *out (the caller
 * closes it with store_close()), or the error code after reporting it,
 * with *out NULL.
 */
int ctl_open_db(const char *prog, const char *url, struct store **out);
/*
 * The command's store: the one its --database-url row names (the table
 * must have CTL_OPT_DATABASE_URL), opened and migrated by ctl_open_db on
 * the first call, the same one after; ctl_run closes it when run returns.
 * A command calls it once its arguments are checked, so a usage error or a
 * bad file never creates a database. Returns 0 and the store in *out, or
 * the error code after reporting it.
 */
int ctl_store(ctl_cmd *c, struct store **out);

/*
 * The --url and --api-key rows every command that calls offerd over HTTP
 * has; ctl_run checks the rows of these names (a --url that may be absent,
 * NULL, is checked when given).
 */
#define CTL_OPT_NAME_URL "url URL"
#define CTL_OPT_NAME_API_KEY "api-key KEY"
#define CTL_URL_DEFAULT "http://127.0.0.1:8000"
#define CTL_OPT_URL(type, field)                                                                       \
	{                                                                                              \
		CTL_OPT_NAME_URL, "OFFERD_URL", CONFIG_STR, offsetof(type, field), CTL_URL_DEFAULT, 0, \
		    0, "offerd's address"                                                              \
	}
#define CTL_OPT_API_KEY(type, field)                                                                   \
	{                                                                                              \
		CTL_OPT_NAME_API_KEY, "OFFERD_API_KEY", CONFIG_STR, offsetof(type, field), NULL, 0, 0, \
		    "sent as Authorization: Bearer KEY; needed unless offerd runs with --auth off"     \
	}
/* The requests in flight of client.h's engine; dflt is the command's default as text. */
#define CTL_OPT_CONCURRENCY(type, field, dflt)                                     \
	{                                                                          \
		"concurrency N", NULL, CONFIG_INT, offsetof(type, field), dflt, 1, \
		    CLIENT_CONCURRENCY_MAX, "requests in flight"                   \
	}

/* A --company row: the tenant, a name of 1 to DB_COMPANY_MAX - 1 bytes (offerd would cut a
 * longer one into another company's) without control characters (config.c); `field` is a
 * char * in `type`. */
#define CTL_OPT_COMPANY(type, field, dflt, help)                                                        \
	{                                                                                               \
		"company C", NULL, CONFIG_STR, offsetof(type, field), dflt, 1, DB_COMPANY_MAX - 1, help \
	}

/* The --epsilon row of the commands that make an agent (agent release, simulate). */
#define CTL_OPT_EPSILON(type, field)                                               \
	{                                                                          \
		"epsilon E", NULL, CONFIG_DBL, offsetof(type, field), "0.1", 0, 1, \
		    "epsilon-greedy's exploration"                                 \
	}

/* The --params row of the commands that make or replay an agent (agent release, simulate,
 * evaluate): the policy's knobs as JSON, checked by agent_conf_from_db; `help` says which. */
#define CTL_OPT_PARAMS(type, field, help)                                                \
	{                                                                                \
		"params JSON", NULL, CONFIG_STR, offsetof(type, field), NULL, 0, 0, help \
	}

/* The --from and --to rows of the commands that read a window of the log (export, evaluate):
 * the episodes' write time, by date_window_parse's rules. */
#define CTL_OPT_FROM(type, field)                                                                    \
	{                                                                                            \
		"from DATE", NULL, CONFIG_STR, offsetof(type, field), NULL, 0, 0,                    \
		    "episodes written at or after DATE: a day YYYY-MM-DD, or an ISO 8601 date-time " \
		    "(UTC without a zone); default: the first"                                       \
	}
#define CTL_OPT_TO(type, field)                                                                      \
	{                                                                                            \
		"to DATE", NULL, CONFIG_STR, offsetof(type, field), NULL, 0, 0,                      \
		    "episodes written through the day DATE, or before the date-time DATE; default: " \
		    "the last"                                                                       \
	}

/* The --database-url row every database command has, which ctl_store reads; `field` is a
 * char * in `type`. */
#define CTL_OPT_NAME_DATABASE_URL "database-url URL"
#define CTL_OPT_DATABASE_URL(type, field)                                                     \
	{                                                                                     \
		CTL_OPT_NAME_DATABASE_URL, "DATABASE_URL", CONFIG_STR, offsetof(type, field), \
		    CONFIG_DATABASE_URL_DEFAULT, 0, 0, CONFIG_DATABASE_URL_HELP               \
	}

#endif
