"""docs/configuration.md, generated from the pydantic config models of every daemon.

`nfc-hospital protocol config-doc` writes it; tests/unit/test_config_doc.py fails when the
file in the repository differs from what the models say.
"""

from __future__ import annotations

import enum
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

DEFAULT_OUTPUT = Path("docs/configuration.md")
_PACKAGES_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Daemon:
    """One config file: who reads it, its model, its environment prefix."""

    title: str
    command: str
    model: type[BaseModel]
    env_prefix: str


def daemons() -> list[Daemon]:
    """Every config file a person writes, with the model that validates it."""
    from central.config import ENV_PREFIX as CENTRAL_ENV
    from central.config import CentralConfig
    from edge.config import ENV_PREFIX as EDGE_ENV
    from edge.config import EdgeConfig
    from kiosk_ui.config import ENV_PREFIX as KIOSK_ENV
    from kiosk_ui.config import KioskConfig

    return [
        Daemon("Central server", "nfc-hospital central --config central.toml", CentralConfig,
               CENTRAL_ENV),
        Daemon("Station daemon", "nfc-hospital edge --config station.toml", EdgeConfig, EDGE_ENV),
        Daemon("Kiosk (room board or station screen)", "nfc-hospital kiosk --config kiosk.toml",
               KioskConfig, KIOSK_ENV),
    ]  # fmt: skip


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The config models an annotation holds (a model, a list of a union of models ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin in (list, Union, types.UnionType):
        found: list[type[BaseModel]] = []
        for arg in typing.get_args(annotation):
            found.extend(_models_in(arg))
        return found
    return []


_SIMPLE_NAMES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        text = " or ".join(names)
        return f"{text} (optional)" if type(None) in args else text
    if origin in (list, tuple, set, frozenset):
        inner = ", ".join(_type_name(a) for a in args if a is not Ellipsis)
        return f"list of {inner}"
    if origin is dict:
        return f"table of {_type_name(args[0])} → {_type_name(args[1])}"
    if annotation is SecretStr:
        return "secret"
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return " \\| ".join(f"`{m.value}`" for m in annotation)
        if issubclass(annotation, Path):
            return "path"
        return _SIMPLE_NAMES.get(annotation.__name__, annotation.__name__)
    return str(annotation).replace("typing.", "")


def _field_default(info: FieldInfo) -> Any:
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return info.default


def _default(info: FieldInfo, parent: BaseModel | None, name: str) -> str:
    """The default as the daemon really starts with it: a section's default comes from the
    section's default object (central's `[http]` port is 8080, not the model's 0)."""
    if parent is not None:
        value = getattr(parent, name)
    elif info.is_required():
        return "*required*"
    else:
        value = _field_default(info)
    if value is PydanticUndefined or value is None:
        return "—"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Path) and value.is_absolute():
        # A file shipped inside the package: its absolute path differs per checkout, so the
        # document names it from the package root and stays the same everywhere.
        try:
            return f'`"{value.relative_to(_PACKAGES_ROOT)}"` (shipped with nfc-hospital)'
        except ValueError:
            pass
    if isinstance(value, str | Path):
        return f'`"{value}"`'
    if isinstance(value, BaseModel):
        return "(see below)"
    if isinstance(value, list | tuple) and all(isinstance(v, BaseModel) for v in value) and value:
        return "`" + ", ".join(str(getattr(v, "type", type(v).__name__)) for v in value) + "`"
    if isinstance(value, dict) and not value:
        return "`{}`"
    return f"`{value!r}`" if not isinstance(value, float | int) else f"`{value}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


_Sub = tuple[tuple[str, ...], str, type[BaseModel], BaseModel | None]


def _table(
    model: type[BaseModel],
    path: tuple[str, ...],
    env_prefix: str | None,
    defaults: BaseModel | None,
) -> tuple[list[str], list[_Sub]]:
    """Rows of one section, and the subsections (path, heading suffix, model, default object)
    below it."""
    rows: list[str] = []
    subs: list[_Sub] = []
    for name, info in model.model_fields.items():
        models = _models_in(info.annotation)
        origin = typing.get_origin(info.annotation)
        if models and origin is not list and len(models) == 1:
            section = getattr(defaults, name) if defaults is not None else None
            if section is None and not info.is_required():
                section = _field_default(info)
            # An optional section left out of the file is off: its keys then have no
            # defaults to show beyond the model's own.
            note = " (optional section)" if _is_optional(info) and section is None else ""
            subs.append(((*path, name), note, models[0], section))
            continue
        if models and origin is list:
            for m in models:
                tag = _discriminator(m)
                subs.append(((*path, name), f" — `[[{name}]]` {tag}", m, None))
            rows.append(
                f"| `{name}` | list of tables (see below) | {_default(info, defaults, name)} | "
                f"{_cell(info.description or '')} |"
            )
            continue
        desc = _cell(info.description or "")
        if env_prefix is not None and path is not None:
            env = "__".join(p.upper() for p in (*path, name))
            desc += f" <br>env `{env_prefix}__{env}`"
        default = _default(info, defaults, name)
        rows.append(f"| `{name}` | {_type_name(info.annotation)} | {default} | {desc} |")
    return rows, subs


def _is_optional(info: FieldInfo) -> bool:
    return type(None) in typing.get_args(info.annotation)


def _discriminator(model: type[BaseModel]) -> str:
    field = model.model_fields.get("type")
    if field is not None and typing.get_origin(field.annotation) is Literal:
        return f'`type = "{typing.get_args(field.annotation)[0]}"`'
    return model.__name__


def _section(
    out: list[str],
    model: type[BaseModel],
    path: tuple[str, ...],
    heading: str,
    level: int,
    env_prefix: str | None,
    *,
    in_list: bool = False,
    defaults: BaseModel | None = None,
    intro: str | None = None,
) -> None:
    rows, subs = _table(model, path, None if in_list else env_prefix, defaults)
    out.append(f"{'#' * level} {heading}")
    out.append("")
    if intro:
        out.append(intro)
        out.append("")
    # The docstring's first paragraph, on one line.
    paragraph = (model.__doc__ or "").strip().split("\n\n")[0]
    if paragraph:
        out.append(" ".join(paragraph.split()))
        out.append("")
    if rows:
        out.append("| key | type | default | description |")
        out.append("|---|---|---|---|")
        out.extend(rows)
        out.append("")
    for sub_path, suffix, sub, sub_defaults in subs:
        listed = suffix.startswith(" — ")
        title = suffix.removeprefix(" — ") if listed else f"`[{'.'.join(sub_path)}]`{suffix}"
        _section(
            out,
            sub,
            sub_path,
            title,
            min(level + 1, 6),
            env_prefix,
            in_list=in_list or listed,
            defaults=sub_defaults,
        )


def render() -> str:
    """The whole of docs/configuration.md."""
    out = [
        "# Configuration",
        "",
        "<!-- Generated by `nfc-hospital protocol config-doc` from the pydantic config models; "
        "do not edit by hand. -->",
        "",
        "Every daemon reads one TOML file (`--config FILE`); unknown keys are errors, and an "
        "error names the file (or environment variable) and the key path. "
        "`--print-config` shows the effective config with secrets hidden. Any key can be "
        "overridden from the environment: the daemon's prefix, then the key path in capitals "
        "joined by `__` (`NFCH_EDGE__MQTT__PORT=8883`). Sections are TOML tables "
        "(`[mqtt]`); a key with no default must be given.",
        "",
    ]
    for d in daemons():
        out.append(f"- [{d.title}](#{_anchor(d.title)}) — `{d.command}`")
    out.append("")
    for d in daemons():
        intro = f"`{d.command}` — environment prefix `{d.env_prefix}`"
        _section(out, d.model, (), d.title, 2, d.env_prefix, defaults=d.model(), intro=intro)
    return "\n".join(out).rstrip() + "\n"


def _anchor(title: str) -> str:
    keep = [c for c in title.lower() if c.isalnum() or c in " -"]
    return "".join(keep).replace(" ", "-")


def write(path: Path = DEFAULT_OUTPUT) -> Path:
    """Write the document to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    return path
