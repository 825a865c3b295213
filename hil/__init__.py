"""The hardware-in-the-loop rig: real firmware, simulated peripherals, whole stations.

Where each piece lives:

* ``targets/`` — where a device's firmware runs: ``VirtualBoard`` (``micropython`` on
  this machine, the reference heap, its own flash directory) and ``SerialBoard`` (a
  board on a serial port, flashed and run over its raw REPL);
* ``peripherals/`` — the simulated devices on a board's UARTs, one interface
  (``base.Peripheral``), each speaking its real byte protocol;
* ``station.py`` and ``stations/`` — a station described as data: which device has
  which peripheral on which UART, its tuning and its target;
* ``device.py`` builds one device from its description; ``rig.py`` builds and runs a
  whole station (broker from ``broker.py``, controller from ``controller.py``);
* ``voters.py`` and ``ballot_marking.py`` — simulated voters, their documents, fingers
  and marks, and the ground truth;
* ``demo.py`` and ``cli.py`` — the training station, ``shailoo demo``;
* ``pty.py`` and ``history.py`` — the wires (pseudo-terminals, a null-modem cable) and
  the bounded waits everything above uses;
* ``fingerprints/``, ``ballot_scans/``, ``fvc.py``, ``mixed_templates.py`` — test
  data: synthetic fingers and ballot scans, the real fingerprint sets read in place.
"""
