"""The command line: ``validate``, ``operations``, ``specs``, ``kinds``."""

import argparse
import json
import sys

from .exchanges import check_log
from .specs import MANIFEST, SpecsNotFound, SpecStore, locate_specs, pinned_commit, verify_specs
from .violations import KINDS


def group_text(violations):
    """Human-readable text of ``violations``, grouped by kind then operation."""
    lines = []
    by_kind = {}
    for v in violations:
        by_kind.setdefault(v.kind, []).append(v)
    for kind in sorted(by_kind):
        lines.append(f"{kind} ({len(by_kind[kind])}): {KINDS.get(kind, '')}")
        for v in sorted(by_kind[kind], key=lambda x: (x.operationId or "", x.line or 0, x.pointer)):
            where = f"line {v.line}: " if v.line is not None else ""
            op = f"{v.operationId}@{v.apiVersion}" if v.operationId else f"{v.method} {v.path}@{v.apiVersion}"
            pointer = f" {v.where}{v.pointer}" if v.where != "exchange" else ""
            lines.append(f"  {where}{op}{pointer}: {v.message}")
    return "\n".join(lines)


def command_validate(args):
    """``validate LOG``: print the violations, then ``N exchanges, M violations`` (on stderr with
    ``--json``, so that stdout stays one JSON document); 1 when one of a kind not allowed was found."""
    unknown = [k for k in args.allow if k not in KINDS]
    if unknown:
        print(f"unknown kind(s) for --allow: {', '.join(unknown)} (see: azspec.py kinds)", file=sys.stderr)
        return 2
    try:
        store = SpecStore(args.specs)
    except SpecsNotFound as absent:
        return skipped(absent, args.if_available)
    count, violations = check_log(args.log, args.allow, store)
    if args.known:
        violations = without_known(violations, load_known(args.known))
    if args.json:
        print(json.dumps([v.to_dict() for v in violations], indent=1))
    elif violations:
        print(group_text(violations))
        print(f"{len(violations)} violation(s)")
    else:
        print("no violations")
    print(f"{count} exchanges, {len(violations)} violations", file=sys.stderr if args.json else sys.stdout)
    return 1 if violations else 0


def skipped(absent, if_available):
    """Say on stderr that there are no specs to check against (``absent``, a
    :class:`SpecsNotFound`); the exit status: 0 with ``--if-available``, else 2."""
    print(f"skipped: {absent.short}", file=sys.stderr)
    return 0 if if_available else 2


def load_known(path):
    """The documented differences of ``path``: a JSON list of ``{kind, operationId, pointer,
    where, reason, source}``, where real Azure departs from its own specification."""
    with open(path, encoding="utf-8") as f:
        known = json.load(f)
    for entry in known:
        missing = [k for k in ("kind", "operationId", "pointer", "where", "reason", "source") if not entry.get(k)]
        if missing:
            raise ValueError(f"{path}: an entry lacks {', '.join(missing)}: {entry}")
    return known


def without_known(violations, known):
    """``violations`` minus those a ``known`` entry matches exactly (kind, operation, where, pointer)."""
    keys = {(k["kind"], k["operationId"], k["where"], k["pointer"]) for k in known}
    return [v for v in violations if (v.kind, v.operationId, v.where, v.pointer) not in keys]


def command_operations(args):
    """``operations``: list the pinned operations (method, template, operationId)."""
    try:
        store = SpecStore(args.specs)
    except SpecsNotFound as absent:
        print(absent, file=sys.stderr)
        return 2
    for op in sorted(store.operations, key=lambda o: (o.apiVersion, o.template, o.method)):
        if args.api_version in (None, op.apiVersion):
            print(f"{op.apiVersion}  {op.method:6} {op.template}  {op.operationId}")
    return 0


def command_specs(args):
    """``specs``: where the specs are, and whether they are the files manifest.json pins (their
    git blob ids, and the LICENSE beside them); 1 when not, 2 when there are none (0 with
    ``--if-available``)."""
    try:
        specs_dir = locate_specs(args.specs)
    except SpecsNotFound as absent:
        return skipped(absent, args.if_available)
    problems = verify_specs(specs_dir)
    for problem in problems:
        print(problem)
    with open(MANIFEST, encoding="utf-8") as handle:
        pinned = len(json.load(handle)["files"])
    verdict = "differs from manifest.json" if problems else "as manifest.json pins them"
    print(f"{specs_dir}: {pinned} files at {pinned_commit()}, {verdict}")
    return 1 if problems else 0


def command_kinds(_args):
    """``kinds``: list the kinds of violation."""
    for kind, meaning in KINDS.items():
        print(f"{kind:17} {meaning}")
    return 0


def main(argv=None):
    """Entry point of the command line."""
    parser = argparse.ArgumentParser(description="Check ARM exchanges against Azure's pinned REST API specs.")
    parser.add_argument("--specs", metavar="DIR", help="directory holding Azure's specification/ (default: "
                        "$KILN_AZURE_SPECS, else ../shared/azure-rest-api-specs beside the repository, else "
                        "beside this file; see README.md)")
    sub = parser.add_subparsers(dest="command", required=True)
    validate = sub.add_parser("validate", help="validate a JSON-lines exchange log")
    validate.add_argument("log")
    validate.add_argument("--allow", action="append", default=[], metavar="KIND",
                          help="ignore violations of this kind (repeatable)")
    validate.add_argument("--json", action="store_true", help="print the violations as JSON")
    validate.add_argument("--known", metavar="FILE",
                          help="documented differences of real Azure from its spec to leave out (JSON)")
    validate.add_argument("--if-available", action="store_true",
                          help="exit 0, not 2, when the specs are not on this machine (saying so on stderr)")
    validate.set_defaults(run=command_validate)
    operations = sub.add_parser("operations", help="list the pinned operations")
    operations.add_argument("--api-version")
    operations.set_defaults(run=command_operations)
    specs = sub.add_parser("specs", help="where the specs are; check them against manifest.json")
    specs.add_argument("--if-available", action="store_true", help="exit 0, not 2, when there are none")
    specs.set_defaults(run=command_specs)
    sub.add_parser("kinds", help="list the kinds of violation").set_defaults(run=command_kinds)
    args = parser.parse_args(argv)
    return args.run(args)
