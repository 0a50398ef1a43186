/*
 * offerctl.c — the command-line tool: dispatches to a subcommand (ctl.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "log.h"
#include "util.h"

typedef struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} command;

static const command commands[] = {
    {"products", ctl_products, "products import FILE [--company C]   load a catalogue CSV"},
    {"agent", ctl_agent,
     "agent release VERSION --policy P [--epsilon E] [--params JSON] | agent list"},
    {"batch", ctl_batch, "batch INPUT.csv -o OUTPUT.csv [--url U] [--rules F] [--v2] ..."},
    {"replay", ctl_replay, "replay FILE.json [--v2] [--url U]   send each request, print answers"},
    {"train", ctl_train, "train --transactions FILE [--company C]   warm start from history"},
    {"simulate", ctl_simulate,
     "simulate --policy P|all [--episodes N] [--seed S] [--csv FILE] [--url U]   compare policies"},
    {"evaluate", ctl_evaluate,
     "evaluate --policy P [--from DATE]   off-policy estimate from logged episodes"},
    {"keys", ctl_keys, "keys create --company C | keys list | keys revoke PREFIX"},
    {"db", ctl_db, "db migrate | db count TABLE"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: offerctl COMMAND [ARGS]\n\n"
	           "Database commands take --database-url URL (default $DATABASE_URL, else "
	           "sqlite:var/offerd.db).\n"
	           "HTTP commands take --url URL (default http://127.0.0.1:8000) and --api-key KEY\n"
	           "(default $OFFERD_API_KEY).\n\n");
	for (size_t i = 0; i < UTIL_ARRAY_LEN(commands); i++)
		fprintf(f, "  %s\n", commands[i].help);
}

const char *ctl_database_url(const char *flag)
{
	const char *env = getenv("DATABASE_URL");

	if (flag != NULL && flag[0] != '\0')
		return flag;
	if (env != NULL && env[0] != '\0')
		return env;
	return "sqlite:var/offerd.db";
}

int main(int argc, char **argv)
{
	const char *lvl = getenv("OFFERD_LOG_LEVEL");
	enum log_level level = LOG_WARN;

	if (lvl != NULL)
		log_level_parse(lvl, &level);
	log_setup(level, 0);
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < UTIL_ARRAY_LEN(commands); i++) {
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "offerctl: unknown command \"%s\"\n\n", argv[1]);
	usage(stderr);
	return 2;
}
