"""Content hashing, deterministic archives, the upload plan and the manifest (no network)."""

import gzip
import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from deplat import artifacts
from deplat.artifacts import Artifact, Manifest, plan, wheel_content_hash
from deplat_job.errors import DeplatError


def _zip(path: Path, members: dict, date_time):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=date_time), data)


def test_wheel_hash_ignores_zip_timestamps_and_member_order(tmp_path):
    a, b, c = tmp_path / "a.whl", tmp_path / "b.whl", tmp_path / "c.whl"
    _zip(a, {"pkg/x.py": "x = 1\n", "pkg/y.py": "y = 2\n"}, (1980, 1, 1, 0, 0, 0))
    _zip(b, {"pkg/y.py": "y = 2\n", "pkg/x.py": "x = 1\n"}, (2024, 6, 1, 12, 0, 0))
    _zip(c, {"pkg/x.py": "x = 1\n", "pkg/y.py": "y = 3\n"}, (1980, 1, 1, 0, 0, 0))
    assert a.read_bytes() != b.read_bytes()
    assert wheel_content_hash(a) == wheel_content_hash(b)
    assert wheel_content_hash(a) != wheel_content_hash(c)


def test_tar_gz_is_byte_for_byte_reproducible(tmp_path):
    site = tmp_path / "site"
    (site / "pkg").mkdir(parents=True)
    (site / "pkg" / "__init__.py").write_text("")
    (site / "pkg" / "mod.so").write_bytes(b"\x7fELF")
    artifacts._write_tar_gz(site, tmp_path / "one.tar.gz")
    os.utime(site / "pkg" / "mod.so", (1_700_000_000, 1_700_000_000))  # a new mtime changes nothing
    artifacts._write_tar_gz(site, tmp_path / "two.tar.gz")
    assert (tmp_path / "one.tar.gz").read_bytes() == (tmp_path / "two.tar.gz").read_bytes()
    with tarfile.open(tmp_path / "one.tar.gz") as tar:
        assert tar.getnames() == ["pkg/__init__.py", "pkg/mod.so"]


def test_manifest_hash_depends_on_content_only():
    files = {"jobs/a.py": {"sha256": "1" * 64, "size": 1, "key": "k1"},
             "wheel/x.whl": {"sha256": "2" * 64, "size": 2, "key": "k2"}}
    one = Manifest(files=dict(files), git_sha="abc", deployed_at="2024-01-01")
    two = Manifest(files=dict(reversed(list(files.items()))), git_sha="def", deployed_at="2025-01-01")
    assert one.manifest_hash == two.manifest_hash
    assert one.wheel == "wheel/x.whl" and one.deps_archive is None
    again = Manifest.from_json(one.to_json())
    assert again.manifest_hash == one.manifest_hash and again.git_sha == "abc"
    changed = Manifest(files={**files, "jobs/a.py": {"sha256": "3" * 64, "size": 1, "key": "k3"}})
    assert changed.manifest_hash != one.manifest_hash


def _art(name, sha, size=10):
    return Artifact(name, Path(name), sha * 64, size)


def test_plan_uploads_only_missing_content_and_reports_changes():
    previous = Manifest(files={
        "jobs/a.py": {"sha256": "a" * 64, "size": 10, "key": f"artifacts/{'a' * 64}/a.py"},
        "jobs/b.py": {"sha256": "b" * 64, "size": 10, "key": f"artifacts/{'b' * 64}/b.py"},
        "jobs/gone.py": {"sha256": "g" * 64, "size": 5, "key": f"artifacts/{'g' * 64}/gone.py"},
    })
    keys = {f"artifacts/{'a' * 64}/a.py", f"artifacts/{'b' * 64}/b.py", f"artifacts/{'g' * 64}/gone.py",
            f"artifacts/{'o' * 64}/c.py"}
    arts = [_art("jobs/a.py", "a"), _art("jobs/b.py", "c"), _art("jobs/c.py", "o"), _art("jobs/new.py", "n")]
    changes = {c.name: (c.change, c.action) for c in plan(arts, previous, keys)}
    assert changes == {
        "jobs/a.py": ("unchanged", "skip"),
        "jobs/b.py": ("changed", "upload"),
        "jobs/c.py": ("new", "skip"),  # e.g. a revert: the content is already in the bucket
        "jobs/new.py": ("new", "upload"),
        "jobs/gone.py": ("removed", ""),
    }


def test_collect_skips_caches_and_hidden_files(tmp_path, monkeypatch):
    (tmp_path / "jobs" / "__pycache__").mkdir(parents=True)
    (tmp_path / "jobs" / "a.py").write_text("print(1)\n")
    (tmp_path / "jobs" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"x")
    (tmp_path / "jobs" / ".a.py.swp").write_text("x")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "deplat.yaml").write_text("x: 1\n")
    (tmp_path / "dq" / "suites").mkdir(parents=True)
    (tmp_path / "dq" / "suites" / "s.yml").write_text("s: 1\n")
    wheel = tmp_path / "deplat-0.1.0-py3-none-any.whl"
    _zip(wheel, {"deplat/__init__.py": "1", "deplat_job/__init__.py": "1"}, (1980, 1, 1, 0, 0, 0))
    monkeypatch.setattr(artifacts, "build_wheel", lambda root, cache, reporter=None: (wheel, "w" * 64))
    names = [a.name for a in artifacts.collect(tmp_path, tmp_path / "cache", deps=False)]
    assert names == ["jobs/a.py", "config/deplat.yaml", "dq/suites/s.yml", "wheel/deplat-0.1.0-py3-none-any.whl",
                     "pyfiles/deplat_job-0.1.0.zip"]


def test_deps_archive_is_built_from_downloaded_wheels_and_cached_by_requirements(tmp_path):
    calls = []

    def fake_pip(cmd, what):
        calls.append(cmd)
        dest = Path(cmd[cmd.index("--dest") + 1])
        dest.mkdir(parents=True)
        _zip(dest / "six-1.0-py3-none-any.whl", {"six.py": "x = 1\n", "six-1.0.dist-info/METADATA": "m"},
             (1980, 1, 1, 0, 0, 0))
        _zip(dest / "ck-1.0-cp39-cp39-manylinux2014_x86_64.whl",
             {"ck/__init__.py": "", "ck/_c.so": "elf", "ck-1.0.data/scripts/tool": "#!",
              "ck-1.0.data/purelib/ckx.py": ""},
             (1980, 1, 1, 0, 0, 0))

    archive, sha = artifacts.build_deps_archive(["six", "ck"], tmp_path, runner=fake_pip)
    again, sha2 = artifacts.build_deps_archive(["ck", "six"], tmp_path, runner=fake_pip)
    assert len(calls) == 1 and (again, sha2) == (archive, sha)  # cached by the (sorted) requirement list
    cmd = calls[0]
    assert cmd[cmd.index("--python-version") + 1] == "3.9"
    assert "--only-binary=:all:" in cmd and cmd[cmd.index("--platform") + 1] == "manylinux2014_x86_64"
    with tarfile.open(archive) as tar:
        names = sorted(tar.getnames())
    assert names == ["site/ck/__init__.py", "site/ck/_c.so", "site/ckx.py", "site/six-1.0.dist-info/METADATA",
                     "site/six.py", "sitecustomize.py"]
    assert artifacts.sha256_file(archive) == sha
    artifacts.build_deps_archive(["six"], tmp_path, runner=fake_pip)
    assert len(calls) == 2  # a different list is a different archive


def test_job_requirements_come_from_the_sources_extra():
    root = Path(__file__).resolve().parents[3]
    reqs = artifacts.job_requirements(root)
    assert any(r.startswith("simple-salesforce") for r in reqs)
    assert not any(r.startswith("pyspark") for r in reqs)  # EMR provides Spark


def test_gzip_header_has_no_timestamp(tmp_path):
    site = tmp_path / "s"
    site.mkdir()
    (site / "f").write_text("x")
    artifacts._write_tar_gz(site, tmp_path / "a.tar.gz")
    raw = (tmp_path / "a.tar.gz").read_bytes()
    assert raw[4:8] == b"\0\0\0\0"  # MTIME field of the gzip header
    assert gzip.GzipFile(fileobj=io.BytesIO(raw)).read()


def test_job_package_is_the_package_deplat_job_exactly_and_is_reproducible(tmp_path):
    members = {name: f"# {name}\n" for name in (
        "deplat/__init__.py", "deplat/config.py", "deplat/cli/__init__.py", "deplat/dq/__init__.py",
        "deplat/dq/service.py", "deplat_job/__init__.py", "deplat_job/shared.py", "deplat_job/dq/__init__.py",
        "deplat_job/dq/suite.py", "deplat_job/pipelines/__init__.py", "deplat_job/pipelines/fx.py",
        "deplat_job/pipelines/data.json", "deplat_jobx/x.py", "deplat-0.1.0.dist-info/METADATA")}
    packages = []
    for n, stamp in enumerate([(1980, 1, 1, 0, 0, 0), (2024, 5, 6, 7, 8, 10)]):
        folder = tmp_path / f"w{n}"
        folder.mkdir()
        wheel = folder / "deplat-0.1.0-py3-none-any.whl"
        _zip(wheel, dict(reversed(members.items())) if n else members, stamp)
        packages.append(artifacts.build_job_package(tmp_path, wheel))
    (first, sha), (second, sha2) = packages
    with zipfile.ZipFile(first) as zf:
        assert zf.namelist() == ["deplat_job/__init__.py", "deplat_job/dq/__init__.py", "deplat_job/dq/suite.py",
                                 "deplat_job/pipelines/__init__.py", "deplat_job/pipelines/data.json",
                                 "deplat_job/pipelines/fx.py", "deplat_job/shared.py"]
    assert first.name == "deplat_job-0.1.0.zip" and sha == sha2
    assert first.read_bytes() == second.read_bytes()


def test_a_wheel_without_the_job_package_is_refused(tmp_path):
    wheel = tmp_path / "deplat-0.1.0-py3-none-any.whl"
    _zip(wheel, {"deplat/__init__.py": "#\n", "deplat/pipelines/fx.py": "#\n"}, (1980, 1, 1, 0, 0, 0))
    with pytest.raises(DeplatError, match="no deplat_job/__init__.py"):
        artifacts.build_job_package(tmp_path, wheel)


def test_deps_archive_appends_its_packages_behind_the_interpreters_own(tmp_path):
    """The archive's boto3 must not shadow the runtime's; what only the archive has still imports."""
    import subprocess
    import sys

    import boto3

    root = tmp_path / "deps"
    (root / "site" / "boto3").mkdir(parents=True)
    (root / "site" / "boto3" / "__init__.py").write_text("SHADOW = True\n")
    (root / "site" / "only_in_archive.py").write_text("X = 1\n")
    (root / "sitecustomize.py").write_text(artifacts.SITECUSTOMIZE)
    code = "import boto3, only_in_archive; print(boto3.__file__); print(only_in_archive.__file__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(root)}).stdout.split()
    assert out == [boto3.__file__, str(root / "site" / "only_in_archive.py")]
