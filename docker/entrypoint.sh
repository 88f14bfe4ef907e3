#!/bin/sh
# Entry point of the frd-radiomics image (installed as /opt/frd/docker/entrypoint.sh).
#
#   (no arguments)         frd serve --host 0.0.0.0          the REST service (needs FRD_API_KEYS)
#   -x ...                 frd -x ...                        arguments starting with "-" go to frd
#   anything else          exec'd as given                   e.g. frd batch, frd compare A B,
#                                                            dask scheduler, dask worker ADDR, sh
#
# Before `frd serve` the data folder (--data-dir, else $FRD_DATA_DIR, else ./frd-data) is
# created if missing and must be a writable folder: a volume mounted with another owner
# fails here with a clear message instead of later inside the service. Before
# `dask worker` a missing or unreadable $FRD_DATA_DIR is reported (workers read uploaded
# files from it) but not fatal. `frd batch` and everything else start unchanged.
# CI runs it in the built image (docker/ci-build.sh).
set -eu

say() { echo "entrypoint: $*" >&2; }

if [ "$#" -eq 0 ]; then
    set -- frd serve --host 0.0.0.0
fi
case $1 in
    -*) set -- frd "$@" ;;
esac

serve_data_dir() {
    # The data folder `frd serve "$@"` will use: its --data-dir, else FRD_DATA_DIR.
    dir=${FRD_DATA_DIR:-frd-data}
    while [ "$#" -gt 0 ]; do
        case $1 in
            --data-dir=*) dir=${1#--data-dir=} ;;
            --data-dir) [ "$#" -ge 2 ] && dir=$2 && shift ;;
        esac
        shift
    done
    printf '%s\n' "$dir"
}

if [ "$#" -ge 2 ] && [ "$(basename "$1")" = frd ] && [ "$2" = serve ]; then
    data_dir=$(serve_data_dir "$@")
    if ! mkdir -p "$data_dir" 2>/dev/null; then
        say "cannot create the data folder $data_dir as uid $(id -u): mount a volume there that this user may write"
        exit 1
    fi
    if [ ! -d "$data_dir" ] || [ ! -w "$data_dir" ] || [ ! -x "$data_dir" ]; then
        say "the data folder $data_dir is not a folder writable by uid $(id -u)"
        say "(a bind mount or volume owned by another user? e.g. chown -R $(id -u) on the host, or use a named volume)"
        exit 1
    fi
elif [ "$#" -ge 2 ] && [ "$(basename "$1")" = dask ] && [ "$2" = worker ] && [ -n "${FRD_DATA_DIR:-}" ]; then
    if [ ! -d "$FRD_DATA_DIR" ] || [ ! -r "$FRD_DATA_DIR" ]; then
        say "warning: FRD_DATA_DIR=$FRD_DATA_DIR is not a readable folder; this worker cannot read uploaded files"
    fi
fi

exec "$@"
