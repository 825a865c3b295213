"""``shailoo controller serve`` as a process: starts, reads real ballots, stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from controller.election.load import load_election
from hil.broker import Broker, free_port
from tests.conftest import ROOT
from tests.controller.conftest import default_devices
from tests.controller.helpers import (
    WireDevice,
    login,
    make_voters,
    marked_ballot,
    station_id,
    wait_until,
    write_station,
)


def _serve(setup: Path, data: Path, broker: Broker, port: int) -> subprocess.Popen[str]:
    station = json.loads(setup.read_text())
    broker.add_station(
        station["station"],
        {d["id"]: bytes.fromhex(d["key"]) for d in station.get("devices", [])},
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from shailoo.cli import main; sys.exit(main())",
            "controller",
            "serve",
            "--setup",
            str(setup),
            "--data",
            str(data),
            "--broker-host",
            broker.host,
            "--broker-port",
            str(broker.port),
            "--broker-login",
            str(broker.controller_login_file(station["station"])),
            "--http-port",
            str(port),
        ],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


class _Output:
    """Collects a process's output lines in a thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._pump, args=(process,), daemon=True)
        self._thread.start()

    def _pump(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line.rstrip())

    def has(self, text: str) -> bool:
        return any(text in line for line in self.lines)


def test_serve_runs_a_station(tmp_path: Path, broker: Broker) -> None:
    sid = station_id()
    devices = default_devices()
    voters = make_voters(3)
    setup = write_station(tmp_path, sid, devices, voters)
    port = free_port()
    process = _serve(setup, tmp_path / "data", broker, port)
    out = _Output(process)
    try:
        wait_until(
            lambda: out.has("dashboard at") or process.poll() is not None, 30, "controller start"
        )
        assert out.has(f"dashboard at http://127.0.0.1:{port}/"), out.lines
        http = login(f"http://127.0.0.1:{port}")
        status = http.get("/api/status").json()
        assert (status["station"], status["voters"], status["polls"]) == (sid, 3, "open")

        election = load_election(tmp_path / "election.json")
        term = WireDevice(broker, sid, "term-1", devices[0].key)
        scan = WireDevice(broker, sid, "scan-1", devices[2].key)
        try:
            issued = term.request("checkin.request", {"txn": "a", "mrz": voters[0].mrz()})
            assert issued.body["status"] == "issued" and issued.body["style"] == voters[0].style
            image = marked_ballot(election, voters[0].style, {"mayor": ["m-chyngyz"]})
            decision = scan.reply_to(scan.upload("scan-1-1-1", image))
            assert decision.body["decision"] == "accept", decision.body
            scan.request("ballot.dropped", {"sheet": "scan-1-1-1", "counter": 1})
        finally:
            term.close()
            scan.close()
        results = http.post("/api/polls/close").json()
        http.close()
        assert results["contests"]["mayor"]["options"]["m-chyngyz"] == 1
        assert all(results["checks"].values())
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    wait_until(lambda: out.has("controller stopped"), 5, "stop message")


def test_serve_explains_a_bad_setup(tmp_path: Path, broker: Broker) -> None:
    setup = tmp_path / "station.json"
    setup.write_text('{"station": "s1", "mode": "live"}')
    process = _serve(setup, tmp_path / "data", broker, free_port())
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "mode must be 'test' or 'official'" in output


def test_killed_controller_loses_nothing_and_doubles_nothing(
    tmp_path: Path, broker: Broker
) -> None:
    sid = station_id()
    devices = default_devices()
    voters = make_voters(120)
    setup = write_station(tmp_path, sid, devices, voters)
    data = tmp_path / "data"
    port = free_port()

    def start() -> tuple[subprocess.Popen[str], _Output]:
        process = _serve(setup, data, broker, port)
        out = _Output(process)
        wait_until(lambda: out.has("dashboard at") or process.poll() is not None, 30, "start")
        assert process.poll() is None, out.lines
        return process, out

    process, _ = start()
    term = WireDevice(broker, sid, "term-1", devices[0].key)
    try:
        term.hello(role="idterminal")  # the controller's persistent session now exists
        sent = [term.seal("checkin.request", {"txn": v.voter_id, "mrz": v.mrz()}) for v in voters]
        for _, payload in sent[:5]:
            term.publish(payload)
        wait_until(lambda: len(term.replies) >= 6, what="the first answers")
        infos = [
            term.client.publish(f"shailoo/v1/{sid}/dev/term-1/up", payload, qos=1)
            for _, payload in sent[5:]
        ]
        for info in infos:
            info.wait_for_publish(10)
        process.kill()  # a crash in the middle of the stream: no clean shutdown of anything
        process.wait(10)
        assert len(term.replies) < len(sent) + 1  # some requests were still unanswered
        process, _ = start()
        # The terminal's outbox resends whatever got no answer, byte for byte.
        for seq, payload in sent:
            if not term.replies_to(seq):
                term.publish(payload)
        for seq, _ in sent:
            term.reply_to(seq, timeout=30)
        for seq, _ in sent:
            bodies = {json.dumps(r.body, sort_keys=True) for r in term.replies_to(seq)}
            assert len(bodies) == 1, seq  # a repeated answer is always the same answer
            assert json.loads(bodies.pop())["status"] == "issued"
        with login(f"http://127.0.0.1:{port}", "technician") as http:
            assert http.get("/api/status").json()["checked_in"] == len(voters)
            assert http.get("/api/audit/verify").json()["intact"] is True
    finally:
        term.close()
        process.send_signal(signal.SIGTERM)
        process.wait(20)
