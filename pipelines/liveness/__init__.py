"""Liveness: active challenges verified from landmarks, passive replay and injection signals."""
