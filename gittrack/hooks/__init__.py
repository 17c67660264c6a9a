"""Git hooks that record the environment with every commit.

- :mod:`gittrack.hooks.install`: ``gittrack hooks install/uninstall`` — small
  wrapper scripts in the repository's hooks directory (``core.hooksPath``
  respected) that chain with hooks already there.
- :mod:`gittrack.hooks.actions`: what the ``pre-commit``, ``post-commit`` and
  ``pre-push`` hooks do (run as ``python -m gittrack.hooks NAME ARGS``).
- :mod:`gittrack.hooks.entries`: the console scripts the pre-commit framework
  runs (``gittrack-env-snapshot``, ``gittrack-no-large-files``).
"""

from __future__ import annotations

HOOK_NAMES = ("pre-commit", "post-commit", "pre-push")
