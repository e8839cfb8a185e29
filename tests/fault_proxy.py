"""A small reverse proxy in front of moto_server that answers chosen AWS operations with throttling or 5xx.

moto has no fault injection; the CLI under test talks to this proxy through AWS_ENDPOINT_URL, exactly as it would
talk to AWS, so botocore's real retry configuration is what gets exercised.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


class FaultPlan:
    def __init__(self, operation: str, failures: int, status: int = 400, code: str = "ThrottlingException"):
        self.operation = operation  # e.g. "FilterLogEvents" (matched against X-Amz-Target)
        self.failures = failures  # how many matching requests fail before they pass (-1: always)
        self.status = status
        self.code = code
        self.seen = 0
        self.failed = 0
        self.lock = threading.Lock()

    def should_fail(self, target: str) -> bool:
        if not target.endswith("." + self.operation):
            return False
        with self.lock:
            self.seen += 1
            if self.failures < 0 or self.failed < self.failures:
                self.failed += 1
                return True
        return False


Intercept = Callable[[str, dict[str, Any]], dict[str, Any] | None]


@contextmanager
def fault_proxy(upstream: str, plan: FaultPlan | None = None, intercept: Intercept | None = None) -> Iterator[str]:
    """Forward to `upstream`, failing what `plan` says and answering what `intercept` answers (X-Amz-Target
    operation name, JSON body) -> JSON response, or None to forward."""
    target = urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            amz_target = self.headers.get("X-Amz-Target", "")
            # Only JSON-protocol calls (X-Amz-Target) are offered to `intercept`: S3 and SNS bodies are not JSON.
            offered = intercept is not None and amz_target
            answer = intercept(amz_target.rpartition(".")[2], json.loads(body or b"{}")) if offered else None
            if answer is not None:
                payload = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            if plan is not None and plan.should_fail(amz_target):
                payload = json.dumps({"__type": plan.code, "message": "Rate exceeded (injected)"}).encode()
                self.send_response(plan.status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("x-amzn-ErrorType", plan.code)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            self.send_response(resp.status)
            for key, value in resp.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
