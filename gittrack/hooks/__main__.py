"""``python -m gittrack.hooks HOOK [ARGS]``: what the installed hook wrappers run."""

from __future__ import annotations

import sys

from gittrack.hooks.actions import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
