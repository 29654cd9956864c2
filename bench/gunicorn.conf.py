"""gunicorn settings for the Flask peer (bench/flask_app.py).

Sync workers, 2 x cores + 1 of them: gunicorn's documented starting point and the seed's
deployment. A sync worker serves one request at a time and closes the connection after each
response (no keep-alive), so wrk reconnects for every request; the backlog holds the waiting
connections. `BENCH_FLASK_WORKER_CLASS=gthread` (with 4 threads per worker, keep-alive 5 s) is the
alternative the run script can try; BENCHMARKS.md reports which one was faster and used.
"""

import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:18082")
workers = int(os.environ.get("BENCH_FLASK_WORKERS", 2 * multiprocessing.cpu_count() + 1))
worker_class = os.environ.get("BENCH_FLASK_WORKER_CLASS", "sync")
if worker_class == "gthread":
    threads = int(os.environ.get("BENCH_FLASK_THREADS", 4))
    keepalive = 5
backlog = 2048
accesslog = None
errorlog = "-"
loglevel = "warning"
