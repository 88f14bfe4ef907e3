#!/bin/sh
# Build a Debian bookworm base image with Python 3.11 from the Debian archive alone, for
# machines that reach Debian's mirrors but no image registry (no `docker pull`):
#
#   1. debootstrap --variant=minbase bookworm, from the mirror apt already uses here;
#   2. trimmed like Debian's official slim images (no documentation, manuals or
#      translations, now or in later installs; licences kept), apt's caches emptied;
#   3. `docker import`ed as TAG-minbase, a single layer;
#   4. docker/base.Dockerfile on top: security and point-release updates, then Debian's
#      python3 (3.11). Tagged TAG.
#
#   sudo docker/build-base.sh [TAG]                  TAG default: frd-base:bookworm
#   DOCKER_BUILDKIT=1 docker build --build-arg BASE_IMAGE=frd-base:bookworm -t frd-radiomics .
#
# An image TAG built from this same recipe (this file and docker/base.Dockerfile, by hash)
# less than FRD_BASE_MAX_AGE_DAYS ago (default 30, so that security updates come in) is
# reused, not rebuilt; FRD_BASE_REBUILD=1 rebuilds it anyway. Mirrors: FRD_DEBIAN_MIRROR and FRD_DEBIAN_SECURITY_MIRROR, else the first
# `bookworm` and `bookworm-security` sources of apt here, else deb.debian.org. Needs root
# (debootstrap), debootstrap and Debian's archive keyring. Prints TAG last, on stdout.
set -eu

tag=${1:-frd-base:bookworm}
root=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "build-base: $*" >&2; }

recipe_hash=$(cat "$root/docker/build-base.sh" "$root/docker/base.Dockerfile" | sha256sum | cut -c1-16)
if [ "${FRD_BASE_REBUILD:-0}" != 1 ] \
    && [ "$(docker image inspect --format '{{ index .Config.Labels "org.frd.base.recipe" }}' "$tag" 2>/dev/null)" = "$recipe_hash" ]; then
    created=$(docker image inspect --format '{{.Created}}' "$tag")
    age_days=$(( ($(date +%s) - $(date -d "$created" +%s)) / 86400 ))
    if [ "$age_days" -lt "${FRD_BASE_MAX_AGE_DAYS:-30}" ]; then
        say "reusing $tag (recipe $recipe_hash, built $age_days days ago)"
        echo "$tag"
        exit 0
    fi
    say "$tag is $age_days days old: rebuilding it with the current updates"
fi

[ "$(id -u)" = 0 ] || { say "debootstrap needs root"; exit 1; }
command -v debootstrap >/dev/null || { say "debootstrap is not installed (apt-get install debootstrap)"; exit 1; }

apt_source() {
    # apt_source SUITE: the URI of the first apt source (one-line or deb822 format) that
    # serves SUITE, or nothing.
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk -v suite="$1" '
            /^[ \t]*#/ { next }
            $1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                          if ($(i + 1) == suite) { print $i; exit } next }
            $1 == "URIs:" { uri = $2; next }
            $1 == "Suites:" { for (i = 2; i <= NF; i++) if ($i == suite && uri != "") { print uri; exit } }
            /^[ \t]*$/ { uri = "" }'
}
mirror=${FRD_DEBIAN_MIRROR:-$(apt_source bookworm)}
mirror=${mirror:-http://deb.debian.org/debian}
security=${FRD_DEBIAN_SECURITY_MIRROR:-$(apt_source bookworm-security)}
security=${security:-http://deb.debian.org/debian-security}

work=$(mktemp -d "${TMPDIR:-/tmp}/frd-base.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
rootfs=$work/rootfs

say "debootstrap --variant=minbase bookworm from $mirror"
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 20 "$work/debootstrap.log" >&2; say "debootstrap failed"; exit 1; }

# What Debian's slim images leave out, also for every package installed later on top.
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/frd-slim" <<'EOF'
# No documentation, manuals or translations in this container image; licences stay.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
cat >"$rootfs/etc/apt/apt.conf.d/frd-slim" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
EOF
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
    "$rootfs"/usr/share/lintian/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* "$rootfs"/root/.bash_history
# Sources for the layer above: the release with its updates and security fixes.
rm -f "$rootfs/etc/apt/sources.list"
cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
# The host's name resolution stays on the host.
: >"$rootfs/etc/resolv.conf"
: >"$rootfs/etc/hostname"

say "docker import -> $tag-minbase ($(du -sh "$rootfs" | cut -f1))"
tar -C "$rootfs" --numeric-owner -cf - . \
    | docker import --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' --change "LABEL org.frd.base.recipe=$recipe_hash" \
        - "$tag-minbase" >/dev/null

say "Python 3.11 from Debian on top (docker/base.Dockerfile) -> $tag"
DOCKER_BUILDKIT=1 docker build --quiet --build-arg "MINBASE=$tag-minbase" \
    --label "org.frd.base.recipe=$recipe_hash" -t "$tag" - <"$root/docker/base.Dockerfile" >/dev/null
say "$tag: $(docker run --rm "$tag" python3 --version), $(docker image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1 / 1e6}')"
echo "$tag"
