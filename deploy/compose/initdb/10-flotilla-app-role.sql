-- Runs once, when the postgres container initialises an empty volume, as the
-- database owner (POSTGRES_USER). Adds the role the Flotilla nodes connect
-- with: data rights on the tables the owner's migrations create, and no right
-- to create, alter or drop anything.

-- psql reads the password from the secret file, so it never appears on a command line.
\set app_password `cat /run/secrets/postgres_app_password`

CREATE ROLE flotilla_app LOGIN PASSWORD :'app_password';
GRANT USAGE ON SCHEMA public TO flotilla_app;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO flotilla_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO flotilla_app;
