"""Where a row is written: models, repositories (never commit), unit of work, locks, migrations."""
