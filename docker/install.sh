#!/bin/sh
# Install frd-radiomics from the wheels that docker/build-wheels.sh made, without any
# package index (so nothing is compiled or fetched here: the Docker image's final stage
# has no compiler), then check that the installed set is consistent and importable.
# The image's final stage runs this script, and so does CI (docker/ci-check.sh) into a
# fresh virtual environment.
#
#   docker/install.sh WHEEL_DIR
#
# Environment: PYTHON (default python3) is the interpreter to install into; run it with a
# virtual environment activated to install there.
set -eu

[ "$#" -eq 1 ] || { echo "usage: $0 WHEEL_DIR" >&2; exit 2; }
wheel_dir=$1
python=${PYTHON:-python3}
requirements=$wheel_dir/requirements.txt

[ -f "$requirements" ] || {
    echo "$0: $requirements is missing: build the wheels with docker/build-wheels.sh first" >&2
    exit 1
}

echo "install: $(cat "$requirements") from $wheel_dir into $("$python" -c 'import sys; print(sys.prefix)')" >&2
"$python" -m pip install \
    --no-index --find-links "$wheel_dir" \
    --no-cache-dir --disable-pip-version-check --root-user-action=ignore \
    --requirement "$requirements"
"$python" -m pip check
# The compiled extensions and the command must load (a missing system library shows here).
"$python" -c "import frd, radiomics, radiomics._cmatrices, radiomics._cshape, SimpleITK; print('install: frd', frd.__version__, '/ pyradiomics', radiomics.__version__)"
