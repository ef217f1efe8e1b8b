"""Where a request's video may come from, and the limits it must meet.

Three sources, each with its own policy:

- **a path** — only inside ``serve.allowed_roots``, judged after resolving symlinks and ``..``
  (a link inside a root that points outside it is refused, as is a path that only *looks*
  inside); a path outside every root is refused whether or not it exists, so the API cannot
  be used to probe the file system;
- **an upload** (multipart, or a ``data:`` URL in a chat message) — written into a per-request
  spool directory under a fixed name without a suffix (neither the client's file name nor its
  suffix is ever used: the decoder picks the container from the bytes, see
  :mod:`m1.video.reader`, so an upload named ``x.m3u8`` or ``x.txt`` is not a playlist or a text
  "video"), counting bytes against ``serve.max_upload_mb`` while writing;
- **an http(s) URL** — only with ``serve.allow_urls``; the scheme must be listed in
  ``serve.url_schemes`` and every address the host resolves to must be public unless
  ``serve.allow_private_urls``; redirects are not followed (a redirect could lead to a
  private address after the check); the body is size-limited like an upload and spooled
  under the same fixed name.

:class:`RequestFiles` owns the spool directory of one request and removes it in ``cleanup``
(called in a ``finally`` by the app), so no server-side file outlives its request; a process
killed mid-request cannot clean up, and :func:`sweep_orphans` (run when a replica starts)
removes the directories of processes that are gone.
:func:`probe_video` opens the video once to turn a bad or over-long video into a 4xx before any
agent runs. Remaining gap: a host's DNS answer can change between the check and the fetch
(DNS rebinding; docs/SERVING.md has the whole threat model).
"""

from __future__ import annotations

import base64
import binascii
import http.client
import ipaddress
import os
import re
import shutil
import socket
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path
from typing import Any

from m1.config.serve import ServeConfig
from m1.config.video import VideoConfig
from m1.serving.errors import ApiError

_CHUNK = 1 << 20
# every spooled video's name: chosen by the server, with no suffix a demuxer could be picked by
SPOOL_NAME = "video"


def max_bytes(cfg: ServeConfig) -> int:
    return int(cfg.max_upload_mb * 2**20)


def shown(text: str, limit: int = 120) -> str:
    """``text`` as an error message may echo it: quoted, cut to ``limit`` characters (a 1 MB input
    is not sent back), with control characters escaped."""
    return repr(text[:limit]) + (f"... ({len(text)} characters)" if len(text) > limit else "")


# ------------------------------------------------------------------------------ paths


def resolve_local(path: str, cfg: ServeConfig) -> Path:
    """The real path of ``path`` if it lies inside an allowed root; otherwise an :class:`ApiError`."""
    if not cfg.allowed_roots and not cfg.samples_dir:
        raise ApiError(403, "paths_disabled", "video paths are not accepted by this server (serve.allowed_roots "
                       "is empty): upload the video instead")
    if not path or "\x00" in path:
        raise ApiError(400, "bad_path", "video_path is empty or contains a NUL byte")
    roots = [Path(r).resolve() for r in [*cfg.allowed_roots, *([cfg.samples_dir] if cfg.samples_dir else [])]]
    try:
        raw = Path(path)
        if not raw.is_absolute():
            # relative paths are taken against the first root; resolution below still decides
            raw = roots[0] / raw
        real = Path(os.path.realpath(raw))  # follows every symlink, collapses '..'
        inside = any(real == r or real.is_relative_to(r) for r in roots)
        is_file = inside and real.is_file()
    except (OSError, ValueError):
        # a name over the file system's 255 bytes, a path over PATH_MAX, ...: the OS error would
        # name the resolved path (an allowed root), so say only what is wrong with the input
        raise ApiError(400, "bad_path", "video_path is not a usable path (too long, or a file or directory "
                       "name over 255 bytes)") from None
    if not inside:
        raise ApiError(403, "path_not_allowed", f"video_path {shown(path)} is outside the allowed roots")
    if not is_file:
        raise ApiError(404, "video_not_found", f"video_path {shown(path)} does not exist or is not a regular file")
    return real


# ------------------------------------------------------------------------------ URLs


def _is_public(addr: str) -> bool:
    ip = ipaddress.ip_address(addr.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast
                or ip.is_unspecified)


def check_url(url: str, cfg: ServeConfig) -> urllib.parse.SplitResult:
    """Apply the URL policy (module docstring); returns the parsed URL."""
    if not cfg.allow_urls:
        raise ApiError(403, "urls_disabled", "fetching videos from URLs is disabled on this server "
                       "(serve.allow_urls=false): upload the video instead")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        # http.client refuses these later with InvalidURL; a URL never contains them unescaped
        raise ApiError(400, "bad_url", "video_url contains whitespace or control characters (escape them: %09, %20)")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise ApiError(400, "bad_url", f"video_url {shown(url)} is not a valid URL: {e}") from None
    if parts.scheme.lower() not in cfg.url_schemes:
        raise ApiError(400, "url_scheme_not_allowed", f"video_url scheme {parts.scheme!r} is not allowed; "
                       f"allowed: {cfg.url_schemes}")
    if not parts.hostname:
        raise ApiError(400, "bad_url", f"video_url {shown(url)} has no host")
    if parts.username or parts.password:
        raise ApiError(400, "bad_url", "video_url must not carry credentials")
    try:
        infos = socket.getaddrinfo(parts.hostname, port or (443 if parts.scheme == "https" else 80),
                                   proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as e:
        raise ApiError(400, "url_unresolvable", f"host {parts.hostname!r} does not resolve: {e}") from None
    addrs = sorted({i[4][0] for i in infos})
    if not cfg.allow_private_urls:
        private = [a for a in addrs if not _is_public(a)]
        if private:
            raise ApiError(403, "url_not_allowed", f"host {parts.hostname!r} resolves to non-public address(es) "
                           f"{private}; refused (serve.allow_private_urls=false)")
    return parts


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        raise ApiError(400, "url_redirect", f"video_url redirects ({code}) to {shown(newurl)}; redirects are not "
                       "followed: give the final URL")


class _Deadline:
    """Shuts down a fetch's socket when ``seconds`` have passed, whatever the fetch is blocked in
    (connect, headers, body): a socket timeout only bounds each read, not a trickle of reads."""

    def __init__(self, seconds: float):
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            if self.expired:
                self._shutdown()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked recv in the fetching thread
            except OSError:
                pass

    def cancel(self) -> None:
        self._timer.cancel()


class _DeadlineMixin:
    """An urllib handler whose connections hand their socket to a :class:`_Deadline`."""

    def __init__(self, deadline: _Deadline, **kw: Any):
        super().__init__(**kw)
        self.deadline = deadline

    def do_open(self, http_class: Any, req: Any, **kw: Any) -> Any:
        deadline = self.deadline

        class Watched(http_class):  # type: ignore[misc, valid-type]
            def connect(self) -> None:
                super().connect()
                deadline.attach(self.sock)

        return super().do_open(Watched, req, **kw)  # type: ignore[misc]


class _HTTPHandler(_DeadlineMixin, urllib.request.HTTPHandler):
    pass


class _HTTPSHandler(_DeadlineMixin, urllib.request.HTTPSHandler):
    pass


# ------------------------------------------------------------------------------ spooling


# m1-req-<host>-<pid>.<start>-<random>: the process that owns a request's directory, so that the
# directories of a process that died mid-request (a killed replica) can be told from live ones
_OWNED = re.compile(r"^m1-req-([0-9a-f]{8})-(\d+)\.(\d+)-")


def _host() -> str:
    return f"{zlib.crc32(socket.gethostname().encode()):08x}"


def _start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot, from /proc); None if there is no such process.
    Without /proc: 0 for a live process (then a reused pid keeps its predecessor's files)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except FileNotFoundError:
        return None
    except (OSError, IndexError, ValueError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except OSError:
            pass
        return 0


def spool_root(cfg: ServeConfig) -> Path:
    return Path(cfg.spool_dir or tempfile.gettempdir())


def sweep_orphans(cfg: ServeConfig) -> list[Path]:
    """Remove the spool directories of processes on this host that are gone (a replica killed with
    requests in flight never ran their cleanup); returns what was removed. Serving calls it when
    a replica starts, so the replica Serve starts in place of a dead one removes its files."""
    root, host, removed = spool_root(cfg), _host(), []
    try:
        entries = list(root.iterdir())
    except OSError:
        return []
    for d in entries:
        m = _OWNED.match(d.name)
        if m is None or m.group(1) != host or not d.is_dir():
            continue
        pid, start = int(m.group(2)), int(m.group(3))
        now = _start_time(pid)
        if now is None or (now and start and now != start):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


class RequestFiles:
    """The spool directory of one request. ``cleanup`` removes everything written into it; the
    directory's name records the owning process for :func:`sweep_orphans`."""

    def __init__(self, cfg: ServeConfig):
        self.cfg = cfg
        root = cfg.spool_dir or None
        if root:
            Path(root).mkdir(parents=True, exist_ok=True)
        pid = os.getpid()
        owner = f"{_host()}-{pid}.{_start_time(pid) or 0}"
        self.dir = Path(tempfile.mkdtemp(prefix=f"m1-req-{owner}-", dir=root))

    def _target(self) -> Path:
        return self.dir / SPOOL_NAME

    def _limit_error(self) -> ApiError:
        return ApiError(413, "upload_too_large", f"the video is larger than serve.max_upload_mb="
                        f"{self.cfg.max_upload_mb:g} MiB")

    async def save_upload(self, upload: Any) -> Path:
        """Stream an uploaded file (anything with ``async read(n)`` and ``filename``) to disk."""
        target, total, limit = self._target(), 0, max_bytes(self.cfg)
        with open(target, "wb") as f:
            while chunk := await upload.read(_CHUNK):
                total += len(chunk)
                if total > limit:
                    raise self._limit_error()
                f.write(chunk)
        if total == 0:
            raise ApiError(400, "empty_upload", "the uploaded video is empty")
        return target

    def save_data_url(self, url: str) -> Path:
        """A ``data:video/...;base64,...`` URL (how OpenAI-style clients inline a file)."""
        head, sep, data = url.partition(",")
        if not sep or ";base64" not in head:
            raise ApiError(400, "bad_data_url", "a data: video URL must be base64 (data:video/mp4;base64,...)")
        if len(data) * 3 // 4 > max_bytes(self.cfg):
            raise self._limit_error()
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as e:
            raise ApiError(400, "bad_data_url", f"the data: URL is not valid base64: {e}") from None
        if not raw:
            raise ApiError(400, "empty_upload", "the data: URL holds no bytes")
        target = self._target()
        target.write_bytes(raw)
        return target

    def fetch_url(self, url: str, timeout: float | None = None) -> Path:
        """Download ``url`` after :func:`check_url` (blocking: call it from a worker thread). The whole
        download (connect, headers, body) ends within ``timeout`` (default ``serve.url_timeout``): a
        server that trickles bytes cannot hold the thread longer."""
        check_url(url, self.cfg)
        limit_s = self.cfg.url_timeout if timeout is None else min(timeout, self.cfg.url_timeout)
        deadline = _Deadline(limit_s)
        opener = urllib.request.build_opener(_NoRedirect(), _HTTPHandler(deadline), _HTTPSHandler(deadline))
        target, total, limit = self._target(), 0, max_bytes(self.cfg)
        try:
            with opener.open(urllib.request.Request(url, headers={"User-Agent": "videochat-m1"}),
                             timeout=limit_s) as resp, open(target, "wb") as f:
                length = resp.headers.get("Content-Length")
                if length and length.isdigit() and int(length) > limit:
                    raise self._limit_error()
                while chunk := resp.read1(_CHUNK):  # read1: returns what has arrived, so the deadline is seen
                    total += len(chunk)
                    if total > limit:
                        raise self._limit_error()
                    if deadline.expired:
                        break
                    f.write(chunk)
        except urllib.error.HTTPError as e:
            raise ApiError(400, "url_fetch_failed", f"video_url answered HTTP {e.code}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as e:
            if not deadline.expired:
                reason = getattr(e, "reason", e)
                raise ApiError(400, "url_fetch_failed", f"could not fetch video_url: {reason}") from None
        finally:
            deadline.cancel()
        if deadline.expired:
            raise ApiError(504, "url_timeout", f"fetching video_url took longer than {limit_s:g} s "
                           "(serve.url_timeout, within serve.request_timeout)")
        return target

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


# ------------------------------------------------------------------------------ probing


def probe_video(path: Path, cfg: ServeConfig, video_cfg: VideoConfig) -> float:
    """Open the video once; its duration, or a 4xx for a bad or over-long video."""
    from m1.video import VideoError, VideoLimitError, VideoReader

    limits = video_cfg.model_copy(update={"max_file_mb": min(video_cfg.max_file_mb, cfg.max_upload_mb * 4)})
    try:
        with VideoReader(path, limits) as v:
            duration = v.info.duration
    except VideoLimitError as e:
        raise ApiError(413, "video_limit", str(e).replace(str(path), "<video>")) from None
    except VideoError as e:
        raise ApiError(422, "bad_video", f"not a readable video ({type(e).__name__}): "
                       f"{str(e).replace(str(path), '<video>')}") from None
    if duration > cfg.max_video_seconds:
        raise ApiError(413, "video_too_long", f"the video lasts {duration:.1f} s; serve.max_video_seconds="
                       f"{cfg.max_video_seconds:g}")
    return duration
