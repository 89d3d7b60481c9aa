"""``crystaloop lab``: serve any lab adapter over HTTP.

    export CRYSTALOOP_LAB_TOKEN=$(python -c "import secrets; print(secrets.token_urlsafe(32))")
    crystaloop lab serve --lab lab.yaml --port 8765 --time-scale 60

``lab.yaml`` holds ``{kind: ..., options: {...}}`` (or a campaign config, whose ``lab:``
section is used); relative paths in the options are read from the YAML file's folder.
A campaign then uses ``lab: {kind: http, options: {url: "http://127.0.0.1:8765"}}``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import yaml

from loop.errors import ConfigError

__all__ = ["lab", "load_lab_spec"]


def load_lab_spec(path: Path) -> dict[str, Any]:
    """The ``{kind, options}`` in a YAML file, with relative path options made absolute."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ConfigError(str(path), [("", f"cannot read: {exc.strerror}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [("", f"not valid YAML: {exc}")]) from None
    if isinstance(data, dict) and isinstance(data.get("lab"), dict):
        data = data["lab"]
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
        raise ConfigError(str(path), [("kind", "expected a mapping with 'kind' and 'options' (or a campaign with a 'lab:' section)")])
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise ConfigError(str(path), [("options", "expected a mapping")])
    from loop import registry

    model = registry.validate_options("labs", data["kind"], options, str(path))
    resolved = dict(options)
    for name, field in type(model).model_fields.items():
        if "Path" in str(field.annotation) and isinstance(resolved.get(name), str):
            p = Path(resolved[name]).expanduser()
            resolved[name] = str(p if p.is_absolute() else (path.parent / p).resolve())
    return {"kind": data["kind"], "options": resolved}


@click.group()
def lab() -> None:
    """Labs: serve any lab adapter over HTTP."""


@lab.command()
@click.option("--lab", "lab_file", required=True, type=click.Path(path_type=Path, dir_okay=False), help="YAML with the lab's {kind, options}.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback unless you mean it).")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option("--token-env", default="CRYSTALOOP_LAB_TOKEN", show_default=True, help="Environment variable holding the token.")
@click.option("--time-scale", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True), help="Simulated labs: simulated seconds per wall second.")
@click.option("--dir", "work_dir", type=click.Path(path_type=Path, file_okay=False), help="Server state (journal, result log); default: lab-server/<kind> beside the YAML.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of a simulated lab.")
@click.option("--max-body-bytes", default=8 * 1024 * 1024, show_default=True, type=click.IntRange(min=1024))
def serve(lab_file: Path, host: str, port: int, token_env: str, time_scale: float, work_dir: Path | None, seed: int, max_body_bytes: int) -> None:
    """Expose the lab in LAB (a YAML file) behind the crystaloop lab HTTP API."""
    from lab_adapters.http.server import LabService, build_lab, create_app, is_loopback
    from lab_adapters.http.server import serve as run_server

    token = os.environ.get(token_env, "")
    if len(token) < 8:
        raise click.UsageError(f"set ${token_env} to a secret of at least 8 characters (the clients' token)")
    spec = load_lab_spec(lab_file)
    work_dir = work_dir or lab_file.parent / "lab-server" / spec["kind"]
    adapter = build_lab(spec, work_dir, seed=seed)
    service = LabService(adapter, work_dir, time_scale=time_scale)
    app = create_app(service, token, max_body_bytes=max_body_bytes)
    if not is_loopback(host):
        click.echo(f"warning: listening on {host}, reachable beyond this machine", err=True)
    click.echo(f"serving lab {spec['kind']!r} on http://{host}:{port} (OpenAPI: /openapi.json; state in {work_dir})")
    try:
        run_server(app, host, port)
    finally:
        service.close()
