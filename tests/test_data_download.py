"""download() for real against a local HTTP server: progress, checksums, resume, offline; download_flickr8k()."""
from __future__ import annotations

import hashlib
import http.server
import io
import socket
import threading
import zipfile

import pytest
from _data_helpers import make_flickr8k

import sat.data.download as dl
from sat.data import DownloadError, download_flickr8k, load_flickr8k
from sat.data.download import download


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files`` (path → bytes), honouring ``Range: bytes=N-`` unless ``server.ranges`` is False."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = self.server.files.get(self.path)
        self.server.range_headers.append(self.headers.get("Range"))
        if body is None:
            self.send_error(404)
            return
        start = 0
        if self.headers.get("Range") and self.server.ranges:
            start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-"))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.ranges, httpd.range_headers = {}, True, []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


PAYLOAD = _zip({f"file{i}.txt": bytes(range(256)) * 40 for i in range(4)})
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/Flickr8k_text.zip"


def _one_sentence(message: str) -> None:
    assert "\n" not in message and message.endswith(".") and ". " not in message, message


def test_download_with_progress_and_checksum(server, tmp_path, capsys):
    server.files["/data.zip"] = PAYLOAD
    dest = download(f"{server.url}/data.zip", tmp_path / "data.zip", sha256=DIGEST, progress=True)
    assert dest.read_bytes() == PAYLOAD and not (tmp_path / "data.zip.part").exists()
    assert "data.zip" in capsys.readouterr().err  # the tqdm bar
    download(f"{server.url}/data.zip", dest, sha256=DIGEST)  # already there: not fetched again
    assert len(server.range_headers) == 1


def test_unknown_checksum_prints_the_digest(server, tmp_path, capsys):
    server.files["/data.zip"] = PAYLOAD
    download(f"{server.url}/data.zip", tmp_path / "data.zip", progress=False)
    assert DIGEST in capsys.readouterr().err


def test_checksum_mismatch_removes_the_file(server, tmp_path):
    server.files["/data.zip"] = PAYLOAD
    with pytest.raises(DownloadError, match="Checksum mismatch") as err:
        download(f"{server.url}/data.zip", tmp_path / "data.zip", sha256="0" * 64, progress=False)
    _one_sentence(str(err.value))
    assert not (tmp_path / "data.zip").exists() and not (tmp_path / "data.zip.part").exists()


def test_resume_from_a_partial_download(server, tmp_path):
    server.files["/data.zip"] = PAYLOAD
    (tmp_path / "data.zip.part").write_bytes(PAYLOAD[:1000])
    dest = download(f"{server.url}/data.zip", tmp_path / "data.zip", sha256=DIGEST, progress=False)
    assert dest.read_bytes() == PAYLOAD and server.range_headers == ["bytes=1000-"]


def test_restart_when_the_server_ignores_ranges(server, tmp_path):
    server.files["/data.zip"], server.ranges = PAYLOAD, False
    (tmp_path / "data.zip.part").write_bytes(b"stale bytes")
    assert download(f"{server.url}/data.zip", tmp_path / "data.zip", DIGEST, False).read_bytes() == PAYLOAD


def test_complete_part_file_is_accepted(server, tmp_path):
    server.files["/data.zip"] = PAYLOAD
    (tmp_path / "data.zip.part").write_bytes(PAYLOAD)  # the server answers 416
    assert download(f"{server.url}/data.zip", tmp_path / "data.zip", DIGEST, False).read_bytes() == PAYLOAD


def test_unreachable_host_is_one_sentence(tmp_path):
    url = _closed_port_url()
    with pytest.raises(DownloadError) as err:
        download(url, tmp_path / "x.zip", progress=False, timeout=5)
    message = str(err.value)
    _one_sentence(message)
    assert url in message and str(tmp_path / "x.zip") in message


def test_http_error_is_one_sentence(server, tmp_path):
    with pytest.raises(DownloadError, match="404") as err:
        download(f"{server.url}/missing.zip", tmp_path / "x.zip", progress=False)
    _one_sentence(str(err.value))


def test_download_flickr8k_unpacks_into_the_official_layout(server, tmp_path, monkeypatch):
    source = make_flickr8k(tmp_path / "source")
    images = {f"Flicker8k_Dataset/{p.name}": p.read_bytes() for p in (source / "Flicker8k_Dataset").iterdir()}
    images["__MACOSX/Flicker8k_Dataset/._1_a.jpg"] = b"resource fork"
    text = {p.name: p.read_bytes() for p in (source / "Flickr8k_text").iterdir()}  # flat, like the real archive
    server.files = {"/Flickr8k_Dataset.zip": _zip(images), "/Flickr8k_text.zip": _zip(text)}
    monkeypatch.setattr(dl, "FLICKR8K_URLS", {name: f"{server.url}/{name}" for name in dl.FLICKR8K_URLS})
    root = download_flickr8k(tmp_path / "data", progress=False)
    assert root == tmp_path / "data" / "flickr8k" and not list(root.glob("*.zip"))
    assert load_flickr8k(root).split_sizes() == {"train": 3, "val": 1, "test": 1}
    assert not (root / "__MACOSX").exists()
    assert download_flickr8k(tmp_path / "data") == root  # already complete: no request
    assert len(server.range_headers) == 2


def test_download_flickr8k_offline_says_where_to_put_the_files(tmp_path, monkeypatch):
    monkeypatch.setattr(dl, "FLICKR8K_URLS", {name: _closed_port_url() for name in dl.FLICKR8K_URLS})
    with pytest.raises(DownloadError) as err:
        download_flickr8k(tmp_path, progress=False)
    message = str(err.value)
    _one_sentence(message)
    assert "Flickr8k_Dataset.zip and Flickr8k_text.zip" in message and str(tmp_path / "flickr8k") in message
