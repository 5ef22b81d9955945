"""The simulated people's HTTP client: a kept-alive connection the server closed is sent again, once."""

import json
import socket
import threading

import pytest
import requests

from engine.simulation.client import ApiClient


class OneShotServer:
    """A raw HTTP/1.1 server: the first `drop` requests are read and their connection closed unanswered
    (what a server's idle kept-alive timeout looks like to a client that sends on it); the rest get JSON."""

    def __init__(self, drop, reset=False):
        self.drop, self.reset, self.requests = drop, reset, []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                head = conn.recv(65536).decode("latin-1")
                self.requests.append(head)
                if len(self.requests) <= self.drop:
                    if self.reset:  # RST instead of FIN
                        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    continue
                body = json.dumps({"ok": len(self.requests)}).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                             + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("reset", [False, True])
def test_a_request_on_a_closed_kept_alive_connection_is_sent_again_with_its_key(reset):
    server = OneShotServer(drop=1, reset=reset)
    try:
        answer = ApiClient(server.url).call("POST", "api/tasks/1/submit/", json={"a": 1}, key="k-1")
    finally:
        server.close()
    assert answer == {"ok": 2} and len(server.requests) == 2
    assert all("Idempotency-Key: k-1" in head for head in server.requests)  # the same key: the engine answers once


def test_it_is_sent_again_only_once():
    server = OneShotServer(drop=2)
    try:
        with pytest.raises(requests.ConnectionError):
            ApiClient(server.url).call("GET", "api/me/")
    finally:
        server.close()
    assert len(server.requests) == 2


def test_a_refused_connection_is_not_a_stale_one_and_is_not_retried():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(requests.ConnectionError):
        ApiClient(f"http://127.0.0.1:{port}").call("GET", "api/me/")
