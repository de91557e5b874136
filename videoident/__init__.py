"""videoident: the service core (sessions, TAN, evidence vault, audit, storage, settings)."""

__version__ = "0.1.0"
