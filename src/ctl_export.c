/*
 * ctl_export.c — `offerctl export`: the decision log of one company as
 * DSJSON or CSV (export.c), to a file or stdout, page by page, with a
 * progress bar on stderr when stderr is a terminal.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "export.h"
#include "store.h"
#include "util.h"

typedef struct export_args {
	char *database_url;
	char *company;
	char *from;
	char *to;
	char *format;
	char *output;
	int progress;
	int no_progress;
} export_args;

#define O(f) offsetof(export_args, f)

static const config_opt opts[] = {
    CTL_OPT_DATABASE_URL(export_args, database_url),
    CTL_OPT_COMPANY(export_args, company, NULL, "the company whose log is exported (required)"),
    CTL_OPT_FROM(export_args, from),
    CTL_OPT_TO(export_args, to),
    {"format F", NULL, CONFIG_STR, O(format), "dsjson", 0, 0, "dsjson or csv"},
    {"o,output FILE", NULL, CONFIG_STR, O(output), "-", 0, 0, "where to write; - for stdout"},
    {"progress", NULL, CONFIG_FLAG, O(progress), NULL, 0, 0,
     "draw the progress bar even when stderr is not a terminal"},
    {"no-progress", NULL, CONFIG_FLAG, O(no_progress), NULL, 0, 0, "never draw the progress bar"},
};

/* Redraws the bar: "[#####     ]  45%  90000/200000 episodes". */
static void draw_bar(int64_t done, int64_t total)
{
	enum { WIDTH = 30 };
	char bar[WIDTH + 1];
	int filled = total > 0 ? (int)(done * WIDTH / total) : WIDTH;
	int pct = total > 0 ? (int)(done * 100 / total) : 100;

	if (filled > WIDTH)
		filled = WIDTH;
	if (pct > 100)
		pct = 100;
	for (int i = 0; i < WIDTH; i++)
		bar[i] = i < filled ? '#' : ' ';
	bar[WIDTH] = '\0';
	fprintf(stderr, "\r[%s] %3d%%  %" PRId64 "/%" PRId64 " episodes", bar, pct, done, total);
	fflush(stderr);
}

static int run(ctl_cmd *c)
{
	const export_args *a = c->opts;
	export_opts o;
	export_cursor *cur = NULL;
	store *s;
	FILE *f = stdout;
	const char *field;
	char err[160];
	int64_t total = 0;
	int show = a->progress || (!a->no_progress && isatty(STDERR_FILENO));
	double last_draw = 0;
	int status = 1;
	int rc;

	memset(&o, 0, sizeof(o));
	if (a->company == NULL || a->company[0] == '\0')
		return ctl_usage(&ctl_export_spec, "--company is required");
	util_strlcpy(o.company, a->company, sizeof(o.company));
	if (export_parse_format(a->format, &o.format) != 0)
		return ctl_usage(&ctl_export_spec, "--format must be dsjson or csv, got \"%.40s\"",
		                 a->format);
	if (date_window_parse(a->from, a->to, &o.w, &field, err, sizeof(err)) != 0)
		return ctl_usage(&ctl_export_spec, "--%s", err);
	if (ctl_store(c, &s) != 0)
		return 1;
	if (strcmp(a->output, "-") != 0) {
		f = fopen(a->output, "w");
		if (f == NULL) {
			fprintf(stderr, "%s: cannot write %s: %s\n", ctl_export_spec.prog, a->output,
			        strerror(errno));
			goto out;
		}
	}
	if (show && export_count(s, &o, &total) != 0)
		show = 0;
	export_open(s, &o, &cur);
	for (;;) {
		const char *data;
		size_t len;

		rc = export_next(cur, &data, &len);
		if (rc != 0) {
			fprintf(stderr, "%s%s: reading the log failed: %s\n", show ? "\n" : "",
			        ctl_export_spec.prog,
			        rc == ERR_TOOBIG ? "a page is over its size limit" : s->ops->errmsg(s));
			goto out;
		}
		if (len == 0)
			break;
		if (fwrite(data, 1, len, f) != len) {
			fprintf(stderr, "%s%s: write failed: %s\n", show ? "\n" : "",
			        ctl_export_spec.prog, strerror(errno));
			goto out;
		}
		if (show && util_monotonic() - last_draw > 0.2) {
			last_draw = util_monotonic();
			draw_bar(export_episodes(cur), total);
		}
	}
	if (fflush(f) != 0) {
		fprintf(stderr, "%s: write failed: %s\n", ctl_export_spec.prog, strerror(errno));
		goto out;
	}
	if (show) {
		draw_bar(export_episodes(cur), export_episodes(cur));
		fputc('\n', stderr);
	}
	status = 0;
out:
	if (f != NULL && f != stdout && fclose(f) != 0 && status == 0) {
		fprintf(stderr, "%s: write failed: %s\n", ctl_export_spec.prog, strerror(errno));
		status = 1;
	}
	export_free(cur);
	return status;
}

const ctl_spec ctl_export_spec = {
    CTL_USAGE("export",
              " --company C [--from DATE] [--to DATE] [--format dsjson|csv]\n"
              "                       [-o FILE] [--database-url URL]",
              "Writes a company's decision log (episodes joined with their rewards) as DSJSON\n"
              "(Vowpal Wabbit --dsjson, Personalizer's log tools: one JSON object per episode)\n"
              "or CSV (one row per shown slot with its propensity, Open Bandit Pipeline columns).\n"
              "Rows are read a page at a time: any size of log in bounded memory.\n"),
    .footer = "Exit status: 0 written, 1 a database or write error, 2 a usage error.\n",
    CTL_OPTS(opts, export_args),
    .run = run,
};
