#!/bin/sh
# The image's builder stage: frd-radiomics and its dependencies in a virtual environment
# that the final stage copies whole (so no wheel or compiler ever reaches it).
#
#   docker/build-venv.sh deps VENV EXTRAS      the dependencies of the project and EXTRAS
#                                              (read from pyproject.toml), then trimmed
#   docker/build-venv.sh project VENV EXTRAS   the project itself (no dependencies), then
#                                              `pip check`, an import of the compiled
#                                              modules frd needs, and pip itself removed
#   docker/build-venv.sh check VENV            (final stage) every extension module of VENV
#                                              finds its libraries and frd's compiled
#                                              modules load: a system library missing
#                                              from the base shows here, not at run time
#
# Two steps so that the slow one (downloads; pyradiomics compiled from its sdist) is a
# layer Docker reuses while only the project's code changes.
#
# Build secrets (BuildKit, never stored in a layer), for a TLS-intercepting proxy or a
# private index:
#   /run/secrets/ca       PEM certificates trusted by pip in addition to the system's
#   /run/secrets/pipconf  a pip configuration file (index-url, ...) used instead of none
set -eu

usage() { echo "usage: $0 deps|project VENV EXTRAS, or $0 check VENV" >&2; exit 2; }
[ "$#" -eq 3 ] || { [ "$#" -eq 2 ] && [ "$1" = check ]; } || usage
step=$1 venv=$2 extras=${3:-}
src=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "build-venv: $*" >&2; }

case $extras in
    *[!A-Za-z0-9,_-]*) say "invalid EXTRAS '$extras'"; exit 2 ;;
esac

tmp=$(mktemp -d /tmp/frd-build-venv.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# pip sees no configuration of the build machine; only what the secrets give.
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
if [ -s /run/secrets/pipconf ]; then
    export PIP_CONFIG_FILE=/run/secrets/pipconf
    say "pip configuration from the build secret 'pipconf'"
fi
if [ -s /run/secrets/ca ]; then
    # pip's `cert` replaces its trust store, so the bundle is the system's plus the secret,
    # in this step's temporary folder.
    bundle=$tmp/ca.pem
    cat /etc/ssl/certs/ca-certificates.crt /run/secrets/ca >"$bundle" 2>/dev/null \
        || cat /run/secrets/ca >"$bundle"
    export PIP_CERT="$bundle"
    say "trusting the certificates of the build secret 'ca' ($(grep -c 'BEGIN CERTIFICATE' /run/secrets/ca))"
fi

pip() { "$venv/bin/python" -m pip "$@"; }

import_extensions() {
    # import_extensions FILE WHAT: import each extension module whose path FILE lists.
    (cd / && "$venv/bin/python" - "$1" "$2" <<'PYTHON'
import importlib
import sys

paths = open(sys.argv[1]).read().split()
for path in paths:
    folder, _, filename = path.split("/site-packages/", 1)[1].rpartition("/")
    importlib.import_module(".".join(filter(None, [folder.replace("/", "."), filename.split(".")[0]])))
print(f"build-venv: {len(paths)} extension modules {sys.argv[2]}: all import")
PYTHON
    )
}

extensions() { find "$venv/lib" -type f -name '*.so' -path '*/site-packages/*' ! -path '*.libs/*'; }

import_core() {
    # The compiled modules frd needs, from / so that the installed frd is imported.
    (cd / && "$venv/bin/python" -c "import frd, frd._kernels, radiomics, radiomics._cmatrices, radiomics._cshape, SimpleITK, numpy, scipy.linalg; print('build-venv: frd', frd.__version__, '/ pyradiomics', radiomics.__version__, 'import')")
}

case $step in
deps)
    # The requirements of the project with EXTRAS, as pyproject.toml states them (an
    # extra that names the project itself is expanded); an undefined extra is an error,
    # not the silent omission pip would make.
    python3 - "$src/pyproject.toml" "$extras" >"$tmp/requirements.txt" <<'EOF'
import re
import sys
import tomllib

project = tomllib.load(open(sys.argv[1], "rb"))["project"]
defined = project.get("optional-dependencies", {})
wanted = [e.strip() for e in sys.argv[2].split(",") if e.strip()]
unknown = sorted(set(wanted) - set(defined))
if unknown:
    sys.exit(f"build-venv: pyproject.toml defines no extra {', '.join(unknown)} (defined: {', '.join(sorted(defined))})")
requirements, seen = list(project["dependencies"]), set()
while wanted:
    extra = wanted.pop()
    if extra in seen:
        continue
    seen.add(extra)
    for req in defined[extra]:
        own = re.fullmatch(rf"{re.escape(project['name'])}\[(.+)\]", req.replace(" ", ""))
        if own:
            wanted += own.group(1).split(",")
        else:
            requirements.append(req)
print("\n".join(requirements))
EOF
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    say "installing $(wc -l <"$tmp/requirements.txt") requirements of frd-radiomics[$extras] into $venv"
    pip install --no-compile --requirement "$tmp/requirements.txt"
    # Test suites, C sources and headers of the installed packages are never imported.
    find "$venv/lib" -depth -type d \( -name tests -o -name __pycache__ \) -path '*/site-packages/*' \
        -exec rm -rf {} +
    find "$venv/lib" -type f \( -name '*.pyx' -o -name '*.pxd' -o -name '*.c' -o -name '*.cpp' -o -name '*.h' \) \
        -path '*/site-packages/*' -delete
    # Debugging information of compiled extension modules (uvloop's alone is 12 MB). The
    # libraries auditwheel relocated (*.libs/, or anything with an rpath) are left alone:
    # strip can corrupt files patchelf has rewritten. Each stripped module is imported.
    extensions | while read -r so; do
        if readelf -S "$so" | grep -q '\.debug_info' && ! readelf -d "$so" | grep -q 'R.*PATH'; then
            strip --strip-debug "$so" && echo "$so"
        fi
    done >"$tmp/stripped.txt"
    import_extensions "$tmp/stripped.txt" "stripped of their debugging information"
    # Byte-code compiled once here: a read-only container could not write it at each start.
    "$venv/bin/python" -m compileall -q -j 0 --invalidation-mode unchecked-hash "$venv/lib" >/dev/null
    ;;
project)
    pip install --no-compile --no-deps "$src"
    pip check
    import_core
    pip uninstall --yes --quiet pip setuptools
    "$venv/bin/python" -m compileall -q -j 0 --invalidation-mode unchecked-hash \
        "$venv"/lib/python3*/site-packages/frd "$venv"/lib/python3*/site-packages/api >/dev/null
    ;;
check)
    # (Importing every extension module by name would run into the packages' own import
    # orders; the dynamic linker's view is what a base can get wrong.)
    # The extension modules, as Python loads them (the libraries of *.libs/ are found
    # through the rpath of the module that loads them).
    extensions | xargs ldd >"$tmp/ldd.txt" 2>&1 || true
    if grep -q "not found" "$tmp/ldd.txt"; then
        awk '/:$/ { file = $0 } /not found/ { print "build-venv: " file " needs " $1 ", which this base lacks" }' "$tmp/ldd.txt" >&2
        exit 1
    fi
    say "$(grep -c ':$' "$tmp/ldd.txt") extension modules find all their libraries on this base"
    import_core
    ;;
*)
    usage
    ;;
esac
