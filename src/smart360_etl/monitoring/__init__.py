"""After every run: Prometheus metrics and alerts, both read only the run's RunResult."""
