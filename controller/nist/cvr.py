"""NIST SP 1500-103 cast vote records: one ``CVR`` per cast ballot, and the report around them.

Each CVR has two snapshots. The ``original`` one is what the scanner saw: every target
of the ballot's style with its mark score (``MarkMetricValue``), ``HasIndication`` yes for
a mark, unknown for a marginal one (flagged ``OtherStatus: marginal-mark``), no for an
empty target. The ``interpreted`` one is what counts: per contest the marked options,
``Overvotes``/``Undervotes`` as votes lost, ``Status`` overvoted / undervoted /
not-indicated, and in an overvoted contest the marks kept but not allocable. The CVR
also carries the image's SHA-256, the ballot style, the batch (the scanner's box) and
the scanner that read it.

A ballot with a marginal mark was flagged for the commission. Its ``interpreted``
snapshot, where marginal marks are no votes, says ``needs-adjudication``; once the
commission has decided, a third, ``modified`` snapshot is how the ballot counts: the
interpreted one with the marks decided ``vote`` added (``Status: adjudicated``), those
decided ``not_vote`` listed with no vote, the contests' verdicts found again, and an
``Annotation`` naming who decided and why. It is then the ``CurrentSnapshotId``.

A CVR holds nothing that orders it: no time, no sequence number. Its ``UniqueId`` is
random (``new_cvr_id``) and ``build_report`` lists CVRs sorted by it, so neither the
records nor their order can be lined up with the check-ins. The report's
``GeneratedDate`` is the time of the export.

Ids in the report: contests and selections have the ids of the NIST election report
of the same election (``<contest>.<option>`` for a selection); candidates and parties
the option's id; the station its id as a ``GpUnit``; scanners their device id.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from controller.election.definition import Election
from controller.nist import schemas
from controller.nist.election_report import AGAINST_ALL, selection_id
from controller.nist.references import check_references
from controller.polls import adjudication
from protocol import canonical

VERSION = "1.0.0"
MARK_METRIC = (
    "largest of: the share of the target oval's interior that is ink (of 0.3), the "
    "longest pen stroke inside it (of 2.9 mm), how far round it a stroke goes (of 3/4); "
    "0 to 1"
)
ELECTION_HASH = "shailoo-election-hash"
INDICATION = {"marked": "yes", "marginal": "unknown", "unmarked": "no"}


class CvrError(ValueError):
    """Cast vote records that cannot be written; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        shown = "; ".join(self.problems[:12])
        if len(self.problems) > 12:
            shown += f"; and {len(self.problems) - 12} more"
        super().__init__(f"cast vote records: {shown}")


def new_cvr_id() -> str:
    """A fresh random CVR id (128 bits): says nothing about when or where it was made."""
    return "cvr-" + secrets.token_hex(16)


@dataclass(frozen=True)
class CastBallot:
    """What the station keeps of one cast ballot: enough to write its CVR, nothing more.

    ``votes`` maps contest → marked option ids, ``verdicts`` contest → ``ok`` /
    ``overvote`` / ``undervote`` / ``blank`` (the reader's), ``marks`` every target as
    ``{"contest", "option", "score", "class"}``, ``thresholds`` the reader's,
    ``adjudication`` the commission's decisions on marginal marks: ``(contest, option)``
    → ``(decision, by, reason)``.
    """

    id: str
    device: str
    style: str
    image_sha256: str | None
    votes: dict[str, list[str]]
    verdicts: dict[str, str]
    marks: list[dict[str, Any]] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)
    adjudication: dict[tuple[str, str], tuple[str, str, str]] = field(default_factory=dict)

    @property
    def flagged(self) -> bool:
        """Whether a mark of this ballot was marginal (so the commission decides it)."""
        return any(m.get("class") == "marginal" for m in self.marks)


def _score(value: Any) -> str:
    return f"{float(value):.4f}"


def _original(election: Election, ballot: CastBallot) -> list[dict[str, Any]]:
    marks = {(m.get("contest"), m.get("option")): m for m in ballot.marks}
    contests = []
    for contest in election.style_contests(ballot.style):
        selections = []
        for k, option in enumerate(contest.options, start=1):
            mark = marks.get((contest.id, option.id))
            position: dict[str, Any] = {"@type": "CVR.SelectionPosition"}
            if mark is None:
                position.update(HasIndication="unknown", NumberVotes=0)
            else:
                kind = mark.get("class")
                position["HasIndication"] = INDICATION.get(kind, "unknown")
                position["NumberVotes"] = 1 if kind == "marked" else 0
                position["MarkMetricValue"] = [_score(mark.get("score", 0))]
                if kind == "marginal":
                    position["Status"] = ["other"]
                    position["OtherStatus"] = "marginal-mark"
            position["IsAllocable"] = "unknown"  # the raw marks: no contest rule applied yet
            selections.append(
                {
                    "@type": "CVR.CVRContestSelection",
                    "ContestSelectionId": selection_id(contest.id, option.id),
                    "OptionPosition": k,
                    "SelectionPosition": [position],
                }
            )
        contests.append(
            {"@type": "CVR.CVRContest", "ContestId": contest.id, "CVRContestSelection": selections}
        )
    return contests


def _interpreted(
    election: Election,
    ballot: CastBallot,
    decided: dict[tuple[str, str], str] | None = None,
) -> list[dict[str, Any]]:
    """How the ballot counts, by the reader alone or with the commission's ``decided``
    marks (``vote``/``not_vote``): the modified snapshot."""
    votes, verdicts = ballot.votes, ballot.verdicts
    if decided:
        made = {t: adjudication.Decision(d, "", "") for t, d in decided.items()}
        votes, verdicts = adjudication.apply(election, votes, verdicts, made)
    contests = []
    for contest in election.style_contests(ballot.style):
        chosen = set(votes.get(contest.id, []))
        allowed = contest.vote_for
        overvoted = verdicts.get(contest.id) == "overvote" or len(chosen) > allowed
        entry: dict[str, Any] = {
            "@type": "CVR.CVRContest",
            "ContestId": contest.id,
            "Selections": len(chosen),
        }
        # Overvotes and Undervotes count votes lost, as the standard defines them.
        if overvoted:
            entry.update(Overvotes=allowed, Undervotes=0, Status=["overvoted"])
        elif not chosen:
            entry.update(Overvotes=0, Undervotes=allowed, Status=["not-indicated", "undervoted"])
        elif len(chosen) < allowed:
            entry.update(Overvotes=0, Undervotes=allowed - len(chosen), Status=["undervoted"])
        else:
            entry.update(Overvotes=0, Undervotes=0)
        selections = []
        for k, option in enumerate(contest.options, start=1):
            verdict = (decided or {}).get((contest.id, option.id))
            if verdict == "not_vote":
                # The commission saw the unclear mark and found no vote in it.
                selections.append(
                    {
                        "@type": "CVR.CVRContestSelection",
                        "ContestSelectionId": selection_id(contest.id, option.id),
                        "OptionPosition": k,
                        "SelectionPosition": [
                            {
                                "@type": "CVR.SelectionPosition",
                                "HasIndication": "no",
                                "NumberVotes": 0,
                                "IsAllocable": "no",
                                "Status": ["adjudicated"],
                            }
                        ],
                    }
                )
                continue
            if option.id not in chosen:
                continue
            position: dict[str, Any] = {
                "@type": "CVR.SelectionPosition",
                "HasIndication": "yes",
                "NumberVotes": 1,
                "IsAllocable": "no" if overvoted else "yes",
            }
            if verdict == "vote":
                position["Status"] = ["adjudicated"]
            selection: dict[str, Any] = {
                "@type": "CVR.CVRContestSelection",
                "ContestSelectionId": selection_id(contest.id, option.id),
                "OptionPosition": k,
                "SelectionPosition": [position],
            }
            if overvoted:
                position["Status"] = position.get("Status", []) + ["invalidated-rules"]
                selection["Status"] = ["invalidated-rules"]
            selections.append(selection)
        if selections:
            entry["CVRContestSelection"] = selections
        contests.append(entry)
    return contests


def build_cvr(election: Election, ballot: CastBallot, station: str) -> dict[str, Any]:
    """The ``CVR`` of one cast ballot of ``election`` at ``station``."""
    if ballot.style not in election.styles:
        raise CvrError([f"record {ballot.id}: style {ballot.style!r} is not in the election"])
    original = f"{ballot.id}.original"
    interpreted = f"{ballot.id}.interpreted"
    cvr: dict[str, Any] = {
        "@type": "CVR.CVR",
        "UniqueId": ballot.id,
        "ElectionId": election.id,
        "BallotStyleId": ballot.style,
        "BallotStyleUnitId": station,
        "BatchId": f"{station}.{ballot.device}",
        "CreatingDeviceId": ballot.device,
        "CVRSnapshot": [
            {
                "@id": original,
                "@type": "CVR.CVRSnapshot",
                "Type": "original",
                "CVRContest": _original(election, ballot),
            },
            {
                "@id": interpreted,
                "@type": "CVR.CVRSnapshot",
                "Type": "interpreted",
                "CVRContest": _interpreted(election, ballot),
            },
        ],
        "CurrentSnapshotId": interpreted,
    }
    if ballot.flagged:
        cvr["CVRSnapshot"][1]["Status"] = ["needs-adjudication"]
    if ballot.adjudication:
        modified = f"{ballot.id}.modified"
        decided = {t: made[0] for t, made in ballot.adjudication.items()}
        people = sorted({made[1] for made in ballot.adjudication.values()})
        reasons = sorted({made[2] for made in ballot.adjudication.values()})
        cvr["CVRSnapshot"].append(
            {
                "@id": modified,
                "@type": "CVR.CVRSnapshot",
                "Type": "modified",
                "Annotation": [
                    {"@type": "CVR.Annotation", "AdjudicatorName": people, "Message": reasons}
                ],
                "CVRContest": _interpreted(election, ballot, decided),
            }
        )
        open_marks = [
            m for m in ballot.marks
            if m.get("class") == "marginal"
            and (m.get("contest"), m.get("option")) not in ballot.adjudication
        ]
        if open_marks:
            cvr["CVRSnapshot"][-1]["Status"] = ["needs-adjudication"]
        cvr["CurrentSnapshotId"] = modified
    if ballot.image_sha256:
        cvr["BallotImage"] = [
            {
                "@type": "CVR.ImageData",
                "Hash": {"@type": "CVR.Hash", "Type": "sha-256", "Value": ballot.image_sha256},
            }
        ]
    return cvr


def _contests(election: Election) -> tuple[list[Any], list[Any], list[Any]]:
    """The election's contests, candidates and parties as the report's definitions."""
    contests = []
    candidates: dict[str, dict[str, Any]] = {}
    parties: dict[str, dict[str, Any]] = {}
    for contest in election.contests:
        selections = []
        for option in contest.options:
            sid = selection_id(contest.id, option.id)
            if option.against_all:
                selections.append(
                    {
                        "@id": sid,
                        "@type": "CVR.ContestSelection",
                        "Code": [
                            {
                                "@type": "CVR.Code",
                                "Type": "other",
                                "OtherType": AGAINST_ALL,
                                "Value": "true",
                            }
                        ],
                    }
                )
            elif contest.kind == "party_list":
                parties.setdefault(
                    option.id, {"@id": option.id, "@type": "CVR.Party", "Name": option.name}
                )
                selections.append(
                    {"@id": sid, "@type": "CVR.PartySelection", "PartyIds": [option.id]}
                )
            elif contest.kind == "ballot_measure":
                selections.append(
                    {"@id": sid, "@type": "CVR.BallotMeasureSelection", "Selection": option.name}
                )
            else:
                candidates.setdefault(
                    option.id, {"@id": option.id, "@type": "CVR.Candidate", "Name": option.name}
                )
                selections.append(
                    {"@id": sid, "@type": "CVR.CandidateSelection", "CandidateIds": [option.id]}
                )
        entry: dict[str, Any] = {
            "@id": contest.id,
            "@type": {
                "candidate": "CVR.CandidateContest",
                "party_list": "CVR.PartyContest",
                "ballot_measure": "CVR.BallotMeasureContest",
            }[contest.kind],
            "Name": str(contest.title),
            "ContestSelection": selections,
        }
        if contest.kind == "candidate":
            entry["VotesAllowed"] = contest.vote_for
        contests.append(entry)
    return contests, list(candidates.values()), list(parties.values())


def _stamp(moment: datetime | None) -> str:
    moment = moment or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("GeneratedDate needs a time zone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _thresholds(values: dict[str, float]) -> str:
    return ", ".join(f"{key} {float(values[key]):.2f}" for key in sorted(values))


def build_report(
    election: Election,
    ballots: Iterable[CastBallot],
    station: str,
    mode: str = "official",
    generated: datetime | None = None,
) -> dict[str, Any]:
    """The ``CastVoteRecordReport`` of a station's cast ballots, CVRs sorted by their id."""
    ordered = sorted(ballots, key=lambda b: b.id)
    cvrs = [build_cvr(election, b, station) for b in ordered]
    contests, candidates, parties = _contests(election)
    controller = f"{station}.controller"
    scanners: dict[str, set[str]] = {}
    for ballot in ordered:
        scanners.setdefault(ballot.device, set()).add(_thresholds(ballot.thresholds))
    devices = [
        {
            "@id": controller,
            "@type": "CVR.ReportingDevice",
            "Application": "Shailoo station controller",
            "Notes": [f"station {station}, {mode} mode"],
        }
    ]
    for device in sorted(scanners):
        notes = [f"thresholds: {t}" for t in sorted(scanners[device]) if t]
        scanner: dict[str, Any] = {
            "@id": device,
            "@type": "CVR.ReportingDevice",
            "Application": "Shailoo ballot scanner",
            "MarkMetricType": MARK_METRIC,
        }
        if notes:
            scanner["Notes"] = notes
        devices.append(scanner)
    if election.scope is not None:
        scope_id, scope_name = election.scope.id, str(election.scope.name)
    else:
        scope_id, scope_name = f"{election.id}.scope", str(election.title)
    station_unit: dict[str, Any] = {"@id": station, "@type": "CVR.GpUnit", "Type": "polling-place"}
    if any(s.id == station for s in election.stations):
        station_unit["Name"] = str(election.station(station).name)
    if scanners:
        station_unit["ReportingDeviceIds"] = sorted(scanners)
    body: dict[str, Any] = {
        "@id": election.id,
        "@type": "CVR.Election",
        "Name": str(election.title),
        "ElectionScopeId": scope_id,
        "Code": [
            {
                "@type": "CVR.Code",
                "Type": "other",
                "OtherType": ELECTION_HASH,
                "Value": election.hash,
            }
        ],
        "Contest": contests,
    }
    if candidates:
        body["Candidate"] = candidates
    report: dict[str, Any] = {
        "@type": "CVR.CastVoteRecordReport",
        "Version": VERSION,
        "GeneratedDate": _stamp(generated),
        "ReportType": ["originating-device-export"],
        "ReportGeneratingDeviceIds": [controller],
        "ReportingDevice": devices,
        "GpUnit": [
            station_unit,
            {"@id": scope_id, "@type": "CVR.GpUnit", "Type": "other", "OtherType": "election-scope",
             "Name": scope_name},
        ],  # fmt: skip
        "Election": [body],
        "CVR": cvrs,
    }
    if parties:
        report["Party"] = parties
    if mode != "official":
        report["Notes"] = f"{mode} mode: these records are not votes of an official election"
    return report


def check_report(report: Any, election: Election | None = None, schema: bool = True) -> list[str]:
    """Every problem of a CVR report: schema, references, and the records' consistency.

    Beyond the schema and the references: every ``ContestSelectionId`` of a CVR is a
    selection of the contest it is recorded under, the ``CurrentSnapshotId`` is one of
    the CVR's own snapshots, ``UniqueId``s are unique; and with ``election``, every
    ``BallotStyleId`` is one of its styles. ``schema=False`` skips the schema (several
    seconds per thousand records) for a report ``build_report`` made, whose every
    field the tests validate; the other checks take a small part of that.
    """
    if schema:
        problems = schemas.validate(report, schemas.CAST_VOTE_RECORDS)
        if problems:
            return problems
    elif not isinstance(report, dict) or not isinstance(report.get("Election"), list):
        return ["(the document): not a cast vote record report"]
    problems = check_references(report, schemas.CAST_VOTE_RECORDS)
    owners: dict[str, str] = {}
    for e in report["Election"]:
        for contest in e["Contest"]:
            for s in contest["ContestSelection"]:
                owners[s["@id"]] = contest["@id"]
    seen: set[str] = set()
    for i, cvr in enumerate(report.get("CVR", [])):
        where = f"CVR[{i}]"
        unique = cvr.get("UniqueId")
        if unique is not None and unique in seen:
            problems.append(f"{where}.UniqueId: {unique!r} is the id of another record too")
        seen.add(unique)
        snapshots = {s["@id"] for s in cvr["CVRSnapshot"]}
        if cvr["CurrentSnapshotId"] not in snapshots:
            problems.append(f"{where}.CurrentSnapshotId: not one of this record's snapshots")
        if election is not None and cvr.get("BallotStyleId") not in election.styles:
            problems.append(
                f"{where}.BallotStyleId: {cvr.get('BallotStyleId')!r} is not a ballot style "
                f"of election {election.id!r}"
            )
        for j, snapshot in enumerate(cvr["CVRSnapshot"]):
            for k, contest in enumerate(snapshot.get("CVRContest", [])):
                for m, selection in enumerate(contest.get("CVRContestSelection", [])):
                    sid = selection.get("ContestSelectionId")
                    if sid is not None and owners.get(sid) != contest["ContestId"]:
                        problems.append(
                            f"{where}.CVRSnapshot[{j}].CVRContest[{k}].CVRContestSelection[{m}]"
                            f".ContestSelectionId: {sid!r} is not a selection of contest "
                            f"{contest['ContestId']!r}"
                        )
    return problems


def report_bytes(report: dict[str, Any]) -> bytes:
    """The canonical JSON of a report: the bytes written, hashed and signed."""
    return canonical.dumps(report)


def records_sha256(report: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of the report's CVR list: the same at every export."""
    return hashlib.sha256(canonical.dumps(report.get("CVR", []))).hexdigest()
