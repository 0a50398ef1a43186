/*
 * ctl_admin.c — offerctl's database commands: products, agent, keys, db.
 * Each opens the store named by --database-url, migrates it (so they work
 * on a fresh database), and does one thing.
 */
#include <csv.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "auth.h"
#include "ctl.h"
#include "db.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define PRODUCTS_MAX 100000

/* Finds "--name VALUE" in argv, removing both; returns VALUE or NULL. */
static const char *take_flag(int *argc, char **argv, const char *name)
{
	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], name) == 0 && i + 1 < *argc) {
			const char *v = argv[i + 1];

			memmove(&argv[i], &argv[i + 2], sizeof(char *) * (size_t)(*argc - i - 2));
			*argc -= 2;
			return v;
		}
	}
	return NULL;
}

static int open_db(const char *flag, store **out)
{
	const char *url = ctl_database_url(flag);
	int rc = store_open(url, out);

	if (rc != 0) {
		fprintf(stderr, "offerctl: cannot open %s\n", url);
		return rc;
	}
	rc = db_migrate(*out);
	if (rc != 0) {
		fprintf(stderr, "offerctl: cannot prepare the schema: %s\n", (*out)->ops->errmsg(*out));
		store_close(*out);
		*out = NULL;
	}
	return rc;
}

/* --- products import ------------------------------------------------------ */

typedef struct prod_reader {
	char *fields[8];
	size_t nfields;
	size_t row;
	int col_offer;   /* column index of the offer id, -1 until the header */
	int col_name;
	db_product *items;
	size_t n, cap;
	char err[256];
} prod_reader;

static void prod_field(void *s, size_t len, void *arg)
{
	prod_reader *p = arg;

	if (p->nfields < UTIL_ARRAY_LEN(p->fields))
		p->fields[p->nfields] = xstrndup(s ? s : "", len);
	p->nfields++;
}

static void prod_row(int c, void *arg)
{
	prod_reader *p = arg;
	size_t nf = p->nfields < UTIL_ARRAY_LEN(p->fields) ? p->nfields : UTIL_ARRAY_LEN(p->fields);

	(void)c;
	p->row++;
	if (p->col_offer < 0) {
		/* Header: ID,OFFERS,NAME as the client sent it; OFFER_ID/PRODUCT_NAME too. */
		for (size_t i = 0; i < nf; i++) {
			char *h = util_trim(p->fields[i]);

			if (strncmp(h, "\xef\xbb\xbf", 3) == 0)
				memmove(h, h + 3, strlen(h + 3) + 1);
			if (util_streq_nocase(h, "OFFERS") || util_streq_nocase(h, "OFFER") ||
			    util_streq_nocase(h, "OFFER_ID"))
				p->col_offer = (int)i;
			else if (util_streq_nocase(h, "NAME") || util_streq_nocase(h, "PRODUCT_NAME") ||
			         util_streq_nocase(h, "PRODUCT"))
				p->col_name = (int)i;
		}
		if ((p->col_offer < 0 || p->col_name < 0) && p->err[0] == '\0')
			snprintf(p->err, sizeof(p->err),
			         "the header must name an OFFERS (or OFFER_ID) and a NAME column");
		if (p->col_offer < 0)
			p->col_offer = -2;  /* do not take the next row as a header */
	} else if (p->col_offer >= 0 && p->err[0] == '\0') {
		if ((size_t)p->col_offer >= nf || (size_t)p->col_name >= nf) {
			snprintf(p->err, sizeof(p->err), "line %zu: missing columns", p->row);
		} else if (util_trim(p->fields[p->col_offer])[0] == '\0') {
			snprintf(p->err, sizeof(p->err), "line %zu: empty offer id", p->row);
		} else if (p->n >= PRODUCTS_MAX) {
			snprintf(p->err, sizeof(p->err), "more than %d products", PRODUCTS_MAX);
		} else {
			if (p->n == p->cap) {
				p->cap = p->cap ? p->cap * 2 : 64;
				p->items = xrealloc(p->items, p->cap * sizeof(*p->items));
			}
			p->items[p->n].offer_id = xstrdup(p->fields[p->col_offer]);
			p->items[p->n].name = xstrdup(util_trim(p->fields[p->col_name]));
			p->n++;
		}
	}
	for (size_t i = 0; i < nf; i++)
		free(p->fields[i]);
	p->nfields = 0;
}

static int products_import(const char *path, const char *company, const char *url)
{
	struct csv_parser parser;
	prod_reader p;
	FILE *f = fopen(path, "rb");
	char chunk[8192];
	size_t n;
	store *s = NULL;
	int rc = 1;

	memset(&p, 0, sizeof(p));
	p.col_offer = -1;
	p.col_name = -1;
	if (f == NULL) {
		fprintf(stderr, "offerctl: cannot read %s: %s\n", path, strerror(errno));
		return 1;
	}
	csv_init(&parser, CSV_APPEND_NULL);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (csv_parse(&parser, chunk, n, prod_field, prod_row, &p) != n) {
			snprintf(p.err, sizeof(p.err), "%s", csv_strerror(csv_error(&parser)));
			break;
		}
	}
	csv_fini(&parser, prod_field, prod_row, &p);
	csv_free(&parser);
	fclose(f);
	if (p.err[0] != '\0') {
		fprintf(stderr, "offerctl: %s: %s\n", path, p.err);
		goto out;
	}
	if (p.n == 0) {
		fprintf(stderr, "offerctl: %s: no products\n", path);
		goto out;
	}
	if (open_db(url, &s) != 0)
		goto out;
	if (db_products_replace(s, company, p.items, p.n) != 0) {
		fprintf(stderr, "offerctl: cannot store the catalogue: %s\n", s->ops->errmsg(s));
		goto out;
	}
	printf("imported %zu products for company %s\n", p.n, company);
	rc = 0;
out:
	store_close(s);
	for (size_t i = 0; i < p.n; i++) {
		free(p.items[i].offer_id);
		free(p.items[i].name);
	}
	free(p.items);
	return rc;
}

int ctl_products(int argc, char **argv)
{
	const char *url = take_flag(&argc, argv, "--database-url");
	const char *company = take_flag(&argc, argv, "--company");

	if (argc != 3 || strcmp(argv[1], "import") != 0) {
		fprintf(stderr, "usage: offerctl products import FILE [--company C] [--database-url U]\n");
		return 2;
	}
	return products_import(argv[2], company ? company : "A", url);
}

/* --- agent ------------------------------------------------------------------ */

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
	const char *pre;      /* after '-', up to '+' or the end; NULL when none */
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

static int version_row(void *arg, int ncols, const char *const *vals)
{
	version_check *c = arg;
	semver old;

	if (ncols < 1 || vals[0] == NULL || c->err[0] != '\0')
		return 0;
	if (strcmp(vals[0], c->version) == 0) {
		snprintf(c->err, sizeof(c->err), "agent version %s is already released", c->version);
		return 0;
	}
	/* Versions released before this check (not semantic) cannot be ordered: skipped. */
	if (semver_parse(vals[0], &old) == 0 && semver_cmp(&c->v, &old) <= 0)
		snprintf(c->err, sizeof(c->err),
		         "agent version %s is not higher than the released %.64s; versions only rise, "
		         "so the latest release is the highest (roll back by releasing the old "
		         "configuration under a higher version)",
		         c->version, vals[0]);
	return 0;
}

static int agent_print(void *arg, int ncols, const char *const *vals)
{
	(void)arg;
	printf("%-6s %-12s %-15s %-8s %-28s %s\n", vals[0], vals[1], vals[2], vals[3] ? vals[3] : "",
	       ncols > 5 && vals[5] ? vals[5] : "", vals[4] ? vals[4] : "");
	return 0;
}

int ctl_agent(int argc, char **argv)
{
	const char *url = take_flag(&argc, argv, "--database-url");
	const char *policy = take_flag(&argc, argv, "--policy");
	const char *eps_s = take_flag(&argc, argv, "--epsilon");
	const char *params = take_flag(&argc, argv, "--params");
	store *s = NULL;
	int rc = 1;

	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		if (open_db(url, &s) != 0)
			return 1;
		printf("%-6s %-12s %-15s %-8s %-28s %s\n", "ID", "VERSION", "POLICY", "EPSILON",
		       "RELEASED", "PARAMS");
		rc = store_exec(s,
		                "SELECT id, version, policy, epsilon, params, CAST(last_update AS TEXT)"
		                " FROM tb_agents ORDER BY id",
		                0, NULL, agent_print, NULL) == 0 ? 0 : 1;
		store_close(s);
		return rc;
	}
	if (argc == 3 && strcmp(argv[1], "release") == 0) {
		db_agent a;
		agent_conf c;
		version_check check;
		char err[256];
		double eps = 0.1;

		memset(&a, 0, sizeof(a));
		memset(&check, 0, sizeof(check));
		if (eps_s != NULL && util_strtod(eps_s, 0.0, 1.0, &eps) != 0) {
			fprintf(stderr, "offerctl: --epsilon must be a number within [0, 1]\n");
			return 2;
		}
		if (strlen(argv[2]) == 0 || strlen(argv[2]) >= DB_VERSION_MAX ||
		    semver_parse(argv[2], &check.v) != 0) {
			fprintf(stderr, "offerctl: the version must be a semantic version of at most %d "
			                "characters, MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD] (1.2.0, "
			                "2.0.0-rc.1), got \"%.80s\"\n",
			        DB_VERSION_MAX - 1, argv[2]);
			return 2;
		}
		/* Validate exactly as offerd will, so a bad release never lands. */
		util_strlcpy(a.version, argv[2], sizeof(a.version));
		util_strlcpy(a.policy, policy ? policy : "epsilon-greedy", sizeof(a.policy));
		a.epsilon = eps;
		a.params = (char *)(uintptr_t)params;
		if (agent_conf_from_db(&a, &c, err, sizeof(err)) != 0) {
			fprintf(stderr, "offerctl: %s (policies: weighted, epsilon-greedy, thompson, ucb, "
			                "random)\n", err);
			return 2;
		}
		if (open_db(url, &s) != 0)
			return 1;
		check.version = a.version;
		if (store_exec(s, "SELECT version FROM tb_agents", 0, NULL, version_row, &check) != 0) {
			fprintf(stderr, "offerctl: cannot read the released versions: %s\n",
			        s->ops->errmsg(s));
		} else if (check.err[0] != '\0') {
			fprintf(stderr, "offerctl: %s\n", check.err);
		} else if (db_agent_release(s, a.version, agent_policy_name(c.policy), eps, params) != 0) {
			fprintf(stderr, "offerctl: cannot release: %s\n", s->ops->errmsg(s));
		} else {
			printf("released agent %s (%s, epsilon %g); offerd picks it up within its refresh "
			       "interval (or at once on SIGHUP)\n",
			       a.version, agent_policy_name(c.policy), eps);
			rc = 0;
		}
		store_close(s);
		return rc;
	}
	fprintf(stderr, "usage: offerctl agent release VERSION [--policy P] [--epsilon E] "
	                "[--params JSON] [--database-url U]\n"
	                "       offerctl agent list [--database-url U]\n");
	return 2;
}

/* --- keys ------------------------------------------------------------------- */

static int key_print(void *arg, int64_t id, const char *company, const char *hash,
                     const char *prefix, const char *created, const char *revoked)
{
	(void)arg;
	(void)hash;
	printf("%-5lld %-10s %-14s %-28s %s\n", (long long)id, company, prefix, created,
	       revoked ? revoked : "active");
	return 0;
}

int ctl_keys(int argc, char **argv)
{
	const char *url = take_flag(&argc, argv, "--database-url");
	const char *company = take_flag(&argc, argv, "--company");
	store *s = NULL;
	int rc = 1;

	if (argc == 2 && strcmp(argv[1], "create") == 0 && company != NULL && company[0] != '\0') {
		char key[AUTH_KEY_LEN + 1];
		char hash[AUTH_HASH_LEN + 1];
		char prefix[AUTH_PREFIX_LEN + 1];

		if (auth_key_new(key) != 0 || open_db(url, &s) != 0)
			return 1;
		auth_hash(key, hash);
		auth_prefix(key, prefix);
		if (db_key_insert(s, company, hash, prefix) == 0) {
			/* The only time the key is shown: stdout holds just the key. */
			printf("%s\n", key);
			fprintf(stderr, "created a key for company %s (prefix %s); it is not stored, keep it\n",
			        company, prefix);
			rc = 0;
		} else {
			fprintf(stderr, "offerctl: cannot store the key: %s\n", s->ops->errmsg(s));
		}
		store_close(s);
		return rc;
	}
	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		if (open_db(url, &s) != 0)
			return 1;
		printf("%-5s %-10s %-14s %-28s %s\n", "ID", "COMPANY", "PREFIX", "CREATED", "REVOKED");
		rc = db_keys_each(s, key_print, NULL) == 0 ? 0 : 1;
		store_close(s);
		return rc;
	}
	if (argc == 3 && strcmp(argv[1], "revoke") == 0) {
		if (open_db(url, &s) != 0)
			return 1;
		rc = db_key_revoke(s, argv[2]) == 0 ? 0 : 1;
		if (rc == 0)
			printf("revoked %s (offerd stops accepting it within its refresh interval)\n",
			       argv[2]);
		store_close(s);
		return rc;
	}
	fprintf(stderr, "usage: offerctl keys create --company C | keys list | keys revoke "
	                "PREFIX_OR_ID  [--database-url U]\n");
	return 2;
}

/* --- db ---------------------------------------------------------------------- */

int ctl_db(int argc, char **argv)
{
	const char *url = take_flag(&argc, argv, "--database-url");
	store *s = NULL;
	int rc = 1;

	if (argc == 2 && strcmp(argv[1], "migrate") == 0) {
		int v = 0;

		if (open_db(url, &s) != 0)
			return 1;
		db_schema_version(s, &v);
		printf("schema version %d\n", v);
		store_close(s);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "count") == 0) {
		int64_t n = 0;

		if (open_db(url, &s) != 0)
			return 1;
		if (db_count(s, argv[2], &n) == 0) {
			printf("%lld\n", (long long)n);
			rc = 0;
		} else {
			fprintf(stderr, "offerctl: unknown table %s\n", argv[2]);
		}
		store_close(s);
		return rc;
	}
	fprintf(stderr, "usage: offerctl db migrate | db count TABLE  [--database-url U]\n");
	return 2;
}
