# The release image ghcr.io/iotctl/iotctl, built by goreleaser (dockers_v2 in
# goreleaser.yaml) for linux/amd64 and linux/arm64 from the release binaries:
# goreleaser puts each platform's binary at <os>/<arch>/iotctl in the build
# context, so this file does not build from a plain checkout.
#
# distroless/static holds the CA certificates, time zone data and an
# /etc/passwd with the nonroot user (65532), and nothing else: no shell, no
# package manager. The binary is static (CGO_ENABLED=0).
FROM gcr.io/distroless/static:nonroot
ARG TARGETPLATFORM
COPY $TARGETPLATFORM/iotctl /usr/bin/iotctl
# Numeric, so Kubernetes' runAsNonRoot can check it.
USER 65532:65532
ENTRYPOINT ["/usr/bin/iotctl"]
