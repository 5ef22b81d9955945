"""Serve the engine from a background thread, so a pool (or a browser) can reach it without `runserver`."""

import threading
from contextlib import contextmanager

from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

from engine.core import background


class QuietRequestHandler(WSGIRequestHandler):
    """Log nothing per request: a pool makes thousands."""

    def log_message(self, format, *args):
        pass


@contextmanager
def serve(host="127.0.0.1", port=0, quiet=True):
    """Serve the app (API, pages, static files) on host:port, a free port by default; yield its base URL.

    Each request runs in a thread of its own, with its own database connection, closed after it
    (Django's ThreadedWSGIServer, as runserver and the live-server tests use). Stored files go
    through the engine's media view, which checks who asks, as under any other server.
    """
    handler = QuietRequestHandler if quiet else WSGIRequestHandler
    httpd = ThreadedWSGIServer((host, port), handler, allow_reuse_address=False)
    httpd.set_app(StaticFilesHandler(WSGIHandler()))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="engine-serve",
                              daemon=True)
    thread.start()
    background.start()  # without Redis: send again the jobs a stopped server left undone
    try:
        yield f"http://{host}:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
