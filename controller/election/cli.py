"""``shailoo election``: check an election definition, convert it between its two forms.

``check FILE`` accepts either form (the project's JSON or a NIST SP 1500-100 election
report). Errors — what stops a ballot from being printed or counted — and warnings —
what was filled in or left out — are listed apart; the exit status is 1 only when
there are errors. A usable definition is summarised as the station would use it:
contests, ballot styles, the stations holding them, the hash ballots carry. ``--json``
prints the same as one object. ``convert FILE --to nist|shailoo --out FILE`` writes
the other form (warnings printed as ``check`` prints them); both forms of one
election have the same hash.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from controller.election.definition import Election, ElectionError
from controller.election.load import decode_json, load_election

_KINDS = {"candidate": "candidates", "party_list": "party list", "ballot_measure": "measure"}


def _warnings(source: str, warnings: list[str] | tuple[str, ...]) -> None:
    if warnings:
        click.echo(f"{source}: {len(warnings)} warning(s), filled in or left out:", err=True)
        for warning in warnings:
            click.echo(f"  - {warning}", err=True)


def _load(path: Path) -> Election:
    try:
        election = load_election(path)
    except ElectionError as err:
        click.echo(f"{err.source}: {len(err.problems)} error(s), refused:", err=True)
        for problem in err.problems:
            click.echo(f"  - {problem}", err=True)
        _warnings(err.source, err.warnings)
        raise SystemExit(1) from None
    _warnings(str(path), election.warnings)
    return election


def _summary(path: Path, e: Election) -> dict[str, Any]:
    """What ``check --json`` prints for a usable definition."""
    return {
        "file": str(path),
        "valid": True,
        "form": "nist" if _is_nist_file(path) else "shailoo",
        "errors": [],
        "warnings": list(e.warnings),
        "election": {
            "id": e.id, "title": dict(e.title), "date": e.date, "end_date": e.end_date,
            "hash": e.hash, "code_hash": e.hash[:16].upper(), "warn_voter": list(e.warn_voter),
        },
        "contests": [
            {"id": c.id, "kind": c.kind, "vote_for": c.vote_for, "district": c.district,
             "options": [o.id for o in c.options]}
            for c in e.contests
        ],
        "styles": [
            {"id": sid, "contests": contests, "district": e.style_districts.get(sid),
             "stations": e.style_stations.get(sid) or []}
            for sid, contests in e.styles.items()
        ],
        "stations": [s.id for s in e.stations],
    }  # fmt: skip


@click.group()
def election() -> None:
    """Election definitions: check, convert NIST SP 1500-100."""


@election.command()
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object: valid, errors, warnings and, when valid, the summary.")
def check(path: Path, as_json: bool) -> None:
    """Check a definition (either form): errors and warnings apart, and a summary.

    Exits 1 only when there are errors (the definition cannot be used).
    """
    if as_json:
        try:
            e = load_election(path)
        except ElectionError as err:
            refused = {"file": str(path), "valid": False, "errors": err.problems,
                       "warnings": err.warnings}  # fmt: skip
            click.echo(json.dumps(refused, ensure_ascii=False, indent=1))
            raise SystemExit(1) from None
        click.echo(json.dumps(_summary(path, e), ensure_ascii=False, indent=1))
        return
    e = _load(path)
    nist = _is_nist_file(path)
    shown = f", {len(e.warnings)} warning(s)" if e.warnings else ""
    click.echo(f"{path}: valid ({'NIST SP 1500-100' if nist else 'Shailoo'} form{shown})")
    click.echo(f"election {e.id} on {e.days}: {e.title['en']}")
    click.echo(f"hash {e.hash} (ballots carry {e.hash[:16].upper()})")
    if e.scope is not None:
        click.echo(f"scope {e.scope.id} ({e.scope.type}): {e.scope.name['en']}")
    if e.warn_voter:
        click.echo(f"the scanner returns for review: {', '.join(e.warn_voter)}")
    else:
        click.echo("the scanner returns no ballot for review (no warn_voter)")
    click.echo(f"{len(e.contests)} contest(s):")
    for c in e.contests:
        where = f"district {c.district}" if c.district else "election-wide"
        against = ", with 'against all'" if c.against_all is not None else ""
        click.echo(
            f"  {c.id}: {_KINDS[c.kind]}, vote for {c.vote_for} of {len(c.options)} options"
            f"{against}; {where}"
        )
    click.echo(f"{len(e.styles)} ballot style(s):")
    for sid, contests in e.styles.items():
        district = e.style_districts.get(sid)
        held = e.style_stations.get(sid) or []
        line = f"  {sid}: {', '.join(contests)}"
        if district:
            line += f"; district {district}"
        if held:
            line += f"; held at {', '.join(held)}"
        click.echo(line)
    if e.stations:
        click.echo(f"{len(e.stations)} polling station(s):")
        for station in e.stations:
            styles = e.station_styles(station.id)
            click.echo(f"  {station.id}: {len(styles)} style(s) {', '.join(styles)}")


def _is_nist_file(path: Path) -> bool:
    """Whether an already loaded definition file is in NIST form."""
    try:
        doc = decode_json(path.read_bytes(), str(path))
    except (ElectionError, OSError):
        return False
    return isinstance(doc, dict) and "@type" in doc


@election.command()
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--to", "target", required=True, type=click.Choice(["nist", "shailoo"]),
    help="nist: a NIST SP 1500-100 pre-election report; shailoo: the project's form.",
)  # fmt: skip
@click.option(
    "--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write.",
)  # fmt: skip
@click.option("--issuer", default="Shailoo", show_default=True, help="NIST: who issues it.")
@click.option("--issuer-abbreviation", default="Shailoo", show_default=True)
def convert(path: Path, target: str, out: Path, issuer: str, issuer_abbreviation: str) -> None:
    """Write a definition (either form) in the NIST form or the project's form."""
    e = _load(path)
    if target == "nist":
        from controller.nist.election_report import to_election_report

        try:
            doc = to_election_report(e, issuer=issuer, issuer_abbreviation=issuer_abbreviation)
        except ElectionError as err:
            raise click.ClickException(str(err)) from None
    else:
        doc = e.to_dict()
    try:
        out.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    except OSError as err:
        raise click.ClickException(f"cannot write {out}: {err.strerror or err}") from None
    click.echo(f"{out}: {target} form of election {e.id}, hash {e.hash}")
