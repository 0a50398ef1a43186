/*
 * offerctl.c — the command-line tool: dispatches to a subcommand (ctl.h),
 * and the steps and argument rules every subcommand shares (ctl_run over
 * an option table of config.h).
 */
#include <assert.h>
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

/* A command is a spec that ctl_run runs, or a family of actions (fn). */
typedef struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const ctl_spec *spec;
	const char *help;
} command;

static const command commands[] = {
    {"products", ctl_products, NULL, "products import FILE [--company C]   load a catalogue CSV"},
    {"agent", ctl_agent, NULL,
     "agent release VERSION --policy P [--traffic PCT | --shadow] | agent promote [VERSION] | "
     "agent rollback | agent status | agent list"},
    {"batch", NULL, &ctl_batch_spec, "batch INPUT.csv -o OUTPUT.csv [--url U] [--rules F] [--v2] ..."},
    {"replay", NULL, &ctl_replay_spec,
     "replay FILE.json [--v2] [--url U]   send each request, print answers"},
    {"train", NULL, &ctl_train_spec,
     "train --transactions FILE [--company C]   warm start from history"},
    {"simulate", NULL, &ctl_simulate_spec,
     "simulate --policy P|all [--episodes N] [--seed S] [--csv FILE] [--url U]   compare policies"},
    {"evaluate", NULL, &ctl_evaluate_spec,
     "evaluate --policy P [--from DATE]   off-policy estimate from logged episodes"},
    {"keys", ctl_keys, NULL, "keys create --company C | keys list | keys revoke PREFIX"},
    {"db", ctl_db, NULL, "db migrate | db count TABLE"},
    {"rules", ctl_rules, NULL, "rules set --company C FILE | rules show --company C   rules and caps"},
    {"export", NULL, &ctl_export_spec,
     "export --company C [--from D] [--to D] --format dsjson|csv [-o FILE]"},
    {"customers", NULL, &ctl_customers_spec,
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

/* Prints spec's help: usage, the options from its table, the footer. */
static void print_help(const ctl_spec *spec, FILE *f)
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

/*
 * Parses argv (argv[0] is the command's name) into target and args (at
 * most CTL_ARGS_MAX). Returns -1 to go on, else the exit status: 0 after
 * --help was printed, 2 after a usage error was reported.
 */
static int parse_args(const ctl_spec *spec, void *target, int argc, char **argv, const char **args,
                      size_t *nargs)
{
	size_t max = spec->max_args < CTL_ARGS_MAX ? spec->max_args : CTL_ARGS_MAX;
	int rc;

	rc = config_opts_parse(spec->prog, spec->opts, spec->nopts, target, argc, argv, args, max,
	                       nargs);
	if (rc == CONFIG_HELP) {
		print_help(spec, stdout);
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

/*
 * The rule of every command that calls offerd over HTTP: its --url and
 * --api-key, the rows of those names in its table (a --url without a
 * default is checked when given). Returns -1 to go on, else 2 after
 * reporting what is wrong.
 */
static int check_server(const ctl_spec *spec, const void *opts)
{
	const char *url = NULL;
	const char *api_key = NULL;
	const char *why;

	for (size_t i = 0; i < spec->nopts; i++) {
		const config_opt *row = &spec->opts[i];
		const char **field = NULL;

		if (strcmp(row->name, CTL_OPT_NAME_URL) == 0)
			field = &url;
		else if (strcmp(row->name, CTL_OPT_NAME_API_KEY) == 0)
			field = &api_key;
		/* Both rows are CONFIG_STR: the field is a char *. */
		if (field != NULL)
			memcpy(field, (const char *)opts + row->offset, sizeof(*field));
	}
	if (url == NULL)
		return -1;
	if (client_check_url(url) != 0) {
		fprintf(stderr, "%s: --url must be an http:// or https:// address, got '%.100s'\n",
		        spec->prog, url);
		return 2;
	}
	if (api_key != NULL && client_check_key(api_key, &why) != 0) {
		fprintf(stderr, "%s: %s\n", spec->prog, why);
		return 2;
	}
	return -1;
}

int ctl_run(const ctl_spec *spec, int argc, char **argv)
{
	ctl_cmd c;
	int rc;

	memset(&c, 0, sizeof(c));
	c.spec = spec;
	c.opts = xcalloc(1, spec->size);
	if (spec->preset != NULL)
		memcpy(c.opts, spec->preset, spec->size);
	rc = parse_args(spec, c.opts, argc, argv, c.args, &c.nargs);
	if (rc < 0 && spec->check != NULL)
		rc = spec->check(&c);
	if (rc < 0)
		rc = check_server(spec, c.opts);
	if (rc < 0)
		rc = spec->run(&c);
	store_close(c.store);
	config_opts_free(spec->opts, spec->nopts, c.opts);
	free(c.opts);
	return rc;
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

int ctl_open_db(const char *prog, const char *url, store **out)
{
	int rc = store_open(url, out);

	if (rc != 0) {
		char safe[256];

		store_url_safe(url, safe, sizeof(safe));
		fprintf(stderr, "%s: cannot open %s\n", prog, safe);
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

int ctl_store(ctl_cmd *c, store **out)
{
	const char *url = NULL;
	int rc;

	if (c->store == NULL) {
		for (size_t i = 0; i < c->spec->nopts; i++) {
			const config_opt *row = &c->spec->opts[i];

			/* A CONFIG_STR row: the field is a char *. */
			if (strcmp(row->name, CTL_OPT_NAME_DATABASE_URL) == 0)
				memcpy(&url, (const char *)c->opts + row->offset, sizeof(url));
		}
		/* Only the commands with the row call this, and the row has a default. */
		assert(url != NULL);
		rc = ctl_open_db(c->spec->prog, url, &c->store);
		if (rc != 0)
			return rc;
	}
	*out = c->store;
	return 0;
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
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		if (commands[i].spec != NULL)
			return ctl_run(commands[i].spec, argc - 1, argv + 1);
		return commands[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "offerctl: unknown command \"%s\"\n\n", argv[1]);
	usage(stderr);
	return 2;
}
