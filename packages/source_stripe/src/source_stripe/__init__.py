"""source_stripe: the Stripe source connector (DESIGN §5); run it as `source-stripe`."""

from ._config import StripeConfig
from ._connector import StripeSource
from ._errors import StreamSkipped, map_stripe_errors
from ._rate import CancelledError, TokenBucket
from ._segments import PageOutcome, Segment, advance, split
from ._streams import STREAMS, STREAMS_BY_NAME, Strategy, StreamDef

__all__ = [
    "STREAMS",
    "STREAMS_BY_NAME",
    "CancelledError",
    "PageOutcome",
    "Segment",
    "Strategy",
    "StreamDef",
    "StreamSkipped",
    "StripeConfig",
    "StripeSource",
    "TokenBucket",
    "advance",
    "map_stripe_errors",
    "split",
]
