"""The live view renders stream bars, totals and errors from engine messages."""

from __future__ import annotations

import io

from sync_engine._view import ProgressView
from sync_protocol import (
    Error,
    ErrorLevel,
    ErrorMessage,
    FailureType,
    ProgressMessage,
    RunProgress,
    StreamProgress,
    StreamProgressStatus,
)


def test_view_shows_each_stream_the_total_and_errors() -> None:
    out = io.StringIO()
    progress = RunProgress(
        elapsed_s=2.0,
        record_count=150,
        records_per_s=75.0,
        streams={
            "customers": StreamProgress(status=StreamProgressStatus.COMPLETE, record_count=100, covered_fraction=1.0),
            "charges": StreamProgress(status=StreamProgressStatus.STARTED, record_count=50, covered_fraction=0.5),
        },
    )
    with ProgressView(out) as view:
        view.show(ProgressMessage(progress=progress))
        view.show(
            ErrorMessage(
                error=Error(level=ErrorLevel.STREAM, failure_type=FailureType.SYSTEM_ERROR, message="boom", stream="x")
            )
        )
    text = out.getvalue()
    assert "customers" in text and "100.0%" in text
    assert "charges" in text and "50.0%" in text and "25/s" in text
    assert "all streams" in text and "75.0%" in text and "75/s" in text
    assert "error [x] (stream): boom" in text
