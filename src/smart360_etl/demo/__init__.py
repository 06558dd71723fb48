"""The demo: a generated utility source (data.py) in an embedded PostgreSQL (embedded.py), migrated by one job."""
