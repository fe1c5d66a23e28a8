#!/bin/sh
# Run once by the postgres image when it creates the database, after 10-sampledata.sql has
# created the roles: gives the service account and the BI tool's account their passwords.
set -e

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v duro_pw="${DURO_PASSWORD:-duro}" -v metabase_pw="${METABASE_PASSWORD:-metabase}" <<'EOSQL'
ALTER ROLE duro PASSWORD :'duro_pw';
ALTER ROLE metabase PASSWORD :'metabase_pw';
EOSQL
