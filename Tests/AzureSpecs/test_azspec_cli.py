"""Self-tests of azspec.py: the command line, validate_log, and the azspec.py and replay.py
scripts over their packages, and the documented differences (standard library unittest). Those
that need Azure's files (README.md) are skipped when they are absent.

    python3 -m unittest discover -s Tests/AzureSpecs -p 'test_*.py'
"""

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import azspec  # noqa: E402  (after the path set-up)
import azurereplay  # noqa: E402
import azurespec  # noqa: E402
import replay  # noqa: E402
from azspec_fixtures import DISK_API, RG, STORE, disk_put, disk_response, empty_disk, needs_specs  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def write_log(lines):
    """A temporary JSON-lines log of ``lines`` (exchanges); the caller unlinks it."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as handle:
        handle.write("\n".join(json.dumps(line) for line in lines) + "\n")
    return handle.name


def bad_log():
    """Two exchanges: a disk PUT with an unknown property, and a GET no operation matches."""
    body = empty_disk()
    body["properties"]["diskSizeGb"] = 1
    return [disk_put(body, 202, disk_response()),
            {"method": "GET", "path": RG + "/providers/Microsoft.Compute/widgets/w", "apiVersion": DISK_API,
             "status": 404, "responseBody": None}]


class CommandLineTests(unittest.TestCase):
    """``azspec.py validate``: grouping, --allow, --json and exit codes."""

    def run_cli(self, lines, *options):
        """``(exit code, stdout, stderr)`` of ``validate`` on a log of ``lines``."""
        name = write_log(lines)
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = azspec.main(["validate", name, *options])
        finally:
            os.unlink(name)
        return code, out.getvalue(), err.getvalue()

    @needs_specs
    def test_violations_exit_1_and_are_grouped_by_kind(self):
        code, out, _ = self.run_cli(bad_log())
        self.assertEqual(code, 1)
        self.assertIn("unknown-property (1)", out)
        self.assertIn("no-operation (1)", out)
        self.assertIn("line 1: Disks_CreateOrUpdate@2024-03-02 request/properties/diskSizeGb", out)
        self.assertEqual(out.splitlines()[-2:], ["2 violation(s)", "2 exchanges, 2 violations"])

    @needs_specs
    def test_allow_ignores_kinds(self):
        code, out, _ = self.run_cli(bad_log(), "--allow", "unknown-property", "--allow", "no-operation")
        self.assertEqual((code, out.splitlines()), (0, ["no violations", "2 exchanges, 0 violations"]))

    def test_an_unknown_kind_to_allow_exits_2(self):
        code, out, err = self.run_cli(bad_log(), "--allow", "unknown-propety")
        self.assertEqual((code, out), (2, ""))
        self.assertIn("unknown kind(s) for --allow: unknown-propety", err)

    @needs_specs
    def test_json_output(self):
        code, out, err = self.run_cli(bad_log(), "--json")
        self.assertEqual(code, 1)
        found = json.loads(out)
        self.assertEqual({v["kind"] for v in found}, {"unknown-property", "no-operation"})
        self.assertEqual(found[0]["line"], 1)
        self.assertEqual(err.strip(), "2 exchanges, 2 violations")   # stdout stays one JSON document

    @needs_specs
    def test_a_clean_log_exits_0(self):
        code, out, _ = self.run_cli([disk_put(empty_disk(), 202, disk_response())])
        self.assertEqual(code, 0)
        self.assertEqual(out.splitlines()[-1], "1 exchanges, 0 violations")


class ValidateLogTests(unittest.TestCase):
    """``validate_log(path, allow=())``: the violations of a log, as ``validate`` finds them."""

    def setUp(self):
        self.log = write_log(bad_log())
        self.addCleanup(os.unlink, self.log)

    @needs_specs
    def test_every_violation_with_its_line(self):
        found = azspec.validate_log(self.log)
        self.assertEqual([(v.kind, v.line) for v in found], [("unknown-property", 1), ("no-operation", 2)])

    @needs_specs
    def test_allow_leaves_out_kinds(self):
        self.assertEqual([v.kind for v in azspec.validate_log(self.log, allow=["no-operation"])],
                         ["unknown-property"])
        self.assertEqual([v.kind for v in azspec.validate_log(self.log, allow="unknown-property")],
                         ["no-operation"])
        self.assertEqual(azspec.validate_log(self.log, ("unknown-property", "no-operation")), [])

    def test_an_unknown_kind_is_an_error(self):
        with self.assertRaises(ValueError):
            azspec.validate_log(self.log, allow=["unknown-propety"])

    @needs_specs
    def test_a_given_store_and_the_earlier_form(self):
        expected = [v.to_dict() for v in azspec.validate_log(self.log)]
        self.assertEqual([v.to_dict() for v in azspec.validate_log(self.log, store=STORE)], expected)
        self.assertEqual([v.to_dict() for v in azspec.validate_log(STORE, self.log)], expected)

    @needs_specs
    def test_check_log_counts_the_exchanges(self):
        count, found = azspec.check_log(self.log, ["no-operation"])
        self.assertEqual((count, [v.kind for v in found]), (2, ["unknown-property"]))


class ScriptTests(unittest.TestCase):
    """azspec.py and replay.py are thin scripts: the packages' names, and their command lines."""

    def test_the_scripts_give_the_packages_names(self):
        for script, package in ((azspec, azurespec), (replay, azurereplay)):
            self.assertTrue(package.__all__)
            for name in package.__all__:
                self.assertIs(getattr(script, name), getattr(package, name), name)
        self.assertEqual(azspec.HERE, HERE)
        self.assertEqual(replay.HERE, HERE)

    @needs_specs
    def test_azspec_py_runs_as_a_script(self):
        name = write_log(bad_log())
        self.addCleanup(os.unlink, name)
        run = subprocess.run([sys.executable, os.path.join(HERE, "azspec.py"), "validate", name,
                              "--allow", "no-operation"], capture_output=True, text=True, cwd=tempfile.gettempdir())
        self.assertEqual(run.returncode, 1, run.stderr)
        self.assertEqual(run.stdout.splitlines()[-1], "2 exchanges, 1 violations")
        kinds = subprocess.run([sys.executable, os.path.join(HERE, "azspec.py"), "kinds"],
                               capture_output=True, text=True, cwd=tempfile.gettempdir())
        self.assertEqual(len(kinds.stdout.splitlines()), len(azspec.KINDS))

    def test_replay_py_runs_as_a_script(self):
        run = subprocess.run([sys.executable, os.path.join(HERE, "replay.py"), "--help"],
                             capture_output=True, text=True, cwd=tempfile.gettempdir())
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("Replay Azure's pinned x-ms-examples against an emulator", run.stdout)


class KnownDifferencesTests(unittest.TestCase):
    """``--known``: documented differences of real Azure from its spec, left out exactly."""

    def test_the_documented_differences_load(self):
        known = azurespec.cli.load_known(os.path.join(HERE, "known-differences.json"))
        self.assertTrue(known)
        for entry in known:
            self.assertIn(entry["kind"], azspec.KINDS)

    def test_an_entry_without_a_reason_is_refused(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump([{"kind": "unknown-property", "operationId": "X_Get", "pointer": "/a", "where": "response",
                        "source": "s"}], handle)
        self.addCleanup(os.unlink, handle.name)
        with self.assertRaisesRegex(ValueError, "lacks reason"):
            azurespec.cli.load_known(handle.name)

    def test_only_exact_matches_are_left_out(self):
        known = [{"kind": "unknown-property", "operationId": "X_Get", "where": "response", "pointer": "/a"}]
        def violation(**change):
            fields = dict(kind="unknown-property", pointer="/a", message="m", operationId="X_Get", where="response")
            return azspec.Violation(**dict(fields, **change))
        kept = [violation(pointer="/a/b"), violation(where="request"), violation(operationId="X_List"),
                violation(kind="type")]
        self.assertEqual(azurespec.cli.without_known([violation()] + kept, known), kept)


class KindsTests(unittest.TestCase):
    """The kinds of violation, and how they are printed and pointed at, without Azure's files."""

    def test_the_kinds_command_lists_every_kind(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(azspec.main(["kinds"]), 0)
        self.assertEqual([line.split()[0] for line in out.getvalue().splitlines()], list(azspec.KINDS))

    def test_grouped_text_and_json_pointers(self):
        found = [azspec.Violation("type", azspec.json_pointer("/tags", "a/b~c"), "not a string", "Disks_Get",
                                  DISK_API, "response", line=3)]
        self.assertEqual(found[0].pointer, "/tags/a~1b~0c")
        self.assertEqual(azspec.group_text(found).splitlines(), [
            f"type (1): {azspec.KINDS['type']}",
            "  line 3: Disks_Get@2024-03-02 response/tags/a~1b~0c: not a string"])


if __name__ == "__main__":
    unittest.main()
