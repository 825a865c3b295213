"""Real image sets in the FVC layout: what counts as a set, where its resolution comes
from, the competition's comparison pairs; the gallery filler made from real minutiae
sets; and the real-image benchmark run end to end on a small set and on broken ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from controller.biometrics.match import Template, compare
from controller.biometrics.match.synthetic import make_finger, make_impression
from controller.biometrics.template import Minutiae
from hil.fvc import (
    SHARED_FVC,
    SetLayoutError,
    find_sets,
    genuine_pairs,
    impostor_pairs_all,
    impostor_pairs_first,
    load_set,
    resolution,
)
from hil.mixed_templates import MIN_MINUTIAE, MixedTemplates
from tests.conftest import needs_fvc

ROOT = Path(__file__).resolve().parents[2]


def _touch(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")


def test_the_competition_protocol_counts() -> None:
    genuine = genuine_pairs(10, 8)
    assert len(genuine) == 280 and len(set(genuine)) == 280
    assert all(a[0] == b[0] and a[1] < b[1] for a, b in genuine)
    first = impostor_pairs_first(10)
    assert len(first) == 45 and all(a[0] < b[0] and a[1] == b[1] == 0 for a, b in first)
    every = impostor_pairs_all(10, 8)
    assert len(every) == 2880 and len(set(every)) == 2880
    assert all(a[0] != b[0] for a, b in every)


def test_a_set_folder_orders_fingers_and_impressions_by_number(tmp_path: Path) -> None:
    names = ["%d_%d.tif" % (f, i) for f in (9, 10, 101) for i in (1, 2, 10)]
    _touch(tmp_path / "s", names + ["notes.txt", "thumbs_x.tif", "README.md"])
    fset = load_set(tmp_path / "s")
    assert fset.labels == ["9", "10", "101"]
    assert [p.name for p in fset.paths[1]] == ["10_1.tif", "10_2.tif", "10_10.tif"]
    assert (fset.fingers, fset.impressions) == (3, 3)
    assert (fset.dpi, fset.dpi_source) == (500, "assumed")


@pytest.mark.parametrize(
    "names",
    [
        [],
        ["1_1.tif", "1_2.tif"],  # one finger
        ["1_1.tif", "2_1.tif"],  # one impression each
        ["1_1.tif", "1_2.tif", "2_1.tif"],  # uneven
    ],
)
def test_a_folder_that_is_not_a_set_is_refused_with_what_was_found(
    tmp_path: Path, names: list[str]
) -> None:
    _touch(tmp_path / "s", names)
    with pytest.raises(SetLayoutError, match="needs 2 or more fingers"):
        load_set(tmp_path / "s")


def test_a_folder_of_sets_gives_each_set_and_nothing_else(tmp_path: Path) -> None:
    four = ["%d_%d.png" % (f, i) for f in (1, 2) for i in (1, 2)]
    _touch(tmp_path / "a", four)
    _touch(tmp_path / "b", four)
    _touch(tmp_path / "empty", [])
    assert [s.name for s in find_sets([tmp_path])] == ["a", "b"]
    assert [s.name for s in find_sets([tmp_path / "b", tmp_path / "a"])] == ["b", "a"]
    with pytest.raises(SetLayoutError, match="neither"):
        find_sets([tmp_path / "empty"])
    with pytest.raises(SetLayoutError, match="not a folder"):
        find_sets([tmp_path / "missing"])
    assert find_sets([tmp_path / "a"], dpi=569)[0].dpi == 569


def test_resolution_from_a_readme_row_then_the_competitions_reports(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(
        "| `fvc2002_DB2_B` | optical | 296 x 560 | 569 dpi |\n"
        "| `fvc2002_DB2_B_old` | optical | 296 x 560 | 1500 dpi |\n"
        "| `odd_set` | sweep | 9999 dpi |\n",
        encoding="utf-8",
    )
    for name in ("fvc2002_DB2_B", "fvc2004_DB3_B", "FVC2000_DB4_A", "odd_set", "mine"):
        (tmp_path / name).mkdir()
    assert resolution(tmp_path / "fvc2002_DB2_B") == (569, "README")
    assert resolution(tmp_path / "fvc2004_DB3_B") == (512, "FVC report")
    assert resolution(tmp_path / "FVC2000_DB4_A") == (500, "FVC report")
    assert resolution(tmp_path / "odd_set") == (500, "assumed")  # beyond any sensor: ignored
    assert resolution(tmp_path / "mine") == (500, "assumed")


def _sources() -> list[tuple[object, Minutiae]]:
    return [(f, make_impression(make_finger(f), 1)[0]) for f in range(4)]


def test_made_templates_are_reproducible_and_look_like_captures() -> None:
    made = [MixedTemplates(_sources(), seed=3).make() for _ in range(2)]
    np.testing.assert_array_equal(made[0].x, made[1].x)
    maker = MixedTemplates(_sources(), seed=3)
    many = [maker.make() for _ in range(200)]
    assert all(len(m) >= MIN_MINUTIAE for m in many)
    assert all(m.x.min() >= 0 and m.y.min() >= 0 for m in many)
    assert all(m.x.max() < 400 and m.y.max() < 500 for m in many)  # a sensor's window
    assert len({(len(m), round(float(m.x.sum()), 2)) for m in many}) == len(many)


def test_made_templates_are_nobodys_finger() -> None:
    # A made set is cut and mixed from its sources: none verifies as a whole source
    # finger more than a real second capture of that finger does.
    sources = _sources()
    maker = MixedTemplates(sources, seed=5)
    made = [Template.from_minutiae(maker.make()) for _ in range(30)]
    fresh = [Template.from_minutiae(make_impression(make_finger(f), 9)[0]) for f in range(4)]
    genuine = [compare(fresh[f], Template.from_minutiae(sources[f][1])) for f in range(4)]
    best = [max(compare(m, f) for f in fresh) for m in made]
    assert np.median(best) < np.median(genuine)


def test_made_templates_need_two_real_fingers() -> None:
    one = make_impression(make_finger(1), 1)[0]
    with pytest.raises(ValueError, match="two or more fingers"):
        MixedTemplates([(1, one), (1, one)])
    tiny = Minutiae.from_columns([1, 2], [1, 2], [0, 0], [1, 1], [0, 0])
    with pytest.raises(ValueError, match="two or more fingers"):
        MixedTemplates([(1, one), (2, tiny)])


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "biometrics.py"), *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=ROOT,
    )


@needs_fvc
def test_the_real_image_benchmark_runs_on_a_small_real_set(tmp_path: Path) -> None:
    source = find_sets([SHARED_FVC])[0]
    small = tmp_path / source.name
    small.mkdir()
    for f in range(3):
        for i in range(3):
            path = source.paths[f][i]
            (small / path.name).symlink_to(path)
    # The README row beside the set gives the resolution, as beside the real sets.
    (tmp_path / "README.md").write_text(
        "| `%s` | %d dpi |\n" % (small.name, source.dpi), encoding="utf-8"
    )
    done = _bench("--images", str(tmp_path), "--gallery", "0")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "== %s: 3 fingers x 3 impressions, %d dpi (README)" % (small.name, source.dpi) in out
    assert "9 genuine, 27 impostor comparisons" in out
    assert "first impressions of different fingers (FVC's 3)" in out
    assert "refused captures (FVC failure to enrol: no template):" in out and "EER" in out


@needs_fvc
def test_the_extraction_benchmark_times_real_images_at_their_resolution(tmp_path: Path) -> None:
    source = find_sets([SHARED_FVC])[0]
    small = tmp_path / source.name
    small.mkdir()
    for f in range(2):
        for i in range(2):
            (small / source.paths[f][i].name).symlink_to(source.paths[f][i])
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "fingerprint_extract.py"),
            "--images",
            str(small),
            "--dpi",
            str(source.dpi),
            "--repeat",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    with Image.open(source.paths[0][0]) as img:
        size = "%dx%d" % img.size
    line = next(x for x in done.stdout.splitlines() if x.strip().startswith(source.name))
    assert line.split()[1:3] == [size, str(source.dpi)]
    assert line.split()[-1].endswith("/4")


def test_the_real_image_benchmark_refuses_what_is_not_a_set(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    Image.new("L", (200, 200), 128).save(folder / "1_1.png")
    Image.new("L", (200, 200), 128).save(folder / "2_1.png")
    done = _bench("--images", str(folder), "--gallery", "0")
    assert done.returncode == 2
    assert "needs 2 or more fingers with the same number (2 or more) of impressions" in done.stderr
    done = _bench("--calibrate")
    assert done.returncode == 2 and "--calibrate needs --images" in done.stderr


def test_unreadable_and_blank_captures_count_as_refused_not_as_errors(tmp_path: Path) -> None:
    folder = tmp_path / "blank"
    folder.mkdir()
    for name in ("1_1.png", "1_2.png", "2_1.png"):
        Image.new("L", (200, 200), 128).save(folder / name)
    (folder / "2_2.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))  # damaged
    done = _bench("--images", str(folder), "--gallery", "0")
    assert done.returncode == 0, done.stderr
    assert "refused captures (FVC failure to enrol: no template): 4 of 4 (100.0 %)" in done.stdout
    assert "unreadable: " in done.stdout and "truncated" in done.stdout
    # Every genuine pair holds a refused capture, so every one is a false non-match.
    assert "FNMR 100.00 %" in done.stdout


def _error_rates():  # noqa: ANN202
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import error_rates
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return error_rates


def test_error_rates_count_refusals_as_fvc_does() -> None:
    er = _error_rates()
    genuine = np.array([0.9, 0.8, 0.7, er.REFUSED])
    impostor = np.array([0.1, 0.2, 0.75, er.REFUSED, er.REFUSED])
    # At 0.75: two genuine of four below (0.7 and the refused one), one impostor of five
    # at or above; a refused impostor pair never matches.
    fnmr, fmr = er.at_threshold(genuine, impostor, 0.75)
    assert (fnmr, fmr) == (0.5, 0.2)
    r = er.rates(genuine, impostor, (0.01, 0.2))
    # The lowest threshold letting no impostor through is just above 0.75: the next level.
    threshold, fnmr, fmr = r["targets"][0.01]
    assert threshold == 0.8 and fmr == 0.0 and fnmr == 0.5
    assert r["targets"][0.2][:2] == (0.7, 0.25)  # 0.75 is the one impostor let through
    assert 0.2 <= r["eer"] <= 0.25
    assert er.rates(np.array([0.9, 0.8]), np.array([0.1, 0.2]))["eer"] == 0.0
    assert er.allowed_above(0.001, 2880).startswith("2 of 2880")
    assert er.allowed_above(0.001, 999) == "too few impostor pairs to measure"
