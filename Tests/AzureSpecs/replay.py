#!/usr/bin/env python3
"""Replay Azure's pinned x-ms-examples against an emulator and compare what it answers.

The script and import name of the replay, whose code is the package ``azurereplay/`` beside
this file (its docstring says how examples are rewritten, seeded, sent and judged). ``import
replay`` gives the same names as ``import azurereplay``, and ``replay.azspec`` is the validator.

    python3 Tests/AzureSpecs/replay.py --base-url http://127.0.0.1:PORT --token TOKEN \\
        --subscription 11111111-1111-1111-1111-111111111111
    python3 Tests/AzureSpecs/replay.py --endpoints STATE/endpoints.json     # kiln emulator serve

Azure's examples are not in this repository; README.md says where they are looked for and how
to provide them (``--if-available`` exits 0 when they are not on this machine).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import azspec  # noqa: E402,F401  (after the path set-up; replay.azspec, as before)
from azurereplay import *  # noqa: E402,F401,F403  (the public API)
from azurereplay import __all__, main  # noqa: E402,F401

if __name__ == "__main__":
    sys.exit(main())
