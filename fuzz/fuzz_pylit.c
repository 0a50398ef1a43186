/*
 * fuzz_pylit.c — libFuzzer driver for the Python-literal parser
 * (pylit_parse), which reads the `states` and `offers` strings clients send
 * as Python dict reprs.
 *
 * Checks beyond memory safety: a failure always names a byte offset inside
 * the input; a success is a value jansson can serialise (valid UTF-8
 * everywhere) and the parse is deterministic.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "pylit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[128];
	json_t *v;

	v = pylit_parse((const char *)data, size, err, sizeof(err));
	if (v == NULL) {
		const char *at = strstr(err, "at offset ");
		char *end = NULL;
		unsigned long long off;

		if (at == NULL)
			abort();
		off = strtoull(at + 10, &end, 10);
		if (end == at + 10 || off > size)
			abort();
		return 0;
	}
	{
		char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		json_t *again;

		if (text == NULL)
			abort();
		free(text);
		again = pylit_parse((const char *)data, size, NULL, 0);
		if (again == NULL || !json_equal(v, again))
			abort();
		json_decref(again);
	}
	json_decref(v);
	return 0;
}
