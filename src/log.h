/*
 * log.h — the one logging function. Lines go to stderr, as text or as JSON
 * objects (one per line) when the format is set to json.
 */
#ifndef OFFERD_LOG_H
#define OFFERD_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Sets the minimum level and the output format ("text" or "json"). */
void log_setup(enum log_level level, int json);
/* Parses "debug", "info", "warn", "error"; returns 0 or -1. */
int log_level_parse(const char *s, enum log_level *out);
int log_is_json(void);
int log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
