"""One doctor check's result: what was checked, whether it passed, what was found and how to fix it."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Check:
    """name: what was checked; ok: passed; detail: what was found; fix: the command or step that
    fixes a failure; required: a failed required check makes `deplat doctor` exit 1."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    def to_dict(self) -> dict:
        return asdict(self)
