/*
 * strmap.h — a string-to-string hash map, built once and then only read
 * (catalogues, customer segments). Not synchronised: callers swap whole maps
 * under their own lock.
 */
#ifndef OFFERD_STRMAP_H
#define OFFERD_STRMAP_H

#include <stddef.h>

typedef struct strmap strmap;

strmap *strmap_new(void);
void strmap_free(strmap *m);
/* Copies key and value (value may be NULL); replaces an existing key. */
void strmap_put(strmap *m, const char *key, const char *value);
/* Returns 1 and sets *value (may be NULL) when key is present, else 0. */
int strmap_get(const strmap *m, const char *key, const char **value);
size_t strmap_size(const strmap *m);

/*
 * The table behind this map and values.c's: open addressing with linear
 * probing over entries of `size` bytes each whose first member is the
 * entry's `char *key`, NULL in a free slot. The table owns the keys.
 */
typedef struct strtab {
	void *slots;
	size_t size; /* of an entry */
	size_t cap;  /* slots, a power of two */
	size_t used;
} strtab;

void strtab_init(strtab *t, size_t size, size_t cap);
/* Frees every key and the slots (not what else the entries point to). */
void strtab_release(strtab *t);
/* The entry of key, or NULL. */
void *strtab_find(const strtab *t, const char *key);
/* The entry of key; a new one is zeroed but for its copy of key, and *added
 * set to 1 (else 0). Past 70 % full the table doubles first, so an entry's
 * address holds only until the next add. */
void *strtab_add(strtab *t, const char *key, int *added);

#endif
