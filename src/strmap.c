/*
 * strmap.c — open addressing with linear probing, FNV-1a hashing.
 */
#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

typedef struct slot {
	char *key;
	char *value;
} slot;

struct strmap {
	slot *slots;
	size_t cap;
	size_t used;
};

strmap *strmap_new(void)
{
	strmap *m = xcalloc(1, sizeof(*m));

	m->cap = 64;
	m->slots = xcalloc(m->cap, sizeof(slot));
	return m;
}

void strmap_free(strmap *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->cap; i++) {
		free(m->slots[i].key);
		free(m->slots[i].value);
	}
	free(m->slots);
	free(m);
}

static slot *lookup(const strmap *m, const char *key)
{
	size_t i = util_hash(key) & (m->cap - 1);

	while (m->slots[i].key != NULL && strcmp(m->slots[i].key, key) != 0)
		i = (i + 1) & (m->cap - 1);
	return &m->slots[i];
}

void strmap_put(strmap *m, const char *key, const char *value)
{
	slot *s;

	if ((m->used + 1) * 10 > m->cap * 7) {
		slot *old = m->slots;
		size_t oldcap = m->cap;

		m->cap *= 2;
		m->slots = xcalloc(m->cap, sizeof(slot));
		for (size_t i = 0; i < oldcap; i++) {
			if (old[i].key != NULL)
				*lookup(m, old[i].key) = old[i];
		}
		free(old);
	}
	s = lookup(m, key);
	if (s->key == NULL) {
		s->key = xstrdup(key);
		m->used++;
	} else {
		free(s->value);
	}
	s->value = value ? xstrdup(value) : NULL;
}

int strmap_get(const strmap *m, const char *key, const char **value)
{
	const slot *s = lookup(m, key);

	if (s->key == NULL)
		return 0;
	*value = s->value;
	return 1;
}

size_t strmap_size(const strmap *m)
{
	return m->used;
}
