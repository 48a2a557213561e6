"""A model hub on 127.0.0.1 for download tests: real HTTP, real sockets, no internet.

It answers like huggingface.co does for ``/{repo}/resolve/main/{file}``: small files
directly, large ("LFS") files with a 302 to a file store that carries ``X-Linked-Etag``
(the file's sha256), ``X-Linked-Size`` and ``X-Repo-Commit``; the file store honours
``Range: bytes=N-`` with ``206 Partial Content``.  It records every request, and can
drop the connection part-way through a body (``drop_after``) or send slowly
(``delay``), so interrupted, resumed and cancelled downloads can be tested.

Runs in: its own daemon thread (``ThreadingHTTPServer``); tests read ``requests``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LFS_MIN = 1 << 16  # files at least this big are served like LFS files (redirected)
COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeHub:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}  # "org/repo/file" -> content
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.drop_after: int | None = None  # bytes of a body sent before hanging up
        self.delay = 0.0  # seconds between 64 KiB pieces of a body
        self._lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:  # noqa: N802
                hub._answer(self, body=False)

            def do_GET(self) -> None:  # noqa: N802
                hub._answer(self, body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                       name="fake-hub")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add_folder(self, repo: str, folder: Path) -> None:
        for f in folder.iterdir():
            if f.is_file():
                self.files[f"{repo}/{f.name}"] = f.read_bytes()

    def gets(self, path_part: str = "") -> list[dict[str, str]]:
        with self._lock:
            return [h for m, p, h in self.requests if m == "GET" and path_part in p]

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- answering (server threads) ---------------------------------------------------

    def _answer(self, h: BaseHTTPRequestHandler, body: bool) -> None:
        with self._lock:
            self.requests.append((h.command, h.path, dict(h.headers.items())))
        path = h.path.split("?", 1)[0]
        if path.startswith("/lfs/"):
            digest = path.removeprefix("/lfs/")
            data = next((d for d in self.files.values()
                         if hashlib.sha256(d).hexdigest() == digest), None)
            if data is None:
                return self._status(h, 404)
            return self._send(h, data, body, {"ETag": f'"{digest}"'})
        parts = path.strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            return self._status(h, 404)
        key = f"{parts[0]}/{parts[1]}/{'/'.join(parts[4:])}"
        data = self.files.get(key)
        if data is None:
            return self._status(h, 404, {"X-Error-Code": "EntryNotFound"})
        digest = hashlib.sha256(data).hexdigest()
        if len(data) >= LFS_MIN:
            h.send_response(302)
            for k, v in {"Location": f"/lfs/{digest}", "X-Linked-Etag": f'"{digest}"',
                         "X-Linked-Size": str(len(data)), "X-Repo-Commit": COMMIT,
                         "ETag": '"redirect"', "Content-Length": "0"}.items():
                h.send_header(k, v)
            h.end_headers()
            return None
        etag = hashlib.sha1(data).hexdigest()  # git's blob-ish etag for small files
        return self._send(h, data, body, {"ETag": f'"{etag}"', "X-Repo-Commit": COMMIT})

    @staticmethod
    def _status(h: BaseHTTPRequestHandler, code: int, headers: dict | None = None) -> None:
        h.send_response(code)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", "0")
        h.end_headers()

    def _send(self, h: BaseHTTPRequestHandler, data: bytes, body: bool,
              headers: dict[str, str]) -> None:
        start = 0
        rng = h.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[len("bytes="):-1])
            if start >= len(data):
                return self._status(h, 416, {"Content-Range": f"bytes */{len(data)}"})
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            h.send_response(200)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("Content-Length", str(len(data) - start))
        h.end_headers()
        if not body:
            return None
        drop = self.drop_after
        sent = 0
        view = memoryview(data)[start:]
        while sent < len(view):
            n = min(1 << 16, len(view) - sent)
            if drop is not None and start + sent + n > drop:
                n = max(0, drop - start - sent)
                h.wfile.write(view[sent:sent + n])
                h.wfile.flush()
                h.close_connection = True  # hang up halfway, as a flaky network does
                return None
            try:
                h.wfile.write(view[sent:sent + n])
                h.wfile.flush()
            except OSError:  # the client went away (cancelled)
                h.close_connection = True
                return None
            sent += n
            if self.delay:
                time.sleep(self.delay)
        return None
