"""MLflow tracking: one run per campaign, metrics per round, config and selections as artifacts.

The default tracking URI is ``sqlite:///<campaign dir>/mlflow.db`` with artifacts in
``<campaign dir>/mlartifacts``; ``mlflow ui --backend-store-uri sqlite:///<dir>/mlflow.db``
shows the campaign. Any MLflow URI (a tracking server) can be configured. The run id is
kept in the ledger, so ``resume`` continues the same run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["Tracker", "flatten"]

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


class Tracker:
    """A campaign's MLflow run (or nothing at all when tracking is disabled)."""

    def __init__(self, directory: Path, uri: str | None, experiment: str, enabled: bool = True) -> None:
        self.directory = Path(directory)
        self.enabled = enabled
        self.uri = uri or f"sqlite:///{(self.directory / 'mlflow.db').resolve()}"
        self.experiment = experiment
        self.run_id: str | None = None
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import mlflow

            for name in ("alembic", "mlflow", "mlflow.store.db.utils"):
                logging.getLogger(name).setLevel(logging.WARNING)
            self._client = mlflow.MlflowClient(tracking_uri=self.uri)
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
        if not self.enabled or self.run_id is None:
            return
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items() if v is not None]
        if batch:
            self.client.log_batch(self.run_id, metrics=batch)

    def log_text(self, text: str, artifact_file: str) -> None:
        if self.enabled and self.run_id is not None:
            self.client.log_text(self.run_id, text, artifact_file)

    def log_file(self, path: Path, artifact_path: str | None = None) -> None:
        if self.enabled and self.run_id is not None:
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    def finish(self, status: str = "FINISHED") -> None:
        if self.enabled and self.run_id is not None:
            self.client.set_terminated(self.run_id, status=status)
