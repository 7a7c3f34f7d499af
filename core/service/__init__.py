"""Serving the core to others: the GIMP plug-in's worker and its wire format (worker.py,
protocol.py), `sfumato serve` on Ray Serve (serve.py), its client (remote.py) and tokens (tokens.py)."""
