"""smart360-etl: move a utility's consumer records into SMART360."""

__version__ = "0.1.0"
