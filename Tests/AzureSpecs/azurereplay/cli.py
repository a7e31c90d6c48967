"""The command line: replay the examples, print the table, write --json and --log."""

import argparse
import json
import os
import sys
import urllib.parse
import urllib.request

import azurespec
from azurespec.cli import load_known, without_known

from .compare import emulator_violations, judge, skip_row
from .emulator import SERVED, Emulator, SeedError
from .rewrite import build_request, prepare

HERE = azurespec.HERE


def replay_example(store, emulator, example, index, excepted, known=()):
    """Send one example to the emulator; its result row and the exchange (None if skipped).
    ``known``: where real Azure departs from its specification (known-differences.json), which
    the emulator may do as well."""
    rg = f"azspec-{index:03d}"
    if example.operation.operationId.startswith("ResourceGroups_"):
        rg = f"azspec-{index:03d}-{example.data.get('parameters', {}).get('resourceGroupName', 'rg')}"
    method, path, body, headers = build_request(example, emulator, rg)
    try:
        seeded = prepare(store, example, emulator, rg, path, body)
    except SeedError as error:
        return skip_row(example, f"could not create what it needs: {error}"), None
    status, got_body, _ = emulator.send(method, path, body, headers)
    exchange = {"method": method, "path": path, "apiVersion": example.operation.apiVersion,
                "requestBody": body, "status": status, "responseBody": got_body}
    violations = without_known(emulator_violations(store, example, exchange), known)
    written = body if method in ("PUT", "PATCH") else seeded
    row_note = getattr(example, "seed_note", None)
    if written is not None and method == "GET" and isinstance(got_body, dict) and "value" in got_body:
        written = {"value": [written]}
    row = judge(example, status, got_body, violations, excepted, written)
    if row_note:
        row["seed"] = row_note
    return row, exchange


def load_exceptions(path):
    """``{example file name: reason}`` from the exceptions file (keys starting with _ ignored)."""
    if not path or not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    return {os.path.basename(k): v for k, v in data.items() if not k.startswith("_")}


def token_from_endpoints(endpoints):
    """A bearer token from the emulator's client credential in its endpoints document."""
    credential = endpoints["credential"]
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": credential["clientId"],
                                   "client_secret": credential["clientSecret"],
                                   "scope": "https://management.azure.com/.default"}).encode()
    url = f"{endpoints['login'].rstrip('/')}/{endpoints['tenantId']}/oauth2/v2.0/token"
    with urllib.request.urlopen(url, data=form, timeout=30) as response:
        return json.load(response)["access_token"]


def print_table(rows, details):
    """The per-example table (and, with ``details``, what went wrong under each failing row)."""
    print(f"{'#':>3}  {'verdict':8} {'expected':11} {'got':4} {'lost/miss/extra/type':20} {'spec':4}  example")
    for index, row in enumerate(rows, 1):
        shape = f"{len(row['lost'])}/{len(row['missing'])}/{len(row['extra'])}/{len(row['mistyped'])}"
        name = os.path.basename(row["example"])
        print(f"{index:>3}  {row['verdict']:8} {','.join(row['expected']):11} {str(row['got'] or '-'):4} "
              f"{shape:20} {len(row['violations']):4}  {name} ({row['operation']})")
        if details and row["verdict"] not in ("PASS",):
            for label in ("reason", "error", "seed"):
                if row.get(label):
                    print(f"       {label}: {row[label]}")
            for label in ("lost", "mistyped", "violations", "missing"):
                for item in row[label]:
                    print(f"       {label}: {item}")
    counts = {}
    for row in rows:
        counts[row["verdict"]] = counts.get(row["verdict"], 0) + 1
    print(", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


def parse_args(argv):
    """The command line's options. Without Azure's specs on this machine (``--specs``, else
    ``azurespec.find_specs()``) it says so on stderr and exits: 0 with ``--if-available``, else 2."""
    parser = argparse.ArgumentParser(description=sys.modules[__package__].__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="the emulator's ARM base URL")
    parser.add_argument("--token", help="a bearer token the emulator accepts")
    parser.add_argument("--subscription", help="the emulator's subscription id")
    parser.add_argument("--endpoints", help="the emulator's endpoints.json (fills what is not given)")
    parser.add_argument("--location", help="the emulator's location (default: endpoints' or westus)")
    parser.add_argument("--platform-image", default="Canonical:ubuntu-24_04-lts:server:24.04.202501010",
                        help="publisher:offer:sku:version the emulator knows")
    parser.add_argument("--exceptions", default=os.path.join(HERE, "replay-exceptions.json"))
    parser.add_argument("--known", default=os.path.join(HERE, "known-differences.json"),
                        help="where real Azure departs from its specification (not counted against the emulator)")
    parser.add_argument("--only", help="replay only examples whose file name contains this text")
    parser.add_argument("--all", action="store_true", help="also send examples of operations not served")
    parser.add_argument("--details", action="store_true", help="print what went wrong under each row")
    parser.add_argument("--json", metavar="FILE", help="write the result rows as JSON")
    parser.add_argument("--log", metavar="FILE", help="write the exchanges as JSON lines (for azspec.py)")
    parser.add_argument("--specs", metavar="DIR", help="directory holding Azure's specification/ (default: "
                        "$KILN_AZURE_SPECS, else ../shared/azure-rest-api-specs beside the repository, else "
                        "beside this file; see README.md)")
    parser.add_argument("--if-available", action="store_true",
                        help="exit 0, not 2, when the specs are not on this machine (saying so on stderr)")
    args = parser.parse_args(argv)
    try:
        args.specs = azurespec.locate_specs(args.specs)
    except azurespec.SpecsNotFound as absent:
        print(f"skipped: {absent.short}", file=sys.stderr)
        raise SystemExit(0 if args.if_available else 2) from None
    if args.endpoints:
        with open(args.endpoints, encoding="utf-8") as handle:
            endpoints = json.load(handle)
        args.base_url = args.base_url or endpoints["arm"]
        args.subscription = args.subscription or endpoints["subscriptionId"]
        args.location = args.location or endpoints.get("location")
        args.token = args.token or token_from_endpoints(endpoints)
    if not (args.base_url and args.token and args.subscription):
        parser.error("give --base-url, --token and --subscription (or --endpoints)")
    args.location = args.location or "westus"
    return args


def main(argv=None):
    """Replay the examples; exit 1 when one fails without an exception listed."""
    args = parse_args(argv)
    store = azurespec.SpecStore(args.specs)
    emulator = Emulator(args.base_url, args.token, args.subscription, args.location,
                        tuple(args.platform_image.split(":")))
    exceptions = load_exceptions(args.exceptions)
    known = load_known(args.known) if args.known else []
    rows, exchanges = [], []
    for index, example in enumerate(azurespec.pinned_examples(store), 1):
        if args.only and args.only not in os.path.basename(example.file):
            continue
        if example.operation.operationId not in SERVED and not args.all:
            rows.append(skip_row(example, "the emulator does not serve this operation"))
            continue
        row, exchange = replay_example(store, emulator, example, index,
                                       exceptions.get(os.path.basename(example.file)), known)
        rows.append(row)
        if exchange:
            exchanges.append(exchange)
    print_table(rows, args.details)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=1)
    if args.log:
        with open(args.log, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(x) + "\n" for x in exchanges)
    return 1 if any(r["verdict"] not in ("PASS", "EXCEPTED", "SKIP") for r in rows) else 0
