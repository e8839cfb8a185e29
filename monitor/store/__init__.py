"""PostgreSQL: the backend's flag tables (read, and written only by `rollout set`) and the watchdog's own tables.
psycopg lives only here."""
