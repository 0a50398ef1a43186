/*
 * cors.c — the --cors-origin list: parsing and matching.
 */
#include "cors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

int cors_parse(cors *c, const char *list, char *err, size_t errlen)
{
	const char *p = list;

	memset(c, 0, sizeof(*c));
	while (p != NULL && *p != '\0') {
		const char *host;
		size_t n;

		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		n = strcspn(p, ", ");
		if (n == 1 && *p == '*') {
			c->any = 1;
			p += n;
			continue;
		}
		host = NULL;
		if (n > 8 && strncmp(p, "https://", 8) == 0)
			host = p + 8;
		else if (n > 7 && strncmp(p, "http://", 7) == 0)
			host = p + 7;
		if (host == NULL || memchr(host, '/', (size_t)(p + n - host)) != NULL) {
			snprintf(err, errlen,
			         "\"%.*s\" is not an origin like https://shop.example.com "
			         "(scheme, host, optional port, no path)",
			         (int)(n > 200 ? 200 : n), p);
			cors_free(c);
			return ERR_INVAL;
		}
		if (c->n == CORS_MAX) {
			snprintf(err, errlen, "at most %d origins", CORS_MAX);
			cors_free(c);
			return ERR_INVAL;
		}
		c->origin[c->n] = xmalloc(n + 1);
		memcpy(c->origin[c->n], p, n);
		c->origin[c->n][n] = '\0';
		c->n++;
		p += n;
	}
	return 0;
}

int cors_allowed(const cors *c, const char *origin)
{
	if (origin == NULL || origin[0] == '\0')
		return 0;
	if (c->any)
		return 1;
	for (size_t i = 0; i < c->n; i++) {
		if (strcasecmp(c->origin[i], origin) == 0)
			return 1;
	}
	return 0;
}

int cors_enabled(const cors *c)
{
	return c->any || c->n > 0;
}

void cors_free(cors *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->origin[i]);
	memset(c, 0, sizeof(*c));
}
