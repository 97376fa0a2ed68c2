"""Stage logic: read from the database, call domain code, write back. No Dagster here."""
