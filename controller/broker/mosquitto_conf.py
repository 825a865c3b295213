"""``mosquitto.conf`` for the station's broker (Mosquitto 2)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# What the broker keeps for the controller while it is down: a day's ballot images
# come in chunks, and a controller restarted in the middle of a busy hour must find
# them all queued rather than dropped.
MAX_QUEUED = 100000


@dataclass(frozen=True)
class ConfPaths:
    """The files the configuration names (absolute: Mosquitto resolves relative paths
    against its working directory, not the configuration's folder)."""

    cafile: Path
    certfile: Path
    keyfile: Path
    password_file: Path
    acl_file: Path
    persistence_dir: Path | None
    log_file: Path | None = None


def mosquitto_conf(
    paths: ConfPaths, port: int, bind: str | None = None, user: str | None = None
) -> str:
    """The configuration text: one TLS listener, accounts and ACL, no anonymous access.

    ``persistence_dir`` None turns persistence off (a test broker that must forget
    everything on a restart); a station keeps its retained statuses and the
    controller's queued messages across a broker restart. ``user`` is the account a
    broker started as root drops to (it must own the password file and server key).
    """
    lines = [
        "# Shailoo station broker: written by `shailoo broker config`; do not edit.",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {paths.password_file}",
        f"acl_file {paths.acl_file}",
        *([f"user {user}"] if user else []),
        f"max_queued_messages {MAX_QUEUED}",
        # A device waits for the PUBACK of each image chunk: Nagle's algorithm would
        # hold each small acknowledgement back until the previous one was acknowledged.
        "set_tcp_nodelay true",
        "",
        f"listener {port}" + (f" {bind}" if bind else ""),
        f"cafile {paths.cafile}",
        f"certfile {paths.certfile}",
        f"keyfile {paths.keyfile}",
        "tls_version tlsv1.2",
        "require_certificate false",
        # The client id is the user name: a client cannot take over another's session
        # (the controller's queued messages) by naming its client id. A listener
        # option: before any ``listener`` line it would open a default plain listener.
        "use_username_as_clientid true",
        "",
    ]
    if paths.persistence_dir is not None:
        lines += [
            "persistence true",
            f"persistence_location {paths.persistence_dir}/",
            "autosave_interval 30",
        ]
    else:
        lines.append("persistence false")
    if paths.log_file is not None:
        lines.append(f"log_dest file {paths.log_file}")
    else:
        lines.append("log_dest stderr")
    lines += ["log_type error", "log_type warning", "log_type notice", "connection_messages true"]
    return "\n".join(lines) + "\n"
