"""Image acquisition: download path against a local HTTP server, resume, cleaning, shipped shards."""

from __future__ import annotations

import http.server
import io
import threading

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from imitation_kedro.datasets.shard_folder import ShardFolder
from imitation_kedro.pipelines.frequency import acquisition as acq
from imitation_kedro.pipelines.frequency.nodes import (
    collect_images,
    download_images,
    plan_downloads,
)
from imitation_kedro.pipelines.frequency.params import AcquisitionParams, FrequencyParams
from tests.pipelines.frequency.synthetic import loaders


def _png(w, h, noise=True):
    rng = np.random.default_rng(w * 1000 + h)
    arr = (
        rng.integers(0, 255, (h, w, 3), dtype=np.uint8) if noise else np.zeros((h, w, 3), np.uint8)
    )
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


FILES = {
    "/ok1.png": _png(32, 32),
    "/ok2.png": _png(24, 40),
    "/corrupt.png": b"\x89PNG\r\n\x1a\n" + b"garbage" * 200,
    "/line.png": _png(64, 1),
    "/tiny.png": _png(2, 2, noise=False),
}


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server API
        type(self).hits.append(self.path)
        body = FILES.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _hits(base):
    names = ["ok1", "ok2", "corrupt", "line", "tiny", "dead"]
    return pd.DataFrame(
        {
            "concept": ["A"] * 4 + ["B"] * 3,
            "SAMPLE_ID": [1, 2, 3, 4, 5, 6, 1],  # SAMPLE_ID 1 is a hit of both A and B
            "URL": [f"{base}/{n}.png" for n in names] + [f"{base}/ok1.png"],
            "TEXT": [f"caption {n}" for n in names] + ["caption ok1"],
        }
    )


def test_download_clean_and_resume(server, tmp_path):
    out = tmp_path / "shards"
    params = FrequencyParams(
        acquisition={
            "source": "download",
            "shard_size": 4,
            "min_bytes": 200,
            "timeout_s": 5,
            "threads": 4,
        }
    )
    requests = plan_downloads(_hits(server))
    assert requests["key"].tolist() == [f"{i:09d}" for i in range(1, 7)]  # one request per row
    _Handler.hits.clear()
    summary = download_images(requests, ShardFolder(out), params.acquisition)
    assert summary["action"].tolist() == ["downloaded", "downloaded"]
    assert len(_Handler.hits) == 6
    from kedro_datasets.partitions import PartitionedDataset

    shards = PartitionedDataset(
        path=str(out), dataset="pandas.ParquetDataset", filename_suffix=".parquet"
    )
    store = ShardFolder(tmp_path / "clean")
    clean, rejects = collect_images(requests, shards.load(), summary, store, params.acquisition)
    assert clean["key"].tolist() == ["000000001", "000000002"]
    assert (clean["shard"] == "clean-00000").all() and store.read("clean-00000")["key"].tolist() == [
        "000000001", "000000002"
    ]
    reasons = dict(zip(rejects["key"], rejects["reason"], strict=True))
    assert reasons == {
        "000000003": "unreadable",
        "000000004": "too_small",
        "000000005": "too_few_bytes",
        "000000006": "dead_url",
    }
    assert "404" in rejects.set_index("key").loc["000000006", "detail"]
    # resumed: complete shards are kept, nothing is fetched again
    _Handler.hits.clear()
    again = download_images(requests, ShardFolder(out), params.acquisition)
    assert again["action"].tolist() == ["kept", "kept"] and _Handler.hits == []
    # retry_failed re-fetches only the dead URL of its shard
    retry = FrequencyParams(acquisition={**params.acquisition.to_dict(), "retry_failed": True})
    download_images(requests, ShardFolder(out), retry.acquisition)
    assert _Handler.hits == ["/dead.png"]


def test_shipped_images_missing_keys_are_counted_rejects(tmp_path):
    hits = pd.DataFrame(
        {"concept": ["A", "A"], "SAMPLE_ID": [7, 8], "URL": ["u7", "u8"], "TEXT": ["a", "b"]}
    )
    requests = plan_downloads(hits)
    shards = {
        "part-0": pd.DataFrame(
            {
                "key": ["000000007", "000000099"],
                "url": ["u7", "u99"],
                "caption": ["a", "z"],
                "status": ["success"] * 2,
                "width": [32, 32],
                "height": [32, 32],
                "png": [_png(32, 32), _png(32, 32)],
            }
        )
    }
    params = FrequencyParams(acquisition={"min_bytes": 10})
    summary = download_images(requests, ShardFolder("unused"), params.acquisition)
    clean, rejects = collect_images(
        requests, loaders(shards), summary, ShardFolder(tmp_path / "clean"), params.acquisition
    )
    assert clean["key"].tolist() == ["000000007"]
    assert rejects[["key", "reason"]].values.tolist() == [["000000008", "missing"]]


def test_zero_usable_images_is_an_error(tmp_path):
    hits = pd.DataFrame({"concept": ["A"], "SAMPLE_ID": [7], "URL": ["u7"], "TEXT": ["a"]})
    requests = plan_downloads(hits)
    shards = {
        "p": pd.DataFrame(
            {
                "key": ["000000007"],
                "status": ["failed_to_download"],
                "png": [None],
                "error_message": ["HTTP 404"],
            }
        )
    }
    params = FrequencyParams()
    with pytest.raises(acq.AcquisitionError, match="none of the 1 requested images.*dead_url"):
        summary = download_images(requests, ShardFolder("unused"), params.acquisition)
        collect_images(
            requests, loaders(shards), summary, ShardFolder(tmp_path / "c"), params.acquisition
        )


def test_bad_image_shard_is_named():
    requests = plan_downloads(
        pd.DataFrame({"concept": ["A"], "SAMPLE_ID": [7], "URL": ["u"], "TEXT": ["a"]})
    )
    with pytest.raises(acq.AcquisitionError, match="'p' lacks column.*columns found"):
        acq.read_shards(loaders({"p": pd.DataFrame({"key": ["000000007"]})}), set(requests["key"]))

    def broken():
        raise OSError("Parquet magic bytes not found")

    with pytest.raises(acq.AcquisitionError, match="'q' could not be read as parquet"):
        acq.read_shards({"q": broken}, {"x"})


def test_img2dataset_arguments_mirror_the_builtin_settings(tmp_path):
    p = AcquisitionParams(timeout_s=30, retries=2, threads=8, shard_size=500)
    kw = acq.img2dataset_kwargs(tmp_path / "r.parquet", tmp_path, p)
    assert kw["encode_format"] == "png" and kw["resize_mode"] == "no"
    assert kw["incremental_mode"] == "incremental" and kw["save_additional_columns"] == [
        "sample_key"
    ]
    assert (kw["timeout"], kw["retries"], kw["thread_count"], kw["number_sample_per_shard"]) == (
        30,
        2,
        8,
        500,
    )
