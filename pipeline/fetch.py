"""Polite, safe HTTP downloads into the raw store.

``Fetcher.fetch`` never raises for network or HTTP trouble: every outcome is a
``FetchResult`` (stored blob, ``error`` after retries, or ``refused`` by the
``UrlPolicy``), so a batch goes on past one bad URL. Every request, including each
redirect hop (followed by hand), is checked against the policy first.

A hostile server gets bounded costs: one wall-clock deadline per attempt covers
connecting, the headers and the body (``max_seconds``; httpx's own timeouts are per
read, so a server dripping a byte a second would never hit them), a timeout is tried
again at most once, at most one content coding is accepted (we ask for ``gzip``; a
``gzip, gzip`` stack is refused) and the byte limit counts decoded bytes as they are
produced, a bounded step at a time, so a small response cannot inflate in memory.

Known limits: the policy resolves a hostname and then httpx resolves it again to
connect, so a DNS answer that changes in between (rebinding) is not caught; the
allowed-hosts list is what keeps us on trusted names. Name resolution itself
(``getaddrinfo``) cannot be interrupted, so a hanging resolver can outlast the deadline.
"""

from __future__ import annotations

import contextvars
import email.utils
import hashlib
import ipaddress
import logging
import random
import socket
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import httpcore
import httpx

import pipeline
from pipeline.rawstore import FetchManifest, FetchResult, RawStore, media_type, sniff_ext

__all__ = ["FetchResult", "FetchSettings", "Fetcher", "UrlPolicy", "USER_AGENT"]

log = logging.getLogger(__name__)

VERSION = getattr(pipeline, "__version__", "0.1.0")
USER_AGENT = f"gazette/{VERSION} (+https://example.invalid/gazette)"

_REDIRECTS = (301, 302, 303, 307, 308)
_PDF_TYPES = ("application/pdf", "application/x-pdf")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_EDGE = 1024  # PDF magic must be in the first KiB, %%EOF in the last KiB
_GZIP = ("gzip", "x-gzip")  # the one content coding we ask for and decode
_DECODE_STEP = 1 << 20  # bytes of decoded output per step: what one chunk may hold in memory
_RAW_CHUNK = 64 * 1024  # bytes read from the wire per step
TIMEOUT_TRIES = 2  # attempts that may end in a timeout: a slow server gets one more chance, not five
_CLOCK_SLACK = 0.05  # s: a socket timeout may fire this much before the deadline it was given


@dataclass(frozen=True, slots=True)
class FetchSettings:
    connect_timeout: float = 10.0
    read_timeout: float = 30.0  # between two reads, not for the whole body
    max_seconds: float = 900.0  # wall clock for one attempt: connect, headers and body (200 MB at 230 KB/s)
    page_max_seconds: float = 60.0  # the same for a listing or issue page: HTML of well under a MB
    retries: int = 4  # extra attempts after the first
    backoff_base: float = 1.0  # first retry waits about this long, doubling each time
    backoff_max: float = 60.0
    retry_after_max: float = 120.0  # a server's Retry-After is honoured up to this
    max_bytes: int = 200 * 1024 * 1024
    max_redirects: int = 5
    per_host: int = 2  # concurrent requests to one host
    min_delay: float = 0.0  # seconds between request starts to one host
    user_agent: str = USER_AGENT
    trust_env: bool = False  # proxies from the environment would resolve names past the policy


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """Which URLs may be requested.

    ``allowed_hosts`` holds exact host names (or IP literals); an entry ``*.example.cn``
    also allows every subdomain of example.cn. Hosts that are or resolve to
    non-public addresses are refused unless ``allow_private`` (tests on loopback).
    """

    allowed_hosts: frozenset[str] = frozenset()
    allow_private: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_hosts", frozenset(_norm_host(h) for h in self.allowed_hosts))

    def check(self, url: str | httpx.URL) -> str | None:
        """None when ``url`` may be fetched, else the reason it may not."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            return f"invalid url: {exc}"
        if parsed.scheme not in ("http", "https"):
            return f"scheme not allowed: {parsed.scheme or '(none)'}"
        host = _norm_host(parsed.raw_host.decode("ascii", "replace"))
        if not host:
            return "no host"
        if not self._host_allowed(host):
            return f"host not allowed: {host}"
        if self.allow_private:
            return None
        return _private_reason(host, parsed.port or (443 if parsed.scheme == "https" else 80))

    def _host_allowed(self, host: str) -> bool:
        if host in self.allowed_hosts:
            return True
        return any(entry.startswith("*.") and host.endswith(entry[1:]) for entry in self.allowed_hosts)


def _norm_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        return host


def _non_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        # addresses that smuggle an IPv4 address: judge the embedded one
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and _non_public(embedded):
            return True
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def _private_reason(host: str, port: int) -> str | None:
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            # fail closed: a name we cannot check might resolve to anything when httpx retries it
            return f"host does not resolve: {host}"
        addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    for ip in addresses:
        if _non_public(ip):
            return f"non-public address: {host} -> {ip}"
    return None


# -- one deadline per attempt ---------------------------------------------------------
#
# httpx has no total timeout (encode/httpx#1450): its timeouts bound each read, so a server
# that drips its headers a byte at a time is never cut off. Every socket operation of an
# attempt goes through ``_DeadlineStream``, which gives it at most the time left before the
# attempt's deadline (a context variable: each fetching thread has its own).

@dataclass(frozen=True, slots=True)
class _Deadline:
    at: float  # time.monotonic() when the attempt must be over
    seconds: float  # the attempt's max_seconds, for messages

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at - _CLOCK_SLACK


_DEADLINE: contextvars.ContextVar[_Deadline | None] = contextvars.ContextVar("fetch_deadline", default=None)


def _time_left(timeout: float | None, error: type[Exception]) -> float | None:
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline.at - time.monotonic()
    if left <= 0:
        raise error("the attempt's deadline (max_seconds) has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _time_left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None, timeout: float | None = None) -> _DeadlineStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname,
                                                     _time_left(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable | None = None) -> _DeadlineStream:
        timeout = _time_left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable | None = None) -> _DeadlineStream:
        timeout = _time_left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _deadline_transport(trust_env: bool) -> httpx.HTTPTransport:
    """httpx's transport over ``_DeadlineBackend``. httpx takes no network backend, so its
    connection pool is swapped for one built the same way (httpx's default limits)."""
    transport = httpx.HTTPTransport(trust_env=trust_env)
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=trust_env), max_connections=100, max_keepalive_connections=20,
        keepalive_expiry=5.0, network_backend=_DeadlineBackend())
    return transport


class _GzipDecoder:
    """One content coding, decoded a bounded step at a time: ``gzip`` (members one after
    another, RFC 1952) or none. A step yields at most ``_DECODE_STEP`` bytes, so the
    caller's byte limit stops a bomb after that much, whatever its ratio."""

    def __init__(self, gzip: bool) -> None:
        self.gzip = gzip
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._in_member = False  # fed since the last member ended

    def feed(self, data: bytes) -> Iterator[bytes]:
        if not self.gzip:
            yield data
            return
        full = False
        while data or full:  # a full step may hold back output for input already consumed
            self._in_member = True
            out = self._z.decompress(data, _DECODE_STEP)
            if out:
                yield out
            full = len(out) == _DECODE_STEP
            if self._z.eof:  # a member ended: what follows is the next member
                data, full = self._z.unused_data, False
                self._z, self._in_member = zlib.decompressobj(16 + zlib.MAX_WBITS), False
            else:
                data = self._z.unconsumed_tail

    @property
    def complete(self) -> bool:
        """False when the body ended inside a gzip member (cut short)."""
        return not self._in_member


def _retry_after(value: str | None, cap: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), cap)


@dataclass(slots=True)
class _Outcome:
    result: FetchResult
    retry: bool = False
    wait: float | None = None  # from Retry-After
    timeout: bool = False  # the attempt ran out of time (retried at most once: TIMEOUT_TRIES)


def _timeout_error(exc: Exception, during: str = "") -> str:
    deadline = _DEADLINE.get()
    if deadline is not None and deadline.passed:
        return f"timeout: no complete response within max_seconds={deadline.seconds:g} s"
    return f"timeout: {type(exc).__name__}{during}"


@dataclass(slots=True)
class _Body:
    """Running facts about a body being streamed to disk."""

    digest: Any = field(default_factory=hashlib.sha256)
    size: int = 0
    head: bytes = b""  # first KiB, for magic numbers
    tail: bytes = b""  # last KiB, for %%EOF

    def add(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        if len(self.head) < _EDGE:
            self.head = (self.head + chunk)[:_EDGE]
        self.tail = (self.tail + chunk)[-_EDGE:]


@dataclass(slots=True)
class _HostState:
    slots: threading.BoundedSemaphore
    next_start: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Fetcher:
    """Downloads URLs into a ``RawStore``. Thread-safe: share one per flow run.

    With a ``manifest``, each result is recorded there, and the newest stored fetch of
    a URL is used for the conditional GET unless ``previous`` is passed explicitly.
    """

    def __init__(
        self,
        store: RawStore,
        policy: UrlPolicy,
        settings: FetchSettings | None = None,
        *,
        manifest: FetchManifest | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.store = store
        self.policy = policy
        self.settings = settings or FetchSettings()
        self.manifest = manifest
        s = self.settings
        self._client = httpx.Client(
            timeout=httpx.Timeout(s.read_timeout, connect=s.connect_timeout),
            follow_redirects=False,
            # one content coding at most: a stack (gzip, gzip) multiplies what a small body inflates to
            headers={"User-Agent": s.user_agent, "Accept-Encoding": "gzip"},
            trust_env=s.trust_env,
            transport=transport or _deadline_transport(s.trust_env),
        )
        self._hosts: dict[str, _HostState] = {}
        self._hosts_lock = threading.Lock()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def check(self, url: str) -> str | None:
        """The policy's verdict on ``url`` (None = allowed), without a request."""
        return self.policy.check(url)

    def fetch(
        self, url: str, *, previous: FetchResult | None = None, expect: str | None = None,
        max_seconds: float | None = None,
    ) -> FetchResult:
        """Download ``url`` into the store. ``expect`` is "pdf", "html" or None (a URL
        ending in .pdf then counts as "pdf"). ``previous`` enables a conditional GET.
        ``max_seconds`` replaces the settings' deadline of an attempt (a listing page's is shorter)."""
        if expect not in (None, "pdf", "html"):
            raise ValueError(f"expect must be 'pdf', 'html' or None, got {expect!r}")
        if previous is None and self.manifest is not None:
            previous = self.manifest.latest(url)
        if expect is None and _path_is_pdf(url):
            expect = "pdf"
        result = self._fetch_with_retries(url, previous, expect, max_seconds or self.settings.max_seconds)
        if self.manifest is not None:
            self.manifest.add(result)
        return result

    # -- retries ---------------------------------------------------------------

    def _fetch_with_retries(self, url: str, previous: FetchResult | None, expect: str | None,
                            max_seconds: float) -> FetchResult:
        s = self.settings
        attempt = timeouts = 0
        while True:
            outcome = self._attempt(url, previous, expect, max_seconds)
            timeouts += outcome.timeout
            if not outcome.retry or attempt >= s.retries or timeouts >= TIMEOUT_TRIES:
                return outcome.result
            wait = outcome.wait if outcome.wait is not None else self._backoff(attempt)
            log.info("retrying %s in %.2fs after: %s", url, wait, outcome.result.error)
            time.sleep(wait)
            attempt += 1

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.settings.backoff_max, self.settings.backoff_base * 2**attempt)
        # jitter spreads out threads that failed together
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    # -- one attempt: redirect hops --------------------------------------------

    def _attempt(self, url: str, previous: FetchResult | None, expect: str | None, max_seconds: float) -> _Outcome:
        """One try, its redirect hops included, within one deadline: ``max_seconds`` from
        its first request (waiting for a host slot does not count)."""
        headers = self._conditional_headers(previous)
        try:
            current = httpx.URL(url)
        except httpx.InvalidURL as exc:
            return _Outcome(FetchResult(url=url, refused=f"invalid url: {exc}"))
        token = None
        try:
            for hop in range(self.settings.max_redirects + 1):
                reason = self.policy.check(current)
                if reason is not None:
                    if hop:
                        reason = f"redirect refused: {reason}"
                    return _Outcome(FetchResult(url=url, final_url=str(current), refused=reason))
                with self._host_slot(current.host):
                    if token is None:
                        token = _DEADLINE.set(_Deadline(time.monotonic() + max_seconds, max_seconds))
                    try:
                        with self._client.stream("GET", current, headers=headers) as resp:
                            location = resp.headers.get("location")
                            if resp.status_code in _REDIRECTS and location:
                                current = current.join(location.strip())
                                continue
                            return self._receive(url, resp, previous, expect, bool(headers))
                    except httpx.TimeoutException as exc:
                        return self.failed_result(url, current, _timeout_error(exc), retry=True)
                    except httpx.InvalidURL as exc:
                        return self.failed_result(url, current, f"bad redirect: {exc}")
                    except httpx.DecodingError as exc:
                        return self.failed_result(url, current, f"decoding: {exc}")
                    except httpx.TransportError as exc:
                        return self.failed_result(url, current, f"network: {type(exc).__name__}: {exc}", retry=True)
            return self.failed_result(url, current, f"too many redirects (> {self.settings.max_redirects})")
        finally:
            if token is not None:
                _DEADLINE.reset(token)

    @staticmethod
    def failed_result(url: str, final: httpx.URL, error: str, *, retry: bool = False) -> _Outcome:
        return _Outcome(FetchResult(url=url, final_url=str(final), error=error), retry=retry,
                        timeout=error.startswith("timeout"))

    def _conditional_headers(self, previous: FetchResult | None) -> dict[str, str]:
        # only ask for a 304 when we still hold the bytes it would point at
        if previous is None or previous.sha256 is None or not self.store.has(previous.sha256):
            return {}
        headers = {}
        if previous.etag:
            headers["If-None-Match"] = previous.etag
        if previous.last_modified:
            headers["If-Modified-Since"] = previous.last_modified
        return headers

    # -- politeness ------------------------------------------------------------

    @contextmanager
    def _host_slot(self, host: str) -> Iterator[None]:
        with self._hosts_lock:
            state = self._hosts.get(host)
            if state is None:
                state = self._hosts[host] = _HostState(threading.BoundedSemaphore(self.settings.per_host))
        with state.slots:
            if self.settings.min_delay > 0:
                with state.lock:
                    now = time.monotonic()
                    start = max(now, state.next_start)
                    state.next_start = start + self.settings.min_delay
                time.sleep(start - now)
            yield

    # -- the response ----------------------------------------------------------

    def _receive(
        self,
        url: str,
        resp: httpx.Response,
        previous: FetchResult | None,
        expect: str | None,
        conditional: bool,
    ) -> _Outcome:
        final = str(resp.url)
        status = resp.status_code
        base = FetchResult(
            url=url,
            final_url=final,
            status=status,
            etag=resp.headers.get("etag"),
            last_modified=resp.headers.get("last-modified"),
            content_type=resp.headers.get("content-type"),
        )
        if status == 304 and conditional and previous is not None:
            return _Outcome(self._not_modified(base, previous))
        if status == 429 or status >= 500:
            wait = _retry_after(resp.headers.get("retry-after"), self.settings.retry_after_max)
            return _Outcome(replace(base, error=f"http {status}"), retry=True, wait=wait)
        if not 200 <= status < 300:
            return _Outcome(replace(base, error=f"http {status}"))
        mime = media_type(base.content_type)
        if expect == "pdf" and mime in _HTML_TYPES:
            return _Outcome(replace(base, error=f"content_type: expected a PDF, got {mime}"))
        codings = _content_codings(resp.headers.get("content-encoding"))
        if len(codings) > 1 or not set(codings) <= set(_GZIP):
            return _Outcome(replace(base, error=f"content_encoding: {', '.join(codings)} refused (one gzip layer at most)"))
        return self._download(base, resp, expect, gzip=bool(codings))

    def _not_modified(self, base: FetchResult, previous: FetchResult) -> FetchResult:
        sha256 = previous.sha256
        assert sha256 is not None  # guaranteed by _conditional_headers
        return replace(
            base,
            sha256=sha256,
            path=self.store.path_for(sha256),
            etag=base.etag or previous.etag,
            last_modified=base.last_modified or previous.last_modified,
            content_type=previous.content_type,
            bytes=previous.bytes,
            not_modified=True,
        )

    def _download(self, base: FetchResult, resp: httpx.Response, expect: str | None, gzip: bool) -> _Outcome:
        declared = _int_or_none(resp.headers.get("content-length"))
        if declared is not None and declared > self.settings.max_bytes:
            limit = self.settings.max_bytes
            return _Outcome(replace(base, error=f"too_large: Content-Length {declared} > {limit}"))
        fd, tmp = self.store.new_temp()
        try:
            with open(fd, "wb") as out:
                body = self._stream(resp, out, _GzipDecoder(gzip))
            problem = body if isinstance(body, tuple) else self._integrity(resp, declared, body, expect)
            if problem is not None:
                error, retry = problem
                return _Outcome(replace(base, error=error), retry=retry, timeout=error.startswith("timeout"))
            assert isinstance(body, _Body)
            sha256 = body.digest.hexdigest()
            path = self.store.adopt(tmp, sha256, sniff_ext(body.head, base.content_type))
            return _Outcome(replace(base, sha256=sha256, path=path, bytes=body.size))
        finally:
            tmp.unlink(missing_ok=True)

    def _stream(self, resp: httpx.Response, out: BinaryIO, decoder: _GzipDecoder) -> _Body | tuple[str, bool]:
        """Decode the body into ``out``, counting decoded bytes against ``max_bytes`` as they
        come; (error, worth retrying) when it was cut short or refused."""
        body = _Body()
        limit = self.settings.max_bytes
        deadline = _DEADLINE.get() or _Deadline(time.monotonic() + self.settings.max_seconds, self.settings.max_seconds)
        try:
            for raw in resp.iter_raw(_RAW_CHUNK):
                for chunk in decoder.feed(raw):
                    body.size += len(chunk)
                    if body.size > limit:
                        return f"too_large: more than {limit} bytes{' once decoded' if decoder.gzip else ''}", False
                    out.write(chunk)
                    body.add(chunk)
                if deadline.passed:  # a custom transport gets no deadline on its reads: checked here
                    return f"timeout: no complete response within max_seconds={deadline.seconds:g} s", True
        except httpx.RemoteProtocolError as exc:
            return f"truncated: {exc}", True
        except httpx.TimeoutException as exc:
            return _timeout_error(exc, " while reading the body"), True
        except zlib.error as exc:
            return f"decoding: gzip: {exc}", False
        if not decoder.complete:
            return "truncated: the gzip stream ends inside a member", True
        return body

    @staticmethod
    def _integrity(
        resp: httpx.Response, declared: int | None, body: _Body, expect: str | None
    ) -> tuple[str, bool] | None:
        """(error, worth retrying) when the body must not be stored, else None."""
        received = resp.num_bytes_downloaded  # on the wire, as Content-Length counts
        if declared is not None and received != declared:
            return f"truncated: got {received} of {declared} bytes", True
        if body.size == 0:
            return "empty body", True
        mime = media_type(resp.headers.get("content-type"))
        is_pdf = expect == "pdf" or mime in _PDF_TYPES or b"%PDF-" in body.head
        if is_pdf and b"%PDF-" not in body.head:
            return f"integrity: no %PDF- header (content-type {mime or 'none'})", False
        if is_pdf and b"%%EOF" not in body.tail:
            return "truncated: PDF has no %%EOF near the end", True
        if expect == "html" and sniff_ext(body.head, mime) != "html":
            return f"content_type: expected HTML, got {mime or 'unknown'}", False
        return None


def _content_codings(header: str | None) -> list[str]:
    """``gzip, identity`` -> ``["gzip"]``: the codings applied, in order (identity is none)."""
    codings = [c.strip().lower() for c in (header or "").split(",")]
    return [c for c in codings if c and c != "identity"]


def _path_is_pdf(url: str) -> bool:
    try:
        return urlsplit(url).path.lower().endswith(".pdf")
    except ValueError:
        return False


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
