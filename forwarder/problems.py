"""A problem `forwarder check`, startup and reloads report: level, file, key and a reason in plain words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Problem:
    level: Literal["error", "warning"]
    file: str
    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.level}: {self.file}: {self.key + ': ' if self.key else ''}{self.reason}"
