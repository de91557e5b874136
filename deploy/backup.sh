#!/usr/bin/env bash
# Back up videoident: the database first, then the vault folder, then the audit trail's head hash.
#
#   BACKUP_DIR=/srv/backup/videoident deploy/backup.sh        (as a user that can read the data dir)
#
# Reads VIDEOIDENT_DATABASE_URL and VIDEOIDENT_DATA_DIR (e.g. from /etc/videoident/videoident.env).
# With Docker Compose, run it on the host with the vault volume's folder and the command inside the container:
#   VIDEOIDENT_DATA_DIR=$(docker volume inspect -f '{{.Mountpoint}}' videoident_vault) \
#   AUDIT_CMD="docker compose -p videoident exec -T videoident videoident audit verify" \
#   PG_DUMP="docker compose -p videoident exec -T postgres pg_dump" \
#   VIDEOIDENT_DATABASE_URL=... BACKUP_DIR=... deploy/backup.sh
# Why both parts, and in this order, is in docs/deployment.md ("Backups"). In short: the database holds
# each session's data key (wrapped under the master key) and the sealed personal data; the vault holds the
# sealed captures and recordings. Either alone is useless. A vault row is committed only after its file is
# durable, so a vault copied *after* the dump has every file the dump names (files newer than the dump
# are orphans that `videoident housekeeping` removes after a restore). The master key is NOT in the backup:
# keep it apart (without it the backup cannot be read, which is the point).
set -euo pipefail

: "${BACKUP_DIR:?set BACKUP_DIR}"
: "${VIDEOIDENT_DATABASE_URL:?set VIDEOIDENT_DATABASE_URL}"
DATA_DIR=${VIDEOIDENT_DATA_DIR:-/var/lib/videoident}
#: Days a backup is kept. A backup still holds the data keys of sessions erased after it was taken, so
#: this bounds how long an erased session survives in backups (see docs/deployment.md).
KEEP_DAYS=${BACKUP_KEEP_DAYS:-30}
AUDIT_CMD=${AUDIT_CMD:-videoident audit verify}
#: pg_dump must be at least the server's major version (the Compose file runs PostgreSQL 16).
PG_DUMP=${PG_DUMP:-pg_dump}

# libpq does not know SQLAlchemy's driver suffix.
pg_url=${VIDEOIDENT_DATABASE_URL/postgresql+psycopg:/postgresql:}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
dest="$BACKUP_DIR/$stamp"
umask 077
mkdir -p "$dest"

$PG_DUMP --format=custom --no-owner "$pg_url" > "$dest/videoident.pgdump"
tar -C "$DATA_DIR" -cf "$dest/vault.tar" vault
$AUDIT_CMD > "$dest/audit-head.txt"
(cd "$dest" && sha256sum videoident.pgdump vault.tar audit-head.txt > SHA256SUMS)
echo "backup written to $dest ($(du -sh "$dest" | cut -f1)); $(cat "$dest/audit-head.txt")"

find "$BACKUP_DIR" -mindepth 1 -maxdepth 1 -type d -name '20*Z' -mtime "+$KEEP_DAYS" -exec rm -rf {} +
