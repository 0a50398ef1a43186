/*
 * personalizer.h — the Azure Personalizer v1.0 REST API (served under
 * /personalizer/v1.0/): every request body parsed and validated into a C
 * struct, every answer serialised, and every rejection mapped to
 * Personalizer's status, error code and message. Nothing here knows about
 * HTTP, the store or the agent; docs/personalizer.md is the contract.
 *
 * Ownership: a parsed request keeps the parsed JSON document alive
 * (req->root) and its strings and feature lists point into it, so they are
 * valid until the matching pz_*_free(). Feature lists are borrowed json_t
 * arrays of objects, handed as they are to the feature extractor.
 */
#ifndef OFFERD_PERSONALIZER_H
#define OFFERD_PERSONALIZER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Personalizer's own limits (v1.0 specification and service messages). */
#define PZ_ACTIONS_MAX 50 /* actions in one rank ("between 1 and 50") */
#define PZ_SLOTS_MAX 50   /* slots in one multi-slot rank */
#define PZ_ID_MAX 256     /* characters in an id (maxLength): action, slot, event, evaluation */
#define PZ_ID_BYTES_MAX (4 * PZ_ID_MAX) /* the same in UTF-8 bytes, at most */
#define PZ_POLICY_NAME_MAX 256          /* PolicyContract.name */
#define PZ_POLICY_ARGS_MAX 1024         /* PolicyContract.arguments */
#define PZ_EVAL_POLICIES_MAX 10         /* "A maximum of 10 custom policies are allowed" */
#define PZ_REWARD_MIN (-1.0)            /* "must be between -1 and 1" */
#define PZ_REWARD_MAX 1.0
#define PZ_WAIT_MIN_S 5 /* "between 5 seconds and 2 days" */
#define PZ_WAIT_MAX_S (2 * 86400)

/* offerd's own hard limits, beyond Personalizer's. */
#define PZ_BODY_MAX (512 * 1024)   /* bytes in one request body */
#define PZ_FEATURES_MAX 256        /* leaf values in one feature list (context, action or slot) */
#define PZ_FEATURE_DEPTH_MAX 3     /* objects in objects: feature object > namespace > one more */
#define PZ_FEATURE_KEY_MAX 256     /* bytes in one feature name */
#define PZ_FEATURE_STRING_MAX 1024 /* bytes in one string feature value */
#define PZ_FEATURE_ARRAY_MAX 256   /* numbers in one numeric array feature */
#define PZ_POLICY_TOKENS_MAX 64    /* words in PolicyContract.arguments */
#define PZ_EVENT_ID_GEN_LEN 32     /* hex characters of a generated event id */

/* What failed, as Personalizer reports it: one row of a table in the .c. */
typedef enum pz_kind {
	PZ_BAD_REQUEST = 0,   /* 400 BadRequest: body not JSON, wrong type */
	PZ_INVALID_RANK,      /* 400 BadRequest / InvalidRankRequest */
	PZ_INVALID_REWARD,    /* 400 BadRequest / InvalidRewardRequest */
	PZ_INVALID_ACTIVATE,  /* 400 BadRequest / InvalidEventIdToActivate */
	PZ_INVALID_SERVICE,   /* 400 BadRequest / InvalidServiceConfiguration */
	PZ_INVALID_WAIT,      /* 400 BadRequest / InvalidRewardWaitTime */
	PZ_INVALID_RETENTION, /* 400 BadRequest / InvalidLogRetentionDays */
	PZ_INVALID_MODE,      /* 400 BadRequest / InvalidLearningModeServiceConfiguration */
	PZ_INVALID_POLICY,    /* 400 BadRequest / InvalidPolicyContract */
	PZ_INVALID_EVAL,      /* 400 BadRequest / InvalidEvaluationContract */
	PZ_DUPLICATE_POLICY,  /* 400 BadRequest / DuplicateCustomPolicyNames */
	PZ_INVALID_MODEL,     /* 400 BadRequest / InvalidModelImportFormat */
	PZ_AUTH,              /* 401 "401": missing or wrong subscription key */
	PZ_NOT_FOUND,         /* 404 ResourceNotFound: unknown event, unknown path */
	PZ_EVAL_NOT_FOUND,    /* 404 ResourceNotFound / EvaluationNotFound */
	PZ_METHOD,            /* 405 BadRequest: known path, other method */
	PZ_CONFLICT,          /* 409 BadRequest / EventIdConflict: event id already ranked */
	PZ_TOO_BIG,           /* 413 BadRequest / PayloadSizeExceeded */
	PZ_MEDIA,             /* 415 BadRequest: not application/json */
	PZ_RATE,              /* 429 "429": rate limit */
	PZ_INTERNAL,          /* 500 InternalServerError */
	PZ_UNAVAILABLE,       /* 503 OperationNotAllowed: database down, queue full */
	PZ_KIND_COUNT
} pz_kind;

/* A rejection: the HTTP status, the codes and a message naming the field. */
typedef struct pz_error {
	pz_kind kind;
	int status;
	const char *code;  /* error.code (static) */
	const char *inner; /* error.innerError.code (static) or NULL */
	char target[64];   /* error.target: the JSON path of the field, or "" */
	char message[320];
} pz_error;

/*
 * Fills e for kind with a printf message; target may be NULL. Returns a
 * negative ERR_* code matching kind (ERR_INVAL, ERR_NOTFOUND...), so a
 * parser can `return pz_fail(...)`.
 */
int pz_fail(pz_error *e, pz_kind kind, const char *target, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Maps an ERR_* code from the store or the writer to e (message given). */
void pz_error_from_err(pz_error *e, int err, const char *message);
/* The error body {"error": {...}}, as JSON text the caller frees. */
char *pz_error_json(const pz_error *e);

/* --- events: ids, rank, reward, activate --------------------------------- */

/*
 * Checks an event id from a body or a URL path: 1..PZ_ID_MAX bytes of
 * A-Z a-z 0-9 and - _ . ~ : @ ! $ ' ( ) * + , ; = (no '/', '%', '?', '#', '&',
 * space or control character, so it is one path segment as it is).
 * Returns 0 or a negative code with e filled (kind given, target "eventId").
 */
int pz_event_id_check(const char *id, size_t len, pz_kind kind, pz_error *e);
/* Writes a new random event id (PZ_EVENT_ID_GEN_LEN hex chars) into out. */
int pz_event_id_new(char out[PZ_EVENT_ID_GEN_LEN + 1]);

typedef struct pz_action {
	const char *id; /* into root; 1..PZ_ID_MAX characters, unique in the request */
	size_t id_len;
	json_t *features; /* borrowed: an array of objects, at least one value (NULL: lean parse) */
	int excluded;     /* listed in excludedActions (of the request or the slot) */
} pz_action;

typedef struct pz_rank_req {
	json_t *root;     /* owned: the whole body */
	json_t *context;  /* borrowed: array of objects (empty when absent) */
	size_t n_actions; /* 1..PZ_ACTIONS_MAX, request order (the first is the baseline) */
	pz_action actions[PZ_ACTIONS_MAX];
	size_t n_allowed;             /* actions not excluded: >= 1 */
	char event_id[PZ_ID_MAX + 1]; /* "" when the client sent none: generate one */
	int defer_activation;
	char *text; /* owned: the lean parse's copies of the ids (NULL from pz_rank_parse) */
} pz_rank_req;

/* Parses a POST /rank body. On error fills e, frees what it took, returns < 0. */
int pz_rank_parse(const char *body, size_t len, pz_rank_req *out, pz_error *e);
/*
 * The same for a decision that reads no action features: the same answers
 * and errors as pz_rank_parse, but a body in the plain subset of JSON
 * clients send is scanned without a jansson tree, and actions[i].features
 * are NULL then (the context is JSON as always). Free with pz_rank_free.
 */
int pz_rank_parse_lean(const char *body, size_t len, pz_rank_req *out, pz_error *e);

/*
 * The states of a rank's decision from its contextFeatures (an array of
 * feature objects): their scalar members, the first of a name winning.
 * Returns a new object the caller releases.
 */
json_t *pz_context_states(json_t *context);
void pz_rank_free(pz_rank_req *r);

typedef struct pz_slot {
	const char *id; /* into root; unique, 1..PZ_ID_MAX characters */
	size_t id_len;
	json_t *features;                       /* borrowed array of objects, may be empty */
	size_t baseline;                        /* index into actions: unique per slot, not excluded */
	unsigned char excluded[PZ_ACTIONS_MAX]; /* per action index */
} pz_slot;

typedef struct pz_multi_rank_req {
	json_t *root;
	json_t *context;
	size_t n_actions;
	pz_action actions[PZ_ACTIONS_MAX]; /* .excluded unused: see the slots */
	size_t n_slots;                    /* 1..min(PZ_SLOTS_MAX, n_actions) */
	pz_slot slots[PZ_SLOTS_MAX];
	char event_id[PZ_ID_MAX + 1];
	int defer_activation;
} pz_multi_rank_req;

/* Parses a POST /multislot/rank body. */
int pz_multi_rank_parse(const char *body, size_t len, pz_multi_rank_req *out, pz_error *e);
void pz_multi_rank_free(pz_multi_rank_req *r);

/* Parses a POST /events/{id}/reward body {"value": v}, v in [-1, 1]. */
int pz_reward_parse(const char *body, size_t len, double *value, pz_error *e);

typedef struct pz_slot_reward {
	char slot_id[PZ_ID_BYTES_MAX + 1];
	double value;
} pz_slot_reward;

typedef struct pz_multi_reward_req {
	size_t n; /* 1..PZ_SLOTS_MAX, slot ids distinct */
	pz_slot_reward rewards[PZ_SLOTS_MAX];
} pz_multi_reward_req;

/* Parses a POST /multislot/events/{id}/reward body {"reward": [{slotId, value}]}. */
int pz_multi_reward_parse(const char *body, size_t len, pz_multi_reward_req *out, pz_error *e);

/*
 * Checks an activate body: Personalizer sends none. Empty, "{}" and "null"
 * are accepted; anything else is a 400 (it is not what a client meant).
 */
int pz_activate_check(const char *body, size_t len, pz_error *e);

/* --- answers ------------------------------------------------------------- */

typedef struct pz_ranked {
	const char *id;     /* borrowed */
	double probability; /* in [0, 1]; 0 for excluded actions */
} pz_ranked;

/*
 * The 201 answer of /rank: {"ranking": [{id, probability}...], "eventId",
 * "rewardActionId"}; ranking in the order given (the chosen action first,
 * excluded ones last). Returns JSON text the caller frees.
 */
char *pz_rank_answer_json(const pz_ranked *ranking, size_t n, const char *event_id,
                          const char *reward_action_id);

typedef struct pz_slot_answer {
	const char *id; /* slot id, borrowed */
	const char *reward_action_id;
} pz_slot_answer;

/* The 201 answer of /multislot/rank: {"slots": [{id, rewardActionId}], "eventId"}. */
char *pz_multi_rank_answer_json(const pz_slot_answer *slots, size_t n, const char *event_id);

/* --- configurations ------------------------------------------------------ */

typedef enum pz_learning_mode {
	PZ_MODE_ONLINE = 0,
	PZ_MODE_APPRENTICE,
	PZ_MODE_LOGGING_ONLY,
} pz_learning_mode;

typedef enum pz_aggregation {
	PZ_AGG_EARLIEST = 0, /* the first reward counts, later ones are ignored */
	PZ_AGG_SUM,          /* every reward within the wait is added */
} pz_aggregation;

typedef struct pz_service_config {
	int64_t reward_wait_s; /* PZ_WAIT_MIN_S..PZ_WAIT_MAX_S */
	double default_reward; /* [-1, 1] */
	pz_aggregation aggregation;
	double exploration;         /* explorationPercentage, [0, 1] */
	int64_t model_export_s;     /* modelExportFrequency: 1 s..1 day */
	int64_t log_retention_days; /* -1 (forever) or >= ceil(wait in days) + 1 */
	pz_learning_mode mode;
	int mode_given;     /* learningMode was in the body (PUT) */
	char last_edit[32]; /* lastConfigurationEditDate, "" when unknown */
} pz_service_config;

/* A new loop's configuration: Personalizer's example values (10 min, 0,
 * earliest, 20%, 5 min), retention -1 (offerd deletes nothing unasked). */
void pz_service_config_default(pz_service_config *c);
/* Parses a PUT /configurations/service body. */
int pz_service_config_parse(const char *body, size_t len, pz_service_config *out, pz_error *e);
/*
 * Personalizer refuses to change learningMode between Online and Apprentice
 * together with defaultReward, rewardWaitTime or rewardAggregation (two
 * calls are needed). Returns 0 or a negative code with e filled.
 */
int pz_service_config_transition(const pz_service_config *cur, const pz_service_config *next,
                                 pz_error *e);
/* The configuration as Personalizer answers it; JSON text the caller frees. */
char *pz_service_config_json(const pz_service_config *c);

/* The learning mode's name ("Online"...), and back (case-insensitive; < 0 if unknown). */
const char *pz_learning_mode_name(pz_learning_mode m);
int pz_learning_mode_parse(const char *s, pz_learning_mode *out);

/*
 * Parses a duration: the .NET TimeSpan form of v1.0 ("00:10:00",
 * "1.00:00:00") or ISO 8601 ("PT10M", "P1DT2H", "PT30S"). Whole seconds,
 * 0..100 days. Returns 0 or ERR_INVAL.
 */
int pz_duration_parse(const char *s, int64_t *seconds);
/* Writes seconds as a TimeSpan ("00:10:00", "2.00:00:00") into out. */
void pz_duration_format(int64_t seconds, char out[32]);

typedef struct pz_policy {
	char name[PZ_POLICY_NAME_MAX + 1];
	char arguments[PZ_POLICY_ARGS_MAX + 1];
	size_t n_tokens;    /* words of arguments, 1..PZ_POLICY_TOKENS_MAX */
	int cb_explore_adf; /* --cb_explore_adf is present */
	double epsilon;     /* --epsilon E in [0, 1], or -1 when absent */
} pz_policy;

/* Parses a PUT /configurations/policy body {"name", "arguments"}. */
int pz_policy_parse(const char *body, size_t len, pz_policy *out, pz_error *e);
/* Validates p->arguments into its fields (used by the parsers; exposed for tests). */
int pz_policy_args(pz_policy *p, const char *target, pz_kind kind, pz_error *e);
/* {"name", "arguments"}: JSON text the caller frees. */
char *pz_policy_json(const pz_policy *p);

/* --- evaluations, logs, model -------------------------------------------- */

typedef struct pz_eval_req {
	char name[PZ_ID_MAX + 1];
	int64_t start; /* unix seconds, start < end */
	int64_t end;
	int offline_experimentation;
	size_t n_policies; /* 0..PZ_EVAL_POLICIES_MAX, names distinct */
	pz_policy policies[PZ_EVAL_POLICIES_MAX];
} pz_eval_req;

/* Parses a POST /evaluations body (EvaluationContract). */
int pz_eval_parse(const char *body, size_t len, pz_eval_req *out, pz_error *e);

/*
 * Parses an ISO 8601 date-time ("2019-01-19T00:00:00Z", with fractions or
 * an offset such as +02:00; a bare date is midnight UTC) from 1970 on into
 * unix seconds (date.h's date_time_parse). date_time_format writes one.
 * Returns 0 or ERR_INVAL.
 */
int pz_time_parse(const char *s, int64_t *out);

typedef struct pz_summary {
	int64_t time;       /* timeStamp */
	int64_t window_s;   /* aggregateTimeWindow */
	double ips_num;     /* ipsEstimatorNumerator */
	double ips_den;     /* ipsEstimatorDenominator */
	double snips_den;   /* snipsEstimatorDenominator */
	double nonzero;     /* nonZeroProbability */
	double sum_squares; /* sumOfSquares */
	double confidence;  /* confidenceInterval */
} pz_summary;

typedef struct pz_policy_result {
	const char *name; /* borrowed */
	const char *arguments;
	const char *source; /* "Online", "Baseline", "Random", "Custom" */
	pz_summary total;
} pz_policy_result;

typedef struct pz_evaluation {
	const char *id; /* borrowed */
	const char *name;
	int64_t start, end;
	const char *status; /* "completed", "pending", "failed", "notSubmitted" */
	size_t n_results;
	const pz_policy_result *results;
} pz_evaluation;

/* One Evaluation object (GET /evaluations/{id}); JSON text the caller frees. */
char *pz_evaluation_json(const pz_evaluation *ev);
/* {"dateRange": {"from", "to"}} (GET /logs/properties). */
char *pz_logs_properties_json(int64_t from, int64_t to);
/* {"creationTime", "lastModifiedTime"} (GET /model/properties). */
char *pz_model_properties_json(int64_t created, int64_t modified);

/* --- model: export, import ---------------------------------------------- */

/*
 * GET /model answers, and PUT /model takes, the learned state of the
 * company's current agent version as one JSON document:
 *   {"format": PZ_MODEL_FORMAT, "formatVersion": 1, "company", "agentVersion",
 *    "policy", "exportedAt",
 *    "values": [{"stateKey", "offer", "n", "rewardSum", "successes",
 *                "failures", "priorValue", "priorWeight", "priorAlpha",
 *                "priorBeta"}...],          the tabular policies' statistics
 *    "contextual": [{"offer", "n", "tick", "stats": {"b": [d], "S": [d(d+1)/2]}}...]}
 *                                           the contextual policies' (model.c)
 * company, agentVersion, policy and exportedAt are informative: an import
 * applies to the importing company's current agent version.
 */
#define PZ_MODEL_FORMAT "offerd-personalizer-model"
#define PZ_MODEL_ROWS_MAX 20000 /* values or contextual rows in one import */
#define PZ_MODEL_DIM_MAX 4096   /* b's length in a contextual row */

typedef struct pz_value_row {
	const char *state_key; /* borrowed (the parsed document, or the caller's) */
	const char *offer;
	double n, reward_sum, successes, failures;
	double prior_value, prior_weight, prior_alpha, prior_beta;
} pz_value_row;

typedef struct pz_model_row {
	const char *offer; /* borrowed */
	double n;
	int64_t tick;
	const char
	    *stats; /* JSON text {"b": [...], "S": [...]}, borrowed; owned by pz_model when parsed */
} pz_model_row;

typedef struct pz_model {
	json_t *root; /* owned */
	size_t n_values;
	pz_value_row *values; /* owned array, distinct (stateKey, offer) */
	size_t n_rows;
	pz_model_row *rows; /* owned array, distinct offers, no clock row */
} pz_model;

/* Parses and validates a PUT /model body (PZ_INVALID_MODEL on bad input). */
int pz_model_parse(const char *body, size_t len, pz_model *out, pz_error *e);
void pz_model_free(pz_model *m);
/* One exported row, as a new JSON object. */
json_t *pz_value_row_json(const pz_value_row *r);
json_t *pz_model_row_json(const pz_model_row *r);
/* The export document around the rows (arrays, stolen); JSON text the caller frees. */
char *pz_model_json(const char *company, const char *version, const char *policy, json_t *values,
                    json_t *contextual);

/* --- paths --------------------------------------------------------------- */

typedef enum pz_op {
	PZ_OP_NONE = 0,
	PZ_OP_RANK,             /* POST rank */
	PZ_OP_REWARD,           /* POST events/{id}/reward */
	PZ_OP_ACTIVATE,         /* POST events/{id}/activate */
	PZ_OP_MULTI_RANK,       /* POST multislot/rank */
	PZ_OP_MULTI_REWARD,     /* POST multislot/events/{id}/reward */
	PZ_OP_MULTI_ACTIVATE,   /* POST multislot/events/{id}/activate */
	PZ_OP_SERVICE_GET,      /* GET configurations/service */
	PZ_OP_SERVICE_PUT,      /* PUT configurations/service */
	PZ_OP_POLICY_GET,       /* GET configurations/policy */
	PZ_OP_POLICY_PUT,       /* PUT configurations/policy */
	PZ_OP_POLICY_DELETE,    /* DELETE configurations/policy */
	PZ_OP_EVAL_LIST,        /* GET evaluations */
	PZ_OP_EVAL_CREATE,      /* POST evaluations */
	PZ_OP_EVAL_GET,         /* GET evaluations/{id} */
	PZ_OP_EVAL_DELETE,      /* DELETE evaluations/{id} */
	PZ_OP_MODEL_GET,        /* GET model */
	PZ_OP_MODEL_PUT,        /* PUT model */
	PZ_OP_MODEL_DELETE,     /* DELETE model */
	PZ_OP_MODEL_PROPERTIES, /* GET model/properties */
	PZ_OP_LOGS_DELETE,      /* DELETE logs */
	PZ_OP_LOGS_PROPERTIES,  /* GET logs/properties */
} pz_op;

#define PZ_PREFIX "/personalizer/v1.0/"

/*
 * Resolves METHOD and a path under PZ_PREFIX (already percent-decoded, no
 * query) to an operation; the {eventId} or {evaluationId} segment is copied
 * into id and checked. Returns 0, or a negative code with e filled: 404 for
 * an unknown path, 405 for a known path with another method, 400 for a bad id.
 */
int pz_path_parse(const char *method, const char *path, pz_op *op, char id[PZ_ID_MAX + 1], pz_error *e);

#endif
