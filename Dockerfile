# The GitHub Action's image: the prebuilt static mp-image binary, its post-step
# name and CA certificates, nothing else. Build it with scripts/image, which
# cross-compiles the binary into $TARGETPLATFORM/ of a build context first
# (goreleaser's convention): no golang image is pulled, so the same file builds
# on GitHub, on a machine that reaches no registry, and for every platform
# without emulation (there is no RUN).
FROM scratch
ARG TARGETPLATFORM
# HTTPS to api.digitalocean.com needs the CA bundle.
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# The directory holds mp-image and mp-image-post, a symlink to it: the runner
# passes runs.args to the post step too, so the name the binary is started
# under selects the post-step safety net. Copying the directory keeps the link.
COPY ${TARGETPLATFORM}/ /
# Docker actions run as root to write GITHUB_WORKSPACE; no USER line on purpose.
ENTRYPOINT ["/mp-image"]
