# Build stage: go-sqlite3 needs cgo, so a C toolchain is required here.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/nvr ./cmd/nvr

# Runtime stage: glibc (for the cgo binary), CA certificates, nothing else.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 nvr \
    && useradd --system --uid 10001 --gid nvr --home-dir /var/lib/nvr --shell /usr/sbin/nologin nvr \
    && mkdir -p /var/lib/nvr /etc/nvr && chown nvr:nvr /var/lib/nvr
COPY --from=build /out/nvr /usr/local/bin/nvr
USER nvr:nvr
VOLUME ["/var/lib/nvr"]
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/nvr"]
CMD ["serve", "-init", "-config", "/etc/nvr/nvr.yaml"]
