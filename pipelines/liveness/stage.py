"""``LivenessStage``: active challenges and passive replay/injection signals over a session's frames
(``pipelines.frame.Stage``), reported as the ``liveness`` check with every signal and its score.

Verdict: ``fail`` when any decisive passive signal fires (screen bezel around the document or face,
frozen or looping video, implausible timing) or a challenge timed out; ``pass`` only when challenges were
asked, all were done, and no signal fired; otherwise ``inconclusive`` (challenges still running, or none
asked: passive signals alone cannot tell a live person from a good printed photo, so they never pass).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from pipelines.face.geometry import face_pose
from pipelines.face.live import FaceTracker
from pipelines.frame import FrameContext
from pipelines.liveness import passive
from pipelines.liveness.active import ActiveLiveness, Challenge, ChallengeState
from pipelines.liveness.repeats import FROZEN_MIN_RUN, LOOP_MIN_MATCHES, RepeatMonitor
from pipelines.results import CheckResult, Reason, Verdict

__all__ = ["LivenessStage", "SCREEN_INTERVAL_S", "SCREEN_MIN_SHARE", "LANDMARK_INTERVAL_S"]

#: Seconds between the decisive screen-cue measurements (bezel: ~2 ms each).
SCREEN_INTERVAL_S = 0.3
#: Seconds between the reported-only spectral measurements (moire FFT ~20 ms, banding ~2 ms).
SPECTRAL_INTERVAL_S = 1.0
#: A screen cue fires when at least this share of its measurements exceed the threshold (a single
#: dark-backed frame, e.g. the card passing in front of a dark jacket, is not a phone).
SCREEN_MIN_SHARE = 0.5
#: Seconds between landmark fits while a challenge runs: every frame at 15 fps (a blink lasts 0.1-0.4 s,
#: so it spans 2-6 frames); 0 = every frame.
LANDMARK_INTERVAL_S = 0.0
#: Seconds between landmark fits when no challenge runs (just keeping the open-eye baseline fresh).
IDLE_LANDMARK_INTERVAL_S = 0.5
#: Face-bezel cue: at least 3 of the 4 sides around the face framed by a dark straight edge.
FACE_BEZEL_THRESHOLD = 0.75


class LivenessStage:
    """``challenges`` (drawn at random by the caller) start at ``challenge_start_s``, each with
    ``timeout_s``. ``tracker`` may be shared with the face stage so each frame is detected once."""

    name = "liveness"

    def __init__(
        self,
        tracker: FaceTracker,
        challenges: Sequence[Challenge] = (),
        challenge_start_s: float = 0.0,
        timeout_s: float | None = None,
    ) -> None:
        self.tracker = tracker
        kwargs = {} if timeout_s is None else {"timeout_s": timeout_s}
        self.active = ActiveLiveness(challenges, challenge_start_s, **kwargs)
        self.repeats = RepeatMonitor()
        self._times: list[float] = []
        self._last_screen_t = -1e9
        self._last_spectral_t = -1e9
        self._last_landmark_t = -1e9
        self._scores: dict[str, list[float]] = {"document_bezel": [], "face_bezel": [], "moire": [], "banding": []}
        self._faces_seen = 0
        self._landmark_frames = 0

    def observe(self, context: FrameContext) -> None:
        frame = context.frame
        self._times.append(frame.t_s)
        self.repeats.add(passive.thumbnail(frame.image))
        running = self.active.current is not None
        interval = LANDMARK_INTERVAL_S if running else IDLE_LANDMARK_INTERVAL_S
        face_box = None
        if frame.t_s - self._last_landmark_t >= interval:
            self._last_landmark_t = frame.t_s
            live = self.tracker.faces(context)
            self._landmark_frames += 1
            pose = None
            if live.faces and not live.several:
                self._faces_seen += 1
                pose = face_pose(live.faces[0].landmarks)
                face_box = live.faces[0].box
            self.active.observe(frame.t_s, pose)
        if frame.t_s - self._last_screen_t >= SCREEN_INTERVAL_S:
            self._last_screen_t = frame.t_s
            doc = context.document
            if doc is not None:
                self._scores["document_bezel"].append(passive.surround_darkness(frame.image, doc.corners_px))
            if face_box is not None:
                self._scores["face_bezel"].append(passive.bezel_score(frame.image, face_box.as_tuple()))
        if frame.t_s - self._last_spectral_t >= SPECTRAL_INTERVAL_S:
            self._last_spectral_t = frame.t_s
            doc = context.document
            if doc is not None:
                center = doc.corners_px.mean(axis=0)
                self._scores["moire"].append(passive.moire_score(frame.image, (float(center[0]), float(center[1]))))
            elif face_box is not None:
                self._scores["moire"].append(passive.moire_score(frame.image, face_box.center))
            self._scores["banding"].append(passive.banding_score(frame.image))

    # -- report ----------------------------------------------------------------------------------------
    def _screen_signal(self, key: str, threshold: float, decisive: bool) -> dict[str, Any]:
        values = self._scores[key]
        if not values:
            return {"score": None, "threshold": threshold, "flagged": False, "decisive": decisive, "measured": 0}
        share = sum(v >= threshold for v in values) / len(values)
        return {
            "score": round(statistics.median(values), 3),
            "threshold": threshold,
            "share_over": round(share, 3),
            "flagged": share >= SCREEN_MIN_SHARE,
            "decisive": decisive,
            "measured": len(values),
        }

    def signals(self) -> dict[str, dict[str, Any]]:
        rep = self.repeats.stats()
        timing = passive.timing_stats(self._times)
        return {
            "screen_bezel_document": self._screen_signal("document_bezel", passive.BEZEL_THRESHOLD, True),
            "screen_bezel_face": self._screen_signal("face_bezel", FACE_BEZEL_THRESHOLD, True),
            # Reported for the agent, not decisive: not separable on our scenes (see passive.py).
            "screen_moire": self._screen_signal("moire", passive.MOIRE_THRESHOLD, False),
            "refresh_banding": self._screen_signal("banding", passive.BANDING_THRESHOLD, False),
            "frozen_frames": {"score": rep.longest_frozen_run, "threshold": FROZEN_MIN_RUN, "flagged": rep.frozen,
                              "decisive": True},
            "looping_frames": {"score": rep.loop_matches, "threshold": LOOP_MIN_MATCHES, "flagged": rep.looping,
                               "decisive": True, "lag_frames": rep.loop_lag_frames},
            "frame_timing": {"score": None if timing.fps is None else round(timing.fps, 2),
                             "problems": list(timing.problems), "flagged": bool(timing.problems), "decisive": True,
                             "max_gap_s": round(timing.max_gap_s, 3)},
        }

    def result(self) -> CheckResult:
        signals = self.signals()
        m: dict[str, Any] = {
            "signals": signals,
            "challenges": self.active.to_json(),
            "frames": len(self._times),
            "landmark_frames": self._landmark_frames,
            "frames_with_face": self._faces_seen,
        }
        fired = [name for name, s in signals.items() if s["flagged"] and s["decisive"]]
        outcomes = self.active.outcomes
        passed = sum(o.state is ChallengeState.PASSED for o in outcomes)
        score = round(passed / len(outcomes), 3) if outcomes else None
        if fired:
            score = 0.0
            return CheckResult(self.name, Verdict.FAIL, Reason("replay_or_injection", "signals: " + ", ".join(fired)),
                               score, m)
        timed_out = [o.challenge.value for o in outcomes if o.state is ChallengeState.TIMED_OUT]
        if timed_out:
            return CheckResult(self.name, Verdict.FAIL,
                               Reason("challenge_failed", "not done in time: " + ", ".join(timed_out)), score, m)
        if not outcomes:
            return CheckResult(self.name, Verdict.INCONCLUSIVE,
                               Reason("passive_only", "no replay signal, but no challenge was asked"), None, m)
        if not self.active.finished:
            return CheckResult(self.name, Verdict.INCONCLUSIVE,
                               Reason("challenges_running", f"{passed} of {len(outcomes)} challenges done"), score, m)
        return CheckResult(self.name, Verdict.PASS, Reason("live", "all challenges done, no replay signal"), score, m)
