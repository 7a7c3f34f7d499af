"""Progress and cancellation for one long operation. The GIMP worker gives each request a Job; a
cancel (or the plug-in going away) stops the running onnxruntime call through its RunOptions."""
from __future__ import annotations

from typing import Callable

from ..errors import SfumatoError


class Cancelled(SfumatoError):
    def __init__(self):
        super().__init__("cancelled")


class Job:
    def __init__(self, on_progress: Callable[[float], None] | None = None):
        import onnxruntime as ort
        self.run_options = ort.RunOptions()
        self.cancelled = False
        self.on_progress = on_progress

    def cancel(self) -> None:
        self.cancelled = True
        self.run_options.terminate = True  # aborts a session.run in progress within milliseconds

    def progress(self, fraction: float) -> None:
        if self.cancelled:
            raise Cancelled()
        if self.on_progress is not None:
            self.on_progress(min(1.0, max(0.0, fraction)))

    def run(self, session, feeds: dict):
        if self.cancelled:
            raise Cancelled()
        try:
            return session.run(None, feeds, self.run_options)
        except Exception:
            if self.cancelled:
                raise Cancelled() from None
            raise
