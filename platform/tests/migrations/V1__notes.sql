-- A migration for platform's own Postgres test.
CREATE TABLE notes (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL);
