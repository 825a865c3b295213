"""The broker's topic ACL for one station.

A device's user name is its id, so three pattern rules (``%u`` is the user name)
give every device exactly its own topics: it publishes only its uplink and its
retained status, and reads only its own control topic. The controller's account
reads every device's uplink and status and writes every control topic, nothing
else. Mosquitto denies whatever no rule allows, and anonymous clients are refused
before the ACL is asked.
"""

from __future__ import annotations

from protocol import topics


def device_patterns(station: str) -> str:
    """The pattern rules that confine each device of ``station`` to its own topics."""
    # The topic builders take ids only; ``%u`` is spliced into what they make for "+".
    up, status, down = (
        t.replace("/+", "/%u") for t in
        (topics.up(station, "+"), topics.status(station, "+"), topics.down(station, "+"))
    )
    return f"pattern write {up}\npattern write {status}\npattern read {down}\n"


def controller_rules(station: str, username: str) -> str:
    """The rules of the controller's account."""
    return (
        f"user {username}\n"
        f"topic read {topics.up(station, '+')}\n"
        f"topic read {topics.status(station, '+')}\n"
        f"topic write {topics.down(station, '+')}\n"
    )


def station_acl(station: str, controller_username: str) -> str:
    """The whole ACL file of a broker that serves ``station``."""
    return (
        f"# Shailoo station {station}: written by `shailoo broker config`; do not edit.\n"
        "# Devices (user name = device id): each only its own topics.\n"
        + device_patterns(station)
        + "\n# The station controller.\n"
        + controller_rules(station, controller_username)
    )
