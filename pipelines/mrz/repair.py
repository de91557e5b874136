"""MRZ-aware post-processing of OCR text: pure text logic, no imaging.

1. :func:`normalise_line` — upper case, map look-alikes of ``<`` to ``<``, drop everything outside the
   37 MRZ characters.
2. :func:`fit_lines` — guess the format from the line count and lengths, and bring every line to its
   exact length (fillers added or removed in the run of fillers where a miscount is likeliest).
3. :func:`apply_classes` — per-position character classes: in digit-only positions map ``O->0``,
   ``I->1``, ``B->8``, ``S->5``...; in letter-only positions the reverse.
4. :func:`repair_check_digits` — where letters and digits may both stand (document numbers, optional
   data), try the confusable alternatives and accept a repair only when it makes every check digit hold
   and no other repair of the same size does.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from pipelines.mrz.checkdigit import MRZ_ALPHABET, check_digit
from pipelines.mrz.formats import FORMATS, FormatSpec, MrzFormat, class_template, format_for_shape

__all__ = [
    "TO_DIGIT",
    "TO_ALPHA",
    "CONFUSABLE",
    "normalise_line",
    "guess_format",
    "fit_line",
    "fit_lines",
    "fit_variants",
    "apply_classes",
    "check_groups",
    "repair_check_digits",
    "clean_read",
]

#: OCR-B look-alikes, letter read where only a digit may stand (ICAO 9303 part 3 OCR-B glyph shapes).
TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "U": "0", "I": "1", "L": "1", "J": "1", "T": "1", "Z": "2",
            "S": "5", "B": "8", "G": "6", "A": "4", "E": "8"}  # fmt: skip
#: Digit read where only a letter (or filler) may stand.
TO_ALPHA = {"0": "O", "1": "I", "2": "Z", "4": "A", "5": "S", "6": "G", "7": "T", "8": "B"}
#: Alternatives tried where both may stand (document numbers, optional data), guided by check digits.
CONFUSABLE = {"0": "OD", "O": "0D", "D": "0O", "Q": "0O", "1": "I", "I": "1", "2": "Z", "Z": "2", "5": "S",
              "S": "5", "6": "G", "G": "6", "8": "B", "B": "8"}  # fmt: skip
#: Characters that OCR gives for a filler ``<`` (the stock model reads ``<`` as ``K`` or ``«``).
_FILLER_LOOKALIKES = {"«": "<<", "‹": "<", "(": "<", "[": "<", "{": "<", "≤": "<"}
#: How many characters a line may be off its format's length and still be fitted.
MAX_LENGTH_FIX = 4
#: Largest number of simultaneous substitutions the check-digit repair tries.
MAX_REPAIR_SUBSTITUTIONS = 2
_ALPHABET = frozenset(MRZ_ALPHABET)


def normalise_line(raw: str) -> str:
    text = raw.upper()
    for look, filler in _FILLER_LOOKALIKES.items():
        text = text.replace(look, filler)
    return "".join(c for c in text if c in _ALPHABET)


def guess_format(lengths: Sequence[int]) -> FormatSpec | None:
    """The format whose shape is nearest to these line lengths (3 lines: TD1; 2: TD2 or TD3)."""
    if len(lengths) == 3:
        return FORMATS[MrzFormat.TD1]
    if len(lengths) != 2:
        return None
    mean = sum(lengths) / 2
    spec = FORMATS[MrzFormat.TD2] if abs(mean - 36) < abs(mean - 44) else FORMATS[MrzFormat.TD3]
    if any(abs(n - spec.line_length) > MAX_LENGTH_FIX for n in lengths):
        return None
    return spec


def _filler_runs(line: str) -> list[tuple[int, int]]:
    """(start, end) of every run of ``<``, end exclusive."""
    runs, i = [], 0
    while i < len(line):
        if line[i] == "<":
            j = i
            while j < len(line) and line[j] == "<":
                j += 1
            runs.append((i, j))
            i = j
        else:
            i += 1
    return runs


def fit_line(line: str, length: int) -> str | None:
    """``line`` brought to ``length``: fillers added at the end, or removed from the longest run of
    fillers (where OCR miscounts), else from the end. None when it is more than MAX_LENGTH_FIX off."""
    diff = len(line) - length
    if diff == 0:
        return line
    if abs(diff) > MAX_LENGTH_FIX:
        return None
    runs = _filler_runs(line)
    if diff < 0:
        if line.endswith("<") or not runs:
            return line + "<" * -diff
        start, end = max(runs, key=lambda r: r[1] - r[0])
        return line[:end] + "<" * -diff + line[end:]
    longest = max(runs, key=lambda r: r[1] - r[0], default=None)
    if longest is not None and longest[1] - longest[0] > diff:
        start, end = longest
        return line[:start] + line[start + diff : end] + line[end:]
    return line[:length]


def fit_variants(line: str, length: int) -> list[str]:
    """Ways to bring ``line`` to ``length``: :func:`fit_line`, and cutting or padding at either end (OCR
    adds a stray mark at a line's start or end, or loses a character there)."""
    diff = len(line) - length
    variants = [fit_line(line, length)]
    if 0 < diff <= MAX_LENGTH_FIX:
        variants += [line[diff:], line[:length]]
    elif -MAX_LENGTH_FIX <= diff < 0:
        variants += [line + "<" * -diff, "<" * -diff + line]
    return list(dict.fromkeys(v for v in variants if v is not None))


def fit_lines(lines: Sequence[str]) -> tuple[FormatSpec, tuple[str, ...]] | None:
    """Normalised lines fitted to the nearest format by :func:`fit_line`, or None when no format fits."""
    clean = [normalise_line(x) for x in lines]
    clean = [x for x in clean if x]
    spec = guess_format([len(x) for x in clean])
    if spec is None:
        return None
    fitted = [fit_line(x, spec.line_length) for x in clean]
    if any(x is None for x in fitted):
        return None
    out = tuple(x for x in fitted if x is not None)
    visa_spec = format_for_shape(spec.line_count, spec.line_length, out[0][:1])
    return (visa_spec or spec), out


def apply_classes(spec: FormatSpec, lines: Sequence[str]) -> tuple[str, ...]:
    """Map look-alikes to the class each position allows (digits-only and letters-only positions)."""
    out = []
    for line, classes in zip(lines, class_template(spec), strict=True):
        chars = []
        for char, cls in zip(line, classes, strict=True):
            if cls == "N" or (cls == "C" and char != "<"):
                char = TO_DIGIT.get(char, char)
            elif cls == "A":
                char = TO_ALPHA.get(char, char)
            elif cls == "S" and char not in "MFX<":
                char = {"H": "M", "N": "M", "P": "F", "E": "F"}.get(char, char)
            chars.append(char)
        out.append("".join(chars))
    return tuple(out)


def check_groups(spec: FormatSpec, lines: Sequence[str]) -> list[tuple[list[tuple[int, int]], tuple[int, int]]]:
    """Every check digit as (covered positions, check position), positions as (line, index)."""
    groups: list[tuple[list[tuple[int, int]], tuple[int, int]]] = []
    by_name = {f.name: f for f in spec.fields}
    for data_name, check_name in (
        ("document_number", "document_number_check"),
        ("birth_date", "birth_date_check"),
        ("expiry_date", "expiry_date_check"),
        ("optional_data", "optional_data_check"),
    ):
        if check_name not in by_name:
            continue
        data, check = by_name[data_name], by_name[check_name]
        covered = [(data.line, i) for i in range(data.start, data.stop)]
        check_at = (check.line, check.start)
        if data_name == "document_number" and lines[check.line][check.start] == "<" and spec.format != MrzFormat.TD3:
            opt = by_name["optional_data"]
            tail = lines[opt.line][opt.start : opt.stop].split("<", 1)[0]
            if len(tail) >= 2:
                covered += [(opt.line, opt.start + i) for i in range(len(tail) - 1)]
                check_at = (opt.line, opt.start + len(tail) - 1)
        if data_name == "optional_data" and set(data.take(lines)) == {"<"}:
            continue
        groups.append((covered, check_at))
    if spec.composite_at is not None:
        covered = [(ln, i) for ln, a, b in spec.composite for i in range(a, b)]
        groups.append((covered, spec.composite_at))
    return groups


def _holds(lines: Sequence[str], group: tuple[list[tuple[int, int]], tuple[int, int]]) -> bool:
    covered, (cl, ci) = group
    data = "".join(lines[ln][i] for ln, i in covered)
    check = lines[cl][ci]
    return check.isdigit() and all(c in _ALPHABET for c in data) and check_digit(data) == check


def repair_check_digits(spec: FormatSpec, lines: Sequence[str]) -> tuple[tuple[str, ...], int]:
    """(lines, substitutions made). Lines come back unchanged unless exactly one repair of the smallest
    size makes every check digit hold."""
    lines = tuple(lines)
    groups = check_groups(spec, lines)
    failing = [g for g in groups if not _holds(lines, g)]
    if not failing:
        return lines, 0
    template = class_template(spec)
    suspects = sorted(
        {
            (ln, i)
            for covered, _ in failing
            for ln, i in covered
            if template[ln][i] == "X" and lines[ln][i] in CONFUSABLE
        }
    )
    for size in range(1, MAX_REPAIR_SUBSTITUTIONS + 1):
        found: list[tuple[str, ...]] = []
        for positions in itertools.combinations(suspects, size):
            for chars in itertools.product(*(CONFUSABLE[lines[ln][i]] for ln, i in positions)):
                trial = [list(x) for x in lines]
                for (ln, i), c in zip(positions, chars, strict=True):
                    trial[ln][i] = c
                candidate = tuple("".join(x) for x in trial)
                if all(_holds(candidate, g) for g in check_groups(spec, candidate)):
                    found.append(candidate)
        if len(found) == 1:
            return found[0], size
        if found:
            return lines, 0  # ambiguous: more than one repair would hold; accept none
    return lines, 0


def _score(spec: FormatSpec, lines: Sequence[str]) -> int:
    """How many check digits hold, plus one for a plausible document code letter."""
    held = sum(_holds(lines, g) for g in check_groups(spec, lines))
    return held + int(lines[0][:1] in "PIACV")


def clean_read(raw_lines: Sequence[str]) -> tuple[FormatSpec, tuple[str, ...], tuple[str, ...], int] | None:
    """Raw OCR lines -> (format, literal lines, repaired lines, repairs made), or None when no format fits.

    ``literal``: fitted and class-mapped only (what the document shows, as far as OCR can tell);
    ``repaired``: after the check-digit-guided repair (equal to ``literal`` when no repair was made).

    Every combination of the lines' length fits (:func:`fit_variants`) is class-mapped and repaired;
    the one where most check digits hold wins (the first, i.e. the plain fit, on a tie).
    """
    clean = [normalise_line(x) for x in raw_lines]
    clean = [x for x in clean if x]
    spec = guess_format([len(x) for x in clean])
    if spec is None:
        return None
    variants = [fit_variants(x, spec.line_length) for x in clean]
    if any(not v for v in variants):
        return None
    best: tuple[int, FormatSpec, tuple[str, ...], tuple[str, ...], int] | None = None
    for combo in itertools.product(*variants):
        line_spec = format_for_shape(spec.line_count, spec.line_length, combo[0][:1]) or spec
        literal = apply_classes(line_spec, combo)
        lines, repairs = repair_check_digits(line_spec, literal)
        score = _score(line_spec, lines)
        if best is None or score > best[0]:
            best = (score, line_spec, literal, lines, repairs)
    assert best is not None
    return best[1], best[2], best[3], best[4]
