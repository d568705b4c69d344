"""Builds a stream's response in a greenlet of its own, so that the greenlet which then
holds the stream for hours keeps a shallow stack.

A greenlet keeps the Python frame memory (CPython 3.11's data stack) of the deepest call
it ever made for as long as it lives. Opening a stream goes through gunicorn, Flask, the
authentication and SQLAlchemy, tens of frames deep; the connection's greenlet then sits
in the response's loop with those pages still resident, about 3.5 KiB per idle stream
(docs/benchmarks.md, section 3d). Here the application call runs in a short-lived
greenlet, which frees its stack when the response is built; the connection's greenlet
only waits for it, then iterates the response (chat/realtime/stream.py), and never goes
deeper than that.
"""

import gevent
from gevent import monkey

STREAM_SUFFIX = "/subscribe"  # GET /v1/chats/users/{id}/subscribe (chat/api/stream.py)


class ShallowStack:
    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        if not (environ.get("REQUEST_METHOD") == "GET"
                and environ.get("PATH_INFO", "").endswith(STREAM_SUFFIX)
                and monkey.is_module_patched("threading")):  # gunicorn's gevent worker
            return self.wsgi_app(environ, start_response)
        builder = gevent.spawn(self.wsgi_app, environ, start_response)
        try:
            return builder.get()
        except BaseException:
            # The connection's greenlet was killed while waiting (a worker that stops):
            # the builder must not go on to register a stream nobody will read.
            builder.kill()
            raise
