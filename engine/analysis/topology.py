"""Topology-preserving simplification of a polygon coverage: every shared boundary simplified once.

The polygons of a classified raster tile the valid area: neighbours share their boundaries exactly (pixel
edges, integer coordinates). Simplifying each polygon on its own would move a shared boundary two different
ways (gaps and overlaps), and GEOS's coverage simplification needs GEOS 3.12. So the rings are cut into arcs:
the boundary pieces between nodes, where a node is a vertex at which other than exactly two boundary segments
meet (three or more polygons, or a pinch); every ring vertex that lies on another ring's segment is first
inserted into it, so shared pieces have identical vertices. Each arc is simplified once (GEOS's
topology-preserving simplifier on the line; endpoints, i.e. nodes, stay), a closed arc without a node in two
halves; an arc whose simplified line would touch another arc anywhere but at a shared node keeps its
original shape (collinear vertices dropped; checked until no crossing is left). The rings are then rebuilt
from the simplified arcs, so two neighbours use the same line for their common boundary: no gaps, no overlaps.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .polygons import Piece

Point = tuple[float, float]


def _rings(geometry: Any) -> list[list[list[Point]]]:
    """Polygons as lists of rings, each a list of points without the closing repeat."""
    from osgeo import ogr

    parts = [geometry] if ogr.GT_Flatten(geometry.GetGeometryType()) == ogr.wkbPolygon else [
        geometry.GetGeometryRef(i) for i in range(geometry.GetGeometryCount())
    ]
    return [
        [[(p[0], p[1]) for p in part.GetGeometryRef(r).GetPoints()[:-1]] for r in range(part.GetGeometryCount())]
        for part in parts
    ]


def _densify(rings: list[list[Point]]) -> list[list[Point]]:
    """Every ring with the vertices of all rings that lie inside its (axis-parallel or sloped) segments."""
    rows: dict[float, list[float]] = {}
    cols: dict[float, list[float]] = {}
    for ring in rings:
        for x, y in ring:
            rows.setdefault(y, []).append(x)
            cols.setdefault(x, []).append(y)
    for values in (*rows.values(), *cols.values()):
        values.sort()
    dense = []
    for ring in rings:
        out: list[Point] = []
        for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
            out.append((x1, y1))
            if y1 == y2:
                xs = rows[y1]
                inner = xs[bisect_right(xs, min(x1, x2)) : bisect_left(xs, max(x1, x2))]
                out += [(x, y1) for x in (inner if x2 > x1 else reversed(inner))]
            elif x1 == x2:
                ys = cols[x1]
                inner = ys[bisect_right(ys, min(y1, y2)) : bisect_left(ys, max(y1, y2))]
                out += [(x1, y) for y in (inner if y2 > y1 else reversed(inner))]
        dense.append(_unique_run(out))
    return dense


def _unique_run(points: list[Point]) -> list[Point]:
    """``points`` without consecutive repeats."""
    out: list[Point] = []
    for point in points:
        if not out or out[-1] != point:
            out.append(point)
    return out


def _nodes(rings: list[list[Point]]) -> set[Point]:
    """Vertices where other than two distinct boundary segments meet."""
    segments: set[tuple[Point, Point]] = set()
    for ring in rings:
        for a, b in zip(ring, ring[1:] + ring[:1], strict=True):
            segments.add((a, b) if a < b else (b, a))
    degree: dict[Point, int] = {}
    for a, b in segments:
        degree[a] = degree.get(a, 0) + 1
        degree[b] = degree.get(b, 0) + 1
    return {point for point, count in degree.items() if count != 2}


def _canonical(arc: tuple[Point, ...], closed: bool) -> tuple[tuple[Point, ...], bool]:
    """The arc's shared key (one orientation; a closed arc starting at its least vertex) and whether
    ``arc`` runs reversed to it."""
    if closed:
        start = arc.index(min(arc))
        forward = arc[start:] + arc[:start]
        backward = (forward[0], *reversed(forward[1:]))
        return (forward, False) if forward <= backward else (backward, True)
    reverse = arc[::-1]
    return (arc, False) if arc <= reverse else (reverse, True)


def _split(ring: list[Point], nodes: set[Point]) -> list[tuple[tuple[Point, ...], bool, bool]]:
    """A ring's arcs as (canonical arc, reversed, closed) in ring order; a ring without a node is one closed
    arc (its points without the closing repeat)."""
    cuts = [i for i, point in enumerate(ring) if point in nodes]
    if not cuts:
        return [(*_canonical(tuple(ring), True), True)]
    start = cuts[0]
    rotated = ring[start:] + ring[:start] + [ring[start]]
    arcs, begin = [], 0
    for i in range(1, len(rotated)):
        if rotated[i] in nodes:
            arcs.append((*_canonical(tuple(rotated[begin : i + 1]), False), False))
            begin = i
    return arcs


def _simplified(arc: tuple[Point, ...], closed: bool, tolerance: float) -> tuple[Point, ...]:
    """The arc simplified (GEOS, topology preserving; endpoints kept); a closed arc as two halves."""

    if closed:
        far = max(range(len(arc)), key=lambda i: (arc[i][0] - arc[0][0]) ** 2 + (arc[i][1] - arc[0][1]) ** 2)
        first = _simplified(arc[: far + 1], False, tolerance)
        second = _simplified((*arc[far:], arc[0]), False, tolerance)
        whole = first + second[1:-1]
        return whole if len(whole) >= 3 else arc
    simple = tuple((p[0], p[1]) for p in _line(arc, False).SimplifyPreserveTopology(tolerance).GetPoints())
    return arc if arc[0] == arc[-1] and len(simple) < 4 else simple  # a loop must stay a ring


def _line(points: Sequence[Point], closed: bool) -> Any:
    """An OGR line string of the points (closed: back to the first)."""
    from osgeo import ogr

    line = ogr.Geometry(ogr.wkbLineString)
    for x, y in (*points, points[0]) if closed else points:
        line.AddPoint_2D(x, y)
    return line


def _crossing(arcs: list[tuple[Point, ...]], closed: list[bool], lines: list[Any]) -> set[int]:
    """Indices of arcs whose line meets another arc's line anywhere but at shared endpoints."""
    import numpy as np

    boxes = np.array([line.GetEnvelope() for line in lines])  # minx, maxx, miny, maxy
    bad: set[int] = set()
    for i, line in enumerate(lines):
        near = np.nonzero(
            (boxes[i + 1 :, 0] <= boxes[i, 1])
            & (boxes[i + 1 :, 1] >= boxes[i, 0])
            & (boxes[i + 1 :, 2] <= boxes[i, 3])
            & (boxes[i + 1 :, 3] >= boxes[i, 2])
        )[0]
        for j in (near + i + 1).tolist():
            if not line.Intersects(lines[j]):
                continue
            shared = set() if closed[i] or closed[j] else {arcs[i][0], arcs[i][-1]} & {arcs[j][0], arcs[j][-1]}
            meeting = line.Intersection(lines[j])
            points = [(p[0], p[1]) for p in _points(meeting)]
            if meeting.GetDimension() > 0 or any(point not in shared for point in points):
                bad.update((i, j))
    return bad


def _points(geometry: Any) -> list[tuple[float, ...]]:
    """The points of a point or multipoint (empty for anything else)."""
    if geometry.GetGeometryCount():
        return [geometry.GetGeometryRef(i).GetPoint_2D() for i in range(geometry.GetGeometryCount())]
    return [geometry.GetPoint_2D()] if not geometry.IsEmpty() else []


def simplify_coverage(pieces: list[Piece], tolerance: float) -> list[Piece]:
    """The pieces with their polygons simplified by ``tolerance`` (same units as their coordinates), every
    shared boundary simplified once (see the module docstring)."""
    from osgeo import ogr

    shapes = [_rings(piece.geometry) for piece in pieces]
    flat = [ring for polygons in shapes for polygon in polygons for ring in polygon]
    dense = iter(_densify(flat))
    shapes = [[[next(dense) for _ in polygon] for polygon in polygons] for polygons in shapes]
    nodes = _nodes([ring for polygons in shapes for polygon in polygons for ring in polygon])
    index: dict[tuple[Point, ...], int] = {}
    arcs: list[tuple[Point, ...]] = []
    closed: list[bool] = []
    layout = []
    for polygons in shapes:
        layout_polygons = []
        for polygon in polygons:
            layout_rings = []
            for ring in polygon:
                parts = []
                for arc, reverse, shut in _split(ring, nodes):
                    if arc not in index:
                        index[arc] = len(arcs)
                        arcs.append(arc)
                        closed.append(shut)
                    parts.append((index[arc], reverse))
                layout_rings.append(parts)
            layout_polygons.append(layout_rings)
        layout.append(layout_polygons)
    simple = [_simplified(arc, shut, tolerance) for arc, shut in zip(arcs, closed, strict=True)]
    arcs = [_simplified(arc, shut, 0.0) for arc, shut in zip(arcs, closed, strict=True)]  # collinear points out
    kept: set[int] = set()
    while True:
        bad = _crossing(simple, closed, [_line(arc, shut) for arc, shut in zip(simple, closed, strict=True)])
        bad -= kept
        if not bad:
            break
        for i in bad:
            simple[i] = arcs[i]
        kept |= bad
    result = []
    for piece, polygons in zip(pieces, layout, strict=True):
        multi = ogr.Geometry(ogr.wkbMultiPolygon)
        for rings in polygons:
            polygon = ogr.Geometry(ogr.wkbPolygon)
            for parts in rings:
                points: list[Point] = []
                for arc_index, reverse in parts:
                    arc = simple[arc_index]
                    if closed[arc_index]:
                        points += list(arc[::-1] if reverse else arc)
                    else:
                        points += list(arc[::-1] if reverse else arc)[:-1]
                ring = ogr.Geometry(ogr.wkbLinearRing)
                for x, y in (*points, points[0]):
                    ring.AddPoint_2D(x, y)
                polygon.AddGeometry(ring)
            multi.AddGeometry(polygon)
        geometry = multi.GetGeometryRef(0).Clone() if multi.GetGeometryCount() == 1 else multi
        result.append(replace(piece, geometry=geometry))
    return result
