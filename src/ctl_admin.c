/*
 * ctl_admin.c — offerctl's database commands: products, agent, keys, db.
 * Each action has its own option table and, when it takes more than the
 * table can check, a check (the table at the end of the file). action_run
 * runs the action on the store named by --database-url, migrated (so the
 * actions work on a fresh database), once the action's check has passed: a
 * usage error never creates a database.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "auth.h"
#include "csvread.h"
#include "ctl.h"
#include "customer.h"
#include "db.h"
#include "experiment.h"
#include "log.h"
#include "store.h"
#include "strmap.h"
#include "util.h"

#define PRODUCTS_MAX 100000

/* --- products import ------------------------------------------------------ */

typedef struct prod_reader {
	csvr *csv;
	int col_offer; /* column index of the offer id, -1 until the header */
	int col_name;
	db_product *items;
	size_t n, cap;
	strmap *lines; /* offer id -> the line that named it, for duplicates */
} prod_reader;

/* A catalogue is a short comma-separated file: ID,OFFERS,NAME. */
static const csvr_options products_csv = {
    .delim = ',',
    .columns_max = 64,
    .field_max = 1024,
    .field_hard_max = 64 * 1024,
    .field_hard_rc = ERR_INVAL,
    .header_max = 64 * 1024,
    .rows_max = PRODUCTS_MAX + 1, /* one over, so the message below names the limit */
};

/* Header: ID,OFFERS,NAME as the client sent it; OFFER_ID/PRODUCT_NAME too. */
static int prod_header(prod_reader *p, const csvr_row *row)
{
	for (int i = 0; i < row->nkept; i++) {
		const char *h = util_trim(row->field[i]);

		if (csvr_name_is(h, "OFFERS") || csvr_name_is(h, "OFFER") || csvr_name_is(h, "OFFER_ID"))
			p->col_offer = i;
		else if (csvr_name_is(h, "NAME") || csvr_name_is(h, "PRODUCT_NAME") ||
		         csvr_name_is(h, "PRODUCT"))
			p->col_name = i;
	}
	if (p->col_offer < 0 || p->col_name < 0)
		return csvr_fail(p->csv, ERR_INVAL,
		                 "the header must name an OFFERS (or OFFER_ID) and a NAME column");
	return 0;
}

static int prod_row(void *arg, const csvr_row *row)
{
	prod_reader *p = arg;
	long long line = (long long)row->row + 1; /* the header is line 1 */
	char id[CUSTOMER_OFFER_ID_MAX + 1];
	char line_text[24];
	const char *offer;
	const char *name;
	const char *first;

	if (row->row == 0)
		return prod_header(p, row);
	if (p->col_offer >= row->nkept || p->col_name >= row->nkept)
		return csvr_fail(p->csv, ERR_INVAL, "line %lld: missing columns", line);
	if (row->problem[p->col_offer] != CSVR_FIELD_OK || row->problem[p->col_name] != CSVR_FIELD_OK)
		return csvr_fail(p->csv, ERR_INVAL,
		                 "line %lld: a field is longer than %zu bytes or "
		                 "holds a NUL",
		                 line, products_csv.field_max);
	offer = util_trim(row->field[p->col_offer]);
	name = util_trim(row->field[p->col_name]);
	if (offer[0] == '\0')
		return csvr_fail(p->csv, ERR_INVAL, "line %lld: empty offer id", line);
	/* Stored under the id /predict-v2 looks up: Offer_1 is OFFER_1 (customer.h). An id no
	 * request can name, or a name no answer can carry, is an error, never a dead row; an empty
	 * name is an offer without one (null in /predict-v2). */
	if (customer_offer_id(offer, id, sizeof(id)) != 0 || !util_utf8_valid(offer))
		return csvr_fail(
		    p->csv, ERR_INVAL,
		    "line %lld: \"%.64s\" is not an offer id (OFFER_<n>, or 1 to %d bytes of "
		    "UTF-8 without commas or control characters)",
		    line, offer, CUSTOMER_OFFER_ID_MAX);
	if (!util_utf8_valid(name))
		return csvr_fail(p->csv, ERR_INVAL,
		                 "line %lld: the name of %s is not UTF-8 (save the file as UTF-8)", line,
		                 id);
	if (strmap_get(p->lines, id, &first))
		return csvr_fail(p->csv, ERR_INVAL, "line %lld: %s is listed twice (first on line %s)",
		                 line, id, first);
	if (p->n >= PRODUCTS_MAX)
		return csvr_fail(p->csv, ERR_TOOBIG, "more than %d products", PRODUCTS_MAX);
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->items = xrealloc(p->items, p->cap * sizeof(*p->items));
	}
	snprintf(line_text, sizeof(line_text), "%lld", line);
	strmap_put(p->lines, id, line_text);
	p->items[p->n].offer_id = xstrdup(id);
	p->items[p->n].name = xstrdup(name);
	p->n++;
	return 0;
}

static void products_free(db_product *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(items[i].offer_id);
		free(items[i].name);
	}
	free(items);
}

/*
 * Reads the catalogue at path. Returns 0 and its products in *items and *n
 * (products_free frees them), or 1 after reporting what is wrong.
 */
static int products_read(const char *path, db_product **items, size_t *n)
{
	prod_reader p;
	FILE *f = fopen(path, "rb");
	char chunk[8192];
	size_t got;
	int crc = 0;

	memset(&p, 0, sizeof(p));
	p.col_offer = -1;
	p.col_name = -1;
	if (f == NULL) {
		fprintf(stderr, "offerctl: cannot read %s: %s\n", path, strerror(errno));
		return 1;
	}
	p.lines = strmap_new();
	p.csv = csvr_new(&products_csv, prod_row, &p);
	while (crc == 0 && (got = fread(chunk, 1, sizeof(chunk), f)) > 0)
		crc = csvr_feed(p.csv, chunk, got);
	if (crc == 0)
		crc = csvr_finish(p.csv);
	fclose(f);
	if (crc != 0)
		fprintf(stderr, "offerctl: %s: %s\n", path, csvr_error(p.csv));
	else if (p.n == 0)
		fprintf(stderr, "offerctl: %s: no products\n", path);
	csvr_free(p.csv);
	strmap_free(p.lines);
	if (crc != 0 || p.n == 0) {
		products_free(p.items, p.n);
		return 1;
	}
	*items = p.items;
	*n = p.n;
	return 0;
}

/* --- agent versions --------------------------------------------------------- */

/*
 * Agent versions are semantic versions (semver.org 2.0.0): MAJOR.MINOR.PATCH
 * with an optional -PRERELEASE and +BUILD, identifiers of [0-9A-Za-z-], no
 * leading zeros in numbers. A release must be higher than every version
 * released before, because offerd serves (and /is-alive shows) the latest
 * release: with versions rising, the latest is always the highest.
 *
 * Checked here, through the existing TB_AGENTS reads, rather than by a
 * unique index: that would need a migration in db.c. Two offerctl processes
 * releasing at the same moment could still both pass.
 */
typedef struct semver {
	uint64_t core[3];
	const char *pre; /* after '-', up to '+' or the end; NULL when none */
	size_t pre_len;
} semver;

#define SEMVER_NUM_MAX 999999999ULL

/* A dot-separated identifier list; numeric identifiers without leading zeros when strict. */
static int semver_idents(const char *s, size_t n, int strict_numbers)
{
	size_t start = 0;

	if (n == 0)
		return ERR_INVAL;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			int numeric = 1;

			if (i == start)
				return ERR_INVAL;
			for (size_t k = start; k < i; k++) {
				char c = s[k];

				if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
				      (c >= 'A' && c <= 'Z') || c == '-'))
					return ERR_INVAL;
				if (c < '0' || c > '9')
					numeric = 0;
			}
			if (strict_numbers && numeric && i - start > 1 && s[start] == '0')
				return ERR_INVAL;
			start = i + 1;
		}
	}
	return 0;
}

static int semver_parse(const char *s, semver *v)
{
	const char *p = s;
	const char *plus;

	memset(v, 0, sizeof(*v));
	for (int k = 0; k < 3; k++) {
		const char *start = p;

		if (*p < '0' || *p > '9')
			return ERR_INVAL;
		while (*p >= '0' && *p <= '9') {
			v->core[k] = v->core[k] * 10 + (uint64_t)(*p - '0');
			if (v->core[k] > SEMVER_NUM_MAX)
				return ERR_RANGE;
			p++;
		}
		if (p - start > 1 && *start == '0')
			return ERR_INVAL;
		if (k < 2 && *p++ != '.')
			return ERR_INVAL;
	}
	plus = strchr(p, '+');
	if (*p == '-') {
		v->pre = p + 1;
		v->pre_len = plus != NULL ? (size_t)(plus - v->pre) : strlen(v->pre);
		if (semver_idents(v->pre, v->pre_len, 1) != 0)
			return ERR_INVAL;
		p = v->pre + v->pre_len;
	}
	if (*p == '+')
		return semver_idents(p + 1, strlen(p + 1), 0);
	return *p == '\0' ? 0 : ERR_INVAL;
}

/* Compares one pre-release identifier: numbers numerically, below text. */
static int semver_ident_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int anum = an > 0 && strspn(a, "0123456789") >= an;
	int bnum = bn > 0 && strspn(b, "0123456789") >= bn;
	int c;

	if (anum && bnum) {
		if (an != bn)
			return an < bn ? -1 : 1;
		c = memcmp(a, b, an);
		return (c > 0) - (c < 0);
	}
	if (anum != bnum)
		return anum ? -1 : 1;
	c = memcmp(a, b, an < bn ? an : bn);
	if (c != 0)
		return (c > 0) - (c < 0);
	return (an > bn) - (an < bn);
}

/* Semantic version precedence: <0, 0 or >0. Build metadata does not count. */
static int semver_cmp(const semver *a, const semver *b)
{
	size_t i = 0;
	size_t j = 0;

	for (int k = 0; k < 3; k++) {
		if (a->core[k] != b->core[k])
			return a->core[k] < b->core[k] ? -1 : 1;
	}
	if (a->pre == NULL || b->pre == NULL)
		return (a->pre == NULL) - (b->pre == NULL);
	while (i < a->pre_len && j < b->pre_len) {
		size_t an = strcspn(a->pre + i, ".+");
		size_t bn = strcspn(b->pre + j, ".+");
		int c;

		an = an < a->pre_len - i ? an : a->pre_len - i;
		bn = bn < b->pre_len - j ? bn : b->pre_len - j;
		c = semver_ident_cmp(a->pre + i, an, b->pre + j, bn);
		if (c != 0)
			return c;
		i += an + 1;
		j += bn + 1;
	}
	return (i < a->pre_len) - (j < b->pre_len);
}

typedef struct version_check {
	const char *version;
	semver v;
	char err[256];
} version_check;

static int version_row(void *arg, const db_agent *a)
{
	version_check *c = arg;
	const char *released = a->version;
	semver old;

	if (c->err[0] != '\0')
		return 0;
	if (strcmp(released, c->version) == 0) {
		snprintf(c->err, sizeof(c->err), "agent version %s is already released", c->version);
		return 0;
	}
	/* Versions released before this check (not semantic) cannot be ordered: skipped. */
	if (semver_parse(released, &old) == 0 && semver_cmp(&c->v, &old) <= 0)
		snprintf(c->err, sizeof(c->err),
		         "agent version %s is not higher than the released %.64s; versions only rise, "
		         "so the latest release is the highest (roll back by releasing the old "
		         "configuration under a higher version)",
		         c->version, released);
	return 0;
}

/* --- the actions ------------------------------------------------------------ */

/*
 * The options of every action here (each action's table fills what it
 * takes), then what an action's check derived from them for its run.
 */
typedef struct admin_opts {
	char *database_url;
	char *company;
	char *policy;
	double epsilon;
	char *params;
	char *role;
	char *traffic; /* agent release: the challenger's percent ("" or NULL: a plain release) */
	int shadow;    /* agent release: the challenger decides without serving */

	db_product *products; /* products import: the file, read */
	size_t nproducts;
	semver version;          /* agent release: the version, parsed */
	const char *policy_name; /* agent release: the policy's own name */
	double traffic_pct;      /* agent release: --traffic, parsed */
	int challenger;          /* agent release: --traffic or --shadow given */
} admin_opts;

/*
 * A listing's column: its heading and its width, for the headings and every
 * row alike (the last column's is 0: it runs to the end of the line).
 */
typedef struct column {
	const char *name;
	int width;
} column;

/* Prints a line of a listing: the headings when cells is NULL, else one cell a column. */
static void listing_line(const column *cols, size_t n, const char *const *cells)
{
	for (size_t i = 0; i < n; i++) {
		const char *text = cells != NULL ? cells[i] : cols[i].name;

		if (i + 1 < n)
			printf("%-*s ", cols[i].width, text);
		else
			printf("%s\n", text);
	}
}

#define LISTING_LINE(cols, cells) listing_line((cols), UTIL_ARRAY_LEN(cols), (cells))

/* products import: the file is read before the store opens, so a bad one touches nothing. */
static int products_check(const ctl_cmd *c)
{
	admin_opts *o = c->opts;

	return products_read(c->args[0], &o->products, &o->nproducts) == 0 ? -1 : 1;
}

static int products_import(store *s, const admin_opts *o, const char *const *args)
{
	(void)args;
	if (db_products_replace(s, o->company, o->products, o->nproducts) != 0) {
		fprintf(stderr, "offerctl: cannot store the catalogue: %s\n", s->ops->errmsg(s));
		return 1;
	}
	printf("imported %zu products for company %s\n", o->nproducts, o->company);
	return 0;
}

static const column agent_columns[] = {
    {"ID", 6}, {"VERSION", 12}, {"POLICY", 15}, {"EPSILON", 8}, {"RELEASED", 28}, {"PARAMS", 0},
};

static int agent_print(void *arg, const db_agent *a)
{
	char id[24];
	char epsilon[32];
	const char *cells[UTIL_ARRAY_LEN(agent_columns)] = {
	    id, a->version, a->policy, epsilon, a->released, a->params != NULL ? a->params : "",
	};

	(void)arg;
	snprintf(id, sizeof(id), "%lld", (long long)a->id);
	snprintf(epsilon, sizeof(epsilon), "%g", a->epsilon);
	LISTING_LINE(agent_columns, cells);
	return 0;
}

static int agents_list(store *s, const admin_opts *o, const char *const *args)
{
	(void)o;
	(void)args;
	LISTING_LINE(agent_columns, NULL);
	return db_agents_all(s, agent_print, NULL) == 0 ? 0 : 1;
}

/* agent release: the version and the configuration are checked exactly as offerd will read
 * them, so a bad release never lands. */
static int release_check(const ctl_cmd *c)
{
	admin_opts *o = c->opts;
	const char *version = c->args[0];
	db_agent a;
	agent_conf conf;
	char err[512];

	memset(&a, 0, sizeof(a));
	if (strlen(version) == 0 || strlen(version) >= DB_VERSION_MAX ||
	    semver_parse(version, &o->version) != 0) {
		fprintf(stderr,
		        "offerctl agent release: the version must be a semantic version of at "
		        "most %d characters, MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD] (1.2.0, "
		        "2.0.0-rc.1), got \"%.80s\"\n",
		        DB_VERSION_MAX - 1, version);
		return 2;
	}
	util_strlcpy(a.version, version, sizeof(a.version));
	util_strlcpy(a.policy, o->policy, sizeof(a.policy));
	a.epsilon = o->epsilon;
	a.params = o->params;
	if (agent_conf_from_db(&a, &conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "offerctl agent release: %s\n", err);
		return 2;
	}
	o->policy_name = agent_policy_name(conf.policy);
	o->challenger = o->shadow || (o->traffic != NULL && o->traffic[0] != '\0');
	if (o->traffic != NULL && o->traffic[0] != '\0' &&
	    util_strtod(o->traffic, 0.0, 100.0, &o->traffic_pct) != 0) {
		fprintf(stderr,
		        "offerctl agent release: --traffic must be a percent within [0, 100], got "
		        "\"%.40s\"\n",
		        o->traffic);
		return 2;
	}
	if (o->shadow && o->traffic != NULL && o->traffic[0] != '\0') {
		fprintf(stderr, "offerctl agent release: --shadow serves no traffic; give --traffic "
		                "or --shadow, not both\n");
		return 2;
	}
	return -1;
}

static int agent_release(store *s, const admin_opts *o, const char *const *args)
{
	const char *version = args[0];
	version_check check;
	db_experiment x;
	char err[512];

	memset(&check, 0, sizeof(check));
	check.version = version;
	check.v = o->version;
	if (db_agents_all(s, version_row, &check) != 0) {
		fprintf(stderr, "offerctl: cannot read the released versions: %s\n", s->ops->errmsg(s));
		return 1;
	}
	if (check.err[0] != '\0') {
		fprintf(stderr, "offerctl: %s\n", check.err);
		return 1;
	}
	if (!o->challenger) {
		if (db_agent_release(s, version, o->policy_name, o->epsilon, o->params) != 0) {
			fprintf(stderr, "offerctl: cannot release: %s\n", s->ops->errmsg(s));
			return 1;
		}
		printf("released agent %s (%s, epsilon %g); offerd picks it up within its refresh "
		       "interval (or at once on SIGHUP)\n",
		       version, o->policy_name, o->epsilon);
		return 0;
	}
	if (experiment_release(s, version, o->policy_name, o->epsilon, o->params, o->traffic_pct,
	                       o->shadow, &x, err, sizeof(err)) != 0) {
		fprintf(stderr, "offerctl: %s\n", err);
		return 1;
	}
	if (x.shadow)
		printf("released agent %s (%s) as a shadow of %s: it decides on every request and "
		       "serves none",
		       version, o->policy_name, x.champion);
	else
		printf("released agent %s (%s) as the challenger of %s for %g%% of each company's "
		       "customers",
		       version, o->policy_name, x.champion, x.traffic);
	printf("; offerd picks it up within its refresh interval\n");
	return 0;
}

/* promote [VERSION] and rollback: one experiment change each (experiment.h). */
static int agent_change(store *s, const char *version, int promote)
{
	db_experiment x;
	char err[512];
	int rc;

	rc = promote ? experiment_promote(s, version, &x, err, sizeof(err))
	             : experiment_rollback(s, &x, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "offerctl: %s\n", err);
		return rc == ERR_CONFLICT ? 2 : 1;
	}
	printf("agent %s is the champion (100%% of each company's customers); offerd picks it up "
	       "within its refresh interval\n",
	       x.champion);
	return 0;
}

static int agent_promote(store *s, const admin_opts *o, const char *const *args)
{
	(void)o;
	return agent_change(s, args[0], 1);
}

static int agent_rollback(store *s, const admin_opts *o, const char *const *args)
{
	(void)o;
	(void)args;
	return agent_change(s, NULL, 0);
}

static const column status_columns[] = {{"ROLE", 11}, {"VERSION", 12}, {"POLICY", 15}, {"TRAFFIC", 0}};

/* One line of agent status: the version's role, its policy and the percent it serves. */
static void status_print(store *s, const char *role, const char *version, double traffic)
{
	db_agent a;
	char pct[32];
	const char *cells[UTIL_ARRAY_LEN(status_columns)] = {role, version, NULL, pct};

	memset(&a, 0, sizeof(a));
	if (db_agent_by_version(s, version, &a) != 0)
		return;
	cells[2] = a.policy;
	snprintf(pct, sizeof(pct), "%g%%", traffic);
	LISTING_LINE(status_columns, cells);
	db_agent_clear(&a);
}

/* agent status: the set-up in force, as every offerd reads it. */
static int agent_status(store *s, const admin_opts *o, const char *const *args)
{
	db_experiment x;

	(void)o;
	(void)args;
	if (db_experiment_current(s, &x) != 0) {
		fprintf(stderr, "offerctl: cannot read the agent versions: %s\n", s->ops->errmsg(s));
		return 1;
	}
	LISTING_LINE(status_columns, NULL);
	status_print(s, "champion", x.champion,
	             x.challenger[0] != '\0' && !x.shadow ? 100 - x.traffic : 100);
	if (x.challenger[0] != '\0')
		status_print(s, x.shadow ? "shadow" : "challenger", x.challenger,
		             x.shadow ? 0 : x.traffic);
	return 0;
}

static int keys_check(const ctl_cmd *c)
{
	const admin_opts *o = c->opts;

	if (o->company == NULL || o->company[0] == '\0') {
		fprintf(stderr, "offerctl keys create: --company C is required\n");
		return 2;
	}
	if (strcmp(o->role, DB_ROLE_CLIENT) != 0 && strcmp(o->role, DB_ROLE_ADMIN) != 0) {
		fprintf(stderr, "offerctl keys create: --role must be client or admin, not \"%s\"\n",
		        o->role);
		return 2;
	}
	return -1;
}

static int keys_create(store *s, const admin_opts *o, const char *const *args)
{
	char key[AUTH_KEY_LEN + 1];
	char hash[AUTH_HASH_LEN + 1];
	char prefix[AUTH_PREFIX_LEN + 1];
	db_key k = {0};

	(void)args;
	if (auth_key_new(key) != 0)
		return 1;
	auth_hash(key, hash);
	auth_prefix(key, prefix);
	k.company = o->company;
	k.hash = hash;
	k.prefix = prefix;
	k.role = o->role;
	if (db_key_insert(s, &k) != 0) {
		fprintf(stderr, "offerctl: cannot store the key: %s\n", s->ops->errmsg(s));
		return 1;
	}
	/* The only time the key is shown: stdout holds just the key. */
	printf("%s\n", key);
	fprintf(stderr, "created a%s %s key for company %s (prefix %s); it is not stored, keep it\n",
	        o->role[0] == 'a' ? "n" : "", o->role, o->company, prefix);
	return 0;
}

/* ROLE goes before REVOKED so scripts reading PREFIX ($3) and the state ($NF) still work. */
static const column key_columns[] = {
    {"ID", 5}, {"COMPANY", 10}, {"PREFIX", 14}, {"CREATED", 28}, {"ROLE", 7}, {"REVOKED", 0},
};

static int key_print(void *arg, const db_key *k)
{
	char id[24];
	const char *cells[UTIL_ARRAY_LEN(key_columns)] = {
	    id, k->company, k->prefix, k->created, k->role, k->revoked != NULL ? k->revoked : "active",
	};

	(void)arg;
	snprintf(id, sizeof(id), "%lld", (long long)k->id);
	LISTING_LINE(key_columns, cells);
	return 0;
}

static int keys_list(store *s, const admin_opts *o, const char *const *args)
{
	(void)o;
	(void)args;
	LISTING_LINE(key_columns, NULL);
	return db_keys_each(s, key_print, NULL) == 0 ? 0 : 1;
}

/* What keys revoke found for its argument, through db_keys_each. */
typedef struct key_lookup {
	const char *what; /* a prefix or an id */
	int active;       /* matching keys not revoked */
	int revoked;      /* matching keys already revoked */
} key_lookup;

static int key_match(void *arg, const db_key *row)
{
	key_lookup *k = arg;
	char idtext[24];

	snprintf(idtext, sizeof(idtext), "%lld", (long long)row->id);
	if (strcmp(k->what, row->prefix) == 0 || strcmp(k->what, idtext) == 0) {
		if (row->revoked != NULL)
			k->revoked++;
		else
			k->active++;
	}
	return 0;
}

/*
 * Revokes the active keys named by a prefix or an id. A name that matches
 * no active key is an error, so a typo never looks like a revoked key.
 */
static int keys_revoke(store *s, const admin_opts *o, const char *const *args)
{
	key_lookup k = {args[0], 0, 0};

	(void)o;
	if (db_keys_each(s, key_match, &k) != 0) {
		fprintf(stderr, "offerctl: cannot read the keys: %s\n", s->ops->errmsg(s));
		return 1;
	}
	if (k.active == 0 && k.revoked > 0) {
		fprintf(stderr, "offerctl keys revoke: the key %s is already revoked\n", args[0]);
		return 1;
	}
	if (k.active == 0) {
		fprintf(stderr,
		        "offerctl keys revoke: no key has the prefix or id %s (see offerctl keys "
		        "list)\n",
		        args[0]);
		return 1;
	}
	if (db_key_revoke(s, args[0]) != 0) {
		fprintf(stderr, "offerctl: cannot revoke: %s\n", s->ops->errmsg(s));
		return 1;
	}
	printf("revoked %s (offerd stops accepting it within its refresh interval)\n", args[0]);
	return 0;
}

/* db migrate: opening the database migrated it; prints the version it is at. */
static int db_migrate_cmd(store *s, const admin_opts *o, const char *const *args)
{
	int v = 0;

	(void)o;
	(void)args;
	db_schema_version(s, &v);
	printf("schema version %d\n", v);
	return 0;
}

static int db_count_cmd(store *s, const admin_opts *o, const char *const *args)
{
	int64_t n = 0;

	(void)o;
	if (db_count(s, args[0], &n) != 0) {
		fprintf(stderr, "offerctl: unknown table %s\n", args[0]);
		return 1;
	}
	printf("%lld\n", (long long)n);
	return 0;
}

/* --- the table of actions ------------------------------------------------------ */

#define A(field) offsetof(admin_opts, field)
#define OPT_DB CTL_OPT_DATABASE_URL(admin_opts, database_url)

static const config_opt opts_db[] = {OPT_DB};
static const config_opt opts_products[] = {
    CTL_OPT_COMPANY(admin_opts, company, "A", "the company the catalogue is for"),
    OPT_DB,
};
static const config_opt opts_release[] = {
    {"policy P", NULL, CONFIG_STR, A(policy), "epsilon-greedy", 0, 0, AGENT_POLICY_NAMES},
    CTL_OPT_EPSILON(admin_opts, epsilon),
    CTL_OPT_PARAMS(admin_opts, params,
                   "the policy's knobs: {\"ucb_c\": 0.2, \"forgetting\": 1, \"gamma_scale\": 100, ...} "
                   "(README: The agent, Contextual policies)"),
    {"traffic PCT", NULL, CONFIG_STR, A(traffic), NULL, 0, 0,
     "a challenger: serves PCT percent of each company's customers, the champion the rest"},
    {"shadow", NULL, CONFIG_FLAG, A(shadow), NULL, 0, 0,
     "a challenger that decides on every request (its slate logged) and serves none"},
    OPT_DB,
};
static const config_opt opts_keys_create[] = {
    CTL_OPT_COMPANY(admin_opts, company, NULL, "the company the key is for (required)"),
    {"role R", NULL, CONFIG_STR, A(role), DB_ROLE_CLIENT, 0, 0,
     "client (decide and reward) or admin (also releases, rules, erasure, export)"},
    OPT_DB,
};

/*
 * An action does one thing with the open store: run, which returns the exit
 * status. What it needs before the store opens is its spec's check.
 */
typedef struct admin_action {
	const char *command;
	const char *action;
	int (*run)(store *s, const admin_opts *o, const char *const *args);
	ctl_spec spec;
} admin_action;

static int action_run(ctl_cmd *c);

/* One row per action, named "offerctl COMMAND ACTION" (CTL_USAGE). */
#define ACTION(command, action, checker, fn, synopsis, text, table, min, max)                       \
	{                                                                                           \
		command, action, fn,                                                                \
		{                                                                                   \
			CTL_USAGE(command " " action, synopsis, text), CTL_OPTS(table, admin_opts), \
			    .min_args = (min), .max_args = (max), .check = (checker),               \
			    .run = action_run,                                                      \
		}                                                                                   \
	}

static const admin_action actions[] = {
    ACTION("products", "import", products_check, products_import,
           " FILE [--company C] [--database-url URL]",
           "Replaces a company's catalogue with a CSV of OFFERS (or OFFER_ID) and NAME columns.\n",
           opts_products, 1, 1),
    ACTION("agent", "release", release_check, agent_release,
           " VERSION [--policy P] [--epsilon E] [--params JSON]\n"
           "                              [--traffic PCT | --shadow]",
           "Adds an agent version; offerd serves the latest release. VERSION is a semantic\n"
           "version (1.2.0, 2.0.0-rc.1), released once, higher than every earlier release.\n"
           "With --traffic or --shadow it is a challenger of the champion instead (README:\n"
           "Experiments): then offerctl agent promote or rollback.\n"
           "The contextual policies (linear-ts, squarecb) take their knobs in --params, checked\n"
           "against the policy's own table (README: Contextual policies).\n",
           opts_release, 1, 1),
    ACTION("agent", "promote", NULL, agent_promote, " [VERSION] [--database-url URL]",
           "Makes the challenger (VERSION, when given, must name it) the champion of every\n"
           "company, serving 100% (README: Experiments).\n",
           opts_db, 0, 1),
    ACTION("agent", "rollback", NULL, agent_rollback, " [--database-url URL]",
           "Withdraws the challenger: the champion serves 100% again.\n", opts_db, 0, 0),
    ACTION("agent", "status", NULL, agent_status, " [--database-url URL]",
           "Prints the champion and the challenger or shadow in force, with their traffic.\n", opts_db,
           0, 0),
    ACTION("agent", "list", NULL, agents_list, " [--database-url URL]",
           "Prints every agent version, oldest first.\n", opts_db, 0, 0),
    ACTION("keys", "create", keys_check, keys_create,
           " --company C [--role client|admin] [--database-url URL]",
           "Makes an API key for a company and prints it once on stdout. A client key decides\n"
           "and rewards; an admin key may also call the admin paths (README: Roles).\n",
           opts_keys_create, 0, 0),
    ACTION("keys", "list", NULL, keys_list, " [--database-url URL]",
           "Prints every key's id, company, prefix and state.\n", opts_db, 0, 0),
    ACTION("keys", "revoke", NULL, keys_revoke, " PREFIX_OR_ID [--database-url URL]",
           "Revokes an active key named by its prefix or its id.\n", opts_db, 1, 1),
    ACTION("db", "migrate", NULL, db_migrate_cmd, " [--database-url URL]",
           "Applies pending schema migrations.\n", opts_db, 0, 0),
    ACTION("db", "count", NULL, db_count_cmd, " TABLE [--database-url URL]",
           "Prints the number of rows of a tb_* table.\n", opts_db, 1, 1),
};

static void family_help(const char *command, FILE *f)
{
	fprintf(f, "usage:\n");
	for (size_t i = 0; i < UTIL_ARRAY_LEN(actions); i++) {
		const char *u = actions[i].spec.usage;
		const char *nl = strchr(u, '\n');

		if (strcmp(actions[i].command, command) == 0)
			fprintf(f, "  %.*s\n", (int)(nl - u) - 7, u + 7);
	}
	fprintf(f, "\nEach takes --help.\n");
}

/*
 * The spec's run, once ctl_run has read the options and the action's check
 * passed: the action whose spec it is, on the store.
 */
static int action_run(ctl_cmd *c)
{
	const admin_action *act = NULL;
	admin_opts *o = c->opts;
	store *s;
	int rc = 1;

	for (size_t i = 0; i < UTIL_ARRAY_LEN(actions); i++) {
		if (&actions[i].spec == c->spec)
			act = &actions[i];
	}
	/* admin_run only runs the specs of this table. */
	assert(act != NULL);
	if (ctl_store(c, &s) == 0)
		rc = act->run(s, o, c->args);
	products_free(o->products, o->nproducts);
	return rc;
}

/* argv[0] is the command (products, agent, keys, db), argv[1] its action. */
static int admin_run(int argc, char **argv)
{
	const char *command = argv[0];
	const admin_action *act = NULL;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		family_help(command, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < UTIL_ARRAY_LEN(actions); i++) {
		if (strcmp(actions[i].command, command) == 0 && strcmp(actions[i].action, argv[1]) == 0)
			act = &actions[i];
	}
	if (act == NULL) {
		fprintf(stderr, "offerctl %s: unknown action \"%.80s\"\n", command, argv[1]);
		family_help(command, stderr);
		return 2;
	}
	return ctl_run(&act->spec, argc - 1, argv + 1);
}

int ctl_products(int argc, char **argv)
{
	return admin_run(argc, argv);
}

int ctl_agent(int argc, char **argv)
{
	return admin_run(argc, argv);
}

int ctl_keys(int argc, char **argv)
{
	return admin_run(argc, argv);
}

int ctl_db(int argc, char **argv)
{
	return admin_run(argc, argv);
}
