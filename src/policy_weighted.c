/*
 * policy_weighted.c — the brief's rl_agent (case-study.txt), its intent
 * kept and its defects fixed (agent_brief_weight has the weights): offers
 * drawn without replacement in proportion to the customer's weights, by
 * gender, else region, else age band. It does not learn.
 */
#include "policy.h"

const policy_tab_type policy_weighted_type = {
    .name = "weighted",
    .stats = 0,
    .prepare = NULL,
    .slot_probs = policy_tab_weighted,
};
