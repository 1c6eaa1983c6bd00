"""segment_raster end to end on tiny rasters with the per-pixel colour test double.

Expected outputs are computed independently: the test double is a pure per-pixel function, so the
classified raster must equal ``expected_classes`` of the whole (stretched) image, whatever the tiling.
"""

import itertools
import json

import numpy as np
import pytest
from osgeo import gdal, osr
from raster_fixtures import (
    GEOTRANSFORM,
    LABEL_TEXT,
    ColourMethod,
    colour_probabilities,
    expected_classes,
    labels,
    pattern,
    write_raster,
)

from engine import __version__
from engine.errors import CancelledError, RasterError
from engine.labels import parse_labels
from engine.pipeline import segment_raster
from engine.raster.tiles import Window

TILE, OVERLAP = 64, 16


def run(src, out, method=None, **kwargs):
    method = method or ColourMethod()
    kwargs.setdefault("tile", TILE)
    kwargs.setdefault("overlap", OVERLAP)
    return segment_raster(src, out, method, labels(), **kwargs), method


def read(path):
    ds = gdal.Open(str(path))
    return ds.ReadAsArray()


def stretched(data):
    """Independent 2-98 percentile stretch of a small raster (its sample is the whole raster)."""
    out = []
    for band in data.astype(np.float64):
        lo, hi = np.percentile(band, (2, 98))
        out.append(np.clip((band - lo) * 255.0 / (hi - lo), 0, 255))
    return np.stack(out).astype(np.float32)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.uint32, np.float32, np.float64])
def test_every_data_type(tmp_path, dtype):
    image = pattern(100, 130).astype(np.float64)
    data = (image * 7 - (300 if dtype in (np.int16, np.float32, np.float64) else 0)).astype(dtype)
    if dtype == np.uint8:
        data, model_input = image.astype(np.uint8), image.astype(np.float32)
    else:
        model_input = stretched(data)
    src = write_raster(tmp_path / "in.tif", data)
    result, _ = run(src, tmp_path / "out.tif")
    assert np.array_equal(read(result.output_path), expected_classes(model_input))


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5])
def test_band_counts(tmp_path, count):
    image = pattern(70, 90, seed=count)
    data = np.concatenate([image, image[::-1]])[:count]
    src = write_raster(tmp_path / "in.tif", data)
    result, _ = run(src, tmp_path / "out.tif")
    rgb = data[[0, 1, 2]] if count >= 3 else data[[0, 0, 0]]
    assert np.array_equal(read(result.output_path), expected_classes(rgb))
    if count >= 3:  # a band mapping picks other bands
        result, _ = run(src, tmp_path / "mapped.tif", bands=(3, 1, 2))
        assert np.array_equal(read(result.output_path), expected_classes(data[[2, 0, 1]]))


@pytest.mark.parametrize("kind", ["nodata", "mask", "alpha"])
def test_nodata_mask_alpha_written_as_zero(tmp_path, kind):
    data = pattern(100, 130, seed=5)
    invalid = np.zeros((100, 130), dtype=bool)
    invalid[30:60, 20:110] = True
    invalid[:, 125:] = True
    if kind == "nodata":
        data = data.copy()
        data[:, invalid] = 0
        src = write_raster(tmp_path / "in.tif", data, nodata=0)
    elif kind == "mask":
        src = write_raster(tmp_path / "in.tif", data, mask=~invalid)
    else:
        src = write_raster(tmp_path / "in.tif", data, alpha=np.where(invalid, 0, 255))
    result, _ = run(src, tmp_path / "out.tif")
    out = read(result.output_path)
    assert np.array_equal(out == 0, invalid)
    assert np.array_equal(out[~invalid], expected_classes(data)[~invalid])
    assert result.class_pixels[0] == invalid.sum()


def test_all_nodata_tiles_are_skipped(tmp_path):
    data = pattern(100, 130)
    data[:, :64, :64] = 0  # exactly tile (0, 0)
    src = write_raster(tmp_path / "in.tif", data, nodata=0)
    result, method = run(src, tmp_path / "out.tif")
    assert result.tiles_total == 6 and result.tiles_skipped == 1
    assert len(method.calls) == 5
    blank = write_raster(tmp_path / "blank.tif", np.zeros((3, 100, 130), dtype=np.uint8), nodata=0)
    result, method = run(blank, tmp_path / "blank_out.tif")
    assert method.calls == [] and result.tiles_skipped == 6
    assert not read(result.output_path).any()


def test_edge_tiles_are_padded_to_one_shape_and_cropped(tmp_path):
    data = pattern(100, 130)
    src = write_raster(tmp_path / "in.tif", data)
    result, method = run(src, tmp_path / "out.tif")
    assert set(method.calls) == {(3, TILE, TILE)}  # clipped edge tiles (34 and 36 pixels) padded
    assert np.array_equal(read(result.output_path), expected_classes(data))
    small = write_raster(tmp_path / "small.tif", data[:, :5, :9])
    method = ColourMethod()  # min_tile 8: a 5-row raster is padded up to 8 rows
    result, _ = run(small, tmp_path / "small_out.tif", method)
    assert method.calls == [(3, 8, 9)]
    assert np.array_equal(read(result.output_path), expected_classes(data[:, :5, :9]))


@pytest.mark.parametrize("blend", ["weighted", "core"])
def test_constant_image_has_no_seams(tmp_path, blend):
    data = np.full((3, 100, 130), 90, dtype=np.uint8)
    src = write_raster(tmp_path / "in.tif", data)
    result, _ = run(src, tmp_path / "out.tif", blend=blend, probabilities_path=tmp_path / "p.tif")
    assert np.unique(read(result.output_path)).tolist() == [2]
    probs = read(result.probabilities_path)
    assert np.ptp(probs, axis=(1, 2)).max() < 1e-6


def test_round_trip_georeferencing_colours_names_metadata(tmp_path):
    data = pattern(100, 130)
    src = write_raster(tmp_path / "in.tif", data)
    result, _ = run(src, tmp_path / "out.tif", metadata={"weights": "random", "seed": 3})
    ds_in, ds_out = gdal.Open(str(src)), gdal.Open(str(result.output_path))
    assert (ds_out.RasterXSize, ds_out.RasterYSize, ds_out.RasterCount) == (130, 100, 1)
    assert ds_out.GetGeoTransform() == ds_in.GetGeoTransform() == GEOTRANSFORM
    srs_in, srs_out = (
        osr.SpatialReference(ds_in.GetProjection()),
        osr.SpatialReference(ds_out.GetProjection()),
    )
    assert srs_out.IsSame(srs_in)
    band = ds_out.GetRasterBand(1)
    assert band.DataType == gdal.GDT_Byte and band.GetNoDataValue() == 0
    table = band.GetColorTable()
    assert table.GetColorEntry(0)[3] == 0
    for k, label in enumerate(labels().classes):
        assert table.GetColorEntry(k + 1) == (*label.color, 255)
    assert band.GetCategoryNames() == ["nodata", "dark", "mid", "bright"]
    assert ds_out.GetMetadata_Dict("IMAGE_STRUCTURE").get("COMPRESSION") == "DEFLATE"
    assert band.GetBlockSize() == [256, 256]
    meta = ds_out.GetMetadata_Dict()
    assert meta["OVSS_METHOD"] == "test-colours" and meta["OVSS_ENGINE_VERSION"] == __version__
    assert parse_labels(meta["OVSS_LABELS"]) == parse_labels(LABEL_TEXT)
    assert meta["OVSS_WEIGHTS"] == "random" and "NOT a real segmentation" in meta["OVSS_WARNING"]
    assert json.loads(meta["OVSS_SETTINGS"])["tile"] == TILE


def test_method_metadata_is_recorded_and_the_callers_items_win(tmp_path):
    method = ColourMethod()
    method.metadata = {"device": "CPU, 2 threads, bf16", "upsampler": "bilinear", "seed": "method's"}
    result, _ = run(write_raster(tmp_path / "in.tif", pattern(40, 50)), tmp_path / "out.tif", method=method,
                    metadata={"seed": 7})
    meta = gdal.Open(str(result.output_path)).GetMetadata_Dict()
    assert meta["OVSS_DEVICE"] == "CPU, 2 threads, bf16" and meta["OVSS_UPSAMPLER"] == "bilinear"
    assert meta["OVSS_SEED"] == "7"


def test_read_class_table_inverts_the_output_contract(tmp_path):
    from engine.raster.writer import read_class_table

    result, _ = run(write_raster(tmp_path / "in.tif", pattern(40, 50)), tmp_path / "out.tif")
    names, colors = read_class_table(result.output_path)
    assert names == list(labels().names)
    assert colors == [tuple(c.color) for c in labels().classes]
    with pytest.raises(RasterError, match="not a classified raster"):
        read_class_table(write_raster(tmp_path / "plain.tif", pattern(8, 8)))


def test_rotated_geotransform_is_copied_with_a_warning(tmp_path):
    rotated = (500000.0, 0.5, 0.1, 5600000.0, 0.1, -0.5)
    src = write_raster(tmp_path / "in.tif", pattern(40, 50), geotransform=rotated)
    warnings = []
    result, _ = run(src, tmp_path / "out.tif", warn=warnings.append)
    assert gdal.Open(str(result.output_path)).GetGeoTransform() == rotated
    assert len(warnings) == 1 and "rotated geotransform" in warnings[0]


def test_no_crs_warns_and_runs(tmp_path):
    data = pattern(40, 50)
    src = write_raster(tmp_path / "in.tif", data, projection=None)
    warnings = []
    result, _ = run(src, tmp_path / "out.tif", warn=warnings.append)
    assert any("no coordinate reference system" in w for w in warnings)
    ds = gdal.Open(str(result.output_path))
    assert ds.GetProjection() == "" and ds.GetGeoTransform() == GEOTRANSFORM
    assert np.array_equal(ds.ReadAsArray(), expected_classes(data))


def test_window_segments_part_of_the_raster(tmp_path):
    data = pattern(100, 130)
    src = write_raster(tmp_path / "in.tif", data)
    result, _ = run(src, tmp_path / "out.tif", window=Window(20, 10, 90, 70))
    ds = gdal.Open(str(result.output_path))
    assert (ds.RasterXSize, ds.RasterYSize) == (90, 70)
    assert ds.GetGeoTransform()[0] == GEOTRANSFORM[0] + 20 * GEOTRANSFORM[1]
    assert ds.GetGeoTransform()[3] == GEOTRANSFORM[3] + 10 * GEOTRANSFORM[5]
    assert np.array_equal(ds.ReadAsArray(), expected_classes(data[:, 10:80, 20:110]))


def test_probabilities_and_confidence(tmp_path):
    data = pattern(100, 130)
    data[:, :5, :5] = 0
    src = write_raster(tmp_path / "in.tif", data, nodata=0)
    result, _ = run(
        src, tmp_path / "out.tif", probabilities_path=tmp_path / "p.tif", confidence_path=tmp_path / "c.tif"
    )
    probs = read(result.probabilities_path)
    expected = colour_probabilities(data.astype(np.float32))
    np.testing.assert_allclose(probs[:, 5:, 5:], expected[:, 5:, 5:], atol=1e-5)
    assert (probs[:, :5, :5] == -1).all()
    conf = read(result.confidence_path)
    assert np.array_equal(conf[5:, 5:], np.clip(np.rint(expected.max(axis=0) * 100), 1, 100)[5:, 5:])
    assert (conf[:5, :5] == 0).all()
    assert gdal.Open(str(result.probabilities_path)).GetRasterBand(2).GetDescription() == "mid"


def test_progress_reports(tmp_path):
    src = write_raster(tmp_path / "in.tif", pattern(100, 130))
    reports = []
    run(src, tmp_path / "out.tif", progress=reports.append)
    assert [r.tiles_done for r in reports] == list(range(1, 7))
    assert all(r.tiles_total == 6 for r in reports)
    assert reports[-1].fraction == 1.0 and reports[-1].remaining_s == 0.0
    assert all(a.elapsed_s <= b.elapsed_s for a, b in itertools.pairwise(reports))


def test_cancel_half_way_leaves_no_output_and_keeps_existing(tmp_path):
    src = write_raster(tmp_path / "in.tif", pattern(100, 130))
    (tmp_path / "out").mkdir()
    existing = tmp_path / "out" / "old.tif"
    existing.write_bytes(b"keep me")
    reports = []
    for target in (tmp_path / "out" / "new.tif", existing):
        reports.clear()
        with pytest.raises(CancelledError, match="stopped after 3 of 6 tiles"):
            run(
                src,
                target,
                progress=reports.append,
                is_cancelled=lambda: len(reports) >= 3,
                probabilities_path=tmp_path / "out" / "p.tif",
            )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["old.tif"]
    assert existing.read_bytes() == b"keep me"


def test_failing_method_leaves_nothing(tmp_path):
    class Broken(ColourMethod):
        def predict(self, tile):
            if len(self.calls) == 2:
                raise RuntimeError("model exploded")
            return super().predict(tile)

    src = write_raster(tmp_path / "in.tif", pattern(100, 130))
    (tmp_path / "out").mkdir()
    with pytest.raises(RuntimeError, match="model exploded"):
        run(src, tmp_path / "out" / "o.tif", Broken())
    assert list((tmp_path / "out").iterdir()) == []


def test_inputs_checked_before_model_work(tmp_path):
    src = write_raster(tmp_path / "in.tif", pattern(20, 20))
    method = ColourMethod()
    with pytest.raises(RasterError, match="output folder does not exist"):
        run(src, tmp_path / "missing" / "o.tif", method)
    with pytest.raises(RasterError, match="band 5 is out of range"):
        run(src, tmp_path / "o.tif", method, bands=(5,))
    with pytest.raises(RasterError, match="would overwrite the input"):
        run(src, src, method)
    assert method.prepared is None and method.calls == []


def _formats(tmp_path, data):
    """The same image through several drivers: (name, path, expect georeferencing)."""
    base = write_raster(tmp_path / "base.tif", data)
    out = [("vrt", tmp_path / "in.vrt", True)]
    gdal.BuildVRT(str(out[0][1]), [str(base)]).FlushCache()
    out.append(("cog", write_raster(tmp_path / "in_cog.tif", data, driver="COG"), True))
    out.append(
        ("png-world", write_raster(tmp_path / "w.png", data, driver="PNG", options=("WORLDFILE=YES",)), True)
    )
    out.append(
        (
            "png",
            write_raster(tmp_path / "plain.png", data, driver="PNG", geotransform=None, projection=None),
            False,
        )
    )
    out.append(
        (
            "jpeg-world",
            write_raster(tmp_path / "w.jpg", data, driver="JPEG", options=("WORLDFILE=YES", "QUALITY=95")),
            True,
        )
    )
    out.append(
        (
            "jpeg",
            write_raster(tmp_path / "plain.jpg", data, driver="JPEG", geotransform=None, projection=None),
            False,
        )
    )
    for _, path, _ in out[2:]:  # world-file formats: georeferencing from the world file alone, no .aux.xml
        path.with_name(path.name + ".aux.xml").unlink(missing_ok=True)
    if gdal.GetDriverByName("JP2OpenJPEG") is not None:
        out.append(
            (
                "jp2",
                write_raster(
                    tmp_path / "in.jp2", data, driver="JP2OpenJPEG", options=("REVERSIBLE=YES", "QUALITY=100")
                ),
                True,
            )
        )
    return out


def test_formats(tmp_path):
    data = pattern(100, 130)
    for name, path, georeferenced in _formats(tmp_path, data):
        warnings = []
        result, _ = run(path, tmp_path / f"out_{name}.tif", warn=warnings.append)
        ds_in = gdal.Open(str(path))
        decoded = ds_in.ReadAsArray()  # lossy formats: compare with what GDAL decodes
        ds_out = gdal.Open(str(result.output_path))
        assert np.array_equal(ds_out.ReadAsArray(), expected_classes(decoded)), name
        if georeferenced:
            assert ds_out.GetGeoTransform() == pytest.approx(GEOTRANSFORM), name
        else:
            assert any("no georeferencing" in w for w in warnings), name


@pytest.mark.parametrize(("bands", "warned"), [(2, True), (1, True), (3, False)])
def test_default_bands_on_fewer_than_three_bands_are_announced(tmp_path, bands, warned):
    """The default mapping is 1,2,3; a raster without three colour bands feeds band 1 to R, G and B, and says so."""
    data = pattern(30, 40)[:bands]
    src = write_raster(tmp_path / "in.tif", data)
    warnings = []
    result, _ = run(src, tmp_path / "out.tif", warn=warnings.append)
    notes = [w for w in warnings if "band 1 feeds R, G and B" in w]
    assert len(notes) == int(warned)
    assert list(result.warnings) == warnings
    if warned:
        assert f"{bands} colour band" in notes[0]
        assert np.array_equal(read(result.output_path), expected_classes(np.repeat(data[:1], 3, axis=0)))
    chosen = []
    run(src, tmp_path / "chosen.tif", bands=(1,), warn=chosen.append)
    assert not any("feeds R, G and B" in w for w in chosen)  # asked for explicitly: nothing to announce

def test_progress_estimate_of_a_mostly_empty_raster(tmp_path, monkeypatch):
    """Only the first row of tiles has data: the estimate must count 10 s per tile with data, not per tile."""
    from engine import pipeline

    data = pattern(256, 256)
    data[:, 48:, :] = 0
    src = write_raster(tmp_path / "empty.tif", data, nodata=0)
    now = [0.0]
    clock = pipeline.ProgressClock

    class Slow(ColourMethod):
        def predict(self, tile):
            now[0] += 10.0
            return super().predict(tile)

    monkeypatch.setattr(pipeline, "ProgressClock", lambda *a, **k: clock(*a, clock=lambda: now[0], **k))
    reports = []
    result, method = run(src, tmp_path / "out.tif", Slow(), progress=reports.append)
    assert (result.tiles_total, result.tiles_skipped, len(method.calls)) == (25, 20, 5)
    truth = [10.0 * (5 - min(done, 5)) for done in range(1, 26)]
    assert [r.remaining_s for r in reports] == pytest.approx(truth)


def test_likely_valid_guesses_the_tiles_with_data_from_a_decimated_read(tmp_path):
    from engine.raster.reader import RasterReader
    from engine.raster.tiles import plan_tiles

    data = np.zeros((1, 1500, 2000), dtype=np.uint16)
    data[:, :700, :900] = 500
    reader = RasterReader(write_raster(tmp_path / "r.tif", data, nodata=0), stretch=None)
    plan = plan_tiles(2000, 1500, 250, 0)
    truth = [bool(data[0, t.window.y : t.window.y_end, t.window.x : t.window.x_end].any()) for t in plan]
    assert sum(truth) == 12
    assert reader.likely_valid([t.window for t in plan]) == truth
    everything = RasterReader(write_raster(tmp_path / "full.tif", data + 1))
    assert everything.likely_valid([t.window for t in plan]) == [True] * plan.n_tiles
