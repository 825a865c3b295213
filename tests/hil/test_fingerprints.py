"""The synthetic fingerprint generator: determinism, ground truth, realism, files."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from controller.biometrics.template import BIFURCATION, ENDING
from hil.fingerprints import (
    CONDITIONS,
    UNUSABLE,
    TruthError,
    dataset,
    load_folder,
    load_impression,
    make_impression,
    make_master,
)
from hil.fingerprints import sets as sets_module
from hil.fingerprints.__main__ import main as cli_main
from hil.fingerprints.fields import PATTERN_SHARES, PATTERNS, choose_pattern, singular_points
from hil.fingerprints.measure import ridge_area, ridge_period
from hil.fingerprints.minutiae import clean_ridges, crossing_number
from hil.fingerprints.sets import (
    MAX_PNG_BYTES,
    MAX_RECORD_BYTES,
    MIXED_SHARES,
    finger_seed,
    image_name,
    impression_condition,
)

ROOT = Path(__file__).resolve().parents[2]
MM2_PER_PIXEL = (25.4 / 500) ** 2


@pytest.fixture(scope="module")
def master():
    return make_master(101)


@pytest.fixture(scope="module")
def other_master():
    return make_master(202)


def test_master_is_deterministic(master) -> None:
    again = make_master(101)
    assert again.pattern == master.pattern
    assert again.ridges.tobytes() == master.ridges.tobytes()
    assert np.array_equal(again.minutiae.x, master.minutiae.x)
    assert np.array_equal(again.minutiae.angle, master.minutiae.angle)


def test_impression_is_deterministic(master) -> None:
    a = make_impression(master, 7, condition="dry")
    b = make_impression(master, 7, condition="dry")
    assert a.image.tobytes() == b.image.tobytes()
    assert np.array_equal(a.minutiae.x, b.minutiae.x)
    assert (a.rotation, a.offset) == (b.rotation, b.offset)
    assert make_impression(master, 8, condition="dry").image.tobytes() != a.image.tobytes()


def test_master_attributes(master) -> None:
    assert master.seed == 101
    assert master.pattern in PATTERNS
    assert master.ridges.shape == master.mask.shape == master.orientation.shape == (480, 400)
    assert master.period.shape == (480, 400)
    assert master.ridges.dtype == np.float32 and master.mask.dtype == bool
    assert -1.0 <= master.ridges.min() and master.ridges.max() <= 1.0
    m = master.minutiae
    assert set(np.unique(m.kind)) <= {ENDING, BIFURCATION}
    assert ((m.angle >= 0) & (m.angle < 2 * np.pi)).all()
    assert master.mask[m.y.astype(int), m.x.astype(int)].all()


def test_different_fingers_differ(master, other_master) -> None:
    a, b = (
        master.ridges[master.mask & other_master.mask],
        other_master.ridges[master.mask & other_master.mask],
    )
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.2
    ia = make_impression(master, 1, condition="good").image.astype(float)
    ib = make_impression(other_master, 1, condition="good").image.astype(float)
    assert abs(np.corrcoef(ia.ravel(), ib.ravel())[0, 1]) < 0.5
    assert finger_seed(0, 0) != finger_seed(0, 1) != finger_seed(1, 0)


def test_minutiae_density_of_a_real_finger(master, other_master) -> None:
    for m in (master, other_master):
        area = float(m.mask.sum()) * MM2_PER_PIXEL
        density = len(m.minutiae) / area
        assert 0.12 < density < 0.6, density
        assert 0.2 < np.mean(m.minutiae.kind == ENDING) < 0.8


def test_minutia_directions_follow_the_convention(master) -> None:
    """An ending points into its ridge, a bifurcation into the valley between its branches."""
    binary = master.ridges > 0
    m = master.minutiae
    agree = []
    for x, y, angle, kind in zip(m.x, m.y, m.angle, m.kind, strict=True):
        steps = np.array([4.0, 5.0, 6.0])
        xs = np.round(x + steps * np.cos(angle)).astype(int)
        ys = np.round(y - steps * np.sin(angle)).astype(int)
        on_ridge = binary[ys, xs].mean() > 0.5
        agree.append(on_ridge if kind == ENDING else not on_ridge)
    assert np.mean(agree) > 0.85


def test_ground_truth_marks_real_features_of_the_master(master) -> None:
    """Every ground-truth minutia sits on an ending or fork of the master's own skeleton."""
    from skimage.morphology import skeletonize

    skeleton = skeletonize(clean_ridges(master.ridges, float(master.period.mean())))
    cn = crossing_number(skeleton)
    m = master.minutiae
    ys, xs = np.nonzero(skeleton & ((cn == 1) | (cn == 3)))
    kinds = np.where(cn[ys, xs] == 1, ENDING, BIFURCATION)
    for x, y, kind in zip(m.x, m.y, m.kind, strict=True):
        near = (np.abs(xs - x) <= 1) & (np.abs(ys - y) <= 1)
        assert near.any() and kind in kinds[near]


def test_ground_truth_is_what_the_image_shows(master) -> None:
    """The impression is the master seen through its placement, and its ridges carry the
    ground-truth minutiae: the master sampled through ``to_master`` matches the image, and
    the impression's own skeleton has a minutia next to most ground-truth ones."""
    imp = make_impression(master, 3, condition="good")
    h, w = imp.image.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    mx, my = imp.placement.to_master(xx, yy)
    from scipy import ndimage

    profile = ndimage.map_coordinates(master.ridges, [my, mx], order=1)
    inside = imp.contact
    corr = np.corrcoef(imp.image[inside].astype(float), profile[inside])[0, 1]
    assert corr < -0.7  # ridges are dark
    assert len(imp.minutiae) >= 15

    from skimage.morphology import skeletonize

    smooth = ndimage.gaussian_filter(imp.image.astype(float), 1.0)
    local = ndimage.uniform_filter(smooth, 15)
    binary = clean_ridges(np.where(inside, local - smooth, -1.0), float(master.period.mean()))
    skeleton = skeletonize(binary)
    cn = crossing_number(skeleton)
    ys, xs = np.nonzero(skeleton & ((cn == 1) | (cn == 3)))
    found = [
        np.min(np.hypot(xs - x, ys - y)) <= 6.0
        for x, y in zip(imp.minutiae.x, imp.minutiae.y, strict=True)
    ]
    assert np.mean(found) > 0.75


def test_placement_inverse_and_rigid_part(master) -> None:
    imp = make_impression(master, 4, condition="normal")
    p = imp.placement
    xs, ys = np.meshgrid(np.linspace(60, 340, 15), np.linspace(60, 420, 15))
    ix, iy = p.to_image(xs, ys)
    bx, by = p.to_master(ix, iy)
    assert np.max(np.hypot(bx - xs, by - ys)) < 0.05
    # At the close-contact centre the skin does not move: only the rigid motion is left.
    cx, cy = p.centre
    x0, y0 = p.to_image(cx, cy)
    c, s = np.cos(imp.rotation), np.sin(imp.rotation)
    ux, uy = cx - master.width / 2, cy - master.height / 2
    assert x0 == pytest.approx(c * ux + s * uy + 128 + imp.offset[0], abs=1e-6)
    assert y0 == pytest.approx(-s * ux + c * uy + 144 + imp.offset[1], abs=1e-6)
    turned = p.angles_to_image(cx, cy, 0.3)
    assert float(turned) == pytest.approx((0.3 + imp.rotation) % (2 * np.pi), abs=1e-3)


def test_impressions_of_one_finger_share_ground_truth(master) -> None:
    a = make_impression(master, 11, condition="normal")
    b = make_impression(master, 12, condition="normal")
    common, ia, ib = np.intersect1d(a.master_index, b.master_index, return_indices=True)
    assert len(common) >= 8
    # Carry a's ground truth through the master into b: it lands on b's ground truth.
    mx, my = a.placement.to_master(a.minutiae.x[ia], a.minutiae.y[ia])
    bx, by = b.placement.to_image(mx, my)
    assert np.max(np.hypot(bx - b.minutiae.x[ib], by - b.minutiae.y[ib])) < 0.1
    assert np.array_equal(a.minutiae.kind[ia], b.minutiae.kind[ib])
    turn = np.angle(np.exp(1j * (b.minutiae.angle[ib] - a.minutiae.angle[ia])))
    expected = np.angle(np.exp(1j * (b.rotation - a.rotation)))
    assert np.median(np.abs(np.angle(np.exp(1j * (turn - expected))))) < 0.1


def test_creases_of_the_skin_show_in_every_impression(other_master) -> None:
    """A crease belongs to the finger: where it crosses ridge crests they print light, in
    each capture, while crests away from it print dark."""
    from scipy import ndimage

    m = other_master
    assert len(m.creases) >= 1
    x0, y0, x1, y1, _ = (float(v) for v in m.creases[0])
    for seed in (1, 2):
        imp = make_impression(m, seed, condition="good")
        h, w = imp.image.shape
        yy, xx = np.mgrid[0:h, 0:w].astype(float)
        mx, my = imp.placement.to_master(xx, yy)
        crest = ndimage.map_coordinates(m.ridges, [my, mx], order=1) > 0.6
        ux, uy = x1 - x0, y1 - y0
        t = np.clip(((mx - x0) * ux + (my - y0) * uy) / (ux * ux + uy * uy), 0.0, 1.0)
        distance = np.hypot(mx - x0 - t * ux, my - y0 - t * uy)
        on = crest & imp.contact & (distance < 0.5)
        off = crest & imp.contact & (distance > 12)
        assert on.sum() >= 10
        image = imp.image.astype(float)
        assert image[on].mean() > np.median(image[off]) + 40


def test_ground_truth_lies_inside_the_contact(master) -> None:
    for seed in range(3):
        imp = make_impression(master, 20 + seed, condition="poor")
        x = np.round(imp.minutiae.x).astype(int)
        y = np.round(imp.minutiae.y).astype(int)
        assert imp.contact[y, x].all()


@pytest.mark.parametrize("condition", CONDITIONS)
def test_every_condition_gives_an_image_with_ridges(master, condition) -> None:
    imp = make_impression(master, 5, condition=condition)
    assert imp.image.dtype == np.uint8 and imp.image.shape == (288, 256)
    assert imp.usable and imp.condition == condition and imp.finger_seed == 101
    assert ridge_area(imp.image) > 0.1
    assert abs(imp.rotation) <= np.radians(25)


def test_ridge_period_in_the_500_dpi_range(master, other_master) -> None:
    for m in (master, other_master):
        true = float(m.period[m.mask].mean())
        assert 7.5 <= true <= 11.5
        measured = ridge_period(make_impression(m, 2, condition="good").image)
        assert 7.0 <= measured <= 12.0
        assert abs(measured - true) < 1.2


@pytest.mark.parametrize("kind", UNUSABLE)
def test_unusable_captures_have_little_ridge_area(master, kind) -> None:
    for seed in (1, 2):
        imp = make_impression(master, seed, condition=kind)
        assert not imp.usable
        assert len(imp.minutiae) == 0
        assert ridge_area(imp.image) < 0.08
    if kind == "black":
        assert np.median(imp.image) < 80


def test_small_master_and_large_image() -> None:
    small = make_master(7, 256, 288)
    assert small.ridges.shape == (288, 256) and len(small.minutiae) > 10
    imp = make_impression(small, 1, width=640, height=480, condition="good")
    assert imp.image.shape == (480, 640)
    # A 13 x 14.6 mm finger on a 32 x 24 mm glass: most of the image is background.
    assert 0.1 < imp.contact.mean() < 0.5
    assert imp.contact[
        np.round(imp.minutiae.y).astype(int), np.round(imp.minutiae.x).astype(int)
    ].all()


def test_mixed_condition_shares() -> None:
    drawn = Counter(impression_condition(4, f, i, "mixed") for f in range(400) for i in range(8))
    for name, share in MIXED_SHARES.items():
        assert drawn[name] / 3200 == pytest.approx(share, abs=0.03)
    assert impression_condition(4, 0, 0, "dry") == "dry"


def test_sizes_up_to_640x480(master) -> None:
    imp = make_impression(master, 1, width=640, height=480)
    assert imp.image.shape == (480, 640)
    assert imp.minutiae.x.max() < 640 and imp.minutiae.y.max() < 480


@pytest.mark.parametrize(
    "width,height", [(255, 288), (256, 287), (641, 480), (640, 481), (0, 0), (-256, 288)]
)
def test_image_size_out_of_range(master, width, height) -> None:
    with pytest.raises(ValueError, match="image size"):
        make_impression(master, 1, width=width, height=height)


def test_bad_parameters_are_refused(master) -> None:
    with pytest.raises(ValueError, match="unknown condition"):
        make_impression(master, 1, condition="sweaty")
    with pytest.raises(ValueError, match="seed"):
        make_impression(master, -1)
    with pytest.raises(TypeError, match="seed"):
        make_impression(master, True)
    with pytest.raises(TypeError, match="seed"):
        make_master(1.5)
    with pytest.raises(TypeError, match="integers"):
        make_impression(master, 1, width=256.0)
    with pytest.raises(TypeError, match="MasterFinger"):
        make_impression("finger", 1)
    with pytest.raises(ValueError, match="master size"):
        make_master(1, width=100, height=100)
    with pytest.raises(ValueError, match="master size"):
        make_master(1, width=5000, height=480)
    with pytest.raises(ValueError, match="fingers"):
        dataset(-1, 2)
    with pytest.raises(ValueError, match="impressions"):
        dataset(1, 0)
    with pytest.raises(ValueError, match="condition"):
        dataset(1, 1, condition="soaked")
    with pytest.raises(ValueError, match="image size"):
        dataset(1, 1, width=100)


def test_pattern_classes_have_natural_frequencies() -> None:
    rng = np.random.default_rng(3)
    counts = Counter(choose_pattern(rng) for _ in range(20000))
    for name, share in zip(PATTERNS, PATTERN_SHARES, strict=True):
        assert counts[name] / 20000 == pytest.approx(share / sum(PATTERN_SHARES), abs=0.01)


@pytest.mark.parametrize(
    "pattern,cores,deltas",
    [
        ("arch", 0, 0),
        ("tented_arch", 1, 1),
        ("left_loop", 1, 1),
        ("right_loop", 1, 1),
        ("whorl", 2, 2),
        ("double_loop", 2, 2),
    ],
)
def test_singular_points_of_each_class(pattern, cores, deltas) -> None:
    c, d = singular_points(pattern, np.random.default_rng(1), 400, 480)
    assert (len(c), len(d)) == (cores, deltas)
    if pattern == "left_loop":
        assert d[0, 0] > c[0, 0] and d[0, 1] > c[0, 1]  # delta lower right
    if pattern == "right_loop":
        assert d[0, 0] < c[0, 0] and d[0, 1] > c[0, 1]  # delta lower left


# --- files: the dataset cache and the command line -------------------------------------


@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    made = list(dataset(1, 2, seed=9, cache_dir=cache, condition="normal"))
    folder = next(cache.iterdir())
    return cache, folder, made


def test_dataset_cache_reads_back_what_it_wrote(cached) -> None:
    cache, folder, made = cached
    assert sorted(p.name for p in folder.iterdir()) == [
        "f0001_1.json",
        "f0001_1.png",
        "f0001_1_contact.png",
        "f0001_2.json",
        "f0001_2.png",
        "f0001_2_contact.png",
    ]
    again = list(dataset(1, 2, seed=9, cache_dir=cache, condition="normal"))
    for (f0, i0, a), (f1, i1, b) in zip(made, again, strict=True):
        assert (f0, i0) == (f1, i1)
        assert a.image.tobytes() == b.image.tobytes()
        assert np.array_equal(a.contact, b.contact)
        assert np.allclose(a.minutiae.x, b.minutiae.x, atol=0.01)
        assert np.allclose(a.minutiae.angle, b.minutiae.angle, atol=1e-4)
        assert np.array_equal(a.master_index, b.master_index)
        assert (a.rotation, a.offset, a.pattern) == (b.rotation, b.offset, b.pattern)


def _copy_entry(folder: Path, dest: Path) -> dict:
    for suffix in (".json", ".png", "_contact.png"):
        (dest / ("f0001_1" + suffix)).write_bytes((folder / ("f0001_1" + suffix)).read_bytes())
    return json.loads((dest / "f0001_1.json").read_text())


def _forged(record: dict, **changes) -> dict:
    out = json.loads(json.dumps(record))
    out.update(changes)
    return out


def test_damaged_and_forged_cache_entries_are_refused(cached, tmp_path) -> None:
    _, folder, _ = cached
    record = _copy_entry(folder, tmp_path)
    png = tmp_path / "f0001_1.png"
    good_png = png.read_bytes()
    json_path = tmp_path / "f0001_1.json"

    def refused(data: bytes | str, match: str) -> None:
        json_path.write_bytes(data if isinstance(data, bytes) else data.encode())
        with pytest.raises(TruthError, match=match):
            load_impression(tmp_path, "f0001_1")

    minutia = record["minutiae"][0]
    refused(b"{not json", "not JSON")
    refused(b"\xff\xfe\x00", "not JSON")
    refused("[1, 2]", "not a JSON object")
    refused(b" " * (MAX_RECORD_BYTES + 1), "larger than")
    refused("[" * 100000 + "]" * 100000, "not JSON")
    refused(json.dumps(_forged(record, generator=99)), "generator")
    refused(json.dumps(_forged(record, width=100000)), "image size")
    refused(json.dumps(_forged(record, width="256")), "malformed")
    refused(json.dumps(_forged(record, image="../f0001_1.png")), "plain file name")
    refused(json.dumps(_forged(record, image="/etc/passwd")), "plain file name")
    refused(json.dumps(_forged(record, sha256="0" * 64)), "digest")
    refused(json.dumps(_forged(record, minutiae=[[500.0, 1.0, 0.5, 1, 0]])), "outside")
    refused(json.dumps(_forged(record, minutiae=[[1.0, 1.0, 0.5, 7, 0]])), "kind")
    refused(json.dumps(_forged(record, minutiae=[[1.0, 1.0, "NaN", 1, 0]])), "malformed")
    refused(json.dumps(_forged(record, minutiae=[minutia[:3]])), "not \\[x, y")
    refused(json.dumps(_forged(record, minutiae=[minutia] * 5000)), "at most")
    refused(json.dumps(_forged(record, minutiae="many")), "at most")
    bad = _forged(record)
    bad["placement"]["rotation"] = float("inf")
    refused(json.dumps(bad), "non-finite")
    bad = _forged(record)
    del bad["placement"]["radii"]
    refused(json.dumps(bad), "malformed")
    refused(json.dumps(_forged(record, placement=[1, 2])), "placement")

    json_path.write_text(json.dumps(record))
    load_impression(tmp_path, "f0001_1")  # the untouched record still loads
    png.write_bytes(good_png[:100])
    refused(json.dumps(_forged(record, sha256=hashlib.sha256(good_png[:100]).hexdigest())), "PNG")
    Image.new("L", (300, 300)).save(png)
    refused(
        json.dumps(_forged(record, sha256=hashlib.sha256(png.read_bytes()).hexdigest())),
        "expected a 256x288",
    )
    png.write_bytes(b"\x89PNG" + bytes(MAX_PNG_BYTES))
    refused(json.dumps(record), "larger than")
    png.unlink()
    refused(json.dumps(record), "cannot read")
    with pytest.raises(TruthError, match="cannot read"):
        load_impression(tmp_path, "f0009_9")


def test_command_line_writes_what_it_says(tmp_path, cached) -> None:
    out = tmp_path / "set"
    done = subprocess.run(
        [sys.executable, "-m", "hil.fingerprints", "--fingers", "1", "--impressions", "2",
         "--size", "256x288", "--seed", "9", "--condition", "normal", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2 images" in done.stdout
    truth = json.loads((out / "truth.json").read_text())
    assert (truth["fingers"], truth["impressions"], truth["seed"]) == (1, 2, 9)
    assert [r["image"] for r in truth["images"]] == ["f0001_1.png", "f0001_2.png"]
    _, _, made = cached
    for record, (_, _, impression) in zip(truth["images"], made, strict=True):
        data = (out / record["image"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == record["sha256"]
        with Image.open(out / record["image"]) as img:
            assert (img.size, img.mode) == ((256, 288), "L")
            # Another interpreter made the same bytes as this one.
            assert np.asarray(img).tobytes() == impression.image.tobytes()
        assert len(record["minutiae"]) == len(impression.minutiae)
    assert image_name(0, 1) == "f0001_2"
    loaded = list(load_folder(out))
    assert [(f, i) for f, i, _ in loaded] == [(0, 0), (0, 1)]
    for (_, _, back), (_, _, impression) in zip(loaded, made, strict=True):
        assert back.image.tobytes() == impression.image.tobytes()
        assert np.array_equal(back.master_index, impression.master_index)
        assert back.contact is None and back.condition == "normal"


def test_damaged_and_forged_set_folders_are_refused(tmp_path, cached, monkeypatch) -> None:
    _, folder, _ = cached
    record = _copy_entry(folder, tmp_path)
    record.update(finger=1, impression=1)
    truth_path = tmp_path / "truth.json"

    def refused(truth: object, match: str) -> None:
        data = truth if isinstance(truth, bytes) else json.dumps(truth).encode()
        truth_path.write_bytes(data)
        with pytest.raises(TruthError, match=match):
            list(load_folder(tmp_path))

    whole = {"generator": record["generator"], "images": [record]}
    truth_path.write_text(json.dumps(whole))
    assert len(list(load_folder(tmp_path))) == 1
    refused(b"\x00\x01", "not JSON")
    refused({"generator": 0, "images": [record]}, "not a truth file")
    refused({"generator": record["generator"], "images": {"a": 1}}, "not a truth file")
    refused({**whole, "images": ["f0001_1.png"]}, "not a JSON object")
    refused({**whole, "images": [{**record, "finger": "1"}]}, "must be integers")
    refused({**whole, "images": [{**record, "impression": 0}]}, "out of range")
    refused({**whole, "images": [{**record, "impression": 2}]}, "does not match its numbers")
    refused({**whole, "images": [{**record, "width": 2**70}]}, "image size")
    monkeypatch.setattr(sets_module, "MAX_TRUTH_BYTES", 1000)
    refused(whole, "larger than")
    truth_path.unlink()
    with pytest.raises(TruthError, match="cannot read"):
        load_folder(tmp_path)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--size", "10x10"], "image size"),
        (["--size", "big"], "WIDTHxHEIGHT|size"),
        (["--fingers", "0"], "fingers"),
        (["--impressions", "-3"], "impressions"),
        (["--condition", "sweaty"], "invalid choice"),
    ],
)
def test_command_line_refuses_bad_arguments(tmp_path, capsys, args, message) -> None:
    base = {"--fingers": "1", "--impressions": "1", "--out": str(tmp_path / "x")}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    with pytest.raises(SystemExit) as stop:
        cli_main([item for pair in base.items() for item in pair])
    assert stop.value.code == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "x").exists()
