"""Fingerprint accuracy and speed on real image sets (``bench/biometrics.py --images``).

Every set (``hil.fvc``: FVC layout, ``<finger>_<impression>`` images) is extracted image
by image in this process, numpy single-threaded, timed in wall-clock and CPU time.
Comparisons follow the FVC protocol: genuine pairs are every two impressions of one
finger (280 for 10 x 8); impostor pairs are either FVC's 45 first impressions of
different fingers or, for rates that need more of them, every impression against every
impression of each other finger (2,880). A pair with a refused capture counts as FVC
counts it: a genuine one as a false non-match, an impostor one as a correct rejection;
the rates with such pairs left out are printed apart and labelled.

``--calibrate`` pools every set and compares every two captures of different fingers,
within a set and across sets, and prints the threshold table of
``controller/biometrics/thresholds.py``: the counted thresholds per target false-match
rate, the rates too small to count extrapolated from the impostor tail, and the
highest impostor score met (1:1, and by an outsider in 1:N).

1:N: per set, the first fingers are enrolled (impressions 1-3 consolidated, as at a
station), the next ones are outsiders whose every impression is searched but must
name nobody, and the last ones are raw material only: their extracted minutiae sets,
turned, moved, cut and joined pairwise (``hil.mixed_templates``), fill the gallery up to
``--gallery`` templates. Every usable capture of every set is searched; the search
times are over all of them.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from error_rates import REFUSED, allowed_above, at_threshold, print_rates, rates

from controller.biometrics import thresholds
from controller.biometrics.enroll import EnrollmentError, enroll
from controller.biometrics.extract import extract
from controller.biometrics.images import ImageInputError, load_image
from controller.biometrics.match.gallery import Gallery
from controller.biometrics.match.matcher import Template, compare
from controller.biometrics.template import DEFAULT_PPCM, Minutiae
from controller.checkin.finger_check import IDENTIFY_MARGIN
from hil.fvc import FingerSet, genuine_pairs, impostor_pairs_all, impostor_pairs_first
from hil.mixed_templates import MixedTemplates

Key = tuple[int, int]  # (finger, impression), both from 0
EXTRAPOLATED = (1e-5, 1e-6)  # false-match rates beyond counting, for 1:N


@dataclass
class ExtractedSet:
    """One set's captures: minutiae (None when refused), templates, reasons and times."""

    fset: FingerSet
    minutiae: dict[Key, Minutiae | None] = field(default_factory=dict)
    templates: dict[Key, Template | None] = field(default_factory=dict)
    reasons: Counter = field(default_factory=Counter)
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)

    @property
    def ppcm(self) -> int:
        """Pixels per centimetre of the set's images."""
        return int(round(self.fset.dpi / 2.54))

    @property
    def refused(self) -> int:
        """Captures the extractor refused (or that could not be read)."""
        return sum(1 for m in self.minutiae.values() if m is None)

    def scores(self, pairs: list[tuple[Key, Key]]) -> np.ndarray:
        """The score of each pair; ``REFUSED`` where either capture was refused."""
        out = np.full(len(pairs), REFUSED)
        for k, (a, b) in enumerate(pairs):
            ta, tb = self.templates[a], self.templates[b]
            if ta is not None and tb is not None:
                out[k] = compare(ta, tb)
        return out


def extract_set(fset: FingerSet) -> ExtractedSet:
    """Read and extract every image of ``fset``, timing each extraction."""
    done = ExtractedSet(fset)
    warmed = False
    for f in range(fset.fingers):
        for i in range(fset.impressions):
            path = fset.paths[f][i]
            try:
                gray = load_image(path)
            except ImageInputError as err:
                done.minutiae[(f, i)] = done.templates[(f, i)] = None
                done.reasons["unreadable: %s" % err] += 1
                continue
            if not warmed:
                extract(gray, fset.dpi)  # the first call pays for imports and FFT plans
                warmed = True
            t0, c0 = time.perf_counter(), time.process_time()
            found = extract(gray, fset.dpi)
            done.wall_ms.append(1000 * (time.perf_counter() - t0))
            done.cpu_ms.append(1000 * (time.process_time() - c0))
            if found.usable:
                done.minutiae[(f, i)] = found.minutiae
                done.templates[(f, i)] = Template.from_minutiae(
                    found.minutiae, done.ppcm, done.ppcm
                )
            else:
                done.minutiae[(f, i)] = done.templates[(f, i)] = None
                done.reasons[str(found.reason)] += 1
    return done


@dataclass
class SetFigures:
    """What one set (or the pool) measured, for the summary table."""

    name: str
    images: int
    refused: int
    minutiae: np.ndarray
    wall_ms: np.ndarray
    cpu_ms: np.ndarray
    genuine: np.ndarray
    impostor_all: np.ndarray
    impostor_first: np.ndarray


def report_set(done: ExtractedSet) -> SetFigures:
    """Print one set's figures and return them."""
    fset = done.fset
    n = fset.fingers * fset.impressions
    counts = np.array([len(m) for m in done.minutiae.values() if m is not None])
    print(
        "\n== %s: %d fingers x %d impressions, %d dpi (%s)"
        % (fset.name, fset.fingers, fset.impressions, fset.dpi, fset.dpi_source)
    )
    print(
        "  refused captures (FVC failure to enrol: no template): %d of %d (%.1f %%)%s"
        % (
            done.refused,
            n,
            100 * done.refused / n,
            "; " + ", ".join("%s %d" % kv for kv in sorted(done.reasons.items()))
            if done.reasons
            else "",
        )
    )
    if len(counts):
        print(
            "  minutiae per usable capture: median %.0f, p10-p90 %.0f-%.0f"
            % (np.median(counts), np.percentile(counts, 10), np.percentile(counts, 90))
        )
    if done.wall_ms:
        w, c = np.array(done.wall_ms), np.array(done.cpu_ms)
        print(
            "  extraction, one core: median %.1f ms, p95 %.1f ms (CPU median %.1f, p95 %.1f)"
            % (np.median(w), np.percentile(w, 95), np.median(c), np.percentile(c, 95))
        )
    genuine = done.scores(genuine_pairs(fset.fingers, fset.impressions))
    impostor_all = done.scores(impostor_pairs_all(fset.fingers, fset.impressions))
    impostor_first = done.scores(impostor_pairs_first(fset.fingers))
    figures = SetFigures(
        fset.name,
        n,
        done.refused,
        counts,
        np.array(done.wall_ms),
        np.array(done.cpu_ms),
        genuine,
        impostor_all,
        impostor_first,
    )
    print_protocols(figures)
    print_enrolled(done)
    return figures


def print_protocols(fig: SetFigures) -> None:
    """EER under both impostor protocols, FNMR at FMR targets, both ways of counting refusals."""
    targets = (0.01, 0.001)
    print("  refused captures counted as non-matches (FVC):")
    print_rates(
        "    impostors = every two impressions of different fingers",
        fig.genuine,
        fig.impostor_all,
        targets,
        indent="      ",
    )
    first = rates(fig.genuine, fig.impostor_first, targets)
    print(
        "    impostors = first impressions of different fingers (FVC's %d): EER %.2f %%"
        % (len(fig.impostor_first), 100 * first["eer"])
    )
    g = fig.genuine[fig.genuine != REFUSED]
    i = fig.impostor_all[fig.impostor_all != REFUSED]
    if len(g) and len(i):
        kept = rates(g, i, targets)
        print(
            "  pairs with a refused capture left out (%d genuine, %d impostor): EER %.2f %%, "
            "FNMR %.2f %% at FMR 0.1 %%"
            % (len(g), len(i), 100 * kept["eer"], 100 * kept["targets"][0.001][1])
        )
    for name, value in (
        ("verify", thresholds.VERIFY_THRESHOLD),
        ("identify", thresholds.IDENTIFY_THRESHOLD),
    ):
        fnmr, fmr = at_threshold(fig.genuine, fig.impostor_all, value)
        print(
            "  at the %s threshold %.3f: FNMR %.2f %%, FMR %.3f %% (%d of %d impostor pairs)"
            % (
                name,
                value,
                100 * fnmr,
                100 * fmr,
                round(fmr * len(fig.impostor_all)),
                len(fig.impostor_all),
            )
        )


def enrolled_references(done: ExtractedSet, views: int = 3) -> tuple[dict, Counter, int]:
    """Each finger's reference from its first ``views`` impressions, as a station enrols.

    Returns {finger: [view templates]}, the reasons for fingers not enrolled, and how
    many references left an impression out.
    """
    references: dict[int, list[Template]] = {}
    failures: Counter = Counter()
    left_out = 0
    for f in range(done.fset.fingers):
        impressions = [done.minutiae[(f, i)] for i in range(views)]
        usable = [m for m in impressions if m is not None]
        if len(usable) < 2:
            failures["fewer than 2 usable impressions"] += 1
            continue
        try:
            made = enroll({0: usable}, ppcm=done.ppcm)
        except EnrollmentError:
            failures["impressions do not agree"] += 1
            continue
        left_out += bool(made.left_out)
        record = made.record
        references[f] = [
            Template.from_minutiae(v.minutiae, record.x_ppcm, record.y_ppcm) for v in record.views
        ]
    return references, failures, left_out


def print_enrolled(done: ExtractedSet, views: int = 3) -> None:
    """1:1 against references consolidated from the first impressions, the later ones as probes."""
    fset = done.fset
    if fset.impressions <= views:
        return
    references, failures, left_out = enrolled_references(done, views)
    genuine, impostor = [], []
    for f in range(fset.fingers):
        for i in range(views, fset.impressions):
            probe = done.templates[(f, i)]
            for g in range(fset.fingers):
                if probe is None or g not in references:
                    score = REFUSED
                else:
                    score = max(compare(probe, v) for v in references[g])
                (genuine if g == f else impostor).append(score)
    fnmr, fmr = at_threshold(np.array(genuine), np.array(impostor), thresholds.VERIFY_THRESHOLD)
    print(
        "  enrolled references (impressions 1-%d consolidated; %d fingers, %d with one "
        "left out%s), later impressions as probes: at the verify threshold FNMR %.2f %% of %d, "
        "FMR %.2f %% of %d (refusals and fingers not enrolled count as non-matches)"
        % (
            views,
            len(references),
            left_out,
            "; not enrolled: " + ", ".join("%s %d" % kv for kv in failures.items())
            if failures
            else "",
            100 * fnmr,
            len(genuine),
            100 * fmr,
            len(impostor),
        )
    )


def summary(figures: list[SetFigures]) -> None:
    """One line per set and the pool: the figures the bars are about."""
    print("\nsummary (FVC way: refused captures count as non-matches; FMR targets over the")
    print("every-impression impostor pairs, EER also over FVC's first-impression pairs)")
    print(
        "  %-16s %6s %7s %8s %9s %10s %12s %14s %28s"
        % (
            "set",
            "EER",
            "EER(45)",
            "FNMR@1%",
            "FNMR@0.1%",
            "impostors",
            "refused",
            "minutiae",
            "extract ms wall / CPU",
        )
    )
    pool = SetFigures(
        "all, pooled",
        sum(f.images for f in figures),
        sum(f.refused for f in figures),
        np.concatenate([f.minutiae for f in figures]),
        np.concatenate([f.wall_ms for f in figures]),
        np.concatenate([f.cpu_ms for f in figures]),
        np.concatenate([f.genuine for f in figures]),
        np.concatenate([f.impostor_all for f in figures]),
        np.concatenate([f.impostor_first for f in figures]),
    )
    for fig in [*figures, pool] if len(figures) > 1 else figures:
        r = rates(fig.genuine, fig.impostor_all, (0.01, 0.001))
        first = rates(fig.genuine, fig.impostor_first, (0.01,))
        print(
            "  %-16s %5.2f%% %6.2f%% %7.2f%% %8.2f%% %10d %5d (%4.1f%%) %5.0f (%2.0f-%2.0f) "
            "%5.1f /%5.1f, %5.1f /%5.1f"
            % (
                fig.name,
                100 * r["eer"],
                100 * first["eer"],
                100 * r["targets"][0.01][1],
                100 * r["targets"][0.001][1],
                len(fig.impostor_all),
                fig.refused,
                100 * fig.refused / max(fig.images, 1),
                np.median(fig.minutiae) if len(fig.minutiae) else 0,
                np.percentile(fig.minutiae, 10) if len(fig.minutiae) else 0,
                np.percentile(fig.minutiae, 90) if len(fig.minutiae) else 0,
                np.median(fig.wall_ms) if len(fig.wall_ms) else 0,
                np.percentile(fig.wall_ms, 95) if len(fig.wall_ms) else 0,
                np.median(fig.cpu_ms) if len(fig.cpu_ms) else 0,
                np.percentile(fig.cpu_ms, 95) if len(fig.cpu_ms) else 0,
            )
        )
    print(
        "  (minutiae: median (p10-p90) per usable capture; extract ms: median / p95, wall and CPU, "
        "numpy on one core; FMR 0.1 %% of a set's impostor pairs: %s)"
        % allowed_above(0.001, len(figures[0].impostor_all))
    )


def calibrate(sets: list[ExtractedSet]) -> dict:
    """Threshold per target FMR over every two usable captures of different fingers.

    Pairs within a set and across sets are pooled: a station's impostor is another
    person on the same sensor, and across sensors the matcher sees the same 500-dpi
    minutiae. Only usable captures count, since a refused one never reaches the matcher.
    """
    everything = [
        (s, key) for s in range(len(sets)) for key, t in sets[s].templates.items() if t is not None
    ]
    genuine, within, across = [], [], []
    for (s, a), (u, b) in combinations(everything, 2):
        score = compare(sets[s].templates[a], sets[u].templates[b])
        if s == u and a[0] == b[0]:
            genuine.append(score)
        elif s == u:
            within.append(score)
        else:
            across.append(score)
    impostor = np.array(within + across)
    genuine_a = np.array(genuine)
    print(
        "\ncalibration on %d sets pooled: %d usable captures, %d genuine pairs, %d impostor "
        "pairs (%d within a set, %d across sets)"
        % (len(sets), len(everything), len(genuine_a), len(impostor), len(within), len(across))
    )
    table = rates(genuine_a, impostor)
    within_rates = rates(genuine_a, np.array(within))
    print("  %-9s %9s %9s %38s %22s" % ("FMR", "threshold", "FNMR", "", "within-set only"))
    for target, (threshold, fnmr, _) in table["targets"].items():
        wt, wf, _ = within_rates["targets"][target]
        print(
            "  %-9s %9.3f %8.2f%%   %-36s threshold %.3f FNMR %.2f%%"
            % (
                "%g %%" % (100 * target),
                threshold,
                100 * fnmr,
                "(" + allowed_above(target, len(impostor)) + ")",
                wt,
                100 * wf,
            )
        )
    print(
        "  highest impostor score: %.3f within a set, %.3f across sets"
        % (max(within, default=0.0), max(across, default=0.0))
    )
    print("  EER %.2f %% (threshold %.3f)" % (100 * table["eer"], table["eer_threshold"]))
    tail = tail_thresholds(impostor, EXTRAPOLATED)
    for target, threshold in tail.items():
        print(
            "  FMR %g %%: threshold %.3f extrapolated (exponential tail fitted to the top 1 %% "
            "of impostor scores); FNMR %.2f %%"
            % (100 * target, threshold, 100 * float((genuine_a < threshold).mean()))
        )
    return {
        "table": {t: v[0] for t, v in table["targets"].items()},
        "tail": tail,
        "highest": max(within + across, default=0.0),
        "impostors": len(impostor),
    }


def tail_thresholds(impostor: np.ndarray, targets: tuple[float, ...]) -> dict[float, float]:
    """Thresholds for false-match rates too small to count, from the impostor tail.

    Peaks over a threshold: above the score that 1 % of impostor pairs reach, the excess
    is taken as exponential with the mean of the excesses seen, so P(score >= t) =
    0.01 exp(-(t - u) / mean excess). Bounded scores fall off faster than that, so the
    extrapolated thresholds err high, towards fewer false matches.
    """
    scores = np.sort(np.asarray(impostor, dtype=np.float64))
    if len(scores) < 1000:
        return {}
    u = float(np.quantile(scores, 0.99))
    excess = scores[scores > u] - u
    scale = float(excess.mean()) if len(excess) else 0.0
    return {t: u + scale * float(np.log(0.01 / t)) for t in targets}


def print_thresholds(calibration: dict, outsiders_highest: float | None) -> None:
    """The table for controller/biometrics/thresholds.py from this run.

    ``ZERO_FALSE_MATCH`` is FVC's ZeroFMR point: the lowest threshold, to 0.01, that no
    impostor comparison of this run reached, 1:1 or as an outsider's best over the 1:N
    gallery. The 0.01 % point rests on two or three pairs, so 1:N takes the higher.
    """
    highest = max(calibration["highest"], outsiders_highest or 0.0)
    zero = (np.floor(highest * 100 + 1e-9) + 1) / 100
    print("\nthresholds from this run, for controller/biometrics/thresholds.py:")
    print("BY_FALSE_MATCH_RATE = {")
    for target, threshold in calibration["table"].items():
        if target * calibration["impostors"] < 1:
            print(
                "    # %g: too few impostor pairs (%d) to measure"
                % (target, calibration["impostors"])
            )
        else:
            print("    %g: %.3f," % (target, threshold))
    print("}")
    if calibration["tail"]:
        print("EXTRAPOLATED = {")
        for target, threshold in calibration["tail"].items():
            print("    %g: %.3f," % (target, threshold))
        print("}")
    print(
        "ZERO_FALSE_MATCH = %.2f  # highest impostor score: %.3f over %d pooled 1:1 pairs%s"
        % (
            zero,
            calibration["highest"],
            calibration["impostors"],
            ""
            if outsiders_highest is None
            else ", %.3f as an outsider's best over the 1:N gallery" % outsiders_highest,
        )
    )


def identification(sets: list[ExtractedSet], size: int, seed: int) -> float | None:
    """1:N on a gallery of real references among templates made from real minutiae.

    Returns the highest best score of an outsider (None without outsiders).
    """
    entries: list[tuple[object, Template]] = []
    sources: list[tuple[object, Minutiae]] = []
    roles: dict[tuple[int, int], str] = {}
    for s, done in enumerate(sets):
        fingers = done.fset.fingers
        raw = max(1, (3 * fingers) // 10)
        outsiders = max(1, (3 * fingers) // 10)
        enrolled_count = fingers - raw - outsiders
        references, _, _ = enrolled_references(done)
        for f in range(fingers):
            if f < enrolled_count:
                roles[(s, f)] = "enrolled" if f in references else "not enrolled"
                for view in references.get(f, []):
                    entries.append(((s, f), view))
            elif f < enrolled_count + outsiders:
                roles[(s, f)] = "outsider"
            else:
                roles[(s, f)] = "raw"
                scale = 500.0 / done.fset.dpi
                for i in range(done.fset.impressions):
                    m = done.minutiae[(f, i)]
                    if m is not None:
                        sources.append(
                            (
                                (s, f),
                                Minutiae.from_columns(
                                    m.x * scale, m.y * scale, m.angle, m.kind, m.quality
                                ),
                            )
                        )
    t0 = time.perf_counter()
    try:
        maker = MixedTemplates(sources, seed)
    except ValueError as err:
        print("\n1:N left out: the gallery's filler %s (sets too small)" % err)
        return None
    filler = max(0, size - len(entries))
    for k in range(filler):
        entries.append(
            (("made", k), Template.from_minutiae(maker.make(), DEFAULT_PPCM, DEFAULT_PPCM))
        )
    t1 = time.perf_counter()
    gallery = Gallery(entries)
    t2 = time.perf_counter()
    print(
        "\n1:N gallery: %d templates: %d views of %d enrolled real fingers, %d made from %d real "
        "minutiae sets of %d other fingers (turned, moved, cut, joined); prepared in %.1f s, "
        "indexed in %.1f s"
        % (
            len(gallery),
            len(entries) - filler,
            sum(1 for r in roles.values() if r == "enrolled"),
            filler,
            len(sources),
            len({label for label, _ in sources}),
            t1 - t0,
            t2 - t1,
        )
    )
    times, cpu, ranks, outsider_best = [], [], [], []
    outsider_kinds: list[str] = []
    missed_in: Counter = Counter()
    identified = named_wrong = 0
    out_named = 0
    for s, done in enumerate(sets):
        first_probe = 3 if done.fset.impressions > 3 else 1
        for (f, i), template in done.templates.items():
            if template is None:
                continue
            t, c = time.perf_counter(), time.process_time()
            ranked = gallery.search(template, 5)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            role = roles[(s, f)]
            named = _named(ranked)
            if role == "enrolled" and i >= first_probe:
                owners = [owner for owner, _ in ranked]
                ranks.append(owners.index((s, f)) if (s, f) in owners else 99)
                if ranks[-1] != 0:
                    missed_in[done.fset.name] += 1
                identified += named == (s, f)
                named_wrong += named is not None and named != (s, f)
            elif role == "outsider":
                outsider_best.append(ranked[0][1] if ranked else 0.0)
                if ranked:
                    outsider_kinds.append("made" if ranked[0][0][0] == "made" else "enrolled")
                out_named += named is not None
    ms, cpu_ms = 1000 * np.array(times), 1000 * np.array(cpu)
    r = np.array(ranks)
    print(
        "  search: %d captures, median %.1f ms, p95 %.1f ms, max %.1f ms "
        "(one core; CPU median %.1f, p95 %.1f)"
        % (
            len(ms),
            np.median(ms),
            np.percentile(ms, 95),
            ms.max(),
            np.median(cpu_ms),
            np.percentile(cpu_ms, 95),
        )
    )
    if len(r):
        print(
            "  enrolled fingers' later impressions (%d probes): rank 1 %.1f %%, top 5 %.1f %%; "
            "named by the check-in rule (score >= %.3f, %.2f above the runner-up) %.1f %%, "
            "wrongly named %d"
            % (
                len(r),
                100 * (r == 0).mean(),
                100 * (r < 5).mean(),
                thresholds.IDENTIFY_THRESHOLD,
                IDENTIFY_MARGIN,
                100 * identified / len(r),
                named_wrong,
            )
        )
    if missed_in:
        print(
            "  enrolled probes not at rank 1, by set: %s"
            % ", ".join("%s %d" % kv for kv in sorted(missed_in.items()))
        )
    if outsider_best:
        best = np.array(outsider_best)
        top = np.argsort(-best)[:3]
        print(
            "  outsiders' highest best scores: %s"
            % ", ".join("%.3f (%s)" % (best[k], outsider_kinds[k]) for k in top)
        )
        print(
            "  outsiders (not enrolled, %d probes): best score >= %.3f in %d, named by the "
            "check-in rule %d (false identifications)"
            % (
                len(best),
                thresholds.IDENTIFY_THRESHOLD,
                int((best >= thresholds.IDENTIFY_THRESHOLD).sum()),
                out_named,
            )
        )
        return float(best.max())
    return None


def _named(ranked: list[tuple[object, float]]) -> object | None:
    """Whom the check-in's 1:N rule would name from a ranked list (checkin.finger_check)."""
    if not ranked:
        return None
    owner, best = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    if best >= thresholds.IDENTIFY_THRESHOLD and best - runner_up >= IDENTIFY_MARGIN:
        return owner
    return None


def run(sets: list[FingerSet], gallery: int, seed: int, calibrating: bool) -> None:
    """The whole real-image benchmark over ``sets``."""
    extracted = []
    figures = []
    for fset in sets:
        done = extract_set(fset)
        extracted.append(done)
        figures.append(report_set(done))
    summary(figures)
    calibration = calibrate(extracted) if calibrating else None
    outsiders_highest = identification(extracted, gallery, seed) if gallery > 0 else None
    if calibration is not None:
        print_thresholds(calibration, outsiders_highest)
    print(
        "\nthresholds in use (controller/biometrics/thresholds.py): verify %.3f, identify %.3f"
        % (thresholds.VERIFY_THRESHOLD, thresholds.IDENTIFY_THRESHOLD)
    )
