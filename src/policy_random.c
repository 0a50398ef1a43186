/*
 * policy_random.c — uniform over the allowed offers, without replacement:
 * the baseline of simulations and the safest logging policy for
 * off-policy evaluation.
 */
#include "policy.h"

static void random_probs(const policy_tab *t, const unsigned char *taken, double *probs)
{
	policy_tab_proportional(t, taken, 0, probs);
}

const policy_tab_type policy_random_type = {
    .name = "random",
    .stats = 0,
    .prepare = NULL,
    .slot_probs = random_probs,
};
