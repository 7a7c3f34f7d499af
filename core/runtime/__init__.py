"""The runtime under both operations: the model manifest (manifest.py), onnxruntime sessions and
providers (sessions.py), and jobs with progress and cancel (job.py)."""
