"""gunicorn settings for the portal and API in production (see README, "Deploying").

    gunicorn -c /etc/careledger/gunicorn.conf.py supervisor.web.wsgi:app

Workers are stateless: any of them on any machine may take any request; the
database serialises appends. Size ``workers`` to the cores (the API is
CPU-bound on signature checks and sealing; 2 per core measured best).
"""

import multiprocessing
import os

bind = os.environ.get("CARELEDGER_BIND", "127.0.0.1:8000")  # nginx in front, TLS there
workers = int(os.environ.get("CARELEDGER_WORKERS", multiprocessing.cpu_count() * 2))
worker_class = "sync"
# A batch of 1,000 records takes well under a second; report verification on the portal
# can take ~20 s at a million records. Kill a worker stuck for longer than this.
timeout = 120
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so no slow leak can grow for months (jitter: not all at once).
max_requests = 20000
max_requests_jitter = 2000
limit_request_line = 8190
limit_request_fields = 100
# Only nginx on this host may set X-Forwarded-For / -Proto.
forwarded_allow_ips = "127.0.0.1"
# careledger writes its own JSON request log with request ids; gunicorn's goes to stderr.
accesslog = None
errorlog = "-"
loglevel = "warning"
# Build the app in each worker after the fork: no database connection crosses a fork.
preload_app = False
# Workers die with their master, even one killed with SIGKILL, so a restart finds the port free.
from supervisor.web.worker_lifetime import post_fork  # noqa: E402, F401
