"""Frozen and looping video: a camera never delivers the same picture twice (sensor noise alone makes two
frames of a still scene differ), a virtual camera replaying a still or a recording does.

Works on :func:`pipelines.liveness.passive.thumbnail` thumbnails (float32 (144, 256)), kept in memory for
the last :data:`HISTORY_FRAMES` frames only (they are never written anywhere).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

import numpy as np

from pipelines.liveness.passive import REPEAT_MAX_DIFF

__all__ = ["RepeatMonitor", "RepeatStats", "HISTORY_FRAMES", "FROZEN_MIN_RUN", "LOOP_MIN_MATCHES"]

#: Frames remembered for loop search: 20 s at 15 fps (~22 MB of float16 thumbnails per session, in memory
#: only). Recordings looped by attackers are a few seconds.
HISTORY_FRAMES = 300
#: This many consecutive identical frames (about 0.5 s at 15 fps) is a frozen picture, not a camera.
FROZEN_MIN_RUN = 8
#: This many frames repeating earlier ones at the same lag is a loop (two are chance; five at one lag is
#: a replayed recording).
LOOP_MIN_MATCHES = 5
#: Earlier frames closer than this many frames are the frozen check's business, not the loop's.
_MIN_LOOP_LAG = 3
#: At most this many exact comparisons per frame (a still scene makes every earlier frame a candidate).
_MAX_EXACT_CHECKS = 4


@dataclass(frozen=True)
class RepeatStats:
    frames: int
    longest_frozen_run: int
    loop_matches: int
    loop_lag_frames: int | None

    @property
    def frozen(self) -> bool:
        return self.longest_frozen_run >= FROZEN_MIN_RUN

    @property
    def looping(self) -> bool:
        return self.loop_matches >= LOOP_MIN_MATCHES


class RepeatMonitor:
    def __init__(self) -> None:
        self._thumbs: deque[np.ndarray] = deque(maxlen=HISTORY_FRAMES)
        self._small = np.zeros((HISTORY_FRAMES, 36, 64), np.float32)
        self._frames = 0
        self._run = 1
        self._longest = 1
        self._lags: Counter[int] = Counter()

    def add(self, thumb: np.ndarray) -> None:
        """One frame's thumbnail, in capture order."""
        self._frames += 1
        small = thumb.reshape(36, 4, 64, 4).mean(axis=(1, 3))
        if self._thumbs:
            n = len(self._thumbs)
            # Cheap pre-filter on 64x36 means (a repeat has mean difference ~0), exact p99 only for candidates.
            mean_diff = np.abs(self._small[:n] - small).mean(axis=(1, 2))
            if mean_diff[-1] <= REPEAT_MAX_DIFF and self._p99(n - 1, thumb) <= REPEAT_MAX_DIFF:
                self._run += 1
                self._longest = max(self._longest, self._run)
            else:
                self._run = 1
                candidates = np.flatnonzero(mean_diff[: max(0, n - _MIN_LOOP_LAG + 1)] <= REPEAT_MAX_DIFF)
                for i in candidates[::-1][:_MAX_EXACT_CHECKS]:  # newest first
                    if self._p99(int(i), thumb) <= REPEAT_MAX_DIFF:
                        self._lags[n - int(i)] += 1
                        break
        if len(self._thumbs) == HISTORY_FRAMES:
            self._small[:-1] = self._small[1:]
        self._small[min(len(self._thumbs), HISTORY_FRAMES - 1)] = small
        self._thumbs.append(thumb.astype(np.float16))

    def _p99(self, i: int, thumb: np.ndarray) -> float:
        return float(np.percentile(np.abs(self._thumbs[i].astype(np.float32) - thumb), 99))

    def stats(self) -> RepeatStats:
        lag, matches = self._lags.most_common(1)[0] if self._lags else (None, 0)
        return RepeatStats(self._frames, self._longest, matches, lag)
