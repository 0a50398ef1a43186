/*
 * intern.c — the string -> dense index table of intern.h. Linear probing,
 * the load kept under one half so probes stay short; each slot keeps the
 * key's hash so most mismatches cost no string compare. FNV-1a: keys are
 * short and come from files the operator chose, not from an adversary
 * probing the server.
 */
#include "intern.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

#define INTERN_FIRST_CAP 64

/* The slot keeps 32 bits of util_hash_bytes: the index uses the low bits. */
static uint32_t hash_bytes(const char *s, size_t len)
{
	return (uint32_t)util_hash_bytes(s, len);
}

intern_table *intern_new(void)
{
	intern_table *t = xcalloc(1, sizeof(*t));

	t->cap = INTERN_FIRST_CAP;
	t->slot = xcalloc(t->cap, sizeof(*t->slot));
	t->hash = xcalloc(t->cap, sizeof(*t->hash));
	return t;
}

void intern_free(intern_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->keys[i]);
	free(t->keys);
	free(t->slot);
	free(t->hash);
	free(t);
}

static void grow(intern_table *t)
{
	size_t cap = t->cap * 2;
	uint32_t *slot = xcalloc(cap, sizeof(*slot));
	uint32_t *hash = xcalloc(cap, sizeof(*hash));

	for (size_t i = 0; i < t->cap; i++) {
		size_t j;

		if (t->slot[i] == 0)
			continue;
		j = t->hash[i] & (cap - 1);
		while (slot[j] != 0)
			j = (j + 1) & (cap - 1);
		slot[j] = t->slot[i];
		hash[j] = t->hash[i];
	}
	free(t->slot);
	free(t->hash);
	t->slot = slot;
	t->hash = hash;
	t->cap = cap;
}

/* The slot holding s[0..len), or the empty slot where it would go. */
static size_t probe(const intern_table *t, const char *s, size_t len, uint32_t h)
{
	size_t j = h & (t->cap - 1);

	while (t->slot[j] != 0) {
		const char *k = t->keys[t->slot[j] - 1];

		if (t->hash[j] == h && strncmp(k, s, len) == 0 && k[len] == '\0')
			break;
		j = (j + 1) & (t->cap - 1);
	}
	return j;
}

int64_t intern_find(const intern_table *t, const char *s, size_t len)
{
	size_t j;

	len = strnlen(s, len); /* a key ends at a NUL, as its stored copy does */
	j = probe(t, s, len, hash_bytes(s, len));

	return t->slot[j] == 0 ? -1 : (int64_t)t->slot[j] - 1;
}

int64_t intern_add(intern_table *t, const char *s, size_t len)
{
	uint32_t h;
	size_t j;

	len = strnlen(s, len);
	h = hash_bytes(s, len);
	if ((t->n + 1) * 2 > t->cap)
		grow(t);
	j = probe(t, s, len, h);
	if (t->slot[j] != 0)
		return (int64_t)t->slot[j] - 1;
	if (t->n >= INT32_MAX)
		return ERR_TOOBIG;
	if (t->n == t->keys_cap) {
		t->keys_cap = t->keys_cap ? t->keys_cap * 2 : INTERN_FIRST_CAP;
		t->keys = xrealloc(t->keys, t->keys_cap * sizeof(*t->keys));
	}
	t->keys[t->n] = xstrndup(s, len);
	t->slot[j] = (uint32_t)(t->n + 1);
	t->hash[j] = h;
	return (int64_t)t->n++;
}

char **intern_steal_keys(intern_table *t, size_t *n)
{
	char **keys = t->keys;

	*n = t->n;
	t->keys = NULL;
	t->n = 0;
	t->keys_cap = 0;
	memset(t->slot, 0, t->cap * sizeof(*t->slot));
	return keys;
}
