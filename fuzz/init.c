/*
 * init.c — libFuzzer's start-up hook, linked into every driver: offerd's log
 * is kept to errors, because the paths a fuzzer drives log a warning per
 * malformed row or body, and a run makes millions of them.
 */
#include "fuzz.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_setup(LOG_ERROR, 0);
	return 0;
}
