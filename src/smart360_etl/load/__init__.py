"""The SMART360 target: schema migrations, COPY into staging, set-based upsert, rejects, run ledger."""
