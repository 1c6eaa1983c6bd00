"""OVSS engine: open-vocabulary land-cover segmentation without QGIS.

Everything here is importable without QGIS or Qt. Heavy dependencies (torch, open_clip, timm,
scikit-image) are imported lazily inside the modules that need them, so importing the package is cheap.
"""

__version__ = "0.1.0"
