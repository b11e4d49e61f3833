# SIOMS images: one multi-stage build, one target per image.
#
#   docker build --target inventory-svc -t sioms/inventory-svc .     (make images builds all six)
#
# Targets: inventory-svc, pricing-svc, order-svc, analytics-consumer, notifier-consumer, gateway.
#
# Stages, one concern each:
#   chef     the Rust toolchain with cargo-chef
#   planner  the workspace's dependency recipe (changes only when a manifest or Cargo.lock does)
#   deps     every dependency compiled once, for all five services: a layer reused by every
#            image and every rebuild until the recipe changes, and one that a registry cache
#            (BuildKit's cache-to/cache-from) carries between CI runners, which cache mounts
#            would not; that is why cargo-chef rather than RUN --mount=type=cache
#   build    the workspace's own crates, the five binaries
#   base     debian slim with the OCI labels every image carries
#   runtime  what every service image shares: a numeric non-root user, JSON logs
#   docs     Swagger UI's files for the gateway (from PyPI, as the native stack gets them)
#   <image>  each service: its binary, its port, its healthcheck, exec-form entrypoint
#
# Build arguments: VERSION, REVISION, SOURCE (OCI labels; make images sets them),
# RUST_VERSION and DEBIAN_SUITE (the base images).

ARG RUST_VERSION=1.95
ARG DEBIAN_SUITE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_SUITE} AS chef
# cargo-chef turns the workspace's manifests into a recipe and builds only the dependencies.
RUN cargo install cargo-chef --version 0.1.78 --locked \
 && rm -rf "$CARGO_HOME/registry"
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS deps
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json

FROM deps AS build
COPY . .
# The release profile keeps line tables for readable backtraces; the images get the binaries
# without debug sections (90 MB -> 15 MB each) but with their symbols, so a backtrace still
# names every function.
RUN cargo build --release --locked \
      -p inventory-svc -p pricing-svc -p order-svc -p analytics-consumer -p notifier-consumer \
 && mkdir -p /out \
 && for bin in inventory-svc pricing-svc order-svc analytics-consumer notifier-consumer; do \
      strip --strip-debug -o "/out/$bin" "target/release/$bin"; \
    done

# OCI labels every image carries (the gateway too).
FROM debian:${DEBIAN_SUITE}-slim AS base
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.vendor="SIOMS" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

FROM base AS runtime
ARG REVISION=unknown
# Listen on every interface of the container; log one JSON object per line for log shippers;
# the revision goes into sioms_build_info.
ENV HOST=0.0.0.0 \
    LOG_FORMAT=json \
    SIOMS_REVISION=${REVISION}
# A numeric user, so Kubernetes' runAsNonRoot can verify it without a passwd entry.
USER 10001:10001

FROM runtime AS inventory-svc
LABEL org.opencontainers.image.title="sioms/inventory-svc" \
      org.opencontainers.image.description="SIOMS inventory: items, stock levels and atomic Redis reservations."
COPY --from=build /out/inventory-svc /usr/local/bin/inventory-svc
EXPOSE 8081
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/inventory-svc", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/inventory-svc"]

FROM runtime AS order-svc
LABEL org.opencontainers.image.title="sioms/order-svc" \
      org.opencontainers.image.description="SIOMS orders: priced, reserved, recorded in Postgres with their events through an outbox."
COPY --from=build /out/order-svc /usr/local/bin/order-svc
EXPOSE 8082
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/order-svc", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/order-svc"]

FROM runtime AS pricing-svc
LABEL org.opencontainers.image.title="sioms/pricing-svc" \
      org.opencontainers.image.description="SIOMS pricing: current prices in integer minor units, their history, price_changed events."
COPY --from=build /out/pricing-svc /usr/local/bin/pricing-svc
EXPOSE 8083
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/pricing-svc", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/pricing-svc"]

FROM runtime AS analytics-consumer
LABEL org.opencontainers.image.title="sioms/analytics-consumer" \
      org.opencontainers.image.description="SIOMS analytics: daily order counts and revenue, low-stock report, kept from the event stream."
COPY --from=build /out/analytics-consumer /usr/local/bin/analytics-consumer
EXPOSE 8084
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/analytics-consumer", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/analytics-consumer"]

FROM runtime AS notifier-consumer
LABEL org.opencontainers.image.title="sioms/notifier-consumer" \
      org.opencontainers.image.description="SIOMS notifications: alerts for low stock, orders, cancellations and price changes."
COPY --from=build /out/notifier-consumer /usr/local/bin/notifier-consumer
EXPOSE 8085
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/notifier-consumer", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/notifier-consumer"]

# Swagger UI's static files, from the same wheel and by the same script as the native gateway.
# The Rust image is Debian with the CA certificates pip needs.
FROM rust:${RUST_VERSION}-${DEBIAN_SUITE} AS docs
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-pip=23.* \
 && rm -rf /var/lib/apt/lists/*
COPY gateway/swagger-ui.py /gateway/swagger-ui.py
COPY gateway/docs/index.html /gateway/docs/index.html
RUN python3 /gateway/swagger-ui.py /docs

FROM base AS gateway
LABEL org.opencontainers.image.title="sioms/gateway" \
      org.opencontainers.image.description="SIOMS gateway: NGINX in front of the public API, configured from the environment at start."
# Debian's nginx, pinned to its 1.22 series (security updates still apply), and envsubst
# (gettext-base), which gateway/render.sh renders the template with; apt's lists and package
# caches do not stay in the image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx=1.22.* gettext-base=0.21-* \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
COPY gateway/nginx.conf.template gateway/render.sh /usr/share/sioms/
COPY api-docs/openapi.json /usr/share/sioms/openapi.json
COPY --from=docs /docs /usr/share/sioms/docs
COPY gateway/entrypoint.sh /usr/local/bin/sioms-gateway
# Rendered configuration, pid file and temp files live under /tmp (an emptyDir on Kubernetes,
# where the root filesystem is read-only).
ENV GATEWAY_STATE_DIR=/tmp/sioms-gateway
USER 10001:10001
EXPOSE 8080
# SIGQUIT is nginx's graceful stop: it finishes the requests in flight, then exits 0.
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/sioms-gateway", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/sioms-gateway"]
