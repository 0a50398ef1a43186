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
	strtab t;
};

void strtab_init(strtab *t, size_t size, size_t cap)
{
	t->size = size;
	t->cap = cap;
	t->used = 0;
	t->slots = xcalloc(cap, size);
}

/* Slot i of cap (a free one has a NULL key). */
static void *strtab_at(const strtab *t, size_t i)
{
	return (char *)t->slots + i * t->size;
}

static const char *key_at(const strtab *t, size_t i)
{
	return *(char *const *)strtab_at(t, i);
}

void strtab_release(strtab *t)
{
	for (size_t i = 0; i < t->cap; i++)
		free(*(char **)strtab_at(t, i));
	free(t->slots);
	t->slots = NULL;
	t->cap = t->used = 0;
}

/* The slot of key, else the free slot where it belongs. */
static size_t probe(const strtab *t, const char *key)
{
	size_t i = util_hash(key) & (t->cap - 1);
	const char *k;

	while ((k = key_at(t, i)) != NULL && strcmp(k, key) != 0)
		i = (i + 1) & (t->cap - 1);
	return i;
}

void *strtab_find(const strtab *t, const char *key)
{
	size_t i = probe(t, key);

	return key_at(t, i) != NULL ? strtab_at(t, i) : NULL;
}

/* Rehashes the entries into twice as many slots. */
static void grow(strtab *t)
{
	strtab old = *t;

	strtab_init(t, old.size, old.cap * 2);
	t->used = old.used;
	for (size_t i = 0; i < old.cap; i++) {
		const char *k = key_at(&old, i);

		if (k != NULL)
			memcpy(strtab_at(t, probe(t, k)), strtab_at(&old, i), old.size);
	}
	free(old.slots);
}

void *strtab_add(strtab *t, const char *key, int *added)
{
	size_t i = probe(t, key);
	void *e;

	*added = key_at(t, i) == NULL;
	if (!*added)
		return strtab_at(t, i);
	/* Past 70 % full the table doubles, and key's free slot moves. */
	if ((t->used + 1) * 10 > t->cap * 7) {
		grow(t);
		i = probe(t, key);
	}
	e = strtab_at(t, i);
	memset(e, 0, t->size);
	*(char **)e = xstrdup(key);
	t->used++;
	return e;
}

strmap *strmap_new(void)
{
	strmap *m = xcalloc(1, sizeof(*m));

	strtab_init(&m->t, sizeof(slot), 64);
	return m;
}

void strmap_free(strmap *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->t.cap; i++)
		free(((slot *)strtab_at(&m->t, i))->value);
	strtab_release(&m->t);
	free(m);
}

void strmap_put(strmap *m, const char *key, const char *value)
{
	int added;
	slot *s = strtab_add(&m->t, key, &added);

	free(s->value);
	s->value = value ? xstrdup(value) : NULL;
}

int strmap_get(const strmap *m, const char *key, const char **value)
{
	const slot *s = strtab_find(&m->t, key);

	if (s == NULL)
		return 0;
	*value = s->value;
	return 1;
}

size_t strmap_size(const strmap *m)
{
	return m->t.used;
}
