#!/bin/sh
# Build wheels of frd-radiomics and of every dependency it needs (with the given extras)
# into WHEEL_DIR, and write WHEEL_DIR/requirements.txt naming what docker/install.sh
# installs from there. Needs a C compiler: pyradiomics-bhklab is published as an sdist
# only and is compiled here, as is the engine's kernel (frd/_kernels.c). The Docker
# image's builder stage runs this script, and so does CI (docker/ci-check.sh), outside
# Docker.
#
#   docker/build-wheels.sh WHEEL_DIR [EXTRAS]      EXTRAS: comma-separated, default "service"
#
# Environment: PYTHON (default python3) is the interpreter whose pip builds the wheels;
# pip's usual PIP_* variables (index, cache) apply.
set -eu

usage() {
    echo "usage: $0 WHEEL_DIR [EXTRAS]   (EXTRAS comma-separated, default: service)" >&2
    exit 2
}

[ "$#" -ge 1 ] && [ "$#" -le 2 ] || usage
wheel_dir=$1
extras=${2-service}
python=${PYTHON:-python3}

case $extras in
    *[!A-Za-z0-9,_-]*) echo "$0: invalid EXTRAS '$extras'" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$root/pyproject.toml" ] || { echo "$0: no pyproject.toml in $root" >&2; exit 1; }

# pip only warns about an extra the project does not define and builds without it; an
# image silently lacking e.g. dask is worse than a failed build.
"$python" - "$root/pyproject.toml" "$extras" <<'EOF'
import sys
try:
    import tomllib
except ImportError:  # Python 3.10: no TOML reader in the standard library; pip still warns
    sys.exit(0)
with open(sys.argv[1], "rb") as f:
    defined = set(tomllib.load(f).get("project", {}).get("optional-dependencies", {}))
unknown = sorted({e.strip() for e in sys.argv[2].split(",") if e.strip()} - defined)
if unknown:
    sys.exit(f"build-wheels: pyproject.toml defines no extra {', '.join(unknown)} "
             f"(defined: {', '.join(sorted(defined)) or 'none'})")
EOF

mkdir -p "$wheel_dir"
wheel_dir=$(cd "$wheel_dir" && pwd)
# A wheel of an earlier version of the project left in the folder would make the
# requirement below ambiguous.
rm -f "$wheel_dir"/frd_radiomics-*.whl "$wheel_dir/requirements.txt"

# Build from a copy: setuptools writes build/ and *.egg-info into the source tree, and a
# stale build/ there could leak deleted modules into the wheel.
src=$(mktemp -d "${TMPDIR:-/tmp}/frd-wheel-src.XXXXXX")
trap 'rm -rf "$src"' EXIT
trap 'exit 130' INT TERM
(cd "$root" && tar -cf - \
    --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./dist \
    --exclude='*.egg-info' --exclude='*.so' --exclude=__pycache__ --exclude=.pytest_cache --exclude=./frd-data \
    .) | (cd "$src" && tar -xf -)

spec=$src
[ -n "$extras" ] && spec="${src}[${extras}]"

echo "build-wheels: $spec -> $wheel_dir (python: $("$python" -c 'import sys; print(sys.version.split()[0])'))" >&2
"$python" -m pip wheel --wheel-dir "$wheel_dir" "$spec"

set -- "$wheel_dir"/frd_radiomics-*.whl
[ "$#" -eq 1 ] && [ -f "$1" ] || { echo "$0: expected exactly one frd_radiomics wheel in $wheel_dir" >&2; exit 1; }
# frd_radiomics-0.1.0-cp311-cp311-linux_x86_64.whl -> 0.1.0
version=$(basename "$1" | cut -d- -f2)

if [ -n "$extras" ]; then
    echo "frd-radiomics[$extras]==$version" >"$wheel_dir/requirements.txt"
else
    echo "frd-radiomics==$version" >"$wheel_dir/requirements.txt"
fi
echo "build-wheels: $(find "$wheel_dir" -name '*.whl' | wc -l) wheels; requirements: $(cat "$wheel_dir/requirements.txt")" >&2
