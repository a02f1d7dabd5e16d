# syntax=docker/dockerfile:1
#
# Tally's container image: `docker build -t tally .` at the repository root (BuildKit, the
# default builder of current Docker, is required for the cache mounts below).
#
# Dependency caching uses BuildKit cache mounts, not cargo-chef: the cargo registry, git
# checkouts and the target directory live in caches that survive between builds on the
# same builder, so a change to src/ recompiles only the tally crates, and no extra tool has
# to be installed in the builder. The caches are not part of any layer, which is why the
# binary is copied out of target/ within the same RUN.

ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS builder
WORKDIR /src
# Only what `cargo build` reads: tests/, examples/ and docs stay out of the build context
# (see .dockerignore) so that editing them does not invalidate this stage.
COPY Cargo.toml Cargo.lock build.rs ./
# The bundled SQLite's build flags (see the file).
COPY .cargo ./.cargo
COPY migrations ./migrations
COPY proto ./proto
COPY src ./src
RUN --mount=type=cache,id=tally-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=tally-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=tally-target,target=/src/target,sharing=locked \
    cargo build --release --locked \
 && install -D -m 0755 target/release/tally /out/tally \
 && install -d -m 0750 /out/rootfs/data

# distroless/cc has glibc and libgcc, which is all the binary links (rustls, no OpenSSL),
# and no shell or package manager. Its :nonroot variant already defines user 65532.
FROM ${RUNTIME_IMAGE}
COPY --from=builder /out/tally /usr/local/bin/tally
# A writable /data for SQLite when the image runs outside Kubernetes (`docker run -v
# tally-data:/data ...`); the Helm chart mounts a volume there instead.
# Copied as a child of rootfs/ so that --chown applies to the directory itself.
COPY --from=builder --chown=65532:65532 /out/rootfs/ /
# Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532
# The binary's default database URL is relative (sqlite://tally.db), so it lands in /data.
WORKDIR /data
# A container must listen on all interfaces; JSON logs are what log collectors expect.
ENV TALLY_LISTEN_ADDR=0.0.0.0:50051 \
    TALLY_LOG_FORMAT=json
# 50051 gRPC, 50052 the optional plaintext health listener (TALLY_HEALTH_ADDR), 9090 the
# optional Prometheus listener (TALLY_METRICS_ADDR).
EXPOSE 50051 50052 9090
ENTRYPOINT ["/usr/local/bin/tally"]
CMD ["serve"]
