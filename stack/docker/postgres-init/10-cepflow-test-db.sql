-- Run once by the postgres image on an empty data volume (docker-entrypoint-initdb.d),
-- as POSTGRES_USER (cepflow). The scripted stack makes the same database in stack/postgres.sh.
CREATE DATABASE cepflow_test OWNER cepflow;
