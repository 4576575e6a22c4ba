"""`deplat deploy`: the wheel, the job package, job scripts, config, DQ suites and the jobs'
dependency archive, synced to the artifacts bucket under a content-addressed layout.

The job package (`pyfiles/deplat_job-<version>.zip`) is what EMR runs: the package deplat_job
exactly (the job side, which imports nothing of the CLI package; taken from the wheel), a zip
because PySpark adds only .zip/.egg/.jar files from --py-files to the executors' Python path
(pyspark/context.py, PACKAGE_EXTENSIONS). The dependency archive is a flat site-packages under
`site/` plus a `sitecustomize.py` that *appends* it to sys.path, so the runtime's own packages
(boto3, botocore, urllib3, ...) are never shadowed by the archive's copies.

    artifacts/<sha256>/<file name>          immutable, one object per distinct content
    artifacts/manifests/<manifest hash>.json every manifest ever deployed
    artifacts/manifest.json                 the current manifest (git sha, name -> hash, size, key)
    artifacts/current/...                   stable aliases of the current jobs, wheel and deps
                                            archive (server-side copies, for the EventBridge schedule)

An object is uploaded only when its content key is missing from the bucket (one listing), so an
unchanged tree, a fresh clone or a revert uploads nothing; mtimes never matter. Builds are cached
by their inputs' content: the wheel by a hash of the package sources (and hashed by its members,
not its zip bytes), the dependency archive by its requirement list.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deplat.core.config import cache_dir
from deplat_job.errors import ConfigError, DeplatError

if TYPE_CHECKING:
    from deplat.core.context import Context

PREFIX = "artifacts/"
MANIFEST_KEY = f"{PREFIX}manifest.json"
MANIFEST_HISTORY = f"{PREFIX}manifests/"
CURRENT_PREFIX = f"{PREFIX}current/"  # stable aliases of the current manifest's files (see current_aliases)
CURRENT_WHEEL = f"{CURRENT_PREFIX}deplat-py3-none-any.whl"
CURRENT_DEPS = f"{CURRENT_PREFIX}deplat-deps.tar.gz"
CURRENT_JOB_PACKAGE = f"{CURRENT_PREFIX}deplat_job.zip"  # what --py-files needs (executors too)
PROJECT_DIRS = ("jobs", "config", "dq/suites")
WHEEL_INPUTS = ("pyproject.toml", "README.md", "setup.cfg", "setup.py", "MANIFEST.in")
# EMR 7.x runs Python 3.9 on Amazon Linux 2023 (glibc 2.34): manylinux2014 and 2_28 wheels both fit.
DEPS_PYTHON = "3.9"
DEPS_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")
DEPS_EXTRA = "sources"  # the pyproject extra listing what the jobs import beyond the EMR runtime
DEPS_SITE = "site"  # the archive's packages live under site/; its sitecustomize.py appends them
JOB_PACKAGE = "deplat_job"  # the job side: what ships to EMR, all of it and nothing else
SOURCE_DATE_EPOCH = "315532800"  # 1980-01-01, the zip format's epoch: reproducible wheels
_BUILD_FORMAT = "2"  # bump to invalidate cached builds when the build recipe changes
_SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache"}


@dataclass(frozen=True)
class Artifact:
    """One deployable file: its manifest name (e.g. jobs/fx_to_bronze.py), path and content hash."""

    name: str
    path: Path
    sha256: str
    size: int

    @property
    def key(self) -> str:
        return f"{PREFIX}{self.sha256}/{Path(self.name).name}"


@dataclass
class Manifest:
    """What is deployed: name -> {sha256, size, key}, plus where it came from."""

    files: dict[str, dict[str, Any]]
    git_sha: str | None = None
    git_dirty: bool = False
    deployed_at: str = ""
    requirements: list[str] = field(default_factory=list)

    @property
    def manifest_hash(self) -> str:
        """Hash of the content only (names and hashes): the deployed-code identity."""
        lines = "".join(f"{name}\0{meta['sha256']}\n" for name, meta in sorted(self.files.items()))
        return hashlib.sha256(lines.encode()).hexdigest()

    def _first(self, folder: str) -> str | None:
        names = sorted(n for n in self.files if n.startswith(folder + "/"))
        return names[0] if names else None

    @property
    def wheel(self) -> str | None:
        return self._first("wheel")

    @property
    def deps_archive(self) -> str | None:
        return self._first("deps")

    @property
    def job_package(self) -> str | None:
        """The zip EMR puts on --py-files (manifests before it existed have only the wheel)."""
        return self._first("pyfiles")

    def uri(self, bucket: str, name: str) -> str:
        return f"s3://{bucket}/{self.files[name]['key']}"

    def to_json(self) -> str:
        doc = {"format": 1, "manifest_hash": self.manifest_hash, **asdict(self)}
        return json.dumps(doc, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        doc = json.loads(text)
        return cls(files=doc["files"], git_sha=doc.get("git_sha"), git_dirty=doc.get("git_dirty", False),
                   deployed_at=doc.get("deployed_at", ""), requirements=doc.get("requirements", []))


@dataclass(frozen=True)
class FileChange:
    name: str
    sha256: str
    size: int
    change: str  # new | changed | unchanged | removed (vs the current manifest)
    action: str  # upload | skip | "" (removed names stay in the bucket for older manifests)


@dataclass
class DeployResult:
    bucket: str
    dry_run: bool
    changes: list[FileChange]
    manifest_hash: str
    previous_manifest_hash: str | None
    manifest_written: bool
    deps_archive: str | None

    @property
    def uploaded(self) -> list[FileChange]:
        return [c for c in self.changes if c.action == "upload"]

    @property
    def skipped(self) -> list[FileChange]:
        return [c for c in self.changes if c.action == "skip"]

    @property
    def uploaded_bytes(self) -> int:
        return sum(c.size for c in self.uploaded)

    @property
    def skipped_bytes(self) -> int:
        return sum(c.size for c in self.skipped)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket, "dry_run": self.dry_run, "manifest_hash": self.manifest_hash,
            "previous_manifest_hash": self.previous_manifest_hash, "manifest_written": self.manifest_written,
            "deps_archive": self.deps_archive,
            "uploaded": {"count": len(self.uploaded), "bytes": self.uploaded_bytes},
            "skipped": {"count": len(self.skipped), "bytes": self.skipped_bytes},
            "changes": [asdict(c) for c in self.changes],
        }


# --- hashing ----------------------------------------------------------------------------------

def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def wheel_content_hash(path: Path) -> str:
    """Hash of a wheel's sorted member names and contents: immune to zip timestamps and ordering."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(path) as zf:
        for name in sorted(zf.namelist()):
            digest.update(name.encode() + b"\0" + hashlib.sha256(zf.read(name)).digest())
    return digest.hexdigest()


def _tree_files(folder: Path) -> list[Path]:
    out: list[Path] = []
    for here, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs
                   if d not in _SKIP_PARTS and not d.startswith(".") and not d.endswith(".egg-info")]
        out.extend(Path(here, f) for f in files if not f.startswith(".") and not f.endswith(".pyc"))
    return sorted(out)


def _hash_tree(root: Path, paths: Iterable[Path]) -> str:
    digest = hashlib.sha256(_BUILD_FORMAT.encode())
    for path in paths:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


# --- building ---------------------------------------------------------------------------------

def _run(cmd: list[str], what: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    from deplat.core.proc import run

    # A wheel build or a `pip download` of the job dependencies: minutes at most, never hours.
    run(cmd, timeout=900, what=what, env=env, cwd=cwd,
        hint="see the output below; `deplat doctor` checks the toolchain")


def _wheel_inputs(root: Path) -> list[Path]:
    return [root / n for n in WHEEL_INPUTS if (root / n).is_file()] + _tree_files(root / "src")


def _pyproject(root: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        import tomli as tomllib

    return tomllib.loads((root / "pyproject.toml").read_text())


def _build_env(root: Path, cache: Path) -> Path:
    """pyproject's build requirements installed once into a cached folder (put on PYTHONPATH).

    Saves the isolated build's per-run venv and index round trips: ~1 s per build instead of ~4-15 s.
    """
    requires = sorted(_pyproject(root).get("build-system", {}).get("requires", ["setuptools", "wheel"]))
    key = hashlib.sha256(json.dumps([requires, sys.version_info[:2]]).encode()).hexdigest()[:16]
    target = cache / "build-env" / key
    if (target / ".ready").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=target.parent))
    _run([sys.executable, "-m", "pip", "install", "--quiet", "--target", str(staging), *requires],
         "installing the wheel build requirements")
    (staging / ".ready").write_text("\n".join(requires))
    try:
        os.replace(staging, target)
    except OSError:  # another deploy finished first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def build_wheel(root: Path, cache: Path, reporter: Any = None) -> tuple[Path, str]:
    """The project wheel and its content hash, rebuilt only when the package sources change.

    Built with `pip wheel --no-deps` from a clean copy of the sources (stale `build/` folders never
    leak in), with pyproject's build requirements from a cached folder; SOURCE_DATE_EPOCH makes
    the zip itself reproducible, and the hash is over its members anyway.
    """
    if not (root / "pyproject.toml").is_file():
        raise ConfigError(f"no pyproject.toml in {root}", "run deplat from the project checkout")
    inputs = _wheel_inputs(root)
    folder = cache / "wheels" / _hash_tree(root, inputs)
    cached = sorted(folder.glob("*.whl"))
    if cached and (folder / "content.sha256").is_file():
        return cached[0], (folder / "content.sha256").read_text().strip()
    with _status(reporter, "Building the project wheel..."), \
            tempfile.TemporaryDirectory(prefix="deplat-wheel-") as tmp:
        build_env = _build_env(root, cache)
        stage, out = Path(tmp) / "src", Path(tmp) / "out"
        for path in inputs:
            target = stage / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
               "-w", str(out), str(stage)]
        pythonpath = os.pathsep.join(p for p in (str(build_env), os.environ.get("PYTHONPATH", "")) if p)
        _run(cmd, "building the project wheel",
             env={"SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, "PYTHONPATH": pythonpath})
        wheels = sorted(out.glob("*.whl"))
        if len(wheels) != 1:
            raise DeplatError(f"expected one wheel, the build produced {len(wheels)}")
        folder.mkdir(parents=True, exist_ok=True)
        wheel = folder / wheels[0].name
        shutil.copy2(wheels[0], wheel)
    content = wheel_content_hash(wheel)
    (folder / "content.sha256").write_text(content)
    return wheel, content


def job_package_name(version: str) -> str:
    return f"deplat_job-{version}.zip"


def build_job_package(root: Path, wheel: Path) -> tuple[Path, str]:
    """The wheel's package deplat_job (modules and package data) as a zip for --py-files, next to the
    cached wheel; its hash. DeplatError if the wheel has no deplat_job/__init__.py.

    Members are the wheel's own bytes, written in sorted order with the zip epoch as timestamp, so
    equal sources give an equal zip.
    """
    version = wheel.name.split("-")[1]
    target = wheel.parent / job_package_name(version)
    sidecar = wheel.parent / "job_package.sha256"
    if target.is_file() and sidecar.is_file():
        return target, sidecar.read_text().strip()
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")  # concurrent deploys never share it
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as out:
        members = set(src.namelist())
        names = {n for n in members if n.startswith(f"{JOB_PACKAGE}/") and not n.endswith("/")}
        if f"{JOB_PACKAGE}/__init__.py" not in names:
            raise DeplatError(f"the wheel {wheel.name} has no {JOB_PACKAGE}/__init__.py: no job package to build",
                              f"keep the job side in src/{JOB_PACKAGE} (pyproject's setuptools finds packages in src)")
        for name in sorted(names):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
            out.writestr(info, src.read(name))
    os.replace(partial, target)
    content = wheel_content_hash(target)
    sidecar.write_text(content)
    return target, content


def job_requirements(root: Path) -> list[str]:
    """The jobs' extra packages: pyproject's `sources` extra (the EMR runtime has Spark and Delta)."""
    extras = _pyproject(root).get("project", {}).get("optional-dependencies", {})
    return sorted(extras.get(DEPS_EXTRA, []))


def deps_archive_name(python_version: str = DEPS_PYTHON, platform: str = DEPS_PLATFORMS[0]) -> str:
    return f"deplat-deps-cp{python_version.replace('.', '')}-{platform}.tar.gz"


def build_deps_archive(
    requirements: list[str],
    cache: Path,
    python_version: str = DEPS_PYTHON,
    platforms: tuple[str, ...] = DEPS_PLATFORMS,
    runner: Callable[[list[str], str], None] | None = None,
    reporter: Any = None,
) -> tuple[Path, str]:
    """A tar.gz of the requirements' wheels, unpacked (a site-packages tree) for EMR's Python.

    `pip download --only-binary=:all: --platform ... --python-version ...` fetches wheels for the
    EMR runtime with no Docker; cached by the requirement list, so deploys do not rebuild it.
    """
    run = runner or (lambda cmd, what: _run(cmd, what))
    spec = json.dumps({"requirements": sorted(requirements), "python": python_version,
                       "platforms": list(platforms), "format": _BUILD_FORMAT}, sort_keys=True)
    key = hashlib.sha256(spec.encode()).hexdigest()[:24]
    archive = cache / "deps" / key / deps_archive_name(python_version, platforms[0])
    sidecar = archive.parent / "content.sha256"
    if archive.is_file() and sidecar.is_file():
        return archive, sidecar.read_text().strip()
    message = f"Building the dependency archive for Python {python_version} (once; cached after)..."
    with _status(reporter, message), tempfile.TemporaryDirectory(prefix="deplat-deps-") as tmp:
        wheels, site = Path(tmp) / "wheels", Path(tmp) / "site"
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
               "--implementation", "cp", "--python-version", python_version, "--dest", str(wheels)]
        for platform in platforms:
            cmd += ["--platform", platform]
        run([*cmd, *requirements], "downloading the jobs' dependency wheels")
        for wheel in sorted(wheels.glob("*.whl")):
            _unpack_wheel(wheel, site / DEPS_SITE)
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
        archive.parent.mkdir(parents=True, exist_ok=True)
        partial = archive.with_name(f"{archive.name}.{os.getpid()}.partial")
        _write_tar_gz(site, partial)
        os.replace(partial, archive)
    (archive.parent / "requirements.json").write_text(spec)
    content = sha256_file(archive)
    sidecar.write_text(content)
    return archive, content


# Put on PYTHONPATH as the archive's root, Python imports this at start-up (site.py, after the
# interpreter's site-packages are on sys.path); it appends site/ behind them, then runs the
# sitecustomize it hides, if the runtime has one.
SITECUSTOMIZE = '''"""deplat dependency archive: append site/ to sys.path, never ahead of the runtime's packages."""
import importlib.machinery
import importlib.util
import os
import site
import sys

_here = os.path.dirname(os.path.abspath(__file__))
site.addsitedir(os.path.join(_here, "site"))
_rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]
_spec = importlib.machinery.PathFinder.find_spec("sitecustomize", _rest)
if _spec is not None and _spec.loader is not None:
    _module = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_module)
'''


def _unpack_wheel(wheel: Path, site: Path) -> None:
    """Install a wheel the simple way: its purelib/platlib members land at the top of `site`."""
    with zipfile.ZipFile(wheel) as zf:
        for member in zf.infolist():
            name = member.filename
            parts = name.split("/")
            if parts[0].endswith(".data"):
                if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                    continue  # scripts/headers/data: not importable
                name = "/".join(parts[2:])
            if member.is_dir() or not name:
                continue
            target = site / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(member))


def _write_tar_gz(folder: Path, target: Path) -> None:
    """Deterministic tar.gz: sorted members, zero mtimes and owners, gzip header without a date."""
    with target.open("wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            data = path.read_bytes()
            info = tarfile.TarInfo(path.relative_to(folder).as_posix())
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))


def collect(root: Path, cache: Path, deps: bool = True, reporter: Any = None) -> list[Artifact]:
    """Everything `deploy` ships, hashed. Builds (wheel, deps archive) come from the cache when fresh."""
    artifacts = []
    for folder in PROJECT_DIRS:
        for path in _tree_files(root / folder):
            name = path.relative_to(root).as_posix()
            artifacts.append(Artifact(name, path, sha256_file(path), path.stat().st_size))
    wheel, wheel_hash = build_wheel(root, cache, reporter)
    artifacts.append(Artifact(f"wheel/{wheel.name}", wheel, wheel_hash, wheel.stat().st_size))
    package, package_hash = build_job_package(root, wheel)
    artifacts.append(Artifact(f"pyfiles/{package.name}", package, package_hash, package.stat().st_size))
    if deps:
        reqs = job_requirements(root)
        if reqs:
            archive, archive_hash = build_deps_archive(reqs, cache, reporter=reporter)
            artifacts.append(Artifact(f"deps/{archive.name}", archive, archive_hash, archive.stat().st_size))
    return artifacts


@contextmanager
def _status(reporter: Any, message: str) -> Iterator[None]:
    if reporter is None:
        yield
        return
    with reporter.status(message):
        yield


# --- the bucket -------------------------------------------------------------------------------

def load_manifest(s3: Any, bucket: str) -> Manifest | None:
    """The current manifest, or None if nothing was deployed yet."""
    try:
        body = s3.get_object(Bucket=bucket, Key=MANIFEST_KEY)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return Manifest.from_json(body.decode())


def existing_keys(s3: Any, bucket: str, prefix: str = PREFIX) -> set[str]:
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.update(obj["Key"] for obj in page.get("Contents", []))
    return keys


def plan(artifacts: list[Artifact], previous: Manifest | None, keys: set[str]) -> list[FileChange]:
    """Per file: what changed against the current manifest, and whether its content must be uploaded."""
    before = previous.files if previous else {}
    changes = []
    for art in sorted(artifacts, key=lambda a: a.name):
        old = before.get(art.name)
        change = "new" if old is None else ("unchanged" if old["sha256"] == art.sha256 else "changed")
        changes.append(FileChange(art.name, art.sha256, art.size, change,
                                  "skip" if art.key in keys else "upload"))
    current = {a.name for a in artifacts}
    for name in sorted(set(before) - current):
        changes.append(FileChange(name, before[name]["sha256"], before[name]["size"], "removed", ""))
    return changes


def _git(root: Path, *args: str) -> str | None:
    from deplat.core.proc import ProcessError, run

    try:
        proc = run(["git", *args], cwd=root, timeout=10, check=False)
    except ProcessError:
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _upload(s3: Any, bucket: str, art: Artifact) -> None:
    s3.upload_file(str(art.path), bucket, art.key,
                   ExtraArgs={"Metadata": {"sha256": art.sha256, "name": art.name}})


def sync(
    s3: Any,
    bucket: str,
    root: Path,
    artifacts: list[Artifact],
    previous: Manifest | None,
    keys: set[str],
    dry_run: bool = False,
    requirements: list[str] | None = None,
) -> DeployResult:
    """Upload the missing contents, then (only if the content changed) the new manifest."""
    changes = plan(artifacts, previous, keys)
    manifest = Manifest(files={a.name: {"sha256": a.sha256, "size": a.size, "key": a.key} for a in artifacts},
                        requirements=sorted(requirements or []))
    write_manifest = previous is None or previous.manifest_hash != manifest.manifest_hash
    if not dry_run:
        todo = [a for a in artifacts if a.key not in keys]
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda a: _upload(s3, bucket, a), todo))
        if write_manifest or not set(current_aliases(manifest)) <= keys:
            write_aliases(s3, bucket, manifest)  # before the manifest: a failure here is redone next deploy
        if write_manifest:
            manifest.git_sha = _git(root, "rev-parse", "HEAD")
            dirty = _git(root, "status", "--porcelain", "--", *PROJECT_DIRS, "src", "pyproject.toml")
            manifest.git_dirty = bool(dirty)
            manifest.deployed_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
            body = manifest.to_json().encode()
            s3.put_object(Bucket=bucket, Key=f"{MANIFEST_HISTORY}{manifest.manifest_hash}.json", Body=body,
                          ContentType="application/json")
            s3.put_object(Bucket=bucket, Key=MANIFEST_KEY, Body=body, ContentType="application/json",
                          Metadata={"manifest-hash": manifest.manifest_hash})
    return DeployResult(bucket, dry_run, changes, manifest.manifest_hash,
                        previous.manifest_hash if previous else None, write_manifest and not dry_run,
                        manifest.deps_archive)


def current_aliases(manifest: Manifest) -> dict[str, str]:
    """Stable keys under artifacts/current/ -> the content keys of the current manifest.

    For callers that cannot read the manifest: the weekly EventBridge schedule (terraform/
    schedule.tf) starts `artifacts/current/jobs/delta_maintenance.py` with the wheel and the
    dependency archive at their fixed alias names below.
    """
    aliases = {f"{CURRENT_PREFIX}{name}": meta["key"] for name, meta in manifest.files.items()
               if name.startswith("jobs/")}
    if manifest.wheel:
        aliases[CURRENT_WHEEL] = manifest.files[manifest.wheel]["key"]
    if manifest.job_package:
        aliases[CURRENT_JOB_PACKAGE] = manifest.files[manifest.job_package]["key"]
    if manifest.deps_archive:
        aliases[CURRENT_DEPS] = manifest.files[manifest.deps_archive]["key"]
    return aliases


def write_aliases(s3: Any, bucket: str, manifest: Manifest) -> int:
    """Server-side copy of each current artifact to its alias key (no bytes uploaded)."""
    aliases = current_aliases(manifest)

    def copy(item: tuple[str, str]) -> None:
        alias, source = item
        s3.copy_object(Bucket=bucket, Key=alias, CopySource={"Bucket": bucket, "Key": source},
                       MetadataDirective="REPLACE",
                       Metadata={"source-key": source, "manifest-hash": manifest.manifest_hash})

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(copy, sorted(aliases.items())))
    return len(aliases)


def deploy(ctx: Context, dry_run: bool = False, deps_archive: bool = True) -> DeployResult:
    """Build and sync the artifacts for ctx's environment (`deplat deploy`)."""
    bucket = ctx.output("artifacts_bucket")
    s3 = ctx.aws.client("s3")
    with s3_errors(ctx, bucket), ThreadPoolExecutor(max_workers=2) as pool:
        # The bucket reads overlap with hashing and (rarely) building.
        previous_f = pool.submit(load_manifest, s3, bucket)
        keys_f = pool.submit(existing_keys, s3, bucket)
        artifacts = collect(ctx.root, cache_dir(), deps=deps_archive, reporter=ctx.reporter)
        previous, keys = previous_f.result(), keys_f.result()
        requirements = job_requirements(ctx.root) if deps_archive else []
        kept = previous.deps_archive if previous and not deps_archive else None
        if previous and kept and previous.files[kept]["key"] in keys:
            # Skipping the archive keeps the deployed one rather than dropping it from the manifest.
            meta = previous.files[kept]
            artifacts.append(Artifact(kept, Path(meta["key"]), meta["sha256"], meta["size"]))
            requirements = previous.requirements
        return sync(s3, bucket, ctx.root, artifacts, previous, keys, dry_run, requirements)


@contextmanager
def s3_errors(ctx: Context, bucket: str) -> Iterator[None]:
    """Turn the usual S3 failures into DeplatErrors that say what to do."""
    from botocore.exceptions import ClientError, EndpointConnectionError

    env = ctx.env
    try:
        yield
    except EndpointConnectionError as exc:
        hint = "start the local stack: `deplat local up`" if env.is_local else "check the network"
        raise DeplatError(f"cannot reach S3 at {exc.kwargs.get('endpoint_url', '?')}", hint) from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchBucket", "404"):
            raise ConfigError(f"artifacts bucket '{bucket}' does not exist in '{env.name}'",
                              f"run `deplat -e {env.name} infra apply`") from exc
        if code in ("AccessDenied", "403"):
            raise ConfigError(f"access denied to s3://{bucket}",
                              "check the AWS profile and the bucket policy") from exc
        raise


# Where `deplat promote` records what a promoted manifest came from, per manifest hash.
PROVENANCE_PREFIX = "artifacts/provenance/"


def provenance(ctx: Context) -> dict[str, Any] | None:
    """Where the environment's deployed manifest came from: {manifest_hash, deployed_at, git_sha, and
    source_env/batch_id/promoted_at when promoted}, or None when nothing is deployed or S3 does not
    answer (status must still show the rest)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        bucket = ctx.outputs(required=False).get("artifacts_bucket")
        aws = getattr(ctx, "aws", None)  # contexts without AWS (the run service's unit tests)
        if not bucket or aws is None:
            return None
        s3 = aws.client("s3")
        manifest = load_manifest(s3, bucket)
        if manifest is None:
            return None
        out: dict[str, Any] = {"manifest_hash": manifest.manifest_hash, "deployed_at": manifest.deployed_at,
                               "git_sha": manifest.git_sha, "source": "deplat deploy"}
        try:
            doc = json.loads(s3.get_object(Bucket=bucket, Key=f"{PROVENANCE_PREFIX}{manifest.manifest_hash}.json")
                             ["Body"].read())
        except s3.exceptions.NoSuchKey:
            return out
        return {**out, "source": f"promoted from {doc['source_env']}", **doc}
    except (BotoCoreError, ClientError, DeplatError):
        return None
