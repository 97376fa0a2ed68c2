"""Application database: SQLAlchemy 2 Core tables, Alembic migrations, idempotent writes."""
