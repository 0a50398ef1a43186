# offerd's production image.
#
# The build stage runs exactly what a developer runs on a fresh Debian
# bookworm machine (tests/compose.test.sh checks it stays so):
#   scripts/deps.sh       the Debian build packages
#   scripts/deps-node.sh  node and npm, for the pinned Swagger UI files
#   make build            build/offerd, build/offerctl and build/share
# The runtime stage has the shared libraries offerd links against and nothing
# to build with, and runs as an unprivileged user.
#
#   docker build -t offerd .
#   docker compose up        (with PostgreSQL: see docker-compose.yml)
#
# BuildKit is needed (the default from Docker 23; with Debian's docker.io 20.10
# set DOCKER_BUILDKIT=1, and COMPOSE_DOCKER_CLI_BUILD=1 for docker-compose).
# Behind a TLS-intercepting proxy, pass its CA as the build secret ca_cert:
#   docker build --secret id=ca_cert,src=/path/to/proxy-ca.pem -t offerd .
# npm then trusts it during make build; a secret is mounted for that one step
# and is in no layer of either stage. (Debian's packages come over http and
# are checked by their signatures, so apt needs no CA.)

FROM debian:bookworm AS build
WORKDIR /src
# The package scripts alone first, so the apt layer is reused across source edits.
COPY scripts/deps.sh scripts/deps-node.sh scripts/apt_lib.sh scripts/
RUN scripts/deps.sh && scripts/deps-node.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN --mount=type=secret,id=ca_cert \
    if [ -s /run/secrets/ca_cert ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca_cert; fi \
 && make build

FROM debian:bookworm-slim AS runtime
# The runtime halves of the -dev packages in scripts/deps.sh, and curl for the
# HEALTHCHECK.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libmicrohttpd12 libjansson4 libpq5 libsqlite3-0 libcsv3 libcurl4 zlib1g libssl3 \
      ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system offerd \
 && useradd --system --gid offerd --home-dir /var/lib/offerd --create-home \
      --shell /usr/sbin/nologin offerd
COPY --from=build /src/build/offerd /src/build/offerctl /opt/offerd/
COPY --from=build /src/build/share /opt/offerd/share/
# The client sample files, among them Company A's catalogue for
# `offerctl products import /opt/offerd/examples/company_A_products.csv --company A`.
COPY --from=build /src/examples/company_* /opt/offerd/examples/
ENV PATH=/opt/offerd:$PATH \
    OFFERD_SHARE_DIR=/opt/offerd/share \
    PORT=8000 \
    DATABASE_URL=sqlite:/var/lib/offerd/offerd.db
USER offerd
WORKDIR /var/lib/offerd
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD curl -fsS --max-time 2 "http://127.0.0.1:${PORT:-8000}/ready" >/dev/null || exit 1
CMD ["offerd", "--host", "0.0.0.0"]
