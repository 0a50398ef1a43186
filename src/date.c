/*
 * date.c — the date parsers and the calendar (see date.h). Every other file
 * that reads a date or names a month or weekday calls this one, so that the
 * state key offerctl train writes and the one /predict reads are made of
 * the same calendar.
 */
#include "date.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"

static const char *const month_names[12] = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December",
};
static const char *const weekday_names[7] = {
    "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
};

static int is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int32_t days_from_civil(int y, int m, int d)
{
	int era;
	int yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (int32_t)(era * 146097 + doe - 719468);
}

int date_make(int year, int month, int day, date_ymd *out)
{
	int32_t n;

	if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1 ||
	    day > days_in_month(year, month))
		return ERR_INVAL;
	n = days_from_civil(year, month, day);
	out->year = year;
	out->month = month;
	out->day = day;
	out->weekday = (int)((n % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
	return 0;
}

int32_t date_days(const date_ymd *d)
{
	return days_from_civil(d->year, d->month, d->day);
}

void date_from_days(int32_t day, date_ymd *out)
{
	int32_t z = day + 719468;
	int32_t era = (z >= 0 ? z : z - 146096) / 146097;
	int32_t doe = z - era * 146097;
	int32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int32_t mp = (5 * doy + 2) / 153;
	int32_t m = mp < 10 ? mp + 3 : mp - 9;

	out->day = (int)(doy - (153 * mp + 2) / 5 + 1);
	out->month = (int)m;
	out->year = (int)(yoe + era * 400 + (m <= 2));
	out->weekday = (int)((day % 7 + 7 + 4) % 7);
}

int date_next(const date_ymd *d, date_ymd *out)
{
	if (d->year >= 9999 && d->month == 12 && d->day == 31)
		return ERR_RANGE;
	date_from_days(date_days(d) + 1, out);
	return 0;
}

int32_t date_days_between(const date_ymd *from, const date_ymd *to)
{
	return date_days(to) - date_days(from);
}

int date_half(int day)
{
	return day > 15 ? 1 : 0;
}

const char *date_month_name(int month)
{
	return month >= 1 && month <= 12 ? month_names[month - 1] : NULL;
}

const char *date_weekday_name(int weekday)
{
	return weekday >= 0 && weekday <= 6 ? weekday_names[weekday] : NULL;
}

void date_format(const date_ymd *d, char out[DATE_TEXT_LEN])
{
	unsigned y = (unsigned)d->year % 10000u;
	unsigned m = (unsigned)d->month % 100u;
	unsigned day = (unsigned)d->day % 100u;

	snprintf(out, DATE_TEXT_LEN, "%04u-%02u-%02u", y, m, day);
}

/* Exactly n digits at s. */
static int digits(const char *s, size_t n, int *out)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* The time part of an ISO 8601 date-time, after the date: [T ]HH:MM[:SS[.f]][zone]. */
static int parse_iso_time(const char *t, date_time *out)
{
	int hh, mi, ss = 0;
	int ms = 0;
	int offset = 0;

	if (*t != 'T' && *t != 't' && *t != ' ')
		return ERR_INVAL;
	t++;
	if (strlen(t) < 5 || digits(t, 2, &hh) != 0 || t[2] != ':' || digits(t + 3, 2, &mi) != 0)
		return ERR_INVAL;
	t += 5;
	if (*t == ':') {
		if (digits(t + 1, 2, &ss) != 0)
			return ERR_INVAL;
		t += 3;
		if (*t == '.' || *t == ',') {
			int scale = 100;

			t++;
			if (!isdigit((unsigned char)*t))
				return ERR_INVAL;
			for (; isdigit((unsigned char)*t); t++, scale /= 10)
				ms += (*t - '0') * scale;
		}
	}
	if (hh > 23 || mi > 59 || ss > 60)
		return ERR_INVAL;
	if (*t == 'Z' || *t == 'z') {
		t++;
	} else if (*t == '+' || *t == '-') {
		int sign = *t == '-' ? -1 : 1;
		int oh, om = 0;

		t++;
		if (digits(t, 2, &oh) != 0 || oh > 23)
			return ERR_INVAL;
		t += 2;
		/* ±HH (PostgreSQL writes +00), ±HH:MM or ±HHMM. */
		if (*t != '\0') {
			if (*t == ':')
				t++;
			if (digits(t, 2, &om) != 0 || om > 59)
				return ERR_INVAL;
			t += 2;
		}
		offset = sign * (oh * 3600 + om * 60);
	}
	if (*t != '\0')
		return ERR_INVAL;
	out->hour = hh;
	out->minute = mi;
	out->second = ss;
	out->millis = ms;
	out->offset = offset;
	return 0;
}

int date_time_parse(const char *s, date_time *out)
{
	size_t n = strlen(s);
	int y, m, d;
	date_time tmp = {0};

	if (n < 10 || s[4] != '-' || s[7] != '-')
		return ERR_INVAL;
	if (digits(s, 4, &y) != 0 || digits(s + 5, 2, &m) != 0 || digits(s + 8, 2, &d) != 0)
		return ERR_INVAL;
	if (date_make(y, m, d, &tmp.date) != 0)
		return ERR_INVAL;
	if (n > 10 && parse_iso_time(s + 10, &tmp) != 0)
		return ERR_INVAL;
	*out = tmp;
	return 0;
}

int date_parse(const char *s, date_ymd *out)
{
	date_time t;

	if (date_time_parse(s, &t) != 0)
		return ERR_INVAL;
	*out = t.date;
	return 0;
}

int64_t date_time_utc(const date_time *t)
{
	return (int64_t)date_days(&t->date) * 86400 + t->hour * 3600 + t->minute * 60 + t->second -
	       t->offset;
}

void date_time_format(int64_t t, char out[DATE_TIME_TEXT_LEN])
{
	int64_t days = (t >= 0 ? t : t - 86399) / 86400;
	unsigned r = (unsigned)(t - days * 86400); /* 0..86399 */
	date_ymd d;

	date_from_days((int32_t)days, &d);
	/* The moduli only tell the compiler how wide each field is, as in date_format. */
	snprintf(out, DATE_TIME_TEXT_LEN, "%04u-%02u-%02uT%02u:%02u:%02uZ", (unsigned)d.year % 10000u,
	         (unsigned)d.month % 100u, (unsigned)d.day % 100u, r / 3600 % 100u, r % 3600 / 60,
	         r % 60);
}

int date_stamp_parse(const char *s, int64_t *t, int *millis)
{
	date_time dt;

	/* A row's time has a time of day: a bare date is not one. */
	if (s == NULL || strlen(s) <= 10 || date_time_parse(s, &dt) != 0)
		return ERR_INVAL;
	*t = date_time_utc(&dt);
	*millis = dt.millis;
	return 0;
}

void date_stamp_format(int64_t t, int millis, char out[DATE_STAMP_LEN])
{
	char base[DATE_TIME_TEXT_LEN];

	date_time_format(t, base);
	snprintf(out, DATE_STAMP_LEN, "%.19s.%03uZ", base, (unsigned)millis % 1000u);
}

#define WINDOW_DATE_HELP "a date YYYY-MM-DD or an ISO 8601 date-time"

/* One end of a window as an instant and its milliseconds, clamped to the calendar (an open
 * end, NULL or "", is the calendar's). */
static int window_end(const char *text, int is_to, int64_t *t, int *ms)
{
	date_time dt;

	*ms = 0;
	if (text == NULL || text[0] == '\0') {
		*t = is_to ? DATE_TIME_MAX : DATE_TIME_MIN;
		*ms = is_to ? 999 : 0;
		return 0;
	}
	if (date_time_parse(text, &dt) != 0)
		return ERR_INVAL;
	if (strlen(text) == 10 && is_to) {
		/* Through that day: the next day's start; after the calendar's last, its last instant. */
		if (date_next(&dt.date, &dt.date) != 0) {
			*t = DATE_TIME_MAX;
			*ms = 999;
			return 0;
		}
	}
	*t = date_time_utc(&dt);
	*ms = dt.millis;
	if (*t < DATE_TIME_MIN) {
		*t = DATE_TIME_MIN;
		*ms = 0;
	} else if (*t > DATE_TIME_MAX) {
		*t = DATE_TIME_MAX;
		*ms = 999;
	}
	return 0;
}

int date_window_parse(const char *from, const char *to, date_window *out, const char **field, char *err,
                      size_t errlen)
{
	int64_t tf, tt;
	int mf, mt;

	if (window_end(from, 0, &tf, &mf) != 0) {
		*field = "from";
		snprintf(err, errlen, "from must be " WINDOW_DATE_HELP ", got \"%.40s\"", from);
		return ERR_INVAL;
	}
	if (window_end(to, 1, &tt, &mt) != 0) {
		*field = "to";
		snprintf(err, errlen, "to must be " WINDOW_DATE_HELP ", got \"%.40s\"", to);
		return ERR_INVAL;
	}
	if (tf > tt || (tf == tt && mf >= mt)) {
		*field = "to";
		snprintf(err, errlen, "from (%.40s) must come before to (%.40s): the window is empty",
		         from, to);
		return ERR_INVAL;
	}
	date_stamp_format(tf, mf, out->from);
	date_stamp_format(tt, mt, out->to);
	return 0;
}

void date_stamp_at(double when, char out[DATE_STAMP_LEN])
{
	double whole = floor(when);

	date_stamp_format((int64_t)whole, (int)((when - whole) * 1000.0), out);
}

void date_stamp_now(char out[DATE_STAMP_LEN])
{
	date_stamp_at(util_now(), out);
}

void date_today(char out[DATE_TEXT_LEN])
{
	char now[DATE_TIME_TEXT_LEN];

	date_time_format((int64_t)time(NULL), now);
	util_strlcpy(out, now, DATE_TEXT_LEN);
}

/* Reads mind..maxd digits at *p into *out and advances *p. */
static int read_digits(const char **p, int mind, int maxd, int *out)
{
	int v = 0;
	int n = 0;

	while (n < maxd && isdigit((unsigned char)**p)) {
		v = v * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	if (n < mind)
		return ERR_INVAL;
	*out = v;
	return 0;
}

int date_parse_export(const char *s, date_ymd *out)
{
	const char *p = s;
	int y = 0;
	int m = 0;
	int d = 0;

	if (s == NULL)
		return ERR_INVAL;
	if (isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]) &&
	    isdigit((unsigned char)p[2]) && isdigit((unsigned char)p[3]) && p[4] == '-') {
		/* ISO: YYYY-MM-DD, the shared file's form. */
		if (read_digits(&p, 4, 4, &y) != 0 || *p++ != '-' || read_digits(&p, 1, 2, &m) != 0 ||
		    *p++ != '-' || read_digits(&p, 1, 2, &d) != 0)
			return ERR_INVAL;
	} else {
		/* M/D/YYYY or M/D/YY: the UCI original's Excel export. */
		if (read_digits(&p, 1, 2, &m) != 0 || *p++ != '/' || read_digits(&p, 1, 2, &d) != 0 ||
		    *p++ != '/' || read_digits(&p, 2, 4, &y) != 0)
			return ERR_INVAL;
		if (y < 100)
			y += 2000;
	}
	/* Only the date matters; a time part may follow and is checked loosely. */
	if (*p == ' ' || *p == 'T') {
		p++;
		while (isdigit((unsigned char)*p) || *p == ':' || *p == '.')
			p++;
		if (*p == 'Z')
			p++;
	}
	if (*p != '\0' || y < 1900 || y > 2200)
		return ERR_INVAL;
	return date_make(y, m, d, out);
}
