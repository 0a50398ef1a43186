/*
 * test_contact.c — the contact history (contact.c) and the contact policy
 * checked against it: a cap counts the shows of an offer within its window
 * (in any slot) and "*" counts every offer on its own; a cool-down starts
 * at the acceptance and ends after its length; not-last leaves out the
 * offer shown first in the customer's latest decision; customers and
 * companies are apart; an episode read twice (own decision, then the
 * refresher) counts once; pruning drops what is older than the horizon;
 * the book never tracks more customers than its limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "contact.h"
#include "rules.h"
#include "util.h"

#define DAY 86400.0
#define T0 1.7e9

static rules *parse(const char *text)
{
	rules *r = NULL;
	char err[256];

	if (rules_parse(text, strlen(text), "t", &r, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	return r;
}

static const char *const offers[] = {"OFFER_1", "OFFER_2", "OFFER_3", "OFFER_4"};

/* The line excluding each of the four offers at time now ("-" when none), as "l1 l2 l3 l4". */
static void check(contact_book *b, const rules *r, const char *customer, double now, char *out, size_t n)
{
	const unsigned char all[4] = {1, 1, 1, 1};
	const rules_contact *hit[4];
	size_t len = 0;

	contact_check(b, "B", customer, r, now, offers, all, 4, hit);
	out[0] = '\0';
	for (int i = 0; i < 4; i++) {
		if (hit[i] == NULL)
			len += (size_t)snprintf(out + len, n - len, "%s-", i ? " " : "");
		else
			len += (size_t)snprintf(out + len, n - len, "%s%d", i ? " " : "", hit[i]->line);
	}
}

static void shown(contact_book *b, const char *customer, int64_t ep, double t, const char *o1,
                  const char *o2, const char *o3)
{
	const char *o[3] = {o1, o2, o3};

	assert_int_equal(contact_shown(b, "B", customer, ep, t, o, 3), 0);
}

static void test_cap(void **unused)
{
	rules *r = parse("cap OFFER_3 2 per 7d\ncap * 3 per 1d\n");
	contact_book *b = contact_new(100);
	char got[64];

	(void)unused;
	check(b, r, "c1", T0, got, sizeof(got));
	assert_string_equal(got, "- - - -");
	/* OFFER_3 shown twice (in slots 1 and 3) within 7 days: capped by line 1. */
	shown(b, "c1", 1, T0 - 6 * DAY, "OFFER_3", "OFFER_1", NULL);
	check(b, r, "c1", T0, got, sizeof(got));
	assert_string_equal(got, "- - - -");
	shown(b, "c1", 2, T0 - 2 * DAY, "OFFER_2", "OFFER_1", "OFFER_3");
	check(b, r, "c1", T0, got, sizeof(got));
	assert_string_equal(got, "- - 1 -");
	/* A day later the first show is out of the window. */
	check(b, r, "c1", T0 + DAY + 1, got, sizeof(got));
	assert_string_equal(got, "- - - -");
	/* "*": each offer counted on its own, 3 a day. */
	shown(b, "c1", 3, T0 - 3600, "OFFER_1", "OFFER_2", NULL);
	shown(b, "c1", 4, T0 - 1800, "OFFER_1", NULL, NULL);
	check(b, r, "c1", T0, got, sizeof(got));
	assert_string_equal(got, "- - 1 -");
	shown(b, "c1", 5, T0 - 60, "OFFER_1", "OFFER_4", NULL);
	check(b, r, "c1", T0, got, sizeof(got));
	assert_string_equal(got, "2 - 1 -");
	/* The same episode again (the refresher reading this process's own) counts once. */
	shown(b, "c1", 5, T0 - 60, "OFFER_1", "OFFER_4", NULL);
	shown(b, "c1", 3, T0 - 3600, "OFFER_1", "OFFER_2", NULL);
	check(b, r, "c1", T0, got, sizeof(got));
	assert_string_equal(got, "2 - 1 -");
	/* Another customer, another company: nothing. */
	check(b, r, "c2", T0, got, sizeof(got));
	assert_string_equal(got, "- - - -");
	{
		const unsigned char all[4] = {1, 1, 1, 1};
		const rules_contact *hit[4];

		assert_int_equal(contact_check(b, "A", "c1", r, T0, offers, all, 4, hit), 0);
	}
	/* Offers not asked about are not checked. */
	{
		const unsigned char some[4] = {0, 1, 1, 1};
		const rules_contact *hit[4];

		assert_int_equal(contact_check(b, "B", "c1", r, T0, offers, some, 4, hit), 1);
		assert_null(hit[0]);
		assert_non_null(hit[2]);
	}
	contact_free(b);
	rules_free(r);
}

static void test_cooldown(void **unused)
{
	rules *r = parse("cooldown OFFER_1 30d after accept\ncooldown * 1h after accept\n");
	contact_book *b = contact_new(100);
	const char *acc1[1] = {"OFFER_1"};
	const char *acc_all[2] = {"OFFER_2", "OFFER_4"};
	char got[64];

	(void)unused;
	shown(b, "c1", 1, T0 - 10 * DAY, "OFFER_1", "OFFER_2", NULL);
	check(b, r, "c1", T0, got, sizeof(got));
	assert_string_equal(got, "- - - -");
	assert_int_equal(contact_accepted(b, "B", "c1", 1, T0 - 9 * DAY, acc1, 1), 0);
	check(b, r, "c1", T0, got, sizeof(got));
	assert_string_equal(got, "1 - - -");
	check(b, r, "c1", T0 + 21 * DAY + 1, got, sizeof(got));
	assert_string_equal(got, "- - - -");
	/* Acceptance without a named offer: every offer the episode showed. */
	assert_int_equal(contact_accepted(b, "B", "c1", 2, T0 - 1800, acc_all, 2), 0);
	check(b, r, "c1", T0, got, sizeof(got));
	assert_string_equal(got, "1 2 - 2");
	check(b, r, "c1", T0 + 1800 + 1, got, sizeof(got));
	assert_string_equal(got, "1 - - -");
	contact_free(b);
	rules_free(r);
}

static void test_not_last(void **unused)
{
	rules *r = parse("# first line\nnot-last\n");
	contact_book *b = contact_new(100);
	char got[64];

	(void)unused;
	shown(b, "c1", 7, T0 - 100, "OFFER_2", "OFFER_3", NULL);
	check(b, r, "c1", T0, got, sizeof(got));
	assert_string_equal(got, "- 2 - -");
	/* An older episode read later (another process's) does not change the latest. */
	shown(b, "c1", 3, T0 - 5000, "OFFER_4", NULL, NULL);
	check(b, r, "c1", T0, got, sizeof(got));
	assert_string_equal(got, "- 2 - -");
	shown(b, "c1", 9, T0 - 10, "OFFER_1", NULL, NULL);
	check(b, r, "c1", T0, got, sizeof(got));
	assert_string_equal(got, "2 - - -");
	contact_free(b);
	rules_free(r);
}

static void test_prune_and_limits(void **unused)
{
	rules *r = parse("cap * 64 per 366d\n");
	contact_book *b = contact_new(3);
	contact_stats st;
	char got[64];

	(void)unused;
	shown(b, "c1", 1, T0 - 10 * DAY, "OFFER_1", NULL, NULL);
	shown(b, "c2", 2, T0 - 1 * DAY, "OFFER_1", NULL, NULL);
	shown(b, "c3", 3, T0 - 1 * DAY, "OFFER_1", NULL, NULL);
	/* A fourth customer is not tracked while the book is full. */
	shown(b, "c4", 4, T0, "OFFER_1", NULL, NULL);
	contact_get_stats(b, &st);
	assert_int_equal(st.customers, 3);
	assert_int_equal(st.events, 3);
	assert_int_equal(st.untracked, 1);
	/* Pruning at a 5-day horizon drops c1 and makes room. */
	assert_int_equal(contact_prune(b, T0 - 5 * DAY, 1u << 20), 1);
	contact_get_stats(b, &st);
	assert_int_equal(st.customers, 2);
	shown(b, "c4", 4, T0, "OFFER_1", NULL, NULL);
	contact_get_stats(b, &st);
	assert_int_equal(st.customers, 3);
	/* A customer keeps at most CONTACT_EVENTS_MAX events, the newest. */
	for (int i = 0; i < CONTACT_EVENTS_MAX + 10; i++)
		shown(b, "c2", 100 + i, T0 - 3600 + i, "OFFER_2", NULL, NULL);
	contact_get_stats(b, &st);
	assert_int_equal(st.events, 2 + CONTACT_EVENTS_MAX);
	check(b, r, "c2", T0, got, sizeof(got));
	assert_string_equal(got, "- 1 - -");
	/* Many customers: the table grows and finds every one. */
	{
		contact_book *big = contact_new(100000);
		char id[32];
		const unsigned char one[1] = {1};
		const rules_contact *hit[1];
		rules *r1 = parse("cap OFFER_1 1 per 1d\n");

		for (int i = 0; i < 20000; i++) {
			const char *o[1] = {"OFFER_1"};

			snprintf(id, sizeof(id), "cust-%d", i);
			assert_int_equal(contact_shown(big, "B", id, i + 1, T0, o, 1), 0);
		}
		for (int i = 0; i < 20000; i += 997) {
			snprintf(id, sizeof(id), "cust-%d", i);
			assert_int_equal(contact_check(big, "B", id, r1, T0, offers, one, 1, hit), 1);
		}
		assert_int_equal(contact_check(big, "B", "cust-x", r1, T0, offers, one, 1, hit), 0);
		contact_get_stats(big, &st);
		assert_int_equal(st.customers, 20000);
		rules_free(r1);
		contact_free(big);
	}
	contact_free(b);
	rules_free(r);
}

/* Erasure: forget drops one customer and leaves the others; clear drops everyone. */
static void test_forget_and_clear(void **unused)
{
	rules *r = parse("cap * 1 per 1d\n");
	contact_book *b = contact_new(100);
	contact_stats st;
	char got[64];

	(void)unused;
	shown(b, "c1", 1, T0 - 60, "OFFER_1", NULL, NULL);
	shown(b, "c2", 2, T0 - 60, "OFFER_2", NULL, NULL);
	shown(b, "c3", 3, T0 - 60, "OFFER_3", NULL, NULL);
	contact_forget(b, "B", "c1");
	contact_forget(b, "B", "nobody"); /* unknown: nothing happens */
	contact_forget(b, "A", "c2");     /* another company's c2: nothing happens */
	check(b, r, "c1", T0, got, sizeof(got));
	assert_string_equal(got, "- - - -");
	check(b, r, "c2", T0, got, sizeof(got));
	assert_string_equal(got, "- 1 - -");
	contact_get_stats(b, &st);
	assert_int_equal(st.customers, 2);
	assert_int_equal(st.events, 2);
	contact_clear(b);
	check(b, r, "c3", T0, got, sizeof(got));
	assert_string_equal(got, "- - - -");
	contact_get_stats(b, &st);
	assert_int_equal(st.customers, 0);
	assert_int_equal(st.events, 0);
	/* The book still works after a clear. */
	shown(b, "c3", 4, T0 - 60, "OFFER_4", NULL, NULL);
	check(b, r, "c3", T0, got, sizeof(got));
	assert_string_equal(got, "- - - 1");
	contact_free(b);
	rules_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cap),
	    cmocka_unit_test(test_cooldown),
	    cmocka_unit_test(test_not_last),
	    cmocka_unit_test(test_prune_and_limits),
	    cmocka_unit_test(test_forget_and_clear),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
