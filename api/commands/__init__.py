"""Sub-commands of the ``videoident`` CLI: one module each, each with ``register(subparsers)``.

A command module imports what it needs inside its handler, so ``videoident --help`` stays fast and
loads no model.
"""
