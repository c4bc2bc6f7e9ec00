#!/bin/sh
# A connector in POSIX shell: proves the protocol needs no Python. It is a source of one stream `numbers`
# (`count` records, default 3) and a destination that appends records to the file named by config `path`
# and echoes each source_state after the file is synced.
set -eu

usage() { echo "error: $1" >&2; exit 2; }

config=""
cmd="${1:-}"
[ -n "$cmd" ] || usage "missing command (spec, check, discover, read, write)"
shift
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config="$2"; shift 2 ;;
    --catalog|--state) shift 2 ;;
    *) usage "unknown argument $1" ;;
  esac
done

case "$config" in
  ''|\{*) ;;
  *) [ -r "$config" ] || usage "cannot read config file $config" ;;
esac

config_json() {
  case "$config" in
    \{*) printf '%s' "$config" ;;
    *) cat "$config" ;;
  esac
}
config_field() { config_json | tr -d '\n' | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\{0,1\}\([^\",}]*\).*/\1/p"; }

case "$cmd" in
  spec)
    echo '{"type":"spec","spec":{"config":{"type":"object","properties":{"count":{"type":"integer"},"path":{"type":"string"}}}}}'
    ;;
  check)
    [ -n "$config" ] || usage "--config is required"
    config_json >/dev/null
    echo '{"type":"connection_status","connection_status":{"status":"succeeded"}}'
    ;;
  discover)
    [ -n "$config" ] || usage "--config is required"
    echo '{"type":"catalog","catalog":{"streams":[{"name":"numbers","json_schema":{"type":"object","properties":{"id":{"type":"string"},"n":{"type":"integer"}}},"primary_key":[["id"]]}]}}'
    ;;
  read)
    [ -n "$config" ] || usage "--config is required"
    count=$(config_field count); count=${count:-3}
    echo '{"type":"stream_status","stream_status":{"stream":"numbers","status":"started"}}'
    i=0
    while [ "$i" -lt "$count" ]; do
      echo "{\"type\":\"record\",\"record\":{\"stream\":\"numbers\",\"data\":{\"id\":\"n$i\",\"n\":$i},\"emitted_at\":\"2024-01-01T00:00:00Z\"}}"
      i=$((i + 1))
    done
    echo "{\"type\":\"source_state\",\"source_state\":{\"state_type\":\"stream\",\"stream\":\"numbers\",\"data\":{\"next\":$count}}}"
    echo '{"type":"stream_status","stream_status":{"stream":"numbers","status":"complete"}}'
    ;;
  write)
    [ -n "$config" ] || usage "--config is required"
    path=$(config_field path)
    [ -n "$path" ] || usage "config needs a path"
    while IFS= read -r line || [ -n "$line" ]; do
      case "$line" in
        *'"type":"record"'*) printf '%s\n' "$line" >> "$path" ;;
        *'"type":"source_state"'*) sync; printf '%s\n' "$line" ;;
        '') ;;
        *) printf '%s\n' "$line" ;;
      esac
    done
    ;;
  setup|teardown)
    [ -n "$config" ] || usage "--config is required"
    ;;
  *) usage "unsupported command $cmd" ;;
esac
