#!/bin/sh
# A source that ignores its catalog: it offers `good` and `other` but also writes records and a state of a
# stream it never declared (`secret`), and a field outside the schema (`x`). The engine must drop and prune.
case "$1" in
  spec) echo '{"type":"spec","spec":{"config":{"type":"object"}}}' ;;
  check) echo '{"type":"connection_status","connection_status":{"status":"succeeded"}}' ;;
  discover)
    echo '{"type":"catalog","catalog":{"streams":[{"name":"good","json_schema":{"type":"object","properties":{"id":{"type":"string"}}},"primary_key":[["id"]]},{"name":"other","json_schema":{}}]}}'
    ;;
  read)
    for i in 1 2 3; do
      echo "{\"type\":\"record\",\"record\":{\"stream\":\"good\",\"data\":{\"id\":\"g$i\",\"x\":1},\"emitted_at\":\"2024-01-01T00:00:00Z\"}}"
      echo "{\"type\":\"record\",\"record\":{\"stream\":\"secret\",\"data\":{\"id\":\"s$i\"},\"emitted_at\":\"2024-01-01T00:00:00Z\"}}"
    done
    echo '{"type":"source_state","source_state":{"stream":"secret","data":1}}'
    echo '{"type":"stream_status","stream_status":{"stream":"good","status":"complete"}}'
    ;;
  *) echo "error: unsupported command $1" >&2; exit 2 ;;
esac
