/*
 * util.h — the small things every module uses: allocation that never returns
 * NULL, one bounded number parser, a growable buffer with a hard limit, and
 * string helpers.
 */
#ifndef OFFERD_UTIL_H
#define OFFERD_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define UTIL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Error codes shared by every module: 0 is success, these are negative. */
enum {
	ERR_NOMEM = -1,
	ERR_INVAL = -2,      /* bad input; the caller has a message */
	ERR_RANGE = -3,      /* a number or size out of bounds */
	ERR_NOTFOUND = -4,   /* no such row / customer / key */
	ERR_CONFLICT = -5,   /* unique violation, already rewarded */
	ERR_UNAVAIL = -6,    /* database down, queue full: retry later */
	ERR_IO = -7,         /* database or file error */
	ERR_TOOBIG = -8,     /* over a configured limit */
	ERR_AUTH = -9,       /* missing or wrong credentials */
	ERR_RATE = -10,      /* rate limit */
	ERR_SYNTAX = -11,    /* malformed input (bad JSON, bad CSV) */
	ERR_MEDIA = -12,     /* unsupported content type */
	ERR_METHOD = -13,    /* method not allowed on a known path */
	ERR_FORBIDDEN = -14, /* valid credentials without the right (a client key on an admin route) */
};

/* Out-of-memory is handled once: these log and abort instead of returning. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
/* Returns a copy the caller frees. */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a formatted string the caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The one number parser: the whole of `s` must be a base-10 integer within
 * [min, max]. Returns 0, ERR_INVAL (not a number) or ERR_RANGE.
 */
int util_strtonum(const char *s, int64_t min, int64_t max, int64_t *out);
/* Same for a finite double within [min, max]. */
int util_strtod(const char *s, double min, double max, double *out);

/* The value of a hex digit, or -1. */
int util_hexval(int c);
/* The n bytes at raw as 2n lowercase hex digits and a NUL into out (2n + 1 bytes). */
void util_hex(const unsigned char *raw, size_t n, char *out);
/*
 * UTF-8 (RFC 3629), for text that reaches JSON or PostgreSQL, which take
 * nothing else. util_utf8_len: the length (1..4) of the valid sequence at s,
 * or 0 where none starts (overlongs, surrogates, code points past U+10FFFF,
 * a truncated sequence: s is NUL-terminated). util_utf8_valid: whether all
 * of s is UTF-8. util_utf8_repair: s into out (truncated to n, on a
 * character boundary), each byte that starts no sequence as U+FFFD.
 */
size_t util_utf8_len(const unsigned char *s);
int util_utf8_valid(const char *s);
void util_utf8_repair(const char *s, char *out, size_t n);
/* NULL when s is UTF-8 (use s as it is); else s repaired as util_utf8_repair does, whole, in
 * memory the caller frees. For text bound for JSON, which takes nothing else. */
char *util_utf8_fixed(const char *s);
/* len (even) random lowercase hex digits and a NUL into out, from getrandom: an id nobody can
 * guess. Returns 0, or ERR_IO when the kernel gives no randomness. */
int util_random_hex(char *out, size_t len);

/* FNV-1a 64-bit hash of a string, for the hash tables. */
uint64_t util_hash(const char *s);
/* The same of the len bytes at s (a key that is not NUL-terminated). */
uint64_t util_hash_bytes(const char *s, size_t len);

/* -1, 0 or 1 as a is less than, equal to or greater than b: the three-way compare qsort wants. */
static inline int util_cmp_i64(int64_t a, int64_t b)
{
	return (a > b) - (a < b);
}

/* Case-insensitive ASCII comparison helpers. */
int util_streq_nocase(const char *a, const char *b);
/* The index of s among names[0..n) (ASCII case-insensitive), or -1 when it is none of them. */
int util_name_index(const char *const *names, size_t n, const char *s);
/* Copies at most dstsize-1 bytes and always terminates; returns strlen(src). */
size_t util_strlcpy(char *dst, const char *src, size_t dstsize);
/* Trims ASCII white space at both ends in place; returns s. */
char *util_trim(char *s);

/* A row of a table that names a text by a key (aliases, file extensions). */
typedef struct util_pair {
	const char *key;
	const char *value;
} util_pair;
/*
 * The value of the first row of t[0..n-1] whose key is `key` (ASCII case
 * ignored when nocase), or dflt when none is or key is NULL. Returns
 * pointers into the table; nothing to free.
 */
const char *util_pair_find(const util_pair *t, size_t n, const char *key, int nocase, const char *dflt);

/*
 * buf — a growable byte buffer with a hard size limit (curl's dynbuf).
 * On overflow of the limit the buffer frees itself and returns ERR_TOOBIG,
 * so a caller cannot keep writing into a half-filled buffer.
 */
typedef struct buf {
	char *data; /* NUL-terminated while len < cap */
	size_t len;
	size_t cap;
	size_t limit;
} buf;

void buf_init(buf *b, size_t limit);
void buf_free(buf *b);
void buf_reset(buf *b);
int buf_add(buf *b, const void *data, size_t len) __attribute__((warn_unused_result));
int buf_adds(buf *b, const char *s) __attribute__((warn_unused_result));
int buf_addf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3), warn_unused_result));
int buf_vaddf(buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0), warn_unused_result));
/*
 * Appends s as a JSON string, in its quotes, byte for byte as jansson writes
 * it (\" \\ \b \f \n \r \t, other control characters \u00XX, UTF-8 as it
 * is), and each byte that is not UTF-8 as \ufffd (jansson refuses them), so
 * the text is valid JSON whatever s holds.
 */
int buf_add_json(buf *b, const char *s) __attribute__((warn_unused_result));
/* Detaches the data (caller frees) and resets the buffer. */
char *buf_steal(buf *b);

/* Seconds since the epoch with sub-second precision, from CLOCK_REALTIME. */
double util_now(void);
/*
 * The CLOCK_REALTIME instant `seconds` from now, as pthread_cond_timedwait
 * takes its deadline (seconds >= 0).
 */
void util_deadline(double seconds, struct timespec *out);
/* Monotonic seconds, for durations. */
double util_monotonic(void);

#endif
