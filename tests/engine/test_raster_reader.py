"""Reading rasters: opening errors, band mapping, stretch, validity masks and filling."""

import numpy as np
import pytest
from raster_fixtures import write_raster

from engine.errors import RasterError
from engine.raster.reader import RasterReader, fill_invalid, open_raster
from engine.raster.tiles import Window


def test_missing_file(tmp_path):
    with pytest.raises(RasterError, match=r"input raster not found: .*nope\.tif"):
        open_raster(tmp_path / "nope.tif")


def test_empty_file(tmp_path):
    (tmp_path / "empty.tif").write_bytes(b"")
    with pytest.raises(RasterError, match=r"input file is empty \(0 bytes\)"):
        open_raster(tmp_path / "empty.tif")


def test_not_a_raster(tmp_path):
    (tmp_path / "notes.tif").write_text("not a raster at all\n")
    with pytest.raises(RasterError, match="not a raster GDAL can read"):
        open_raster(tmp_path / "notes.tif")


def test_folder(tmp_path):
    with pytest.raises(RasterError, match="input is a folder"):
        open_raster(tmp_path)


def test_zero_size_raster(tmp_path):
    path = tmp_path / "zero.vrt"
    path.write_text(
        '<VRTDataset rasterXSize="0" rasterYSize="10"><VRTRasterBand dataType="Byte" band="1"/></VRTDataset>'
    )
    with pytest.raises(RasterError, match=r"zero|dimensions"):
        open_raster(path)


@pytest.mark.parametrize(
    ("bands", "message"),
    [
        ((1, 2, 4), "band 4 is out of range"),
        ((0,), "band 0 is out"),
        ((1, 2), "give one band or three bands"),
    ],
)
def test_bad_band_mapping(tmp_path, bands, message):
    path = write_raster(tmp_path / "rgb.tif", np.zeros((3, 8, 8), dtype=np.uint8))
    with pytest.raises(RasterError, match=message):
        RasterReader(path, bands)


def test_window_outside_raster(tmp_path):
    path = write_raster(tmp_path / "rgb.tif", np.zeros((3, 8, 8), dtype=np.uint8))
    with pytest.raises(RasterError, match="outside the raster"):
        RasterReader(path, window=Window(4, 4, 8, 8))


def test_band_mapping_and_single_band_repeat(tmp_path):
    data = np.stack([np.full((6, 5), v, dtype=np.uint8) for v in (10, 20, 30, 40)])
    path = write_raster(tmp_path / "four.tif", data)
    rgb, valid = RasterReader(path, (4, 3, 2)).read(Window(0, 0, 5, 6))
    assert valid.all() and [float(rgb[c, 0, 0]) for c in range(3)] == [40.0, 30.0, 20.0]
    rgb, _ = RasterReader(path, (2,)).read(Window(0, 0, 5, 6))
    assert (rgb == 20.0).all()
    grey = write_raster(tmp_path / "grey.tif", data[:1])
    reader = RasterReader(grey)
    assert reader.bands == (1, 1, 1)
    # grey + alpha: the alpha band is not a colour band, band 1 is repeated
    grey_alpha = write_raster(tmp_path / "ga.tif", data[:1], alpha=np.full((6, 5), 255))
    assert RasterReader(grey_alpha).bands == (1, 1, 1)


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.uint32, np.float32, np.float64])
def test_non_byte_stretch_matches_percentiles(tmp_path, dtype):
    rng = np.random.default_rng(0)
    low = -500 if np.issubdtype(dtype, np.signedinteger) or dtype in (np.float32, np.float64) else 0
    data = rng.integers(low, low + 4000, size=(3, 40, 50)).astype(dtype)
    path = write_raster(tmp_path / "data.tif", data)
    reader = RasterReader(path)
    rgb, _ = reader.read(Window(10, 5, 30, 20))
    for c in range(3):
        lo, hi = np.percentile(data[c].astype(np.float64), (2, 98))  # small raster: the sample is all of it
        expected = np.clip((data[c, 5:25, 10:40].astype(np.float64) - lo) * 255 / (hi - lo), 0, 255)
        np.testing.assert_allclose(rgb[c], expected, atol=1e-3)
    assert rgb.dtype == np.float32


def test_byte_passes_through(tmp_path):
    data = np.random.default_rng(1).integers(0, 256, size=(3, 9, 11)).astype(np.uint8)
    path = write_raster(tmp_path / "b.tif", data)
    rgb, _ = RasterReader(path).read(Window(0, 0, 11, 9))
    assert np.array_equal(rgb, data.astype(np.float32))


def test_stretch_from_decimated_read_ignores_nodata(tmp_path):
    data = np.full((1, 2000, 1500), 1000, dtype=np.uint16)
    data[0, :, 750:] = 3000
    data[0, :100] = 0  # nodata stripe must not pull the low percentile down
    path = write_raster(tmp_path / "big.tif", data, nodata=0)
    reader = RasterReader(path)
    assert reader.stretch.ranges[1] == (1000.0, 3000.0)


def test_nodata_mask_and_alpha_give_validity(tmp_path):
    data = np.random.default_rng(2).integers(1, 200, size=(3, 12, 10)).astype(np.uint8)
    invalid = np.zeros((12, 10), dtype=bool)
    invalid[2:5, 3:8] = True
    with_nodata = data.copy()
    with_nodata[0][invalid] = 0
    cases = {
        "nodata": write_raster(tmp_path / "nd.tif", with_nodata, nodata=0),
        "mask": write_raster(tmp_path / "mask.tif", data, mask=~invalid),
        "alpha": write_raster(tmp_path / "alpha.tif", data, alpha=np.where(invalid, 0, 255)),
    }
    for name, path in cases.items():
        rgb, valid = RasterReader(path).read(Window(0, 0, 10, 12))
        assert np.array_equal(valid, ~invalid), name
        # masked pixels are filled from valid neighbours, never left at the nodata value
        assert np.array_equal(rgb[:, ~invalid], data[:, ~invalid].astype(np.float32)), name
        assert rgb[0][invalid].min() >= 1, name


def test_nan_is_invalid(tmp_path):
    data = np.ones((3, 4, 4), dtype=np.float32)
    data[:, 1, 2] = np.nan
    valid = RasterReader(write_raster(tmp_path / "nan.tif", data)).read(Window(0, 0, 4, 4))[1]
    assert not valid[1, 2] and valid.sum() == 15


def test_fill_invalid_takes_nearest_valid_pixel():
    rng = np.random.default_rng(4)
    image = rng.random((2, 9, 7))
    valid = rng.random((9, 7)) > 0.6
    filled = fill_invalid(image, valid)
    vy, vx = np.nonzero(valid)
    for y in range(9):
        for x in range(7):
            d2 = (vy - y) ** 2 + (vx - x) ** 2
            nearest = np.flatnonzero(d2 == d2.min())
            # ties may go either way: the value must be one of the nearest valid pixels' values
            assert any(np.array_equal(filled[:, y, x], image[:, vy[i], vx[i]]) for i in nearest)
