/*
 * util.c — allocation, bounded number parsing, the growable buffer and time
 * helpers shared by offerd and offerctl.
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <string.h>
#include <time.h>

#include "log.h"

static void oom(size_t n)
{
	log_msg(LOG_ERROR, "out of memory allocating %zu bytes", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom(n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		oom(n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		oom(n);
	return q;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom(0);
	return s;
}

int util_strtonum(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end = NULL;
	long long v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return ERR_INVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || *end != '\0')
		return ERR_INVAL;
	if (errno == ERANGE || v < min || v > max)
		return ERR_RANGE;
	*out = (int64_t)v;
	return 0;
}

int util_strtod(const char *s, double min, double max, double *out)
{
	char *end = NULL;
	double v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return ERR_INVAL;
	/* Decimal only: strtod would also take hex ("0x10"), "inf" and "nan". */
	for (const char *p = s; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p) && *p != '.' && *p != '-' && *p != '+' && *p != 'e' &&
		    *p != 'E')
			return ERR_INVAL;
	}
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0')
		return ERR_INVAL;
	if (errno == ERANGE || !isfinite(v) || v < min || v > max)
		return ERR_RANGE;
	*out = v;
	return 0;
}

static const char hex[] = "0123456789abcdef"; /* util_hex's and buf_add_json's digits */

void util_hex(const unsigned char *raw, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[2 * n] = '\0';
}

int util_random_hex(char *out, size_t len)
{
	unsigned char raw[64];
	size_t n = len / 2;

	if (n > sizeof(raw) || getrandom(raw, n, 0) != (ssize_t)n)
		return ERR_IO;
	util_hex(raw, n, out);
	return 0;
}

int util_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

size_t util_utf8_len(const unsigned char *s)
{
	size_t n;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	/* The NUL at the end is not a continuation byte: a truncated sequence stops here. */
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

int util_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		size_t n = util_utf8_len(p);

		if (n == 0)
			return 0;
		p += n;
	}
	return 1;
}

void util_utf8_repair(const char *s, char *out, size_t n)
{
	static const char fffd[] = "\xef\xbf\xbd";
	const unsigned char *p = (const unsigned char *)s;
	size_t w = 0;

	if (n == 0)
		return;
	while (*p != '\0') {
		size_t len = util_utf8_len(p);
		const char *from = len > 0 ? (const char *)p : fffd;
		size_t take = len > 0 ? len : 3;

		if (w + take >= n)
			break;
		memcpy(out + w, from, take);
		w += take;
		p += len > 0 ? len : 1;
	}
	out[w] = '\0';
}

char *util_utf8_fixed(const char *s)
{
	size_t n = strlen(s) * 3 + 1; /* each bad byte becomes the three of U+FFFD */
	char *out;

	if (util_utf8_valid(s))
		return NULL;
	out = xmalloc(n);
	util_utf8_repair(s, out, n);
	return out;
}

uint64_t util_hash(const char *s)
{
	return util_hash_bytes(s, strlen(s));
}

uint64_t util_hash_bytes(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

int util_streq_nocase(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

int util_name_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(s, names[i]) == 0)
			return (int)i;
	}
	return -1;
}

const char *util_pair_find(const util_pair *t, size_t n, const char *key, int nocase, const char *dflt)
{
	for (size_t i = 0; key != NULL && i < n; i++) {
		if (nocase ? strcasecmp(key, t[i].key) == 0 : strcmp(key, t[i].key) == 0)
			return t[i].value;
	}
	return dflt;
}

size_t util_strlcpy(char *dst, const char *src, size_t dstsize)
{
	size_t n = strlen(src);

	if (dstsize > 0) {
		size_t c = n < dstsize - 1 ? n : dstsize - 1;

		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

char *util_trim(char *s)
{
	size_t n;
	char *p = s;

	while (*p != '\0' && isspace((unsigned char)*p))
		p++;
	n = strlen(p);
	while (n > 0 && isspace((unsigned char)p[n - 1]))
		n--;
	memmove(s, p, n);
	s[n] = '\0';
	return s;
}

void buf_init(buf *b, size_t limit)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->limit = limit;
}

void buf_free(buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void buf_reset(buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

int buf_add(buf *b, const void *data, size_t len)
{
	size_t need;

	if (len > b->limit || b->len > b->limit - len) {
		buf_free(b);
		return ERR_TOOBIG;
	}
	need = b->len + len + 1;
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < need)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int buf_adds(buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int buf_add_json(buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *run = p; /* bytes not yet added, written as they are */
	int rc = buf_add(b, "\"", 1);

	while (rc == 0 && *p != '\0') {
		char esc[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
		size_t n = 2;
		size_t len;

		switch (*p) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			len = *p < 0x20 ? 0 : *p < 0x80 ? 1 : util_utf8_len(p);
			if (len > 0) {
				p += len;
				continue;
			}
			if (*p >= 0x80)
				memcpy(esc, "\\ufffd", 6);
			n = 6;
		}
		rc = buf_add(b, run, (size_t)(p - run));
		if (rc == 0)
			rc = buf_add(b, esc, n);
		run = ++p;
	}
	if (rc == 0)
		rc = buf_add(b, run, (size_t)(p - run));
	return rc != 0 ? rc : buf_add(b, "\"", 1);
}

int buf_vaddf(buf *b, const char *fmt, va_list ap)
{
	char small[256];
	va_list ap2;
	int n;
	int rc;

	va_copy(ap2, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return ERR_INVAL;
	if ((size_t)n < sizeof(small))
		return buf_add(b, small, (size_t)n);
	{
		char *big = xmalloc((size_t)n + 1);

		vsnprintf(big, (size_t)n + 1, fmt, ap);
		rc = buf_add(b, big, (size_t)n);
		free(big);
	}
	return rc;
}

int buf_addf(buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vaddf(b, fmt, ap);
	va_end(ap);
	return rc;
}

char *buf_steal(buf *b)
{
	char *p = b->data;

	if (p == NULL)
		p = xstrdup("");
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}

double util_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void util_deadline(double seconds, struct timespec *out)
{
	clock_gettime(CLOCK_REALTIME, out);
	out->tv_sec += (time_t)seconds;
	out->tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
	if (out->tv_nsec >= 1000000000L) {
		out->tv_sec++;
		out->tv_nsec -= 1000000000L;
	}
}

double util_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
