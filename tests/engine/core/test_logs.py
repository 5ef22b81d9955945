"""Errors are seen: under DEBUG=0 (gunicorn) a 500 is one JSON line on stderr with the request's id."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from engine.core import logs

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.django_db
def test_a_request_keeps_the_clients_id_or_gets_one(api, annotator):
    client = api(annotator)
    assert client.get("/api/me/", HTTP_X_REQUEST_ID="trace-42.a:b")["X-Request-ID"] == "trace-42.a:b"
    made = client.get("/api/me/")["X-Request-ID"]
    assert len(made) == 32 and int(made, 16) >= 0
    # An id that could forge a log line (a newline, quotes, spaces) or that runs long is replaced.
    for unusable in ['a"b', "two words", "x" * 129]:
        replaced = client.get("/api/me/", HTTP_X_REQUEST_ID=unusable)["X-Request-ID"]
        assert replaced != unusable and len(replaced) == 32
    assert client.get("/api/no-such-thing/")["X-Request-ID"]  # a 404 from the resolver carries it too


def test_the_json_formatter_writes_one_line_with_the_request_id_and_the_traceback():
    record = None
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        record = logs.logging.LogRecord("django.request", logs.logging.ERROR, __file__, 1, "Internal: %s", ("/x",),
                                        sys.exc_info())
    record.request_id = "r-1"
    record.status_code = 500
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "Internal: /x" and entry["level"] == "ERROR" and entry["request_id"] == "r-1"
    assert entry["status"] == 500 and entry["exc_type"] == "ValueError"
    assert entry["exc_info"].endswith("ValueError: bad\nvalue")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url, headers=None):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def gunicorn_stderr(tmp_path_factory):
    """Serve the engine as README's production recipe does (DEBUG=0, gunicorn gthread); yield (url, stderr path)."""
    port = _free_port()
    stderr_path = tmp_path_factory.mktemp("gunicorn") / "stderr.log"
    env = {**os.environ, "DEBUG": "0", "SECRET_KEY": "test-" + "k" * 60,
           "DJANGO_SETTINGS_MODULE": "tests.engine.core.boom_settings", "ALLOWED_HOSTS": "127.0.0.1"}
    env.pop("ENGINE_LOG_FORMAT", None)
    with stderr_path.open("wb") as stderr:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "engine.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1", "-k", "gthread",
             "--threads", "2"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, stderr_path.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start: " + stderr_path.read_text()
                time.sleep(0.2)
        yield url, stderr_path
    finally:
        server.terminate()
        server.wait(timeout=30)


def _records(stderr_path, request_id):
    """The JSON records on stderr of one request (gunicorn's own lines are not JSON)."""
    for _ in range(50):  # the record is written before the answer is sent; allow for the file's buffering
        found = [json.loads(line) for line in stderr_path.read_text().splitlines()
                 if line.startswith("{") and json.loads(line).get("request_id") == request_id]
        if found:
            return found
        time.sleep(0.1)
    return []


@pytest.mark.slow
def test_a_500_under_gunicorn_is_one_json_line_on_stderr_with_the_request_id(gunicorn_stderr):
    url, stderr_path = gunicorn_stderr
    status, headers, body = _get(f"{url}/api/boom/", {"X-Request-ID": "client-trace-1"})
    assert status == 500 and headers["X-Request-ID"] == "client-trace-1"
    answer = json.loads(body)
    assert answer["code"] == "server_error" and answer["request_id"] == "client-trace-1"
    assert "client-trace-1" in answer["detail"] and "boom" not in body.decode()  # no internals in the answer
    [record] = _records(stderr_path, "client-trace-1")
    assert record["level"] == "ERROR" and record["logger"] == "django.request"
    assert record["method"] == "GET" and record["path"] == "/api/boom/" and record["status"] == 500
    assert record["exc_type"] == "RuntimeError" and "RuntimeError: boom from the API" in record["exc_info"]


@pytest.mark.slow
def test_a_page_that_fails_gets_an_id_of_the_servers_own_and_the_same_on_its_log_line(gunicorn_stderr):
    url, stderr_path = gunicorn_stderr
    status, headers, body = _get(f"{url}/boom/")
    request_id = headers["X-Request-ID"]
    assert status == 500 and len(request_id) == 32 and b"boom" not in body
    [record] = _records(stderr_path, request_id)
    assert record["path"] == "/boom/" and "RuntimeError: boom from a page" in record["exc_info"]
    # A 404 is not an error of the server: no record unless ENGINE_REQUEST_LOG_LEVEL=WARNING.
    status, headers, _ = _get(f"{url}/api/no-such-thing/")
    assert status == 404 and _records(stderr_path, headers["X-Request-ID"]) == []
