# tb-gateway image: build with the official Swift image on Debian bookworm,
# run on slim bookworm with the C libraries it links, as a non-root user.
FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      pkg-config librdkafka-dev libmosquitto-dev libsqlite3-dev libmimalloc-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product tb-gateway \
 && install -D "$(swift build -c release --show-bin-path)/tb-gateway" /out/tb-gateway

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      librdkafka1 libmosquitto1 libsqlite3-0 libmimalloc2.0 ca-certificates curl tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin tbgateway \
 && mkdir -p /data && chown tbgateway /data
COPY --from=build /out/tb-gateway /usr/local/bin/tb-gateway
USER tbgateway
WORKDIR /data
ENV DATA_DIR=/data
EXPOSE 8081 8082 9090 1883 8883 5683/udp 5685/udp
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${METRICS_PORT:-9090}/health" || exit 1
ENTRYPOINT ["tb-gateway"]
CMD ["run"]
