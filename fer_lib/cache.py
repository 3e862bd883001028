"""On-disk cache for decoded arrays, outside the repository.

Decoding FER2013 once and memory-mapping the result afterwards makes every later load
sub-second. Files are written atomically so a killed process never leaves half a cache.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def cache_dir() -> Path:
    """``$FER_CACHE_DIR`` or ``~/.cache/fer_replication``; created on first use."""
    d = Path(os.environ.get("FER_CACHE_DIR", Path.home() / ".cache" / "fer_replication"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: Any, indent: int | None = None) -> None:
    """Compact by default: results files hold thousands of per-image predictions."""
    atomic_write_bytes(Path(path), json.dumps(obj, indent=indent, default=_json_default).encode())


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def save_arrays(path: Path, **arrays: np.ndarray) -> None:
    """Uncompressed .npz (fast to load), written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npz")
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def hash_arrays(*arrays: np.ndarray) -> str:
    """Content hash of arrays (shape, dtype and bytes), short hex."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]
