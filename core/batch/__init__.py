"""Many inputs in one run: files and folders with local worker processes (runner.py), video clips
(video.py), and the same work on Ray (ray_batch.py)."""
