"""Loading daemon config files: TOML, then environment overrides, then pydantic validation.

Every error names the file (or the environment variable) and the key path, e.g.
`/etc/nfc-hospital/station.toml: mqtt.port: Input should be a valid integer`.
Environment overrides use the daemon's prefix and `__` between levels:
`NFCH_EDGE__MQTT__PORT=8883` sets `[mqtt] port`.
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import tomli_w
from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError

from protocol.errors import ConfigError

C = TypeVar("C", bound=BaseModel)


def _env_overrides(prefix: str, environ: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    found: dict[tuple[str, ...], str] = {}
    for name, value in environ.items():
        if name.startswith(prefix + "__"):
            path = tuple(p.lower() for p in name[len(prefix) + 2 :].split("__"))
            if all(path):
                found[path] = value
    return found


def _set_path(data: dict[str, Any], path: tuple[str, ...], value: Any, origin: str) -> None:
    node = data
    for key in path[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{origin}: {'.'.join(path)}: {key} is not a table in the file")
        node = child
    node[path[-1]] = value


def _env_value(raw: str) -> Any:
    # Lists and tables can be given as JSON; everything else stays a string for pydantic.
    if raw[:1] in "[{":
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def load_config(
    cls: type[C],
    path: Path | None,
    env_prefix: str,
    environ: Mapping[str, str] | None = None,
) -> C:
    """Read `path` (or only defaults when None), apply env overrides, validate as `cls`."""
    environ = os.environ if environ is None else environ
    origin = str(path) if path else "(defaults)"
    data: dict[str, Any] = {}
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"{path}: cannot read config file: {e.strerror}") from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"{path}: not UTF-8 text (byte {e.start})") from None
        try:
            data = tomllib.loads(text)
        except (ValueError, RecursionError) as e:  # TOMLDecodeError, a 4,301-digit int, [[[[...
            raise ConfigError(
                f"{path}: not valid TOML: {str(e)[:300] or type(e).__name__}"
            ) from None
    env_keys: dict[tuple[str, ...], str] = {}
    for key_path, raw in _env_overrides(env_prefix, environ).items():
        env_var = env_prefix + "__" + "__".join(p.upper() for p in key_path)
        _set_path(data, key_path, _env_value(raw), env_var)
        env_keys[key_path] = env_var
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        lines = []
        for err in e.errors(include_url=False):
            loc = tuple(str(p) for p in err["loc"])
            where = env_keys.get(loc, origin)
            lines.append(f"{where}: {'.'.join(loc) or '(top level)'}: {err['msg']}")
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines)) from None


def _redact(value: Any) -> Any:
    if isinstance(value, SecretStr | SecretBytes):
        return "********"
    if isinstance(value, BaseModel):
        return {k: _redact(getattr(value, k)) for k in type(value).model_fields}
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


def _tomlable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _tomlable(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_tomlable(v) for v in value if v is not None]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, BaseModel):
        return _tomlable(_redact(value))
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def render_config(config: BaseModel) -> str:
    """The effective config as TOML, secrets shown as ********, for `--print-config`."""
    return tomli_w.dumps(_tomlable(_redact(config)))


def add_config_arguments(parser: Any, env_prefix: str) -> None:
    """Add the `--config FILE` and `--print-config` options every daemon takes."""
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"TOML config file; {env_prefix}__SECTION__KEY=value variables override it",
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the effective config (file + environment + defaults) as TOML and exit",
    )


def config_from_args(cls: type[C], args: Any, env_prefix: str, prog: str) -> C:
    """Load the config named by `args.config`; on error print it and exit 2.

    With `--print-config`, print the effective config and exit 0.
    """
    try:
        config = load_config(cls, args.config, env_prefix)
    except ConfigError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    if getattr(args, "print_config", False):
        print(render_config(config), end="")
        raise SystemExit(0)
    return config


SECRET_MODE_MASK = 0o037
"""Permission bits a secret file must not have: group write, and any access by others
(0600 and 0640 pass; 0644 and 0666 are refused, as ssh refuses a readable private key)."""


def read_secret_file(path: Path, key: str) -> str:
    """The text of a secret file (site key, MQTT password), stripped; a ConfigError naming the
    config key and the file when it is missing, unreadable, not text, or open to other users.
    """
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{key}: {path}: cannot read the file: {e.strerror}") from None
    if mode & SECRET_MODE_MASK:
        raise ConfigError(
            f"{key}: {path}: the file's permissions ({oct(mode & 0o777)}) let other users "
            f"read or change a secret; run: chmod 600 {path}"
        )
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError as e:
        raise ConfigError(f"{key}: {path}: not UTF-8 text (byte {e.start})") from None
