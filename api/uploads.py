"""Streaming multipart parsing with limits counted on the bytes as they arrive.

The request body is read chunk by chunk and written straight to temp files of the blob
store: nothing is held whole in memory, and the request-size, per-file-size and
file-count limits are enforced on the actual stream (a lying Content-Length does not
help). Any failure discards every temp file of the request.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header

from .store import BlobStore, TempWriter, TooLarge

MAX_TEXT_FIELD = 64 * 1024


class BadUpload(ValueError):
    """Malformed multipart body or a field we do not accept."""


@dataclass
class FilePart:
    field: str
    filename: str
    writer: TempWriter


@dataclass
class ParsedForm:
    files: list[FilePart] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        for part in self.files:
            part.writer.discard()


def openapi_multipart(properties: dict, required: list[str] | None = None) -> dict:
    """A route's ``openapi_extra`` describing its multipart body: our streaming parser reads
    the body (limits counted on the stream), so FastAPI cannot describe it itself."""
    schema: dict = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


FILES = {"type": "array", "items": {"type": "string", "format": "binary"}}


async def parse_multipart(
    request,
    store: BlobStore,
    *,
    file_fields: set[str],
    text_fields: set[str],
    text_limits: dict[str, int] | None = None,
    max_request_bytes: int,
    max_file_bytes: int,
    max_files: int,
) -> ParsedForm:
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise BadUpload("expected a multipart/form-data body")
    form = ParsedForm()
    state: dict = {"headers": {}, "field": b"", "value": b"", "part": None, "text": None}

    def on_part_begin():
        state["headers"], state["part"], state["text"] = {}, None, None

    def on_header_field(data, start, end):
        state["field"] += data[start:end]

    def on_header_value(data, start, end):
        state["value"] += data[start:end]

    def on_header_end():
        state["headers"][state["field"].decode("latin-1").lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_headers_finished():
        _, disp = parse_options_header(state["headers"].get("content-disposition", b""))
        name = disp.get(b"name", b"").decode("utf-8", "replace")
        filename = disp.get(b"filename")
        if name in file_fields and filename is not None:
            if len(form.files) >= max_files:
                raise TooLarge(f"more than {max_files} files in one request")
            writer = store.new_temp()
            writer.limit = max_file_bytes
            part = FilePart(name, filename.decode("utf-8", "replace"), writer)
            form.files.append(part)
            state["part"] = part
        elif name in text_fields and filename is None:
            state["text"] = (name, bytearray())
        else:
            raise BadUpload(f"unexpected form field {name!r}; expected {sorted(file_fields | text_fields)}")

    def on_part_data(data, start, end):
        if state["part"] is not None:
            try:
                state["part"].writer.write(data[start:end])
            except TooLarge as exc:
                raise TooLarge(f"{state['part'].filename}: {exc}") from None
        elif state["text"] is not None:
            state["text"][1].extend(data[start:end])
            if len(state["text"][1]) > (text_limits or {}).get(state["text"][0], MAX_TEXT_FIELD):
                raise TooLarge(f"form field {state['text'][0]!r} is too long")

    def on_part_end():
        if state["text"] is not None:
            form.fields[state["text"][0]] = state["text"][1].decode("utf-8", "replace")

    parser = MultipartParser(
        params[b"boundary"],
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_request_bytes:
                raise TooLarge(f"request body exceeds the limit of {max_request_bytes} bytes")
            parser.write(chunk)
        parser.finalize()
    except (TooLarge, BadUpload, OSError):  # OSError: the disk (StorageFull is one: 507)
        form.discard()
        raise
    except Exception as exc:  # the parser's own errors: malformed body
        form.discard()
        raise BadUpload(f"malformed multipart body ({type(exc).__name__})") from None
    # fsync blocks: off the event loop, so other requests are not held up by disk flushes.
    from starlette.concurrency import run_in_threadpool

    try:
        for part in form.files:
            await run_in_threadpool(part.writer.finish)
    except BaseException:
        form.discard()
        raise
    return form
