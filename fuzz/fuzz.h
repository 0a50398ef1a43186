/*
 * fuzz.h — what every libFuzzer driver in fuzz/ shares: the prototypes of
 * libFuzzer's two entry points. Each fuzz_<target>.c defines
 * LLVMFuzzerTestOneInput; fuzz/init.c, linked into every driver, defines
 * LLVMFuzzerInitialize.
 */
#ifndef OFFERD_FUZZ_H
#define OFFERD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif
