"""LitData shards of a data root's volumes, streamed from a folder or object storage.

For data sets beyond one machine: every ``.npy`` volume under a data root is packed into LitData
optimized chunks (``litdata.optimize``), keyed by its path relative to the root — the same string
``M3D_Cap.json`` and the VQA CSVs hold. Training then sets ``data.volume_shards`` to the shard
location (a folder, or an ``s3://``/``gs://``/``azure://`` URL LitData can read); the json and the
CSVs still come from ``data.data_root``, and each volume is fetched by key from its chunk (LitData
downloads and caches chunks on demand) instead of from a file.

    slicevlm shard DATA_ROOT SHARDS_DIR [--workers 4]        # a prepared (or downloaded) npy tree
    slicevlm prepare-m3d RAW OUT --litdata SHARDS_DIR         # the same, right after preparing

Re-runnable: after an interruption, the same command completes the set (LitData's
``use_checkpoint`` lets it skip inputs it had finished; a partial index is discarded); a finished
shard set (an index listing every volume) is left as it is; a run whose workers failed is an error
(LitData itself would leave an empty index behind). Every volume's header is checked before
anything is written, so a truncated or non-numeric file fails the job at once, naming the file.
Shards need the ``shards`` extra (``pip install 'slicevlm[shards]'``: litdata and polars).

Shards are read as data, never as code: LitData stores each sample field with a serializer named in
the shard's ``index.json``, and one of them (``pickle``) runs whatever the bytes say when a sample is
read. Before any sample is read, the index is checked: every field must use a plain format
(:data:`SAFE_FORMATS`: strings, numbers, numpy arrays, tensors), the sample structure only dicts,
lists and tuples, and every chunk file must lie in the shard folder; anything else is refused, naming
the shard folder and the field. What :func:`write_volume_shards` writes (a ``str`` key and a
``numpy`` volume) passes, and is checked right after writing.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np

from slicevlm.command_line import run_command
from slicevlm.io.errors import DataError
from slicevlm.io.limits import entry_path_problem
from slicevlm.io.readers import NumpyReader
from slicevlm.errors import report as report_user_error

#: The sample field that holds the key (the volume path relative to the data root).
KEY_FIELD = "image_path"
#: LitData serializers a shard field may use: each rebuilds a plain value from raw bytes (no pickle).
#: A format is named `serializer` or `serializer:detail` (e.g. `no_header_numpy:10`).
SAFE_FORMATS: frozenset[str] = frozenset(
    {"str", "text", "int", "float", "bool", "bytes", "numpy", "no_header_numpy", "tensor", "no_header_tensor"}
)
#: Containers a shard's sample structure (`data_spec`) may hold (others make LitData import modules).
SAFE_SPEC_TYPES: frozenset[str] = frozenset({"builtins.dict", "builtins.list", "builtins.tuple"})


def _litdata():
    try:
        import litdata
    except ImportError as error:
        raise DataError(
            "LitData shards need the `litdata` and `polars` packages: pip install 'slicevlm[shards]' "
            "(`make install` includes it)."
        ) from error
    return litdata


def list_volumes(data_root: str | Path) -> list[str]:
    """Every ``.npy`` under ``data_root`` as a path relative to it (POSIX separators, sorted)."""
    root = Path(data_root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder; expected a data root holding the .npy volumes (data/README.md).")
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*.npy"))


def _shard_sample(data_root: str, image_path: str) -> dict[str, Any]:
    """One shard sample: the key and the stored array ``(D, H, W)`` (runs in LitData's workers).

    A plain string and a plain numeric ndarray, so LitData stores them as ``str`` and ``numpy``.
    """
    volume = np.ascontiguousarray(NumpyReader().read(Path(data_root) / image_path))
    return {KEY_FIELD: str(image_path), "volume": np.asarray(volume)}


def _spec_leaves(spec: Any, path: str = "") -> tuple[list[str], list[str]]:
    """``(leaf field names in LitData's order, container types used)`` of a pytree spec (its JSON form)."""
    if not isinstance(spec, dict) or (spec.get("type") is None and not spec.get("children_spec")):
        return [path or "(the sample)"], []
    children = spec.get("children_spec") or []
    keys: list[Any] = list(range(len(children)))
    if spec.get("type") == "builtins.dict":
        try:
            keys = list(json.loads(spec.get("context") or "[]"))
        except (TypeError, ValueError):
            pass
    names, types = [], [str(spec.get("type"))]
    for index, child in enumerate(children):
        key = keys[index] if index < len(keys) else index
        child_names, child_types = _spec_leaves(child, f"{path}.{key}" if path else str(key))
        names += child_names
        types += child_types
    return names, types


def check_shard_index(index: Any, where: str) -> None:
    """Refuse a LitData index whose samples could run code when read (see the module docstring).

    Args:
        index: the parsed ``index.json``.
        where: the shard folder or URL, for the message.

    Raises:
        DataError: a field stored with a format outside :data:`SAFE_FORMATS` (e.g. ``pickle``), a
            sample structure with other containers, a chunk file outside the folder, or an index
            that cannot be read as one.
    """
    config = index.get("config") if isinstance(index, dict) else None
    formats = config.get("data_format") if isinstance(config, dict) else None
    if not isinstance(formats, list) or not all(isinstance(f, str) for f in formats):
        raise DataError(f"{where}: index.json lists no field formats (config.data_format); not a LitData shard index.")
    try:
        spec = json.loads(config.get("data_spec") or "null")
        names, types = _spec_leaves(spec[1] if isinstance(spec, list) and len(spec) == 2 else spec)
    except (TypeError, ValueError):
        names, types = [], []
    if len(names) != len(formats):
        names = [f"#{i + 1}" for i in range(len(formats))]
    for name, data_format in zip(names, formats):
        if data_format.split(":", 1)[0] not in SAFE_FORMATS:
            raise DataError(
                f"{where}: field {name!r} of the LitData shards is stored as {data_format!r}; only plain formats "
                f"are read ({', '.join(sorted(SAFE_FORMATS))}), since a {data_format!r} field can run code when "
                "it is read. Refusing to read these shards; write them again from the data root with "
                "`slicevlm shard DATA_ROOT SHARDS_DIR`."
            )
    unsafe = sorted({t for t in types if t not in SAFE_SPEC_TYPES})
    if unsafe:
        raise DataError(
            f"{where}: the LitData shards' sample structure uses {unsafe}; only dicts, lists and tuples are read. "
            "Refusing to read these shards; write them again with `slicevlm shard DATA_ROOT SHARDS_DIR`."
        )
    for chunk in index.get("chunks") or []:
        filename = chunk.get("filename") if isinstance(chunk, dict) else None
        problem = "is not a name" if not isinstance(filename, str) else entry_path_problem(filename)
        if problem is None and "/" in filename.replace("\\", "/"):
            problem = "is not a file in the shard folder"
        if problem is not None:
            raise DataError(f"{where}: index.json names the chunk file {filename!r}, which {problem}; refusing to read these shards.")


def _read_index(path: Path, where: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"{where}: cannot read the shard index {path.name} ({error}).") from error


def _sample_key(sample: dict[str, Any]) -> str:
    return sample[KEY_FIELD]


def write_volume_shards(
    data_root: str | Path, output_dir: str, workers: int = 4, chunk_bytes: str = "256MB"
) -> dict[str, Any]:
    """Pack every ``.npy`` volume under ``data_root`` into LitData chunks at ``output_dir``.

    Args:
        data_root: Folder the json/CSV image paths are relative to.
        output_dir: Local folder or object-storage URL for the chunks.
        workers: LitData worker processes.
        chunk_bytes: Target chunk size (e.g. ``"256MB"``).

    Returns:
        ``{"volumes": n, "output_dir": ..., "skipped": True if a complete index was already there}``.
    """
    litdata = _litdata()
    volumes = list_volumes(data_root)
    if not volumes:
        raise DataError(f"{data_root}: no .npy volume found; run prepare-m3d first or point at the M3D data root.")
    if _samples_written(output_dir) == len(volumes):
        return {"volumes": len(volumes), "output_dir": str(output_dir), "skipped": True}
    index = Path(output_dir) / "index.json"
    if "://" not in str(output_dir) and index.is_file():
        index.unlink()  # an earlier run broke off: LitData resumes from its checkpoints, not from this index
    reader = NumpyReader()
    for image_path in volumes:  # fail before writing anything, naming the file
        reader.header_shape(Path(data_root) / image_path)
    litdata.optimize(
        fn=functools.partial(_shard_sample, str(data_root)),
        inputs=volumes,
        output_dir=str(output_dir),
        chunk_bytes=chunk_bytes,
        num_workers=max(1, workers),
        key_fn=_sample_key,
        use_checkpoint=True,
        verbose=False,
    )
    written = _samples_written(output_dir)
    if written != len(volumes):  # LitData writes an index even when its workers die
        raise DataError(
            f"{output_dir}: LitData wrote {written} of {len(volumes)} volumes; its workers failed (see the messages "
            "above). Run the command again to resume. From a script of your own, call write_volume_shards under "
            "`if __name__ == '__main__':` (LitData starts its workers with spawn)."
        )
    if "://" not in str(output_dir) and index.is_file():  # what we wrote must read back as data, never code
        check_shard_index(_read_index(index, str(output_dir)), str(output_dir))
    return {"volumes": len(volumes), "output_dir": str(output_dir), "skipped": False}


def _samples_written(output_dir: str | Path) -> int:
    """Samples listed in the shard index at ``output_dir`` (0 when there is none)."""
    if "://" in str(output_dir):
        try:
            return len(_litdata().StreamingDataset(str(output_dir)))
        except (AssertionError, FileNotFoundError, ValueError):
            return 0
    index = Path(output_dir) / "index.json"
    if not index.is_file():
        return 0
    chunks = json.loads(index.read_text(encoding="utf-8")).get("chunks") or []
    return sum(int(chunk["chunk_size"]) for chunk in chunks)


class ShardVolumeSource:
    """Reads volumes by key from LitData shards; the StreamingDataset opens lazily, once per process.

    Args:
        location: The shard folder or URL written by :func:`write_volume_shards`.
    """

    def __init__(self, location: str) -> None:
        self.location = str(location)
        self._dataset = None

    def __getstate__(self) -> dict[str, Any]:  # DataLoader workers open their own dataset
        return {"location": self.location, "_dataset": None}

    def _open(self):
        if self._dataset is None:
            local = "://" not in self.location
            index = Path(self.location) / "index.json"
            if local and not index.is_file():
                raise DataError(
                    f"{self.location}: no LitData shards here (index.json missing); write them with "
                    "`slicevlm shard DATA_ROOT SHARDS_DIR` or `prepare-m3d ... --litdata SHARDS_DIR`."
                )
            if local:  # before LitData reads anything
                check_shard_index(_read_index(index, self.location), self.location)
            dataset = _litdata().StreamingDataset(self.location)
            if not local:  # LitData fetched the index into its cache; no sample is read before this check
                cached = Path(dataset.input_dir.path or "") / "index.json"
                if not cached.is_file():
                    raise DataError(f"{self.location}: the shard index was not fetched ({cached} missing); cannot check it, so the shards are not read.")
                check_shard_index(_read_index(cached, self.location), self.location)
            self._dataset = dataset
        return self._dataset

    def read(self, image_path: str, referenced_by: str) -> np.ndarray:
        """The stored array ``(D, H, W)`` for ``image_path`` (relative to the data root)."""
        try:
            sample = self._open()[image_path]
        except KeyError as error:
            raise DataError(
                f"{image_path}: not in the LitData shards at {self.location} (referenced by {referenced_by}); "
                "expected every volume the json/CSVs name. Re-write the shards from the data root they index."
            ) from error
        return np.asarray(sample["volume"])


def shard(data_root: str, output_dir: str, workers: int = 4, chunk_bytes: str = "256MB") -> int:
    """Pack a data root's .npy volumes into LitData shards (a folder or object storage).

    Exit status: 0 written (or already there), 2 the data cannot be packed.

    Args:
        data_root: folder whose .npy volumes (at any depth) are packed
        output_dir: shard folder or object-storage URL (s3://bucket/prefix ...)
        workers: LitData worker processes
        chunk_bytes: target chunk size
    """
    try:
        summary = write_volume_shards(data_root, output_dir, workers, chunk_bytes)
    except DataError as error:
        report_user_error("slicevlm shard", error)
        return 2
    state = "already written, left as is" if summary["skipped"] else "written"
    print(f"shard: {summary['volumes']} volumes from {data_root} -> {summary['output_dir']} ({state}).")
    print(f"Train with: --data.data_root {data_root} --data.volume_shards {summary['output_dir']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``slicevlm shard DATA_ROOT SHARDS_DIR [--workers N] [--chunk-bytes 256MB]``."""
    return run_command(shard, argv, prog="slicevlm shard")
