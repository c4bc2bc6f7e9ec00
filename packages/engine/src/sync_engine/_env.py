"""Settings from the environment: strict `${VAR}` interpolation and `.env` files. Pure logic, no process state.

Interpolation runs on pipeline definitions and connector configs before any validation, so secrets never have to
sit in files or on a command line (`ps`), whatever language a connector is written in. It is strict: a variable
that is not set is an error naming the variable (never a value); `$${` writes a literal `${`. Only whole
`${NAME}` references are replaced; a bare `$NAME` is left alone (passwords may contain `$`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._errors import PipelineConfigError

_REFERENCE = re.compile(r"\$(\$?)\{([^}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_LINE = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)")


SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|DSN|_URL$|^DATABASE_URL$", re.IGNORECASE)
"""Variable names whose values are treated as secrets wherever they are used (redacted from output)."""


def interpolate(value: Any, env: Mapping[str, str], where: str = "config", used: set[str] | None = None) -> Any:
    """`value` (JSON-like) with every `${NAME}` in its strings replaced from `env`; names used go into `used`.

    Raises `PipelineConfigError` naming the variable and the place (`source.config.api_key`) when a variable is
    not set or a reference is malformed; the message never holds a value.
    """
    if isinstance(value, str):
        return _interpolate_text(value, env, where, used)
    if isinstance(value, dict):
        return {k: interpolate(v, env, f"{where}.{k}", used) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, f"{where}[{i}]", used) for i, v in enumerate(value)]
    return value


def secret_values(names: set[str], env: Mapping[str, str]) -> set[str]:
    """The values of the variables among `names` whose names say they hold secrets (`STRIPE_API_KEY`, ...)."""
    return {env[name] for name in names if name in env and SECRET_NAME.search(name)}


def _interpolate_text(text: str, env: Mapping[str, str], where: str, used: set[str] | None) -> str:
    if "$" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        escaped, name = match.group(1), match.group(2)
        if escaped:
            return "${" + name + "}"
        if not _NAME.fullmatch(name):
            raise PipelineConfigError(f"{where}: {'${' + name + '}'!r} is not a variable reference (use $${{ for $)")
        if name not in env:
            raise PipelineConfigError(
                f"environment variable {name} is not set (used in {where}); export it or put it in a .env file"
            )
        if used is not None:
            used.add(name)
        return env[name]

    return _REFERENCE.sub(replace, text)


def parse_env_file(text: str, origin: str = ".env") -> dict[str, str]:
    """`KEY=value` lines (optional `export`, `#` comments, single or double quotes); errors name the line only."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _ENV_LINE.fullmatch(line)
        if match is None:
            raise PipelineConfigError(f"{origin}:{number}: expected KEY=value")
        key, rest = match.group(1), match.group(2).strip()
        if rest[:1] in ("'", '"'):
            quote = rest[0]
            end = rest.find(quote, 1)
            if end < 0:
                raise PipelineConfigError(f"{origin}:{number}: unbalanced {quote} in the value of {key}")
            value = rest[1:end]
            if quote == '"':
                value = value.replace("\\n", "\n").replace('\\"', '"')
        else:
            value = re.split(r"\s+#", rest, maxsplit=1)[0].strip()
        values[key] = value
    return values


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of a `.env` file; `PipelineConfigError` when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PipelineConfigError(f"cannot read env file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError:
        raise PipelineConfigError(f"env file {path} is not UTF-8") from None
    return parse_env_file(text, str(path))


def environment(process_env: Mapping[str, str], env_file: Path | None) -> dict[str, str]:
    """What `${VAR}` sees: the `.env` file's values under the process environment (a set variable wins)."""
    values = read_env_file(env_file) if env_file is not None else {}
    return {**values, **process_env}
