"""Serve a SliceVLM checkpoint: LitServe API, web page, upload limits.

    slicevlm serve --checkpoint runs/demo/checkpoint            # http://127.0.0.1:8000
    slicevlm serve --checkpoint CKPT --data-dir /data/ct --api-key SECRET --port 8080

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
question's answer names, and the toy and research-use labels. Concurrent requests are batched (``--max-batch-size``,
``--batch-timeout``). Errors: 400 bad input or unreadable volume (with the reader's reason), 401
wrong API key, 403 path outside ``--data-dir``, 404 no such path, 408 too slow, 413 too large, 415
unknown format, 503 busy (with Retry-After), 504 the model took too long. Every limit is an option
(``server_limits.py``; the README's limits table). Uploads go to a private temporary folder and are
deleted after each request.

Listening beyond 127.0.0.1 without ``--api-key`` (or ``$SLICEVLM_API_KEY``) generates a random key
and prints it once on stderr; ``--no-api-key`` turns the key off explicitly.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

import litserve as ls  # the serve extra; `slicevlm.serve.main` names it when it is missing

from slicevlm.serve.connection import header_deadline_protocol
from slicevlm.serve.request_gate import GateSettings, RequestGate
from slicevlm.serve.server_limits import ServerLimits, add_limit_options
from slicevlm.serve.uploads import UPLOAD_SUFFIXES
from slicevlm.serve.volume_api import ServeSettings, VolumeAPI
from slicevlm.data.recipe import AXES, CROPS, DEPTH_MODES, REORIENTATIONS, WINDOW_PRESETS, checkpoint_recipe, overrides_from_fields
from slicevlm.errors import ConfigError
from slicevlm.inference.generation_options import add_generation_options, generation_from_args
from slicevlm.toy import RESEARCH_NOTICE, TOY_NOTICE
from slicevlm.serve.web_page import add_page

LOOPBACK: str = "127.0.0.1"


def build_parser() -> argparse.ArgumentParser:
    """The server's command line."""
    parser = argparse.ArgumentParser(prog="slicevlm serve", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="checkpoint folder written by training, or hf://org/name for one on the Hugging Face Hub")
    parser.add_argument("--trust-checkpoint", action="store_true", help="let the checkpoint's model.yaml name any class, not only SliceVLM's model classes (building the model runs what it names: only for checkpoints you trust)")
    parser.add_argument("--host", default=LOOPBACK, choices=(LOOPBACK, "0.0.0.0", "::"), help="interface to listen on")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (1024-65535)")
    parser.add_argument("--data-dir", type=Path, default=None, help="folder clients may name volumes in (JSON 'path'); default: uploads only")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("SLICEVLM_API_KEY"),
        help="require this X-API-Key on every route but the page, /health and /info (default: $SLICEVLM_API_KEY; "
        "beyond 127.0.0.1 a random one is generated when none is given)",
    )
    parser.add_argument("--no-api-key", action="store_true", help="serve beyond 127.0.0.1 without an API key (not recommended)")
    parser.add_argument("--max-batch-size", type=int, default=8, help="requests answered in one batch")
    parser.add_argument("--batch-timeout", type=float, default=0.05, help="seconds to wait for a batch to fill")
    add_generation_options(parser)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where the model runs")
    parser.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16", "float16"), help="auto: float32 on CPU, the checkpoint's on GPU")
    recipe = parser.add_argument_group("preprocessing (default: the checkpoint's training recipe; a request may choose its own)")
    recipe.add_argument("--reorient", default=None, choices=REORIENTATIONS, help="LPS: turn oriented files to LPS; none: keep the stored voxel order")
    recipe.add_argument("--axis", default=None, choices=AXES, help="slicing axis")
    recipe.add_argument("--window", default=None, help=f"CT window: a preset ({', '.join(WINDOW_PRESETS)}), CENTER,WIDTH in HU, or none")
    recipe.add_argument("--crop", default=None, choices=CROPS, help="center, or foreground (cut to the body's box first)")
    recipe.add_argument("--depth", default=None, choices=DEPTH_MODES, help="fixed (all slices to D) or spacing (needs --slice-spacing)")
    recipe.add_argument("--slice-spacing", default=None, help="slice distance in mm of --depth spacing")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"), help="server log level")
    add_limit_options(parser)
    return parser


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse options that cannot work, before any process starts."""
    from slicevlm.checkpoint import read_model_config, resolve_checkpoint
    from slicevlm.errors import SliceVLMError
    from slicevlm.trusted_classes import TRUST_ENV

    try:
        args.checkpoint = resolve_checkpoint(args.checkpoint)  # hf://org/name becomes its snapshot in the HF cache
    except SliceVLMError as error:
        parser.error(str(error))
    if not (args.checkpoint / "slicevlm.json").is_file():
        parser.error(f"--checkpoint {args.checkpoint} is not a checkpoint folder (no slicevlm.json); pass the folder a training run wrote.")
    try:  # model.yaml's classes, checked before any process starts (nothing is imported)
        read_model_config(args.checkpoint, resolve_sources=False, trust_checkpoint=args.trust_checkpoint)
    except (SliceVLMError, OSError, ValueError) as error:
        parser.error(str(error))
    if args.trust_checkpoint:  # the worker processes load the model: trust this folder there too
        os.environ[TRUST_ENV] = str(args.checkpoint.resolve())
    if args.data_dir is not None and not args.data_dir.is_dir():
        parser.error(f"--data-dir {args.data_dir} is not a folder; pass the folder clients may read volumes from.")
    if args.max_batch_size < 1 or args.batch_timeout < 0:
        parser.error("--max-batch-size must be positive and --batch-timeout >= 0.")
    try:
        generation_from_args(args)
    except ConfigError as error:
        parser.error(str(error))
    if not 1024 <= args.port <= 65535:
        parser.error(f"--port {args.port} is outside 1024-65535.")
    try:
        ServerLimits.from_args(args)
    except ValueError as error:
        parser.error(str(error))
    try:
        server_recipe(args)
    except ConfigError as error:
        parser.error(str(error))
    if args.no_api_key and args.api_key:
        parser.error("--no-api-key and an API key (--api-key or $SLICEVLM_API_KEY) contradict each other; pass one.")


def server_recipe(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(the overrides the options make, the resulting default recipe as JSON)``.

    Raises:
        ConfigError: An option names no valid choice, or the checkpoint records a bad recipe.
    """
    overrides = overrides_from_fields(
        {"window": args.window, "reorient": args.reorient, "axis": args.axis, "crop": args.crop, "depth": args.depth, "slice_spacing": args.slice_spacing}
    )
    metadata = json.loads((args.checkpoint / "slicevlm.json").read_text(encoding="utf-8"))
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
        f"slicevlm serve: listening on {args.host} without --api-key: clients must send this generated key as "
        f"X-API-Key (pass --api-key or $SLICEVLM_API_KEY to choose one):\n{key}\n"
    )
    sys.stderr.flush()
    return key


def uvicorn_options(limits: ServerLimits) -> dict[str, Any]:
    """uvicorn settings that enforce the connection-level limits (``LitServer.run`` forwards them)."""
    return {
        "http": header_deadline_protocol(limits.header_timeout_s),
        "limit_concurrency": limits.max_connections,
        "timeout_keep_alive": limits.keep_alive_s,
    }


def build_server(args: argparse.Namespace, upload_dir: Path, api_key: str | None = None) -> ls.LitServer:
    """The LitServer with the gate middleware and the page, ready to `run`."""
    limits = ServerLimits.from_args(args)
    overrides, recipe = server_recipe(args)
    gate = GateSettings(
        upload_dir=upload_dir,
        limits=limits,
        data_dir=args.data_dir.resolve() if args.data_dir else None,
        api_key=api_key,
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
    metadata = json.loads((args.checkpoint / "slicevlm.json").read_text(encoding="utf-8"))
    info = {
        "notice": RESEARCH_NOTICE,
        "toy": metadata.get("toy"),  # None: a folder written before the flag (answers still say)
        "toy_notice": TOY_NOTICE if metadata.get("toy") else None,
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
    server = ls.LitServer(
        api,
        accelerator="auto" if args.device == "auto" else args.device,
        devices=1,
        timeout=limits.request_timeout_s,
        model_metadata=info,
        middlewares=[(RequestGate, {"settings": gate})],
    )
    add_page(server.app)
    return server


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # LitServe shuts its workers down on KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Parse options, start the server, and remove the upload folder when it stops."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    api_key = resolve_api_key(args)
    upload_dir = Path(tempfile.mkdtemp(prefix="slicevlm-uploads-"))  # mode 0700: private to this user
    signal.signal(signal.SIGTERM, _stop)
    try:
        server = build_server(args, upload_dir, api_key)
        server.run(
            host=args.host,
            port=args.port,
            num_api_servers=1,  # one request process: the gate's admission count is the server's
            log_level=args.log_level,
            generate_client_file=False,
            **uvicorn_options(ServerLimits.from_args(args)),
        )
    finally:
        shutil.rmtree(upload_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
