#!/usr/bin/env python3
"""Hold HTTP exchanges with ARM to Azure's published REST API specifications.

The script and import name of the validator, whose code is the package ``azurespec/`` beside
this file (its docstring says what is checked and how). ``import azspec`` gives the same names
as ``import azurespec``.

    python3 Tests/AzureSpecs/azspec.py validate LOG.jsonl [--allow KIND]... [--json] [--if-available]
    python3 Tests/AzureSpecs/azspec.py operations [--api-version V]
    python3 Tests/AzureSpecs/azspec.py specs [--if-available]
    python3 Tests/AzureSpecs/azspec.py kinds

Azure's specification files are not in this repository; README.md says where they are looked
for ($KILN_AZURE_SPECS, ../shared/azure-rest-api-specs) and how to provide them.
"""

import os
import sys

if os.path.dirname(os.path.abspath(__file__)) not in sys.path:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from azurespec import *  # noqa: E402,F401,F403  (after the path set-up; the public API)
from azurespec import __all__, main  # noqa: E402,F401

if __name__ == "__main__":
    sys.exit(main())
