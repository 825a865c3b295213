"""``shailoo bio``: fingerprint templates from the command line.

``extract`` writes one ISO/IEC 19794-2:2005 record per image; ``match`` scores a probe
record against candidate records; ``identify`` ranks a folder of records (a gallery,
one ``<name>.iso`` per person) for a probe; ``enroll`` consolidates several
impressions of each finger into one reference record. Scores are the matcher's, in
[0, 1], higher meaning more alike; docs/biometrics.md gives the thresholds.

A record with several views is compared view by view and its best score counts. A
file that is not a valid record stops the command with a message that names it.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from controller.biometrics import enroll as enrollment
from controller.biometrics import iso19794_2
from controller.biometrics.extract import extract as extract_minutiae
from controller.biometrics.images import ImageInputError, load_image
from controller.biometrics.match.gallery import Gallery
from controller.biometrics.match.matcher import Template, compare
from controller.biometrics.template import FingerRecord, FingerView

MAX_GALLERY_FILES = 200_000
SUFFIX = ".iso"


def _raw_size(_ctx: click.Context, _param: click.Parameter, value: str | None):  # noqa: ANN202
    if value is None:
        return None
    try:
        width, height = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter("give WIDTHxHEIGHT, for example 256x288") from None
    return width, height


_raw_option = click.option(
    "--raw",
    "raw_size",
    default=None,
    metavar="WIDTHxHEIGHT",
    callback=_raw_size,
    help="The images are raw 8-bit grey pixels of this size (no file header).",
)
_dpi_option = click.option(
    "--dpi", default=500, show_default=True, type=click.IntRange(250, 1000),
    help="Resolution of the images.",
)


@click.group()
def bio() -> None:
    """Fingerprints: extract, match, identify."""


@bio.command()
@click.argument("images", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_dpi_option
@_raw_option
@click.option("--out-dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the <image stem>.iso records.")
@click.option("--finger", default=0, show_default=True, type=click.IntRange(0, 10),
              help="ISO finger position written into the records (0 unknown).")
def extract(
    images: tuple[Path, ...], dpi: int, raw_size: tuple[int, int] | None, out_dir: Path,
    finger: int,
) -> None:
    """Extract minutiae from fingerprint IMAGES into ISO/IEC 19794-2 records.

    Prints one JSON object per image: the record written, or why the capture was
    refused. Exits 1 when any image was refused or could not be read.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = False
    for path in images:
        line: dict = {"image": str(path)}
        try:
            gray = load_image(path, raw_size=raw_size)
        except ImageInputError as err:
            line.update(status="error", reason=str(err))
            failed = True
            click.echo(json.dumps(line, ensure_ascii=False))
            continue
        found = extract_minutiae(gray, dpi)
        line["quality"] = found.quality
        if not found.usable:
            line.update(status="refused", reason=found.reason, message=found.message)
            failed = True
            click.echo(json.dumps(line, ensure_ascii=False))
            continue
        ppcm = int(round(dpi / 2.54))
        record = FingerRecord(
            width=found.width,
            height=found.height,
            views=[FingerView(found.minutiae, finger=finger, quality=found.quality)],
            x_ppcm=ppcm,
            y_ppcm=ppcm,
        )
        target = out_dir / (path.stem + ".iso")
        _write(target, iso19794_2.encode(record))
        line.update(status="ok", record=str(target), minutiae=len(found.minutiae))
        click.echo(json.dumps(line, ensure_ascii=False))
    if failed:
        raise SystemExit(1)


@bio.command()
@click.argument("probe", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("candidates", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
def match(probe: Path, candidates: tuple[Path, ...]) -> None:
    """Score the PROBE record against each CANDIDATE record (1:1).

    Prints a JSON list of {"candidate", "score"} in the order given.
    """
    probe_views = _templates(probe)
    out = []
    for path in candidates:
        views = _templates(path)
        best = max((compare(p, c) for p in probe_views for c in views), default=0.0)
        out.append({"candidate": str(path), "score": round(best, 4)})
    click.echo(json.dumps(out, indent=2))


@bio.command()
@click.argument("probe", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--gallery", "gallery_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of <name>.iso records, one per person.")
@click.option("--top", default=5, show_default=True, type=click.IntRange(1, 1000))
def identify(probe: Path, gallery_dir: Path, top: int) -> None:
    """Rank the records of a gallery folder for the PROBE record (1:N).

    Prints a JSON list of {"rank", "candidate", "score"}, best first, where candidate
    is the file name without ".iso".
    """
    files = sorted(p for p in gallery_dir.iterdir() if p.suffix == SUFFIX)
    if len(files) > MAX_GALLERY_FILES:
        raise click.ClickException(
            "%s holds %d records; at most %d" % (gallery_dir, len(files), MAX_GALLERY_FILES)
        )
    if not files:
        raise click.ClickException("%s holds no .iso records" % gallery_dir)
    gallery = Gallery((path.stem, view) for path in files for view in _templates(path))
    best: dict[str, float] = {}
    for view in _templates(probe):
        for name, value in gallery.search(view, top):
            best[str(name)] = max(value, best.get(str(name), -1.0))
    ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))[:top]
    out = [
        {"rank": rank, "candidate": name, "score": round(value, 4)}
        for rank, (name, value) in enumerate(ranked, start=1)
    ]
    click.echo(json.dumps(out, indent=2))


@bio.command()
@click.argument("impressions", nargs=-1, required=True, metavar="[FINGER:]IMAGE...")
@_dpi_option
@_raw_option
@click.option("--out", "out_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The record to write.")
def enroll(
    impressions: tuple[str, ...], dpi: int, raw_size: tuple[int, int] | None, out_path: Path
) -> None:
    """Consolidate impressions of each finger into one reference record.

    Each argument is an image, optionally prefixed by its ISO finger position
    (``2:index1.png`` for the right index finger; 0, unknown, without a prefix). Every
    finger needs 2 to 8 impressions of the same finger.
    """
    fingers: dict[int, list] = {}
    for item in impressions:
        position, path = _finger_and_path(item)
        try:
            gray = load_image(path, raw_size=raw_size)
        except ImageInputError as err:
            raise click.ClickException(str(err)) from None
        found = extract_minutiae(gray, dpi)
        if not found.usable:
            raise click.ClickException(
                "%s: capture refused (%s): %s" % (path, found.reason, found.message)
            )
        fingers.setdefault(position, []).append(found.minutiae)
    try:
        made = enrollment.enroll(fingers, ppcm=int(round(dpi / 2.54)))
    except enrollment.EnrollmentError as err:
        raise click.ClickException(str(err)) from None
    record = made.record
    _write(out_path, iso19794_2.encode(record))
    click.echo(json.dumps({
        "record": str(out_path),
        "fingers": sorted(fingers),
        "left_out": {str(f): k for f, k in made.left_out.items()},
        "views": [
            {"finger": v.finger, "view": v.view, "minutiae": len(v.minutiae)} for v in record.views
        ],
    }))


def _finger_and_path(item: str) -> tuple[int, Path]:
    head, sep, tail = item.partition(":")
    if sep and head.isdigit():
        position, path = int(head), Path(tail)
        if not 0 <= position <= 10:
            raise click.BadParameter("finger position %d is not 0-10" % position)
    else:
        position, path = 0, Path(item)
    if not path.is_file():
        raise click.BadParameter("%s is not a file" % path)
    return position, path


def _templates(path: Path) -> list[Template]:
    """The prepared views of one record file; a ClickException naming it if it is bad."""
    try:
        with path.open("rb") as f:
            data = f.read(iso19794_2.MAX_RECORD_BYTES + 1)
        record = iso19794_2.parse(data)
    except OSError as err:
        raise click.ClickException("%s: cannot read: %s" % (path, err.strerror)) from None
    except iso19794_2.IsoRecordError as err:
        raise click.ClickException("%s: %s" % (path, err)) from None
    return [Template.from_minutiae(v.minutiae, record.x_ppcm, record.y_ppcm) for v in record.views]


def _write(path: Path, data: bytes) -> None:
    temp = path.with_name(path.name + ".tmp")
    temp.write_bytes(data)
    temp.replace(path)
