# Python 3.11 from Debian on a debootstrapped bookworm: the base image docker/build-base.sh
# makes for machines without an image registry. MINBASE is the imported minbase system.
ARG MINBASE=frd-base:bookworm-minbase
FROM ${MINBASE}

# The release's updates and security fixes, then Debian's python3 (3.11 in bookworm; its
# venv module and compiler headers are added by the image's builder stage only). Versions
# are not pinned: the archive keeps only the current point release of each package, and
# a security rebuild of this base (FRD_BASE_REBUILD=1) must take the newest.
# hadolint ignore=DL3008,DL3005
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get -y upgrade \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/dpkg.log \
    && python3 -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version'

CMD ["python3"]
