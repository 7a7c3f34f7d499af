"""onnxruntime sessions: the execution provider for --device (CUDA only where a driver is loaded
and a real session runs), one cached session per (model, provider), optimised graphs cached on disk."""
from __future__ import annotations

import hashlib
import os
import threading
from functools import lru_cache
from pathlib import Path

from .. import threads
from ..atomic import replacing
from ..errors import SfumatoError
from ..options import DEFAULT_DEVICE, DEVICES
from .manifest import ModelInfo, get_model, user_dir, variant, verify

PRECISIONS = ("fp32", "fp16")


def precision() -> str:
    """The precision CUDA sessions run in: SFUMATO_PRECISION=fp16 picks a model's fp16 variant where it
    has one. fp32 by default until a GPU has measured the fp16 graphs (bench/gpu_check.sh); the CPU
    always runs fp32 (onnxruntime's CPU provider has few fp16 kernels)."""
    value = os.environ.get("SFUMATO_PRECISION", "fp32").strip().lower()
    if value not in PRECISIONS:
        raise SfumatoError(f"SFUMATO_PRECISION={value!r}: use fp32 or fp16")
    return value


# --- providers ---------------------------------------------------------------------------------

def _ort():
    # numpy first, as Python imports it: onnxruntime's C module imports numpy's core from C, which can
    # meet another thread's half-done `import numpy` (ImportError: partially initialized module)
    import numpy  # noqa: F401
    import onnxruntime as ort
    ort.set_default_logger_severity(3)  # a failed CUDA load is reported by us, not as a log flood
    return ort


CUDA_HELP = ("install the CUDA runtime onnxruntime-gpu was built for and cuDNN 9 (e.g. `pip install \"onnxruntime-gpu[cuda,cudnn]\"`) "
             "and an NVIDIA driver, or use --device cpu")


def nvidia_driver_present() -> bool:
    """Is an NVIDIA driver loaded? Microseconds, where starting a CUDA session to find out costs
    ~0.25 s: Linux exposes the loaded kernel driver in /proc (WSL its library in /usr/lib/wsl),
    Windows installs nvcuda.dll; macOS has no CUDA."""
    import sys
    if sys.platform.startswith("linux"):
        return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/usr/lib/wsl/lib/libcuda.so.1")
    if sys.platform == "win32":
        return os.path.exists(os.path.join(os.environ.get("SystemRoot", r"C:\Windows"), "System32", "nvcuda.dll"))
    return False


@lru_cache(maxsize=1)
def cuda_status() -> tuple[bool, str]:
    """(works, explanation): does a real session run on CUDA? Checked once per process, and only
    where an NVIDIA driver is there at all."""
    ort = _ort()
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return False, "this onnxruntime build has no CUDA provider (install onnxruntime-gpu)"
    if not nvidia_driver_present():
        return False, "no NVIDIA driver is loaded on this machine"
    import importlib.util
    if hasattr(ort, "preload_dlls") and importlib.util.find_spec("nvidia") is not None:
        try:
            ort.preload_dlls()  # CUDA/cuDNN installed as nvidia-* pip packages (onnxruntime-gpu[cuda,cudnn])
        except Exception:  # noqa: BLE001 - best effort; the probe below decides
            pass
    model = get_model("styles")
    ort.set_default_logger_severity(4)
    try:
        sess = ort.InferenceSession(str(model.path), providers=["CUDAExecutionProvider"])
    except Exception as exc:  # noqa: BLE001
        return False, f"CUDA provider failed to start: {str(exc).splitlines()[0]}"
    finally:
        ort.set_default_logger_severity(3)
    if sess.get_providers()[0] != "CUDAExecutionProvider":
        return False, f"CUDA libraries could not be loaded ({_missing_cuda_libs()})"
    return True, "CUDA works"


def _missing_cuda_libs() -> str:
    import ctypes
    missing = []
    import onnxruntime
    # onnxruntime-gpu 1.2x links CUDA 12, 1.3x CUDA 13; both use cuDNN 9
    cuda = "13" if tuple(int(p) for p in onnxruntime.__version__.split(".")[:2]) >= (1, 30) else "12"
    for lib in ("libcuda.so.1", f"libcudart.so.{cuda}", f"libcublasLt.so.{cuda}", f"libcublas.so.{cuda}",
                "libcudnn.so.9"):
        try:
            ctypes.CDLL(lib)
        except OSError:
            missing.append(lib)
    return "missing: " + ", ".join(missing) if missing else "libraries found but the provider did not start"


def providers_for(device: str) -> list[str]:
    if device not in DEVICES:
        raise SfumatoError(f"unknown device {device!r}; use auto, cpu or cuda")
    if device == "cpu":
        return ["CPUExecutionProvider"]
    works, why = cuda_status()
    if works:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        raise SfumatoError(f"--device cuda: {why}; {CUDA_HELP}")
    return ["CPUExecutionProvider"]


# --- sessions ----------------------------------------------------------------------------------

_sessions: dict[tuple[str, str, str], object] = {}
_lock = threading.Lock()


def session(name: str, device: str = DEFAULT_DEVICE):
    """A cached onnxruntime session for model `name` on `device` (on CUDA, in the precision asked for)."""
    providers = providers_for(device)
    model = session_model(get_model(name), providers[0])
    key = (name, str(model.path), providers[0])
    with _lock:
        if key not in _sessions:
            verify(model)
            _sessions[key] = _new_session(model, providers)
        return _sessions[key]


def session_model(model: ModelInfo, provider: str) -> ModelInfo:
    """The file a session on `provider` runs: the model's fp16 variant on CUDA when asked for and built."""
    if provider == "CUDAExecutionProvider" and precision() != "fp32":
        return variant(model, precision()) or model
    return model


def optimized_graph_path(model: ModelInfo, provider: str) -> Path:
    """Where the optimised graph of a model is kept: keyed by the model's sha256, the onnxruntime
    version, the provider and this machine's processor (the optimised graph may use its instructions)."""
    import platform

    import onnxruntime
    machine = hashlib.sha256(f"{platform.machine()} {cpu_flags()}".encode()).hexdigest()[:12]
    key = f"{model.entry['sha256'][:16]}-ort{onnxruntime.__version__}-{provider}-{machine}"
    return user_dir() / "cache" / "graphs" / f"{model.name}-{key}.onnx"


@lru_cache(maxsize=1)
def cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return ""


def _new_session(model: ModelInfo, providers: list[str]):
    """Graph optimisation is most of a session's start on the CPU: the optimised graph is saved once
    next to the user models and loaded as it is afterwards."""
    ort = _ort()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads.share()  # a batch file's, process's or replica's share of the cores (0 = all)
    if providers[0] == "CPUExecutionProvider":  # onnxruntime's memory plans: see _fixed_size
        opts.enable_mem_reuse = opts.enable_mem_pattern = _fixed_size(model)
    if providers[0] != "CPUExecutionProvider" or "sha256" not in model.entry:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(str(model.path), opts, providers=providers)
    cached = optimized_graph_path(model, providers[0])
    if cached.exists():
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            return ort.InferenceSession(str(cached), opts, providers=providers)
        except Exception:  # noqa: BLE001 - a damaged cache entry is rebuilt from the model
            cached.unlink(missing_ok=True)
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        # onnxruntime writes the optimised graph there as the session starts (a CLI run that ends with an
        # error may exit before that, leaving nothing)
        with replacing(cached, create=False) as tmp:
            opts.optimized_model_filepath = str(tmp)
            return ort.InferenceSession(str(model.path), opts, providers=providers)
    except OSError:  # a read-only home: run without the cache
        opts.optimized_model_filepath = ""
        return ort.InferenceSession(str(model.path), opts, providers=providers)


def _fixed_size(model: ModelInfo) -> bool:
    """Does the model take one fixed image size (a user's LaMa exported at 512x512)? Only then do
    onnxruntime's memory plans pay on the CPU. Our graphs take any size, so their activations are sized
    at run time: planning the reuse of the style network's nodes took most of its session start and
    saved nothing, and the memory pattern recorded after a run (one block per input size, which a
    folder of photos of different sizes rarely repeats) raised peak memory by about half and slowed the
    second run that allocates it; output bits and warm speed are the same either way (the figures:
    docs/decisions.md, "Start-up and memory")."""
    return any(isinstance(d, int) for d in model.entry.get("input_size") or ())


def clear_sessions() -> None:
    with _lock:
        _sessions.clear()
