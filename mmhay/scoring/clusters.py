"""Clusters of scored records that are not independent: the samples asked about one scene.

A scene is one draw of a haystack with its needles. The twins of a task asked in pairs
(``negative``, ``locate``: indices 2k and 2k + 1 of a suite, one asked about a present needle and
one about an absent look-alike) are drawn from one random stream, so they share their haystack;
the rotations of a multiple-choice question (one ``group``) are one question about one scene.
Every other sample draws its haystack from a stream of its own: it is a cluster by itself.
Intervals resample these clusters (docs/metrics.md, "Intervals over clusters").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["CLUSTERING", "cluster_keys", "with_clusters", "clustering_summary"]

# what metrics.json says the clusters are
CLUSTERING = "scene: the twins of a pair (negative, locate) and the rotations of a question resampled together"


def cluster_keys(records: Sequence[Mapping]) -> list[str]:
    """The cluster (scene) of each record, in order.

    A task is asked in twins when one of its records asks about an absent needle
    (``asked_present`` false; only paired tasks ask those). Its records of indices 2k and 2k + 1
    of one suite (the id's prefix) share the key ``"suite|task|twins k"``; any other record's key
    is its question (``group``: the id of the question its rotations share), or its id.
    """
    twin_tasks = {r.get("task") for r in records if r.get("asked_present") is False}
    keys = []
    for position, record in enumerate(records):
        question = record.get("group") or record.get("id")
        index = record.get("index")
        if question is None:
            keys.append(f"record {position}")  # nothing says what it is: a cluster by itself
            continue
        suffix = f"-{index:06d}" if isinstance(index, int) else None
        if record.get("task") in twin_tasks and suffix and str(question).endswith(suffix):
            keys.append(f"{str(question)[: -len(suffix)]}|{record['task']}|twins {index // 2}")
        else:
            keys.append(str(question))
    return keys


def with_clusters(records: Sequence[Mapping]) -> list[dict]:
    """The records, each with its ``cluster`` key (computed over all of them, so a twin keeps its
    pair's key in any subset it is counted in)."""
    return [{**record, "cluster": key} for record, key in zip(records, cluster_keys(records))]


def clustering_summary(records: Sequence[Mapping]) -> dict:
    """What metrics.json's ``intervals`` says: the clustering, how many clusters the records
    make, and how many of them hold more than one record."""
    sizes: dict[str, int] = {}
    for key in cluster_keys(records):
        sizes[key] = sizes.get(key, 0) + 1
    return {
        "method": "percentile bootstrap over clusters",
        "clustering": CLUSTERING,
        "samples": len(records),
        "clusters": len(sizes),
        "clusters_of_several": sum(1 for size in sizes.values() if size > 1),
    }
