#!/usr/bin/env bash
# Usage: scripts/restore-to-standby.sh [--data-dir DIR] [--timestamp ISO-8601 | --latest] [--check quick|full]
#                                      [--force] [--no-start]
#
# Brings up a standby host from the replica: restores the database (the latest copy, or as it
# was at --timestamp) into this host's data directory through `reviews-api restore` (checked
# with quick_check, or integrity_check with --check full, and the migrations before it is moved
# into place), then starts `reviews-api serve` there, replicating to the same replica as a new
# generation.
#
# The replica comes from the environment, as for the server: REPLICA_URL (a directory, or
# s3://bucket/path with REPLICA_ENDPOINT, LITESTREAM_ACCESS_KEY_ID and
# LITESTREAM_SECRET_ACCESS_KEY). PORT, HOST, JWT_SECRET and the rest are passed on to serve.
#
#   --data-dir DIR    where the database goes (default: the directory of DATABASE_PATH, ./data)
#   --timestamp ISO   restore as of this time, e.g. 2026-11-25T10:30:00Z (default: the latest)
#   --latest          restore the newest copy (the default)
#   --check KIND      quick (default: every page, in about the time of the restore itself) or
#                     full (also every index against its table: ~20 s more per GB)
#   --force           replace a database already in DIR
#   --no-start        restore only; do not start the server
#
# Run it only once the primary is gone (or fenced): two servers replicating to one replica
# would interleave generations. Exits non-zero, having started nothing, if the restore fails.
set -euo pipefail

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data_dir=""
timestamp=""
check=""
force=0
start=1
while (($#)); do
  case "$1" in
    --data-dir) data_dir=${2:?--data-dir needs a directory}; shift 2 ;;
    --timestamp) timestamp=${2:?--timestamp needs an ISO-8601 time}; shift 2 ;;
    --latest) timestamp=""; shift ;;
    --check) check=${2:?--check needs quick or full}; shift 2 ;;
    --force) force=1; shift ;;
    --no-start) start=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "restore-to-standby: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

database_path=${DATABASE_PATH:-./data/reviews.db}
data_dir=${data_dir:-$(dirname "$database_path")}
export DATABASE_PATH="$data_dir/$(basename "$database_path")"

cli=(node "$root/bin/reviews-api.js")
restore=(restore --output "$DATABASE_PATH")
if [[ -n $timestamp ]]; then restore+=(--timestamp "$timestamp"); fi
if [[ -n $check ]]; then restore+=(--check "$check"); fi
if ((force)); then restore+=(--force); fi

echo "restore-to-standby: restoring ${timestamp:-the latest copy} into $DATABASE_PATH" >&2
"${cli[@]}" "${restore[@]}" >&2
if ((!start)); then exit 0; fi

echo "restore-to-standby: starting the server on $DATABASE_PATH" >&2
# exec: the server is this process from now on, so a supervisor's SIGTERM reaches it.
exec "${cli[@]}" serve
