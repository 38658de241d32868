"""Uploaded volumes: accepted formats, a streaming multipart reader that writes to disk, safe unzip.

The request process never holds an upload in memory: multipart parts are parsed as they arrive
(``python_multipart``) and the file part is written straight into the server's private upload folder.
A ``.zip`` holding a DICOM series or a folder of numbered slices is unpacked next to it so the
folder readers of :mod:`slicevlm.data.readers` can read it. Every member name is checked before
anything is written (no absolute paths, ``..``, links, control characters, over-long names,
duplicates or file/folder clashes), the declared sizes and the count are capped, and the real sizes
are counted while writing.
"""

from __future__ import annotations

import shutil
import stat
import uuid
import zipfile
from pathlib import Path, PurePosixPath

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

#: Suffixes an upload may have: the single-file formats the data readers read (``.nhdr``/``.mhd``
#: need a second file, so they are not accepted), plus ``.zip`` for DICOM series / slice folders.
UPLOAD_SUFFIXES: tuple[str, ...] = (".npy", ".nii", ".nii.gz", ".nrrd", ".mha", ".dcm", ".zip")
#: Form fields a request may carry besides the file.
FORM_FIELDS: tuple[str, ...] = ("task", "question", "choices", "path", "window", "reorient", "axis", "crop", "depth", "slice_spacing")
#: The form field holding the uploaded volume.
FILE_FIELD: str = "file"
#: All text fields together may not exceed this many bytes.
MAX_FIELD_BYTES: int = 64 * 1024
#: Longest file or folder name inside a zip (bytes of UTF-8), and deepest folder nesting.
MAX_ZIP_NAME: int = 200
MAX_ZIP_DEPTH: int = 16


class UploadRejected(Exception):
    """An upload the gate refuses; carries the HTTP status, the message and extra response headers."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


def public_message(message: str, shown: dict[str, str]) -> str:
    """``message`` with every server-side path in ``shown`` replaced by what the client knows it as.

    Longer paths are replaced first, so a file inside a replaced folder never leaks half a path.
    """
    for hidden in sorted(filter(None, shown), key=len, reverse=True):
        message = message.replace(hidden, shown[hidden])
    return message


def upload_suffix(filename: str) -> str | None:
    """The accepted suffix of ``filename`` (``.nii.gz`` counts as one), or None."""
    name = filename.lower()
    for suffix in sorted(UPLOAD_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return None


def unsupported_format(filename: str) -> UploadRejected:
    """The 415 for a file name with a suffix we cannot read."""
    return UploadRejected(
        415,
        f"file {filename!r} has an unsupported format; expected one of {', '.join(UPLOAD_SUFFIXES)} "
        "(.zip for a DICOM series or a folder of numbered slice images).",
    )


class MultipartUpload:
    """Parse a ``multipart/form-data`` body chunk by chunk; the file part goes to ``folder``.

    Args:
        content_type: the request's Content-Type header (carries the boundary).
        folder: the private upload folder; the file is written as ``<uuid><suffix>``.

    Attributes:
        fields: text fields by name.
        filename: the client's file name (only its suffix is used on disk).
        path: where the file part was written, or None.
        size: bytes of file data written.
    """

    def __init__(self, content_type: str, folder: Path) -> None:
        _, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if not boundary:
            raise UploadRejected(400, "multipart/form-data body without a boundary in its Content-Type; send a regular form upload.")
        self.folder = folder
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.path: Path | None = None
        self.size = 0
        self._field_bytes = 0
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._buffer: bytearray | None = None
        self._handle = None
        callbacks = {
            "on_part_begin": self._part_begin,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_header_field": self._header_field_data,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
        }
        self._parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]

    # -- feeding -----------------------------------------------------------------------------------
    def write(self, chunk: bytes) -> None:
        """Feed the next body chunk."""
        try:
            self._parser.write(chunk)
        except MultipartParseError as error:
            raise UploadRejected(400, f"malformed multipart body ({error}); send a regular multipart/form-data upload.") from error

    def finish(self) -> None:
        """The body has ended: check the multipart stream closed properly."""
        try:
            self._parser.finalize()
        except MultipartParseError as error:
            raise UploadRejected(400, f"malformed multipart body ({error}).") from error
        if self._handle is not None or self._name is not None:
            raise UploadRejected(400, "the multipart body ended inside a part (truncated upload); send the whole file.")

    def close(self) -> None:
        """Close the file being written, if any (after an error or a disconnect)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    # -- parser callbacks --------------------------------------------------------------------------
    def _part_begin(self) -> None:
        self._headers = {}
        self._name = None

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_field.strip().lower()] = self._header_value.strip()
        self._header_field = self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", errors="replace")
        if not name:
            raise UploadRejected(400, "a multipart part has no name; every part needs Content-Disposition: form-data; name=...")
        self._name = name
        if b"filename" in options or name == FILE_FIELD:
            self._open_file(name, options.get(b"filename", b"").decode("utf-8", errors="replace"))
        elif name in FORM_FIELDS:
            if name in self.fields:
                raise UploadRejected(400, f"form field {name!r} given twice; send it once.")
            self._buffer = bytearray()
        else:
            raise UploadRejected(400, f"unknown form field {name!r}; expected {FILE_FIELD!r} and {list(FORM_FIELDS)}.")

    def _open_file(self, name: str, filename: str) -> None:
        if name != FILE_FIELD:
            raise UploadRejected(400, f"a file was sent in field {name!r}; send the volume in the {FILE_FIELD!r} field.")
        if self.filename is not None:
            raise UploadRejected(400, "more than one file uploaded; send one volume per request (a .zip for a DICOM series).")
        suffix = upload_suffix(filename)
        if suffix is None:
            raise unsupported_format(filename)
        self.filename = filename
        self.path = self.folder / f"{uuid.uuid4().hex}{suffix}"
        self._handle = open(self.path, "xb")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._handle is not None:
            self._handle.write(data[start:end])
            self.size += end - start
        elif self._buffer is not None:
            self._field_bytes += end - start
            if self._field_bytes > MAX_FIELD_BYTES:
                raise UploadRejected(413, f"form fields exceed {MAX_FIELD_BYTES} bytes; send a shorter question.")
            self._buffer += data[start:end]

    def _part_end(self) -> None:
        if self._handle is not None:
            self.close()
        elif self._buffer is not None and self._name is not None:
            try:
                self.fields[self._name] = self._buffer.decode("utf-8")
            except UnicodeDecodeError as error:
                raise UploadRejected(400, f"form field {self._name!r} is not valid UTF-8 ({error}); send UTF-8 text.") from error
            self._buffer = None
        self._name = None


def extract_zip(archive: Path, folder: Path, max_bytes: int, max_files: int = 5000) -> Path:
    """Unpack an uploaded zip into ``folder`` and return the folder that holds the slices.

    All member names are checked before anything is written (:func:`zip_member_paths`); the
    declared sizes are summed against ``max_bytes`` first and the real bytes counted while
    writing. When everything sits in one top-level folder, that folder is returned.

    Raises:
        UploadRejected: 400 for a corrupt, encrypted or unsafe archive, 413 when it unpacks too large.
    """
    try:
        with zipfile.ZipFile(archive) as bundle:
            entries = bundle.infolist()
            members = [m for m in entries if not m.is_dir()]
            if not members:
                raise UploadRejected(400, "the zip holds no files; expected a DICOM series or numbered slice images.")
            if len(members) > max_files:
                raise UploadRejected(400, f"the zip holds {len(members)} files; expected at most {max_files} slices (--max-zip-files).")
            total = sum(m.file_size for m in members)
            if total > max_bytes:
                raise UploadRejected(413, f"the zip unpacks to {total:,} bytes; the limit is {max_bytes:,} (--max-unpacked-mb).")
            targets = zip_member_paths(entries)
            folder.mkdir(mode=0o700)
            written = 0
            for member in members:
                target = folder.joinpath(*targets[member.filename])
                target.parent.mkdir(parents=True, exist_ok=True)
                with bundle.open(member) as source, open(target, "xb") as sink:
                    while chunk := source.read(1 << 20):
                        written += len(chunk)
                        if written > max_bytes:
                            raise UploadRejected(413, f"the zip unpacks to more than {max_bytes:,} bytes (--max-unpacked-mb).")
                        sink.write(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, RuntimeError, ValueError) as error:
        raise UploadRejected(400, f"the .zip cannot be read ({error}); re-create it (zip -r series.zip folder/).") from error
    except OSError as error:  # anything the names check did not foresee: never a 500
        raise UploadRejected(400, f"the .zip cannot be unpacked ({error.strerror or error}); re-create it with plain file names.") from error
    entries_out = [p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    return entries_out[0] if len(entries_out) == 1 and entries_out[0].is_dir() else folder


def zip_member_paths(entries: list[zipfile.ZipInfo]) -> dict[str, tuple[str, ...]]:
    """The path parts each member is written to; refuse any name that cannot be written safely.

    Refused (400, naming the member): absolute paths, drive letters, ``..``, empty names, control
    characters, names longer than :data:`MAX_ZIP_NAME` bytes or nested deeper than :data:`MAX_ZIP_DEPTH`,
    links and other special files, two members with one name, and a name that is a file in one
    member and a folder in another.
    """
    files: dict[tuple[str, ...], str] = {}
    folders: set[tuple[str, ...]] = set()
    targets: dict[str, tuple[str, ...]] = {}
    for member in entries:
        shown = repr(member.filename[:80])
        parts = PurePosixPath(member.filename.replace("\\", "/")).parts
        if (
            member.filename.replace("\\", "/").startswith("/")
            or not parts
            or ".." in parts
            or (parts[0].endswith(":"))
        ):
            raise UploadRejected(400, f"the zip member {shown} points outside the archive; re-create the zip.")
        if any(ord(char) < 32 or char == "\x7f" for char in member.filename):
            raise UploadRejected(400, f"the zip member {shown} has control characters in its name; rename it.")
        if any(len(part.encode("utf-8", "surrogatepass")) > MAX_ZIP_NAME for part in parts) or len(parts) > MAX_ZIP_DEPTH:
            raise UploadRejected(
                400,
                f"the zip member {shown} has a name longer than {MAX_ZIP_NAME} bytes or is nested deeper than "
                f"{MAX_ZIP_DEPTH} folders; shorten it.",
            )
        kind = stat.S_IFMT(member.external_attr >> 16)
        if kind == stat.S_IFLNK:
            raise UploadRejected(400, f"the zip member {shown} is a symbolic link; store the files themselves.")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise UploadRejected(400, f"the zip member {shown} is not a regular file; store the files themselves.")
        if member.is_dir():
            folders.add(parts)
            continue
        if parts in files:
            raise UploadRejected(400, f"the zip holds two members named {shown}; expected one file per name.")
        files[parts] = member.filename
        targets[member.filename] = parts
        folders.update(parts[:depth] for depth in range(1, len(parts)))
    clash = next((parts for parts in files if parts in folders), None)
    if clash is not None:
        raise UploadRejected(400, f"the zip member {'/'.join(clash)[:80]!r} is both a file and a folder; rename one of them.")
    return targets


def remove_upload(path: Path | None) -> None:
    """Delete an upload (a file, or the folder a zip was unpacked into); a missing one is fine."""
    if path is None:
        return
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
