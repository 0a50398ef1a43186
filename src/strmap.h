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

#endif
