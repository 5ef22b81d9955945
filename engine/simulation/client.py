"""A small HTTP client of the annotation API, as a script or the browser pages drive it."""

from __future__ import annotations

import http.client
import uuid
from urllib.parse import urljoin

import requests

# How a server's closing of an idle kept-alive connection shows when the client sends on it: the request
# never reached a view. gunicorn closes idle connections after --keep-alive seconds (2 by default), so a
# simulated person who thought longer than that meets it now and then, as a browser does (and resends).
STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def stale_connection(exc):
    """Return True if a requests ConnectionError was a kept-alive connection the server had closed."""
    todo, seen = [exc], set()
    while todo:
        err = todo.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, STALE_CONNECTION):
            return True
        todo += [a for a in err.args if isinstance(a, BaseException)]
        todo += [err.__cause__, err.__context__, getattr(err, "reason", None)]
    return False


class ApiError(RuntimeError):
    """A refused request: the status, the engine's error code and its message."""

    def __init__(self, status, body, what):
        self.status = status
        self.body = body if isinstance(body, dict) else {"detail": str(body)[:500]}
        self.code = self.body.get("code", "")
        super().__init__(f"{what} answered {status} {self.code}: {self.body.get('detail', self.body)}")


class ApiClient:
    """One person's session with the engine: a token, a connection pool, and the calls of each stage."""

    def __init__(self, base_url, token=None, timeout=300.0):
        self.base = base_url.rstrip("/") + "/"
        self.timeout = timeout  # a Stage 1 submit runs candidate generation in-process when there is no Redis
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Token {token}"

    @classmethod
    def login(cls, base_url, username, password, timeout=300.0):
        """Return a client authenticated with the token POST /api/auth/token/ gives for these credentials."""
        client = cls(base_url, timeout=timeout)
        token = client.call("POST", "api/auth/token/", json={"username": username, "password": password})["token"]
        client.session.headers["Authorization"] = f"Token {token}"
        return client

    def call(self, method, path, *, json=None, files=None, data=None, key=None, expect_json=True):
        """Send a request; return its JSON (None on 204), or raise ApiError.

        A request sent on a kept-alive connection the server had closed is sent again, once, on a new
        one: every call here is safe to repeat (reads; submits, uploads and new objects carry their
        Idempotency-Key; a claim serves the task the caller holds first; a repeated comparison is a no-op).
        """
        headers = {"Idempotency-Key": key} if key else {}
        url = urljoin(self.base, path.lstrip("/"))
        for attempt in (1, 2):
            try:
                response = self.session.request(method, url, json=json, files=files, data=data, headers=headers,
                                                timeout=self.timeout)
                break
            except requests.ConnectionError as exc:
                if attempt == 2 or not stale_connection(exc):  # (files here are bytes: nothing to rewind)
                    raise
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = response.text
            raise ApiError(response.status_code, body, f"{method} {path}")
        if response.status_code == 204:
            return None
        return response.json() if expect_json else response.content

    def download(self, url):
        """Return the bytes of a stored file (a mesh URL of a task's payload)."""
        return self.call("GET", url, expect_json=False)

    def claim(self, project, stage):
        """Lease the next task of a stage; return it, or None when there is none."""
        return self.call("POST", "api/tasks/claim/", json={"project": project, "stage": stage})

    def release(self, task_id, skip=False):
        return self.call("POST", f"api/tasks/{task_id}/release/", json={"skip": skip})

    def submit(self, task_id, body):
        """Submit a task once: a retry after a lost answer carries the same Idempotency-Key."""
        return self.call("POST", f"api/tasks/{task_id}/submit/", json=body, key=str(uuid.uuid4()))

    def add_object(self, task_id, body):
        return self.call("POST", f"api/tasks/{task_id}/objects/", json=body, key=str(uuid.uuid4()))

    def compare(self, task_id, position, answer, seconds):
        return self.call("POST", f"api/tasks/{task_id}/compare/",
                         json={"position": position, "answer": answer, "seconds": seconds})

    def upload(self, task_id, name, data):
        """Upload a mesh file for a held artist task; return the stored upload (its id is `id`)."""
        return self.call("POST", f"api/tasks/{task_id}/upload/", files={"mesh": (name, data)}, key=str(uuid.uuid4()))
