#!/bin/sh
# Run once by the postgres image, on an empty data directory (deploy/compose.yaml): a role and a
# database per service, each made from the service's own URL secret
# (postgresql://USER:PASSWORD@postgres:5432/DATABASE), so that the password is written once.
# Passwords must be URL-safe as they are (openssl rand -hex 24): nothing here decodes them.
set -eu
secrets=${ONEDOOR_INIT_SECRETS:-/run/secrets}
for service in intake verification approval payment audit window; do
    url=$(cat "$secrets/${service}_database_url")
    rest=${url#*://}
    user=${rest%%:*}
    rest=${rest#*:}
    password=${rest%%@*}
    database=${rest##*/}
    database=${database%%\?*}
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        -v role="$user" -v password="$password" -v database="$database" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"database" OWNER :"role";
SQL
done
