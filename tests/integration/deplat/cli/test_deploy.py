"""`deplat deploy` against the moto server: content-addressed sync, no-op redeploys, dry runs."""

import json

import pytest
from typer.testing import CliRunner

from deplat.cli import app
from tests.integration.deplat_project import SMOKE_BOOM, SMOKE_OK, keys, make_project, s3

pytestmark = pytest.mark.integration


@pytest.fixture
def project(local_stack, tmp_path, monkeypatch):
    return make_project(tmp_path, monkeypatch, {"smoke_ok": SMOKE_OK, "smoke_boom": SMOKE_BOOM})


def deploy(*args):
    result = CliRunner().invoke(app, ["-o", "json", "deploy", "--no-deps-archive", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_second_deploy_uploads_nothing_and_one_changed_job_uploads_exactly_that_file(project):
    root, bucket = project
    first = deploy()
    assert first["uploaded"]["count"] == 6 and first["manifest_written"]
    uploaded = {c["name"] for c in first["changes"] if c["action"] == "upload"}
    assert uploaded == {"config/deplat.yaml", "dq/suites/smoke.yml", "jobs/smoke_boom.py", "jobs/smoke_ok.py",
                        "wheel/deplat-0.1.0-py3-none-any.whl", "pyfiles/deplat_job-0.1.0.zip"}

    second = deploy()
    assert second["uploaded"] == {"count": 0, "bytes": 0}
    assert second["skipped"]["count"] == 6 and not second["manifest_written"]
    before = keys(bucket)

    job = root / "jobs" / "smoke_ok.py"
    job.write_text(job.read_text() + "\n# changed\n")
    third = deploy()
    changed = [c for c in third["changes"] if c["action"] == "upload"]
    assert [c["name"] for c in changed] == ["jobs/smoke_ok.py"]
    assert third["uploaded"]["bytes"] == job.stat().st_size
    new_keys = keys(bucket) - before
    sha = changed[0]["sha256"]
    assert new_keys == {f"artifacts/{sha}/smoke_ok.py", f"artifacts/manifests/{third['manifest_hash']}.json"}


def test_manifest_records_hashes_sizes_and_keys(project):
    root, bucket = project
    result = deploy()
    doc = json.loads(s3().get_object(Bucket=bucket, Key="artifacts/manifest.json")["Body"].read())
    assert doc["manifest_hash"] == result["manifest_hash"]
    entry = doc["files"]["jobs/smoke_ok.py"]
    assert entry["size"] == (root / "jobs" / "smoke_ok.py").stat().st_size
    assert entry["key"] == f"artifacts/{entry['sha256']}/smoke_ok.py"
    head = s3().head_object(Bucket=bucket, Key=entry["key"])
    assert head["Metadata"]["sha256"] == entry["sha256"]
    assert "deployed_at" in doc and "git_sha" in doc


def test_a_fresh_clone_with_new_mtimes_uploads_nothing(project):
    root, bucket = project
    deploy()
    for path in (root / "jobs").iterdir():
        path.write_bytes(path.read_bytes())  # same content, new mtime
    assert deploy()["uploaded"]["count"] == 0


def test_dry_run_lists_changes_and_uploads_nothing(project):
    root, bucket = project
    deploy()
    (root / "jobs" / "smoke_new.py").write_text("print('new')\n")
    (root / "jobs" / "smoke_boom.py").unlink()
    before = keys(bucket)
    result = CliRunner().invoke(app, ["deploy", "--no-deps-archive", "--dry-run"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "jobs/smoke_new.py" in result.stdout and "would upload" in result.stdout
    assert "removed" in result.stdout and "would upload 1 files" in result.stdout
    assert keys(bucket) == before


def test_missing_bucket_is_a_config_error(project, monkeypatch, tmp_path):
    root, bucket = project
    home = tmp_path / "home2"
    (home / "local").mkdir(parents=True)
    (home / "local" / "outputs.json").write_text(json.dumps({"artifacts_bucket": "no-such-bucket-xyz"}))
    monkeypatch.setenv("DEPLAT_HOME", str(home))
    result = CliRunner().invoke(app, ["deploy", "--no-deps-archive"])
    assert result.exit_code == 2
    assert "no-such-bucket-xyz" in result.output and "infra apply" in result.output


def test_deps_archive_is_kept_when_skipped(project, monkeypatch):
    """--no-deps-archive keeps the deployed archive in the manifest instead of dropping it."""
    from deplat import artifacts

    root, bucket = project
    monkeypatch.setattr(artifacts, "job_requirements", lambda root: ["six==1.17.0"])
    first = CliRunner().invoke(app, ["-o", "json", "deploy"])
    assert first.exit_code == 0, first.output
    doc = json.loads(first.stdout)
    deps = doc["deps_archive"]
    assert deps == "deps/deplat-deps-cp39-manylinux2014_x86_64.tar.gz"
    assert any(c["name"] == deps and c["action"] == "upload" for c in doc["changes"])
    again = deploy()
    assert again["deps_archive"] == deps and again["uploaded"]["count"] == 0
    assert again["manifest_hash"] == doc["manifest_hash"]
