/*
 * ctl.h — offerctl's subcommands. offerctl.c dispatches argv[1] to one of
 * these; each gets argc/argv starting at its own name (argv[0] = "batch"),
 * parses its own flags and returns the process exit code.
 */
#ifndef OFFERD_CTL_H
#define OFFERD_CTL_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"

int ctl_products(int argc, char **argv);  /* products import FILE [--company C] */
int ctl_agent(int argc, char **argv);     /* agent release|list ... */
int ctl_batch(int argc, char **argv);     /* batch INPUT.csv -o OUTPUT.csv ... */
int ctl_replay(int argc, char **argv);    /* replay FILE.json [--v2] [--url U] */
int ctl_train(int argc, char **argv);     /* train --transactions FILE ... */
int ctl_simulate(int argc, char **argv);  /* simulate --policy P ... */
int ctl_evaluate(int argc, char **argv);  /* evaluate --policy P ... */
int ctl_keys(int argc, char **argv);      /* keys create|list|revoke ... */
int ctl_db(int argc, char **argv);        /* db migrate|count TABLE */

/*
 * How a command reads its arguments: one option table (config.h) and a
 * count of plain arguments. ctl_parse gives every command the same rules:
 * --help (or -h) anywhere prints the help and exits 0 without doing
 * anything; an unknown option, an option of another command, a missing
 * value or an argument too many or too few is an error (exit 2).
 */
typedef struct ctl_spec {
	const char *prog;        /* "offerctl batch" */
	const char *usage;       /* the first lines of --help: usage and what it does */
	const char *footer;      /* printed after the options (exit status...), or NULL */
	const config_opt *opts;
	size_t nopts;
	size_t min_args, max_args;
} ctl_spec;

#define CTL_ARGS_MAX 4

/*
 * Parses argv (argv[0] is the command's name) into target and args (at
 * most CTL_ARGS_MAX). Returns -1 to go on, else the exit status: 0 after
 * --help was printed, 2 after a usage error was reported.
 */
int ctl_parse(const ctl_spec *spec, void *target, int argc, char **argv, const char **args,
              size_t *nargs);
/* Prints spec's help: usage, the options from its table, the footer. */
void ctl_help(const ctl_spec *spec, FILE *f);

/* The --database-url row every database command has; `field` is a char * in `type`. */
#define CTL_OPT_DATABASE_URL(type, field)                                                       \
	{"database-url URL", "DATABASE_URL", CONFIG_STR, offsetof(type, field),                     \
	 "sqlite:var/offerd.db", 0, 0, "sqlite:PATH or postgresql://user@host:port/db"}

#endif
