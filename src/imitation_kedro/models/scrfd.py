"""InsightFace's SCRFD face detector (ONNX, onnxruntime): the detector the paper used (FIT 3.3).

The paper ran InsightFace ``FaceAnalysis`` with its default pack ``buffalo_l`` (detector
``det_10g.onnx``, ``det_size=(640, 640)``, ``det_thresh=0.5``). This module re-implements
``insightface.model_zoo.scrfd.SCRFD.detect`` without insightface or OpenCV:

1. letterbox: resize keeping the aspect ratio so the image fits ``input_size`` (width, height),
   bilinear with OpenCV's ``INTER_LINEAR`` pixel-centre convention (float, rounded; OpenCV's
   fixed-point arithmetic can differ by 1 grey level), pasted top-left on a black canvas;
2. blob ``(x - 127.5) / 128`` in RGB order (InsightFace reads BGR and swaps to RGB; our images
   are RGB already), NCHW float32;
3. per stride (8, 16, 32 with 2 anchors per location; or 8..128 with 1): anchor centres
   ``(col * stride, row * stride)``, scores, box distances ``* stride`` -> ``(x1, y1, x2, y2)``,
   keypoint offsets ``* stride`` -> 5 ``(x, y)`` points;
4. keep scores ``>= score_threshold``, divide by the letterbox scale, sort by score, greedy NMS
   (IoU with InsightFace's ``+1`` pixel areas, keep ``<= nms_threshold``).

Keypoints come out as InsightFace gives them to ``norm_crop``: left eye, right eye, nose, left and
right mouth corner (image left/right), ``(x, y)`` in original-image pixels -- the order and
coordinates :meth:`imitation_kedro.models.faces.DlibFaceDetector.five_points` returns, so both
detectors feed the same :func:`~imitation_kedro.models.faces.align_face`.

Weights are never downloaded: put the ``buffalo_l`` pack (InsightFace model zoo,
``buffalo_l.zip``: ``det_10g.onnx``, ``w600k_r50.onnx``, ...) in a local folder and point
``detector.path`` at ``det_10g.onnx``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

BUFFALO_L_HINT = (
    "get InsightFace's `buffalo_l` model pack (InsightFace model zoo, buffalo_l.zip, also what "
    "`insightface.app.FaceAnalysis()` downloads to ~/.insightface/models/buffalo_l/) on a machine "
    "with internet access and copy det_10g.onnx to this path; this project never downloads weights"
)

# InsightFace SCRFD exports: output count -> (strides, has keypoints)
_LAYOUTS = {
    6: ((8, 16, 32), False),
    9: ((8, 16, 32), True),
    10: ((8, 16, 32, 64, 128), False),
    15: ((8, 16, 32, 64, 128), True),
}


@dataclass(frozen=True)
class ScrfdFace:
    """One detection: ``box`` ``(x1, y1, x2, y2)`` and ``kps`` (5x2 or None) in image pixels."""

    box: tuple[float, float, float, float]
    score: float
    kps: np.ndarray | None

    @property
    def location(self) -> tuple[int, int, int, int]:
        """The box as dlib/face_recognition's ``(top, right, bottom, left)`` integers."""
        x1, y1, x2, y2 = self.box
        return round(y1), round(x2), round(y2), round(x1)


def onnx_providers(device: str, ort: Any, where: str) -> list[str]:
    """onnxruntime providers for ``device`` (``cpu``, ``cuda[:i]``, ``auto``)."""
    providers = ["CPUExecutionProvider"]
    has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if device.startswith("cuda") and not has_cuda:
        raise RuntimeError(
            f"{where} is {device!r} but onnxruntime has no CUDAExecutionProvider "
            "(install onnxruntime-gpu, or set device: cpu / auto)"
        )
    if has_cuda and (device.startswith("cuda") or device == "auto"):
        providers.insert(0, "CUDAExecutionProvider")
    return providers


def resize_bilinear(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """``cv2.resize(img, (width, height))`` (INTER_LINEAR, no antialiasing) in numpy, uint8."""
    src_h, src_w = rgb.shape[:2]
    if (src_w, src_h) == (width, height):
        return rgb.copy()

    def axis(dst: int, src: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = (np.arange(dst, dtype=np.float64) + 0.5) * (src / dst) - 0.5
        lo = np.floor(pos)
        frac = pos - lo
        lo = lo.astype(np.int64)
        return np.clip(lo, 0, src - 1), np.clip(lo + 1, 0, src - 1), frac

    x0, x1, fx = axis(width, src_w)
    y0, y1, fy = axis(height, src_h)
    img = rgb.astype(np.float32)
    fx32 = fx.astype(np.float32)[None, :, None]
    rows = img[:, x0] * (1 - fx32) + img[:, x1] * fx32  # (src_h, width, 3)
    fy32 = fy.astype(np.float32)[:, None, None]
    out = rows[y0] * (1 - fy32) + rows[y1] * fy32
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def letterbox(rgb: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """``rgb`` resized to fit ``size`` (width, height) keeping aspect, top-left on black; scale."""
    in_w, in_h = size
    h, w = rgb.shape[:2]
    if float(h) / w > float(in_h) / in_w:
        new_h = in_h
        new_w = int(new_h / (float(h) / w))
    else:
        new_w = in_w
        new_h = int(new_w * (float(h) / w))
    new_w, new_h = max(new_w, 1), max(new_h, 1)
    canvas = np.zeros((in_h, in_w, 3), dtype=np.uint8)
    canvas[:new_h, :new_w] = resize_bilinear(rgb, new_w, new_h)
    return canvas, float(new_h) / h


def anchor_centres(height: int, width: int, stride: int, num_anchors: int) -> np.ndarray:
    """``(height * width * num_anchors, 2)`` centres ``(x, y)``: row-major, anchors innermost."""
    ys, xs = np.mgrid[:height, :width]
    centres = (np.stack([xs, ys], axis=-1).astype(np.float32) * stride).reshape(-1, 2)
    return np.repeat(centres, num_anchors, axis=0) if num_anchors > 1 else centres


def distance2bbox(points: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Centres + (left, top, right, bottom) distances -> ``(x1, y1, x2, y2)``."""
    return np.stack(
        [
            points[:, 0] - distance[:, 0],
            points[:, 1] - distance[:, 1],
            points[:, 0] + distance[:, 2],
            points[:, 1] + distance[:, 3],
        ],
        axis=-1,
    )


def distance2kps(points: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Centres + ``(dx, dy)`` offsets per keypoint -> ``(n, k, 2)`` points."""
    offsets = distance.reshape(len(distance), distance.shape[1] // 2, 2)
    return points[:, None, :] + offsets


def nms(dets: np.ndarray, threshold: float) -> list[int]:
    """Greedy NMS over ``(x1, y1, x2, y2, score)`` rows as InsightFace does it (``+1`` areas)."""
    x1, y1, x2, y2, scores = (dets[:, i] for i in range(5))
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep: list[int] = []
    while order.size > 0:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        overlap = inter / (areas[i] + areas[rest] - inter)
        order = rest[overlap <= threshold]
    return keep


class ScrfdFaceDetector:
    """SCRFD ONNX face detector with the ``locate`` / ``five_points`` interface of the dlib one.

    ``locate(rgb)`` returns :class:`ScrfdFace` objects (sorted by score); ``five_points`` reads
    their keypoints. ``detect(rgb)`` gives InsightFace's arrays: ``(n, 5)`` boxes + score and
    ``(n, 5, 2)`` keypoints (None for a model without keypoint outputs). A model with a fixed
    input shape uses that shape (InsightFace ignores ``det_size`` then, so does this class).
    """

    def __init__(
        self,
        model_path: str | Path,
        score_threshold: float = 0.5,
        nms_threshold: float = 0.4,
        input_size: int | tuple[int, int] = 640,
        device: str = "cpu",
        where: str = "detector.path",
    ) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(
                f"SCRFD detector model {str(path)!r} does not exist ({where}): {BUFFALO_L_HINT}"
            )
        try:
            import onnxruntime as ort  # noqa: PLC0415
        except ImportError as exc:
            raise ImportError(
                "the SCRFD detector needs onnxruntime (the `faces` extra: pip install onnxruntime)"
            ) from exc
        self.path = path
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self._providers = onnx_providers(device, ort, "detector device")
        self.session = ort.InferenceSession(str(path), providers=self._providers)
        self._pid, self._lock, self._inherited = os.getpid(), threading.Lock(), []
        inp = self.session.get_inputs()[0]
        self._input = inp.name
        self._outputs = [o.name for o in self.session.get_outputs()]
        if len(self._outputs) not in _LAYOUTS:
            raise ValueError(
                f"{path}: {len(self._outputs)} outputs; an SCRFD export has 6 or 9 (strides 8/16/32, "
                "without/with keypoints) or 10 or 15 (strides 8..128)"
            )
        self.strides, self.has_keypoints = _LAYOUTS[len(self._outputs)]
        wanted = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
        shape = list(inp.shape)
        if len(shape) == 4 and isinstance(shape[2], int) and isinstance(shape[3], int):
            fixed = (int(shape[3]), int(shape[2]))
            if fixed != wanted:
                log.warning(
                    "%s has a fixed input size %s; detector input_size %s is ignored", path, fixed, wanted
                )
            self.input_size = fixed
        else:
            self.input_size = (int(wanted[0]), int(wanted[1]))
        if min(self.input_size) < max(self.strides):
            raise ValueError(f"detector input_size {self.input_size} is smaller than stride {max(self.strides)}")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        w, h = self.input_size
        # part of the embedder's cache name: another detector or setting -> other crops and counts
        self.cache_tag = f"scrfd-{digest}-t{self.score_threshold:g}-n{self.nms_threshold:g}-{w}x{h}"

    def _session(self) -> Any:
        """The session; a forked worker (similarity ``decode_backend: process``) opens its own,
        since onnxruntime's thread pools do not survive a fork. The parent's session is kept,
        never freed in the child: its destructor would wait for threads the child does not have."""
        if os.getpid() != self._pid:
            with self._lock:
                if os.getpid() != self._pid:
                    import onnxruntime as ort  # noqa: PLC0415

                    self._inherited.append(self.session)
                    self.session = ort.InferenceSession(str(self.path), providers=self._providers)
                    self._pid = os.getpid()
        return self.session

    def _group(self, outputs: list[np.ndarray]) -> tuple[list, list, list]:
        """Per stride (ascending): scores ``(n,)``, box distances ``(n, 4)``, kps ``(n, 10)``.

        Outputs are told apart by their last dimension (1: score, 4: box, 10: keypoints), so
        InsightFace's order (all scores, all boxes, all keypoints) and a per-stride interleaved
        export both work; within a kind, the largest output is the finest stride.
        """
        kinds: dict[int, list[np.ndarray]] = {1: [], 4: [], 10: []}
        for name, out in zip(self._outputs, outputs, strict=True):
            arr = np.asarray(out, dtype=np.float32)
            last = arr.shape[-1] if arr.ndim >= 2 else 1
            if last not in kinds:
                raise ValueError(
                    f"{self.path}: output {name!r} has shape {arr.shape}; SCRFD outputs end in 1 "
                    "(scores), 4 (box distances) or 10 (keypoint offsets)"
                )
            kinds[last].append(arr.reshape(-1, last))
        fmc = len(self.strides)
        want = {1: fmc, 4: fmc, 10: fmc if self.has_keypoints else 0}
        if any(len(kinds[k]) != n for k, n in want.items()):
            got = {k: len(v) for k, v in kinds.items()}
            raise ValueError(
                f"{self.path}: expected {fmc} score, {fmc} box and {want[10]} keypoint outputs, "
                f"got {got[1]}, {got[4]} and {got[10]}"
            )
        ordered = {k: sorted(v, key=len, reverse=True) for k, v in kinds.items()}
        scores = [o.reshape(-1) for o in ordered[1]]
        kps = ordered[10] if self.has_keypoints else [None] * fmc
        return scores, ordered[4], kps

    def detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """InsightFace ``SCRFD.detect(img, max_num=0)`` on an RGB uint8 ``(H, W, 3)`` array."""
        canvas, scale = letterbox(rgb, self.input_size)
        blob = ((canvas.astype(np.float32) - 127.5) / 128.0).transpose(2, 0, 1)[None]
        outputs = self._session().run(self._outputs, {self._input: np.ascontiguousarray(blob)})
        in_w, in_h = self.input_size
        all_scores, all_boxes, all_kps = [], [], []
        for stride, score, dist, kdist in zip(self.strides, *self._group(outputs), strict=True):
            height, width = in_h // stride, in_w // stride
            cells = height * width
            if score.size % cells or dist.shape[0] != score.size:
                raise ValueError(
                    f"{self.path}: stride {stride} outputs have {score.size} scores and "
                    f"{dist.shape[0]} boxes, not a multiple of the {height}x{width} grid "
                    f"for input size {in_w}x{in_h}"
                )
            centres = anchor_centres(height, width, stride, score.size // cells)
            keep = np.where(score >= self.score_threshold)[0]
            all_scores.append(score[keep])
            all_boxes.append(distance2bbox(centres[keep], dist[keep] * stride))
            if kdist is not None:
                all_kps.append(distance2kps(centres[keep], kdist[keep] * stride))
        scores = np.concatenate(all_scores)
        order = scores.argsort()[::-1]
        dets = np.hstack([np.concatenate(all_boxes) / scale, scores[:, None]]).astype(np.float32)
        dets = dets[order]
        keep = nms(dets, self.nms_threshold) if len(dets) else []
        kps = None
        if self.has_keypoints:
            kps = (np.concatenate(all_kps) / scale)[order][keep].astype(np.float32)
        return dets[keep], kps

    def locate(self, rgb: np.ndarray) -> list[ScrfdFace]:
        dets, kps = self.detect(rgb)
        return [
            ScrfdFace(
                tuple(float(v) for v in det[:4]),  # type: ignore[arg-type]
                float(det[4]),
                None if kps is None else kps[i].astype(np.float64),
            )
            for i, det in enumerate(dets)
        ]

    def five_points(self, rgb: np.ndarray, location: ScrfdFace) -> np.ndarray:
        """The face's 5 keypoints (5x2 ``(x, y)``, float64); ``rgb`` is unused (already detected)."""
        if location.kps is None:
            raise ValueError(
                f"SCRFD model {str(self.path)!r} has no keypoint outputs (6 or 10 outputs): faces "
                "cannot be aligned for ArcFace; use a keypoint export such as buffalo_l det_10g.onnx"
            )
        return np.array(location.kps, dtype=np.float64)
