"""The per-invocation facade: resolved environment, AWS clients, Terraform outputs, reporter."""

from __future__ import annotations

import copy
import json
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deplat.core.config import Environment, Settings, load_settings
from deplat.core.console import NullReporter, Reporter
from deplat_job.errors import ConfigError

if TYPE_CHECKING:
    from deplat.core.aws import Aws


class Context:
    """Everything a command needs, built lazily so `--help` and cheap commands stay cheap."""

    def __init__(
        self,
        env_name: str | None = None,
        settings: Settings | None = None,
        reporter: Reporter | None = None,
        output: str = "text",
        debug: bool = False,
    ):
        # `output` is the rendering format (text|json); `output(key)` below is a Terraform output.
        self._settings = settings
        self._env_name = env_name
        self.reporter: Reporter = reporter or NullReporter()
        self.output_format = output
        self.debug = debug

    @cached_property
    def settings(self) -> Settings:
        return self._settings or load_settings()

    @cached_property
    def env(self) -> Environment:
        from deplat.core.aws import check_local_safety

        env = self.settings.env(self._env_name)
        check_local_safety(env)  # before any command touches it: local never real, cloud never loopback
        return env

    def scoped(self, reporter: Reporter, aws: Aws | None = None) -> Context:
        """This context with its own reporter (and AWS clients, when given), for work on another thread
        (a backfill's dates): the settings, env and outputs stay shared."""
        clone = copy.copy(self)
        clone.reporter = reporter
        if aws is not None:
            clone.__dict__["aws"] = aws  # over the cached_property
        return clone

    @property
    def state_dir(self) -> Path:
        """`.deplat/<env>/`: Terraform outputs cache, plan files, run history."""
        path = self.settings.state_dir / self.env.name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def stack_dir(self) -> Path:
        """`.deplat/stack/` (DEPLAT_STACK_DIR): the local stack's files, see Settings.stack_dir."""
        return self.settings.stack_dir

    @cached_property
    def aws(self) -> Aws:
        """This environment's AWS clients (moto's endpoint for a local env), made once; `scoped`
        gives a thread its own."""
        from deplat.core.aws import Aws

        return Aws(self.env)

    @property
    def outputs_file(self) -> Path:
        return self.state_dir / "outputs.json"

    def outputs(self, required: bool = True) -> dict[str, Any]:
        """Terraform outputs cached by `deplat infra apply` (name -> value)."""
        if not self.outputs_file.is_file():
            if not required:
                return {}
            raise ConfigError(
                f"no infrastructure outputs for environment '{self.env.name}'",
                f"run `deplat -e {self.env.name} infra apply` (or `deplat infra output` to refresh)",
            )
        return json.loads(self.outputs_file.read_text())

    def output(self, key: str) -> Any:
        outputs = self.outputs()
        if key not in outputs:
            raise ConfigError(
                f"Terraform output '{key}' missing for environment '{self.env.name}'",
                "run `deplat infra apply` to refresh the outputs cache",
            )
        return outputs[key]

    @property
    def root(self) -> Path:
        """The project root: the folder holding config/deplat.yaml (Settings.root)."""
        return self.settings.root

    @property
    def lake_uri(self) -> str:
        """Root of the lake: a local folder for the local env, s3://<lake bucket> in the cloud."""
        if self.env.lake_uri:
            path = Path(self.env.lake_uri)
            return str(path if path.is_absolute() else (self.root / path).resolve())
        return f"s3://{self.output('lake_bucket')}"
