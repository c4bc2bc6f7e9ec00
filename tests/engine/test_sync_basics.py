"""End-to-end syncs through real connector subprocesses: the happy path, enforcement, checkpoints, resume."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import anyio
import orjson
import pytest
from sync_engine import Engine, FileStateStore, PipelineConfigError
from sync_protocol import (
    ControlMessage,
    EndMessage,
    LogMessage,
    ProgressMessage,
    RunStatus,
    StartMessage,
    StreamProgressStatus,
    encode_message,
)

from tests.fixtures.connectors import CONNECTORS_DIR

from .harness import expected_ids, ids_by_stream, pipeline, run_sync, stored

STREAMS = {"customers": 250, "charges": 120}


def test_full_sync_delivers_every_record_and_checkpoints(tmp_path: Path) -> None:
    result, messages = run_sync(pipeline(tmp_path, {"streams": STREAMS, "page_size": 100}))
    assert result.status is RunStatus.SUCCEEDED and not result.has_more
    assert {k: set(v) for k, v in ids_by_stream(tmp_path).items()} == expected_ids(STREAMS)
    assert isinstance(messages[0], StartMessage) or any(isinstance(m, StartMessage) for m in messages)
    assert isinstance(messages[-1], EndMessage)
    assert not any(m.type == "record" for m in messages)

    state = FileStateStore(tmp_path / "state").load("default")
    assert state is not None and state.finished
    assert state.streams["customers"].data == {"next": 250}
    [covered] = state.streams["customers"].completed_ranges
    assert covered.gte is not None and covered.lt is not None
    assert covered.gte == datetime(2024, 1, 1, tzinfo=UTC)
    assert covered.lt == state.run_ranges["customers"].lt, "read up to the upper bound the run fixed at its start"
    assert state.progress is not None and state.progress.record_count == 370
    assert state.progress.streams["charges"].state_count == 2
    assert result.progress.streams["customers"].status is StreamProgressStatus.COMPLETE


def test_second_run_resumes_from_the_checkpoint_and_sends_nothing_new(tmp_path: Path) -> None:
    p = pipeline(tmp_path, {"streams": STREAMS})
    run_sync(p)
    before = len(stored(tmp_path))
    result, _ = run_sync(p)
    assert result.status is RunStatus.SUCCEEDED
    assert len(stored(tmp_path)) == before
    assert result.request_progress.record_count == 0


def test_unconfigured_streams_are_dropped_and_fields_pruned(tmp_path: Path) -> None:
    p = pipeline(
        tmp_path,
        {"streams": STREAMS},
        streams=[{"name": "charges", "fields": ["amount"]}],
    )
    result, _ = run_sync(p)
    assert result.status is RunStatus.SUCCEEDED
    rows = stored(tmp_path)
    assert {r["stream"] for r in rows} == {"charges"}
    assert all(set(r["data"]) == {"id", "amount"} for r in rows), "primary key kept, other fields pruned"
    assert len(rows) == 120


def test_source_emitting_unconfigured_stream_is_dropped_counted_and_warned_once(tmp_path: Path) -> None:
    # The synthetic source honours its catalog; this shell source does not.
    p = pipeline(tmp_path, {}, streams=[{"name": "good"}])
    p.source.command = [str(CONNECTORS_DIR / "rogue_source.sh")]
    p.source.config = {}
    result, messages = run_sync(p)
    assert result.status is RunStatus.SUCCEEDED
    assert [r["data"] for r in stored(tmp_path)] == [{"id": f"g{i}"} for i in (1, 2, 3)]
    assert result.dropped == {"secret": 4}
    warnings = [m for m in messages if isinstance(m, LogMessage) and "'secret'" in m.log.message]
    assert len(warnings) == 1


def test_progress_is_emitted_and_cumulative(tmp_path: Path) -> None:
    result, messages = run_sync(pipeline(tmp_path, {"streams": {"a": 50}, "page_size": 10, "page_delay_s": 0.3}))
    progress = [m.progress for m in messages if isinstance(m, ProgressMessage)]
    assert len(progress) >= 3
    counts = [p.record_count for p in progress]
    assert counts == sorted(counts) and counts[-1] == 50
    assert result.progress.streams["a"].covered_fraction == 1.0


def test_unknown_stream_in_selection_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(PipelineConfigError, match="unknown stream"):
        run_sync(pipeline(tmp_path, {"streams": STREAMS}, streams=[{"name": "nope"}]))


def test_config_is_validated_against_the_spec_before_any_io(tmp_path: Path) -> None:
    with pytest.raises(PipelineConfigError, match=r"source config does not match its spec: streams"):
        run_sync(pipeline(tmp_path, {"streams": "not-an-object"}))
    assert not (tmp_path / "out.jsonl").exists()


def test_time_range_limits_what_is_read_and_coverage_is_reported(tmp_path: Path) -> None:
    p = pipeline(
        tmp_path,
        {"streams": {"a": 100}, "page_size": 10},
        streams=[{"name": "a", "time_range": {"gte": "2024-01-01T00:10:00Z", "lt": "2024-01-01T00:30:00Z"}}],
    )
    result, _ = run_sync(p)
    assert sorted(ids_by_stream(tmp_path)["a"], key=lambda s: int(s.split("-")[1])) == [f"a-{i}" for i in range(10, 30)]
    assert result.progress.streams["a"].covered_fraction == 1.0
    state = result.state.streams["a"]
    assert [(r.gte.minute, r.lt.minute) for r in state.completed_ranges if r.gte and r.lt] == [(10, 30)]


def test_record_validation_is_off_by_default_and_errors_the_stream_when_on(tmp_path: Path) -> None:
    bad = {"streams": {"a": 5, "b": 5}, "template": {"amount": "not a number"}}
    result, _ = run_sync(pipeline(tmp_path / "off", bad))
    assert result.status is RunStatus.SUCCEEDED

    checked = pipeline(tmp_path / "on", bad, validate_records=True, streams=[{"name": "a"}])
    result, _ = run_sync(checked)
    assert result.status is RunStatus.PARTIAL
    assert result.progress.streams["a"].status is StreamProgressStatus.ERRORED
    assert "amount" in (result.progress.streams["a"].error or "")
    assert stored(tmp_path / "on") == []
    assert "a" not in result.state.streams, "no checkpoint may claim the records that were dropped"


def test_control_from_setup_is_stored_exactly_and_printed_redacted(tmp_path: Path) -> None:
    config_file = tmp_path / "destination.json"
    secret = "tok_super_secret_value"
    config_file.write_text(
        orjson.dumps({"path": str(tmp_path / "out.jsonl"), "token": secret, "setup_adds": {"created": True}}).decode()
    )
    p = pipeline(tmp_path, {"streams": {"a": 3}})
    p.destination.config = str(config_file)
    result, messages = run_sync(p)
    assert result.status is RunStatus.SUCCEEDED
    stored_config = orjson.loads(config_file.read_bytes())
    assert stored_config["created"] is True and stored_config["token"] == secret
    assert secret.encode() not in b"".join(encode_message(m) for m in messages)
    controls = [m for m in messages if isinstance(m, ControlMessage)]
    assert controls and controls[0].control.config["token"] == "**********"


def test_a_source_may_not_rewrite_the_destination_config(tmp_path: Path) -> None:
    rogue = tmp_path / "rogue_control.sh"
    rogue.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        'spec) echo \'{"type":"spec","spec":{"config":{"type":"object"}}}\';;\n'
        'discover) echo \'{"type":"catalog","catalog":{"streams":[{"name":"s","json_schema":{}}]}}\';;\n'
        'read) echo \'{"type":"control","control":{"control_type":"destination_config",'
        '"config":{"path":"/tmp/redirected.jsonl"}}}\'\n'
        '  echo \'{"type":"stream_status","stream_status":{"stream":"s","status":"complete"}}\';;\n'
        "esac\n"
    )
    rogue.chmod(0o755)
    config_file = tmp_path / "destination.json"
    config_file.write_text(orjson.dumps({"path": str(tmp_path / "out.jsonl")}).decode())
    p = pipeline(tmp_path, {})
    p.source.command, p.source.config, p.destination.config = [str(rogue)], {}, str(config_file)
    result, messages = run_sync(p)
    assert result.status is RunStatus.SUCCEEDED
    assert orjson.loads(config_file.read_bytes()) == {"path": str(tmp_path / "out.jsonl")}
    assert any(isinstance(m, LogMessage) and "ignored a destination_config" in m.log.message for m in messages)


def test_a_destination_whose_write_sets_up_is_not_started_for_setup(tmp_path: Path) -> None:
    marker = tmp_path / "out.jsonl.setups"
    plain = pipeline(tmp_path / "plain", {"streams": {"a": 5}})
    result, _ = run_sync(plain)
    assert result.status is RunStatus.SUCCEEDED
    assert (tmp_path / "plain" / "out.jsonl.setups").read_text() == "setup\n"
    p = pipeline(tmp_path, {"streams": {"a": 5}})
    p.destination.env = {"JSONL_SETUP_IN_WRITE": "1"}
    result, _ = run_sync(p)
    assert result.status is RunStatus.SUCCEEDED and not marker.exists()
    assert set(ids_by_stream(tmp_path)["a"]) == expected_ids({"a": 5})["a"]
    anyio.run(Engine(p).setup)  # the setup command still runs it
    assert marker.read_text() == "setup\n"
