"""Face checks: the ID portrait against the live face, best-frame selection, re-identification."""
