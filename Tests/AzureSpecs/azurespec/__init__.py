"""Hold HTTP exchanges with ARM to Azure's published REST API specifications.

A pinned subset of Azure/azure-rest-api-specs (``specification/...``; see SOURCE.md)
describes the operations Kiln calls at the api-versions it sends. Those files are not in this
repository: ``find_specs()`` looks for them in ``$KILN_AZURE_SPECS``, then
``<repo>/../shared/azure-rest-api-specs``, then a gitignored copy beside this package, and
``manifest.json`` beside this package names the files and their git blob ids
(``verify_specs``). Without them ``SpecStore()`` raises ``SpecsNotFound``, which says where
it looked. This package finds the operation of an exchange (method, path template matched
case-insensitively on its literal segments as ARM does, api-version) and checks its request
and response bodies against the operation's Swagger 2.0 schemas.

An exchange log is JSON lines, one object per line::

    {"method": "PUT", "path": "/subscriptions/.../disks/d1", "apiVersion": "2024-03-02",
     "requestBody": {...} or null, "status": 200, "responseBody": {...} or null}

(``apiVersion`` may be left out when the path carries ``?api-version=``.)

Command line::

    python3 Tests/AzureSpecs/azspec.py validate LOG.jsonl [--allow KIND]... [--json] [--if-available]
    python3 Tests/AzureSpecs/azspec.py operations [--api-version V]
    python3 Tests/AzureSpecs/azspec.py specs [--if-available]
    python3 Tests/AzureSpecs/azspec.py kinds

(``azspec.py`` is a thin script over this package; ``import azspec`` and ``import azurespec``
give the same names.)

``validate`` ends with a line ``N exchanges, M violations`` (on stderr with ``--json``) and
exits 1 when a violation of a kind not allowed is found, 0 otherwise; without the specs it
says so on stderr (``skipped: ...``) and exits 2, or 0 with ``--if-available``. From Python,
``validate_log(path, allow=())`` returns those violations, and ``validate_exchange(store,
exchange)`` those of one exchange.

Rules beyond plain JSON Schema, as Azure's tooling reads Swagger 2.0:

* A model (a schema with ``properties`` or ``allOf``) admits no property it does not declare
  unless it declares ``additionalProperties``; a schema with neither (``{"type": "object"}``)
  is free-form. A property unknown to the model is a typo or a belief the spec does not back.
* ``allOf`` merges properties and ``required``; ``discriminator`` selects the derived model by
  ``x-ms-discriminator-value`` (or its definition name). ``x-ms-client-flatten`` changes
  nothing on the wire.
* ``readOnly`` properties may not be sent; in responses they are expected. A required property
  that is read-only is not required in a request. ``x-ms-secret`` properties are never returned.
* ``null`` is accepted where ``x-nullable: true``, and for a property that is not required
  unless ``x-nullable: false`` (as oav, Azure's validator, does).
* An enum value outside the list is ``enum``, or ``enum-extensible`` when
  ``x-ms-enum.modelAsString`` is true (Azure may add values); a value differing only in case
  is ``enum-case``.
* Path parameters are checked against their pattern, length and enum. An error status uses the
  operation's own response for it, else ``default``, else Compute's CloudError (DiskRP's
  hand-written documents give no ``default``: see ERROR_FALLBACK). A GET of an operation status
  URL (``.../locations/{l}/...operations/{id}``) is reported as ``lro-status``, apart from
  ``no-operation``, since ARM describes those URLs nowhere.

Modules: ``specs`` (finding and verifying the specs, documents, ``$ref``, operation lookup),
``schema`` (models and the schema walk), ``formats`` (format and pattern checkers),
``violations`` (the kinds, the record), ``exchanges`` (an exchange, a log), ``examples``
(``x-ms-examples``), ``cli``.
"""

from .cli import command_kinds, command_operations, command_specs, command_validate, group_text, main
from .examples import Example, pinned_examples
from .exchanges import (ERROR_FALLBACK, LRO_STATUS_PATH, api_version_of, check_log, check_path_parameters,
                        check_request, check_response, no_operation, read_log, response_for,
                        validate_exchange, validate_log)
from .formats import (DATE, DURATION, INT_RANGES, RFC3339, UUID, compile_pattern, format_problem,
                      valid_date, valid_date_time)
from .schema import (Checker, Model, Property, json_type, schema_type, type_fits, unknown_message,
                     writable_part)
from .specs import (ENV_VAR, HERE, HTTP_METHODS, MANIFEST, Operation, SpecsNotFound, SpecStore, absent_message,
                    find_specs, git_blob_id, holds_specs, locate_specs, match_segments, pinned_commit, spec_places,
                    verify_specs)
from .violations import KINDS, Violation, json_pointer

__all__ = [
    # the specs
    "ENV_VAR", "HERE", "HTTP_METHODS", "MANIFEST", "Operation", "SpecsNotFound", "SpecStore", "absent_message",
    "find_specs", "git_blob_id", "holds_specs", "locate_specs", "match_segments", "pinned_commit", "spec_places",
    "verify_specs",
    # checking values against schemas
    "Checker", "Model", "Property", "json_type", "schema_type", "type_fits", "unknown_message",
    "writable_part",
    "DATE", "DURATION", "INT_RANGES", "RFC3339", "UUID", "compile_pattern", "format_problem",
    "valid_date", "valid_date_time",
    # violations
    "KINDS", "Violation", "json_pointer",
    # exchanges and logs
    "ERROR_FALLBACK", "LRO_STATUS_PATH", "api_version_of", "check_log", "check_path_parameters",
    "check_request", "check_response", "no_operation", "read_log", "response_for",
    "validate_exchange", "validate_log",
    # examples
    "Example", "pinned_examples",
    # command line
    "command_kinds", "command_operations", "command_specs", "command_validate", "group_text", "main",
]
