"""The station controller as the rig runs it: a child process, or inline in this one.

``ControllerProcess`` runs ``shailoo controller serve`` exactly as a technician
would, its output in ``log`` and a log file; ``ControllerInline`` runs
``controller.app.Station`` in this process, where a test can swap its ballot reader
or election loader. Both wait until the controller is up and serve ``url``; both
``stop()`` it cleanly.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from controller.broker.login import BrokerLogin
from hil.broker import Broker, free_port
from hil.history import History, RigTimeout

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 60.0


class ControllerError(RuntimeError):
    """The controller did not start; the message carries the end of its log."""

class ControllerProcess:
    """``shailoo controller serve`` in a child process; its output goes to ``log``."""

    def __init__(
        self,
        setup: Path,
        data: Path,
        broker: Broker,
        http_port: int,
        log_path: Path,
        login_file: Path | None = None,
    ) -> None:
        self.http_port = http_port or free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.log: History[str] = History("controller")
        self.log_path = log_path
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        command = [
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
            "--http-host",
            "127.0.0.1",
            "--http-port",
            str(self.http_port),
        ]
        if login_file is not None:
            command += ["--broker-login", str(login_file)]
        self._file = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=data.parent,
            # Its own session: a Ctrl-C at the demo reaches the rig, which stops it in order.
            start_new_session=True,
        )
        self._thread = threading.Thread(target=self._pump, name="controller-log", daemon=True)
        self._thread.start()
        try:
            # The command prints the dashboard address once the MQTT bridge is subscribed.
            self.log.wait_for(
                lambda line: "dashboard at" in line or line.startswith("[controller exited"),
                STARTUP_TIMEOUT,
                what="controller start",
            )
        except RigTimeout:
            self.stop()
            raise ControllerError(f"the controller did not start: {self.tail()}") from None
        if not self.alive():
            self._thread.join(5)
            self._file.close()
            raise ControllerError(f"the controller did not start:\n{self.tail()}")

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip()
            self.log.append(line)
            if not self._file.closed:
                self._file.write(line + "\n")
                self._file.flush()
        # End of output: the process is gone. A line wakes whoever waits on the log.
        self.process.wait()
        self.log.append(f"[controller exited with status {self.process.returncode}]")

    def alive(self) -> bool:
        """True while the controller process runs."""
        return self.process.poll() is None

    def tail(self, lines: int = 15) -> str:
        """The last lines the controller logged."""
        return "\n".join(self.log.items()[-lines:])

    def stop(self) -> None:
        """SIGTERM (the controller closes its store cleanly), then SIGKILL if it hangs."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._thread.join(5)
        if not self._file.closed:
            self._file.close()


class _LogToHistory(logging.Handler):
    def __init__(self, history: History[str]) -> None:
        super().__init__()
        self.history = history
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.history.append(self.format(record))


class ControllerInline:
    """``controller.station.app.Station`` in this process; its log records go to ``log``."""

    def __init__(
        self,
        setup: Path,
        data: Path,
        broker: Broker,
        http_port: int,
        reader: Any = None,
        election_loader: Any = None,
        login: BrokerLogin | None = None,
    ) -> None:
        from controller.station.app import Station

        self.log: History[str] = History("controller")
        self._handler = _LogToHistory(self.log)
        self._logger = logging.getLogger("shailoo")
        self._logger.addHandler(self._handler)
        if self._logger.level in (logging.NOTSET,) or self._logger.level > logging.INFO:
            self._logger.setLevel(logging.INFO)
        self.station = Station(
            setup,
            data,
            broker.host,
            broker.port,
            http_port=http_port,
            reader=reader,
            election_loader=election_loader,
            broker_login=login,
        ).start()
        self.url = self.station.url

    def alive(self) -> bool:
        """True while the station runs."""
        return self.station.store is not None

    def tail(self, lines: int = 15) -> str:
        """The last lines the controller logged."""
        return "\n".join(self.log.items()[-lines:])

    def stop(self) -> None:
        """Stop the station."""
        self.station.stop()
        self._logger.removeHandler(self._handler)


