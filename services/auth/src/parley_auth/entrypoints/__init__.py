"""Where requests and broker messages come in: `app.py` (HTTP), `consumers.py` (broker)."""
