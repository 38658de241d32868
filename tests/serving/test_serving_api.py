"""The LitServe app end to end on 127.0.0.1: uploads, paths, batching, limits, bad clients, load.

One server per module (tiny stage-2 checkpoint, CPU), started in its own process group and
stopped as a group.
"""

from __future__ import annotations

import base64
import io
import socket
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import requests

REPO = Path(__file__).resolve().parents[2]

from slicevlm.serve.load_test import run_load_test
from slicevlm.serve.server_process import ServerProcess

KEY = "serving-test-key-0123"
AUTH = {"X-API-Key": KEY}


def _phantom(shape=(12, 40, 40), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    volume = rng.normal(0.3, 0.05, shape).astype(np.float32)
    volume[:, 10:30, 12:28] += np.linspace(0.2, 0.6, shape[0], dtype=np.float32)[:, None, None]
    return volume


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    import nibabel as nib
    from PIL import Image

    root = tmp_path_factory.mktemp("serving")
    data = root / "data"
    (data / "case1").mkdir(parents=True)
    np.save(data / "case1" / "ct.npy", _phantom())
    (root / "outside.npy").write_bytes((data / "case1" / "ct.npy").read_bytes())
    (data / "escape.npy").symlink_to(root / "outside.npy")
    nib.save(nib.Nifti1Image(_phantom(seed=1).transpose(2, 1, 0).copy(), np.eye(4)), str(root / "scan.nii.gz"))
    np.save(root / "small.npy", _phantom(seed=2))
    (root / "garbage.npy").write_bytes(b"\x93NUMPY garbage that is not an array")
    (root / "notes.txt").write_text("not a volume", encoding="utf-8")
    (root / "big.npy").write_bytes(b"\0" * (1536 * 1024))
    slices = io.BytesIO()
    with zipfile.ZipFile(slices, "w") as bundle:
        for i, image in enumerate(_phantom(seed=3)):
            png = io.BytesIO()
            Image.fromarray((image.clip(0, 1) * 255).astype(np.uint8)).save(png, format="PNG")
            bundle.writestr(f"series/{i + 1}.png", png.getvalue())
    (root / "slices.zip").write_bytes(slices.getvalue())
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as bundle:
        bundle.writestr("../../evil.png", b"x")
    (root / "evil.zip").write_bytes(evil.getvalue())
    return {"root": root, "data": data, "tmp": root / "tmp", **{p.name: p for p in root.iterdir() if p.is_file()}}


@pytest.fixture(scope="module")
def server(tiny_model_factory, files, tmp_path_factory):
    from slicevlm.checkpoint import save_checkpoint_folder
    from slicevlm.llm.lora import LoraSettings

    model = tiny_model_factory()
    model.language.add_lora(LoraSettings())
    checkpoint = save_checkpoint_folder(model, tmp_path_factory.mktemp("serve") / "ckpt", stage=2, input_size=(32, 64, 64))
    files["tmp"].mkdir()
    args = ["--checkpoint", checkpoint, "--data-dir", files["data"], "--max-upload-mb", "1",
            "--max-new-tokens", "8", "--max-batch-size", "8", "--batch-timeout", "0.2", "--log-level", "warning",
            "--header-timeout", "2"]
    process = ServerProcess(args, log_path=files["root"] / "server.log", env={"TMPDIR": str(files["tmp"]), "SLICEVLM_API_KEY": KEY})
    with process:
        yield process
    assert not list(files["tmp"].glob("slicevlm-uploads-*")), "the upload folder outlived the server"


def _ask(server, path: Path, timeout: float = 60, **fields) -> requests.Response:
    with open(path, "rb") as handle:
        return requests.post(server.url + "/predict", files={"file": (path.name, handle)}, data=fields, headers=AUTH, timeout=timeout)


def _uploads_left(files) -> list[Path]:
    return [p for folder in files["tmp"].glob("slicevlm-uploads-*") for p in folder.iterdir()]


def test_health_info_and_page_are_public(server):
    assert requests.get(server.url + "/health", timeout=5).text == "ok"
    info = requests.get(server.url + "/info", timeout=5).json()["model"]
    assert info["api_key_required"] and info["input_size"] == [32, 64, 64] and ".nii.gz" in info["formats"]
    page = requests.get(server.url + "/", timeout=5)
    assert page.status_code == 200 and "SliceVLM" in page.text and 'id="file"' in page.text


def test_ask_with_an_uploaded_nifti(server, files):
    response = _ask(server, files["scan.nii.gz"], question="Which organ is shown?", choices="liver, spleen, kidney")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["task"] == "ask" and isinstance(body["answer"], str) and body["volume"] == "scan.nii.gz"
    assert body["instruction"] == "Which organ is shown? Choices: A. liver B. spleen C. kidney D. NA"
    assert len(body["kept_slices"]) == 8 and body["original_shape"] == [12, 40, 40]
    assert body["timings_ms"]["total"] >= body["timings_ms"]["vision"] > 0
    assert not _uploads_left(files)


def test_report_by_path_json_and_form(server):
    for kwargs in ({"json": {"path": "case1/ct.npy", "task": "report"}}, {"data": {"path": "case1/ct.npy", "question": "report"}}):
        response = requests.post(server.url + "/predict", headers=AUTH, timeout=60, **kwargs)
        assert response.status_code == 200, response.text
        assert response.json()["task"] == "report" and "findings" in response.json()["instruction"]


def test_preview_returns_slices_kept_indices_and_attention(server, files):
    from PIL import Image

    body = _ask(server, files["small.npy"], task="preview").json()
    assert body["shape"] == [32, 64, 64] and len(body["slices"]) == 32 and len(body["similarity"]) == 32
    with Image.open(io.BytesIO(base64.b64decode(body["slices"][5]))) as image:
        assert image.size == (64, 64) and image.mode == "L"
    assert body["attention"]["shape"] == [8, 8, 8] and len(body["attention"]["values"]) == 512
    assert set(body["kept_slices"]) <= set(range(32))


def test_zip_of_numbered_slices_is_read_and_unsafe_zips_refused(server, files):
    response = _ask(server, files["slices.zip"], question="What plane is this?")
    assert response.status_code == 200, response.text
    assert response.json()["original_shape"] == [12, 40, 40]
    evil = _ask(server, files["evil.zip"], question="What plane?")
    assert evil.status_code == 400 and "outside the archive" in evil.json()["detail"]
    assert not _uploads_left(files)


@pytest.mark.parametrize(
    ("headers", "status"), [({}, 401), ({"X-API-Key": "wrong"}, 401), (AUTH, 200)]
)
def test_api_key_is_required_for_predict_and_docs(server, headers, status):
    response = requests.post(server.url + "/predict", json={"path": "case1/ct.npy", "task": "report"}, headers=headers, timeout=60)
    assert response.status_code == status
    assert requests.get(server.url + "/openapi.json", headers=headers, timeout=5).status_code == status


def test_too_large_uploads_get_413(server, files):
    response = _ask(server, files["big.npy"], question="Which organ?")
    assert response.status_code == 413 and "limit" in response.json()["detail"]

    def chunked():  # no Content-Length: the limit is enforced while streaming
        yield b'--B\r\nContent-Disposition: form-data; name="file"; filename="x.npy"\r\n\r\n'
        for _ in range(24):
            yield b"\0" * 65536
        yield b"\r\n--B--\r\n"

    streamed = requests.post(server.url + "/predict", data=chunked(), timeout=30,
                             headers={**AUTH, "Content-Type": "multipart/form-data; boundary=B"})
    assert streamed.status_code == 413
    assert not _uploads_left(files)


def test_unknown_formats_get_415(server, files):
    assert _ask(server, files["notes.txt"], question="What?").status_code == 415
    raw = requests.post(server.url + "/predict", data=b"\x00\x01", headers={**AUTH, "Content-Type": "application/octet-stream"}, timeout=10)
    assert raw.status_code == 415 and "multipart/form-data" in raw.json()["detail"]


@pytest.mark.parametrize(
    ("request_kwargs", "status", "expected"),
    [
        ({"json": {"path": "../outside.npy", "task": "report"}}, 403, "leaves the server's data folder"),
        ({"json": {"path": "/etc/passwd", "task": "report"}}, 403, "absolute"),
        ({"json": {"path": "escape.npy", "task": "report"}}, 403, "leaves"),
        ({"json": {"path": "case1/none.npy", "task": "report"}}, 404, "no volume"),
        ({"json": {"task": "report"}}, 400, "no volume"),
        ({"json": {"path": "case1/ct.npy", "question": "  "}}, 400, "question is empty"),
        ({"json": {"path": "case1/ct.npy", "question": "q?", "choices": ["a"]}}, 400, "expected 2 to 4"),
        ({"json": {"path": "case1/ct.npy", "qestion": "q?"}}, 400, "Did you mean 'question'"),
        ({"json": {"path": "case1/ct.npy", "task": "summarise"}}, 400, "is not one of"),
        ({"json": ["not", "an", "object"]}, 400, "expected an object"),
        ({"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "not valid JSON"),
        ({"data": b"--X\r\ngarbage", "headers": {"Content-Type": "multipart/form-data; boundary=Y"}}, 400, "multipart"),
    ],
)
def test_bad_requests_get_clear_4xx(server, request_kwargs, status, expected):
    headers = {**AUTH, **request_kwargs.pop("headers", {})}
    response = requests.post(server.url + "/predict", headers=headers, timeout=30, **request_kwargs)
    assert response.status_code == status, response.text
    assert expected in response.json()["detail"]


def test_unreadable_upload_is_400_with_the_reason_and_no_server_paths(server, files):
    response = _ask(server, files["garbage.npy"], question="Which organ?")
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("garbage.npy: ") and "npy" in detail and str(files["tmp"]) not in detail


def test_concurrent_requests_are_batched_and_a_bad_one_fails_alone(server, files):
    results: dict[int, requests.Response] = {}

    def send(i: int) -> None:
        path = files["garbage.npy"] if i == 3 else files["small.npy"]
        results[i] = _ask(server, path, question=f"Question {i}?")

    threads = [threading.Thread(target=send, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results[3].status_code == 400
    good = [results[i] for i in range(6) if i != 3]
    assert all(r.status_code == 200 for r in good), [r.text for r in good]
    assert max(r.json()["batch_size"] for r in good) > 1
    assert [r.json()["question"] for r in good] == [f"Question {i}?" for i in range(6) if i != 3]


def test_garbage_and_disconnects_do_not_take_the_server_down(server, files):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:  # not HTTP at all
        raw.sendall(b"\x16\x03\x01 this is not http\r\n\r\n")
        raw.recv(1024)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:  # gives up mid-upload
        raw.sendall(
            b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: " + KEY.encode() + b"\r\n"
            b"Content-Type: multipart/form-data; boundary=B\r\nContent-Length: 900000\r\n\r\n"
            b'--B\r\nContent-Disposition: form-data; name="file"; filename="cut.npy"\r\n\r\n' + b"\0" * 200_000
        )
        time.sleep(0.3)
    deadline = time.monotonic() + 10
    while _uploads_left(files) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _uploads_left(files), "the half-uploaded file was not removed"
    assert server.alive()
    assert requests.get(server.url + "/health", timeout=5).status_code == 200
    assert _ask(server, files["small.npy"], question="Still there?").status_code == 200


def test_small_load_test_has_no_failures(server, files):
    result = run_load_test(server.url, files["small.npy"], clients=16, requests_per_client=2, api_key=KEY, timeout=120)
    assert result.failed == 0, result.summary()
    assert result.requests == 32 and result.percentile(95) >= result.percentile(50) > 0
    print(result.summary())


def test_hostile_uploads_through_the_real_server_read_nothing_outside(server, files):
    """End to end (LitServe worker included): a MetaImage naming a host file asked for a preview,
    and a .nii.gz declaring 2**29 voxels, are refused; the host file is never opened."""
    sys.path.insert(0, str(REPO / "tests" / "security"))
    import host_watch
    from hostile import SECRET, mha_header, nifti_gz_bomb

    host = files["root"] / "host"
    host.mkdir(exist_ok=True)
    (host / "secret.bin").write_bytes(SECRET)
    evil = mha_header(files["root"] / "evil.mha", str(host / "secret.bin"))
    bomb = nifti_gz_bomb(files["root"] / "bomb.nii.gz")
    watch = host_watch.HostWatch([host]) if host_watch.available() else None
    try:
        refused = _ask(server, evil, task="preview")
        assert refused.status_code == 400 and "carry their pixel data inside" in refused.json()["detail"]
        assert refused.json()["detail"].startswith("evil.mha: ") and "TOP-SECRET" not in refused.text
        too_large = _ask(server, bomb, question="Which organ?")
        assert too_large.status_code == 413 and "refusing to allocate" in too_large.json()["detail"]
        if watch is not None:
            watch.assert_untouched()
    finally:
        if watch is not None:
            watch.close()
    assert not _uploads_left(files)


def test_slow_headers_are_cut_off(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as raw:
        raw.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nX-Api-Key: ")  # and never finishes
        reply = b""
        while chunk := raw.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 408")
    assert server.alive()


def test_accepted_upload_suffixes_are_ones_the_readers_read():
    from slicevlm.io.readers import SIMPLEITK_SUFFIXES
    from slicevlm.serve.uploads import UPLOAD_SUFFIXES, upload_suffix

    assert set(UPLOAD_SUFFIXES) - {".zip", ".npy"} <= set(SIMPLEITK_SUFFIXES)
    assert upload_suffix("CT.NII.GZ") == ".nii.gz" and upload_suffix("a.nii") == ".nii" and upload_suffix("a.gz") is None


def test_the_request_process_modules_import_neither_torch_nor_training_code():
    import subprocess

    code = (
        "import sys\n"
        "from slicevlm.serve import request_gate, uploads, web_page, server_process, load_test\n"
        "bad = [m for m in sys.modules if m in ('torch', 'lightning') or m.startswith(('slicevlm.training', 'slicevlm.cli'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_info_carries_notice_toy_label_and_default_recipe(server):
    info = requests.get(server.url + "/info", timeout=5).json()["model"]
    assert info["notice"] == "research use only, not for clinical decisions"
    assert info["toy"] is True and "toy model" in info["toy_notice"]
    assert info["small"] is True and info["small_notice"].startswith("small model")  # the tiny LLM is small too
    assert info["preprocessing"]["window"] is None and info["preprocessing"]["axis"] == "axial"
    assert info["window_presets"]["lung"] == [-600.0, 1500.0]


def test_closed_answer_names_its_choice_and_echoes_preprocessing(server, files):
    from slicevlm.inference.choices import match_choice

    response = _ask(server, files["scan.nii.gz"], question="Which organ is shown?", choices="liver, spleen, kidney", window="bone",
                    axis="coronal", crop="foreground")
    assert response.status_code == 200, response.text
    body = response.json()
    assert {"choice": body["choice"], "choice_note": body["choice_note"]} == match_choice(body["answer"], ["liver", "spleen", "kidney"]).to_dict()
    applied = body["preprocessing"]
    assert applied["window"] == {"center": 400.0, "width": 1800.0, "preset": "bone"} and applied["axis"] == "coronal"
    assert applied["crop"]["mode"] == "foreground" and applied["resampled_size"] == [32, 64, 64]
    assert body["toy"] is True and body["notice"].startswith("research use only")
    assert body["small"] is True and body["small_notice"].startswith("small model")
    report = requests.post(server.url + "/predict", headers=AUTH, timeout=60, json={"path": "case1/ct.npy", "task": "report"}).json()
    assert "choice_note" not in report and report["preprocessing"]["window"] is None


def test_preview_echoes_the_window_and_warns_on_raw_hu(server, files, tmp_path):
    hu = tmp_path / "hu.npy"
    volume = np.full((12, 40, 40), -1000.0, dtype=np.float32)
    volume[:, 8:32, 8:32] = 40.0
    volume[:, 16:24, 16:24] = 1000.0  # bone: clipped by the window, so tissue gets brighter
    np.save(hu, volume)
    plain = _ask(server, hu, task="preview").json()
    assert any("raw HU" in warning for warning in plain["warnings"])
    windowed = _ask(server, hu, task="preview", window="40,400").json()
    assert windowed["warnings"] == [] and windowed["preprocessing"]["window"] == {"center": 40.0, "width": 400.0, "preset": None}
    assert windowed["slices"] != plain["slices"]  # the window changes what the model sees


def test_reorientation_is_chosen_per_request_and_echoed(server, files):
    default = _ask(server, files["scan.nii.gz"], task="preview").json()
    stored = _ask(server, files["scan.nii.gz"], task="preview", reorient="none").json()
    assert default["preprocessing"]["reorient"] == "LPS" and "-> LPS" in default["preprocessing"]["reorientation"]
    assert stored["preprocessing"]["reorient"] == "none" and stored["preprocessing"]["reorientation"].startswith("none (asked)")
    assert stored["slices"] != default["slices"]  # the stored order is the LPS one flipped in-plane
    lowercase = _ask(server, files["scan.nii.gz"], task="preview", reorient="lps").json()
    assert lowercase["preprocessing"]["reorient"] == "LPS" and lowercase["slices"] == default["slices"]


@pytest.mark.parametrize("fields, message", [({"window": "lungs"}, "Did you mean 'lung'"), ({"axis": "up"}, "axis"), ({"reorient": "RAS"}, "reorient"),
                                             ({"depth": "spacing"}, "slice_spacing_mm"), ({"slice_spacing": "-2"}, "slice_spacing")])
def test_bad_preprocessing_fields_are_400(server, files, fields, message):
    response = _ask(server, files["small.npy"], question="What plane?", **fields)
    assert response.status_code == 400 and message in response.json()["detail"]


@pytest.mark.parametrize(
    ("recorded", "toy", "small"),
    [({"toy": False, "small": True}, False, True),  # a real 135 M LLM beside a real encoder
     ({"toy": True, "small": False}, True, False)],  # a large LLM beside the tiny encoder
)
def test_info_labels_follow_the_recorded_flags(tmp_path, recorded, toy, small):
    import json

    from slicevlm.serve.server import build_parser, build_server
    from slicevlm.toy import SMALL_NOTICE, TOY_NOTICE

    from slicevlm.checkpoint import FORMAT_VERSION, REQUIRED_FILES

    (tmp_path / "ckpt").mkdir()
    for name in REQUIRED_FILES:  # the server reads only slicevlm.json here, through the checkpoint's own reader
        (tmp_path / "ckpt" / name).touch()
    (tmp_path / "ckpt" / "slicevlm.json").write_text(json.dumps({"format": FORMAT_VERSION, "input_size": [16, 32, 32], **recorded}), encoding="utf-8")
    args = build_parser().parse_args(["--checkpoint", str(tmp_path / "ckpt")])
    args.checkpoint = Path(args.checkpoint)
    info = build_server(args, tmp_path / "uploads").model_metadata
    assert (info["toy"], info["small"]) == (toy, small)
    assert info["toy_notice"] == (TOY_NOTICE if toy else None) and info["small_notice"] == (SMALL_NOTICE if small else None)
    assert info["notice"].startswith("research use only")
