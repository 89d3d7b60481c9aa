"""MLflow tracking: one run per campaign, metrics per round, config and selections as artifacts.

The default tracking URI is ``sqlite:///<campaign dir>/mlflow.db`` with artifacts in
``<campaign dir>/mlartifacts``; ``mlflow ui --backend-store-uri sqlite:///<dir>/mlflow.db``
shows the campaign. Any MLflow URI (a tracking server) can be configured. The run id is
kept in the ledger, so ``resume`` continues the same run.

Logging is asynchronous: metric and artifact calls go to one background thread, in order,
so a campaign never waits for the tracking store (a remote tracking server can take a
second per call). :meth:`Tracker.then` queues a callback behind them — the campaign marks
a round done that way, so a round is only ``done`` in the ledger once MLflow has it, and a
crash before that replays the round's logging on resume. :meth:`Tracker.flush` waits for
the queue; :meth:`Tracker.finish` and :meth:`Tracker.close` flush first. A failed call is
logged and never stops the campaign.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["Tracker", "flatten", "mlflow_client"]

log = logging.getLogger(__name__)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": "1"}`` (lists by index), for MLflow params."""
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for i, v in enumerate(value):
                out.update(flatten(v, f"{name}.{i}."))
        else:
            out[name] = str(value)[:6000]
    return out


_LIVE: weakref.WeakSet[Tracker] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    """A campaign used without ``with`` / ``close()`` (an ask/tell script) still gets its
    queued MLflow calls, and the rounds marked done behind them, when Python exits."""
    for tracker in list(_LIVE):
        tracker.close()


_CLIENTS: OrderedDict[str, Any] = OrderedDict()
_CLIENTS_LOCK = threading.Lock()
_MAX_CLIENTS = 8


def mlflow_client(uri: str) -> Any:
    """An ``MlflowClient`` per tracking URI, kept for the process (the last few URIs): opening
    a store checks its schema (seconds for a new SQLite store), which the trials of a study
    would otherwise repeat."""
    with _CLIENTS_LOCK:
        if uri not in _CLIENTS:
            import mlflow

            for name in ("alembic", "mlflow", "mlflow.store.db.utils"):
                logging.getLogger(name).setLevel(logging.WARNING)
            _CLIENTS[uri] = mlflow.MlflowClient(tracking_uri=uri)
            while len(_CLIENTS) > _MAX_CLIENTS:
                _CLIENTS.popitem(last=False)
        _CLIENTS.move_to_end(uri)
        return _CLIENTS[uri]


class Tracker:
    """A campaign's MLflow run (or nothing at all when tracking is disabled)."""

    def __init__(self, directory: Path, uri: str | None, experiment: str, enabled: bool = True) -> None:
        self.directory = Path(directory)
        self.enabled = enabled
        self.uri = uri or f"sqlite:///{(self.directory / 'mlflow.db').resolve()}"
        self.experiment = experiment
        self.run_id: str | None = None
        self._client: Any = None
        self._queue: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.Queue()
        self._worker: threading.Thread | None = None

    # -- the background queue -----------------------------------------------------------
    @property
    def active(self) -> bool:
        """True when calls reach an MLflow run (tracking on and a run started)."""
        return self.enabled and self.run_id is not None

    def _put(self, fn: Callable[..., Any], *args: Any) -> None:
        if threading.current_thread() is self._worker:  # a queued call logging more: in its place
            fn(*args)
            return
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._drain, name="crystaloop-mlflow", daemon=True)
            self._worker.start()
            _LIVE.add(self)
        self._queue.put((fn, args))

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                fn, args = item
                try:
                    fn(*args)
                except Exception as exc:  # noqa: BLE001 - tracking must never stop a campaign
                    log.error("MLflow: %s failed: %s", getattr(fn, "__name__", fn), exc)
            finally:
                self._queue.task_done()

    def then(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` once every call queued before it is done (at once when not tracking)."""
        if self.active:
            self._put(callback)
        else:
            callback()

    def flush(self) -> None:
        """Wait until every queued call is done."""
        if self._worker is not None and self._worker.is_alive():
            self._queue.join()

    def close(self) -> None:
        """Flush and stop the background thread."""
        if self._worker is not None and self._worker.is_alive():
            self._queue.put(None)
            self._worker.join()
        self._worker = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = mlflow_client(self.uri)
        return self._client

    def start(self, run_id: str | None, params: Mapping[str, Any], run_name: str) -> str | None:
        """Open the campaign's run (create it when ``run_id`` is None); returns its id."""
        if not self.enabled:
            return None
        client = self.client
        if run_id is None:
            exp = client.get_experiment_by_name(self.experiment)
            if exp is None:
                artifacts = None
                if self.uri.startswith("sqlite:"):
                    artifacts = (self.directory / "mlartifacts").resolve().as_uri()
                exp_id = client.create_experiment(self.experiment, artifact_location=artifacts)
            else:
                exp_id = exp.experiment_id
            run = client.create_run(exp_id, run_name=run_name, tags={"crystaloop.campaign": run_name})
            run_id = run.info.run_id
            flat = flatten(params)
            items = list(flat.items())
            from mlflow.entities import Param

            for i in range(0, len(items), 100):
                client.log_batch(run_id, params=[Param(k, v) for k, v in items[i : i + 100]])
        else:
            client.update_run(run_id, status="RUNNING")
        self.run_id = run_id
        return run_id

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        if not self.active:
            return
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items() if v is not None]
        if batch:
            self._put(self.client.log_batch, self.run_id, batch)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Set (or overwrite) run tags, e.g. the acquisition the latest round ranked by."""
        if not self.active:
            return
        from mlflow.entities import RunTag

        self._put(self.client.log_batch, self.run_id, [], [], [RunTag(k, str(v)[:5000]) for k, v in tags.items()])

    def log_text(self, text: str, artifact_file: str) -> None:
        if self.active:
            self._put(self.client.log_text, self.run_id, text, artifact_file)

    def log_file(self, path: Path, artifact_path: str | None = None) -> None:
        if self.active:
            self._put(self.client.log_artifact, self.run_id, str(path), artifact_path)

    def finish(self, status: str = "FINISHED") -> None:
        if self.active:
            self.flush()
            self.client.set_terminated(self.run_id, status=status)
