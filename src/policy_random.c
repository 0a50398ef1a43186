/*
 * policy_random.c — uniform over the allowed offers, without replacement:
 * the baseline of simulations and the safest logging policy for
 * off-policy evaluation.
 */
#include "policy.h"

const policy_tab_type policy_random_type = {
    .name = "random",
    .stats = 0,
    .prepare = NULL,
    .slot_probs = policy_tab_uniform,
};
