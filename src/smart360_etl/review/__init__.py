"""The review loop between mock loads: rejects and warnings exported for the people who fix them (rejects.py),
the fixed file loaded back as a run of its own (resubmit.py), and two runs side by side (compare.py)."""
