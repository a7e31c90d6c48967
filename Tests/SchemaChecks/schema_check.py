"""`kiln schema` against what `kiln validate` accepts (scripts/schema-check.sh runs this).

YAML is read the way an editor's YAML language server reads it (YAML 1.2's core schema: `0644`
is the number 644, `off` and `yes` are strings, no dates), then checked with a real JSON Schema
validator (jsonschema, pinned in the script).

  * the schema itself is valid draft 2020-12;
  * every manifest under manifests/ validates against it, and `kiln validate` accepts it; so does
    each of Tests/SchemaChecks/accepted/ (values Kiln reads as text in forms an editor reads as
    numbers or booleans, enum values in any case, null for optional keys);
  * on a corpus of broken manifests (the robustness suite's, written out by BadInput when
    KILN_BAD_INPUT_CORPUS names a directory), every manifest the schema rejects is rejected by
    `kiln validate` too. The figures (how many each rejects) are printed.
"""

import argparse
import json
import os
import re
import subprocess
import sys

import jsonschema
import yaml


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 core-schema scalars instead of YAML 1.1's. Explicit
    tags (`!!int`, `!!timestamp`, `!custom`) are ignored, as Kiln's decoder ignores them: every
    node reads as it would untagged."""

    def construct_object(self, node, deep=False):
        if isinstance(node, yaml.ScalarNode):
            node.tag = self.resolve(yaml.ScalarNode, node.value, (node.style is None, node.style is not None))
        elif isinstance(node, yaml.SequenceNode):
            node.tag = self.DEFAULT_SEQUENCE_TAG
        elif isinstance(node, yaml.MappingNode):
            node.tag = self.DEFAULT_MAPPING_TAG
        return super().construct_object(node, deep)


Yaml12Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag == "tag:yaml.org,2002:merge"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for tag, pattern, first in [
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+.0123456789"),
    ),
]:
    Yaml12Loader.add_implicit_resolver(tag, re.compile(pattern), first)


def construct_int(loader, node):
    text = loader.construct_scalar(node)
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text)


def construct_float(loader, node):
    text = loader.construct_scalar(node).lower()
    return float(text.replace(".inf", "inf").replace(".nan", "nan"))


Yaml12Loader.add_constructor("tag:yaml.org,2002:int", construct_int)
Yaml12Loader.add_constructor("tag:yaml.org,2002:float", construct_float)

# Kiln refuses a document that expands to more nodes than this (ManifestLoader.maxExpandedNodes);
# a YAML bomb is not expanded here either.
MAX_NODES = 100_000


class TooLarge(Exception):
    pass


def as_json(value, budget):
    """The document as JSON data: string keys (as an editor sees them), aliases expanded within `budget`."""
    budget[0] -= 1
    if budget[0] < 0:
        raise TooLarge()
    if isinstance(value, dict):
        return {key_text(k): as_json(v, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v, budget) for v in value]
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value


def key_text(key):
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def load(path):
    """('ok', data), ('unreadable', why) for what PyYAML cannot read, or ('large', None)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        # Kiln's parser (libyaml, through Yams) passes over a byte order mark inside the text as
        # well as at its start (`    \ufeffsource:` is the key source); PyYAML only at the start.
        text = raw.decode("utf-8").replace("\ufeff", "")
        documents = list(yaml.load_all(text, Loader=Yaml12Loader))
    except (UnicodeDecodeError, yaml.YAMLError, RecursionError, ValueError, TypeError) as error:
        return "unreadable", type(error).__name__
    if len(documents) != 1:
        return "unreadable", f"{len(documents)} documents"
    try:
        return "ok", as_json(documents[0], [MAX_NODES])
    except (TooLarge, RecursionError):
        return "large", None


def validate_verdicts(kiln, directory, names):
    """{name: accepted?} from `kiln validate --json`, run in `directory` in batches."""
    verdicts = {}
    for start in range(0, len(names), 60):
        batch = names[start : start + 60]
        run = subprocess.run(
            [kiln, "validate", "--json", *batch], cwd=directory, capture_output=True, text=True, timeout=600
        )
        if run.returncode not in (0, 1):
            raise SystemExit(f"kiln validate exited {run.returncode} on {batch}: {run.stderr[-2000:]}")
        for line in run.stdout.splitlines():
            report = json.loads(line)
            verdicts[report["file"]] = report["valid"]
    missing = [n for n in names if n not in verdicts]
    if missing:
        raise SystemExit(f"kiln validate gave no report for {missing[:5]}")
    return verdicts


def first_error(validator, data):
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    return f"{error.json_path}: {error.message[:200]}" if error else ""


def check_examples(kiln, validator, directory):
    names = sorted(n for n in os.listdir(directory) if n.endswith(".yaml"))
    failures = []
    for name in names:
        kind, data = load(os.path.join(directory, name))
        if kind != "ok":
            failures.append(f"{name}: not readable as YAML ({data})")
        elif not validator.is_valid(data):
            failures.append(f"{name}: {first_error(validator, data)}")
    verdicts = validate_verdicts(kiln, directory, names)
    failures += [f"{n}: kiln validate rejects it" for n in names if not verdicts[n]]
    print(f"schema: {directory}: {len(names)} manifests, {len(names) - len(failures)} valid for the schema and kiln validate")
    return failures


def check_corpus(kiln, validator, directory):
    names = sorted(n for n in os.listdir(directory) if re.fullmatch(r"case\d+\.yaml", n))
    if not names:
        return [f"the corpus {directory} has no case*.yaml"]
    verdicts = validate_verdicts(kiln, directory, names)
    counts = {"schema and validate reject": 0, "validate only rejects": 0, "both accept": 0,
              "schema only rejects": 0, "not YAML to PyYAML": 0, "of which validate rejects": 0,
              "too large to expand": 0}
    failures = []
    for name in names:
        kind, data = load(os.path.join(directory, name))
        accepted = verdicts[name]
        if kind == "unreadable":
            counts["not YAML to PyYAML"] += 1
            counts["of which validate rejects"] += 0 if accepted else 1
            continue
        if kind == "large":
            counts["too large to expand"] += 1
            continue
        if validator.is_valid(data):
            counts["both accept" if accepted else "validate only rejects"] += 1
        elif accepted:
            counts["schema only rejects"] += 1
            failures.append(f"{name}: the schema rejects it ({first_error(validator, data)}), kiln validate accepts it")
        else:
            counts["schema and validate reject"] += 1
    print(f"schema: corpus of {len(names)} broken manifests: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kiln", required=True)
    parser.add_argument("--schema", required=True, help="the output of kiln schema")
    parser.add_argument(
        "--examples", required=True, action="append", help="a directory of manifests both must accept (repeatable)"
    )
    parser.add_argument("--corpus", help="a directory of broken manifests (case*.yaml)")
    args = parser.parse_args()
    with open(args.schema) as f:
        schema = json.load(f)
    if schema.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
        raise SystemExit(f"the schema's $schema is {schema.get('$schema')!r}, not draft 2020-12")
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    failures = []
    for directory in args.examples:
        failures += check_examples(os.path.abspath(args.kiln), validator, directory)
    if args.corpus:
        failures += check_corpus(os.path.abspath(args.kiln), validator, args.corpus)
    for failure in failures:
        print(f"schema: FAIL {failure}")
    print("schema check: " + (f"{len(failures)} problems" if failures else "the schema agrees with kiln validate"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
