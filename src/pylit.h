/*
 * pylit.h — parses a Python literal (the repr of a dict, as clients were
 * shown in the case study: single quotes, True/False/None) into jansson
 * values, so the rest of offerd handles one representation.
 */
#ifndef OFFERD_PYLIT_H
#define OFFERD_PYLIT_H

#include <jansson.h>
#include <stddef.h>

#define PYLIT_DEPTH_MAX 32

/*
 * Parses text[0..len) as one Python literal: dict, list, tuple, str, int,
 * float, True, False, None. Returns a new reference the caller decrefs, or
 * NULL with a message naming the byte offset in err.
 */
json_t *pylit_parse(const char *text, size_t len, char *err, size_t errlen);

#endif
