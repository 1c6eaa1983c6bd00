"""Runs on a Dask cluster: the same output as :func:`engine.pipeline.segment_raster`, tiles predicted on many
workers (``--cluster ADDRESS|local:N``).

:mod:`.spec` says which method the workers build, :mod:`.tasks` is what runs on a worker (read its tiles by
path, predict them with a method built once per worker process), :mod:`.cluster` connects to a scheduler or
starts a local one, and :mod:`.run` is the client side: it plans the tiles, submits tasks (a bounded number in
flight), stitches their results in row-major order with the pipeline's :class:`~engine.raster.stitch.Stitcher`
and streams them into the pipeline's writers, so the classes are equal, pixel for pixel, to a single-process
run's. Dask is imported only inside these modules.
"""

from .run import segment_on_cluster, segment_rasters_on_cluster
from .spec import MethodSpec

__all__ = ["MethodSpec", "segment_on_cluster", "segment_rasters_on_cluster"]
