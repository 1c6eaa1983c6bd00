"""The run's Dask client: a scheduler reached by address, or a ``LocalCluster`` of worker processes.

``ADDRESS`` is a scheduler address (``tcp://host:8786``, ``tls://...``, anything ``distributed.Client``
takes); ``local:N`` starts N worker processes on this machine (one thread each, on 127.0.0.1) for the run and
stops them after it. A scheduler that cannot be reached within :data:`CONNECT_TIMEOUT_S` seconds is one clear
error line (:class:`~engine.errors.InputError`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import InputError

CONNECT_TIMEOUT_S = 10.0
LOCAL_PREFIX = "local:"


def parse_cluster(address: str) -> int | None:
    """The worker count of ``local:N`` (None for a scheduler address); :class:`InputError` if malformed."""
    text = address.strip()
    if not text:
        raise InputError("--cluster needs a scheduler address (tcp://host:8786) or local:N")
    if not text.startswith(LOCAL_PREFIX):
        return None
    count = text[len(LOCAL_PREFIX) :]
    if not count.isdigit() or int(count) < 1:
        raise InputError(f"--cluster local:N needs a positive number of workers, got {address!r}")
    return int(count)


def dashboard_line(client: Any) -> str:
    """Where the run can be watched: the Dask dashboard's link, or why there is none."""
    services = client.scheduler_info().get("services", {})
    if "dashboard" in services:
        return f"Dask dashboard: {client.dashboard_link}"
    return "Dask dashboard: none (install bokeh where the scheduler runs to get one)"


def local_cluster(workers: int, *, dashboard: bool = False) -> Any:
    """A ``LocalCluster`` of ``workers`` processes of one thread each on 127.0.0.1 (``OMP_NUM_THREADS=1``: the
    workers share this machine's cores), with a dashboard on a free port if asked (and bokeh is installed)."""
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0" if dashboard else None,
        silence_logs=logging.ERROR,
        env={"OMP_NUM_THREADS": "1"},
    )


@contextlib.contextmanager
def connect(
    address: str, *, timeout_s: float | None = None, log: Callable[[str], None] | None = None
) -> Iterator[Any]:
    """A ``distributed.Client`` for ``address`` (see the module docstring), closed (and a local cluster
    stopped) when the block ends; ``log`` gets the dashboard line. ``timeout_s``: how long to try to reach a
    scheduler (None: :data:`CONNECT_TIMEOUT_S`)."""
    from distributed import Client

    workers = parse_cluster(address)
    cluster = None
    if workers is not None:
        cluster = local_cluster(workers, dashboard=True)
        client = Client(cluster)
    else:
        try:
            client = Client(address, timeout=f"{CONNECT_TIMEOUT_S if timeout_s is None else timeout_s}s")
        except (OSError, ValueError, TypeError) as exc:
            raise InputError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        if log is not None:
            log(dashboard_line(client))
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
