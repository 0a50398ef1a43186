/*
 * log.c — levels, text or JSON lines on stderr. A single write(2) per line
 * keeps lines from different threads whole.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static enum log_level min_level = LOG_INFO;
static int json_format;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(enum log_level level, int json)
{
	min_level = level;
	json_format = json;
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < UTIL_ARRAY_LEN(level_names); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

int log_is_json(void)
{
	return json_format;
}

int log_enabled(enum log_level level)
{
	return level >= min_level;
}

/* Appends s to b as the inside of a JSON string. */
static void json_escape(buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			buf_addf(b, "\\%c", c);
		else if (c < 0x20)
			buf_addf(b, "\\u%04x", c);
		else
			buf_add(b, s, 1);
	}
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char msg[2048];
	char ts[32];
	va_list ap;
	buf line;
	ssize_t w;

	if (level < min_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	util_now_iso(ts);
	/* The log buffer must not abort on a huge message: bounded, checked. */
	buf_init(&line, sizeof(msg) * 8);
	if (json_format) {
		buf_addf(&line, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts, level_names[level]);
		json_escape(&line, msg);
		buf_adds(&line, "\"}\n");
	} else {
		buf_addf(&line, "%s %-5s %s\n", ts, level_names[level], msg);
	}
	if (line.data != NULL) {
		w = write(STDERR_FILENO, line.data, line.len);
		(void)w;
	}
	buf_free(&line);
}
