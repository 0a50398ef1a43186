/*
 * ctl_rules.c — offerctl rules set|show: a company's rules and contact
 * policy (rules.h), versioned in tb_rules. `set` checks the file with the
 * parser offerd uses and stores it as the company's next version; every
 * offerd on the database puts it in force within one --refresh interval.
 * `show` prints the version in force and its text.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "db.h"
#include "rules.h"
#include "store.h"
#include "util.h"

typedef struct rules_opts {
	char *database_url;
	char *company;
} rules_opts;

#define R(field) offsetof(rules_opts, field)

static const config_opt opts_rules[] = {
    CTL_OPT_COMPANY(rules_opts, company, NULL, "the company the rules are for (required)"),
    CTL_OPT_DATABASE_URL(rules_opts, database_url),
};

static int check(const ctl_cmd *c);
static int rules_set(ctl_cmd *c);
static int rules_show(ctl_cmd *c);

static const ctl_spec spec_set = {
    CTL_USAGE("rules set", " --company C FILE [--database-url URL]",
              "Checks a rules file (eligibility rules and contact policy: README, Rules and caps)\n"
              "and stores it as the company's next version; offerd puts it in force within one\n"
              "--refresh interval. An empty file lifts every rule.\n"),
    CTL_OPTS(opts_rules, rules_opts),
    .min_args = 1,
    .max_args = 1,
    .check = check,
    .run = rules_set,
};

static const ctl_spec spec_show = {
    CTL_USAGE("rules show", " --company C [--database-url URL]",
              "Prints the version in force of the company's rules, then its text.\n"),
    CTL_OPTS(opts_rules, rules_opts),
    .check = check,
    .run = rules_show,
};

/* Both actions need --company. Returns -1 to go on, else 2 after reporting it. */
static int check(const ctl_cmd *c)
{
	const rules_opts *o = c->opts;

	if (o->company == NULL || o->company[0] == '\0')
		return ctl_usage(c->spec, "--company is required");
	return -1;
}

static int rules_set(ctl_cmd *c)
{
	const rules_opts *o = c->opts;
	const char *prog = c->spec->prog;
	const char *path = c->args[0];
	char err[512];
	char *text = NULL;
	rules *set = NULL;
	store *s;
	int64_t version = 0;
	size_t ncontact = 0;
	int rc;

	rc = rules_load(path, &set, &text, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		rc = 1;
		goto out;
	}
	rc = ctl_store(c, &s);
	if (rc != 0) {
		rc = 1;
		goto out;
	}
	rc = db_rules_put(s, o->company, text, &version);
	if (rc != 0) {
		fprintf(stderr, "%s: cannot store the rules: %s\n", prog, s->ops->errmsg(s));
		rc = 1;
		goto out;
	}
	(void)rules_contacts(set, &ncontact);
	printf("company %s: rules version %lld stored (%zu rules, %zu contact-policy lines)\n",
	       o->company, (long long)version, rules_count(set), ncontact);
	rc = 0;
out:
	rules_free(set);
	free(text);
	return rc;
}

static int show_cb(void *arg, const char *company, int64_t version, const char *body,
                   const char *created_at)
{
	int *found = arg;

	*found = 1;
	printf("# company %s, rules version %lld, stored %s\n%s", company, (long long)version,
	       created_at, body);
	if (body[0] != '\0' && body[strlen(body) - 1] != '\n')
		printf("\n");
	return 0;
}

static int rules_show(ctl_cmd *c)
{
	const rules_opts *o = c->opts;
	store *s;
	int found = 0;
	int rc;

	rc = ctl_store(c, &s);
	if (rc != 0)
		return 1;
	rc = db_rules_latest(s, o->company, show_cb, &found);
	if (rc != 0)
		fprintf(stderr, "%s: %s\n", c->spec->prog, s->ops->errmsg(s));
	else if (!found)
		printf("# company %s has no rules: every offer the client allows is eligible\n",
		       o->company);
	return rc != 0 ? 1 : 0;
}

int ctl_rules(int argc, char **argv)
{
	const ctl_spec *spec;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fprintf(
		    argc < 2 ? stderr : stdout,
		    "usage:\n  offerctl rules set --company C FILE\n  offerctl rules show --company C\n"
		    "\nEach takes --help.\n");
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "set") == 0) {
		spec = &spec_set;
	} else if (strcmp(argv[1], "show") == 0) {
		spec = &spec_show;
	} else {
		fprintf(stderr, "offerctl rules: unknown action \"%.80s\" (set or show)\n", argv[1]);
		return 2;
	}
	return ctl_run(spec, argc - 1, argv + 1);
}
