/*
 * pylit.c — a small recursive-descent parser for Python literals.
 *
 * Accepted: {k: v, ...} (keys str/int/float/bool, converted to strings),
 * [..] and (..) as arrays, '...' and "..." strings with the usual escapes
 * (\n \t \\ \' \" \xHH \uHHHH), integers, floats, True/False/None, trailing
 * commas and white space. Rejected: anything else, including expressions,
 * invalid UTF-8 and nesting deeper than PYLIT_DEPTH_MAX.
 */
#include "pylit.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

typedef struct parser {
	const char *s;
	size_t len;
	size_t pos;
	int depth;
	char *err;
	size_t errlen;
} parser;

static json_t *parse_value(parser *p);

static json_t *fail(parser *p, const char *what)
{
	if (p->err != NULL && p->errlen > 0 && p->err[0] == '\0')
		snprintf(p->err, p->errlen, "%s at offset %zu", what, p->pos);
	return NULL;
}

static void skip_ws(parser *p)
{
	while (p->pos < p->len && isspace((unsigned char)p->s[p->pos]))
		p->pos++;
}

static int peek(parser *p)
{
	return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

/* Appends code point cp as UTF-8. */
static int add_utf8(buf *b, unsigned cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		if (cp >= 0xd800 && cp <= 0xdfff)
			return ERR_INVAL;
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else if (cp <= 0x10ffff) {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	} else {
		return ERR_INVAL;
	}
	return buf_add(b, u, n);
}

static json_t *parse_string(parser *p)
{
	char quote = p->s[p->pos++];
	json_t *out = NULL;
	buf b;
	int rc;

	buf_init(&b, p->len + 1);
	rc = buf_add(&b, "", 0);
	while (p->pos < p->len && rc == 0) {
		char c = p->s[p->pos++];

		if (c == quote) {
			out = json_stringn(b.data, b.len);
			if (out == NULL)
				fail(p, "invalid UTF-8 in string");
			buf_free(&b);
			return out;
		}
		if (c == '\n') {
			p->pos--;
			break;
		}
		if (c != '\\') {
			rc |= buf_add(&b, &c, 1);
			continue;
		}
		if (p->pos >= p->len)
			break;
		c = p->s[p->pos++];
		switch (c) {
		case 'n': rc |= buf_adds(&b, "\n"); break;
		case 't': rc |= buf_adds(&b, "\t"); break;
		case 'r': rc |= buf_adds(&b, "\r"); break;
		case '0': rc |= buf_add(&b, "\0", 1); break;
		case '\\': rc |= buf_adds(&b, "\\"); break;
		case '\'': rc |= buf_adds(&b, "'"); break;
		case '"': rc |= buf_adds(&b, "\""); break;
		case 'x':
		case 'u': {
			int digits = c == 'x' ? 2 : 4;
			unsigned cp = 0;

			for (int i = 0; i < digits; i++) {
				int h = p->pos < p->len ? util_hexval((unsigned char)p->s[p->pos]) : -1;

				if (h < 0) {
					buf_free(&b);
					return fail(p, "bad escape in string");
				}
				cp = cp * 16 + (unsigned)h;
				p->pos++;
			}
			if (add_utf8(&b, cp) != 0) {
				buf_free(&b);
				return fail(p, "bad code point in string");
			}
			break;
		}
		default:
			/* Python keeps unknown escapes as written. */
			rc |= buf_add(&b, "\\", 1);
			rc |= buf_add(&b, &c, 1);
			break;
		}
	}
	buf_free(&b);
	/* Unreachable while the limit is the input's length: unescaping only shrinks. */
	if (rc != 0)
		return fail(p, "string too long");
	return fail(p, "unterminated string");
}

static json_t *parse_number(parser *p)
{
	size_t start = p->pos;
	int is_float = 0;
	char tmp[64];
	size_t n;

	if (peek(p) == '-' || peek(p) == '+')
		p->pos++;
	while (p->pos < p->len) {
		int c = (unsigned char)p->s[p->pos];

		if (isdigit(c) || c == '_') {
			p->pos++;
		} else if (c == '.' || c == 'e' || c == 'E' ||
		           ((c == '-' || c == '+') && is_float && tolower(p->s[p->pos - 1]) == 'e')) {
			is_float = 1;
			p->pos++;
		} else {
			break;
		}
	}
	n = p->pos - start;
	if (n == 0 || n >= sizeof(tmp))
		return fail(p, "bad number");
	/* Python allows 1_000; drop the underscores. */
	{
		size_t j = 0;

		for (size_t i = 0; i < n; i++) {
			if (p->s[start + i] != '_')
				tmp[j++] = p->s[start + i];
		}
		tmp[j] = '\0';
	}
	if (!is_float) {
		int64_t v;

		if (util_strtonum(tmp, INT64_MIN, INT64_MAX, &v) == 0)
			return json_integer((json_int_t)v);
		return fail(p, "integer out of range");
	} else {
		double d;

		if (util_strtod(tmp, -1e308, 1e308, &d) == 0)
			return json_real(d);
		return fail(p, "bad number");
	}
}

static int match_word(parser *p, const char *w)
{
	size_t n = strlen(w);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, w, n) != 0)
		return 0;
	if (p->pos + n < p->len && (isalnum((unsigned char)p->s[p->pos + n]) || p->s[p->pos + n] == '_'))
		return 0;
	p->pos += n;
	return 1;
}

/* Converts a dict key to the string JSON needs, as Python's str() would. */
static char *key_string(json_t *k)
{
	if (json_is_string(k))
		return xstrdup(json_string_value(k));
	if (json_is_integer(k))
		return xasprintf("%lld", (long long)json_integer_value(k));
	if (json_is_real(k))
		return xasprintf("%.17g", json_real_value(k));
	if (json_is_true(k))
		return xstrdup("True");
	if (json_is_false(k))
		return xstrdup("False");
	if (json_is_null(k))
		return xstrdup("None");
	return NULL;
}

static json_t *parse_container(parser *p, char close, int is_dict)
{
	json_t *out = is_dict ? json_object() : json_array();

	p->pos++;
	if (++p->depth > PYLIT_DEPTH_MAX) {
		json_decref(out);
		return fail(p, "nesting too deep");
	}
	for (;;) {
		json_t *k = NULL;
		json_t *v = NULL;

		skip_ws(p);
		if (peek(p) == close) {
			p->pos++;
			break;
		}
		if (is_dict) {
			char *ks;

			k = parse_value(p);
			if (k == NULL)
				goto bad;
			ks = key_string(k);
			json_decref(k);
			if (ks == NULL) {
				fail(p, "dict key must be a string or number");
				goto bad;
			}
			skip_ws(p);
			if (peek(p) != ':') {
				free(ks);
				fail(p, "expected ':'");
				goto bad;
			}
			p->pos++;
			v = parse_value(p);
			if (v == NULL) {
				free(ks);
				goto bad;
			}
			json_object_set_new(out, ks, v);
			free(ks);
		} else {
			v = parse_value(p);
			if (v == NULL)
				goto bad;
			json_array_append_new(out, v);
		}
		skip_ws(p);
		if (peek(p) == ',') {
			p->pos++;
			continue;
		}
		if (peek(p) == close) {
			p->pos++;
			break;
		}
		fail(p, is_dict ? "expected ',' or '}'" : "expected ',' or closing bracket");
		goto bad;
	}
	p->depth--;
	return out;
bad:
	json_decref(out);
	return NULL;
}

static json_t *parse_value(parser *p)
{
	int c;

	skip_ws(p);
	c = peek(p);
	switch (c) {
	case -1: return fail(p, "unexpected end of input");
	case '{': return parse_container(p, '}', 1);
	case '[': return parse_container(p, ']', 0);
	case '(': return parse_container(p, ')', 0);
	case '\'':
	case '"': return parse_string(p);
	default: break;
	}
	if (c == '-' || c == '+' || c == '.' || isdigit(c))
		return parse_number(p);
	if (match_word(p, "True"))
		return json_true();
	if (match_word(p, "False"))
		return json_false();
	if (match_word(p, "None"))
		return json_null();
	return fail(p, "unexpected character");
}

json_t *pylit_parse(const char *text, size_t len, char *err, size_t errlen)
{
	parser p = {text, len, 0, 0, err, errlen};
	json_t *v;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (memchr(text, '\0', len) != NULL) {
		p.pos = (size_t)((const char *)memchr(text, '\0', len) - text);
		return fail(&p, "NUL byte");
	}
	v = parse_value(&p);
	if (v == NULL)
		return NULL;
	skip_ws(&p);
	if (p.pos != p.len) {
		json_decref(v);
		return fail(&p, "unexpected text after the value");
	}
	return v;
}
