/*
 * offerctl.c — the command-line tool: dispatches to a subcommand (ctl.h),
 * and the steps and argument rules every subcommand shares (ctl_run, and
 * ctl_parse over an option table of config.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "ctl.h"
#include "db.h"
#include "log.h"
#include "store.h"
#include "util.h"

typedef struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} command;

static const command commands[] = {
    {"products", ctl_products, "products import FILE [--company C]   load a catalogue CSV"},
    {"agent", ctl_agent,
     "agent release VERSION --policy P [--traffic PCT | --shadow] | agent promote [VERSION] | "
     "agent rollback | agent status | agent list"},
    {"batch", ctl_batch, "batch INPUT.csv -o OUTPUT.csv [--url U] [--rules F] [--v2] ..."},
    {"replay", ctl_replay, "replay FILE.json [--v2] [--url U]   send each request, print answers"},
    {"train", ctl_train, "train --transactions FILE [--company C]   warm start from history"},
    {"simulate", ctl_simulate,
     "simulate --policy P|all [--episodes N] [--seed S] [--csv FILE] [--url U]   compare policies"},
    {"evaluate", ctl_evaluate,
     "evaluate --policy P [--from DATE]   off-policy estimate from logged episodes"},
    {"keys", ctl_keys, "keys create --company C | keys list | keys revoke PREFIX"},
    {"db", ctl_db, "db migrate | db count TABLE"},
    {"rules", ctl_rules, "rules set --company C FILE | rules show --company C   rules and caps"},
    {"export", ctl_export, "export --company C [--from D] [--to D] --format dsjson|csv [-o FILE]"},
    {"customers", ctl_customers,
     "customers forget ID [--company C]   erase a customer and what it taught"},
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: offerctl COMMAND [ARGS]   (offerctl COMMAND --help for its options)\n\n"
	    "Database commands take --database-url URL (default $DATABASE_URL, else " CONFIG_DATABASE_URL_DEFAULT
	    ").\n"
	    "HTTP commands take --url URL (default $OFFERD_URL, else " CTL_URL_DEFAULT ")\n"
	    "and --api-key KEY (default $OFFERD_API_KEY).\n\n");
	for (size_t i = 0; i < UTIL_ARRAY_LEN(commands); i++)
		fprintf(f, "  %s\n", commands[i].help);
}

void ctl_help(const ctl_spec *spec, FILE *f)
{
	fputs(spec->usage, f);
	if (spec->nopts > 0) {
		fputs("\n", f);
		config_opts_help(f, spec->opts, spec->nopts);
	}
	fputs("  -h, --help             this text\n", f);
	if (spec->footer != NULL) {
		fputs("\n", f);
		fputs(spec->footer, f);
	}
}

int ctl_parse(const ctl_spec *spec, void *target, int argc, char **argv, const char **args,
              size_t *nargs)
{
	const char *none[1];
	size_t nnone;
	size_t max = spec->max_args < CTL_ARGS_MAX ? spec->max_args : CTL_ARGS_MAX;
	int rc;

	/* A command that takes no plain arguments passes no array for them. */
	if (args == NULL) {
		args = none;
		max = 0;
	}
	if (nargs == NULL)
		nargs = &nnone;
	rc = config_opts_parse(spec->prog, spec->opts, spec->nopts, target, argc, argv, args, max,
	                       nargs);
	if (rc == CONFIG_HELP) {
		ctl_help(spec, stdout);
		return 0;
	}
	if (rc != 0)
		return 2;
	if (*nargs < spec->min_args) {
		const char *nl = strchr(spec->usage, '\n');

		/* The first line of the help is the usage line. */
		fprintf(stderr, "%s: missing arguments; %.*s\n", spec->prog,
		        (int)(nl != NULL ? nl - spec->usage : (long)strlen(spec->usage)), spec->usage);
		return 2;
	}
	return -1;
}

int ctl_run(const ctl_spec *spec, int argc, char **argv)
{
	void *o = xcalloc(1, spec->size);
	const char *args[CTL_ARGS_MAX] = {NULL};
	size_t nargs = 0;
	int rc;

	if (spec->init != NULL)
		spec->init(o);
	rc = ctl_parse(spec, o, argc, argv, args, &nargs);
	if (rc < 0 && spec->check != NULL)
		rc = spec->check(spec, o, args, nargs);
	if (rc < 0)
		rc = spec->run(spec, o, args, nargs);
	ctl_free(spec, o);
	free(o);
	return rc;
}

void ctl_free(const ctl_spec *spec, void *target)
{
	config_opts_free(spec->opts, spec->nopts, target);
}

int ctl_usage(const ctl_spec *spec, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", spec->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see %s --help)\n", spec->prog);
	return 2;
}

int ctl_check_server(const ctl_spec *spec, const char *url, const char *api_key)
{
	const char *why;

	if (client_check_url(url) != 0) {
		fprintf(stderr, "%s: --url must be an http:// or https:// address, got '%.100s'\n",
		        spec->prog, url != NULL ? url : "");
		return 2;
	}
	if (api_key != NULL && client_check_key(api_key, &why) != 0) {
		fprintf(stderr, "%s: %s\n", spec->prog, why);
		return 2;
	}
	return 0;
}

int ctl_open_db(const char *prog, const char *url, store **out)
{
	int rc = store_open(url, out);

	if (rc != 0) {
		fprintf(stderr, "%s: cannot open %s\n", prog, url);
		return rc;
	}
	rc = db_migrate(*out);
	if (rc != 0) {
		fprintf(stderr, "%s: cannot prepare the schema: %s\n", prog, (*out)->ops->errmsg(*out));
		store_close(*out);
		*out = NULL;
	}
	return rc;
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
