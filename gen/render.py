"""The jinja2 environment: strict, whitespace-controlled, one per run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@dataclass(frozen=True)
class Features:
    """Attribute access to a baseline's features, failing on unknown names."""

    values: dict[str, bool]

    def __getattr__(self, name: str) -> bool:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(f"unknown baseline feature '{name}'") from None


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


class Renderer:
    def __init__(self, context: dict[str, Any]) -> None:
        self.env = environment()
        self.context = context

    def render(self, template: str, **extra: Any) -> str:
        return self.env.get_template(template).render(**self.context, **extra)
