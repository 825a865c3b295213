"""``shailoo bio``: extract, match, identify and enroll on real files, and clear errors for
broken, forged and oversized images and records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from controller.biometrics import iso19794_2
from controller.biometrics.cli import bio
from hil.fingerprints import make_impression, make_master

FINGERS = (201, 202, 203)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(bio, list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three impressions of each of three fingers, as PNG files."""
    folder = tmp_path_factory.mktemp("fingers")
    for number, seed in enumerate(FINGERS, start=1):
        master = make_master(seed)
        for impression in (1, 2, 3):
            made = make_impression(master, impression, condition="good")
            Image.fromarray(made.image).save(folder / ("f%d_%d.png" % (number, impression)))
    return folder


@pytest.fixture(scope="module")
def records(images: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("iso")
    code, text = run("extract", *map(str, sorted(images.glob("*.png"))), "--out-dir", str(out))
    assert code == 0, text
    return out


def test_extract_writes_one_record_per_image(images: Path, records: Path) -> None:
    assert sorted(p.name for p in records.iterdir()) == sorted(
        p.stem + ".iso" for p in images.glob("*.png")
    )
    record = iso19794_2.parse((records / "f1_1.iso").read_bytes())
    assert (record.width, record.height, record.x_ppcm) == (256, 288, 197)
    assert len(record.views) == 1 and len(record.views[0].minutiae) >= 12


def test_extract_reports_each_image_and_fails_on_refusals(images: Path, tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    Image.new("L", (256, 288), 255).save(blank)
    broken = tmp_path / "broken.png"
    broken.write_bytes((images / "f1_1.png").read_bytes()[:300])
    code, out = run("extract", str(images / "f1_1.png"), str(blank), str(broken),
                    "--out-dir", str(tmp_path / "out"))
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert [line["status"] for line in lines] == ["ok", "refused", "error"]
    assert lines[1]["reason"] and lines[1]["message"]
    assert "png" in lines[2]["reason"].lower()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["f1_1.iso"]


def test_extract_reads_raw_grey_bytes(images: Path, tmp_path: Path) -> None:
    raw = tmp_path / "f1_1.raw"
    with Image.open(images / "f1_1.png") as image:
        raw.write_bytes(image.tobytes())
    code, out = run("extract", str(raw), "--raw", "256x288", "--finger", "2",
                    "--out-dir", str(tmp_path))
    assert code == 0, out
    assert iso19794_2.parse((tmp_path / "f1_1.iso").read_bytes()).views[0].finger == 2
    code, out = run("extract", str(raw), "--raw", "200x200", "--out-dir", str(tmp_path))
    assert code == 1 and "error" in out
    code, out = run("extract", str(raw), "--raw", "wide", "--out-dir", str(tmp_path))
    assert code == 2 and "WIDTHxHEIGHT" in out


def test_match_scores_the_same_finger_above_the_others(records: Path) -> None:
    code, out = run("match", str(records / "f1_1.iso"),
                    *(str(records / n) for n in ("f1_2.iso", "f2_1.iso", "f3_1.iso")))
    assert code == 0, out
    scores = json.loads(out)
    assert [s["candidate"] for s in scores] == [
        str(records / n) for n in ("f1_2.iso", "f2_1.iso", "f3_1.iso")
    ]
    assert scores[0]["score"] > max(s["score"] for s in scores[1:])


def test_identify_ranks_the_gallery(records: Path, tmp_path: Path) -> None:
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    for number in (1, 2, 3):
        (gallery / ("voter%d.iso" % number)).write_bytes(
            (records / ("f%d_1.iso" % number)).read_bytes()
        )
    (gallery / "notes.txt").write_text("not a record, ignored")
    code, out = run("identify", str(records / "f2_3.iso"), "--gallery", str(gallery),
                    "--top", "2")
    assert code == 0, out
    ranked = json.loads(out)
    assert [r["rank"] for r in ranked] == [1, 2]
    assert ranked[0]["candidate"] == "voter2"
    assert ranked[0]["score"] >= ranked[1]["score"]


def test_enroll_consolidates_each_finger(images: Path, records: Path, tmp_path: Path) -> None:
    out_path = tmp_path / "voter.iso"
    code, out = run("enroll", *("3:%s" % (images / ("f1_%d.png" % k)) for k in (1, 2, 3)),
                    *("8:%s" % (images / ("f2_%d.png" % k)) for k in (1, 2)),
                    "--out", str(out_path))
    assert code == 0, out
    summary = json.loads(out)
    assert summary["fingers"] == [3, 8]
    record = iso19794_2.parse(out_path.read_bytes())
    assert [(v.finger, v.view) for v in record.views] == [(3, 0), (3, 1), (8, 0), (8, 1)]
    code, out = run("match", str(records / "f1_3.iso"), str(out_path), str(records / "f3_1.iso"))
    scores = json.loads(out)
    assert scores[0]["score"] > scores[1]["score"]


def test_enroll_leaves_out_or_refuses_other_fingers(images: Path, tmp_path: Path) -> None:
    code, out = run("enroll", str(images / "f1_1.png"), str(images / "f1_2.png"),
                    str(images / "f3_1.png"), "--out", str(tmp_path / "x.iso"))
    assert code == 0, out
    assert json.loads(out)["left_out"] == {"0": [3]}
    code, out = run("enroll", str(images / "f1_1.png"), str(images / "f3_1.png"),
                    "--out", str(tmp_path / "y.iso"))
    assert code == 1 and "only 1 of the 2" in out
    assert not (tmp_path / "y.iso").exists()
    code, out = run("enroll", "11:%s" % (images / "f1_1.png"), "--out", str(tmp_path / "x.iso"))
    assert code == 2 and "0-10" in out


def test_broken_forged_and_oversized_records_are_named(records: Path, tmp_path: Path) -> None:
    good = (records / "f1_1.iso").read_bytes()
    cases = {
        "truncated.iso": good[:40],
        "forged.iso": b"FMR\x00 20\x00" + b"\xff" * 30,
        "random.iso": bytes(range(256)) * 3,
        "huge.iso": good + b"\x07" * (iso19794_2.MAX_RECORD_BYTES + 10),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        code, out = run("match", str(tmp_path / name), str(records / "f1_2.iso"))
        assert code == 1 and name in out, (name, out)
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    (gallery / "a.iso").write_bytes(good)
    (gallery / "b.iso").write_bytes(good[:-3])
    code, out = run("identify", str(records / "f1_2.iso"), "--gallery", str(gallery))
    assert code == 1 and "b.iso" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out = run("identify", str(records / "f1_2.iso"), "--gallery", str(empty))
    assert code == 1 and "no .iso records" in out
