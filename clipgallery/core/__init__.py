"""The Qt-free core: catalog, vector index, encoder, imaging, indexing and search.

Nothing under this package may import Qt or ``clipgallery.app``; an import-linter
contract in ``pyproject.toml`` enforces it in CI.
"""
