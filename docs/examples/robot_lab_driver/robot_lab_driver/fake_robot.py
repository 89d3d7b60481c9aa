"""A stand-in for a robot controller: the JSON-lines TCP protocol of ``driver.py``, on loopback.

It "measures" ``absorbance = exp(-sum_i (x_i - 0.3)^2 / 0.1)`` plus Gaussian noise
(seeded by the job id, so a repeat answers the same) ``delay_s`` wall seconds after a
job starts, ``capacity`` jobs at a time. Run it on its own with::

    python -m robot_lab_driver.fake_robot --port 7000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import socketserver
import threading
import time
from typing import Any

__all__ = ["FakeRobot"]


class FakeRobot:
    """A threaded TCP server; ``with FakeRobot(delay_s=0.1) as port: ...`` runs it in the background."""

    properties = ["absorbance"]

    def __init__(self, host: str = "127.0.0.1", port: int = 0, delay_s: float = 1.0, capacity: int = 4, noise: float = 0.01) -> None:
        self.delay_s, self.capacity, self.noise = delay_s, capacity, noise
        self.jobs: dict[str, dict[str, Any]] = {}
        self.finished: list[dict[str, Any]] = []
        self.starts = 0
        self._lock = threading.Lock()
        robot = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                line = self.rfile.readline(1_000_000)
                try:
                    answer = robot.handle(json.loads(line))
                except Exception as exc:  # noqa: BLE001 - the controller answers every error
                    answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                self.wfile.write(json.dumps(answer).encode() + b"\n")

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    # -- the robot's behaviour -------------------------------------------------------------
    def _finish_due(self) -> None:
        now = time.monotonic()
        due = sorted((j for j in self.jobs.values() if not j["done"] and j["finish"] <= now), key=lambda j: j["finish"])
        for job in due:
            job["done"] = True
            params = job["params"]
            item: dict[str, Any] = {"n": len(self.finished) + 1, "id": job["id"], "candidate_id": job["candidate_id"], "finished_at": time.time()}
            if not params:
                item["failed"] = "no parameters to dispense"
            else:
                rng = random.Random(int(hashlib.sha256(job["id"].encode()).hexdigest()[:8], 16))
                signal = math.exp(-sum((float(v) - 0.3) ** 2 for v in params.values()) / 0.1)
                item["values"] = {"absorbance": {"value": signal + rng.gauss(0, self.noise), "uncertainty": self.noise}}
            self.finished.append(item)

    def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._finish_due()
            op = msg.get("op")
            if op == "hello":
                return {"ok": True, "properties": self.properties, "capacity": self.capacity}
            if op == "start":
                job = msg["job"]
                if job["id"] in self.jobs:
                    return {"ok": True, "duplicate": True}
                running = sorted(j["finish"] for j in self.jobs.values() if not j["done"])
                start = time.monotonic() if len(running) < self.capacity else running[-self.capacity]
                self.jobs[job["id"]] = {**job, "finish": start + self.delay_s, "done": False}
                self.starts += 1
                return {"ok": True, "duplicate": False, "eta_s": start + self.delay_s - time.monotonic()}
            if op == "results":
                after = int(msg.get("after", 0))
                return {"ok": True, "results": self.finished[after:]}
            if op == "known":
                return {"ok": True, "known": [i for i in msg["ids"] if i in self.jobs]}
            if op == "abort":
                job = self.jobs.get(msg["id"])
                if job is None or job["done"] or job["finish"] - self.delay_s <= time.monotonic():
                    return {"ok": True, "aborted": False}
                job["done"] = True
                return {"ok": True, "aborted": True}
            return {"ok": False, "error": f"unknown op {op!r}"}

    # -- running -----------------------------------------------------------------------------
    def __enter__(self) -> int:
        threading.Thread(target=self.server.serve_forever, name="fake-robot", daemon=True).start()
        return self.port

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=7000)
    parser.add_argument("--delay-s", type=float, default=5.0)
    args = parser.parse_args()
    robot = FakeRobot(port=args.port, delay_s=args.delay_s)
    print(f"fake robot listening on 127.0.0.1:{robot.port}")  # noqa: T201
    robot.server.serve_forever()


if __name__ == "__main__":
    main()
