"""Self-tests of where Azure's specification files are looked for, and of what the validator and
the replay do without them (standard library unittest; none needs Azure's files, but one that
checks ``azspec.py specs`` on them).

    python3 -m unittest discover -s Tests/AzureSpecs -p 'test_*.py'
"""

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import azspec  # noqa: E402  (after the path set-up)
import replay  # noqa: E402
from azspec_fixtures import SPECS, needs_specs  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
README = "see Tests/AzureSpecs/README.md"


def run_main(main, argv):
    """``(exit status, stdout, stderr)`` of ``main(argv)`` (SystemExit's code counts as its status)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


class FindSpecsTests(unittest.TestCase):
    """``find_specs()``: $KILN_AZURE_SPECS, then ../shared/azure-rest-api-specs, then a local copy."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.root = tmp.name
        self.here = os.path.join(tmp.name, "repo", "Tests", "AzureSpecs")       # as Tests/AzureSpecs
        self.shared = os.path.join(tmp.name, "shared", "azure-rest-api-specs")
        self.chosen = os.path.join(tmp.name, "chosen")
        for directory in (self.here, self.shared, self.chosen):
            os.makedirs(os.path.join(directory, "specification"))

    def find(self, chosen=None):
        environ = {azspec.ENV_VAR: chosen} if chosen else {}
        return azspec.find_specs(environ, self.here)

    def test_the_variable_beats_the_others(self):
        self.assertEqual(self.find(self.chosen), self.chosen)

    def test_then_shared_then_the_local_copy(self):
        self.assertEqual(self.find(), self.shared)
        shutil.rmtree(self.shared)
        self.assertEqual(self.find(), self.here)

    def test_a_variable_without_specification_is_passed_over_and_shown(self):
        empty = os.path.join(self.root, "empty")
        os.makedirs(empty)
        self.assertEqual(self.find(empty), self.shared)
        places = azspec.spec_places({azspec.ENV_VAR: empty}, self.here)
        self.assertIn(f"{empty}/specification (from $KILN_AZURE_SPECS)", azspec.absent_message(places))

    def test_none_when_absent_and_the_message_names_the_three_places(self):
        for directory in (self.here, self.shared, self.chosen):
            shutil.rmtree(os.path.join(directory, "specification"))
        self.assertIsNone(self.find(self.chosen))
        self.assertIsNone(self.find())
        message = azspec.absent_message(azspec.spec_places({}, self.here))
        self.assertEqual(message, "Azure's REST API specifications are not on this machine (looked in "
                                  f"$KILN_AZURE_SPECS (unset), {self.shared}/specification, "
                                  f"{self.here}/specification); {README}")

    def test_the_shared_place_is_beside_the_repository(self):
        repository = os.path.dirname(os.path.dirname(HERE))
        self.assertTrue(os.path.isfile(os.path.join(repository, "Package.swift")), repository)
        places = azspec.spec_places({})
        self.assertEqual([d for d, _ in places], [None, os.path.join(os.path.dirname(repository), "shared",
                                                                     "azure-rest-api-specs"), HERE])


class AbsentTests(unittest.TestCase):
    """Without the specs: SpecStore says where it looked and how to provide them; the scripts skip."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.empty = tmp.name
        self.log = os.path.join(tmp.name, "log.jsonl")
        with open(self.log, "w") as handle:
            handle.write(json.dumps({"method": "GET", "path": "/subscriptions/s", "apiVersion": "2021-04-01"}) + "\n")
        self.skipped = (f"skipped: Azure's REST API specifications are not on this machine (looked in "
                        f"{self.empty}/specification); {README}\n")

    def test_a_store_without_specs_says_where_it_looked_and_what_to_do(self):
        with self.assertRaises(azspec.SpecsNotFound) as caught:
            azspec.SpecStore(self.empty)
        text = str(caught.exception)
        self.assertTrue(text.startswith(caught.exception.short), text)
        for needed in (f"{self.empty}/specification", "set KILN_AZURE_SPECS", "shared/azure-rest-api-specs",
                       "pin.py", azspec.pinned_commit()):
            self.assertIn(needed, text)
        self.assertIsInstance(caught.exception, FileNotFoundError)
        default = str(azspec.SpecsNotFound(azspec.spec_places({})))
        self.assertIn("$KILN_AZURE_SPECS (unset)", default)
        self.assertIn(os.path.join(HERE, "specification"), default)

    def test_validate_exits_2_or_0_with_if_available(self):
        self.assertEqual(run_main(azspec.main, ["--specs", self.empty, "validate", self.log]), (2, "", self.skipped))
        self.assertEqual(run_main(azspec.main, ["--specs", self.empty, "validate", self.log, "--if-available"]),
                         (0, "", self.skipped))

    def test_argument_errors_come_first(self):
        code, _, err = run_main(azspec.main, ["--specs", self.empty, "validate", self.log, "--if-available",
                                              "--allow", "nonsense"])
        self.assertEqual(code, 2)
        self.assertIn("unknown kind(s) for --allow: nonsense", err)

    def test_the_script_skips_too(self):
        run = subprocess.run([sys.executable, os.path.join(HERE, "azspec.py"), "--specs", self.empty, "validate",
                              self.log, "--if-available"], capture_output=True, text=True, cwd=tempfile.gettempdir())
        self.assertEqual((run.returncode, run.stdout, run.stderr), (0, "", self.skipped))

    def test_operations_and_specs_without_specs(self):
        code, out, err = run_main(azspec.main, ["--specs", self.empty, "operations"])
        self.assertEqual((code, out), (2, ""))
        self.assertIn("pin.py", err)
        self.assertEqual(run_main(azspec.main, ["--specs", self.empty, "specs"]), (2, "", self.skipped))
        self.assertEqual(run_main(azspec.main, ["--specs", self.empty, "specs", "--if-available"]),
                         (0, "", self.skipped))

    def test_replay_skips(self):
        argv = ["--specs", self.empty, "--base-url", "http://127.0.0.1:1", "--token", "t", "--subscription", "s"]
        self.assertEqual(run_main(replay.main, argv), (2, "", self.skipped))
        self.assertEqual(run_main(replay.main, argv + ["--if-available"]), (0, "", self.skipped))


class VerifyTests(unittest.TestCase):
    """manifest.json (ours) checks whichever copy is found: git blob ids, and the LICENSE."""

    def test_git_blob_ids(self):
        self.assertEqual(azspec.git_blob_id(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391")
        self.assertEqual(azspec.git_blob_id(b"hello\n"), "ce013625030ba8dba906f756967f9e9ca394464a")

    def test_a_copy_that_differs_is_told(self):
        with tempfile.TemporaryDirectory() as tmp:
            with open(azspec.MANIFEST, encoding="utf-8") as handle:
                first = next(iter(json.load(handle)["files"]))
            os.makedirs(os.path.dirname(os.path.join(tmp, first)))
            with open(os.path.join(tmp, first), "w") as handle:
                handle.write("{}")
            problems = azspec.verify_specs(tmp)
            self.assertIn(f"{first}: git blob {azspec.git_blob_id(b'{}')}", problems[0])
            self.assertTrue(all(p.endswith(": missing") for p in problems[1:-1]), problems[1:-1])
            self.assertTrue(problems[-1].startswith("LICENSE: missing"))
            code, out, _ = run_main(azspec.main, ["--specs", tmp, "specs"])
            self.assertEqual(code, 1)
            self.assertTrue(out.splitlines()[-1].endswith("differs from manifest.json"), out)

    @needs_specs
    def test_the_specs_found_are_the_pinned_ones(self):
        code, out, err = run_main(azspec.main, ["specs"])
        self.assertEqual((code, err), (0, ""), out)
        with open(azspec.MANIFEST, encoding="utf-8") as handle:
            pinned = len(json.load(handle)["files"])
        self.assertEqual(out, f"{SPECS}: {pinned} files at {azspec.pinned_commit()}, as manifest.json pins them\n")

    @needs_specs
    @unittest.skipUnless(shutil.which("git"), "git is not on this machine")
    def test_pin_py_rebuilds_the_pinned_files_from_a_clone(self):
        import pin
        with tempfile.TemporaryDirectory() as tmp:
            clone = os.path.join(tmp, "clone")        # a stand-in for a clone: the same paths, one commit
            shutil.copytree(os.path.join(SPECS, "specification"), os.path.join(clone, "specification"))
            shutil.copy(os.path.join(SPECS, "LICENSE"), clone)
            git = ["git", "-C", clone, "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
            for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "pinned"]):
                subprocess.run(git + command, check=True, capture_output=True)
            commit = subprocess.run(git + ["rev-parse", "HEAD"], check=True, capture_output=True,
                                    text=True).stdout.strip()
            with open(azspec.MANIFEST, encoding="utf-8") as handle:
                ours = dict(json.load(handle), commit=commit)   # as if manifest.json pinned that commit
            manifest = os.path.join(tmp, "manifest.json")
            pin.write_manifest(ours, manifest)
            out = os.path.join(tmp, "out")
            code, stdout, _ = run_main(pin.main, ["--git-dir", os.path.join(clone, ".git"), "--out", out,
                                                  "--manifest", manifest])
            self.assertEqual(code, 0, stdout)
            self.assertIn(f"the same files as {manifest} pins", stdout)
            self.assertEqual(azspec.verify_specs(out, manifest), [])


if __name__ == "__main__":
    unittest.main()
