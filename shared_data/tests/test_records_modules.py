"""records is split by job (run folders, result schema, publishing, atomic writes, provenance); every name other
code imports from records still comes from there, and is the very object its own module defines."""
import subprocess
import sys

import pytest

from shared_data import atomic, provenance, publishing, records, result_schema

HOMES = {
    atomic: ("atomic_write_bytes", "atomic_write_json", "atomic_save_npz", "to_json", "remove_orphans", "pid_alive",
             "process_start", "_umask"),
    provenance: ("git_commit", "describe_device", "describe_cpu", "framework_version", "package_versions", "utc_now",
                 "NOT_CODE"),
    result_schema: ("RESULT_SCHEMA", "BUDGETS", "REQUIRED_FIELDS", "REQUIRED_METRICS", "EVAL_SPLITS",
                    "ResultValidationError", "make_result", "default_machine", "validate_result",
                    "validate_predictions", "validate_eval_record", "validate_metrics_log", "predictions_sha256",
                    "predictions_file_sha256"),
    publishing: ("publish", "same_machine", "device_slug"),
}
RUN_FOLDER_NAMES = ("RunDir", "RunError", "run_name", "variant_slug", "validate_run_dir")


@pytest.mark.parametrize("module,name", [(m, n) for m, names in HOMES.items() for n in names])
def test_records_re_exports_each_name_from_its_module(module, name):
    assert getattr(records, name) is getattr(module, name)


def test_run_folder_names_live_in_records():
    for name in RUN_FOLDER_NAMES:
        assert getattr(records, name).__module__ == "shared_data.records", name
    assert records.LOCK_NAME == ".run.lock"
    assert issubclass(records.RunError, RuntimeError)
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        records.no_such_name  # noqa: B018


@pytest.mark.parametrize("first", ["publishing", "records", "result_schema", "atomic", "provenance", "splits"])
def test_any_module_can_be_imported_first(first):
    code = (f"import shared_data.{first}\nfrom shared_data.records import publish, validate_run_dir, RunDir\n"
            f"from shared_data import publishing\nassert publish is publishing.publish\nprint('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_a_patched_records_publish_is_what_callers_of_records_get(monkeypatch):
    calls = []
    monkeypatch.setattr(records, "publish", lambda *a, **k: calls.append(a) or "patched")
    assert records.publish("run", "results") == "patched" and calls == [("run", "results")]
    monkeypatch.undo()
    assert records.publish is publishing.publish
