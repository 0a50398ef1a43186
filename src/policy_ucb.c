/*
 * policy_ucb.c — UCB1 on rewards rescaled to [0, 1]: the mean plus
 * ucb_c * sqrt(2 ln(N + 1) / n), N the evidence over the request's offers.
 * An offer without data scores infinity (every offer is tried once); the
 * top scores fill the slots, ties split evenly.
 */
#include <math.h>

#include "agent.h"
#include "policy.h"

static void ucb_prepare(policy_tab *t)
{
	const agent_conf *c = t->conf;
	double span = c->r_accept - c->r_ignore;

	for (size_t i = 0; i < t->n; i++) {
		const vstats *st = &t->o[i].st;
		double cnt = st->n + st->pw;
		double mean = (values_mean(st, c->r_ignore) - c->r_ignore) / span;

		if (cnt <= 0) {
			t->o[i].score = INFINITY;
			continue;
		}
		mean = mean < 0 ? 0 : mean > 1 ? 1 : mean;
		t->o[i].score = mean + c->ucb_c * sqrt(2.0 * log(t->total_n + 1.0) / cnt);
	}
}

const policy_tab_type policy_ucb_type = {
    .name = "ucb",
    .stats = 1,
    .prepare = ucb_prepare,
    .slot_probs = policy_tab_best,
};
