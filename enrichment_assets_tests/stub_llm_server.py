"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1 for tests and benchmarks.

Each request to ``POST .../chat/completions`` takes the next scripted reply; when the
script runs out, ``default`` is used, then ``responder(body)``. Every request body is
recorded in ``requests`` with its arrival time and its authorization and user-agent
headers. Faults: ``rpm_cap`` answers 429 (with ``Retry-After``) beyond ``rpm_cap``
requests in any ``rpm_window_s`` window; ``fail_first`` fails the first N requests of every
distinct prompt with the given statuses; ``stop()`` and ``start()`` make the port refuse
connections and accept them again (same port).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


class _StubHTTPServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` with a listen backlog for many clients at once: socketserver's
    default of 5 drops the SYNs of a burst of new connections while the accept loop is busy
    (a loaded machine), and the client retransmits them a second later: requests meant to be
    concurrent arrived after the first ones were answered."""

    request_queue_size = 256


@dataclass
class Reply:
    """One scripted reply: ``status`` with ``content`` as the assistant message (200) or an error body.

    ``raw_body``: sent as is (e.g. an HTML page) with ``content_type``.
    """

    content: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    model: str = "stub-model-1"
    usage: tuple[int, int] = (100, 50)
    raw_body: str | None = None
    content_type: str = "application/json"


def prompt_key(body: dict[str, Any]) -> str:
    """A stable id of a request's conversation (its last user message)."""
    messages = body.get("messages") or [{}]
    user = [m for m in messages if m.get("role") == "user"]
    text = (user[0] if user else messages[-1]).get("content") or ""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class StubLLMServer:
    """Context manager running the stub server in a thread; ``api_base`` ends in ``/v1``."""

    def __init__(self, replies: list[Reply] | None = None, default: Reply | None = None,
                 responder: Callable[[dict[str, Any]], Reply] | None = None,
                 rpm_cap: int | None = None, rpm_window_s: float = 60.0,
                 fail_first: tuple[int, ...] = (), fail_delay_s: float = 0.0,
                 fail_headers: dict[str, str] | None = None, port: int = 0):
        self.replies: deque[Reply] = deque(replies or [])
        self.default = default
        self.responder = responder
        self.rpm_cap = rpm_cap
        self.rpm_window_s = rpm_window_s
        self.fail_first = tuple(fail_first)
        self.fail_delay_s = fail_delay_s
        self.fail_headers = dict(fail_headers or {})
        self.requests: list[dict[str, Any]] = []
        self.arrivals: list[float] = []
        self.answered: list[float] = []
        self.rejected_429 = 0
        self.seen: dict[str, int] = {}
        self._lock = threading.Lock()
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set = set()
        self._handler = self._make_handler()

    def _make_handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # TCP_NODELAY: headers and body go out as two writes; with Nagle's algorithm the
            # body waits for the ACK of the headers, which the client delays (~40 ms on Linux):
            # every keep-alive answer took L + ~45 ms (74 calls/s at concurrency 4, latency 0)
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def setup(self) -> None:
                super().setup()
                with server._lock:
                    server._connections.add(self.connection)

            def finish(self) -> None:
                with server._lock:
                    server._connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                reply = server._choose(body, self.path, self.headers.get("authorization"),
                                      self.headers.get("user-agent"))
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.raw_body is not None:
                    data = reply.raw_body.encode()
                elif reply.status == 200:
                    data = json.dumps({
                        "id": f"chatcmpl-{len(server.requests)}", "object": "chat.completion",
                        "created": 1_700_000_000, "model": reply.model,
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": reply.content}}],
                        "usage": {"prompt_tokens": reply.usage[0], "completion_tokens": reply.usage[1],
                                  "total_tokens": sum(reply.usage)},
                    }).encode()
                else:
                    data = json.dumps({"error": {"message": reply.content or f"status {reply.status}",
                                                 "type": "stub_error", "code": reply.status}}).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", reply.content_type)
                    self.send_header("content-length", str(len(data)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                    if reply.status == 200 and reply.raw_body is None:
                        with server._lock:
                            server.answered.append(time.monotonic())
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

        return Handler

    def _choose(self, body: dict[str, Any], path: str, authorization: str | None,
                user_agent: str | None = None) -> Reply:
        now = time.monotonic()
        with self._lock:
            self.requests.append({"path": path, "body": body, "authorization": authorization,
                                  "user_agent": user_agent, "at": now})
            if self.rpm_cap is not None:
                horizon = now - self.rpm_window_s
                recent = [t for t in self.arrivals if t > horizon]
                if len(recent) >= self.rpm_cap:
                    self.rejected_429 += 1
                    wait = max(0.05, recent[0] + self.rpm_window_s - now)
                    return Reply(status=429, content="rate limit exceeded",
                                 headers={"retry-after-ms": str(int(wait * 1000))})
            self.arrivals.append(now)
            key = prompt_key(body)
            seen = self.seen.get(key, 0)
            self.seen[key] = seen + 1
            if seen < len(self.fail_first):
                status = self.fail_first[seen]
                if status == 0:  # hang past the client's timeout
                    return Reply(status=500, content="injected hang", delay_s=self.fail_delay_s)
                return Reply(status=status, content=f"injected fault {status}", headers=self.fail_headers)
            reply = self.replies.popleft() if self.replies else self.default
        if reply is None and self.responder is not None:
            reply = self.responder(body)
        return reply if reply is not None else Reply(status=500, content="script exhausted")

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    def start(self) -> StubLLMServer:
        """Listen (again) on the same port."""
        for _ in range(100):
            try:
                self._server = _StubHTTPServer(("127.0.0.1", self._port), self._handler)
                break
            except OSError:
                time.sleep(0.05)
        else:  # pragma: no cover
            raise OSError(f"port {self._port} stayed busy")
        self._server.daemon_threads = True
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop open (keep-alive) connections: connections are refused
        until :meth:`start`."""
        import socket

        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> StubLLMServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def max_in_window(self, window_s: float, times: list[float] | None = None) -> int:
        """Most requests that arrived within any ``window_s`` seconds (sliding)."""
        times = sorted(self.arrivals if times is None else times)
        best, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= window_s:
                start += 1
            best = max(best, end - start + 1)
        return best


def model_like_responder(body: dict[str, Any]) -> Reply:
    """Answer a profile or translation request the way a well-behaved model would.

    Uses the offline rules on the request's data block, so answers are valid, grounded
    and deterministic; the reply's model name says it came from the stub.
    """
    from enrichment_assets.llm.offline import profile_from_facts, translate_profile
    from enrichment_assets.llm.prompts import LISTING_TAG, PROFILE_TAG, parse_data_block

    text = next(m["content"] for m in body["messages"] if m["role"] == "user")
    if f"<{LISTING_TAG}>" in text:
        answer = profile_from_facts(parse_data_block(text, LISTING_TAG))
    else:
        answer = translate_profile(parse_data_block(text, PROFILE_TAG))
    return Reply(answer.model_dump_json(), model="stub-llm-1")


def warm_model_like_responder() -> Reply:
    """Answer one made-up profile request with :func:`model_like_responder` and return the reply.

    Its first answer in a process costs ~0.3 s of CPU (the offline model's modules and
    lexicons load); a benchmark that calls this before it starts the clock keeps that cold
    start out of the stub's latency (benchmark 1's first C requests were answered ~0.5 s
    after L, 2.5% of a 20 s window at C=4)."""
    from enrichment_assets.llm.prompts import LISTING_TAG, render_data_block

    text = render_data_block(LISTING_TAG, {
        "name": "Rex", "breed": "Beagle",
        "description": "Rex is a calm Beagle who loves long walks and gets along with other dogs."})
    return model_like_responder({"messages": [{"role": "user", "content": f"Write a profile.\n{text}"}]})



def cat_claim_responder(body: dict[str, Any], quote: str = "Bruno liebt Katzen.") -> Reply:
    """:func:`model_like_responder`, with profiles claiming ``good_with_cats: yes`` backed by
    ``quote``, a sentence no demo listing holds (an ERROR rule fires: the profile is
    quarantined); other answers unchanged."""
    reply = model_like_responder(body)
    answer = json.loads(reply.content)
    if "good_with_cats" in answer:
        answer["good_with_cats"] = "yes"
        answer["source_references"]["good_with_cats"] = quote
    return Reply(json.dumps(answer), model="stub-llm-1")


def main() -> None:  # pragma: no cover - used by the benchmarks
    """Serve canned translation answers until stdin closes: ``python -m
    enrichment_assets_tests.stub_llm_server [--answer-model NAME]`` prints its api_base on the
    first line; answers name ``NAME`` as the model (default ``stub-model-1``)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser()
    parser.add_argument("--answer-model", default=Reply.model)
    args = parser.parse_args()
    answer = json.dumps({"language": "de", "tagline": "Ein treuer Freund",
                         "description": "Bello ist ein ruhiger Hund, der gerne spazieren geht."})
    with StubLLMServer(default=Reply(answer, model=args.answer_model)) as server:
        print(server.api_base, flush=True)
        sys.stdin.read()


if __name__ == "__main__":  # pragma: no cover
    main()
