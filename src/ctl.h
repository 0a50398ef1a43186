/*
 * ctl.h — offerctl's subcommands. offerctl.c dispatches argv[1] to one of
 * these; each gets argc/argv starting at its own name (argv[0] = "batch"),
 * parses its own flags and returns the process exit code.
 */
#ifndef OFFERD_CTL_H
#define OFFERD_CTL_H

int ctl_products(int argc, char **argv);  /* products import FILE [--company C] */
int ctl_agent(int argc, char **argv);     /* agent release|list ... */
int ctl_batch(int argc, char **argv);     /* batch INPUT.csv -o OUTPUT.csv ... */
int ctl_replay(int argc, char **argv);    /* replay FILE.json [--v2] [--url U] */
int ctl_train(int argc, char **argv);     /* train --transactions FILE ... */
int ctl_simulate(int argc, char **argv);  /* simulate --policy P ... */
int ctl_evaluate(int argc, char **argv);  /* evaluate --policy P ... */
int ctl_keys(int argc, char **argv);      /* keys create|list|revoke ... */
int ctl_db(int argc, char **argv);        /* db migrate|count TABLE */

/* The database URL from --database-url, else $DATABASE_URL, else the default. */
const char *ctl_database_url(const char *flag);

#endif
