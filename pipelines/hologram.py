"""Hologram (optically variable device, OVD): does the element's colour respond to the tilt?

On a genuine card the OVD's hue and brightness change with the viewing angle while the printed rest of
the card keeps its colour. A photocopy, a print or a screen replay shows the element as flat print: it
changes only as much as everything else does (exposure, white balance, glare).

Per front-side frame with a known tilt, :func:`ovd_features` measures, on the rectified document, the
median CIELAB chroma (a*, b*) of each of 4x4 cells of the OVD zone **relative to** the median colour of the whole
card (so a global change of light cancels), and the same for a control zone of printed background of the
same size. Over the session, :class:`HologramStage` smooths each feature over the frames nearest in
angle and takes the spread of the smoothed values, in Lab units: the part of the colour change that the
tilt explains. The OVD passes when that response is large in absolute terms and large compared with the
control zone's. Too few frames or too little tilt is ``inconclusive``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from pipelines.frame import DocumentKind, DocumentSide, DocumentView, FrameContext
from pipelines.layouts import LAYOUTS, Zone, ZoneName
from pipelines.results import CheckResult, Reason, Verdict

__all__ = [
    "MIN_RESPONSE_LAB",
    "MIN_RESPONSE_RATIO",
    "HologramObservation",
    "HologramStage",
    "ovd_zone",
    "control_zone",
    "ovd_features",
    "card_signature",
    "registered",
    "response",
]

#: Frames (front side, tilt known) needed before judging (each is compared with its 5 nearest in angle).
MIN_FRAMES = 12
#: Tilt span (max - min, deg) needed on at least one axis to judge: a hologram tilted less than this
#: barely changes; asking for the tilt check's +-15 deg guarantees 30 deg when the customer complies.
MIN_SPAN_DEG = 12.0
#: Response (std of the angle-explained part of the OVD cells' Lab colour relative to the card, Lab
#: units) a genuine element must reach. Fixture holograms measure 8-40; flat print (photocopy, screen
#: replay) 0.5-2.5 (measured with `videoident bench` live, section hologram). A just noticeable colour
#: difference is about 2.3 Lab units; 5 is clearly visible.
MIN_RESPONSE_LAB = 5.0
#: The OVD's response must also exceed the control zone's (same size, printed background) this many
#: times: glare or exposure changes that follow the tilt move both; only an OVD moves alone.
MIN_RESPONSE_RATIO = 2.0
#: A cell with more than this fraction of saturated pixels (glare, or white paper in a bright exposure)
#: is left out of that frame (NaN); below it, the cell's unsaturated pixels are used.
MAX_SATURATED_FRACTION = 0.5
SATURATED_LEVEL = 250
#: Lab floor for the control zone's response (sensor noise after the median over a cell is ~0.5).
CONTROL_FLOOR_LAB = 1.0
#: The OVD zone is split into CELLS x CELLS cells: a hologram's colours vary across it (a rainbow whose
#: phase moves with the angle), so a single mean would average the hue away.
CELLS = 4
#: Frames averaged per frame (nearest in angle) when separating the angle-driven change from noise.
NEIGHBOURS = 5
#: Registration: each frame's rectified card, grey, at this size (width, height) with the OVD zone left
#: out, is compared (normalised cross-correlation) with the session's median card. A frame whose quad
#: sits off the card (a screen replay's quad jumping between the card and the phone's screen; a quad on
#: a part of the card) moves the OVD zone over other print, and the colour change that causes is not the
#: hologram's: such frames are left out.
SIGNATURE_SIZE = (48, 30)
#: Lowest correlation with the median card of a frame kept. Measured on fixture scenes (640x480, seeds
#: 5000-5005): genuine cards' frames 0.93-0.99 with one outlier per scene at most (0.36-0.79, a quad on
#: a part of the card); screen replays whose quad was on the phone -0.21-0.33; registered ones 0.89-0.99.
MIN_REGISTRATION = 0.8


def _common(zones: list[Zone]) -> tuple[float, float, float, float]:
    x0 = max(z.x_mm for z in zones)
    y0 = max(z.y_mm for z in zones)
    x1 = min(z.x1_mm for z in zones)
    y1 = min(z.y1_mm for z in zones)
    if x1 - x0 < 3 or y1 - y0 < 3:  # templates disagree: take the first template's zone
        z = zones[0]
        return z.x_mm, z.y_mm, z.x1_mm, z.y1_mm
    return x0, y0, x1, y1


def ovd_zone(kind: DocumentKind) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) in mm of the OVD on the front: the area common to every known template of the kind."""
    zones = [lay.zones[ZoneName.OVD] for lay in LAYOUTS.values() if lay.kind is kind]
    return _common(zones)


def control_zone(kind: DocumentKind) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) in mm of a control patch of printed background: the OVD's size, moved to the top
    centre of the card (above the text fields on every template), where no field or portrait lies."""
    x0, y0, x1, y1 = ovd_zone(kind)
    width, height = x1 - x0, y1 - y0
    doc_w = 85.60 if kind is DocumentKind.ID1 else 125.0
    cx = doc_w / 2
    top = 1.0
    return cx - width / 2, top, cx + width / 2, top + min(height, 8.0)


def _cells(lab: np.ndarray, saturated: np.ndarray, box_px: tuple[int, int, int, int]) -> np.ndarray | None:
    x0, y0, x1, y1 = box_px
    if x1 - x0 < 2 * CELLS or y1 - y0 < 2 * CELLS:
        return None
    feats = []
    for i in range(CELLS):
        for j in range(CELLS):
            ya, yb = y0 + (y1 - y0) * i // CELLS, y0 + (y1 - y0) * (i + 1) // CELLS
            xa, xb = x0 + (x1 - x0) * j // CELLS, x0 + (x1 - x0) * (j + 1) // CELLS
            cell = lab[ya:yb, xa:xb].reshape(-1, 3)
            clear = ~saturated[ya:yb, xa:xb].reshape(-1)
            if float(clear.mean()) < 1.0 - MAX_SATURATED_FRACTION:
                feats.append(np.full(2, np.nan))  # glare: no colour to measure in this cell, this frame
            else:
                feats.append(np.median(cell[clear, 1:], axis=0))  # chroma only: a*, b*
    values = np.concatenate(feats)
    return None if np.isnan(values).all() else values


def _to_px(
    zone_mm: tuple[float, float, float, float], kind: DocumentKind, shape: tuple[int, ...]
) -> tuple[int, int, int, int]:
    doc_w, doc_h = (85.60, 53.98) if kind is DocumentKind.ID1 else (125.0, 88.0)
    sx, sy = shape[1] / doc_w, shape[0] / doc_h
    x0, y0, x1, y1 = zone_mm
    return int(x0 * sx), int(y0 * sy), int(np.ceil(x1 * sx)), int(np.ceil(y1 * sy))


def card_signature(document: DocumentView) -> np.ndarray:
    """The rectified card's layout for registration: grey (0..1) at :data:`SIGNATURE_SIZE`, flattened,
    zero-mean and unit-norm, with the OVD zone (whose brightness changes on purpose) set to 0."""
    rect = document.rectified
    grey = cv2.resize(cv2.cvtColor(rect, cv2.COLOR_BGR2GRAY), SIGNATURE_SIZE, interpolation=cv2.INTER_AREA)
    values = grey.astype(np.float64) / 255.0
    x0, y0, x1, y1 = _to_px(ovd_zone(document.kind), document.kind, values.shape)
    keep = np.ones(values.shape, dtype=bool)
    keep[y0:y1, x0:x1] = False
    values = np.where(keep, values - values[keep].mean(), 0.0).ravel()
    norm = float(np.linalg.norm(values))
    return values / norm if norm > 1e-9 else values


def registered(signatures: np.ndarray) -> np.ndarray:
    """bool (n,): which frames show the card the way most frames do. ``signatures`` (n, k): the frames'
    :func:`card_signature`. The reference is the frame that correlates at least :data:`MIN_REGISTRATION`
    with the most others; the median of those frames is then the card, and a frame is kept when it
    correlates with that median at least :data:`MIN_REGISTRATION`. (A median over all frames fails when
    the quad was off the card in most of them: a screen replay, seed 1001.)"""
    if len(signatures) == 0:
        return np.zeros(0, dtype=bool)
    similar = signatures @ signatures.T >= MIN_REGISTRATION
    cluster = similar[int(np.argmax(similar.sum(axis=1)))]
    reference = np.median(signatures[cluster], axis=0)
    norm = float(np.linalg.norm(reference))
    if norm < 1e-9:
        return np.zeros(len(signatures), dtype=bool)
    return np.asarray(signatures @ (reference / norm) >= MIN_REGISTRATION)


def ovd_features(document: DocumentView) -> tuple[np.ndarray, np.ndarray] | None:
    """(OVD features, control features): each (CELLS*CELLS*2,) float, the CIELAB chroma (a*, b*) of the
    cells minus the card's median chroma, saturated pixels left out. None when glare covers most of a
    cell or the zones do not fit.

    Chroma only: a specular highlight (glare follows the tilt too) adds white, i.e. lightness, not hue;
    a hologram's diffraction changes the hue. So glare on a photocopy cannot pass for an OVD."""
    rect = document.rectified
    small = cv2.resize(rect, (rect.shape[1] // 2, rect.shape[0] // 2), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB)
    saturated = cv2.inRange(small, (SATURATED_LEVEL,) * 3, (255, 255, 255)) > 0  # every channel >= the level
    card = np.median(lab[::4, ::4].reshape(-1, 3)[:, 1:], axis=0)
    ovd = _cells(lab, saturated, _to_px(ovd_zone(document.kind), document.kind, small.shape))
    control = _cells(lab, saturated, _to_px(control_zone(document.kind), document.kind, small.shape))
    if ovd is None or control is None:
        return None
    reference = np.tile(card, CELLS * CELLS)
    return ovd - reference, control - reference


def response(features: np.ndarray, angles_deg: np.ndarray) -> float:
    """Std (Lab units, RMS over features) of the part of ``features`` (n, k; NaN = not measured)
    explained by the angles ``angles_deg`` (n, 2) = (yaw, pitch): each frame's features are replaced by
    the mean of its :data:`NEIGHBOURS` nearest frames in angle (itself excluded), which keeps whatever
    depends on the angle, however non-linearly (a hologram's hue cycles), and averages noise away."""
    distance = np.linalg.norm(angles_deg[:, None, :] - angles_deg[None, :, :], axis=2)
    np.fill_diagonal(distance, np.inf)
    variances = []
    for column in features.T:  # each feature over the frames where it was measured (NaN = glare)
        seen = np.flatnonzero(np.isfinite(column))
        if len(seen) < MIN_FRAMES:
            continue
        k = min(NEIGHBOURS, len(seen) - 1)
        sub = distance[np.ix_(seen, seen)]
        nearest = np.argpartition(sub, k - 1, axis=1)[:, :k]
        variances.append(float(np.var(column[seen][nearest].mean(axis=1))))
    return float(np.sqrt(np.mean(variances))) if variances else 0.0


@dataclass(frozen=True)
class HologramObservation:
    yaw_deg: float
    pitch_deg: float
    ovd: np.ndarray
    control: np.ndarray
    signature: np.ndarray | None = None


@dataclass
class HologramStage:
    """The hologram check as a :class:`pipelines.frame.Stage` over front-side frames with a known tilt.

    Keeps at most :data:`MAX_OBSERVATIONS` observations (oldest dropped): a long session costs bounded
    memory and the fit stays cheap."""

    name: str = "hologram"
    version: str = "ovd-chroma-knn-registered-2"
    min_response_lab: float = MIN_RESPONSE_LAB
    min_ratio: float = MIN_RESPONSE_RATIO
    observations: list[HologramObservation] = field(default_factory=list)
    skipped_glare: int = 0

    def observe(self, context: FrameContext) -> None:
        doc = context.document
        if doc is None or doc.yaw_deg is None or doc.pitch_deg is None or doc.side is not DocumentSide.FRONT:
            return
        feats = ovd_features(doc)
        if feats is None:
            self.skipped_glare += 1
            return
        self.observations.append(
            HologramObservation(doc.yaw_deg, doc.pitch_deg, feats[0], feats[1], card_signature(doc))
        )
        if len(self.observations) > MAX_OBSERVATIONS:
            del self.observations[0]

    def result(self) -> CheckResult:
        observations = self.observations
        signatures = [o.signature for o in observations]
        misregistered = 0
        if len(observations) >= MIN_FRAMES and all(s is not None for s in signatures):
            kept = registered(np.array(signatures))
            misregistered = int((~kept).sum())
            observations = [o for o, k in zip(observations, kept, strict=True) if k]
        n = len(observations)
        measurements: dict[str, object] = {
            "frames": n,
            "skipped_glare": self.skipped_glare,
            "skipped_misregistered": misregistered,
        }
        if n < MIN_FRAMES:
            return CheckResult.inconclusive(
                "hologram", "too_few_frames", f"the front was seen in {n} usable frames (need {MIN_FRAMES})",
                **measurements,
            )
        angles = np.array([[o.yaw_deg, o.pitch_deg] for o in observations])
        spans = angles.max(axis=0) - angles.min(axis=0)
        measurements["yaw_span_deg"] = round(float(spans[0]), 1)
        measurements["pitch_span_deg"] = round(float(spans[1]), 1)
        if float(spans.max()) < MIN_SPAN_DEG:
            return CheckResult.inconclusive(
                "hologram", "too_little_tilt",
                f"the front was tilted over {float(spans.max()):.0f} deg only (need {MIN_SPAN_DEG:g})", **measurements,
            )
        ovd = response(np.array([o.ovd for o in observations]), angles)
        control = response(np.array([o.control for o in observations]), angles)
        ratio = ovd / max(control, CONTROL_FLOOR_LAB)
        measurements.update(
            response_lab=round(ovd, 2),
            control_response_lab=round(control, 2),
            ratio=round(ratio, 2),
            min_response_lab=self.min_response_lab,
            min_ratio=self.min_ratio,
        )
        score = 0.5 * min(1.0, ovd / (2 * self.min_response_lab)) + 0.5 * min(1.0, ratio / (2 * self.min_ratio))
        if ovd >= self.min_response_lab and ratio >= self.min_ratio:
            reason = Reason("ovd_responds", f"the hologram's colour follows the tilt ({ovd:.1f} Lab units)")
            return CheckResult("hologram", Verdict.PASS, reason, round(score, 3), measurements)
        if ovd < self.min_response_lab:
            reason = Reason("ovd_static", f"the hologram zone does not change with the tilt ({ovd:.1f} Lab units)")
        else:
            reason = Reason("ovd_not_specific", f"the whole card changes like the hologram zone (ratio {ratio:.1f})")
        return CheckResult("hologram", Verdict.FAIL, reason, round(score, 3), measurements)


#: Observations kept per session (about 40 s at 15 fps of front-side frames).
MAX_OBSERVATIONS = 600
