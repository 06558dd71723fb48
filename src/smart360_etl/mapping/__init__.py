"""Field map and vectorised normalisers: source batch in, SMART360-shaped batch with reasons out."""
