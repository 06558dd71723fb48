"""A run, stage by stage: preflight (drift, privileges, plans), the id pass, the main pass with its
background writer, incremental windows, reconciliation, checks; and the commands around it (validate,
preview, history, export)."""
