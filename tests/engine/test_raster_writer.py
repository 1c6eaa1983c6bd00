"""Streaming GeoTIFF writer: output checks, georeferencing, atomic commit and abort."""

import os

import numpy as np
import pytest
from osgeo import gdal
from raster_fixtures import GEOTRANSFORM, utm32_wkt, write_raster

from engine.errors import RasterError
from engine.raster.tiles import Window
from engine.raster.writer import Georeference, GeoTiffWriter, RasterSpec, check_output_path


def test_missing_output_folder(tmp_path):
    with pytest.raises(RasterError, match=r"output folder does not exist: .*missing"):
        check_output_path(tmp_path / "missing" / "out.tif")


def test_output_is_a_folder(tmp_path):
    with pytest.raises(RasterError, match="output path is a folder"):
        check_output_path(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(RasterError, match="output folder is not writable"):
            check_output_path(folder / "out.tif")
    finally:
        folder.chmod(0o755)


def test_georeference_of_window_moves_origin(tmp_path):
    rotated = (1000.0, 2.0, 0.5, 5000.0, 0.25, -2.0)
    path = write_raster(tmp_path / "r.tif", np.zeros((1, 20, 30), dtype=np.uint8), geotransform=rotated)
    georef = Georeference.of(gdal.Open(str(path)), Window(3, 7, 10, 10))
    x, y = 3, 7  # the window's top-left pixel corner in the input's geotransform
    assert georef.geotransform == (
        rotated[0] + x * rotated[1] + y * rotated[2],
        2.0,
        0.5,
        rotated[3] + x * rotated[4] + y * rotated[5],
        0.25,
        -2.0,
    )


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_commit_writes_compressed_tiled_raster_with_names(tmp_path):
    spec = RasterSpec(
        1,
        "Byte",
        0,
        {"OVSS_METHOD": "x"},
        [(0, 0, 0, 0), (255, 0, 0, 255), (0, 0, 255, 255)],
        ["nodata", "red", "blue"],
    )
    georef = Georeference(GEOTRANSFORM, utm32_wkt())
    writer = GeoTiffWriter(tmp_path / "out.tif", 40, 30, spec, georef)
    data = np.random.default_rng(0).integers(0, 3, size=(30, 40)).astype(np.uint8)
    writer.write(Window(0, 0, 25, 30), data[:, :25])
    writer.write(Window(25, 0, 15, 30), data[:, 25:])
    writer.commit()
    assert _files(tmp_path) == ["out.tif", "out.tif.aux.xml"]
    ds = gdal.Open(str(tmp_path / "out.tif"))
    band = ds.GetRasterBand(1)
    assert np.array_equal(band.ReadAsArray(), data)
    # GDAL 3.6's GTiff loads the .aux.xml lazily: GetCategoryNames alone does not trigger it, so ask after
    # the colour table (as every reader that styles the layer does)
    assert band.GetColorTable().GetColorEntry(1) == (255, 0, 0, 255)
    assert band.GetCategoryNames() == ["nodata", "red", "blue"]
    assert band.GetNoDataValue() == 0
    assert band.GetBlockSize() == [256, 256]
    assert ds.GetMetadata_Dict("IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"
    assert ds.GetMetadataItem("OVSS_METHOD") == "x"
    assert ds.GetGeoTransform() == GEOTRANSFORM


def test_abort_leaves_existing_target_untouched(tmp_path):
    target = tmp_path / "out.tif"
    target.write_bytes(b"previous result")
    writer = GeoTiffWriter(target, 10, 10, RasterSpec(1, "Byte"), Georeference(None, ""))
    writer.write(Window(0, 0, 10, 10), np.ones((10, 10), dtype=np.uint8))
    writer.abort()
    assert _files(tmp_path) == ["out.tif"]
    assert target.read_bytes() == b"previous result"


def test_exception_inside_context_aborts(tmp_path):
    with (
        pytest.raises(KeyError),
        GeoTiffWriter(tmp_path / "o.tif", 5, 5, RasterSpec(1, "Byte"), Georeference(None, "")),
    ):
        raise KeyError("boom")
    assert _files(tmp_path) == []


def test_finished_strips_are_compressed_during_the_run(tmp_path):
    """compress_rows copies only whole 256-row strips of finished rows (all rows at the height), every band;
    the committed raster is exactly what was written, and the compressed copy holds each block once."""
    height, width, bands = 600, 300, 3
    data = np.random.default_rng(1).random((bands, height, width)).astype(np.float32)
    spec = RasterSpec(bands, "Float32", -1.0)
    writer = GeoTiffWriter(tmp_path / "p.tif", width, height, spec, Georeference(None, ""))
    compressed = tmp_path / next(name for name in _files(tmp_path) if not name.endswith(".raw.tif"))
    assert compressed.stat().st_size == 0  # the compressed temporary, not written yet
    writer.write(Window(0, 0, width, 300), data[:, :300])
    writer.compress_rows(300)
    first = compressed.stat().st_size
    assert first > 0 and writer._compressed_rows == 256  # rows 256..299 wait for the rest of their strip
    writer.write(Window(0, 300, width, 300), data[:, 300:])
    writer.compress_rows(height)
    assert writer._compressed_rows == height and compressed.stat().st_size > first
    writer.compress_rows(height)  # nothing left: no second copy
    writer.commit()
    out = gdal.Open(str(tmp_path / "p.tif"))
    assert np.array_equal(out.ReadAsArray(), data)
    assert out.GetMetadata_Dict("IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"
    assert os.path.getsize(tmp_path / "p.tif") < 1.1 * data.nbytes  # random floats barely compress; no block twice
