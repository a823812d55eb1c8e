"""The cepflow rule language: models (`model`), durations, the file loader, JSON Schema and static checks."""
