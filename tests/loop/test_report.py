"""The campaign report: written from the ledger, and checked in a real browser (headless Chromium)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from loop.campaign.engine import Campaign
from loop.config import parse_config
from loop.report import build_report

CHECK_JS = """
<script>
window.addEventListener('load', () => {
  const out = [...document.querySelectorAll('img')].map(img => {
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(0, 0, c.width || 1, c.height || 1).data;
    const colours = new Set();
    for (let i = 0; i < d.length && colours.size < 5; i += 4 * 97) colours.add(d[i] + ',' + d[i+1] + ',' + d[i+2]);
    return [img.naturalWidth, colours.size];
  });
  document.body.setAttribute('data-check', JSON.stringify(out));
});
</script>
"""


@pytest.fixture(scope="module")
def crystal_campaign(tmp_path_factory, data_dir):
    tmp = tmp_path_factory.mktemp("report")
    pool = tmp / "perov.csv"
    pd.read_csv(data_dir / "perov5" / "val.csv").head(40).to_csv(pool, index=False)
    cfg = {
        "name": "report-test",
        "objectives": [{"name": "heat_ref", "goal": "minimize"}, {"name": "dir_gap", "goal": "target", "window": [1.5, 3]}],
        "budget": {"experiments": 12, "batch_size": 4},
        "generator": {"kind": "pool", "options": {"path": str(pool), "cif_column": "cif"}},
        "lab": {"kind": "table", "options": {"path": str(pool), "cif_column": "cif", "outputs": {"heat_ref": "heat_ref", "dir_gap": "dir_gap"}}},
        "tracking": {"enabled": True},
    }
    d = tmp / "c"
    with Campaign.create(parse_config(cfg), d) as c:
        c.run()
    return d


def expected_figures(d: Path, top: int) -> int:
    with Campaign.open(d, lock=False) as c:
        obs = c.ledger.observations()
        n_objectives = len(c.config.objectives)
        predictions = any(s.predicted for _, s in c.ledger.selections())
        distinct = len({o.candidate_id for o in obs if o.success})
    return 1 + (n_objectives >= 2) + predictions + 1 + min(top, distinct)


def test_report_has_every_figure_and_logs_to_mlflow(crystal_campaign):
    rep = build_report(crystal_campaign, top=4)
    assert rep.path.exists() and all(f.exists() and f.stat().st_size > 1000 for f in rep.figures)
    assert len(rep.figures) == expected_figures(crystal_campaign, 4)
    html = rep.path.read_text()
    assert html.count("data:image/png;base64,") == len(rep.figures)  # self-contained
    assert html.count('href="data:chemical/x-cif') == 4
    import mlflow

    with Campaign.open(crystal_campaign, lock=False) as c:
        run_id = c.ledger.get_meta("mlflow_run_id")
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{crystal_campaign / 'mlflow.db'}")
    assert len(client.list_artifacts(run_id, "report")) == len(rep.figures) + 1


@pytest.mark.slow
def test_report_renders_in_headless_chromium(crystal_campaign, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium is not installed (Debian package 'chromium'; .ci/run installs it)")
    rep = build_report(crystal_campaign, tmp_path / "r", top=4, log_to_mlflow=False)
    page = tmp_path / "r" / "checked.html"
    page.write_text(rep.path.read_text().replace("</body>", CHECK_JS + "</body>"))
    out = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tempfile.mkdtemp()}", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    m = re.search(r'data-check="([^"]*)"', out.stdout)
    assert m, f"the page did not finish loading: {out.stderr[-500:]}"
    images = json.loads(m.group(1).replace("&quot;", '"'))
    assert len(images) == expected_figures(crystal_campaign, 4)
    assert all(width > 0 for width, _ in images)  # every figure loaded
    assert all(colours > 1 for _, colours in images)  # and none is blank
