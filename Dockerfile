# syntax=docker/dockerfile:1
# The GitHub Action's image: one static mp-image binary and CA certificates, nothing else.

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so source edits do not refetch them.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/mp-image-action/mp-image-action/internal/pipeline.Version=${VERSION}" \
      -o /out/mp-image ./cmd/mp-image \
 # The runner passes runs.args ("action") to the post step too, and its
 # --entrypoint takes no arguments: a second name for the same binary tells
 # it to run the post-step safety net (action-post) instead.
 && ln -s mp-image /out/mp-image-post \
 && /out/mp-image version

FROM scratch
# HTTPS to api.digitalocean.com needs the CA bundle.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# Copying the directory keeps /mp-image-post a symlink rather than a second copy.
COPY --from=build /out/ /
# Docker actions must run as root to write GITHUB_WORKSPACE; no USER line on purpose.
ENTRYPOINT ["/mp-image"]
