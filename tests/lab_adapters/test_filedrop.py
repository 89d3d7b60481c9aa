from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymatgen.core import Lattice, Structure

from lab_adapters.filedrop import FileDropLab
from lab_adapters.filedrop_files import inside, safe_name
from loop.errors import InputDataError
from loop.interfaces import PluginContext
from loop.records import Candidate, ExperimentRequest


def make_lab(tmp_path: Path, **opts) -> FileDropLab:
    opts.setdefault("properties", ["conductivity", "e_form"])
    opts.setdefault("min_age_s", 0.0)
    opts.setdefault("missing_xrd_grace_s", 0.0)
    cfg = FileDropLab.Config(root=tmp_path / "exchange", **opts)
    return FileDropLab(cfg, PluginContext(work_dir=tmp_path / "stage", name="lab"))


def request(rid: str, x: float = 0.5, structure: Structure | None = None) -> ExperimentRequest:
    cand = Candidate.from_structure(structure) if structure is not None else Candidate.from_params({"x": x})
    return ExperimentRequest(request_id=rid, candidate=cand, round=0)


def xy_text(n: int = 200, bad: str | None = None) -> str:
    tt = np.linspace(10, 80, n)
    yy = 100 + 1000 * np.exp(-((tt - 30) ** 2) / 0.1)
    rows = [f"{a:.4f} {b:.2f}" for a, b in zip(tt, yy)]
    if bad == "nan":
        rows[50] = f"{tt[50]:.4f} nan"
    elif bad == "negative":
        rows[50] = f"{tt[50]:.4f} -5"
    elif bad == "columns":
        rows[50] = f"{tt[50]:.4f} 12 7"
    return "\n".join(rows) + "\n"


def drop(lab: FileDropLab, name: str, payload: object, raw: str | None = None) -> Path:
    path = lab.inbox / name
    path.write_text(raw if raw is not None else json.dumps(payload))
    return path


def test_submit_writes_whole_files_and_known_survives_restart(tmp_path):
    lab = make_lab(tmp_path)
    nacl = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    receipts = lab.submit([request("r1"), request("r2", structure=nacl)])
    assert all(r.accepted for r in receipts)
    assert sorted(p.name for p in lab.outbox.iterdir()) == ["r1.json", "r2.cif", "r2.json"]  # no temp files left
    doc = json.loads((lab.outbox / "r2.json").read_text())
    assert doc["request_id"] == "r2" and doc["structure_file"] == "r2.cif" and doc["result_file"] == "r2.json"
    assert Structure.from_file(lab.outbox / "r2.cif").composition.reduced_formula == "NaCl"
    assert ExperimentRequest.model_validate(doc["request"]).request_id == "r2"
    # the robot takes r1 out of the outbox; a new process still knows it was sent
    (lab.outbox / "r1.json").unlink()
    lab2 = make_lab(tmp_path)
    assert lab2.known(["r1", "r2", "r3"]) == {"r1", "r2"}
    assert all(r.duplicate for r in lab2.submit([request("r1"), request("r2")]))
    assert not (lab2.outbox / "r1.json").exists()  # never written twice
    assert len(lab2.journal.entries("submit")) == 2


@pytest.mark.parametrize("rid", ["../../evil", "/etc/passwd", "a/b", "..", ".hidden", "x" * 300, "nul\x00byte", "é∂ß"])
def test_request_ids_cannot_escape_the_outbox(tmp_path, rid):
    lab = make_lab(tmp_path)
    lab.submit([request(rid)])
    files = [p for p in (tmp_path / "exchange").rglob("*") if p.is_file()]
    assert files and all(p.parent in (lab.outbox, lab.requests_archive) for p in files)
    assert all(not p.name.startswith(".") and len(p.name) < 120 for p in files)
    assert lab.known([rid]) == {rid}
    # a result for it is matched back to the exact id
    drop(lab, "res.json", {"request_id": rid, "values": {"conductivity": 1.0}})
    assert [o.request_id for o in lab.poll()] == [rid]


def test_safe_names_are_distinct_and_inside_refuses_escapes(tmp_path):
    ids = ["a/b", "a_b", "a:b", "a b", "A_b"]
    assert len({safe_name(i) for i in ids}) == len(ids)
    (tmp_path / "in").mkdir()
    for bad in ["../x.xy", "/etc/passwd", "a/../../x", "", "."]:
        with pytest.raises(InputDataError):
            inside(tmp_path / "in", bad)
    assert inside(tmp_path / "in", "sub/x.xy") == (tmp_path / "in" / "sub" / "x.xy").resolve()


def test_result_with_xrd_is_read_once_and_archived(tmp_path):
    lab = make_lab(tmp_path, xrd=True)
    lab.submit([request("r1")])
    (lab.inbox / "r1.xy").write_text(xy_text())
    drop(lab, "r1.json", {"request_id": "r1", "values": {"conductivity": {"value": 812.0, "uncertainty": 3.0}, "e_form": 0.1},
                          "xrd_file": "r1.xy", "phase_analysis": {"phases": [{"name": "t", "weight_fraction": 0.8}], "target_fraction": 0.8}})
    (obs,) = lab.poll()
    assert obs.values["conductivity"].uncertainty == 3.0 and obs.value("yield") == 0.8
    assert obs.candidate_id == request("r1").candidate.id
    assert Path(obs.xrd_pattern).parent == lab.results_archive and Path(obs.xrd_pattern).exists()
    assert all(Path(f).exists() for f in obs.raw_files)
    assert list(lab.inbox.iterdir()) == []
    assert lab.poll() == []
    # the same result again (a lab that sends twice) is passed on; the ledger keeps one
    drop(lab, "r1.json", {"request_id": "r1", "values": {"conductivity": 812.0}})
    assert [o.request_id for o in lab.poll()] == ["r1"]
    assert (lab.results_archive / "r1.1.json").exists()


BAD = {
    "truncated": (None, '{"request_id": "r1", "values": {"conductivity": 8', "not valid JSON"),
    "wrong_type": ({"request_id": "r1", "values": {"conductivity": "812"}}, None, "values.conductivity must be a number"),
    "bool_value": ({"request_id": "r1", "values": {"conductivity": True}}, None, "must be a number"),
    "nan": (None, '{"request_id": "r1", "values": {"conductivity": NaN}}', "must be finite"),
    "negative": ({"request_id": "r1", "values": {"conductivity": -3}}, None, "negative"),
    "unknown_request": ({"request_id": "r999", "values": {"conductivity": 1}}, None, "unknown request id"),
    "unknown_field": ({"request_id": "r1", "colour": "red"}, None, "unknown field"),
    "unknown_property": ({"request_id": "r1", "values": {"colour": 1}}, None, "does not report 'colour'"),
    "success_string": ({"request_id": "r1", "success": "yes"}, None, "success"),
    "not_object": ([1, 2], None, "JSON object"),
    "yield_range": ({"request_id": "r1", "values": {"yield": 1.5}}, None, "[0, 1]"),
    "bad_phases": ({"request_id": "r1", "phase_analysis": {"phases": [{"name": "a", "weight_fraction": 2}]}}, None, "phase_analysis.phases.0.weight_fraction"),
    "candidate_mismatch": ({"request_id": "r1", "candidate_id": "other"}, None, "does not match"),
    "xrd_escape": ({"request_id": "r1", "xrd_file": "../quarantine/x.xy"}, None, "escapes"),
    "xrd_absolute": ({"request_id": "r1", "xrd_file": "/etc/hosts"}, None, "absolute"),
    "xrd_missing": ({"request_id": "r1", "xrd_file": "none.xy"}, None, "does not exist"),
    "xrd_nan": ({"request_id": "r1", "xrd_file": "p.xy"}, None, "NaN"),
    "xrd_negative": ({"request_id": "r1", "xrd_file": "p.xy"}, None, "negative counts"),
    "xrd_columns": ({"request_id": "r1", "xrd_file": "p.xy"}, None, "column"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_results_are_quarantined_with_a_reason_and_others_go_on(tmp_path, case):
    payload, raw, reason = BAD[case]
    lab = make_lab(tmp_path)
    lab.submit([request("r1"), request("r2")])
    if case.startswith("xrd_") and case.split("_")[1] in ("nan", "negative", "columns"):
        (lab.inbox / "p.xy").write_text(xy_text(bad=case.split("_")[1]))
    drop(lab, "bad.json", payload, raw)
    drop(lab, "good.json", {"request_id": "r2", "values": {"conductivity": 5.0, "e_form": 0.0}})
    obs = lab.poll()
    assert [o.request_id for o in obs] == ["r2"]  # the campaign continues
    assert (lab.quarantine_dir / "bad.json").exists() and not (lab.inbox / "bad.json").exists()
    text = (lab.quarantine_dir / "bad.json.reason.txt").read_text()
    assert reason in text, text
    if case in ("xrd_nan", "xrd_negative", "xrd_columns"):
        assert (lab.quarantine_dir / "p.xy").exists()  # the pattern goes with its result
    assert lab.quarantined and lab.quarantined[0][1] in text
    assert lab.poll() == []  # quarantined files are not read again


def test_unknown_phase_is_quarantined(tmp_path):
    nacl = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    lab = make_lab(tmp_path, known_phases=["Na", "NaCl3"], xrd=True)
    lab.submit([request("r1", structure=nacl), request("r2", structure=nacl)])
    ok = {"phases": [{"name": "NaCl", "weight_fraction": 0.7}, {"name": "Na", "weight_fraction": 0.3}], "target_fraction": 0.7}
    drop(lab, "a.json", {"request_id": "r1", "phase_analysis": ok})
    bad = {"phases": [{"name": "unobtainium", "weight_fraction": 1.0}]}
    drop(lab, "b.json", {"request_id": "r2", "phase_analysis": bad})
    (obs,) = lab.poll()
    assert obs.request_id == "r1" and obs.value("yield") == 0.7
    assert "unknown phase 'unobtainium'" in (lab.quarantine_dir / "b.json.reason.txt").read_text()


def test_symlinked_result_is_refused(tmp_path):
    lab = make_lab(tmp_path)
    lab.submit([request("r1")])
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"request_id": "r1", "values": {"conductivity": 1}}))
    os.symlink(secret, lab.inbox / "link.json")
    assert lab.poll() == []
    assert "symbolic link" in (lab.quarantine_dir / "link.json.reason.txt").read_text()
    assert secret.exists()


def test_negative_allowed_where_configured_and_writer_in_progress_is_left(tmp_path):
    lab = make_lab(tmp_path, allow_negative=["e_form"], min_age_s=3600)
    lab.submit([request("r1")])
    drop(lab, "r1.json", {"request_id": "r1", "values": {"e_form": -1.2}})
    assert lab.poll() == []  # too young: the writer may not be done
    lab.cfg.min_age_s = 0
    assert lab.poll()[0].value("e_form") == -1.2


def test_missing_xrd_waits_for_its_grace_period(tmp_path):
    lab = make_lab(tmp_path, missing_xrd_grace_s=3600)
    lab.submit([request("r1")])
    drop(lab, "r1.json", {"request_id": "r1", "xrd_file": "later.xy"})
    assert lab.poll() == [] and not lab.quarantined
    (lab.inbox / "later.xy").write_text(xy_text())
    assert lab.poll()[0].xrd_pattern.endswith("later.xy")


def test_restart_redelivers_only_the_unacknowledged_batch(tmp_path):
    lab = make_lab(tmp_path)
    lab.submit([request("r1"), request("r2")])
    drop(lab, "a.json", {"request_id": "r1", "values": {"conductivity": 1}})
    assert len(lab.poll()) == 1
    assert lab.poll() == []  # acknowledges the first batch
    drop(lab, "b.json", {"request_id": "r2", "values": {"conductivity": 2}})
    first = lab.poll()
    # the process dies before the campaign records r2: a new one delivers it again, once
    lab2 = make_lab(tmp_path)
    again = lab2.poll()
    assert [o.model_dump() for o in again] == [o.model_dump() for o in first]
    assert lab2.poll() == []
    assert make_lab(tmp_path).poll() == []


def test_failed_experiment_and_cancel(tmp_path):
    lab = make_lab(tmp_path)
    lab.submit([request("r1"), request("r2")])
    assert lab.cancel("r1")
    assert not (lab.outbox / "r1.json").exists() and (lab.archive / "cancelled" / "r1.json").exists()
    (lab.outbox / "r2.json").unlink()  # taken by the robot: too late to withdraw, a note is left
    assert not lab.cancel("r2")
    assert (lab.outbox / "r2.cancel").exists()
    drop(lab, "r2.json", {"request_id": "r2", "success": False})
    (obs,) = lab.poll()
    assert not obs.success and obs.failure_reason


_json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=8),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(["request_id", "values", "success", "xrd_file", "conductivity", "value", "x"]), c, max_size=4),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=_json_values, cut=st.integers(0, 40))
def test_fuzzed_result_files_never_break_the_poll(tmp_path, payload, cut):
    lab = make_lab(tmp_path)
    if not lab.known(["r1"]):
        lab.submit([request("r1")])
    text = json.dumps(payload) if cut == 0 else json.dumps(payload)[:-cut]
    drop(lab, "f.json", None, text)
    obs = lab.poll()
    assert not (lab.inbox / "f.json").exists()  # either archived or quarantined
    if obs:
        assert obs[0].request_id == "r1"
    else:
        reasons = sorted(lab.quarantine_dir.glob("*.reason.txt"), key=os.path.getmtime)
        assert reasons and reasons[-1].read_text().strip()


@pytest.mark.slow
def test_a_campaign_runs_against_a_folder_robot_and_survives_bad_files(tmp_path, p3ht_csv):
    """A whole campaign (ledger, rounds, wall clock) with a robot thread answering through files."""
    import threading

    from loop.campaign.engine import Campaign
    from loop.config import parse_config
    from loop.tables import load_design_table
    from tests.conftest import P3HT_OUT, p3ht_config

    root = tmp_path / "exchange"
    table = load_design_table(p3ht_csv, exclude=[P3HT_OUT])
    stop = threading.Event()

    def robot() -> None:  # answers each request with a replicate from the table; the first gets a bad file first
        done: set[str] = set()
        while not stop.is_set():
            for req in sorted((root / "outbox").glob("*.json")):
                doc = json.loads(req.read_text())
                rid = doc["request_id"]
                if rid in done:
                    continue
                done.add(rid)
                value = table.replicates(doc["candidate_id"], P3HT_OUT)[0]
                inbox = root / "inbox"
                if len(done) == 1:
                    (inbox / "bad.xy").write_text(xy_text(bad="nan"))
                    (inbox / "broken.json").write_text(json.dumps({"request_id": rid, "xrd_file": "bad.xy"}))
                tmp = inbox / f".{rid}.tmp"
                tmp.write_text(json.dumps({"request_id": rid, "values": {"conductivity": value}}))
                os.replace(tmp, inbox / f"{rid}.json")
            stop.wait(0.05)

    cfg = p3ht_config(p3ht_csv, budget__experiments=8, budget__batch_size=4)
    cfg["lab"] = {"kind": "filedrop", "options": {"root": str(root), "properties": ["conductivity"], "min_age_s": 0}}
    cfg["requests"] = {"poll_interval_s": 0.05, "timeout_s": 60}
    thread = threading.Thread(target=robot, daemon=True)
    campaign = Campaign.create(parse_config(cfg), tmp_path / "campaign")
    thread.start()
    try:
        campaign.run()
        obs = campaign.ledger.observations()
        counts = campaign.ledger.status_counts()
    finally:
        stop.set()
        campaign.close()
    assert len(obs) == 8 and all(o.success for o in obs) and counts == {"done": 8}
    assert "NaN" in (root / "quarantine" / "broken.json.reason.txt").read_text()
    assert (root / "quarantine" / "bad.xy").exists()
    assert len(list((root / "archive" / "requests").glob("*.json"))) == 8
