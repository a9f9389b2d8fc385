"""A real HTTP server on 127.0.0.1 for tests, with responses scripted per path.

    with ScriptedServer() as srv:
        srv.route("/a.pdf", Reply(500), Reply(200, PDF, {"Content-Type": "application/pdf"}))
        fetcher.fetch(srv.url("/a.pdf"))
        assert len(srv.requests_for("/a.pdf")) == 2

Each path plays its replies in order and then repeats the last one; unrouted paths get
``default`` (404). The server counts requests in flight so tests can check
concurrency limits. It speaks HTTP/1.0, so each response ends the connection, which is
what makes a short body with a larger Content-Length a truncated download.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line (a hang, as the client sees it)
    content_length: int | None = None  # announce this instead of len(body); -1 sends none


@dataclass(frozen=True)
class Seen:
    method: str
    path: str  # as sent, including any query
    headers: dict[str, str]  # lower-cased names
    at: float  # time.monotonic() when it arrived


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.server.owner._serve(self)

    do_HEAD = do_GET

    def handle(self) -> None:
        # the client may give up first (timeout tests); nothing to report then
        with contextlib.suppress(ConnectionError, TimeoutError):
            super().handle()

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: ScriptedServer

    def handle_error(self, request: object, client_address: object) -> None:
        pass


class ScriptedServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.default = Reply(404, b"not found", {"Content-Type": "text/plain"})
        self.requests: list[Seen] = []
        self.max_in_flight = 0
        self._routes: dict[str, list[Reply]] = {}
        self._in_flight = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = _Server((host, 0), _Handler)
        self._httpd.owner = self
        self.host = host
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05})

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # wakes handlers sleeping in a delay
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.origin + path

    def route(self, path: str, *replies: Reply) -> None:
        if not replies:
            raise ValueError("route needs at least one reply")
        with self._lock:
            self._routes[path] = list(replies)

    def requests_for(self, path: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.path.split("?", 1)[0] == path]

    def _next_reply(self, path: str) -> Reply:
        replies = self._routes.get(path.split("?", 1)[0])
        if not replies:
            return self.default
        return replies.pop(0) if len(replies) > 1 else replies[0]

    def _serve(self, handler: _Handler) -> None:
        seen = Seen(
            handler.command,
            handler.path,
            {k.lower(): v for k, v in handler.headers.items()},
            time.monotonic(),
        )
        with self._lock:
            self.requests.append(seen)
            reply = self._next_reply(handler.path)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if reply.delay:
                self._stop.wait(reply.delay)
        finally:
            # leave before answering: a client that got its answer may send the next
            # request before this thread finishes writing
            with self._lock:
                self._in_flight -= 1
        if self._stop.is_set():
            return
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        length = len(reply.body) if reply.content_length is None else reply.content_length
        if length >= 0:
            handler.send_header("Content-Length", str(length))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(reply.body)
