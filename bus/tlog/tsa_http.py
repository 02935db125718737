"""RFC 3161 over HTTP (RFC 3161 §3.4): the dev TSA's server and the log's client.

The server is the standard library's threading HTTP server answering POSTs of
``application/timestamp-query`` with ``application/timestamp-reply``; it runs in a
thread of the process that starts it (the log, ``edx up``, a test) and stops with
it. The client posts one request and returns the reply's bytes unchanged, so the
reply stored beside a checkpoint is exactly what the authority signed.
"""

from __future__ import annotations

import asyncio
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

from bus.tlog.errors import TimestampUnavailableError
from signing import DevTsa, timestamp_request

__all__ = ["TIMESTAMP_QUERY", "TIMESTAMP_REPLY", "TsaServer", "fetch_timestamp"]

#: Media types of RFC 3161 over HTTP (RFC 3161 §3.4).
TIMESTAMP_QUERY = "application/timestamp-query"
TIMESTAMP_REPLY = "application/timestamp-reply"
_MAX_REQUEST = 64 * 1024


class _Handler(BaseHTTPRequestHandler):
    tsa: DevTsa

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get_content_type() != TIMESTAMP_QUERY or not 0 < length <= _MAX_REQUEST:
            self.send_error(415 if length else 400, "send one application/timestamp-query")
            return
        reply = self.tsa.respond(self.rfile.read(length))
        self.send_response(200)
        self.send_header("Content-Type", TIMESTAMP_REPLY)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the log service logs what matters."""


class TsaServer:
    """The development TSA served over HTTP on ``host:port`` (port 0: any free port)."""

    def __init__(self, tsa: DevTsa, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type("DevTsaHandler", (_Handler,), {"tsa": tsa})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where to POST requests."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="dev-tsa", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _post(url: str, body: bytes, timeout: float) -> bytes:
    request = urllib.request.Request(  # noqa: S310 - the operator configures the TSA URL
        url, data=body, method="POST", headers={"Content-Type": TIMESTAMP_QUERY}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            if response.headers.get_content_type() != TIMESTAMP_REPLY:
                raise TimestampUnavailableError(
                    f"the TSA at {url} answered {response.headers.get_content_type()}"
                )
            return bytes(response.read())
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        raise TimestampUnavailableError(f"the TSA at {url} does not answer: {error}") from error


async def fetch_timestamp(url: str, data: bytes, *, wait_seconds: float = 10.0) -> bytes:
    """Ask the TSA at ``url`` for a time-stamp over ``data``; the DER reply, unchanged.

    ``wait_seconds`` bounds the HTTP exchange itself (a socket timeout in the thread).
    """
    return await asyncio.to_thread(_post, url, timestamp_request(data), wait_seconds)
