"""Serve a SliceVLM checkpoint: LitServe API, web page, upload limits.

    slicevlm serve --checkpoint runs/demo/checkpoint            # http://127.0.0.1:8000
    SLICEVLM_API_KEY=$(cat key.txt) slicevlm serve --checkpoint CKPT --data-dir /data/ct --host 0.0.0.0 --port 8080
    slicevlm serve --checkpoint CKPT --host 0.0.0.0 --api-key-file /etc/slicevlm/key   # first line; not readable by others

(``python lightning_app/server.py`` in a checkout takes the same options.)

Routes: ``GET /`` the page, ``GET /health`` (200 once the model is loaded), ``GET /info``,
``POST /predict``:

    curl -F file=@ct.nii.gz -F "question=Which organ is abnormal?" -F choices=liver,spleen,kidney,lung \\
         http://127.0.0.1:8000/predict
    curl -F file=@ct.nii.gz -F task=report -F window=abdomen http://127.0.0.1:8000/predict
    curl -H 'Content-Type: application/json' -d '{"path": "case1/ct.nii.gz", "question": "What phase?"}' \\
         http://127.0.0.1:8000/predict                                           # needs --data-dir

Tasks: ``ask`` (question, optional 2–4 choices), ``report``, ``preview`` (slice PNGs, kept slices,
attention, for the page's viewer). Preprocessing is the checkpoint's training recipe, changed by
the server's ``--window/--reorient/--axis/--crop/--depth/--slice-spacing`` and then by the request's fields of
the same names (``window``: a preset such as ``abdomen``, ``CENTER,WIDTH`` or ``none``); every answer
echoes what was applied, with a warning for raw HU read without a window, the choice a closed
question's answer names, and the toy, small-model and research-use labels. Concurrent requests are batched (``--max-batch-size``,
``--batch-timeout``). Errors: 400 bad input or unreadable volume (with the reader's reason), 401
wrong API key, 403 path outside ``--data-dir``, 404 no such path, 408 too slow, 413 too large, 415
unknown format, 421 a Host header this server does not answer to, 503 busy (with Retry-After), 504
the model or the volume's reading took too long. Every limit is an option (``server_limits.py``;
the limits table in docs/serving.md). Volumes are read in separate reader processes, each read under
``--decode-timeout`` and ``--decode-memory-mb``. Uploads go to a private temporary folder (named
with the server's process id) and are deleted after each request; folders left by a server that
was killed are removed at the next start.

The API key comes from ``$SLICEVLM_API_KEY`` or ``--api-key-file`` (never the command line, which
every user of the machine can read in ``ps``); it must be at least 16 characters. Listening beyond
127.0.0.1 without one generates a random key and prints it once on stderr; ``--no-api-key`` turns
the key off explicitly. On 127.0.0.1 only requests whose Host header names this machine
(``localhost``, ``127.0.0.1``, ``[::1]``) or an ``--allowed-host`` are answered (a defence against
DNS rebinding); on other interfaces the Host check is on only when ``--allowed-host`` is given.

One Ctrl+C (SIGINT to the process group) or SIGTERM stops the server and all its processes.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import litserve as ls  # the serve extra; `slicevlm.serve.main` names it when it is missing

from slicevlm.serve.connection import header_deadline_protocol
from slicevlm.serve.request_gate import GateSettings, RequestGate
from slicevlm.serve.server_limits import ServerLimits, add_limit_options
from slicevlm.serve.uploads import UPLOAD_SUFFIXES
from slicevlm.serve.volume_api import ServeSettings, VolumeAPI
from slicevlm.io.recipe import RECIPE_CHOICES, REORIENTATIONS, WINDOW_PRESETS, checkpoint_recipe, overrides_from_fields
from slicevlm.command_line import TextParser, help_formatter, join_negative_values
from slicevlm.errors import ConfigError
from slicevlm.errors import report as report_user_error
from slicevlm.inference.devices import DEVICE_HELP, cuda_index, parse_device_name
from slicevlm.inference.generation_options import add_generation_options, generation_from_args
from slicevlm.toy import labels
from slicevlm.serve.web_page import add_page

if TYPE_CHECKING:  # jsonargparse loads when the parser is built
    from jsonargparse import ArgumentParser

log = logging.getLogger(__name__)

LOOPBACK: str = "127.0.0.1"
#: The environment variable holding the API key.
API_KEY_ENV: str = "SLICEVLM_API_KEY"
#: Shortest API key accepted.
MIN_API_KEY_CHARS: int = 16
#: Prefix of the upload folders in the temporary folder; the server's process id follows.
UPLOAD_PREFIX: str = "slicevlm-uploads-"
#: Seconds the server waits for its processes to stop before it kills them.
STOP_GRACE_S: float = 8.0


def build_parser() -> ArgumentParser:
    """The server's command line: a jsonargparse parser with the help and error conventions of every
    `slicevlm` command (:mod:`slicevlm.command_line`); its options come from several declarations (the
    preprocessing choices, the limits, the generation options), so they are added one by one."""
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(prog="slicevlm serve", description=__doc__, formatter_class=help_formatter())
    parser.add_argument("--checkpoint", required=True, help="checkpoint folder written by training, or hf://org/name for one on the Hugging Face Hub")
    parser.add_argument("--trust-checkpoint", action="store_true", help="let the checkpoint's model.yaml name any class, not only SliceVLM's model classes (building the model runs what it names: only for checkpoints you trust)")
    parser.add_argument("--host", default=LOOPBACK, choices=(LOOPBACK, "0.0.0.0", "::"), help="interface to listen on")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (1024-65535)")
    parser.add_argument("--data-dir", type=Path, default=None, help="folder clients may name volumes in (JSON 'path'); default: uploads only")
    parser.add_argument("--api-key", default=None, help=argparse.SUPPRESS)  # refused: see check_args
    parser.add_argument(
        "--api-key-file",
        type=Path,
        default=None,
        help="file whose first line is the X-API-Key required on every route but the page, /health and /info "
        f"(at least {MIN_API_KEY_CHARS} characters; the file must not be readable by other users). Default: "
        f"${API_KEY_ENV}; beyond 127.0.0.1 a random key is generated when none is given",
    )
    parser.add_argument("--no-api-key", action="store_true", help="serve beyond 127.0.0.1 without an API key (not recommended)")
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a Host header name to answer besides localhost/127.0.0.1/[::1] (repeat or comma-separate; e.g. the name "
        "a reverse proxy forwards). On 127.0.0.1 other names get 421; on other interfaces the check is on only when given",
    )
    parser.add_argument("--max-batch-size", type=int, default=8, help="requests answered in one batch")
    parser.add_argument("--batch-timeout", type=float, default=0.05, help="seconds to wait for a batch to fill")
    add_generation_options(parser)
    parser.add_argument("--device", default="auto", type=TextParser(parse_device_name, "str"), metavar="DEVICE", help=f"where the model runs: {DEVICE_HELP}")
    parser.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16", "float16"), help="auto: float32 on CPU, the checkpoint's on GPU")
    recipe = parser.add_argument_group("preprocessing (default: the checkpoint's training recipe; a request may choose its own)")
    for choice in RECIPE_CHOICES:  # checked as a request's fields are (server_recipe), before any process starts
        recipe.add_argument(choice.flag, dest=choice.name, default=None, metavar=choice.metavar, help=choice.help)
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"), help="server log level")
    add_limit_options(parser)
    return parser


def pin_cuda_device(device: str) -> None:
    """``--device cuda:N``: the server's worker runs on GPU N of those visible.

    LitServe places its worker on the first GPU it sees, so the other GPUs are hidden from the
    server's processes (``CUDA_VISIBLE_DEVICES``) before any of them starts.
    """
    index = cuda_index(device)
    if index is None:
        return
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [name.strip() for name in visible.split(",")] if visible else [str(i) for i in range(index + 1)]
    if index >= len(ids):
        raise ConfigError(f"--device {device}: CUDA_VISIBLE_DEVICES={visible} makes {len(ids)} GPU(s) visible, so there is no GPU {index}.")
    os.environ["CUDA_VISIBLE_DEVICES"] = ids[index]


def _refuse(parser: ArgumentParser, message: str) -> NoReturn:
    """An option that parses but cannot work: one line on stderr (the user-error reporter every `slicevlm`
    command uses), exit status 2."""
    report_user_error(parser.prog, ConfigError(message))
    raise SystemExit(2)


def check_args(parser: ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse options that cannot work, before any process starts."""
    from slicevlm.checkpoint import read_metadata, read_model_config, resolve_checkpoint
    from slicevlm.errors import SliceVLMError
    from slicevlm.trusted_classes import TRUST_ENV

    if args.api_key is not None:
        _refuse(parser, 
            f"--api-key is not accepted: a key on the command line is visible to every user of this machine (ps). "
            f"Set ${API_KEY_ENV} or pass --api-key-file PATH (first line: the key)."
        )
    try:
        args.checkpoint = resolve_checkpoint(args.checkpoint)  # hf://org/name becomes its snapshot in the HF cache
    except SliceVLMError as error:
        _refuse(parser, str(error))
    if not (args.checkpoint / "slicevlm.json").is_file():
        _refuse(parser, f"--checkpoint {args.checkpoint} is not a checkpoint folder (no slicevlm.json); pass the folder a training run wrote.")
    try:  # model.yaml's classes, checked before any process starts (nothing is imported)
        read_model_config(args.checkpoint, resolve_sources=False, trust_checkpoint=args.trust_checkpoint)
    except (SliceVLMError, OSError, ValueError) as error:
        _refuse(parser, str(error))
    if args.trust_checkpoint:  # the worker processes load the model: trust this folder there too
        os.environ[TRUST_ENV] = str(args.checkpoint.resolve())
    if args.data_dir is not None and not args.data_dir.is_dir():
        _refuse(parser, f"--data-dir {args.data_dir} is not a folder; pass the folder clients may read volumes from.")
    if args.max_batch_size < 1 or args.batch_timeout < 0:
        _refuse(parser, "--max-batch-size must be positive and --batch-timeout >= 0.")
    try:
        generation_from_args(args)
    except ConfigError as error:
        _refuse(parser, str(error))
    if not 1024 <= args.port <= 65535:
        _refuse(parser, f"--port {args.port} is outside 1024-65535.")
    try:
        ServerLimits.from_args(args)
    except ValueError as error:
        _refuse(parser, str(error))
    try:
        server_recipe(args, read_metadata(args.checkpoint))
    except ValueError as error:  # a bad choice (ConfigError) or a slicevlm.json this version cannot read
        _refuse(parser, str(error))
    try:
        args.api_key = read_api_key(args.api_key_file)
    except ValueError as error:
        _refuse(parser, str(error))
    if args.no_api_key and args.api_key:
        _refuse(parser, f"--no-api-key and an API key (--api-key-file or ${API_KEY_ENV}) contradict each other; pass one.")
    try:
        args.allowed_hosts = allowed_hosts(args.host, args.allowed_host)
    except ValueError as error:
        _refuse(parser, str(error))


def read_api_key(path: Path | None, environ: dict[str, str] | None = None) -> str | None:
    """The API key from ``path`` (its first line) or ``$SLICEVLM_API_KEY``; None when neither is set.

    Raises:
        ValueError: The file cannot be read, other users may read it, both sources are set, or the
            key is shorter than :data:`MIN_API_KEY_CHARS`.
    """
    environ = os.environ if environ is None else environ
    from_env = environ.get(API_KEY_ENV) or None
    if path is not None:
        if from_env:
            raise ValueError(f"both --api-key-file and ${API_KEY_ENV} are set; pass one.")
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f"--api-key-file {path}: cannot be read ({error}).") from error
        if mode & 0o077:
            raise ValueError(f"--api-key-file {path} is readable by other users (mode {mode & 0o777:o}); run `chmod 600 {path}`.")
        key, source = (text.splitlines() or [""])[0].strip(), f"--api-key-file {path}"
    elif from_env:
        key, source = from_env.strip(), f"${API_KEY_ENV}"
    else:
        return None
    if len(key) < MIN_API_KEY_CHARS:
        raise ValueError(
            f"the API key in {source} has {len(key)} characters; use at least {MIN_API_KEY_CHARS} "
            '(e.g. python -c "import secrets; print(secrets.token_urlsafe(24))").'
        )
    return key


def allowed_hosts(host: str, extra: list[str]) -> tuple[str, ...] | None:
    """The Host header names the server answers to, or None (no check): loopback always checks.

    Raises:
        ValueError: A name is empty or holds characters no host name has.
    """
    names = [name.strip().lower() for item in extra for name in item.split(",") if name.strip()]
    for name in names:
        if not all(c.isalnum() or c in "-._[]:" for c in name):
            raise ValueError(f"--allowed-host {name!r} is not a host name; pass a name such as ct.example.org.")
    if host != LOOPBACK and not names:
        return None
    return ("localhost", "127.0.0.1", "[::1]", *names)


def server_recipe(args: argparse.Namespace, metadata: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(the overrides the options make, the resulting default recipe as JSON)``; `metadata` is the
    checkpoint's ``slicevlm.json`` (:func:`slicevlm.checkpoint.read_metadata`).

    Raises:
        ConfigError: An option names no valid choice, or the checkpoint records a bad recipe.
    """
    overrides = overrides_from_fields({choice.name: getattr(args, choice.name) for choice in RECIPE_CHOICES})
    recipe = checkpoint_recipe(metadata, f"{args.checkpoint}/slicevlm.json").override(**overrides)
    return overrides, {**recipe.to_dict(), "describe": recipe.describe()}


def resolve_api_key(args: argparse.Namespace) -> str | None:
    """The key the server requires: the given one; a fresh random one beyond loopback; else none.

    A generated key is printed once on stderr (it is not stored anywhere).
    """
    if args.api_key:
        return args.api_key
    if args.host == LOOPBACK or args.no_api_key:
        return None
    key = secrets.token_urlsafe(24)
    sys.stderr.write(
        f"slicevlm serve: listening on {args.host} without an API key: clients must send this generated key as "
        f"X-API-Key (set ${API_KEY_ENV} or pass --api-key-file to choose one):\n{key}\n"
    )
    sys.stderr.flush()
    return key


def uvicorn_options(limits: ServerLimits) -> dict[str, Any]:
    """uvicorn settings that enforce the connection-level limits (``LitServer.run`` forwards them)."""
    return {
        "http": header_deadline_protocol(limits.header_timeout_s, limits.max_connections_per_client),
        "limit_concurrency": limits.max_connections,
        "timeout_keep_alive": limits.keep_alive_s,
    }


def build_server(args: argparse.Namespace, upload_dir: Path, api_key: str | None = None) -> _StoppableServer:
    """The LitServer with the gate middleware and the page, ready to `run`."""
    from slicevlm.checkpoint import read_metadata

    limits = ServerLimits.from_args(args)
    metadata = read_metadata(args.checkpoint)
    overrides, recipe = server_recipe(args, metadata)
    gate = GateSettings(
        upload_dir=upload_dir,
        limits=limits,
        data_dir=args.data_dir.resolve() if args.data_dir else None,
        api_key=api_key,
        allowed_hosts=getattr(args, "allowed_hosts", None),
    )
    settings = ServeSettings(
        checkpoint=str(args.checkpoint.resolve()),
        upload_dir=str(upload_dir),
        upload_token=gate.upload_token,
        data_dir=str(gate.data_dir) if gate.data_dir else None,
        generation=generation_from_args(args),
        dtype=args.dtype,
        preprocessing=overrides,
        limits=limits,
    )
    info = {
        **labels(bool(metadata["toy"]), bool(metadata["small"])),
        "preprocessing": recipe,
        "window_presets": {name: list(values) for name, values in WINDOW_PRESETS.items()},
        "reorientations": list(REORIENTATIONS),
        "model": "SliceVLM",
        "stage": metadata.get("stage"),
        "input_size": metadata.get("input_size"),
        "visual_tokens": metadata.get("visual_tokens"),
        "tasks": ["ask", "report", "preview"],
        "formats": list(UPLOAD_SUFFIXES),
        "max_upload_mb": limits.max_upload_mb,
        "max_voxels": limits.max_voxels,
        "api_key_required": bool(api_key),
        "paths_allowed": args.data_dir is not None,
        "max_new_tokens": args.max_new_tokens,
    }
    api = VolumeAPI(settings, max_batch_size=args.max_batch_size, batch_timeout=args.batch_timeout)
    server = _StoppableServer(
        api,
        accelerator="cuda" if cuda_index(args.device) is not None else args.device,
        devices=1,
        timeout=limits.request_timeout_s,
        model_metadata=info,
        middlewares=[(RequestGate, {"settings": gate})],
    )
    server.uvicorn_graceful_timeout = 3  # requests in flight get this long to finish when the server stops
    add_page(server.app)
    return server


class _StoppableServer(ls.LitServer):
    """LitServer whose child processes leave Ctrl+C to the main process, which stops them all.

    A Ctrl+C in a terminal sends SIGINT to every process of the group; LitServe's workers would each
    raise KeyboardInterrupt mid-call (tracebacks, and a main process left waiting on a dead queue).
    Children are therefore started with SIGINT ignored, and the main process alone turns SIGINT or
    SIGTERM into LitServe's own graceful shutdown (its shutdown event), with a hard deadline.
    """

    serving: bool = False

    def _init_manager(self, *args: Any, **kwargs: Any) -> Any:
        with _sigint_ignored():
            return super()._init_manager(*args, **kwargs)

    def launch_inference_worker(self, *args: Any, **kwargs: Any) -> Any:
        with _sigint_ignored():
            return super().launch_inference_worker(*args, **kwargs)

    def launch_single_inference_worker(self, *args: Any, **kwargs: Any) -> Any:
        with _sigint_ignored():
            return super().launch_single_inference_worker(*args, **kwargs)

    def _start_server(self, *args: Any, **kwargs: Any) -> Any:
        with _sigint_ignored():
            workers = super()._start_server(*args, **kwargs)
        self.serving = True
        return workers


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Processes started inside inherit SIGINT and SIGTERM ignored (a spawned Python keeps them
    ignored); the main process stops them itself, and uvicorn and the model worker install their own
    SIGTERM handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, signal.SIG_IGN) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class _Stopper:
    """The main process's SIGINT/SIGTERM handler: one signal stops everything, within a deadline."""

    def __init__(self) -> None:
        self.server: _StoppableServer | None = None
        self.stopping = False
        self.interrupt = False  # set when the shutdown event cannot be reached: stop LitServe by KeyboardInterrupt

    def install(self) -> None:
        signal.signal(signal.SIGINT, self)
        signal.signal(signal.SIGTERM, self)

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            if self.interrupt:
                self.interrupt = False
                raise KeyboardInterrupt
            return  # one signal is enough; a second must not interrupt the shutdown
        self.stopping = True
        threading.Thread(target=self._deadline, daemon=True, name="slicevlm-stop-deadline").start()
        server = self.server
        if server is not None and server.serving and server._shutdown_event is not None:
            # LitServe's own graceful path; set from a thread: the main thread is inside a call on the event
            threading.Thread(target=self._set_event, args=(server._shutdown_event,), daemon=True).start()
            return
        raise KeyboardInterrupt  # still starting: main's cleanup stops what was started

    def _set_event(self, event: Any) -> None:
        try:
            event.set()
        except Exception:  # noqa: BLE001 - the manager cannot be reached: interrupt the main thread instead
            import _thread

            self.interrupt = True
            _thread.interrupt_main()

    def _deadline(self) -> None:
        time.sleep(STOP_GRACE_S)
        sys.stderr.write(f"slicevlm serve: processes still running {STOP_GRACE_S:g} s after the stop signal; killing them.\n")
        sys.stderr.flush()
        _kill_children()
        os._exit(1)




def _kill_children() -> None:
    """SIGKILL every process this one started (their readers die with them)."""
    import multiprocessing

    for child in multiprocessing.active_children():
        try:
            child.kill()
            child.join(timeout=2)
        except (OSError, ValueError, AssertionError):
            pass


def make_upload_dir() -> Path:
    """A private (0700) upload folder in the temporary folder, named with this process's id."""
    return Path(tempfile.mkdtemp(prefix=f"{UPLOAD_PREFIX}{os.getpid()}-"))


def remove_stale_upload_dirs(temp_dir: Path | None = None) -> list[Path]:
    """Remove upload folders that servers killed without cleanup left behind; return them.

    Only entries of the temporary folder named ``slicevlm-uploads-PID-...`` are considered: a real
    folder (never a link) owned by this user whose PID no longer runs. Their contents are removed
    without following links.
    """
    import re
    import stat

    root = Path(temp_dir or tempfile.gettempdir())
    removed = []
    pattern = re.compile(re.escape(UPLOAD_PREFIX) + r"(\d+)-[A-Za-z0-9_]+")
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None:
            continue
        try:
            info = os.lstat(entry.path)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or _pid_runs(int(match.group(1))):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)  # rmtree never follows links inside
        removed.append(Path(entry.path))
    return removed


def _pid_runs(pid: int) -> bool:
    if pid <= 0:
        return True  # not a pid we could have written: leave it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def main(argv: list[str] | None = None) -> int:
    """Parse options, start the server, and remove the upload folder when it stops."""
    parser = build_parser()
    args = parser.parse_args(join_negative_values(parser, argv))
    check_args(parser, args)
    try:
        pin_cuda_device(args.device)
    except ConfigError as error:
        _refuse(parser, str(error))
    api_key = resolve_api_key(args)
    stopper = _Stopper()
    stopper.install()
    for stale in remove_stale_upload_dirs():
        log.info("removed the upload folder %s of a server that is no longer running", stale.name)
    upload_dir = make_upload_dir()  # mode 0700: private to this user
    try:
        server = build_server(args, upload_dir, api_key)
        stopper.server = server
        server.run(
            host=args.host,
            port=args.port,
            num_api_servers=1,  # one request process: the gate's admission count is the server's
            log_level=args.log_level,
            generate_client_file=False,
            **uvicorn_options(ServerLimits.from_args(args)),
        )
    except KeyboardInterrupt:
        pass
    except Exception as error:  # noqa: BLE001
        if not stopper.stopping:
            raise
        sys.stderr.write(f"slicevlm serve: while stopping: {type(error).__name__}: {error}\n")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _kill_children()
        shutil.rmtree(upload_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
