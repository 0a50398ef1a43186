/*
 * log.c — levels, text or JSON lines on stderr. A single write(2) per line
 * keeps lines from different threads whole.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "date.h"
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

#define LOG_MARKER " [truncated]"
#define LOG_CUT 512 /* a message's bytes kept when its line is over the limit */

/* Ends msg (of size size, at least LOG_CUT) with the truncation marker. */
static void mark_truncated(char *msg, size_t size)
{
	util_strlcpy(msg + size - sizeof(LOG_MARKER), LOG_MARKER, sizeof(LOG_MARKER));
}

/* The whole line for msg into line: 0, or ERR_TOOBIG (line is then freed). */
static int format_line(buf *line, const char *ts, enum log_level level, const char *msg)
{
	int rc;

	if (!json_format)
		return buf_addf(line, "%s %-5s %s\n", ts, level_names[level], msg);
	rc = buf_addf(line, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", ts, level_names[level]);
	if (rc == 0)
		rc = buf_add_json(line, msg);
	if (rc == 0)
		rc = buf_adds(line, "}\n");
	return rc;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char msg[2048];
	char ts[32];
	va_list ap;
	buf line;
	ssize_t w;
	int n;

	if (level < min_level)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* A message cut to fit says so rather than ending mid-word. */
	if (n >= (int)sizeof(msg))
		mark_truncated(msg, sizeof(msg));
	date_stamp_now(ts);
	/* The log buffer must not abort on a huge message: bounded, checked. */
	buf_init(&line, sizeof(msg) * 8);
	if (format_line(&line, ts, level, msg) != 0) {
		/* Over the limit: the line goes out with the message's start and a marker. */
		mark_truncated(msg, LOG_CUT);
		buf_init(&line, sizeof(msg) * 8);
		if (format_line(&line, ts, level, msg) != 0)
			buf_free(&line);
	}
	if (line.data != NULL) {
		w = write(STDERR_FILENO, line.data, line.len);
		(void)w;
	}
	buf_free(&line);
}
