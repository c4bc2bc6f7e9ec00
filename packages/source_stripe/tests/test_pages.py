"""A list answer becomes a page without building its objects: bytes as sent, ids and creation seconds beside them."""

from __future__ import annotations

import msgspec
import orjson
import pytest
from source_stripe._pages import read_list
from source_stripe._streams import STREAMS_BY_NAME

PRETTY = b"""{
  "object": "list",
  "data": [
    {"id": "ch_3", "created": 300, "note": "line\\nbreak"},
    {"id": "ch_2", "created": null},
    {
      "id": "ch_1",
      "created": 100
    }
  ],
  "has_more": true,
  "url": "/v1/charges"
}"""


def test_objects_stay_bytes_with_ids_and_seconds_beside_them() -> None:
    page = read_list(STREAMS_BY_NAME["charges"], PRETTY, newest=999)
    assert [orjson.loads(o) for o in page.objects] == orjson.loads(PRETTY)["data"]
    assert page.ids == ["ch_3", "ch_2", "ch_1"] and page.last_id == "ch_1" and page.has_more
    assert page.times == [300, 300, 100]  # a null `created` takes its newer neighbour's


def test_a_stream_timed_by_another_field_and_an_empty_page() -> None:
    body = b'{"data":[{"id":"ii_2","date":50,"created":7},{"id":"ii_1","date":null,"created":40}],"has_more":false}'
    page = read_list(STREAMS_BY_NAME["invoiceitems"], body)
    assert page.times == [50, 40] and not page.has_more
    empty = read_list(STREAMS_BY_NAME["charges"], b'{"object":"list","data":[],"has_more":false}', newest=5)
    assert (empty.objects, empty.last_id, empty.times, empty.has_more) == ([], None, [], False)


@pytest.mark.parametrize("body", [b'{"data":[{"created":1}]}', b'{"data":{"id":"x"}}', b"<html>"])
def test_an_unexpected_answer_is_a_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        read_list(STREAMS_BY_NAME["charges"], body)
    assert issubclass(msgspec.DecodeError, ValueError)  # what the backfill turns into a stream error
