"""A loopback HTTP server that replays scripted and recorded exchange responses.

Tests point the real clients (ccxt over ``requests``, ``httpx``) at :attr:`ReplayServer.url`, so
every byte goes through the clients' true code path: URL building, headers, status handling,
JSON decoding. Nothing here touches the internet.

A route maps a path (plus an optional query matcher) to a list of *steps*. Each request to the
route consumes the next step; the last step repeats forever, so ``[429, 200]`` reads "first a
rate limit, then success from now on". A step is either a fixed :class:`Reply` or a responder, a
callable that builds the reply from the :class:`Request` (used to serve real parquet data with
pagination). The most recently added matching route wins, so a test can shadow a default route.

Every request is recorded (method, path, query) so tests can assert how many calls were made;
a responder that raises is answered with HTTP 500 and listed in :attr:`ReplayServer.errors`
(fixtures assert it stays empty, so a broken test server cannot hide behind client retries).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

#: Longest scripted delay a test may ask for: keeps the suite fast (see CONVENTIONS "Tests").
MAX_DELAY_S = 1.0
#: How often the serving thread checks for shutdown (the stdlib default of 0.5 s slows teardown).
POLL_INTERVAL_S = 0.02


@dataclass(frozen=True)
class Request:
    """One request the server received."""

    method: str
    path: str
    query: Mapping[str, str]
    body: bytes = b""

    def param(self, name: str) -> str | None:
        """The query parameter ``name`` or None."""
        return self.query.get(name)

    def int_param(self, name: str, default: int | None = None) -> int | None:
        """The query parameter ``name`` as int, or ``default`` when absent."""
        raw = self.query.get(name)
        return default if raw is None else int(raw)


@dataclass(frozen=True)
class Reply:
    """One scripted response: status, raw body bytes, headers, and a delay before answering."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.delay_s <= MAX_DELAY_S:
            raise ValueError(f"delay_s must be within [0, {MAX_DELAY_S}] s, got {self.delay_s}")


Responder = Callable[[Request], Reply]
Step = Reply | Responder
QueryMatch = Mapping[str, str] | Callable[[Mapping[str, str]], bool] | None


def json_reply(payload: Any, status: int = 200, *, headers: Mapping[str, str] | None = None,
               delay_s: float = 0.0) -> Reply:
    """A JSON response (``application/json``)."""
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    return Reply(status, json.dumps(payload).encode(), hdrs, delay_s)


def text_reply(text: str, status: int = 200, *, content_type: str = "text/plain",
               delay_s: float = 0.0) -> Reply:
    """A raw text response, e.g. an HTML error page or truncated JSON."""
    return Reply(status, text.encode(), {"Content-Type": content_type}, delay_s)


@dataclass
class Route:
    """Path + optional query matcher -> steps, consumed in order, the last one repeating."""

    path: str
    steps: list[Step]
    query: QueryMatch = None
    hits: int = 0

    def matches(self, request: Request) -> bool:
        """Whether this route serves ``request``."""
        if request.path != self.path:
            return False
        if self.query is None:
            return True
        if callable(self.query):
            return bool(self.query(request.query))
        return all(request.query.get(k) == v for k, v in self.query.items())

    def answer(self, request: Request) -> Reply:
        """The next step's reply (the last step repeats)."""
        step = self.steps[min(self.hits, len(self.steps) - 1)]
        self.hits += 1
        return step(request) if callable(step) else step


NO_ROUTE = json_reply({"code": -9999, "msg": "replay server: no route"}, 404)


class ReplayServer:
    """A ``ThreadingHTTPServer`` on 127.0.0.1 (free port) serving scripted routes.

    Use as a context manager (or :meth:`start` / :meth:`stop`); :attr:`url` is the base URL.
    """

    def __init__(self) -> None:
        self._routes: list[Route] = []
        self._lock = threading.Lock()
        self.requests: list[Request] = []
        self.unmatched: list[Request] = []
        self.errors: list[str] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> ReplayServer:
        """Bind a free loopback port and serve in a daemon thread."""
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        httpd = self._httpd
        self._thread = threading.Thread(target=lambda: httpd.serve_forever(poll_interval=POLL_INTERVAL_S),
                                        name="replay-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        if self._httpd is None:
            raise RuntimeError("replay server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- scripting ---------------------------------------------------------------------------
    def route(self, path: str, *steps: Step, query: QueryMatch = None) -> Route:
        """Serve ``path`` (exact, without query string) with ``steps``; newest route wins."""
        if not steps:
            raise ValueError("a route needs at least one step")
        new = Route(path, list(steps), query)
        with self._lock:
            self._routes.append(new)
        return new

    def requests_to(self, path: str) -> list[Request]:
        """Requests received for ``path``, in arrival order."""
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def clear_requests(self) -> None:
        """Forget the recorded requests (routes, hit counts and :attr:`unmatched` stay)."""
        with self._lock:
            self.requests.clear()

    def dispatch(self, request: Request) -> Reply:
        """Record ``request`` and pick its reply (called from the handler threads)."""
        with self._lock:
            self.requests.append(request)
            for candidate in reversed(self._routes):
                if candidate.matches(request):
                    return candidate.answer(request)
            self.unmatched.append(request)
        return NO_ROUTE


def _handler_for(server: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(self.command, parts.path, dict(parse_qsl(parts.query)), body)
            try:
                reply = server.dispatch(request)
            except Exception as exc:  # a broken responder is a test bug: record it, answer 500
                server.errors.append(f"{request.path} {dict(request.query)}: {exc!r}")
                reply = text_reply(f"replay server responder failed: {exc!r}", 500)
            if reply.delay_s:
                time.sleep(reply.delay_s)
            try:
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a scripted timeout): nothing left to answer

        do_GET = _serve  # http.server's naming
        do_POST = _serve

        def log_message(self, format: str, *args: object) -> None:
            """Silence the per-request stderr log."""

    return _Handler


class SteppingClock:
    """A UTC clock that moves only when told, and a ``sleep`` that moves it instead of waiting.

    Pass ``clock`` and ``clock.sleep`` to a client: a Retry-After of 120 s then costs no real
    time, and what the client slept stays in :attr:`sleeps`.
    """

    def __init__(self, start: datetime) -> None:
        if start.utcoffset() != timedelta(0):
            raise ValueError(f"the clock runs in UTC, got {start!r}")
        self.at = start
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.at

    def sleep(self, seconds: float) -> None:
        """Record the sleep and move the clock on by it."""
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass without a sleep being recorded."""
        self.at += timedelta(seconds=seconds)


# -- recorded payload files ------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """One recorded HTTP exchange: ``<url> -> <received_at>: <json>``."""

    url: str
    path: str
    query: Mapping[str, str]
    received_at: float
    payload: Any


def read_recorded(path: Path | str) -> list[Recorded]:
    """Parse a cryptofeed-style HTTP recording; lines of any other shape are skipped."""
    out: list[Recorded] = []
    for line in Path(path).read_text().splitlines():
        url, arrow, rest = line.partition(" -> ")
        stamp, colon, body = rest.partition(": ")
        if not arrow or not colon or "://" not in url:
            continue
        parts = urlsplit(url)
        out.append(Recorded(url, parts.path, dict(parse_qsl(parts.query)), float(stamp), json.loads(body)))
    return out


def serve_recorded(server: ReplayServer, entries: list[Recorded]) -> None:
    """Route each recorded URL (path + exact query) to its recorded JSON body."""
    for entry in entries:
        server.route(entry.path, json_reply(entry.payload), query=dict(entry.query))


def read_ws_messages(path: Path | str) -> Iterator[Any]:
    """Received websocket messages of a recording: the ``<recv_ts>: <json>`` lines, in order."""
    for line in Path(path).read_text().splitlines():
        if line.startswith(("wss://", "ws://")):
            continue  # connection header ``<url> <-> <ts>`` or a sent message ``<url> <- <ts>: ...``
        _stamp, colon, body = line.partition(": ")
        if colon:
            yield json.loads(body)
