"""What a Python connector author uses: subclass `Connector`, then call `main(MyConnector())`."""

from ._cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, VersionAction, load_json_argument, main, run, validate_argument
from ._connector import Connector, record, stream_state
from ._inbox import Batched, Inbox
from ._raw import RawRecord, decode_raw_record, emitted_at_text
from ._redact import REDACTED, Redactor, find_secrets
from ._writer import MessageWriter, encode_record_fast

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "REDACTED",
    "Batched",
    "Connector",
    "Inbox",
    "MessageWriter",
    "RawRecord",
    "Redactor",
    "VersionAction",
    "decode_raw_record",
    "emitted_at_text",
    "encode_record_fast",
    "find_secrets",
    "load_json_argument",
    "main",
    "record",
    "run",
    "stream_state",
    "validate_argument",
]
