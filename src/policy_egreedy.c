/*
 * policy_egreedy.c — epsilon-greedy, per slot: the best remaining mean
 * reward with probability 1 - epsilon (ties split evenly), else a uniformly
 * random remaining offer (the self-learning brief). An offer without data
 * scores 0: above offers customers ignore (-2 mean), below the ones they
 * accept, as the brief's initial values.
 */
#include "agent.h"
#include "policy.h"

static void egreedy_prepare(policy_tab *t)
{
	for (size_t i = 0; i < t->n; i++)
		t->o[i].score = values_mean(&t->o[i].st, 0.0);
}

static void egreedy_probs(const policy_tab *t, const unsigned char *taken, double *probs)
{
	policy_tab_greedy(t, taken, t->conf->epsilon, probs);
}

const policy_tab_type policy_egreedy_type = {
    .name = "epsilon-greedy",
    .aliases = {"epsilon_greedy", "egreedy"},
    .stats = 1,
    .prepare = egreedy_prepare,
    .slot_probs = egreedy_probs,
};
