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
 * The linear probing behind this map, shared with values.c's table: slots
 * is an array of cap (a power of two) entries of `size` bytes each whose
 * first member is the entry's `char *key`, NULL in a free slot.
 */
/* The index of key's entry, else of the free slot where it belongs. */
size_t strmap_probe(const void *slots, size_t size, size_t cap, const char *key);
/* Makes room for one more entry beside `used`: past 70 % full, returns the
 * entries rehashed into twice as many slots (freeing slots, doubling *cap);
 * else slots as they are. */
void *strmap_reserve(void *slots, size_t size, size_t *cap, size_t used);

#endif
