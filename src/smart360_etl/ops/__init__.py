"""Running unattended: one operated run (log context, metrics, alerts), the scheduler, logging, `doctor`."""
