"""A minimal in-memory tus 1.0 endpoint (creation, HEAD, PATCH) for the
browser tests of ``uploadBlob`` (docs/protocol.md §6). It records what the client
sent, and can drop the connection once in the middle of a PATCH so that the
test sees the client resume from the last acknowledged byte."""

from __future__ import annotations

import base64
import http.server
import itertools
import threading
from dataclasses import dataclass, field

PREFIX = "/api/v1/uploads/"


@dataclass
class Upload:
    length: int
    metadata: dict[str, str]
    data: bytearray = field(default_factory=bytearray)
    patches: list[int] = field(default_factory=list)  # Upload-Offset of each PATCH


class TusServer:
    """Uploads by id; ``drop_after`` makes the next PATCH stop after that many bytes."""

    def __init__(self) -> None:
        self.uploads: dict[str, Upload] = {}
        self.drop_after: int | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def route(self, handler: http.server.BaseHTTPRequestHandler, method: str, path: str) -> bool:
        if not path.startswith(PREFIX):
            return False
        upload_id = path[len(PREFIX) :]
        with self._lock:
            if method == "POST" and not upload_id:
                self._create(handler)
            elif method == "HEAD" and upload_id in self.uploads:
                upload = self.uploads[upload_id]
                self._reply(
                    handler,
                    200,
                    {"Upload-Offset": str(len(upload.data)), "Upload-Length": str(upload.length)},
                )
            elif method == "PATCH" and upload_id in self.uploads:
                self._patch(handler, self.uploads[upload_id])
            else:
                self._reply(handler, 404, {})
        return True

    def _create(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        metadata = {}
        for pair in filter(None, handler.headers.get("Upload-Metadata", "").split(",")):
            key, _, value = pair.strip().partition(" ")
            metadata[key] = base64.b64decode(value, validate=True).decode("utf-8")
        upload_id = str(next(self._ids))
        self.uploads[upload_id] = Upload(int(handler.headers["Upload-Length"]), metadata)
        self._reply(handler, 201, {"Location": PREFIX + upload_id})

    def _patch(self, handler: http.server.BaseHTTPRequestHandler, upload: Upload) -> None:
        offset = int(handler.headers["Upload-Offset"])
        length = int(handler.headers["Content-Length"])
        upload.patches.append(offset)
        if offset != len(upload.data):
            self._reply(handler, 409, {})
            return
        if self.drop_after is not None and self.drop_after < length:
            # Keep what arrived before the cut, then close without an answer.
            upload.data += handler.rfile.read(self.drop_after)
            self.drop_after = None
            handler.close_connection = True
            handler.connection.shutdown(2)
            return
        upload.data += handler.rfile.read(length)
        self._reply(handler, 204, {"Upload-Offset": str(len(upload.data))})

    @staticmethod
    def _reply(
        handler: http.server.BaseHTTPRequestHandler, status: int, headers: dict[str, str]
    ) -> None:
        handler.send_response(status)
        handler.send_header("Tus-Resumable", "1.0.0")
        handler.send_header("Content-Length", "0")
        handler.send_header("Cache-Control", "no-store")
        handler.send_header(
            "Access-Control-Expose-Headers", "Location, Upload-Offset, Upload-Length"
        )
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
