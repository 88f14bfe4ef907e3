"""A client of a remote ``frd serve``: the same comparisons, computed by a shared service.

    client = frd.Client("https://frd.example.org", api_key="...")
    result = client.compare("real/", "synthetic/")           # the JSON of `frd compare --json`
    screening = client.ood("real/", "new_scans/")

Sets are what :func:`frd.compare` takes (folders, zips, files, images in memory) or the
ids of what the service already keeps (``ds_…`` datasets, ``st_…`` reference statistics).
Each file is sent at most once: the client hashes the files, asks the service which it
already stores for this key (``POST /v1/datasets/known-files``) and names those by digest
instead of sending them, so comparing the same folders again uploads nothing. Images in
memory are sent as self-contained NRRD files (same pixels, same spacing).

Requests that fail on the way (connection errors, 502/503/504, 429) are retried with
backoff, honouring ``Retry-After``; a request that starts a job carries an
``Idempotency-Key``, so a retry never starts a second job, and waiting for a job rides
out a restart of the service. An error the service answers is a
:class:`~frd.errors.ServerError` with its message.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from .errors import ServerError
from .extras import require
from .sources import load_source

RETRY_STATUSES = (429, 502, 503, 504)
DONE = ("succeeded", "failed", "cancelled")


class Client:
    """A session with one ``frd serve`` (``url``), as the tenant of ``api_key``."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout: float = 300.0,
        retries: int = 8,
        wait_timeout: float = 24 * 3600,
        progress: bool = False,
    ):
        require("client", "a remote service (frd.Client, --server)")
        import httpx

        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)
        self.retries, self.wait_timeout, self.progress = retries, wait_timeout, progress

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----- the work -------------------------------------------------------------------------
    def compare(
        self,
        reference,
        candidate,
        *,
        reference_masks=None,
        candidate_masks=None,
        options=None,
        bootstrap: int = 0,
        report: bool = False,
        on_progress=None,
    ) -> dict:
        """The comparison's result (the JSON of ``frd compare --json``); see the module docstring."""
        body = {
            "reference": self.dataset(reference, reference_masks, allow_stats=True),
            "candidate": self.dataset(candidate, candidate_masks),
            "options": _options(options),
            "bootstrap": bootstrap,
            "report": report,
        }
        job = self.wait(self._start("/v1/comparisons", body), on_progress)
        return self._get(job["links"]["result"]).json()

    def ood(
        self,
        reference,
        test,
        *,
        reference_masks=None,
        test_masks=None,
        options=None,
        assumption: str = "gaussian",
        use_val_set: bool = False,
        val_frac: float = 0.1,
        seed: int | None = None,
        on_progress=None,
    ) -> dict:
        """Out-of-domain screening of ``test`` against ``reference`` (the JSON of ``frd ood --json``)."""
        body = {
            "reference": self.dataset(reference, reference_masks),
            "test": self.dataset(test, test_masks),
            "options": _options(options),
            "assumption": assumption,
            "use_val_set": use_val_set,
            "val_frac": val_frac,
            "seed": seed,
        }
        job = self.wait(self._start("/v1/ood", body), on_progress)
        return self._get(job["links"]["result"]).json()

    def reference_stats(self, reference, masks=None, *, options=None, on_progress=None) -> str:
        """Keep a reference set's statistics on the service; returns their id (``st_…``)."""
        job = self.wait(
            self._start(
                "/v1/reference-stats", {"dataset": self.dataset(reference, masks), "options": _options(options)}
            ),
            on_progress,
        )
        return job["links"]["result"].rsplit("/", 1)[1]

    def report(self, comparison_id: str) -> str:
        """The HTML report of a comparison made with ``report=True``."""
        return self._get(f"/v1/comparisons/{comparison_id}/report").text

    # ----- datasets -------------------------------------------------------------------------
    def dataset(self, source, masks=None, *, allow_stats: bool = False) -> str:
        """The service's id for ``source``: an id it keeps as is, anything else uploaded."""
        if isinstance(source, str) and source.startswith(("ds_", "st_")) and not Path(source).exists():
            if source.startswith("st_") and not allow_stats:
                raise ServerError(f"{source}: reference statistics can only be a reference")
            return source
        return self.upload(source, masks)["id"]

    def upload(self, source, masks=None) -> dict:
        """Upload a set as a dataset, sending only the files the service does not have."""
        with tempfile.TemporaryDirectory(prefix="frd-upload-") as scratch:
            files = _files_of(load_source(source, masks), Path(scratch))
            digests = {name: _sha256(path) for _, name, path in files}
            known = self._known(sorted(set(digests.values())))
            response = self._post_dataset(files, digests, known)
            if response.status_code == 409 and _code(response) == "file_gone":  # deleted meanwhile
                response = self._post_dataset(files, digests, set())
        return self._checked(response).json()  # with the service's verdict on every file

    def _known(self, digests: list[str]) -> set[str]:
        known: set[str] = set()
        for start in range(0, len(digests), 1000):
            response = self._request("POST", "/v1/datasets/known-files", json={"sha256": digests[start : start + 1000]})
            known |= set(self._checked(response).json()["known"])
        return known

    def _post_dataset(self, files, digests: dict, known: set[str]):
        existing = [
            {"name": name, "role": role, "sha256": digests[name]} for role, name, _ in files if digests[name] in known
        ]
        to_send = [(role, name, path) for role, name, path in files if digests[name] not in known]
        total = sum(path.stat().st_size for _, _, path in to_send)
        bar = _bar(total, "uploading", "B", self.progress and total > 0)

        def send():  # files opened anew for every attempt
            parts: list[Any] = [
                (
                    "masks" if role == "mask" else "files",
                    (name, _Counting(open(path, "rb"), bar), "application/octet-stream"),
                )
                for role, name, path in to_send
            ]
            # a form field without a file name: multipart even when every file is known
            fields = [("existing", (None, json.dumps(existing)))] if existing else []
            try:
                return self._http.post("/v1/datasets", files=parts + fields)
            finally:
                for _, (_, fh, _) in parts:
                    fh.close()

        try:
            return self._retrying(send)
        finally:
            bar.close()

    # ----- jobs -------------------------------------------------------------------------------
    def _start(self, path: str, body: dict) -> str:
        key = uuid.uuid4().hex  # the same on every retry: the service returns the same job
        response = self._request("POST", path, json=body, headers={"Idempotency-Key": key})
        return self._checked(response).headers["location"]

    def wait(self, location: str, on_progress=None) -> dict:
        """Poll a job until it ends, riding out restarts of the service; its final view."""
        deadline = time.monotonic() + self.wait_timeout
        bar = None
        try:
            while True:
                response = self._checked(self._request("GET", location, patient=True))
                job = response.json()
                progress = job.get("progress") or {}
                done, total = progress.get("done"), progress.get("total")
                if total:
                    if on_progress is not None:
                        on_progress(done or 0, total)
                    if self.progress:
                        bar = bar or _bar(total, "extracting", "img", True)
                        bar.update((done or 0) - bar.n)
                if job["state"] in DONE:
                    break
                if time.monotonic() > deadline:
                    raise ServerError(f"{self.url}: the job {job['id']} did not end in {self.wait_timeout:.0f} s")
                time.sleep(float(response.headers.get("retry-after") or 1.0))
        finally:
            if bar is not None:
                bar.close()
        if job["state"] != "succeeded":
            raise ServerError(
                f"{self.url}: the job {job['id']} {job['state']}: {job.get('error') or 'no reason given'}"
            )
        return job

    # ----- HTTP -------------------------------------------------------------------------------
    def _get(self, path: str):
        return self._checked(self._request("GET", path))

    def _request(self, method: str, path: str, *, patient: bool = False, **kwargs):
        return self._retrying(lambda: self._http.request(method, path, **kwargs), patient=patient)

    def _retrying(self, send, *, patient: bool = False):
        """``send()`` until it is answered other than 429/502/503/504 (backoff with jitter,
        Retry-After honoured); ``patient`` keeps trying for as long as a job may take."""
        import httpx

        attempt, deadline = 0, time.monotonic() + (self.wait_timeout if patient else 0)
        while True:
            try:
                response = send()
                if response.status_code not in RETRY_STATUSES:
                    return response
                delay = float(response.headers.get("retry-after") or 0) or _backoff(attempt)
                problem = f"{response.status_code} {_message(response)}"
            except httpx.TransportError as exc:
                delay, problem = _backoff(attempt), f"{type(exc).__name__}: {exc}"
            attempt += 1
            if attempt > self.retries and time.monotonic() > deadline:
                raise ServerError(f"{self.url}: no answer after {attempt} attempts ({problem})")
            time.sleep(min(delay, 30.0))

    def _checked(self, response):
        if response.status_code < 400:
            return response
        if response.status_code == 401:
            raise ServerError(
                f"{self.url}: the service refused the API key ({_message(response)}); "
                "give the key of your account (FRD_API_KEY, or api_key=)"
            )
        raise ServerError(f"{self.url}: {_message(response)} ({response.status_code} {_code(response)})")


def _options(options) -> dict:
    """The service's options: only what a client chose (lists, not tuples), no server paths."""
    if options is None:
        return {}
    values = options if isinstance(options, dict) else options.__dict__
    from .options import FRDOptions
    from .optionspec import defaults, specs

    chosen = {}
    declared = defaults(FRDOptions)
    for name, spec in specs(FRDOptions).items():
        value = values.get(name, declared[name])
        if value == declared[name]:
            continue
        if not spec.service:
            raise ServerError(f"{name} names a file of this machine; a remote service cannot use it")
        chosen[name] = list(value) if isinstance(value, tuple) else value
    return chosen


def _files_of(items, scratch: Path) -> list[tuple[str, str, Path]]:
    """(role, name, path) of every file to upload; images in memory written as NRRD."""
    out = []
    for item in items:
        for role, one in (("image", item), ("mask", item.mask)):
            if one is None:
                continue
            if one.pixels is not None:
                path = scratch / role / f"{one.name}.nrrd"
                path.parent.mkdir(parents=True, exist_ok=True)
                import SimpleITK as sitk

                sitk.WriteImage(one.pixels.image(float32=False), str(path), useCompression=False)
                out.append((role, path.name, path))
            elif len(one.files) > 1:  # a DICOM series: its slice files, in the series' folder
                prefix = "" if one.name == "." else f"{one.name}/"
                out += [(role, f"{prefix}{Path(f).name}", Path(f)) for f in one.files]
            else:
                out.append((role, one.name, Path(one.files[0])))
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _message(response) -> str:
    try:
        return response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return (response.text or response.reason_phrase or "").strip()[:300]


def _code(response) -> str:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return ""


def _backoff(attempt: int) -> float:
    return min(30.0, 0.5 * 2**attempt) * (0.5 + random.random())


class _Counting:
    """A file whose reads advance a progress bar."""

    def __init__(self, fh, bar):
        self._fh, self._bar = fh, bar

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        self._bar.update(len(data))
        return data

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def close(self) -> None:
        self._fh.close()


class _NoBar:
    n = 0

    def update(self, n: int) -> None:
        self.n += n

    def close(self) -> None:
        pass


def _bar(total: int, what: str, unit: str, enabled: bool):
    if not enabled or not os.isatty(2):
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=what, unit=unit, unit_scale=unit == "B", leave=False)
