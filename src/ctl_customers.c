/*
 * ctl_customers.c — `offerctl customers forget ID --company C`: erasure
 * (issue 16.3) from the command line, the same writer transaction as
 * DELETE /customers/{customer_id} (writer_run_batch): the customer's
 * episodes, rewards, segment and Idempotency-Keys are deleted, their
 * contributions subtracted from TB_POLICY and TB_MODEL, and TB_ERASURES
 * records the erasure "by offerctl". A running offerd picks the changed
 * statistics up at its next refresh (by revision), like any other
 * process's writes.
 *
 *   offerctl customers forget ID [--company C] [--database-url URL]
 */
#include "ctl.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "customer.h"
#include "db.h"
#include "model.h"
#include "request.h"
#include "store.h"
#include "util.h"
#include "values.h"
#include "writer.h"

typedef struct customers_opts {
	char *database_url;
	char *company;
} customers_opts;

#define O(field) offsetof(customers_opts, field)

static const config_opt opts[] = {
    CTL_OPT_DATABASE_URL(customers_opts, database_url),
    CTL_OPT_COMPANY(customers_opts, company, "A", "tenant the customer belongs to"),
};

/* The current agent configuration, with models for the contextual policies. */
static int current_conf(store *s, agent_conf *conf)
{
	db_agent a;
	char err[256];
	int rc;

	memset(&a, 0, sizeof(a));
	rc = db_agent_latest(s, &a);
	if (rc == 0 && agent_conf_from_db(&a, conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "offerctl customers: agent %s: %s\n", a.version, err);
		rc = ERR_INVAL;
	}
	db_agent_clear(&a);
	return rc;
}

static int run(ctl_cmd *c)
{
	const customers_opts *o = c->opts;
	agent_conf conf;
	writer_op op;
	values *v = NULL;
	store *s;
	int code = 1;

	memset(&conf, 0, sizeof(conf));
	if (ctl_store(c, &s) != 0 || current_conf(s, &conf) != 0)
		goto out;
	conf.models = model_set_new();
	v = values_new();
	memset(&op, 0, sizeof(op));
	op.kind = WOP_ERASE;
	op.rin.company = o->company;
	op.rin.customer_id = c->args[1];
	op.erasure.by = "offerctl";
	writer_run_batch(s, v, &conf, &op);
	if (op.rc == ERR_NOTFOUND) {
		fprintf(stderr, "offerctl customers: company %s has no customer %s\n", o->company,
		        c->args[1]);
		code = 3;
	} else if (op.rc != 0) {
		fprintf(stderr,
		        "offerctl customers: the erasure failed (error %d); nothing was deleted\n",
		        op.rc);
	} else {
		printf("erased: %lld episodes, %lld rewards (%lld learned, subtracted%s), %lld segment "
		       "rows\n",
		       (long long)op.erasure.episodes, (long long)op.erasure.rewards,
		       (long long)op.erasure.learned,
		       op.erasure.approximate ? " approximately: forgetting < 1" : " exactly",
		       (long long)op.erasure.segments);
		code = 0;
	}
out:
	model_set_free(conf.models);
	values_free(v);
	return code;
}

/* Returns -1 to go on, else 2 after reporting a usage error. */
static int check(const ctl_cmd *c)
{
	char why[160];

	if (strcmp(c->args[0], "forget") != 0)
		return ctl_usage(c->spec, "unknown subcommand \"%.40s\"; the one known is forget",
		                 c->args[0]);
	if (customer_id_check(c->args[1], why, sizeof(why)) != 0)
		return ctl_usage(c->spec, "%s", why);
	return -1;
}

/* Exit codes: 0 erased (or --help), 1 failed, 2 bad usage, 3 unknown customer. */
const ctl_spec ctl_customers_spec = {
    CTL_USAGE("customers", " forget ID [--company C] [--database-url URL]",
              "Erases customer ID of company C: its episodes, rewards, segment and\n"
              "Idempotency-Keys are deleted and what they taught is subtracted from the\n"
              "learned statistics, in one transaction; tb_erasures records that an\n"
              "erasure happened, without the customer's id.\n"),
    .footer = "Exit status: 0 erased, 1 failed, 2 bad usage, 3 no such customer.\n",
    CTL_OPTS(opts, customers_opts),
    .min_args = 2,
    .max_args = 2,
    .check = check,
    .run = run,
};
