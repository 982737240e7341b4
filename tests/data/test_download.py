"""Checksummed download against a local HTTP server: success, bad checksum, 404, unknown name."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from shortlist.data.datasets import (
    DownloadError,
    detect_format,
    download_file,
    extract_zip,
    fetch_dataset,
    load_dataset,
)
from shortlist.errors import ChecksumError, ConfigError, DatasetFormatError, ShortlistError

# a tiny folder in the ml-100k layout: 3 users, 2 items
TOY_FILES = {
    "u.data": "1\t10\t5\t100\n2\t10\t3\t101\n3\t20\t4\t102\n1\t20\t1\t103\n",
    "u.user": "1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|32067\n",
    "u.item": "10|Ten (1995)|01-Jan-1995||http://x|0|1\n20|Twenty|||http://y|1|1\n",
    "u.genre": "unknown|0\nAction|1\n\n",
}


def _zip_bytes(files: dict[str, str], root: str | None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(f"{root}/{name}" if root else name, text)
    return buf.getvalue()


class _Server:
    """http.server on 127.0.0.1, random port, serving a dict path -> bytes and counting requests."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files, self.requests = files, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # http.server's naming
                outer.requests.append(self.path)
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                # "/cut.zip" announces more bytes than it sends, like a dropped connection
                extra = 1000 if self.path == "/cut.zip" else 0
                self.send_header("Content-Length", str(len(body) + extra))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # keep test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


@pytest.fixture
def server():
    payload = _zip_bytes(TOY_FILES, root="toy-100k")
    srv = _Server({"/toy.zip": payload, "/flat.zip": _zip_bytes(TOY_FILES, root=None),
                   "/notes.txt": b"plain file", "/cut.zip": payload})
    srv.sha256 = hashlib.sha256(payload).hexdigest()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
    srv.thread.join(timeout=5)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_fetch_success_extracts_and_loads(server, tmp_path):
    folder = fetch_dataset("toy", tmp_path, url=server.url("/toy.zip"), sha256=server.sha256,
                           progress=False)
    assert folder == tmp_path / "toy"
    assert sorted(p.name for p in folder.iterdir()) == sorted(TOY_FILES)  # single root unwrapped
    assert (folder / "u.data").read_text() == TOY_FILES["u.data"]
    assert _leftovers(tmp_path) == ["toy"]  # no archive, no temp files
    assert detect_format(folder) == "ml-100k"
    data = load_dataset(folder)
    assert (data.interactions.n_events, data.interactions.n_users, data.interactions.n_items) == (4, 3, 2)
    genres, names = data.item_features.multi_hot("genres")
    assert names == ("unknown", "Action")
    np.testing.assert_array_equal(genres.toarray(), [[0, 1], [1, 1]])
    np.testing.assert_array_equal(data.item_features.numeric("year"), [1995, np.nan])
    # a second fetch reuses the folder without touching the network
    assert fetch_dataset("toy", tmp_path, url=server.url("/toy.zip"), sha256=server.sha256) == folder
    assert server.requests == ["/toy.zip"]


def test_fetch_flat_zip_and_sha256_case(server, tmp_path):
    flat = server.files["/flat.zip"]
    folder = fetch_dataset("flat", tmp_path, url=server.url("/flat.zip"),
                           sha256=hashlib.sha256(flat).hexdigest().upper(), progress=False)
    assert sorted(p.name for p in folder.iterdir()) == sorted(TOY_FILES)


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    wrong = "0" * 64
    with pytest.raises(ChecksumError) as exc:
        fetch_dataset("toy", tmp_path, url=server.url("/toy.zip"), sha256=wrong, progress=False)
    msg = str(exc.value)
    assert wrong in msg and server.sha256 in msg and "--sha256" in msg
    assert _leftovers(tmp_path) == []


def test_registry_checksum_applies_to_a_mirror_url(server, tmp_path):
    # the toy archive is not the real ml-100k.zip: the known sha256 must reject it
    with pytest.raises(ChecksumError, match="50d2a982"):
        fetch_dataset("ml-100k", tmp_path, url=server.url("/toy.zip"), progress=False)
    assert _leftovers(tmp_path) == []


def test_http_404(server, tmp_path):
    with pytest.raises(DownloadError) as exc:
        fetch_dataset("toy", tmp_path, url=server.url("/missing.zip"), sha256=server.sha256,
                      progress=False)
    assert isinstance(exc.value, ShortlistError)
    assert "404" in str(exc.value) and "/missing.zip" in str(exc.value)
    assert _leftovers(tmp_path) == []


def test_truncated_transfer(server, tmp_path):
    with pytest.raises(DownloadError, match="cut short"):
        fetch_dataset("toy", tmp_path, url=server.url("/cut.zip"), sha256=server.sha256, progress=False)
    assert _leftovers(tmp_path) == []


def test_unreachable_host(tmp_path):
    with pytest.raises(DownloadError, match="failed"):
        download_file("http://127.0.0.1:9/x.zip", tmp_path / "x.zip", timeout=2, progress=False)
    assert _leftovers(tmp_path) == []


def test_unknown_name(tmp_path):
    with pytest.raises(ConfigError) as exc:
        fetch_dataset("ml-1b", tmp_path)
    assert "ml-1b" in str(exc.value) and "ml-100k" in str(exc.value) and "--url" in str(exc.value)
    assert _leftovers(tmp_path) == []


def test_bad_sha256_text_and_bad_name(server, tmp_path):
    with pytest.raises(ConfigError, match="64 hex digits"):
        fetch_dataset("toy", tmp_path, url=server.url("/toy.zip"), sha256="abc")
    with pytest.raises(ConfigError, match="plain folder name"):
        fetch_dataset("../up", tmp_path, url=server.url("/toy.zip"), sha256=server.sha256)
    assert server.requests == []


def test_no_checksum_warns_and_non_zip_is_kept(server, tmp_path):
    with pytest.warns(UserWarning, match="not verified"):
        folder = fetch_dataset("notes", tmp_path, url=server.url("/notes.txt"), progress=False)
    assert (folder / "notes.txt").read_bytes() == b"plain file"


def test_extract_zip_refuses_unsafe_paths(tmp_path):
    archive = tmp_path / "evil.zip"
    archive.write_bytes(_zip_bytes({"../escape.txt": "x"}, root=None))
    with pytest.raises(DatasetFormatError, match="unsafe"):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path.parent / "escape.txt").exists()
    assert _leftovers(tmp_path) == ["evil.zip"]
