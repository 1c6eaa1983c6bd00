"""What analysts do with a classified raster: areas per class, polygons, and a run report.

Pure functions over GDAL datasets and numpy arrays (no QGIS): :mod:`.areas` (pixels, hectares and percent
per class for any CRS), :mod:`.polygons` (GeoPackage polygons by blocks, sieve, topology-preserving
simplification), :mod:`.report` (a self-contained HTML page and a PNG quick-look).
"""
