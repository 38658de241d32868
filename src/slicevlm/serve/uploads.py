"""Uploaded volumes: accepted formats, Starlette's multipart parser writing to disk, safe unzip.

The request process never holds an upload in memory: multipart parts are parsed as they arrive
(Starlette's ``MultiPartParser``, see :class:`UploadForm`) and the file part is written straight
into the server's private upload folder.
A ``.zip`` holding a DICOM series or a folder of numbered slices is unpacked next to it so the
folder readers of :mod:`slicevlm.io.readers` can read it. Every member name is checked before
anything is written (no absolute paths, ``..``, links, control characters, over-long names,
duplicates or file/folder clashes), the declared sizes and the count are capped, and the real sizes
are counted while writing.
"""

from __future__ import annotations

import shutil
import stat
import uuid
import zipfile
from collections.abc import AsyncGenerator
from pathlib import Path, PurePosixPath

from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from slicevlm.io.recipe import REQUEST_FIELDS

#: Suffixes an upload may have: the single-file formats the data readers read (``.nhdr``/``.mhd``
#: need a second file, so they are not accepted), plus ``.zip`` for DICOM series / slice folders.
UPLOAD_SUFFIXES: tuple[str, ...] = (".npy", ".nii", ".nii.gz", ".nrrd", ".mha", ".dcm", ".zip")
#: Form fields a request may carry besides the file.
FORM_FIELDS: tuple[str, ...] = ("task", "question", "choices", "path", *REQUEST_FIELDS)
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


class UploadForm(MultiPartParser):
    """Starlette's multipart parser with our rules; the file part is written into ``folder``.

    Starlette parses the body as it arrives; these hooks make it stricter where the server must be:
    the file is written straight into the private upload folder as ``<uuid><suffix>`` (Starlette
    would spool it, and LitServe sets the spool to stay in memory), a file in another field, an
    unknown suffix (415) or an unknown or repeated text field is refused as soon as its part headers
    arrive, text fields must be UTF-8 (Starlette falls back to latin-1) and together stay under
    :data:`MAX_FIELD_BYTES` (413), and a body that ends before its closing boundary is refused
    (Starlette would drop the unfinished part). The hooks are the parser's python-multipart callbacks
    and its ``_current_part``; the hostile-input tests fail if a Starlette release changes them.

    Args:
        headers: the request headers (the Content-Type carries the boundary).
        stream: the request body, chunk by chunk.
        folder: the private upload folder.

    Attributes:
        filename: the client's file name (only its suffix is used on disk).
        path: where the file part was written, or None.
    """

    def __init__(self, headers: Headers, stream: AsyncGenerator[bytes, None], folder: Path) -> None:
        super().__init__(headers, stream, max_files=1, max_fields=len(FORM_FIELDS), max_part_size=MAX_FIELD_BYTES)
        self.folder = folder
        self.filename: str | None = None
        self.path: Path | None = None
        self._field_bytes = 0
        self._complete = False

    async def fields(self) -> dict[str, str]:
        """Parse the whole body; return the text fields (the file is at :attr:`path`).

        Raises:
            UploadRejected: 400 for a malformed or truncated body or a refused part, 413 for text
                fields over the cap, 415 for a file of an unknown format.
        """
        try:
            form = await self.parse()
        except MultiPartException as error:
            raise UploadRejected(
                400,
                f"malformed multipart body ({error.message}); send one volume in the {FILE_FIELD!r} field and text fields "
                f"from {list(FORM_FIELDS)} as a regular multipart/form-data upload.",
            ) from error
        finally:
            for _, value in self.items:
                if isinstance(value, UploadFile):
                    value.file.close()
        if not self._complete:
            raise UploadRejected(400, "the multipart body ended inside a part (truncated upload); send the whole file.")
        return {name: value for name, value in form.multi_items() if isinstance(value, str)}

    def on_headers_finished(self) -> None:
        super().on_headers_finished()
        part = self._current_part
        if part.file is None:
            if part.field_name == FILE_FIELD:
                raise UploadRejected(400, f"the {FILE_FIELD!r} part has no filename; send the volume as a file (curl -F file=@ct.nii.gz).")
            if part.field_name not in FORM_FIELDS:
                raise UploadRejected(400, f"unknown form field {part.field_name!r}; expected {FILE_FIELD!r} and {list(FORM_FIELDS)}.")
            if any(name == part.field_name for name, _ in self.items):
                raise UploadRejected(400, f"form field {part.field_name!r} given twice; send it once.")
            return
        if part.field_name != FILE_FIELD:
            raise UploadRejected(400, f"a file was sent in field {part.field_name!r}; send the volume in the {FILE_FIELD!r} field.")
        filename = part.file.filename or ""
        suffix = upload_suffix(filename)
        if suffix is None:
            raise unsupported_format(filename)
        self.filename = filename
        self.path = self.folder / f"{uuid.uuid4().hex}{suffix}"
        part.file.file.close()  # Starlette's spool, still empty: the bytes go to the upload folder instead
        part.file.file = open(self.path, "xb")  # noqa: SIM115 (closed by `fields`, or by Starlette on an error)
        self._files_to_close_on_error.append(part.file.file)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current_part.file is None:
            self._field_bytes += end - start
            if self._field_bytes > MAX_FIELD_BYTES:
                raise UploadRejected(413, f"form fields exceed {MAX_FIELD_BYTES} bytes; send a shorter question.")
        super().on_part_data(data, start, end)

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is None:
            try:
                bytes(part.data).decode("utf-8")
            except UnicodeDecodeError as error:
                raise UploadRejected(400, f"form field {part.field_name!r} is not valid UTF-8 ({error}); send UTF-8 text.") from error
        super().on_part_end()

    def on_end(self) -> None:
        self._complete = True


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
