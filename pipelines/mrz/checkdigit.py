"""ICAO 9303 check digits: weights 7, 3, 1 repeating; 0-9 = 0-9, A-Z = 10-35, '<' = 0; sum mod 10."""

from __future__ import annotations

__all__ = ["MRZ_ALPHABET", "char_value", "check_digit"]

MRZ_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<"
_WEIGHTS = (7, 3, 1)


def char_value(char: str) -> int:
    if char.isdigit():
        return int(char)
    if "A" <= char <= "Z":
        return ord(char) - ord("A") + 10
    if char == "<":
        return 0
    raise ValueError(f"{char!r} is not an MRZ character")


def check_digit(field: str) -> str:
    """The check digit of ``field`` as a one-character string."""
    total = sum(char_value(c) * _WEIGHTS[i % 3] for i, c in enumerate(field))
    return str(total % 10)
