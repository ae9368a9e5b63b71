# syntax=docker/dockerfile:1
#
# Latch as a container: a static binary on distroless, run as a non-root user.
#
#   docker build -t latch \
#     --build-arg VERSION="$(git describe --tags --always --dirty)" \
#     --build-arg COMMIT="$(git rev-parse HEAD)" .
#   docker run --rm -p 3000:3000 -v latch-data:/data --env-file /etc/latch/latch.env latch
#
# The image defaults to APP_ENV=production, which needs SESSION_SECRET,
# SMTP_URL and an https BASE_URL; for development use compose.yaml.
# See docs/deploy.md.

# Production builds use Go 1.27.3 (docs/deploy.md says why). Keep this tag
# and the release named there in step; a test checks they agree.
FROM --platform=$BUILDPLATFORM golang:1.27.3-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=readonly

# Dependencies first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .
ARG VERSION=dev
ARG COMMIT=none
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/latch ./cmd/latch \
 && mkdir -p /out/data

# distroless/static: no shell, no package manager, CA certificates and
# tzdata included; :nonroot runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG COMMIT=none
LABEL org.opencontainers.image.title="Latch" \
      org.opencontainers.image.description="Self-hosted passwordless login server" \
      org.opencontainers.image.source="https://github.com/latch-auth/latch" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"

COPY --from=build /out/latch /usr/local/bin/latch
# The data directory belongs to the runtime user, so a fresh named volume
# mounted on it is writable.
COPY --from=build --chown=65532:65532 /out/data /data

ENV APP_ENV=production \
    PORT=3000 \
    DATA_DIR=/data \
    LOG_FORMAT=json
USER 65532:65532
EXPOSE 3000
VOLUME ["/data"]

# Exec form: the image has no shell. `latch healthcheck` reads PORT and
# HOST like the server and exits 0 only when /api/health/ready answers 200.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/latch", "healthcheck"]

# SIGTERM drains requests in flight for up to SHUTDOWN_TIMEOUT (15s):
# give `docker stop` more than that (docker stop -t 20, stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/latch"]
CMD ["serve"]
