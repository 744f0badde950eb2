#!/usr/bin/env bash
# Sourced by start and cluster: makes sure a local admin API key exists (created once, kept in the git-ignored
# deploy/local/.data/), exports its salted hash for the engine, and puts the key where the CLI looks for it.
# Expects: $here (deploy/local), $root (repo), $config (build configuration; the CLI is built).
keydir="$here/.data"
mkdir -p "$keydir"
cli="$root/src/Loyalty.Cli/bin/$config/net10.0/loyalty.dll"
if [ ! -s "$keydir/local-admin.env" ] || [ ! -s "$keydir/local-admin.key" ]; then
  dotnet "$cli" keys create --id local-admin --scopes '*' --key-file "$keydir/local-admin.key" --env-file "$keydir/local-admin.env" >/dev/null 2>&1
fi
set -a
# shellcheck disable=SC1091
. "$keydir/local-admin.env"
set +a
cli_key_file="${LOYALTY_API_KEY_FILE:-${XDG_CONFIG_HOME:-$HOME/.config}/loyalty/api-key}"
mkdir -p "$(dirname "$cli_key_file")"
install -m 600 "$keydir/local-admin.key" "$cli_key_file"
echo "Local admin API key (all scopes): deploy/local/.data/local-admin.key, also in $cli_key_file where the CLI picks it up."
