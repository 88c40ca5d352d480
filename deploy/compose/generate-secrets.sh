#!/bin/sh
# Writes every secret compose.yaml reads into ./secrets (or the directory
# given): random 256-bit values in base64url, the encoding Flotilla decodes
# and one that is safe inside a URL, and the connection URLs built from the
# passwords. Refuses to overwrite: new secrets would lock out every password
# (pepper) and every enrolled agent (e2ee).
set -eu

dir="${1:-$(dirname "$0")/secrets}"
if [ -e "$dir" ]; then
  echo "$dir already exists; move it away to generate new secrets" >&2
  exit 1
fi
umask 077
mkdir -p "$dir"

random() { openssl rand -base64 32 | tr '+/' '-_' | tr -d '=\n'; }
write() { printf '%s\n' "$2" > "$dir/$1"; }

owner_password=$(random)
app_password=$(random)
redis_password=$(random)
write postgres_owner_password "$owner_password"
write postgres_app_password "$app_password"
write database_owner_url "postgres://flotilla_owner:$owner_password@postgres:5432/flotilla"
write database_url "postgres://flotilla_app:$app_password@postgres:5432/flotilla"
write redis_password "$redis_password"
write redis_url "redis://:$redis_password@redis:6379"
for name in flotilla_jwt flotilla_pepper flotilla_e2ee flotilla_db flotilla_audit flotilla_command_signing flotilla_cluster flotilla_metrics_token; do
  write "$name" "$(random)"
done

# The containers read these as their own users (flotilla 10001, postgres and
# redis 999) through bind mounts: the files are readable by any uid, and the
# 0700 directory keeps other users of this host out.
chmod 0444 "$dir"/*
chmod 0700 "$dir"
echo "secrets written to $dir"
