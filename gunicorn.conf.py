"""gunicorn settings for long-lived SSE streams on the gevent worker.

`gunicorn -c gunicorn.conf.py wsgi:app` (the Procfile's web process)."""

import glob
import logging
import os
import signal
import tempfile

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
worker_class = "gevent"
# Every open stream is one connection held by one greenlet.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "10000"))
# Streams write a keepalive every CHAT_KEEPALIVE_SECONDS; the worker heartbeat is separate.
timeout = 30
# Connections the kernel queues before the worker accepts them (capped by
# net.core.somaxconn). gunicorn's 2,048 overflowed when slow clients reconnected
# thousands of times a second, and a dropped SYN costs a normal client a 1 s retransmit.
backlog = int(os.environ.get("GUNICORN_BACKLOG", "4096"))
keepalive = 2
# Long enough to store everything still queued at SIGTERM (10,000 messages take well under
# a second at batch 500) even on a slow database.
graceful_timeout = 30
accesslog = "-" if os.environ.get("CHAT_ACCESS_LOG") else None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")


def _workers():
    # With a broker, one gevent worker per core by default; without one, exactly one.
    default = (os.cpu_count() or 1) if os.environ.get("REDIS_URL") else 1
    requested = int(os.environ.get("WEB_CONCURRENCY") or default)
    if requested > 1 and not os.environ.get("REDIS_URL"):
        # Without a broker each worker only sees its own posts: one worker is the only
        # correct choice.
        logging.getLogger("gunicorn.error").warning(
            "WEB_CONCURRENCY=%s ignored: without REDIS_URL only one worker can deliver "
            "every message", requested)
        return 1
    return requested


workers = _workers()


def _metrics_dir():
    """Where every worker keeps its Prometheus values so /metrics can sum them
    (chat/realtime/metrics.py). Set here, in the master, so the workers inherit it before
    they import prometheus_client. One directory per server process: a given
    PROMETHEUS_MULTIPROC_DIR is used as it is; otherwise a fresh temporary one (kept when
    the config is re-read on SIGHUP, which reuses the variable set the first time)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        path = tempfile.mkdtemp(prefix="chat-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    os.makedirs(path, exist_ok=True)
    return path


metrics_dir = _metrics_dir()


def on_starting(server):
    # Values of an earlier server in the same directory would be summed in: start empty.
    for path in glob.glob(os.path.join(metrics_dir, "*.db")):
        os.remove(path)


def child_exit(server, worker):
    # The dead worker's live gauges (open streams, queue depth, pool use) leave the sum;
    # its counters stay, so totals never go backwards.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, metrics_dir)


def on_exit(server):
    if metrics_dir.startswith(tempfile.gettempdir()) and \
            os.path.basename(metrics_dir).startswith("chat-metrics-"):
        import shutil

        shutil.rmtree(metrics_dir, ignore_errors=True)


def post_fork(server, worker):
    # gevent has patched the standard library; psycopg2 is C code and needs its own hook
    # to wait on sockets cooperatively, or a slow query would freeze every stream.
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()


def post_worker_init(worker):
    """Background work starts here, once per worker, after fork."""
    import gevent

    realtime = worker.wsgi.extensions["realtime"]
    realtime.start()
    original = worker.handle_exit

    def handle_term(sig, frame):
        original(sig, frame)
        # End streams now (clients reconnect and resume) and stop intake; draining the
        # queue finishes in worker_exit.
        gevent.spawn(realtime.shutdown)

    signal.signal(signal.SIGTERM, handle_term)
    gevent.spawn(_return_freed_memory)
    # Everything loaded so far (modules, the app, SQLAlchemy's and pydantic's caches)
    # lives as long as the worker: out of the collector's sight, a full collection scans
    # only what requests allocate. It took 53-66 ms before, with the event loop (every
    # stream and request of the worker) stopped meanwhile (docs/benchmarks.md, section 7).
    import gc

    gc.collect()
    gc.freeze()


def _return_freed_memory(interval=10.0):
    """glibc keeps the heap pages that a burst of connections freed (slow clients, a
    reconnect storm): 20,000 slow connections left an idle worker at 208 MiB instead of
    80. `malloc_trim` hands them back to the system; cheap when there is nothing to
    give back."""
    import ctypes
    import ctypes.util

    import gevent

    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return
    while True:
        gevent.sleep(interval)
        trim(0)


def worker_exit(server, worker):
    realtime = worker.wsgi.extensions["realtime"]
    realtime.shutdown(timeout=graceful_timeout - 2)
