"""The operator's side of `sync-engine`: settings from the environment, checkpoints one can look at and change,
and a terminal that tells the truth. Connectors are real executables; most runs are in process for speed."""

from __future__ import annotations

import io
import shlex
import subprocess
import sys
from pathlib import Path

import orjson
from sync_engine._cli import run

from tests.fixtures.connectors import python_connector

SOURCE = " ".join(python_connector("synthetic_source.py"))
DESTINATION = " ".join(python_connector("jsonl_destination.py"))
SECRET = "sk_test_operator_secret_1234"


class _Terminal(io.BytesIO):
    def isatty(self) -> bool:
        return True


class _Answers(io.StringIO):
    def isatty(self) -> bool:
        return True


def cli(
    *argv: str, env: dict[str, str] | None = None, tty: bool = False, answers: str | None = None
) -> tuple[int, str, str]:
    """Run `sync-engine argv` in process; (exit code, stdout, stderr)."""
    out: io.BytesIO = _Terminal() if tty else io.BytesIO()
    err = io.StringIO()
    stdin = _Answers(answers) if answers is not None else io.StringIO()
    code = run(list(argv), stdout=out, stderr=err, stdin=stdin, env=env or {})
    return code, out.getvalue().decode(), err.getvalue()


def flags(tmp_path: Path, streams: dict[str, int], *extra: str) -> list[str]:
    return [
        "--source", SOURCE,
        "--source-config", orjson.dumps({"streams": streams}).decode(),
        "--destination", DESTINATION,
        "--destination-config", orjson.dumps({"path": str(tmp_path / "out.jsonl")}).decode(),
        "--state-file", str(tmp_path / "states"),
        *extra,
    ]  # fmt: skip


def lines(tmp_path: Path) -> int:
    path = tmp_path / "out.jsonl"
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def write_pipeline(tmp_path: Path) -> Path:
    (tmp_path / "source.json").write_text('{"streams": {"a": 12}, "api_key": "${STRIPE_KEY}"}')
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        f"source: {{command: {SOURCE}, config: source.json}}\n"
        f"destination: {{command: {DESTINATION}, config: {{path: '${{OUT_DIR}}/out.jsonl'}}}}\n"
        "state: {path: '${STATE_DIR}'}\n"
    )
    return path


def test_variables_come_from_the_env_file_beside_the_pipeline(tmp_path: Path) -> None:
    pipeline = write_pipeline(tmp_path)
    (tmp_path / ".env").write_text(f"STRIPE_KEY={SECRET}\nOUT_DIR={tmp_path}\nSTATE_DIR=from-file\n")
    code, out, err = cli("sync", "--pipeline", str(pipeline), env={"STATE_DIR": str(tmp_path / "st")})
    assert code == 0, err
    assert lines(tmp_path) == 12
    assert list((tmp_path / "st").glob("*.json")), "the process environment wins over .env"
    assert SECRET not in out + err
    assert err.splitlines()[-1].startswith("sync succeeded: 12 records in 1 stream")
    assert "api_key" in (tmp_path / "source.json").read_text() and SECRET not in (tmp_path / "source.json").read_text()


def test_a_missing_variable_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    pipeline = write_pipeline(tmp_path)
    code, out, err = cli("sync", "--pipeline", str(pipeline), env={"OUT_DIR": str(tmp_path), "STATE_DIR": "s"})
    assert code == 2
    assert "environment variable STRIPE_KEY is not set (used in source.config.api_key)" in err
    verdict = [orjson.loads(line) for line in out.splitlines()]
    assert [m["type"] for m in verdict] == ["start", "error", "end"], "a sync always ends with a verdict"
    assert (verdict[-1]["end"]["status"], verdict[-1]["end"]["failure_type"]) == ("failed", "config_error")
    assert lines(tmp_path) == 0


def test_a_pipeline_file_may_leave_the_destination_to_the_flags(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(f"source: {{command: {SOURCE}, config: {{streams: {{a: 4}}}}}}\nstate: {{path: st}}\n")
    destination = ["--destination-config", orjson.dumps({"path": str(tmp_path / "out.jsonl")}).decode()]
    code, _, err = cli("sync", "--pipeline", str(path), "--destination", DESTINATION, *destination)
    assert code == 0, err
    assert lines(tmp_path) == 4
    code, _, err = cli("sync", "--pipeline", str(path))
    assert code == 2 and "no destination: give --destination or a pipeline file" in err


def test_an_explicit_env_file(tmp_path: Path) -> None:
    pipeline = write_pipeline(tmp_path)
    (tmp_path / "prod.env").write_text(f"STRIPE_KEY={SECRET}\nOUT_DIR={tmp_path}\nSTATE_DIR=st\n")
    code, _, err = cli("sync", "--pipeline", str(pipeline), "--env-file", str(tmp_path / "prod.env"))
    assert code == 0, err
    code, _, err = cli("sync", "--pipeline", str(pipeline), "--env-file", str(tmp_path / "nope.env"))
    assert code == 2 and "cannot read env file" in err


def test_state_show_finds_the_checkpoint_sync_wrote_under_its_derived_name(tmp_path: Path) -> None:
    args = flags(tmp_path, {"a": 10, "b": 4})
    assert cli("sync", *args)[0] == 0
    code, out, _ = cli("state", "list", "--state-file", str(tmp_path / "states"))
    assert code == 0 and len(out.split()) == 1
    code, out, err = cli("state", "show", *args)
    assert code == 0, err
    state = orjson.loads(out)
    assert set(state["streams"]) == {"a", "b"} and state["finished"] is True
    code, out, _ = cli("state", "show", *args, tty=True)
    assert "a: complete, 10 records" in out and "b: complete, 4 records" in out


def test_state_reset_of_one_stream_then_of_all(tmp_path: Path) -> None:
    args = flags(tmp_path, {"a": 10, "b": 4}, "--name", "nightly")
    assert cli("sync", *args)[0] == 0
    code, _, err = cli("state", "reset", *args, "--stream", "b")
    assert code == 0 and "reset stream(s) b of checkpoint 'nightly'" in err
    assert set(orjson.loads(cli("state", "show", *args)[1])["streams"]) == {"a"}
    assert cli("sync", *args)[0] == 0
    assert lines(tmp_path) == 18, "only b is read again"
    code, _, err = cli("state", "reset", *args, "--stream", "bb")
    assert code == 2 and "did you mean 'b'" in err
    code, _, err = cli("state", "reset", *args, answers="n\n")
    assert code == 2 and "not reset" in err
    assert cli("state", "reset", *args, answers="y\n")[0] == 0
    assert cli("state", "list", "--state-file", str(tmp_path / "states"))[1] == ""


def test_full_refresh_reads_the_selected_streams_again(tmp_path: Path) -> None:
    args = flags(tmp_path, {"a": 10, "b": 4}, "--name", "nightly")
    assert cli("sync", *args)[0] == 0
    assert cli("sync", *args)[0] == 0
    assert lines(tmp_path) == 14, "a second run has nothing new to read"
    assert cli("sync", *args, "--full-refresh")[0] == 0
    assert lines(tmp_path) == 28


def test_dry_run_shows_gaps_and_writes_nothing(tmp_path: Path) -> None:
    args = flags(tmp_path, {"a": 10})
    code, out, err = cli("sync", *args, "--dry-run")
    assert code == 0, err
    assert "checkpoint" in out and "none yet" in out and "a  " in out and "incremental" in out
    assert lines(tmp_path) == 0 and not (tmp_path / "states").exists()
    assert cli("sync", *args)[0] == 0
    _, out, _ = cli("sync", *args, "--dry-run")
    row = next(line for line in out.splitlines() if line.startswith("a "))
    assert "finished" in out and "2024-01-01" in row, "only the span before the first record is left"


def test_a_terminal_gets_a_table_and_a_pipe_gets_ndjson(tmp_path: Path) -> None:
    code, out, err = cli("sync", *flags(tmp_path, {"a": 3}, "--name", "n1"), tty=True)
    assert code == 0, err
    assert out.splitlines()[0].split() == ["stream", "status", "records", "checkpoints", "error"]
    assert "sync succeeded: 3 records" in out
    code, out, _ = cli("sync", *flags(tmp_path, {"a": 3}, "--name", "n2"), "--json", tty=True)
    assert orjson.loads(out.splitlines()[-1])["type"] == "end"


def test_other_commands_still_print_ndjson_on_a_terminal(tmp_path: Path) -> None:
    code, out, err = cli("spec", *flags(tmp_path, {"a": 1}), "--connector", "source", tty=True)
    assert code == 0, err
    assert orjson.loads(out)["type"] == "spec"


def test_streams_table_and_did_you_mean(tmp_path: Path) -> None:
    code, out, err = cli("streams", *flags(tmp_path, {"customers": 1, "charges": 1}), tty=True)
    assert code == 0, err
    assert out.splitlines()[0].split()[:3] == ["stream", "sync", "modes"]
    assert out.splitlines()[-1] == "2 streams"
    code, _, err = cli("sync", *flags(tmp_path, {"customers": 1}), "--streams", "custmers")
    assert code == 2 and "did you mean 'customers'" in err


def test_teardown_asks_on_a_terminal(tmp_path: Path) -> None:
    code, _, err = cli("teardown", *flags(tmp_path, {"a": 1}), answers="n\n")
    assert code == 2 and "teardown cancelled" in err


def test_clean_errors_for_quotes_and_yaml(tmp_path: Path) -> None:
    code, _, err = cli(
        "check", *flags(tmp_path, {"a": 1})[:-4], "--destination", 'python "unclosed', "--destination-config", "{}"
    )
    assert code == 2 and "cannot be split" in err
    (tmp_path / "p.yaml").write_text("source:\n  command: x\n  config: {a: [1, 2}\n")
    code, _, err = cli("sync", "--pipeline", str(tmp_path / "p.yaml"))
    assert code == 2 and "not valid YAML at line 3, column" in err


def test_shorthands_fill_in_the_stripe_and_postgres_connectors(tmp_path: Path) -> None:
    code, _, err = cli("check", "--stripe-api-key", "--postgres-url", "--connector", "source", env={})
    assert code == 2
    assert "environment variable STRIPE_API_KEY is not set (used in source.config.api_key)" in err


def test_broken_pipe_and_versions_as_a_user_runs_them(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    for program in ("sync-engine", "source-stripe", "destination-postgres"):
        done = subprocess.run([str(bin_dir / program), "--version"], capture_output=True, timeout=60, check=False)
        assert done.returncode == 0 and done.stdout.decode().startswith(f"{program} 0."), done.stderr
    command = [str(bin_dir / "sync-engine"), "discover", *flags(tmp_path, {"a": 1})]
    done = subprocess.run(  # the reader is gone before the engine writes: like `| head` after its lines
        f"{shlex.join(command)} | true; echo ${{PIPESTATUS[0]}} >&2",
        shell=True, executable="/bin/bash", capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert b"Traceback" not in done.stderr and b"BrokenPipe" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1] == b"0"


def test_values_of_secret_named_variables_are_redacted_even_where_the_spec_does_not_say_secret(
    tmp_path: Path,
) -> None:
    import anyio
    from sync_engine import ConnectorSettings, Engine, MemoryStateStore, Pipeline

    token = "tok_operator_0123456789"
    pipeline = Pipeline(
        source=ConnectorSettings(
            command=python_connector("synthetic_source.py"),
            config={"streams": {"a": 1}, "template": {"note": "${NOTE_TOKEN}", "plain": "${REGION}"}},
        ),
        destination=ConnectorSettings(command=python_connector("jsonl_destination.py"), config={"path": "/dev/null"}),
    )
    engine = Engine(pipeline, store=MemoryStateStore(), env={"NOTE_TOKEN": token, "REGION": "eu-west-1-region"})
    anyio.run(engine.checkpoint_name)
    assert token not in engine.redactor.text(f"failed with {token}")
    assert "eu-west-1-region" in engine.redactor.text("eu-west-1-region"), "only secret-named variables"


def test_shorthand_flags_that_contradict_or_lack_their_connector_are_usage_errors(tmp_path: Path) -> None:
    code, _, err = cli("check", "--stripe-api-key", "k", "--postgres-url", "u", "--sheets-spreadsheet-id", "s")
    assert code == 2 and "--postgres-url and --sheets-spreadsheet-id both choose the destination" in err
    code, _, err = cli("check", "--stripe-api-key", "k", "--postgres-schema", "analytics")
    assert code == 2 and "--postgres-schema needs --postgres-url" in err
    code, _, err = cli("check", "--stripe-api-key", "k", "--sheets-spreadsheet-id", "1AbC", env={})
    assert code == 2
    assert "environment variable GOOGLE_APPLICATION_CREDENTIALS is not set (used in --google-credentials)" in err
    code, _, err = cli("check", "--stripe-api-key", "k", "--google-credentials", str(tmp_path / "missing.json"))
    assert code == 2 and "--google-credentials: cannot read" in err and "missing.json" in err
