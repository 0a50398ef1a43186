/*
 * date.h — calendar dates: the one parser of the dates and date-times that
 * requests, CSV files, transaction exports, the stores' rows and the
 * Personalizer API carry, the one writer of a row's time, the windows of
 * the log users ask for, and the calendar the state key is made of (month
 * names, the half of the month, weekday names, day numbers).
 *
 * A request's date is taken as written: the client's local date is what
 * shapes behaviour (month, half, weekday), so date_parse checks a time zone
 * but does not apply it. An instant (a row's time, a window's ends,
 * Personalizer's times) has its zone applied: date_time_utc.
 */
#ifndef OFFERD_DATE_H
#define OFFERD_DATE_H

#include <stddef.h>
#include <stdint.h>

#define DATE_TEXT_LEN 11      /* "YYYY-MM-DD" and its NUL */
#define DATE_TIME_TEXT_LEN 21 /* "YYYY-MM-DDTHH:MM:SSZ" and its NUL */
#define DATE_STAMP_LEN 25     /* "YYYY-MM-DDTHH:MM:SS.mmmZ" and its NUL */

/* A proleptic Gregorian calendar date. */
typedef struct date_ymd {
	int year, month, day; /* year 1..9999, month 1..12, day 1..31 */
	int weekday;          /* 0 = Sunday .. 6 = Saturday */
} date_ymd;

/* A date-time as written: its date, its time of day and its zone. */
typedef struct date_time {
	date_ymd date;
	int hour, minute, second; /* 00:00:00 for a bare date; second may be 60 (a leap second) */
	int millis;               /* the fraction's first three digits */
	int offset;               /* the zone in seconds east of UTC; 0 for Z, or for none */
} date_time;

/*
 * Parses YYYY-MM-DD or an ISO 8601 date-time (YYYY-MM-DD[T ]HH:MM[:SS[.f]]
 * [Z|±HH|±HH:MM|±HHMM]; the fraction is kept to the millisecond); the date
 * must exist. This is also how the stores write a row's time.
 * Returns 0 or ERR_INVAL.
 */
int date_time_parse(const char *s, date_time *out);
/* date_time_parse's date, as written (requests and customer CSVs). */
int date_parse(const char *s, date_ymd *out);
#define DATE_TIME_MIN (-62135596800LL) /* 0001-01-01T00:00:00Z, the first instant with a text */
#define DATE_TIME_MAX 253402300799LL   /* 9999-12-31T23:59:59Z, the last instant with a text */
/* Seconds from 1970-01-01T00:00:00Z to t, its zone applied. */
int64_t date_time_utc(const date_time *t);
/* Writes the UTC instant t (seconds since 1970) as YYYY-MM-DDTHH:MM:SSZ. */
void date_time_format(int64_t t, char out[DATE_TIME_TEXT_LEN]);
/* The same with milliseconds, YYYY-MM-DDTHH:MM:SS.mmmZ: how offerd writes a row's time (SQLite's
 * last_update, the export), so that such texts order as their instants do. */
void date_stamp_format(int64_t t, int millis, char out[DATE_STAMP_LEN]);
/* A row's time as either store writes it (SQLite "2026-12-03T22:04:01.123Z", PostgreSQL's text
 * of a timestamptz in any session zone "2026-12-03 23:04:01.123456+01") into the UTC instant
 * *t and its *millis: a date-time, its zone applied (none is UTC). Returns 0 or ERR_INVAL. */
int date_stamp_parse(const char *s, int64_t *t, int *millis);
/* The instant `when` (seconds since 1970 with a fraction, as util_now) as a row's time. */
void date_stamp_at(double when, char out[DATE_STAMP_LEN]);
/* Now as a row's time (log lines, evaluations' times, Personalizer's edits). */
void date_stamp_now(char out[DATE_STAMP_LEN]);
/* Today's UTC date, YYYY-MM-DD. */
void date_today(char out[DATE_TEXT_LEN]);

/*
 * A window of the log, [from, to), from what a user writes (offerctl export
 * and evaluate, GET /export, POST /evaluations, Personalizer's evaluations):
 * a date `from` is that day's start; a date `to` takes that day in (the
 * window ends at the next day's start); a date-time is its instant, its zone
 * applied (none is UTC). NULL or "" leaves that end open. The bounds are
 * written as the rows' times are (date_stamp_format), so either store
 * compares them as instants, in any session time zone.
 */
typedef struct date_window {
	char from[DATE_STAMP_LEN];
	char to[DATE_STAMP_LEN];
} date_window;

/* Returns 0, or ERR_INVAL with *field "from" or "to" and err saying why (not
 * a date, or a window that holds no time). */
int date_window_parse(const char *from, const char *to, date_window *out, const char **field, char *err,
                      size_t errlen);

/*
 * Parses a transaction export's date: YYYY-M-D or M/D/YYYY (M/D/YY is
 * 20YY), years 1900..2200, optionally followed by ' ' or 'T' and a time
 * that is skipped (digits, ':' and '.', then an optional 'Z'). This is the
 * form spreadsheets write (the UCI Online Retail file); offerctl train uses
 * it. Returns 0 or ERR_INVAL.
 */
int date_parse_export(const char *s, date_ymd *out);

/* Checks that y-m-d exists and fills out (with its weekday). Returns 0 or ERR_INVAL. */
int date_make(int year, int month, int day, date_ymd *out);

/* Days since 1970-01-01 (negative before). */
int32_t date_days(const date_ymd *d);
/* The date of a day number (the inverse of date_days). */
void date_from_days(int32_t days, date_ymd *out);
/* The day after d into out; ERR_RANGE after 9999-12-31, the calendar's last day with a text. */
int date_next(const date_ymd *d, date_ymd *out);
/* Days from `from` to `to` (negative when `to` is earlier). */
int32_t date_days_between(const date_ymd *from, const date_ymd *to);

/* The brief's half of the month: 0 for days 1..15, 1 for 16 and later. */
int date_half(int day);
/* "January".."December" for 1..12; NULL outside. */
const char *date_month_name(int month);
/* "Sunday".."Saturday" for 0..6; NULL outside. */
const char *date_weekday_name(int weekday);

/* Writes YYYY-MM-DD. */
void date_format(const date_ymd *d, char out[DATE_TEXT_LEN]);

#endif
