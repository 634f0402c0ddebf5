"""Real servers on loopback for the delivery tests: an SMTP server (aiosmtpd, STARTTLS with a test CA, AUTH)
and an SMS gateway (http.server in a thread). Each is started and stopped by the test that uses it."""
from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SMTP_USER, SMTP_PASSWORD = "office", "correct horse battery staple"
SMS_KEY = "test-api-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SmtpServer:
    port: int
    ca_file: str
    messages: list[Any] = field(default_factory=list)  # aiosmtpd envelopes, in arrival order
    logins: list[str] = field(default_factory=list)


class _Handler:
    def __init__(self, server: SmtpServer):
        self.server = server

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.startswith("bounce"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.server.messages.append(envelope)
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(folder: Path) -> Iterator[SmtpServer]:
    """STARTTLS required, AUTH required (and only over TLS), certificate from a throw-away CA."""
    import trustme
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ca = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(tls)
    ca_file = folder / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    state = SmtpServer(port=free_port(), ca_file=str(ca_file))

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_USER.encode(), SMTP_PASSWORD.encode())
        if ok:
            state.logins.append(SMTP_USER)
        return AuthResult(success=ok)

    controller = Controller(_Handler(state), hostname="127.0.0.1", port=state.port, tls_context=tls,
                            require_starttls=True, auth_required=True, auth_require_tls=True,
                            authenticator=authenticator)
    controller.start()
    try:
        yield state
    finally:
        controller.stop()


class _Gateway(ThreadingHTTPServer):
    requests: list[dict[str, Any]]
    statuses: list[int]  # replies to give, in order; then 201


class _GatewayHandler(BaseHTTPRequestHandler):
    server: _Gateway

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        code = self.server.statuses.pop(0) if self.server.statuses else 201
        reply = {"id": f"sms-{len(self.server.requests)}"} if code < 300 else {"error": "try later"}
        out = json.dumps(reply).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
        return None


@contextmanager
def sms_gateway() -> Iterator[_Gateway]:
    server = _Gateway(("127.0.0.1", 0), _GatewayHandler)
    server.requests, server.statuses = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
