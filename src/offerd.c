/*
 * offerd.c — the server's main: configuration, start, signals, shutdown.
 *
 * SIGTERM/SIGINT: stop accepting, let in-flight requests finish, commit
 * everything queued for the database, exit 0. SIGHUP: reload the agent
 * version and caches now instead of at the next --refresh tick.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "server.h"
#include "store.h"
#include "util.h"

#define DRAIN_SECONDS 15

static void wait_inflight(http_server *h, double seconds)
{
	double until = util_monotonic() + seconds;

	while (http_inflight(h) > 0 && util_monotonic() < until) {
		struct timespec ts = {0, 5000000L};

		nanosleep(&ts, NULL);
	}
}

int main(int argc, char **argv)
{
	offerd_config cfg;
	enum log_level level;
	server s;
	http_config hc;
	sigset_t set;
	int sig;
	int rc;
	agent_conf conf;

	rc = config_load(&cfg, argc, argv);
	if (rc != 0) {
		config_free(&cfg);
		return rc > 0 ? 0 : 2;
	}
	if (log_level_parse(cfg.log_level, &level) != 0) {
		fprintf(stderr, "offerd: --log-level must be debug, info, warn or error\n");
		return 2;
	}
	log_setup(level, strcmp(cfg.log_format, "json") == 0);

	/* Signals are taken by sigwait in this thread only. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = server_init(&s, &cfg, argv[0]);
	if (rc != 0) {
		char url[256];

		store_url_safe(cfg.database_url, url, sizeof(url));
		log_msg(LOG_ERROR, "offerd cannot start (database %s)", url);
		server_free(&s);
		config_free(&cfg);
		return 1;
	}
	memset(&hc, 0, sizeof(hc));
	hc.host = cfg.host;
	hc.port = cfg.port;
	hc.threads = cfg.threads;
	hc.conn_limit = (unsigned)cfg.conn_limit;
	hc.per_ip_limit = (unsigned)cfg.per_ip_limit;
	hc.conn_timeout = (unsigned)cfg.conn_timeout;
	hc.head_timeout = (unsigned)cfg.head_timeout;
	hc.header_limit = (size_t)cfg.header_limit;
	hc.cors_origins = cfg.cors_origin;
	api_metrics_routes();
	hc.route = api_route;
	hc.done = api_done;
	hc.app = &s;
	rc = http_start(&hc, &s.http);
	if (rc != 0) {
		server_free(&s);
		config_free(&cfg);
		return 1;
	}
	server_start_refresher(&s);
	server_conf(&s, &conf);
	log_msg(LOG_INFO, "offerd %s listening on http://%s:%d (%s, agent %s %s, auth %s)",
	        OFFERD_VERSION, cfg.host, http_port(s.http),
	        s.dialect == STORE_PG ? "postgresql" : "sqlite", conf.version,
	        agent_policy_name(conf.policy), cfg.auth);

	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			log_msg(LOG_INFO, "SIGHUP: reloading");
			server_refresh_soon(&s);
			continue;
		}
		break;
	}
	log_msg(LOG_INFO, "%s: finishing in-flight requests", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	atomic_store(&s.draining, 1);
	http_quiesce(s.http);
	wait_inflight(s.http, DRAIN_SECONDS);
	/* server_shutdown drains the writer: everything queued is committed
	 * and answered before the HTTP server goes away. */
	server_shutdown(&s);
	wait_inflight(s.http, 2);
	http_stop(s.http);
	server_free(&s);
	log_msg(LOG_INFO, "offerd stopped");
	config_free(&cfg);
	return 0;
}
