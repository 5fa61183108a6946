"""What a fresh process needs to start embedding quickly, cached in the cache dir's `models/` folder.

- The weights' digest (it names the ONNX graph) is kept beside the graph with the weights file's size,
  mtime and inode: hashing the 90 MB of weights took ~60 ms on every start.
- The graph as onnxruntime optimizes it (`ORT_ENABLE_EXTENDED`, the same fused graph the default level runs
  on CPU: the vectors are bitwise the same, tests/retrieval/test_embeddings.py checks it), saved with its
  weights in a separate file that onnxruntime maps instead of parsing, the weights also as its matrix
  kernels rearrange them at load ("prepacking", ~40% of a session's start): a session then starts in
  ~50 ms instead of ~200 ms. That layout depends on the kernels onnxruntime picks for the CPU, so a copy is
  made per onnxruntime version and per CPU (its architecture and instruction sets; a cache dir shared by
  machines holds one for each). A damaged copy is made again; a cache that cannot be written only costs
  the time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CopilotError
from ..private_files import private_dir, private_tree, write_private

if TYPE_CHECKING:
    from onnxruntime import InferenceSession, SessionOptions

__all__ = ["optimized_path", "session", "weights_digest"]

PROVIDERS = ["CPUExecutionProvider"]
MODEL = "model.onnx"  # the optimized copy's graph, in its folder
# Initializers at least this big go to the data file (all the weight matrices; small constants stay inline).
EXTERNAL_MIN_BYTES = 1024


def weights_digest(weights: Path, record: Path) -> str:
    """The first 16 hex digits of the weights' SHA-256, computed once per weights file (a package upgrade
    rewrites it, so its stat changes) and kept in the JSON file `record`."""
    info = weights.stat()
    stamp = {"path": str(weights), "size": info.st_size, "mtime_ns": info.st_mtime_ns, "inode": info.st_ino}
    with contextlib.suppress(OSError, ValueError, AttributeError, KeyError, TypeError):
        saved = json.loads(record.read_text(encoding="utf-8"))
        if {key: saved.get(key) for key in stamp} == stamp and re.fullmatch(r"[0-9a-f]{16}", saved["digest"]):
            return str(saved["digest"])  # it names a file: never more than those 16 digits
    digest = hashlib.sha256()
    with weights.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    value = digest.hexdigest()[:16]
    with contextlib.suppress(OSError, CopilotError):  # a cache that cannot be written: hashed again next time
        private_dir(record.parent)
        write_private(record, json.dumps({**stamp, "digest": value}))
    return value


def optimized_path(graph: Path) -> Path:
    """Where the optimized copy of `graph` is kept for the installed onnxruntime and this CPU: `model.onnx` in
    a folder of its own, beside its weights' `model.onnx.data` (the folder is put in place whole)."""
    import onnxruntime

    return graph.with_name(f"{graph.stem}.ort-{onnxruntime.__version__}-{_cpu()}") / MODEL


def _cpu() -> str:
    """The CPU's architecture and instruction sets (Linux's /proc/cpuinfo flags; elsewhere the architecture
    alone), hashed: what the kernels onnxruntime picks, and so the prepacked layout, depend on."""
    described = os.uname().machine if hasattr(os, "uname") else os.environ.get("PROCESSOR_ARCHITECTURE", "")
    with contextlib.suppress(OSError, UnicodeDecodeError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        described += next((line for line in cpuinfo if line.startswith(("flags", "Features"))), "")
    return hashlib.sha256(described.encode()).hexdigest()[:8]


def session(graph: Path, *, threads: int) -> InferenceSession:
    """An onnxruntime session running `graph`, from its optimized copy (made and saved on first use)."""
    import onnxruntime

    optimized = optimized_path(graph)
    if optimized.is_file():
        options = _options(threads)
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL  # done already
        # A damaged copy (a truncated data file, a folder filled by hand) fails in many ways, each an
        # onnxruntime exception of its own: it is made again from the graph.
        with contextlib.suppress(Exception):
            return onnxruntime.InferenceSession(str(optimized), options, providers=PROVIDERS)
    return _optimize(graph, optimized.parent, threads)


def _options(threads: int) -> SessionOptions:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return options


def _optimize(graph: Path, folder: Path, threads: int) -> InferenceSession:
    """A session on `graph`, optimized at the extended level, which onnxruntime saves as it builds it: into a
    private temporary folder, renamed into place whole (another process reads both files or neither; when
    two make it at once, one of the two identical folders stays). Copies for other onnxruntime versions
    are removed."""
    import onnxruntime

    options = _options(threads)
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    try:
        temporary = Path(tempfile.mkdtemp(dir=graph.parent, prefix=".optimizing-"))
    except OSError:  # a cache that cannot be written: optimized in memory, as before
        return onnxruntime.InferenceSession(str(graph), options, providers=PROVIDERS)
    try:
        options.optimized_model_filepath = str(temporary / MODEL)
        # The data file's name is written into the graph, relative to it.
        options.add_session_config_entry("session.optimized_model_external_initializers_file_name", MODEL + ".data")
        options.add_session_config_entry(
            "session.optimized_model_external_initializers_min_size_in_bytes", str(EXTERNAL_MIN_BYTES)
        )
        options.add_session_config_entry("session.save_external_prepacked_constant_initializers", "1")
        made = onnxruntime.InferenceSession(str(graph), options, providers=PROVIDERS)
        with contextlib.suppress(OSError):
            private_tree(temporary)
            if folder.exists():  # a damaged copy: set aside first, a folder is only renamed onto an empty one
                aside = Path(tempfile.mkdtemp(dir=graph.parent, prefix=".damaged-"))
                try:
                    os.replace(folder, aside / "copy")
                finally:
                    shutil.rmtree(aside, ignore_errors=True)
            os.replace(temporary, folder)
        _remove_other_versions(graph, keep=folder)
        return made
    finally:
        shutil.rmtree(temporary, ignore_errors=True)  # gone unless it could not be put in place


def _remove_other_versions(graph: Path, keep: Path) -> None:
    """The copies of `graph` made for another onnxruntime version (those for other CPUs may be in use)."""
    version = keep.name[: keep.name.rindex("-") + 1]  # `<graph>.ort-<version>-`
    for path in graph.parent.glob(f"{graph.stem}.ort-*"):
        if not path.name.startswith(version):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
