"""``shailoo ballots render`` and ``read`` on files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

from controller.ballots.cli import ballots
from controller.election import load_election
from hil.ballot_marking import mark_ballot

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "election.json"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(ballots, list(args))
    return result.exit_code, result.output


def test_render_every_style_then_read_the_marked_scans(tmp_path: Path) -> None:
    code, out = _run("render", "--election", str(EXAMPLE), "--test", "--out", str(tmp_path))
    assert code == 0, out
    election = load_election(EXAMPLE)
    pngs = sorted(tmp_path.glob("*.png"))
    assert [p.name for p in pngs] == [f"kg-2026-jk-{s}-test.png" for s in sorted(election.styles)]
    choices = {"s-d07": {"party-list": ["p-ala-too"], "smd-07": ["c07-sydykov"]},
               "s-d12": {"party-list": ["against-all"], "smd-12": []}}
    for png in pngs:
        layout = json.loads(png.with_suffix("").with_suffix(".layout.json").read_text())
        assert layout["election_hash"] == election.hash and layout["mode"] == "test"
        with Image.open(png) as image:
            assert image.size == (layout["width_px"], layout["height_px"])
            mark_ballot(image, layout, choices[layout["style"]]).save(png)
    code, out = _run("read", *map(str, pngs), "--election", str(EXAMPLE), "--test", "--json")
    assert code == 0, out
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["file"] for r in records] == [str(p) for p in pngs]
    for record in records:
        assert record["status"] == "accepted"
        assert record["votes"] == choices[record["style"]]
    code, out = _run("read", *map(str, pngs), "--election", str(EXAMPLE))
    assert code == 0 and out.count("rejected (test_ballot)") == 2


def test_render_one_style_for_a_station_as_pdf(tmp_path: Path) -> None:
    code, out = _run("render", "--election", str(EXAMPLE), "--style", "s-d12", "--station",
                     "st-0042", "--format", "pdf", "--dpi", "200", "--out", str(tmp_path))
    assert code == 0, out
    pdf = tmp_path / "kg-2026-jk-s-d12-st-0042-official.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    layout = json.loads((tmp_path / "kg-2026-jk-s-d12-st-0042-official.layout.json").read_text())
    assert (layout["dpi"], layout["station"], layout["mode"]) == (200, "st-0042", "official")


def test_render_refuses_unknown_style_and_broken_election(tmp_path: Path) -> None:
    code, out = _run("render", "--election", str(EXAMPLE), "--style", "s-x", "--out",
                     str(tmp_path))
    assert code == 1 and "no ballot style s-x" in out
    broken = tmp_path / "broken.json"
    broken.write_text('{"id": "x"}')
    code, out = _run("render", "--election", str(broken), "--out", str(tmp_path))
    assert code == 1 and "missing 'contests'" in out


def test_read_reports_files_that_are_not_images(tmp_path: Path) -> None:
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.full((20, 20), 255, dtype=np.uint8)).save(tiny)
    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (1754, 1240), dtype=np.uint8)
                    ).save(noise)
    code, out = _run("read", str(junk), str(tiny), str(noise), "--election", str(EXAMPLE),
                     "--json")
    assert code == 1
    records = [json.loads(line) for line in out.splitlines()]
    assert records[0]["status"] == "error" and "not an image" in records[0]["error"]
    assert records[1]["status"] == "error" and "too small" in records[1]["error"]
    assert (records[2]["status"], records[2]["reason"]) == ("rejected", "unreadable_code")


def test_read_refuses_bad_thresholds(tmp_path: Path) -> None:
    page = tmp_path / "page.png"
    Image.fromarray(np.full((1754, 1240), 255, dtype=np.uint8)).save(page)
    code, out = _run("read", str(page), "--election", str(EXAMPLE), "--marked", "0.02",
                     "--marginal", "0.05")
    assert code == 1 and "marginal threshold must not be above" in out
