# frd-radiomics image: the `frd` command, its REST service and batch mode. How to build and
# run it: docker/README.md. CI builds and runs this file for real (docker/ci-build.sh).
#
#   DOCKER_BUILDKIT=1 docker build -t frd-radiomics .                         # the service
#   DOCKER_BUILDKIT=1 docker build --target batch -t frd-radiomics:batch .    # batch mode
#
# Needs BuildKit (build secrets and mounts): the default builder since Docker 23; on
# Docker 20.10 (Debian bookworm's docker.io) set DOCKER_BUILDKIT=1, without which the
# build stops at its first `RUN --mount` ("the --mount option requires BuildKit"). There
# is no `# syntax=` line on purpose: that would pull a frontend image from a registry.
#
# BASE_IMAGE: any Debian bookworm image whose `python3` is Python 3.11 (docker/build-base.sh
# makes one from the Debian archive alone, for machines without an image registry). The
# builder and the final stage use the same base, so the virtual environment built in the
# one runs in the other unchanged.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---- builder: a virtual environment at /opt/frd with frd-radiomics and its dependencies ----
FROM ${BASE_IMAGE} AS builder

# A C compiler for pyradiomics-bhklab (on PyPI only as an sdist) and the engine's kernel
# (frd/_kernels.c); Python's venv module and headers when the base lacks them (Debian's
# python3 splits them out; python:3.11-slim has both). Versions are not pinned: the
# archive keeps only the current point release, and this stage is thrown away.
# hadolint ignore=DL3008,SC2086
RUN set -eu; \
    packages="gcc libc6-dev ca-certificates"; \
    python3 -c 'import ensurepip' 2>/dev/null || packages="$packages python3-venv"; \
    [ -f "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" ] \
        || packages="$packages python3-dev"; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $packages; \
    rm -rf /var/lib/apt/lists/*

# The optional extras built into the image (pyproject.toml), comma-separated.
ARG FRD_EXTRAS=service,dask

WORKDIR /src
# Dependencies first: this layer is rebuilt only when pyproject.toml or the script changes.
# Secrets `ca` (extra CA certificates) and `pipconf` (a pip configuration) are optional.
COPY pyproject.toml ./
COPY docker/build-venv.sh ./docker/
RUN --mount=type=secret,id=ca --mount=type=secret,id=pipconf \
    --mount=type=cache,id=frd-pip,target=/root/.cache/pip \
    sh ./docker/build-venv.sh deps /opt/frd "$FRD_EXTRAS"
COPY setup.py README.md ./
COPY frd ./frd
COPY api ./api
RUN --mount=type=secret,id=ca --mount=type=secret,id=pipconf \
    --mount=type=cache,id=frd-pip,target=/root/.cache/pip \
    sh ./docker/build-venv.sh project /opt/frd "$FRD_EXTRAS"

# ---- runtime: the environment and a non-root user; no compiler, no pip, no wheels ----
FROM ${BASE_IMAGE} AS runtime

LABEL org.opencontainers.image.title="frd-radiomics" \
      org.opencontainers.image.description="Fréchet Radiomic Distance between medical image sets: CLI, REST service and batch mode" \
      org.opencontainers.image.licenses="Apache-2.0"

# FRD_CACHE_DIR: the CLI's feature cache lives and dies with the container unless a volume
# is mounted there; /tmp works for any --user and under --read-only with a tmpfs.
ENV PATH=/opt/frd/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FRD_DATA_DIR=/data \
    FRD_CACHE_DIR=/tmp/frd-cache

# uid/gid 10001 owns the service's data folder and the batch output folder, so named
# volumes mounted there start out writable by it.
RUN groupadd --gid 10001 frd \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/frd --shell /usr/sbin/nologin frd \
    && mkdir -p /data /input /output \
    && chown frd:frd /data /output

COPY --from=builder /opt/frd /opt/frd
# Every compiled module loads on this base: a system library BASE_IMAGE lacks fails the
# build here rather than a run later.
RUN --mount=type=bind,from=builder,source=/src/docker/build-venv.sh,target=/tmp/build-venv.sh \
    sh /tmp/build-venv.sh check /opt/frd
# Executable in the repository; COPY keeps the mode (COPY --chmod would need BuildKit's
# newer Dockerfile syntax).
COPY docker/entrypoint.sh docker/healthcheck.py /opt/frd/docker/

USER 10001:10001
WORKDIR /home/frd
ENTRYPOINT ["/opt/frd/docker/entrypoint.sh"]
CMD ["frd", "--help"]

# ---- batch: evaluation platforms; `docker run IMAGE` compares /input/* into /output ----
FROM runtime AS batch
CMD ["frd", "batch"]

# ---- service (the default target): the REST service with its health check ----
FROM runtime AS service
VOLUME /data
EXPOSE 8000
# GET /healthz, one line of output (docker inspect shows it); FRD_HEALTHCHECK_URL when the
# service listens elsewhere.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/opt/frd/bin/python", "-I", "/opt/frd/docker/healthcheck.py"]
CMD ["frd", "serve", "--host", "0.0.0.0"]
