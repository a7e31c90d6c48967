"""Replay Azure's pinned x-ms-examples against an emulator and compare what it answers.

For each pinned example of an operation the emulator serves, the example's subscription,
resource group, location and platform image are rewritten into the emulator's (each example
gets a resource group of its own, so every name is unique to it), the resources the request
needs (its target for a read, update, delete or action; its parents; the disks, snapshots,
images, galleries and VMs its body refers to) are created first with small bodies, and the
example's request (method, path, api-version, query and header parameters, body) is sent
with urllib. (A read is seeded with the example's own resource, its read-only properties
taken out, when the emulator accepts that; else with a small body.) The answer is compared
with the example: the status code must be one the example documents, and the body's shape
(keys and JSON types, recursively; not values) is compared with the example's body. A key of
the example's body that the client wrote (in the request, or in the seeded resource) but the
answer lacks is "lost"; one it did not write is only "missing" (Azure computes it, or the
seed lacked it), reported but not failed. The exchange is also checked against the spec with
azspec.py (the package azurespec).

    python3 Tests/AzureSpecs/replay.py --base-url http://127.0.0.1:PORT --token TOKEN \\
        --subscription 11111111-1111-1111-1111-111111111111
    python3 Tests/AzureSpecs/replay.py --endpoints STATE/endpoints.json     # kiln emulator serve

Verdicts: PASS; STATUS (a status the example does not document); SHAPE (keys lost, or values
of another JSON type than the example's); SPEC (the exchange breaks the spec); EXCEPTED (listed in
replay-exceptions.json, example file name → reason: a deliberate difference of the
emulator); SKIP (the emulator does not serve the operation). Exit status 1 when a verdict
other than PASS, EXCEPTED or SKIP was given.

Only the given base URL is contacted (point it at loopback). Standard library only. Azure's
examples are found as the validator finds its specs (``azurespec.find_specs()``: see README.md);
without them it says so on stderr (``skipped: ...``) and exits 2, or 0 with ``--if-available``.

``replay.py`` beside this package is the script (``import replay`` gives the same names as
``import azurereplay``). Modules: ``emulator`` (requests, seeding the resources examples need),
``rewrite`` (an example into the emulator's names; what its request needs), ``compare`` (the
answer against the example, the result rows), ``cli`` (the loop over examples, the table).
"""

from .cli import HERE, load_exceptions, main, parse_args, print_table, replay_example, token_from_endpoints
from .compare import emulator_violations, judge, present, reference_body, shape_differences, skip_row
from .emulator import (API, CANONICAL_TYPES, COMPUTE_ID, SEEDABLE, SERVED, Emulator, SeedError, error_text,
                       parse_body)
from .rewrite import (IMAGE_IN_ID, LOCATION_IN_ID, PLACEHOLDER, RG_IN_ID, SUB_IN_ID, build_request,
                      example_parameters, list_item_name, prepare, referenced_ids, rewrite_body,
                      rewrite_string, seed_template, without_violations)

__all__ = [
    "HERE", "load_exceptions", "main", "parse_args", "print_table", "replay_example", "token_from_endpoints",
    "emulator_violations", "judge", "present", "reference_body", "shape_differences", "skip_row",
    "API", "CANONICAL_TYPES", "COMPUTE_ID", "SEEDABLE", "SERVED", "Emulator", "SeedError", "error_text",
    "parse_body",
    "IMAGE_IN_ID", "LOCATION_IN_ID", "PLACEHOLDER", "RG_IN_ID", "SUB_IN_ID", "build_request",
    "example_parameters", "list_item_name", "prepare", "referenced_ids", "rewrite_body", "rewrite_string",
    "seed_template", "without_violations",
]
