/*
 * config.h — offerd's configuration as one declarative table (name, env
 * variable, type, default, bounds, help), as Redis does. Flags win over the
 * environment, which wins over defaults. `offerd --help` and the README's
 * configuration table are printed from the same table.
 */
#ifndef OFFERD_CONFIG_H
#define OFFERD_CONFIG_H

#include <stddef.h>

typedef struct offerd_config {
	char *host;
	int port;
	char *database_url;
	int threads;
	char *share_dir;
	char *company;          /* tenant when auth is off */
	char *auth;             /* "on" or "off" */
	int queue_max;
	int batch_max;
	int writers;            /* database writer connections (PostgreSQL) */
	double refresh;         /* seconds between reloads of agents/values/catalogue */
	int body_max;           /* JSON bodies */
	int batch_body_max;     /* /batch CSV bodies, MiB */
	int conn_limit;
	int per_ip_limit;
	int conn_timeout;
	int head_timeout;       /* seconds for a complete request head */
	int header_limit;
	char *cors_origin;      /* origins allowed to call from a browser, comma-separated */
	double rate;            /* requests per second per key, 0 = unlimited */
	int rate_burst;
	char *log_level;
	char *log_format;
	char *access_log;       /* "on" or "off" */
} offerd_config;

/* Fills c from defaults, then the environment, then argv. Returns 0, 1 after
 * --help/--routes/--version were handled (caller exits 0), or -1 on error. */
int config_load(offerd_config *c, int argc, char **argv);
void config_free(offerd_config *c);
/* Prints the table as Markdown (for the README). */
void config_print_markdown(void);

#endif
