"""Which pipeline a checkpoint belongs to: a fingerprint of the connectors and their non-secret configs. Pure logic.

A checkpoint stores a `PipelineIdentity`; a run whose identity differs refuses to resume from it, so one pipeline
never skips data because another one's checkpoint said it was already read. Secrets are left out (rotating a key
is the same pipeline) and only digests are stored, one per command and per top-level config key, so a mismatch can
name what changed without keeping any value. A secret connection URL still tells its
target apart (host, port, database), so two databases are never one pipeline.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson
from sync_protocol import PipelineIdentity

from ._errors import CheckpointMismatchError

_DIGEST_CHARS = 16


def _digest(value: Any) -> str:
    data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.sha256(data).hexdigest()[:_DIGEST_CHARS]


def _without_secrets(config: Any, secrets: set[str]) -> Any:
    """`config` with every secret value replaced by what identifies the target without the secret.

    A secret connection URL keeps its scheme, user, host, port and path (two databases are two destinations);
    any other secret (an API key, a password) becomes a marker, so rotating it keeps the pipeline's identity.
    """
    if isinstance(config, dict):
        return {k: _without_secrets(v, secrets) for k, v in config.items()}
    if isinstance(config, list):
        return [_without_secrets(v, secrets) for v in config]
    if isinstance(config, str) and config in secrets:
        return _url_target(config) or "<secret>"
    return config


def _url_target(value: str) -> str | None:
    """`scheme://user@host:port/path` of a URL, without password or query; None when `value` is no URL."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{parts.hostname}{f':{port}' if port else ''}{parts.path}"


def pipeline_identity(
    source_command: Sequence[str],
    source_config: dict[str, Any],
    destination_command: Sequence[str],
    destination_config: dict[str, Any],
    secrets: Iterable[str],
) -> PipelineIdentity:
    """The identity of a pipeline; `secrets` are the config values the connectors' specs mark secret."""
    hidden = {s for s in secrets if s}
    parts: dict[str, str] = {}
    for role, command, config in (
        ("source", source_command, source_config),
        ("destination", destination_command, destination_config),
    ):
        parts[f"{role}.command"] = _digest(list(command))
        for key, value in _without_secrets(config, hidden).items():
            parts[f"{role}.config.{key}"] = _digest(value)
    return PipelineIdentity(fingerprint=_digest(parts), parts=parts)


def default_pipeline_name(identity: PipelineIdentity, source_command: Sequence[str], streams: Iterable[str]) -> str:
    """A checkpoint name for a pipeline given without one: readable, and distinct per pipeline and selection."""
    program = re.sub(r"[^A-Za-z0-9._-]", "_", _program(source_command))[:40] or "pipeline"
    return f"{program}-{_digest([identity.fingerprint, sorted(streams)])[:12]}"


def _program(command: Sequence[str]) -> str:
    """The connector's own name: the script of an interpreter command, else the executable."""
    names = [part.rsplit("/", 1)[-1] for part in command]
    scripts = [n for n in names[1:] if not n.startswith("-")]
    chosen = scripts[0] if names and names[0].startswith("python") and scripts else (names[0] if names else "")
    return chosen.rsplit(".", 1)[0] if chosen.endswith((".py", ".js", ".sh")) else chosen


def identity_changes(stored: PipelineIdentity, current: PipelineIdentity) -> list[str]:
    """The parts that differ between two identities, sorted (`source.config.start_date`, `destination.command`)."""
    return sorted(k for k in stored.parts.keys() | current.parts.keys() if stored.parts.get(k) != current.parts.get(k))


def check_identity(
    name: str, stored: PipelineIdentity | None, current: PipelineIdentity, adopt: bool | Literal["source"]
) -> None:
    """Raise `CheckpointMismatchError` when checkpoint `name` belongs to another pipeline, unless `adopt` allows
    the difference: `True` any, `"source"` only in the source's parts (the destination must be the same one)."""
    if stored is None or adopt is True or stored.fingerprint == current.fingerprint:
        return
    changed = identity_changes(stored, current)
    if adopt == "source":
        if all(k.startswith("source.") for k in changed):
            return
        changed = [k for k in changed if not k.startswith("source.")]
    shown = ", ".join(changed[:6]) + (f" and {len(changed) - 6} more" if len(changed) > 6 else "")
    raise CheckpointMismatchError(
        f"checkpoint {name!r} belongs to a different pipeline ({shown} differ), so resuming from it could skip data. "
        "Give this pipeline its own name (--name or `name:`) or state location; or, if it is the same pipeline with "
        "a changed setting, run once with --adopt-checkpoint"
    )
