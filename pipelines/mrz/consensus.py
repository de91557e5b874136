"""Consensus across the frames of a live session: a weighted vote per character position.

Reads of one format are aligned position by position (they are already fitted to the format's exact
line lengths). Each read votes with its *literal* text (before any check-digit repair) and its OCR
confidence, :data:`VALID_READ_WEIGHT` times that when its literal text held every check digit.

Consensus is reached only when :data:`MIN_AGREEING_READS` reads literally read the voted text and it
holds every check digit. A repair is never consensus: when the voted text fails, a repair is offered
only while the reads disagree (it may be OCR noise); once the reads agree on a failing text, that text
is what the document carries (a tampered MRZ), and it is reported as read.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from pipelines.mrz.formats import format_for_shape
from pipelines.mrz.parse import MrzDocument, parse_mrz
from pipelines.mrz.read import MrzRead
from pipelines.mrz.repair import repair_check_digits

__all__ = ["MrzConsensus", "ConsensusState", "VALID_READ_WEIGHT", "MIN_AGREEING_READS", "MAX_READS_KEPT"]

#: A read whose check digits all held votes this many times its confidence (it is far likelier right).
VALID_READ_WEIGHT = 3.0
#: Floor of a read's vote, so a read tesseract gave 0 confidence still counts a little.
MIN_VOTE = 0.05
#: Consensus is reached when this many reads with holding check digits agree on every character: two
#: independent frames agreeing also confirms the names, which no check digit covers.
MIN_AGREEING_READS = 2
#: Reads kept (the newest); older ones are dropped so a session's memory stays bounded.
MAX_READS_KEPT = 40


@dataclass(frozen=True)
class ConsensusState:
    """The voted document (None before any MRZ-shaped read), how many reads it rests on, how many of
    those read exactly the voted text (``identical``), and how many of those had their own check digits
    holding (``agreeing``)."""

    document: MrzDocument | None
    reads: int
    agreeing: int
    identical: int = 0
    repairs: int = 0

    @property
    def reached(self) -> bool:
        return (
            self.document is not None
            and self.repairs == 0
            and self.document.check_digits_hold
            and self.agreeing >= MIN_AGREEING_READS
        )


class MrzConsensus:
    """Accumulates reads of one session. Not thread-safe: one per session, fed in frame order."""

    def __init__(self, reference_date: dt.date) -> None:
        self.reference_date = reference_date
        self._reads: list[MrzRead] = []

    def add(self, read: MrzRead) -> None:
        if read.literal is None:
            return
        self._reads.append(read)
        del self._reads[:-MAX_READS_KEPT]

    @property
    def attempts(self) -> int:
        return len(self._reads)

    def state(self) -> ConsensusState:
        if not self._reads:
            return ConsensusState(None, 0, 0, 0)
        groups: dict[tuple[int, int, str], list[MrzRead]] = defaultdict(list)
        for read in self._reads:
            assert read.literal is not None
            key = (len(read.literal), len(read.literal[0]), "V" if read.literal[0].startswith("V") else "")
            groups[key].append(read)
        # the format most reads (by weight) agree on
        key, reads = max(groups.items(), key=lambda item: sum(_weight(r) for r in item[1]))
        spec = format_for_shape(key[0], key[1], key[2])
        assert spec is not None
        voted = []
        for line_no in range(spec.line_count):
            chars = []
            for pos in range(spec.line_length):
                votes: defaultdict[str, float] = defaultdict(float)
                for read in reads:
                    assert read.literal is not None
                    votes[read.literal[line_no][pos]] += _weight(read)
                chars.append(max(votes.items(), key=lambda item: item[1])[0])
            voted.append("".join(chars))
        literal = tuple(voted)
        document = parse_mrz(literal, self.reference_date)
        identical = [r for r in reads if r.literal == literal]
        agreeing = sum(1 for r in identical if r.literal_holds)
        repairs = 0
        if not document.check_digits_hold and len(identical) < MIN_AGREEING_READS:
            repaired, repairs = repair_check_digits(spec, literal)
            if repairs:
                document = parse_mrz(repaired, self.reference_date)
        return ConsensusState(document, len(reads), agreeing, len(identical), repairs)


def _weight(read: MrzRead) -> float:
    base = max(MIN_VOTE, read.confidence)
    return base * VALID_READ_WEIGHT if read.literal_holds else base
