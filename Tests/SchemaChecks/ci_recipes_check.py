"""The CI recipes of docs/ci.md (docs/ci/*.yml) run what the end-to-end tests run.

scripts/schema-check.sh first checks each file against its service's published schema
(check-jsonschema's bundled GitHub workflow and Azure Pipelines schemas). This checks the rest:
the shape docs/ci.md promises (plan with --detailed-exitcode on pull requests, apply with --json
and --artifact on main, the artifact uploaded, OIDC on GitHub), every shell block parses with
`bash -n`, and every `kiln SUBCOMMAND --flag` they run is in that subcommand's --help and is run
with that flag by an end-to-end test (Tests/EndToEndTests, Tests/RobustnessTests).
"""

import argparse
import glob
import re
import shlex
import subprocess
import sys

import yaml

from schema_check import Yaml12Loader

SEPARATORS = {"|", "||", "&&", ";", "&"}


def shell_blocks(node):
    """Every shell script of a workflow: GitHub's `run`, Azure Pipelines' `bash` and `script`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("run", "bash", "script") and isinstance(value, str):
                yield value
            else:
                yield from shell_blocks(value)
    elif isinstance(node, list):
        for item in node:
            yield from shell_blocks(item)


def kiln_commands(script):
    """(subcommand, [flags]) of each kiln command line of a script."""
    for line in script.replace("\\\n", " ").splitlines():
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:
            continue
        for i, token in enumerate(tokens[:-1]):
            if token != "kiln":
                continue
            flags = []
            for t in tokens[i + 2 :]:
                if t in SEPARATORS or t.startswith(">"):
                    break
                if t.startswith("--"):
                    flags.append(t.split("=", 1)[0])
            yield tokens[i + 1], flags


def steps_of(job):
    steps = list(job.get("steps", []))
    for phase in job.get("strategy", {}).get("runOnce", {}).values():
        steps += phase.get("steps", [])
    return steps


def shape_problems(name, doc):
    """What docs/ci.md promises of each recipe."""
    problems = []
    blocks = "\n".join(shell_blocks(doc))
    commands = list(kiln_commands(blocks))

    def runs(sub, *flags):
        return any(s == sub and all(f in fl for f in flags) for s, fl in commands)

    if not runs("plan", "--detailed-exitcode"):
        problems.append(f"{name}: no kiln plan --detailed-exitcode")
    if not runs("apply", "--json", "--artifact", "--auto-approve"):
        problems.append(f"{name}: no kiln apply --auto-approve --json --artifact")
    if "jobs" in doc:  # GitHub Actions
        on = doc.get("on", {})
        if "pull_request" not in on or "main" not in on.get("push", {}).get("branches", []):
            problems.append(f"{name}: not triggered by pull requests and pushes to main")
        if doc.get("permissions", {}).get("id-token") != "write":
            problems.append(f"{name}: the OIDC token needs permissions: id-token: write")
        for job_name, job in doc["jobs"].items():
            if "self-hosted" not in job.get("runs-on", []):
                problems.append(f"{name}: job {job_name} is not on a self-hosted runner")
        plan, apply = doc["jobs"].get("plan", {}), doc["jobs"].get("apply", {})
        if "pull_request" not in plan.get("if", ""):
            problems.append(f"{name}: the plan job does not run on pull requests only")
        if "refs/heads/main" not in apply.get("if", ""):
            problems.append(f"{name}: the apply job does not run on main only")
        if not any(str(s.get("uses", "")).startswith("actions/upload-artifact@") for s in steps_of(apply)):
            problems.append(f"{name}: the apply job uploads no artifact")
        if not {"AZURE_CLIENT_ID", "AZURE_TENANT_ID"} <= set(doc.get("env", {})):
            problems.append(f"{name}: Kiln's OIDC sign-in needs AZURE_CLIENT_ID and AZURE_TENANT_ID")
    else:  # Azure Pipelines
        stages = {s["stage"]: s for s in doc.get("stages", [])}
        if "PullRequest" not in stages.get("plan", {}).get("condition", ""):
            problems.append(f"{name}: the plan stage does not run on pull requests only")
        if "refs/heads/main" not in stages.get("apply", {}).get("condition", ""):
            problems.append(f"{name}: the apply stage does not run on main only")
        apply_steps = [s for j in stages.get("apply", {}).get("jobs", []) for s in steps_of(j)]
        if not any("publish" in s for s in apply_steps):
            problems.append(f"{name}: the apply stage publishes no artifact")
    return problems, commands


def tested_flags():
    """Lines of the end-to-end tests, to find each subcommand run with each flag."""
    lines = []
    for path in glob.glob("Tests/EndToEndTests/*.swift") + glob.glob("Tests/RobustnessTests/*.swift"):
        with open(path) as f:
            lines += f.read().splitlines()
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kiln", required=True)
    parser.add_argument("recipes", nargs="+")
    args = parser.parse_args()
    problems = []
    used = set()
    scripts = []
    for path in args.recipes:
        with open(path) as f:
            doc = yaml.load(f, Loader=Yaml12Loader)
        found, commands = shape_problems(path, doc)
        problems += found
        scripts += list(shell_blocks(doc))
        for sub, flags in commands:
            used.add((sub, None))
            used.update((sub, flag) for flag in flags)
    for script in scripts:
        check = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
        if check.returncode != 0:
            problems.append(f"a shell block does not parse: {check.stderr.strip()}")
    lines = tested_flags()
    helps = {}
    for sub, flag in sorted(used, key=lambda p: (p[0], p[1] or "")):
        if sub not in helps:
            run = subprocess.run([args.kiln, sub, "--help"], capture_output=True, text=True)
            if run.returncode != 0:
                problems.append(f"kiln {sub} is not a subcommand: {run.stderr.strip()[:200]}")
            helps[sub] = run.stdout
        if flag is None:
            if not any(f'"{sub}"' in line for line in lines):
                problems.append(f"no end-to-end test runs kiln {sub}")
            continue
        if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", helps[sub]):
            problems.append(f"kiln {sub} has no {flag} (kiln {sub} --help)")
        if not any(f'"{sub}"' in line and f'"{flag}"' in line for line in lines):
            problems.append(f"no end-to-end test runs kiln {sub} {flag}")
    flags = sorted(f"{s} {f}" for s, f in used if f)
    print(f"ci recipes: {len(args.recipes)} files, kiln commands: {', '.join(flags)}")
    for problem in problems:
        print(f"ci recipes: FAIL {problem}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
