/*
 * test_db.c — the domain queries of db.c, on a fresh migrated database per
 * test, on SQLite and (with $OFFERD_TEST_PG_URL, which make test sets) on
 * PostgreSQL, through the same code: db.c runs each store's statements
 * (struct store_sql) without knowing which store it has.
 *
 *  - an upgrade from schema version 9 runs exactly the versions after it;
 *  - basics: idempotent migrations, agents, products, keys, segments, the
 *    whitelisted table counter;
 *  - rewards: a set-based lookup finds each reward's episode (latest
 *    unrewarded or by id) or says 404/409; the insert stores the scored
 *    rewards and turns a lost race into ERR_CONFLICT without failing;
 *  - agents by version, newest row per version, for scoring and expiry;
 *  - expiry lists only the given version's unrewarded episodes;
 *  - priors and deltas get distinct, increasing revisions;
 *  - the logged episodes and catalogue ids offerctl evaluate reads.
 */
/* The store cases' helpers (SC_OK, sc_query...) are used here, not the cases. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stdarg.h>

#include "store_cases.h"

#include "db_fixture.h"

#include "log.h"

/* --- db basics ------------------------------------------------------------------------------ */

static int collect_product(void *arg, const char *company, const char *offer_id, const char *name)
{
	buf *b = arg;

	assert_int_equal(buf_addf(b, "%s/%s/%s;", company, offer_id, name ? name : "(null)"), 0);
	return 0;
}

static int collect_segment(void *arg, const char *company, const char *customer_id, const char *segment)
{
	buf *b = arg;

	assert_int_equal(buf_addf(b, "%s/%s/%s;", company, customer_id, segment), 0);
	return 0;
}

static int collect_key(void *arg, const db_key *k)
{
	buf *b = arg;

	assert_non_null(k->created);
	assert_int_equal(buf_addf(b, "%lld/%s/%s/%s/%s/%s;", (long long)k->id, k->company, k->hash,
	                          k->prefix, k->role, k->revoked ? "revoked" : "active"),
	                 0);
	return 0;
}

static int key_add(fixture *f, const char *company, const char *hash, const char *prefix,
                   const char *role)
{
	db_key k = {.company = company, .hash = hash, .prefix = prefix, .role = role};

	return db_key_insert(f->s, &k);
}

static void test_db_basics(void **state)
{
	fixture *f = *state;
	int version = 0;
	int64_t n = 0;
	db_agent a;
	buf b;
	const db_product prods[] = {{"OFFER_1", "IPHONE 13"}, {"OFFER_2", NULL}};
	const db_product prods2[] = {{"OFFER_9", "PIXEL"}};
	const db_segment segs[] = {{"c1", "Q1"}, {"c2", "Q4"}};

	/* Migrations are idempotent; agent 1.0.0 is seeded once. */
	FX_OK(f, db_migrate(f->s));
	FX_OK(f, db_schema_version(f->s, &version));
	assert_int_equal(version, STORE_MIGRATIONS);
	assert_int_equal(count(f, "tb_agents"), 1);
	FX_OK(f, db_agent_latest(f->s, &a));
	assert_string_equal(a.version, "1.0.0");
	assert_string_equal(a.policy, "epsilon-greedy");
	assert_true(a.epsilon == 0.1);
	assert_null(a.params);
	db_agent_clear(&a);
	FX_OK(f, db_agent_release(f->s, "2.0.0", "thompson", 0, "{\"thompson_draws\": 32}"));
	FX_OK(f, db_agent_latest(f->s, &a));
	assert_string_equal(a.version, "2.0.0");
	assert_string_equal(a.policy, "thompson");
	assert_string_equal(a.params, "{\"thompson_draws\": 32}");
	db_agent_clear(&a);

	/* Products: replaced per company, other companies untouched, NULL names kept. */
	FX_OK(f, db_products_replace(f->s, "A", prods, 2));
	FX_OK(f, db_products_replace(f->s, "B", prods2, 1));
	FX_OK(f, db_products_replace(f->s, "A", prods, 2));
	buf_init(&b, 1 << 16);
	FX_OK(f, db_products_each(f->s, collect_product, &b));
	assert_string_equal(b.data, "B/OFFER_9/PIXEL;A/OFFER_1/IPHONE 13;A/OFFER_2/(null);");
	buf_free(&b);
	/* The brief's view name. */
	assert_int_equal(count(f, "tb_products_a"), 2);
	assert_int_equal(count(f, "TB_PRODUCTS_A"), 2);

	FX_OK(f, db_segments_replace(f->s, "A", segs, 2));
	FX_OK(f, db_segments_replace(f->s, "A", segs + 1, 1));
	buf_init(&b, 1 << 16);
	FX_OK(f, db_segments_each(f->s, collect_segment, &b));
	assert_string_equal(b.data, "A/c2/Q4;");
	buf_free(&b);

	/* Keys: unique hash, revocation by prefix or id. */
	FX_OK(f, key_add(f, "A", "hash-a", "ofr_aaaaaaaa", DB_ROLE_CLIENT));
	FX_OK(f, key_add(f, "B", "hash-b", "ofr_bbbbbbbb", DB_ROLE_ADMIN));
	assert_int_equal(key_add(f, "B", "hash-a", "ofr_cccccccc", DB_ROLE_CLIENT), ERR_CONFLICT);
	FX_OK(f, db_key_revoke(f->s, "ofr_aaaaaaaa"));
	FX_OK(f, db_key_revoke(f->s, "2"));
	buf_init(&b, 1 << 16);
	FX_OK(f, db_keys_each(f->s, collect_key, &b));
	assert_string_equal(b.data, "1/A/hash-a/ofr_aaaaaaaa/client/revoked;"
	                            "2/B/hash-b/ofr_bbbbbbbb/admin/revoked;");
	buf_free(&b);

	/* db_count only counts known tables: no SQL through its argument. */
	assert_int_equal(db_count(f->s, "tb_episodes; DROP TABLE tb_agents", &n), ERR_INVAL);
	assert_int_equal(db_count(f->s, "sqlite_master", &n), ERR_INVAL);
	assert_int_equal(n, 0);
	assert_int_equal(count(f, "tb_agents"), 2);

	assert_true(db_bool("t") && db_bool("1") && db_bool("true") && db_bool("TRUE"));
	assert_false(db_bool("f") || db_bool("0") || db_bool(NULL) || db_bool(""));
	/* A number column as either store writes it; SQL NULL and junk read as 0. */
	assert_true(db_num("2.5") == 2.5);
	assert_true(db_num("-3") == -3.0);
	assert_true(db_num("1e-7") == 1e-7);
	assert_true(db_num(NULL) == 0.0);
	assert_true(db_num("") == 0.0);
	assert_true(db_num("NaN") == 0.0);
	assert_true(db_num("12abc") == 0.0);
}

/* --- rewards ---------------------------------------------------------------------- */

/* One episode committed directly through the store; returns its id. */
static int64_t put_episode(fixture *f, const char *customer, const char *version)
{
	episode e;

	memset(&e, 0, sizeof(e));
	e.company = "A";
	e.customer_id = customer;
	e.states = "{}";
	e.offers[0] = "OFFER_1";
	e.offers[1] = "OFFER_2";
	e.propensity[0] = 0.5;
	e.propensity[1] = 0.5;
	e.request_ts = "2022-01-01";
	e.state_key = "S1";
	e.policy = "epsilon-greedy";
	e.agent_version = version;
	e.epsilon = 0.1;
	FX_OK(f, f->s->ops->begin(f->s));
	FX_OK(f, f->s->ops->episodes_insert(f->s, &e, 1));
	FX_OK(f, f->s->ops->commit(f->s));
	assert_true(e.id > 0);
	return e.id;
}

static void reward_in(db_reward_in *in, const char *customer, int64_t episode_id)
{
	memset(in, 0, sizeof(*in));
	in->company = "A";
	in->customer_id = customer;
	in->episode_id = episode_id;
	in->accepted = 1;
	in->request_ts = "2022-01-02";
}

/* Stores an accepted reward of the customer's episode in a transaction of its own. */
static void put_reward(fixture *f, const char *customer, int64_t episode_id)
{
	db_reward_in in;
	db_reward_out out;

	reward_in(&in, customer, episode_id);
	FX_OK(f, f->s->ops->begin(f->s));
	FX_OK(f, db_rewards_lookup(f->s, &in, &out, 1));
	FX_OK(f, db_rewards_insert(f->s, &in, &out, 1));
	FX_OK(f, f->s->ops->commit(f->s));
}

static void test_rewards_lookup_insert(void **state)
{
	fixture *f = *state;
	int64_t a1 = put_episode(f, "a", "1.0.0");
	int64_t a2 = put_episode(f, "a", "2.0.0");
	int64_t b1 = put_episode(f, "b", "1.0.0");
	db_reward_in in[4];
	db_reward_out out[4];
	sc_rows r = {0};

	reward_in(&in[0], "a", 0);      /* the latest unrewarded: a2 */
	reward_in(&in[1], "b", b1);     /* by id */
	reward_in(&in[2], "nobody", 0); /* 404 */
	reward_in(&in[3], "b", a1);     /* another customer's episode: 404 */
	FX_OK(f, f->s->ops->begin(f->s));
	FX_OK(f, db_rewards_lookup(f->s, in, out, 4));
	assert_int_equal(out[0].rc, 0);
	assert_int_equal(out[0].episode_id, a2);
	assert_string_equal(out[0].agent_version, "2.0.0");
	assert_string_equal(out[0].state_key, "S1");
	assert_string_equal(out[0].policy, "epsilon-greedy");
	assert_int_equal(out[0].n_offers, 2);
	assert_string_equal(out[0].offers[1], "OFFER_2");
	assert_true(out[0].episode_age >= 0 && out[0].episode_age < 600);
	assert_int_equal(out[1].rc, 0);
	assert_int_equal(out[1].episode_id, b1);
	assert_string_equal(out[1].agent_version, "1.0.0");
	assert_int_equal(out[2].rc, ERR_NOTFOUND);
	assert_int_equal(out[3].rc, ERR_NOTFOUND);
	/* The caller scores; the insert stores what it was given. */
	out[0].rewards[0] = 5;
	out[0].rewards[1] = -2;
	out[0].learned = 1;
	out[1].rewards[0] = 1.5;
	out[1].rewards[1] = 0.25;
	out[1].learned = 0;
	FX_OK(f, db_rewards_insert(f->s, in, out, 4));
	FX_OK(f, f->s->ops->commit(f->s));
	assert_int_equal(out[0].rc, 0);
	assert_int_equal(out[1].rc, 0);
	assert_true(out[0].reward_id > 0 && out[1].reward_id > 0);
	assert_true(out[0].reward_id != out[1].reward_id);
	assert_int_equal(out[2].rc, ERR_NOTFOUND);
	assert_int_equal(count(f, "tb_rewards"), 2);
	FX_OK(f, sc_query(f->s, &r,
	                  "SELECT episode_id, reward_1, reward_2, reward_3, learned, source"
	                  " FROM tb_rewards ORDER BY episode_id",
	                  0, NULL));
	assert_int_equal(r.n, 2);
	sc_assert_near(sc_cell(&r, 0, 1), 5);
	sc_assert_near(sc_cell(&r, 0, 2), -2);
	assert_null(sc_cell(&r, 0, 3)); /* a slot that showed nothing */
	assert_int_equal(db_bool(sc_cell(&r, 0, 4)), 1);
	sc_assert_str(sc_cell(&r, 0, 5), "client");
	sc_assert_near(sc_cell(&r, 1, 1), 1.5);
	sc_assert_near(sc_cell(&r, 1, 2), 0.25);
	assert_int_equal(db_bool(sc_cell(&r, 1, 4)), 0);
	sc_rows_free(&r);

	/* Next: a's older episode; b's only one is taken (409). */
	reward_in(&in[0], "a", 0);
	reward_in(&in[1], "b", 0);
	FX_OK(f, f->s->ops->begin(f->s));
	FX_OK(f, db_rewards_lookup(f->s, in, out, 2));
	assert_int_equal(out[0].rc, 0);
	assert_int_equal(out[0].episode_id, a1);
	assert_int_equal(out[1].rc, ERR_CONFLICT);
	/* A race lost to another reward: ERR_CONFLICT, the set goes on. */
	out[1].rc = 0;
	out[1].episode_id = b1;
	out[1].n_offers = 2;
	FX_OK(f, db_rewards_insert(f->s, in, out, 2));
	FX_OK(f, f->s->ops->commit(f->s));
	assert_int_equal(out[0].rc, 0);
	assert_true(out[0].reward_id > 0);
	assert_int_equal(out[1].rc, ERR_CONFLICT);
	assert_int_equal(out[1].reward_id, 0);
	assert_int_equal(count(f, "tb_rewards"), 3);
}

/*
 * The rows of the lookup and the insert are written as JSON text by db.c:
 * quotes, backslashes, control characters and non-ASCII text reach the
 * tables as they came.
 */
static void test_rewards_json_text(void **state)
{
	fixture *f = *state;
	const char *cust = "q\"b\\s/t\tn\nc\x01-\xc3\xa9\xe2\x82\xac";
	const char *offer = "O\"1\\";
	int64_t e1 = put_episode(f, cust, "1.0.0");
	db_reward_in in[1];
	db_reward_out out[1];
	sc_rows r = {0};
	char id[24];
	const char *idp[1] = {id};

	reward_in(&in[0], cust, 0);
	in[0].accepted_offer = offer;
	in[0].clicked = "[\"O\\\"1\"]";
	in[0].is_default = 1;
	FX_OK(f, f->s->ops->begin(f->s));
	FX_OK(f, db_rewards_lookup(f->s, in, out, 1));
	assert_int_equal(out[0].rc, 0);
	assert_int_equal(out[0].episode_id, e1);
	out[0].rewards[0] = 0.1;
	out[0].rewards[1] = -1e-300;
	out[0].learned = 1;
	FX_OK(f, db_rewards_insert(f->s, in, out, 1));
	FX_OK(f, f->s->ops->commit(f->s));
	assert_int_equal(out[0].rc, 0);
	snprintf(id, sizeof(id), "%lld", (long long)e1);
	FX_OK(f, sc_query(f->s, &r,
	                  "SELECT customer_id, accepted_offer_id, clicked_offers, reward_1, reward_2,"
	                  " reward_3, source FROM tb_rewards WHERE episode_id = $1",
	                  1, idp));
	assert_int_equal(r.n, 1);
	sc_assert_str(sc_cell(&r, 0, 0), cust);
	sc_assert_str(sc_cell(&r, 0, 1), offer);
	sc_assert_str(sc_cell(&r, 0, 2), in[0].clicked);
	sc_assert_near(sc_cell(&r, 0, 3), 0.1);
	sc_assert_near(sc_cell(&r, 0, 4), 0);
	assert_null(sc_cell(&r, 0, 5));
	sc_assert_str(sc_cell(&r, 0, 6), "default");
	sc_rows_free(&r);
	/* A non-finite reward is refused before it reaches the database. */
	reward_in(&in[0], cust, e1);
	FX_OK(f, f->s->ops->begin(f->s));
	out[0].rc = 0;
	out[0].n_offers = 1;
	out[0].rewards[0] = 1.0 / 0.0;
	assert_int_equal(db_rewards_insert(f->s, in, out, 1), ERR_IO);
	FX_OK(f, f->s->ops->rollback(f->s));
}

/* --- agents by version ------------------------------------------------------------- */

typedef struct agent_seen {
	fixture *f;
	buf b;
} agent_seen;

static int collect_agent(void *arg, const db_agent *a)
{
	agent_seen *as = arg;
	int64_t n = 0;

	/* fn may query the store: the rows were read first. */
	SC_OK(as->f->s, db_count(as->f->s, "tb_agents", &n));
	assert_int_equal(buf_addf(&as->b, "%s/%s/%s;", a->version, a->policy,
	                          a->params ? a->params : "-"),
	                 0);
	return 0;
}

static int64_t idem_count(fixture *f)
{
	sc_rows r = {0};
	int64_t n = -1;

	FX_OK(f, sc_query(f->s, &r, "SELECT COUNT(*) FROM tb_idempotency", 0, NULL));
	util_strtonum(sc_cell(&r, 0, 0), 0, INT64_MAX, &n);
	sc_rows_free(&r);
	return n;
}

/* Idempotency keys (issue 15.2): stored with their reward, replayed, refused for another request. */
static void test_idempotency_keys(void **state)
{
	fixture *f = *state;
	int64_t a1 = put_episode(f, "a", "1.0.0");
	int64_t a2 = put_episode(f, "a", "1.0.0");
	int64_t b1 = put_episode(f, "b", "1.0.0");
	db_reward_in in[3];
	db_reward_out out[3];
	db_idem_in k;

	(void)a1;
	reward_in(&in[0], "a", 0);
	in[0].idem_key = "k1";
	in[0].idem_hash = "h1";
	reward_in(&in[1], "nobody", 0); /* a 404 stores no key */
	in[1].idem_key = "k2";
	in[1].idem_hash = "h2";
	FX_OK(f, f->s->ops->begin(f->s));
	FX_OK(f, db_rewards_lookup(f->s, in, out, 2));
	assert_int_equal(out[0].rc, 0);
	FX_OK(f, db_rewards_insert(f->s, in, out, 2));
	FX_OK(f, f->s->ops->commit(f->s));
	assert_int_equal(out[0].rc, 0);
	assert_int_equal(out[0].replayed, 0);
	assert_int_equal(out[0].episode_id, a2);
	assert_true(out[0].reward_id > 0);
	assert_int_equal(out[1].rc, ERR_NOTFOUND);
	assert_int_equal(idem_count(f), 1);

	/* The same key and request: the first answer, nothing inserted, nothing learned. */
	reward_in(&in[0], "a", 0);
	in[0].idem_key = "k1";
	in[0].idem_hash = "h1";
	/* The same key for another request. */
	reward_in(&in[1], "b", 0);
	in[1].idem_key = "k1";
	in[1].idem_hash = "other";
	FX_OK(f, f->s->ops->begin(f->s));
	FX_OK(f, db_rewards_lookup(f->s, in, out, 2));
	assert_int_not_equal(out[0].rc, 0); /* never scored */
	assert_int_not_equal(out[1].rc, 0);
	FX_OK(f, db_rewards_insert(f->s, in, out, 2));
	FX_OK(f, f->s->ops->commit(f->s));
	assert_int_equal(out[0].replayed, 1);
	assert_int_equal(out[0].rc, 0);
	assert_int_equal(out[0].episode_id, a2);
	assert_int_equal(out[0].learned, 0);
	assert_int_equal(out[1].replayed, -1);
	assert_int_equal(out[1].rc, ERR_INVAL);
	assert_int_equal(count(f, "tb_rewards"), 1);

	/* A claim whose insert loses the episode to another reward: the key goes. */
	reward_in(&in[0], "b", 0);
	in[0].idem_key = "k3";
	in[0].idem_hash = "h3";
	FX_OK(f, f->s->ops->begin(f->s));
	FX_OK(f, db_rewards_lookup(f->s, in, out, 1));
	assert_int_equal(out[0].rc, 0);
	assert_int_equal(out[0].episode_id, b1);
	reward_in(&in[1], "b", b1);
	in[1].idem_key = NULL;
	{
		db_reward_out o2;

		FX_OK(f, db_rewards_lookup(f->s, &in[1], &o2, 1));
		FX_OK(f, db_rewards_insert(f->s, &in[1], &o2, 1));
		assert_int_equal(o2.rc, 0);
	}
	FX_OK(f, db_rewards_insert(f->s, in, out, 1));
	FX_OK(f, f->s->ops->commit(f->s));
	assert_int_equal(out[0].rc, ERR_CONFLICT);
	assert_int_equal(out[0].reward_id, 0);
	assert_int_equal(idem_count(f), 1);

	/* A key claimed on its own (POST /batch), per company. */
	k = (db_idem_in){"A", "b1", "/batch", "hb", -99};
	FX_OK(f, f->s->ops->begin(f->s));
	FX_OK(f, db_idem_claim(f->s, &k));
	assert_int_equal(k.result, 0);
	FX_OK(f, db_idem_claim(f->s, &k));
	assert_int_equal(k.result, ERR_CONFLICT);
	k.hash = "other";
	FX_OK(f, db_idem_claim(f->s, &k));
	assert_int_equal(k.result, ERR_INVAL);
	k.company = "B";
	FX_OK(f, db_idem_claim(f->s, &k));
	assert_int_equal(k.result, 0);
	k.company = "A";
	k.key = "k1"; /* a reward's key */
	FX_OK(f, db_idem_claim(f->s, &k));
	assert_int_equal(k.result, ERR_INVAL);
	FX_OK(f, f->s->ops->commit(f->s));
	assert_int_equal(idem_count(f), 3);
}

static void test_agents_by_version(void **state)
{
	fixture *f = *state;
	agent_seen as = {f, {0}};
	db_agent a;

	FX_OK(f, db_agent_release(f->s, "2.0.0", "thompson", 0, "{\"reward_accept\": 7}"));
	FX_OK(f, db_agent_release(f->s, "3.0.0", "ucb", 0, NULL));
	FX_OK(f, db_agent_release(f->s, "2.0.0", "random", 0, "{\"reward_accept\": 9}"));
	FX_OK(f, db_agent_by_version(f->s, "2.0.0", &a));
	assert_string_equal(a.policy, "random");
	assert_string_equal(a.params, "{\"reward_accept\": 9}");
	db_agent_clear(&a);
	FX_OK(f, db_agent_by_version(f->s, "1.0.0", &a));
	assert_string_equal(a.policy, "epsilon-greedy");
	db_agent_clear(&a);
	assert_int_equal(db_agent_by_version(f->s, "9.9.9", &a), ERR_NOTFOUND);
	db_agent_clear(&a);
	buf_init(&as.b, 1 << 16);
	FX_OK(f, db_agents_each(f->s, collect_agent, &as));
	assert_string_equal(as.b.data, "1.0.0/epsilon-greedy/-;3.0.0/ucb/-;"
	                               "2.0.0/random/{\"reward_accept\": 9};");
	buf_free(&as.b);
}

/* --- expiry ---------------------------------------------------------------------- */

static int collect_expired(void *arg, const char *company, const char *customer_id, int64_t episode_id)
{
	buf *b = arg;

	assert_int_equal(buf_addf(b, "%s/%s/%lld;", company, customer_id, (long long)episode_id), 0);
	return 0;
}

/* A default-reward sweep of db.c: db_episodes_expired or db_pz_defaults_due. */
typedef int (*due_sweep)(store *s, const char *key, double wait_seconds, double lookback_seconds,
                         int limit, db_expired_fn fn, void *arg);

/*
 * Runs sweep for key (a version or a company) and checks what it listed:
 * want is a printf format of company/customer/id; rows ("" for none) over
 * the episode ids that follow.
 */
static void expect_due(fixture *f, due_sweep sweep, const char *key, double wait, double lookback,
                       int limit, const char *want, ...) __attribute__((format(printf, 7, 8)));

static void expect_due(fixture *f, due_sweep sweep, const char *key, double wait, double lookback,
                       int limit, const char *want, ...)
{
	char text[256];
	va_list ap;
	buf got;

	va_start(ap, want);
	vsnprintf(text, sizeof(text), want, ap);
	va_end(ap);
	buf_init(&got, 1 << 16);
	FX_OK(f, sweep(f->s, key, wait, lookback, limit, collect_expired, &got));
	assert_string_equal(got.len > 0 ? got.data : "", text);
	buf_free(&got);
}

static void test_episodes_expired_by_version(void **state)
{
	fixture *f = *state;
	int64_t o1 = put_episode(f, "o", "1.0.0");
	int64_t n1 = put_episode(f, "n", "2.0.0");
	int64_t n2 = put_episode(f, "m", "2.0.0");
	int64_t n3 = put_episode(f, "k", "2.0.0");

	(void)o1;
	/* n2 is rewarded: not listed. */
	put_reward(f, "m", n2);
	usleep(20 * 1000);
	expect_due(f, db_episodes_expired, "2.0.0", 0.001, 1e9, 10, "A/n/%lld;A/k/%lld;", (long long)n1,
	           (long long)n3);
	/* The limit, oldest first. */
	expect_due(f, db_episodes_expired, "2.0.0", 0.001, 1e9, 1, "A/n/%lld;", (long long)n1);
	/* Not old enough yet. */
	expect_due(f, db_episodes_expired, "2.0.0", 3600, 1e9, 10, "%s", "");
	/* Written before the lookback: a sweep that already handled them. */
	expect_due(f, db_episodes_expired, "2.0.0", 0.001, 0.005, 10, "%s", "");
	/* A version nobody used. */
	expect_due(f, db_episodes_expired, "3.0.0", 0.001, 1e9, 10, "%s", "");
}

/*
 * The Personalizer slots due a default reward: pz episodes without a reward,
 * older than the wait and not older than the lookback, oldest first.
 */
static void test_pz_defaults_due_window(void **state)
{
	fixture *f = *state;
	int64_t a = put_episode(f, "pz:a", "1.0.0");
	int64_t b;
	int64_t r;

	(void)put_episode(f, "plain", "1.0.0"); /* not a Personalizer episode */
	r = put_episode(f, "pz:r", "1.0.0");
	put_reward(f, "pz:r", r);
	usleep(400 * 1000);
	b = put_episode(f, "pz:b", "1.0.0");
	usleep(400 * 1000);
	/* a is about 0.8 s old, b about 0.4 s. */
	expect_due(f, db_pz_defaults_due, "A", 0.001, 1e9, 10, "A/pz:a/%lld;A/pz:b/%lld;", (long long)a,
	           (long long)b);
	/* The limit, oldest first. */
	expect_due(f, db_pz_defaults_due, "A", 0.001, 1e9, 1, "A/pz:a/%lld;", (long long)a);
	/* The wait: b is not due yet. */
	expect_due(f, db_pz_defaults_due, "A", 0.6, 1e9, 10, "A/pz:a/%lld;", (long long)a);
	/* The lookback: a is older than it. */
	expect_due(f, db_pz_defaults_due, "A", 0.001, 0.6, 10, "A/pz:b/%lld;", (long long)b);
	/* Nothing is due in an hour's wait, nor in another company. */
	expect_due(f, db_pz_defaults_due, "A", 3600, 1e9, 10, "%s", "");
	expect_due(f, db_pz_defaults_due, "B", 0.001, 1e9, 10, "%s", "");
}

/* --- revisions ------------------------------------------------------------------- */

typedef struct rev_seen {
	int64_t last;
	int rows;
	int ordered;
} rev_seen;

static int collect_rev(void *arg, const db_policy_row *row)
{
	rev_seen *rs = arg;

	if (row->rev <= rs->last)
		rs->ordered = 0;
	rs->last = row->rev;
	rs->rows++;
	return 0;
}

static void test_policy_revisions(void **state)
{
	fixture *f = *state;
	const db_policy_row priors[] = {
	    {.company = "A",
	     .state_key = "S1",
	     .offer = "OFFER_1",
	     .prior_value = 1,
	     .prior_weight = 2,
	     .alpha = 3,
	     .beta = 4},
	    {.company = "A",
	     .state_key = "S1",
	     .offer = "OFFER_2",
	     .prior_value = 0.5,
	     .prior_weight = 2},
	    {.company = "A",
	     .state_key = "S2",
	     .offer = "OFFER_1",
	     .prior_value = -1,
	     .prior_weight = 1},
	};
	const db_policy_row deltas[] = {
	    {.company = "A",
	     .state_key = "S1",
	     .offer = "OFFER_1",
	     .n = 2,
	     .reward_sum = 3,
	     .alpha = 1,
	     .beta = 1},
	    {.company = "A", .state_key = "S9", .offer = "OFFER_3", .n = 1, .reward_sum = -2, .beta = 1},
	};
	rev_seen rs = {0, 0, 1};
	int64_t now = -1;
	int64_t max = 0;

	FX_OK(f, db_policy_set_priors(f->s, priors, 3));
	FX_OK(f, db_policy_since(f->s, 0, collect_rev, &rs, &max));
	assert_int_equal(rs.rows, 3);
	assert_true(rs.ordered); /* distinct, increasing */
	FX_OK(f, db_policy_rev_now(f->s, &now));
	assert_int_equal(now, max);
	rs.rows = 0;
	FX_OK(f, f->s->ops->begin(f->s));
	FX_OK(f, db_policy_add(f->s, deltas, 2, collect_rev, &rs));
	FX_OK(f, f->s->ops->commit(f->s));
	assert_int_equal(rs.rows, 2);
	assert_true(rs.ordered);
	assert_true(rs.last > max);
	rs.rows = 0;
	FX_OK(f, db_policy_since(f->s, max, collect_rev, &rs, &max));
	assert_int_equal(rs.rows, 2); /* only the two new revisions again */
	assert_int_equal(count(f, "tb_policy"), 4);
	/* Priors were kept under the added counts; unset pseudo-counts are 1. */
	assert_int_equal(sc_int(f->s,
	                        "SELECT CAST(prior_alpha + successes AS INTEGER) FROM tb_policy"
	                        " WHERE state_key = 'S1' AND offer = 'OFFER_1'",
	                        0, NULL),
	                 4);
	assert_int_equal(sc_int(f->s,
	                        "SELECT CAST(prior_beta AS INTEGER) FROM tb_policy"
	                        " WHERE state_key = 'S1' AND offer = 'OFFER_2'",
	                        0, NULL),
	                 1);
	/* The upsert and the COMMIT together: committed, its rows reported. */
	rs.rows = 0;
	FX_OK(f, f->s->ops->begin(f->s));
	FX_OK(f, db_policy_add_commit(f->s, deltas, 2, collect_rev, &rs));
	assert_int_equal(rs.rows, 2);
	/* A new transaction starts: the last one was committed, not left open. */
	FX_OK(f, f->s->ops->begin(f->s));
	FX_OK(f, f->s->ops->rollback(f->s));
	assert_int_equal(sc_int(f->s,
	                        "SELECT CAST(n AS INTEGER) FROM tb_policy"
	                        " WHERE state_key = 'S9' AND offer = 'OFFER_3'",
	                        0, NULL),
	                 2);
	/* No rows: a plain COMMIT. */
	FX_OK(f, f->s->ops->begin(f->s));
	FX_OK(f, db_policy_add_commit(f->s, deltas, 0, collect_rev, &rs));
	assert_int_equal(rs.rows, 2);
	FX_OK(f, f->s->ops->begin(f->s));
	FX_OK(f, f->s->ops->rollback(f->s));
}

/*
 * The writer's fold: the insert, the upsert and the COMMIT in one round trip
 * (PostgreSQL only). A reward stored by another writer since the lookup
 * fails it all: neither the reward nor the deltas are committed.
 */
static void test_rewards_fold(void **state)
{
	fixture *f = *state;
	const db_policy_row d =
	    {.company = "A", .state_key = "SF", .offer = "OFFER_1", .n = 1, .reward_sum = 2, .alpha = 1};
	int64_t e1 = put_episode(f, "c", "1.0.0");
	db_reward_in in;
	db_reward_out out;
	db_reward_out late;
	rev_seen rs = {0, 0, 1};

	reward_in(&in, "c", 0);
	if (!db_rewards_can_fold(f->s, &in, 1)) {
		assert_int_equal(db_rewards_insert_policy_commit(f->s, &in, &out, 1, &d, 1, NULL, NULL),
		                 ERR_INVAL);
		return;
	}
	FX_OK(f, f->s->ops->begin(f->s));
	FX_OK(f, db_rewards_lookup(f->s, &in, &out, 1));
	assert_int_equal(out.episode_id, e1);
	out.learned = 1;
	FX_OK(f, db_rewards_insert_policy_commit(f->s, &in, &out, 1, &d, 1, collect_rev, &rs));
	assert_int_equal(out.rc, 0);
	assert_true(out.reward_id > 0);
	assert_int_equal(rs.rows, 1);
	assert_int_equal(count(f, "tb_rewards"), 1);
	assert_int_equal(sc_int(f->s, "SELECT CAST(n AS INTEGER) FROM tb_policy WHERE state_key = 'SF'",
	                        0, NULL),
	                 1);
	/* A lookup that ran before another writer's reward of the same episode. */
	late = out;
	late.reward_id = 0;
	FX_OK(f, f->s->ops->begin(f->s));
	assert_int_not_equal(db_rewards_insert_policy_commit(f->s, &in, &late, 1, &d, 1, NULL, NULL), 0);
	FX_OK(f, f->s->ops->rollback(f->s));
	assert_int_equal(count(f, "tb_rewards"), 1);
	assert_int_equal(sc_int(f->s, "SELECT CAST(n AS INTEGER) FROM tb_policy WHERE state_key = 'SF'",
	                        0, NULL),
	                 1);
	/* An explicit episode or a key: not for the fold. */
	reward_in(&in, "c", e1);
	assert_false(db_rewards_can_fold(f->s, &in, 1));
}

/* --- what offerctl evaluate reads ---------------------------------------------------- */

static void test_episodes_logged(void **state)
{
	fixture *f = *state;
	const db_product prods[] = {{"OFFER_2", "B"}, {"OFFER_1", "A"}};
	int64_t e1 = put_episode(f, "x", "1.0.0");
	int64_t e2 = put_episode(f, "y", "1.0.0");
	sc_rows r = {0};

	FX_OK(f, db_products_replace(f->s, "A", prods, 2));
	FX_OK(f, db_product_ids(f->s, "A", sc_collect, &r));
	assert_int_equal(r.n, 2);
	sc_assert_str(sc_cell(&r, 0, 0), "OFFER_2");
	sc_rows_free(&r);
	put_reward(f, "y", e2);
	FX_OK(f, db_episodes_logged(f->s, "A", NULL, NULL, sc_collect, &r));
	assert_int_equal(r.n, 2);
	assert_int_equal(r.ncols, 14);
	sc_assert_str(sc_cell(&r, 0, 13), "2022-01-01"); /* the request timestamp, for replay */
	{
		char id[24];

		snprintf(id, sizeof(id), "%lld", (long long)e1);
		sc_assert_str(sc_cell(&r, 0, 0), id);
	}
	sc_assert_str(sc_cell(&r, 0, 10), "0");
	sc_assert_str(sc_cell(&r, 1, 10), "1");
	assert_int_equal(db_bool(sc_cell(&r, 1, 11)), 1);
	sc_rows_free(&r);
	/* Since a time after everything: nothing. */
	FX_OK(f, db_episodes_logged(f->s, "A", "2999-01-01", NULL, sc_collect, &r));
	assert_int_equal(r.n, 0);
	sc_rows_free(&r);
	/* Before a time before everything: nothing; a window around now: both. */
	FX_OK(f, db_episodes_logged(f->s, "A", NULL, "2000-01-01", sc_collect, &r));
	assert_int_equal(r.n, 0);
	sc_rows_free(&r);
	FX_OK(f, db_episodes_logged(f->s, "A", "2000-01-01", "2999-01-01", sc_collect, &r));
	assert_int_equal(r.n, 2);
	sc_rows_free(&r);
}

/* tb_evaluations: insert, progress, result, the stale-heartbeat rule, company scope, delete. */
static void test_evaluation_jobs(void **state)
{
	fixture *f = *state;
	sc_rows r = {0};
	int64_t deleted = 0;

	FX_OK(f, db_evaluation_insert(f->s, "j1", "A", "p1", "{\"policies\":[]}", "2026-01-01T00:00:00Z",
	                              1000));
	FX_OK(f, db_evaluation_insert(f->s, "j2", "A", "p2", "{}", "2026-01-02T00:00:00Z", 5000));
	FX_OK(f, db_evaluation_progress(f->s, "j2", 0.5, 5001));
	FX_OK(f, db_evaluations_get(f->s, "A", NULL, 10, sc_collect, &r));
	assert_int_equal(r.n, 2);
	assert_int_equal(r.ncols, 9);
	sc_assert_str(sc_cell(&r, 0, 0), "j2"); /* newest first */
	sc_rows_free(&r);
	FX_OK(f, db_evaluations_get(f->s, "B", "j1", 10, sc_collect, &r));
	assert_int_equal(r.n, 0); /* another company's job is not seen */
	sc_rows_free(&r);
	/* j1 was last heard of at 1000: stale at 2000; j2 (5001) is not. */
	FX_OK(f, db_evaluations_expire(f->s, "A", 2000, "2026-01-03T00:00:00Z", "gone"));
	FX_OK(f, db_evaluations_get(f->s, "A", "j1", 10, sc_collect, &r));
	sc_assert_str(sc_cell(&r, 0, 1), "failed");
	sc_assert_str(sc_cell(&r, 0, 5), "gone");
	sc_rows_free(&r);
	FX_OK(f, db_evaluation_update(f->s, "j2", "done", 1.0, "{\"results\":[]}", NULL,
	                              "2026-01-03T00:00:00Z", 5002));
	FX_OK(f, db_evaluations_get(f->s, "A", "j2", 10, sc_collect, &r));
	sc_assert_str(sc_cell(&r, 0, 1), "done");
	sc_assert_str(sc_cell(&r, 0, 4), "{\"results\":[]}");
	sc_rows_free(&r);
	FX_OK(f, db_evaluation_delete(f->s, "B", "j2", &deleted));
	assert_int_equal(deleted, 0);
	FX_OK(f, db_evaluation_delete(f->s, "A", "j2", &deleted));
	assert_int_equal(deleted, 1);
}

/*
 * A database an older offerd left at schema version 9 gets versions 10 and
 * 11, and only those (version 9's CREATE TABLE again would fail the
 * migration), and what runs at every start (version 0) comes back.
 */
static void test_schema_upgrade(void **state)
{
	fixture *f = *state;
	int version = 0;

	FX_OK(f, store_exec(f->s, "DROP TABLE tb_erasures", 0, NULL, NULL, NULL));
	FX_OK(f, store_exec(f->s, "DROP INDEX tb_segments_written", 0, NULL, NULL, NULL));
	FX_OK(f, store_exec(f->s, "DROP TABLE tb_pz_apprentice", 0, NULL, NULL, NULL));
	FX_OK(f, store_exec(f->s, "DELETE FROM tb_schema_migrations WHERE version > 9", 0, NULL, NULL,
	                    NULL));
	FX_OK(f, db_schema_version(f->s, &version));
	assert_int_equal(version, 9);
	FX_OK(f, db_migrate(f->s));
	FX_OK(f, db_schema_version(f->s, &version));
	assert_int_equal(version, STORE_MIGRATIONS);
	assert_int_equal(sc_int(f->s, "SELECT COUNT(*) FROM tb_schema_migrations", 0, NULL),
	                 STORE_MIGRATIONS);
	assert_int_equal(sc_int(f->s, "SELECT COUNT(*) FROM tb_erasures", 0, NULL), 0);
	assert_int_equal(sc_int(f->s, "SELECT COUNT(*) FROM tb_pz_apprentice", 0, NULL), 0);
	/* The index is back: creating it again fails on both stores. */
	assert_int_not_equal(store_exec(f->s,
	                                "CREATE INDEX tb_segments_written ON tb_segments (segment)", 0,
	                                NULL, NULL, NULL),
	                     0);
}

int main(void)
{
#define DB_TESTS(setup)                                                                            \
	cmocka_unit_test_setup_teardown(test_db_basics, setup, fx_teardown),                       \
	    cmocka_unit_test_setup_teardown(test_schema_upgrade, setup, fx_teardown),              \
	    cmocka_unit_test_setup_teardown(test_evaluation_jobs, setup, fx_teardown),             \
	    cmocka_unit_test_setup_teardown(test_rewards_lookup_insert, setup, fx_teardown),       \
	    cmocka_unit_test_setup_teardown(test_rewards_json_text, setup, fx_teardown),           \
	    cmocka_unit_test_setup_teardown(test_rewards_fold, setup, fx_teardown),                \
	    cmocka_unit_test_setup_teardown(test_idempotency_keys, setup, fx_teardown),            \
	    cmocka_unit_test_setup_teardown(test_agents_by_version, setup, fx_teardown),           \
	    cmocka_unit_test_setup_teardown(test_episodes_expired_by_version, setup, fx_teardown), \
	    cmocka_unit_test_setup_teardown(test_pz_defaults_due_window, setup, fx_teardown),      \
	    cmocka_unit_test_setup_teardown(test_policy_revisions, setup, fx_teardown),            \
	    cmocka_unit_test_setup_teardown(test_episodes_logged, setup, fx_teardown)

	const struct CMUnitTest sqlite_tests[] = {DB_TESTS(fx_setup)};
	const struct CMUnitTest pg_tests[] = {DB_TESTS(fx_setup_pg)};
	return fx_run_both("test_db", "db", sqlite_tests, pg_tests, UTIL_ARRAY_LEN(sqlite_tests));
}
