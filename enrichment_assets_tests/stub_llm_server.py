"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1 for tests.

Each request to ``POST .../chat/completions`` takes the next scripted reply; when the
script runs out, ``default`` is used. Every request body is recorded in ``requests``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Reply:
    """One scripted reply: ``status`` with ``content`` as the assistant message (200) or an error body."""

    content: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    model: str = "stub-model-1"
    usage: tuple[int, int] = (100, 50)


class StubLLMServer:
    """Context manager running the stub server in a thread; ``api_base`` ends in ``/v1``."""

    def __init__(self, replies: list[Reply] | None = None, default: Reply | None = None,
                 responder: Callable[[dict[str, Any]], Reply] | None = None):
        self.replies: deque[Reply] = deque(replies or [])
        self.default = default
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append({"path": self.path, "body": body,
                                            "authorization": self.headers.get("authorization")})
                    reply = server.replies.popleft() if server.replies else server.default
                if reply is None and server.responder is not None:
                    reply = server.responder(body)
                if reply is None:
                    reply = Reply(status=500, content="script exhausted")
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.status == 200:
                    payload = {
                        "id": f"chatcmpl-{len(server.requests)}", "object": "chat.completion",
                        "created": 1_700_000_000, "model": reply.model,
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": reply.content}}],
                        "usage": {"prompt_tokens": reply.usage[0], "completion_tokens": reply.usage[1],
                                  "total_tokens": sum(reply.usage)},
                    }
                else:
                    payload = {"error": {"message": reply.content or f"status {reply.status}",
                                         "type": "stub_error", "code": reply.status}}
                data = json.dumps(payload).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> StubLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()


def model_like_responder(body: dict[str, Any]) -> Reply:
    """Answer a profile or translation request the way a well-behaved model would.

    Uses the offline rules on the request's data block, so answers are valid, grounded
    and deterministic; the reply's model name says it came from the stub.
    """
    from enrichment_assets.llm.offline import profile_from_facts, translate_profile
    from enrichment_assets.llm.prompts import LISTING_TAG, PROFILE_TAG, parse_data_block

    text = body["messages"][-1]["content"]
    if f"<{LISTING_TAG}>" in text:
        answer = profile_from_facts(parse_data_block(text, LISTING_TAG))
    else:
        answer = translate_profile(parse_data_block(text, PROFILE_TAG))
    return Reply(answer.model_dump_json(), model="stub-llm-1")
