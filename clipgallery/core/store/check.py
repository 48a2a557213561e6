"""``clipgallery check``: find (and with ``repair``, fix) disagreements in a library.

SQLite is the source of truth, so every repair moves the derived state towards it:
the vector index is rebuilt from the catalog's vectors, vectors that belong to no
photo are dropped, and photos that claim to be indexed but have no vector for the
library's model are re-queued for encoding (their stat is reset, so the next
indexing run picks them up).  Nothing a user made is ever deleted.

Runs in the caller's thread, holding the library's writer lock when repairing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from clipgallery.core.store.library import Library
from clipgallery.core.store.vector_index import VectorIndex


@dataclass
class CheckReport:
    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "problems": self.problems, "repaired": self.repaired}


def check(lib: Library, *, repair: bool = False) -> CheckReport:
    rep = CheckReport()
    cat = lib.catalog
    integrity = cat.integrity_check()
    if integrity != "ok":
        rep.problems.append(f"SQLite integrity check failed: {integrity}")
    orphans = cat.orphan_embeddings_count()
    if orphans:
        rep.problems.append(f"{orphans} vectors belong to no photo")
        if repair:
            cat.drop_orphan_embeddings()
            rep.repaired.append(f"dropped {orphans} orphaned vectors")
    rep.problems.extend(cat.ocr_problems())  # text in photos: counts only, cheap
    model_id = cat.model_id
    if model_id is None:
        return rep
    novec = cat.indexed_without_vector(model_id)
    if novec:
        rep.problems.append(f"{len(novec)} photos are marked indexed but have no vector")
        if repair:
            cat.requeue(novec)
            rep.repaired.append(f"queued {len(novec)} photos to be encoded at the next index run")
    dim = cat.vector_dim(model_id)
    if dim is None:
        return rep
    idx = VectorIndex(lib.paths.index_dir, model_id, dim)
    reason = idx._try_load(cat)
    want = set(int(i) for i in cat.indexed_vectors(model_id)[0])
    if reason is None:
        idx.sync(cat)
        have = idx.ids()
        if have != want:
            extra, lost = len(have - want), len(want - have)
            reason = (f"vector index disagrees with the catalog ({extra} extra, "
                      f"{lost} missing)")
    if reason is not None:
        rep.problems.append(f"vector index: {reason}")
        if repair:
            if not lib.writable:
                raise RuntimeError("repair needs the library's writer lock")
            idx.rebuild(cat)
            rep.repaired.append(f"rebuilt the vector index from {len(want)} catalog vectors")
    return rep
