/*
 * replay.c — a main for the libFuzzer drivers without libFuzzer: runs
 * LLVMFuzzerTestOneInput once on each file named, or on each file in each
 * directory named, as libFuzzer's own replay does. `make test` builds every
 * driver with it and gcc (tests/fuzz-corpus.test.sh), so a driver that no
 * longer builds, or a corpus input that fails its checks, fails the tests;
 * `make test-asan` replays them under the sanitizers.
 *
 *   build/replay/fuzz_date fuzz/corpus/date
 *
 * A driver reports a failed check by aborting; replay prints each input's
 * name first, so the abort names it. Exit 0 when every input ran, 1 when
 * one could not be read.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "util.h"

/* Runs the driver on one file; 0, or -1 when it cannot be read. */
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	buf b;
	char chunk[4096];
	size_t n;
	int rc = 0;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	buf_init(&b, (size_t)64 << 20); /* a limit: no input of a corpus is near it */
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && rc == 0)
		rc = buf_add(&b, chunk, n);
	if (ferror(f) || rc != 0) {
		fprintf(stderr, "%s: cannot read it\n", path);
		rc = -1;
	} else {
		fprintf(stderr, "replay %s (%zu bytes)\n", path, b.len);
		/* As libFuzzer does, an empty input is a valid pointer to no bytes, not NULL. */
		LLVMFuzzerTestOneInput((const uint8_t *)(b.data != NULL ? b.data : ""), b.len);
	}
	buf_free(&b);
	fclose(f);
	return rc;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Runs the driver on every regular file of dir, in name order; how many ran, or -1. */
static int replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int ran = 0;

	if (d == NULL) {
		perror(dir);
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(dir) + strlen(e->d_name) + 2;

		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n] = xmalloc(len);
		snprintf(names[n++], len, "%s/%s", dir, e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++) {
		if (ran >= 0)
			ran = replay_file(names[i]) == 0 ? ran + 1 : -1;
		free(names[i]);
	}
	free(names);
	return ran;
}

int main(int argc, char **argv)
{
	int total = 0;

	LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat st;
		int ran;

		if (stat(argv[i], &st) != 0) {
			perror(argv[i]);
			return 1;
		}
		ran = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i]) == 0 ? 1 : -1;
		if (ran < 0)
			return 1;
		total += ran;
	}
	printf("%d inputs replayed\n", total);
	return 0;
}
