"""Health check of the frd-radiomics image: GET one URL and print one line.

    python -I /opt/frd/docker/healthcheck.py [URL]

URL defaults to $FRD_HEALTHCHECK_URL, else http://127.0.0.1:8000/healthz (`frd serve`).
Exit 0 when it answers 2xx within 4 seconds, else 1. Standard library only, so it starts
fast and does not depend on the service's packages; `docker inspect` keeps the line.
"""

import os
import sys
import time
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8000/healthz"


def check(url: str, timeout: float = 4.0) -> tuple[bool, str]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        return False, f"{url} answered {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        return False, f"{url}: {exc.reason}"
    except Exception as exc:  # noqa: BLE001 - a health check reports, it never raises
        return False, f"{url}: {type(exc).__name__}: {exc}"
    return True, f"{url} answered {status} in {(time.monotonic() - started) * 1000:.0f} ms"


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else os.environ.get("FRD_HEALTHCHECK_URL") or DEFAULT_URL
    ok, detail = check(url)
    print(("healthy: " if ok else "unhealthy: ") + " ".join(detail.split()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
