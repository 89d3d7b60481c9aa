from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from lab_adapters.chaos.cli import chaos
from lab_adapters.chaos.fuzz import fuzz_boundaries


def test_fuzzed_inputs_get_clear_errors_and_leave_the_ledger_alone(tmp_path):
    report = fuzz_boundaries(tmp_path, n=8, seed=1)
    assert {"campaign_yaml", "csv_pool", "cif_structures", "observations", "result_json", "xrd_files", "http_payloads"} <= set(report.by_boundary)
    assert report.tried >= 40
    assert all(b.rejected > 0 for b in report.by_boundary.values())  # the fuzzer does produce bad input
    assert report.findings == []


@pytest.mark.slow
def test_chaos_command_reports_nothing_lost(tmp_path):
    out = tmp_path / "chaos.json"
    r = CliRunner().invoke(chaos, ["--kills", "3", "--experiments", "45", "--fuzz", "3", "--work", str(tmp_path / "w"), "--json", str(out)])
    assert r.exit_code == 0, r.output
    figures = json.loads(out.read_text())
    assert figures["kills"] == 3 and figures["lost"] == 0 and figures["duplicates"] == 0
    assert figures["matches_uninterrupted_run"] is True
    assert sum(figures["faults_injected"].values()) > 0
    assert set(figures) >= {"kills", "faults_injected", "bad_inputs", "lost", "duplicates", "seconds"}
