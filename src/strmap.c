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

static const char *slot_key(const void *slots, size_t size, size_t i)
{
	return *(char *const *)(const void *)((const char *)slots + i * size);
}

size_t strmap_probe(const void *slots, size_t size, size_t cap, const char *key)
{
	size_t i = util_hash(key) & (cap - 1);
	const char *k;

	while ((k = slot_key(slots, size, i)) != NULL && strcmp(k, key) != 0)
		i = (i + 1) & (cap - 1);
	return i;
}

void *strmap_reserve(void *slots, size_t size, size_t *cap, size_t used)
{
	char *grown;

	if ((used + 1) * 10 <= *cap * 7)
		return slots;
	grown = xcalloc(*cap * 2, size);
	for (size_t i = 0; i < *cap; i++) {
		const char *k = slot_key(slots, size, i);

		if (k != NULL)
			memcpy(grown + strmap_probe(grown, size, *cap * 2, k) * size,
			       (char *)slots + i * size, size);
	}
	free(slots);
	*cap *= 2;
	return grown;
}

static slot *lookup(const strmap *m, const char *key)
{
	return &m->slots[strmap_probe(m->slots, sizeof(slot), m->cap, key)];
}

void strmap_put(strmap *m, const char *key, const char *value)
{
	slot *s;

	m->slots = strmap_reserve(m->slots, sizeof(slot), &m->cap, m->used);
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
