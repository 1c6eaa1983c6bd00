"""The files a run writes, checked before it starts so that it never replaces what it must not.

Every output is a GeoTIFF (``.tif`` or ``.tiff``) written with its ``.aux.xml`` (GDAL's colour table and
category names) and its QGIS style ``<stem>.qml``. None of these may be a file of the input, whatever the
spelling (relative, ``..``, a symbolic or hard link): the raster, its sidecars (``.aux.xml``, ``.ovr``,
``.msk``), its QGIS style, or any file GDAL reads for it (``GetFileList``: the sources of a VRT, world
files...). Nor may two outputs of one run share a file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import RasterError
from .qml import style_path
from .writer import check_output_path

GEOTIFF_SUFFIXES = (".tif", ".tiff")
INPUT_SIDECARS = (".aux.xml", ".ovr", ".msk")


def check_geotiff_path(path: str | os.PathLike[str]) -> Path:
    """:func:`check_output_path` for an output GeoTIFF, which must be named ``.tif`` or ``.tiff``."""
    target = check_output_path(path)
    if target.suffix.lower() not in GEOTIFF_SUFFIXES:
        raise RasterError(
            f"output must be a GeoTIFF named .tif or .tiff (other formats are not written): {target}"
        )
    return target


def written_files(target: Path) -> tuple[Path, ...]:
    """The files writing the output ``target`` creates or replaces."""
    return target, Path(f"{target}.aux.xml"), style_path(target)


def input_files(dataset: Any) -> tuple[Path, ...]:
    """The files of an open input raster: itself, every file GDAL reads for it, its sidecars and style."""
    name = dataset.GetDescription()
    files = [Path(name), *(Path(f) for f in dataset.GetFileList() or ())]
    files += [Path(f"{name}{suffix}") for suffix in INPUT_SIDECARS]
    files.append(style_path(name))
    return tuple(files)


def _same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one file (resolved spelling, or the same inode when both exist)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_run_outputs(
    outputs: Sequence[str | os.PathLike[str] | None], input_dataset: Any | None = None
) -> list[Path | None]:
    """Each output checked (:func:`check_geotiff_path`) and made absolute (None stays None).

    :class:`RasterError` when an output, or a file written with it, is a file of the input or of an
    earlier output of the run.
    """
    taken: list[tuple[Path, str]] = []
    if input_dataset is not None:
        main, *others = input_files(input_dataset)
        taken.append((main, f"the input {main}"))
        taken += [(path, f"{path}, a file of the input {main}") for path in others]
    checked: list[Path | None] = []
    for output in outputs:
        if output is None:
            checked.append(None)
            continue
        target = check_geotiff_path(output)
        for written in written_files(target):
            for path, what in taken:
                if _same_file(written, path):
                    raise RasterError(f"output {target} would overwrite {what}")
        taken += [(path, f"{path}, written for another output of the run") for path in written_files(target)]
        checked.append(target)
    return checked


def check_product_paths(paths: Sequence[str | os.PathLike[str] | None], input_dataset: Any) -> None:
    """:class:`RasterError` when a product of the run (polygons, statistics, report, quick-look) would
    overwrite a file of the input (:func:`input_files`)."""
    inputs = input_files(input_dataset)
    for path in paths:
        if path is None:
            continue
        for taken in inputs:
            if _same_file(Path(path).absolute(), taken):
                raise RasterError(f"{Path(path).absolute()} would overwrite {taken}, a file of the input")
