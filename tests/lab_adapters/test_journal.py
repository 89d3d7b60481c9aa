from __future__ import annotations

from lab_adapters.journal import LabJournal


def test_append_and_truncated_last_line_ignored(tmp_path):
    j = LabJournal(tmp_path / "j.jsonl")
    j.append({"event": "submit", "request_id": "a"}, {"event": "result", "request_id": "a"})
    with open(j.path, "a") as fh:
        fh.write('{"event": "sub')  # a crash mid-write
    assert [e["event"] for e in j] == ["submit", "result"]
    assert len(j.entries("submit")) == 1
