#!/usr/bin/env python3
"""Rebuild (or re-pin) the subset of Azure/azure-rest-api-specs that Kiln is held to.

Reads a local git copy of the specs repository (any clone or mirror that has the commit),
takes the root Swagger documents below at one commit, every file they ``$ref`` (transitively),
and the ``x-ms-examples`` files of the selected operations only, and writes them under
``--out`` (default ``../shared/azure-rest-api-specs`` beside the repository, one of the places
``azspec.py`` looks: see README.md) with the repository's directory structure, byte for byte as
git has them, together with the repository's LICENSE and a copy of the manifest. (An ``--out``
of this directory makes a local copy, which .gitignore keeps out of git.)

``manifest.json`` beside this script is ours: which files, at which commit, with their git blob
ids. At its commit (the default) the result is checked against it (exit 1 if it differs); a
re-pin (another ``--commit``, or other roots below) rewrites it only with ``--update-manifest``.

    python3 Tests/AzureSpecs/pin.py --git-dir /path/to/azure-rest-api-specs/.git
    python3 Tests/AzureSpecs/pin.py --git-dir DIR --commit SHA --update-manifest     # a re-pin

Standard library only. It never touches the network: it reads the git objects it is given.
"""

import argparse
import datetime
import hashlib
import json
import os
import posixpath
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from azurespec.specs import MANIFEST, spec_places  # noqa: E402  (after the path set-up)

#: The default output: ``<repo>/../shared/azure-rest-api-specs``, where azspec.py looks.
SHARED = spec_places({})[1][0]
REPOSITORY = "https://github.com/Azure/azure-rest-api-specs"

COMPUTE = "specification/compute/resource-manager/Microsoft.Compute"
RESOURCES = "specification/resources/resource-manager/Microsoft.Resources"

#: Root documents (their operations are what the validator matches) and the operations whose
#: examples are pinned. api-versions are the ones Kiln sends (Sources/Providers/Azure/ARM/
#: ArmAPIVersions.swift).
ROOTS = [
    {"path": f"{COMPUTE}/DiskRP/stable/2024-03-02/disk.json",
     "exampleOperations": ["Disks_*"]},
    {"path": f"{COMPUTE}/DiskRP/stable/2024-03-02/snapshot.json",
     "exampleOperations": ["Snapshots_*"]},
    {"path": f"{COMPUTE}/ComputeRP/stable/2024-07-01/virtualMachine.json",
     "exampleOperations": ["VirtualMachines_Get", "VirtualMachines_CreateOrUpdate",
                           "VirtualMachines_Update", "VirtualMachines_AttachDetachDataDisks"]},
    {"path": f"{COMPUTE}/ComputeRP/stable/2024-07-01/image.json",
     "exampleOperations": ["Images_*"]},
    {"path": f"{COMPUTE}/ComputeRP/stable/2024-07-01/virtualMachineImage.json",
     "exampleOperations": ["VirtualMachineImages_Get", "VirtualMachineImages_List",
                           "VirtualMachineImages_ListPublishers", "VirtualMachineImages_ListOffers",
                           "VirtualMachineImages_ListSkus"]},
    {"path": f"{COMPUTE}/GalleryRP/stable/2024-03-03/gallery.json",
     "exampleOperations": ["Galleries_*", "GalleryImages_*", "GalleryImageVersions_*"]},
    {"path": f"{RESOURCES}/stable/2021-04-01/resources.json",
     "exampleOperations": ["ResourceGroups_*", "Resources_List", "Resources_ListByResourceGroup",
                           "Providers_Get"]},
]

HTTP_METHODS = ("get", "put", "post", "patch", "delete", "head", "options")


def git_show(git_dir, commit, path):
    """The bytes of ``path`` at ``commit`` in the repository at ``git_dir``."""
    return subprocess.run(["git", "--git-dir", git_dir, "show", f"{commit}:{path}"],
                          check=True, capture_output=True).stdout


def git_blob_id(data):
    """Git's object id of a blob with these bytes (what ``git hash-object`` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def external_refs(node):
    """Yield the file part of every ``$ref`` in ``node`` that points into another file."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            yield ref.split("#", 1)[0]
        for value in node.values():
            yield from external_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from external_refs(value)


def resolve(base_path, ref):
    """Repository-relative path of ``ref`` written in the file at ``base_path``."""
    return posixpath.normpath(posixpath.join(posixpath.dirname(base_path), ref))


def matches(operation_id, patterns):
    """True when ``operation_id`` is one of ``patterns`` (``Name_*`` matches a whole group)."""
    for pattern in patterns:
        if pattern.endswith("*") and operation_id.startswith(pattern[:-1]):
            return True
        if operation_id == pattern:
            return True
    return False


def selected_examples(doc_path, doc, patterns):
    """Example files (repository paths) of the operations of ``doc`` matched by ``patterns``."""
    found = {}
    for item in doc.get("paths", {}).values():
        for method, operation in item.items():
            if method not in HTTP_METHODS or not matches(operation["operationId"], patterns):
                continue
            refs = [e["$ref"] for e in operation.get("x-ms-examples", {}).values()]
            found[operation["operationId"]] = sorted(resolve(doc_path, r) for r in refs)
    return found


def collect(git_dir, commit):
    """Read the roots, their transitive ``$ref`` files and the selected examples.

    Returns ``(files, roots)``: ``files`` maps repository path to bytes, ``roots`` is the
    manifest's list of root documents with their api-version and pinned examples.
    """
    files, roots, queue = {}, [], [r["path"] for r in ROOTS]
    while queue:
        path = queue.pop()
        if path in files:
            continue
        files[path] = git_show(git_dir, commit, path)
        doc = json.loads(files[path])
        for ref in external_refs(doc):
            target = resolve(path, ref)
            if "/examples/" not in target and target not in files:
                queue.append(target)
    for root in ROOTS:
        doc = json.loads(files[root["path"]])
        examples = selected_examples(root["path"], doc, root["exampleOperations"])
        for paths in examples.values():
            for path in paths:
                files.setdefault(path, git_show(git_dir, commit, path))
        roots.append({"path": root["path"], "apiVersion": doc["info"]["version"],
                      "exampleOperations": examples})
    return files, roots


def make_manifest(files, roots, commit):
    """The manifest of ``files`` (repository path -> bytes) and ``roots`` at ``commit``."""
    return {
        "repository": REPOSITORY,
        "commit": commit,
        "pinnedAt": datetime.date.today().isoformat(),
        "roots": roots,
        "files": {p: {"gitBlob": git_blob_id(d), "bytes": len(d)} for p, d in sorted(files.items())},
    }


def same_pin(ours, manifest):
    """True when two manifests pin the same commit, roots and files (``pinnedAt`` aside)."""
    return ours is not None and all(ours.get(key) == manifest[key] for key in ("commit", "roots", "files"))


def write_manifest(manifest, path):
    """Write ``manifest`` as JSON to ``path``."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=False)
        handle.write("\n")


def write(files, manifest, license_text, out_dir):
    """Replace ``out_dir/specification`` with ``files``; write LICENSE and manifest.json beside it."""
    shutil.rmtree(os.path.join(out_dir, "specification"), ignore_errors=True)
    for path, data in files.items():
        target = os.path.join(out_dir, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as handle:
            handle.write(data)
    with open(os.path.join(out_dir, "LICENSE"), "wb") as handle:
        handle.write(license_text)
    write_manifest(manifest, os.path.join(out_dir, "manifest.json"))


def main(argv=None):
    """Command line: ``pin.py --git-dir DIR [--commit SHA] [--out DIR] [--update-manifest]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--git-dir", required=True, help="git directory of a specs clone/mirror")
    parser.add_argument("--commit", help="commit of Azure/azure-rest-api-specs (default: manifest.json's)")
    parser.add_argument("--out", default=SHARED, help=f"output directory (default: {SHARED})")
    parser.add_argument("--manifest", default=MANIFEST, help="our manifest (default: manifest.json beside this file)")
    parser.add_argument("--update-manifest", action="store_true",
                        help="rewrite our manifest when the result differs from it (a re-pin)")
    args = parser.parse_args(argv)
    ours = None
    if os.path.exists(args.manifest):
        with open(args.manifest, encoding="utf-8") as handle:
            ours = json.load(handle)
    commit = args.commit or (ours or {}).get("commit")
    if not commit:
        parser.error(f"give --commit ({args.manifest} names none)")
    if os.path.realpath(args.out) == os.path.realpath(HERE):
        print("note: writing Azure's files beside this script; .gitignore keeps specification/ and LICENSE "
              "out of git", file=sys.stderr)
    files, roots = collect(args.git_dir, commit)
    manifest = make_manifest(files, roots, commit)
    same = same_pin(ours, manifest)
    write(files, ours if same else manifest, git_show(args.git_dir, commit, "LICENSE"), args.out)
    total = sum(len(d) for d in files.values())
    print(f"pinned {len(files)} files, {total} bytes, at {commit}, into {args.out}")
    if same:
        print(f"the same files as {args.manifest} pins")
        return 0
    if args.update_manifest:
        write_manifest(manifest, args.manifest)
        print(f"rewrote {args.manifest}")
        return 0
    print(f"they differ from what {args.manifest} pins; give --update-manifest if this is a re-pin",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
