# frd-radiomics image: the `frd` command, its REST service (default) and batch mode.
# How to build and run it: docker/README.md. Every install and start step is a script in
# docker/ that CI also runs outside Docker (docker/ci-check.sh).
#
#   docker build -t frd-radiomics .
#   docker build -t frd-radiomics --build-arg FRD_EXTRAS=service,dask,parquet .
#
# Both stages use the same base image, so the wheels compiled in the builder match the
# final stage's Python exactly.

# ---- builder: compiles wheels of the project and all its dependencies into /wheels ----
FROM python:3.11-slim-bookworm AS builder

# A C compiler for pyradiomics-bhklab, which PyPI has only as an sdist, and for the
# engine's own kernel (frd/_kernels.c). Versions are not
# pinned: bookworm's archive keeps only the current point release of each package, so a
# pin would break the build at the next Debian point release; the base tag above fixes
# the distribution, and this stage is thrown away (nothing of it but /wheels is kept).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# The optional extras built into the image (pyproject.toml); comma-separated.
ARG FRD_EXTRAS=service,dask

WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY frd ./frd
COPY api ./api
COPY --chmod=0755 docker/build-wheels.sh ./docker/build-wheels.sh
RUN ./docker/build-wheels.sh /wheels "$FRD_EXTRAS"

# ---- final: installs the wheels (no compiler, no index), runs as a non-root user ----
FROM python:3.11-slim-bookworm

LABEL org.opencontainers.image.title="frd-radiomics" \
      org.opencontainers.image.description="Fréchet Radiomic Distance between medical image sets: CLI, REST service and batch mode" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FRD_DATA_DIR=/data

# The service's user (uid/gid 10001) owns the data volume and the batch output folder, so
# named volumes mounted there start out writable by it.
RUN groupadd --gid 10001 frd \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/frd --shell /usr/sbin/nologin frd \
    && mkdir -p /data /input /output \
    && chown frd:frd /data /output

COPY --chmod=0755 docker/install.sh /opt/frd/docker/install.sh
COPY --from=builder /wheels /tmp/wheels
RUN /opt/frd/docker/install.sh /tmp/wheels \
    && rm -rf /tmp/wheels
COPY --chmod=0755 docker/entrypoint.sh /opt/frd/docker/entrypoint.sh

USER 10001:10001
WORKDIR /home/frd
VOLUME /data
EXPOSE 8000

# Liveness of `frd serve` on its default port (slim images have no curl). Override the URL
# with FRD_HEALTHCHECK_URL when the service listens elsewhere; other commands run from
# this image (dask scheduler/worker, batch) set or disable their own healthcheck.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ.get('FRD_HEALTHCHECK_URL', 'http://127.0.0.1:8000/healthz'), timeout=4)"]

ENTRYPOINT ["/opt/frd/docker/entrypoint.sh"]
CMD ["frd", "serve", "--host", "0.0.0.0"]
