"""The ``clipgallery`` command: headless indexing and search, and the app launcher.

``clipgallery`` alone (or ``clipgallery gui``) starts the desktop app; everything
else runs on the Qt-free core, so every feature can be scripted and tested.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from clipgallery import __version__


class _Progress:
    """A one-line progress display on stderr (only when it is a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._last = 0.0

    def __call__(self, p) -> None:  # p: clipgallery.core.indexer.Progress
        if not self.enabled:
            return
        now = time.monotonic()
        if p.phase == "indexing" and now - self._last < 0.2 and p.done < p.total:
            return
        self._last = now
        if p.phase == "scanning":
            line = "Scanning folders…"
        elif p.phase == "done":
            line = ""
        else:
            pct = 100.0 * p.done / p.total if p.total else 100.0
            width = 30
            fill = int(width * pct / 100)
            eta = f", {p.eta:.0f} s left" if p.eta is not None else ""
            name = os.fsdecode(p.current.name) if p.current else ""
            line = (f"[{'#' * fill}{'.' * (width - fill)}] {p.done}/{p.total} "
                    f"{p.rate:.1f} photos/s{eta}  {name[:30]}")
        sys.stderr.write("\r\033[K" + line)
        if p.phase == "done":
            sys.stderr.write("\r\033[K")
        sys.stderr.flush()


def _print_json(obj: object) -> None:
    # A path that is not valid UTF-8 holds lone surrogates (os.fsdecode); written as
    # \udcXX escapes it stays valid JSON and json.loads + os.fsencode give the bytes back.
    text = json.dumps(obj, ensure_ascii=False, indent=2)
    sys.stdout.write(text.encode("utf-8", "backslashreplace").decode("utf-8") + "\n")


def cmd_index(args: argparse.Namespace) -> int:
    import threading

    from clipgallery.core.indexer import Indexer
    from clipgallery.core.library import Library

    with Library.open(args.library, write=True) as lib:
        folders = [Path(os.path.abspath(p)) for p in args.paths]
        for f in folders:
            if not f.exists():
                print(f"error: {os.fsdecode(f)} does not exist", file=sys.stderr)
                return 2
            if not f.is_dir():
                print(f"error: {os.fsdecode(f)} is not a folder", file=sys.stderr)
                return 2
        for f in folders:
            lib.catalog.add_folder(f)
        if not folders:
            folders = lib.catalog.folders()
            if not folders:
                print("Nothing to index: give one or more folders, e.g. "
                      "'clipgallery index ~/Pictures'.", file=sys.stderr)
                return 2
        spec = lib.model_spec(args.model)
        encoder = lib.load_encoder(spec, device=args.device)
        index = lib.index_for(encoder)
        cancel = threading.Event()
        indexer = Indexer(lib.catalog, index, encoder, batch_size=args.batch_size,
                          decode_workers=args.workers, cancel=cancel,
                          progress=_Progress(sys.stderr.isatty() and not args.json))
        try:
            summary = indexer.run(folders)
        except KeyboardInterrupt:
            cancel.set()
            print("\nInterrupted; what was indexed so far is saved.", file=sys.stderr)
            return 130
        if not summary.cancelled:
            lib.activate_model(encoder, spec)
        if args.json:
            out = summary.as_dict()
            out["model"] = encoder.model_id
            _print_json(out)
        else:
            print(f"Indexed {summary.indexed}, unchanged {summary.unchanged}, "
                  f"moved {summary.moved}, copies {summary.copies}, removed {summary.removed}, "
                  f"skipped {len(summary.skipped)} ({summary.elapsed:.1f} s, "
                  f"model {encoder.model_id})")
            for p, reason in summary.skipped:
                print(f"  skipped {os.fsdecode(p)}: {reason}")
            for f in summary.offline_folders:
                print(f"  offline (not found, left as is): {os.fsdecode(f)}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from clipgallery.core.library import Library
    from clipgallery.core.search import Searcher

    if not args.text and not args.image and not args.similar:
        print("error: give search words, --image FILE or --similar PHOTO", file=sys.stderr)
        return 2
    with Library.open_best(args.library) as lib:
        if lib.catalog.model_id is None and args.model is None:
            print("The library is empty: index a folder first "
                  "('clipgallery index FOLDER').", file=sys.stderr)
            return 1
        encoder = lib.load_encoder(lib.search_spec(args.model), device=args.device)
        searcher = Searcher(lib.catalog, lib.index_for(encoder), encoder)
        text = " ".join(args.text)
        if args.similar:
            results = searcher.similar(args.similar, args.limit)
        elif args.image:
            results = searcher.search_image(args.image, args.limit)
        else:
            results = searcher.search_text(text, args.limit)
        if args.json:
            _print_json([r.as_dict() for r in results])
        else:
            if not results:
                print("No matching photos.")
            for r in results:
                print(f"{r.score:.4f}\t{os.fsdecode(r.path)}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from clipgallery.core.catalog import INDEXED, MISSING, SKIPPED
    from clipgallery.core.library import Library

    with Library.open(args.library) as lib:
        cat = lib.catalog
        counts = cat.counts()
        folders = []
        for f in cat.folders():
            c = cat.folder_counts(f)
            folders.append({"path": os.fsdecode(f), "online": f.is_dir(),
                            "indexed": c.get(INDEXED, 0), "skipped": c.get(SKIPPED, 0),
                            "missing": c.get(MISSING, 0)})
        info = {
            "library": os.fsdecode(lib.root),
            "cache": os.fsdecode(lib.paths.cache),
            "model": cat.model_id,
            "model_spec": cat.get_meta("model_spec"),
            "indexed": counts.get(INDEXED, 0),
            "skipped": counts.get(SKIPPED, 0),
            "missing": counts.get(MISSING, 0),
            "folders": folders,
            "skip_reasons": [{"path": os.fsdecode(p), "reason": r}
                             for p, r in cat.skip_reasons()],
        }
    if args.json:
        _print_json(info)
        return 0
    print(f"Library:  {info['library']}")
    print(f"Model:    {info['model_spec'] or 'none yet'}")
    print(f"Photos:   {info['indexed']} indexed, {info['skipped']} skipped, "
          f"{info['missing']} missing")
    for f in folders:
        state = "" if f["online"] else "  (offline)"
        print(f"Folder:   {f['path']}: {f['indexed']} indexed, {f['skipped']} skipped{state}")
    if info["skip_reasons"] and not args.quiet:
        print("Skipped files:")
        for s in info["skip_reasons"]:
            print(f"  {s['path']}: {s['reason']}")
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    from clipgallery.core import models
    from clipgallery.core.library import Library

    action = args.model_command
    if action is None:
        print("usage: clipgallery model {list,import,download,use}", file=sys.stderr)
        return 2
    if action == "import":
        with Library.open(args.library, write=True) as lib:
            spec, model_id = models.import_model(Path(args.path), lib.paths.models,
                                                 arch=args.arch, name=args.name)
            if args.use:
                lib.switch_model(spec)
        if args.json:
            _print_json({"spec": spec, "model_id": model_id})
        else:
            print(f"Imported {model_id}\n  into {spec}")
            print("Use it with 'clipgallery model use " + spec + "'" if not args.use else
                  "The library will switch to it at the next indexing run.")
        return 0
    if action == "download":
        import threading

        with Library.open(args.library) as lib:
            shown = _Progress(sys.stderr.isatty())
            cancel = threading.Event()

            def report(p):
                if shown.enabled:
                    total = f"/{p.total / 1e6:.0f}" if p.total else ""
                    sys.stderr.write(f"\r\033[KDownloading {args.spec}: {p.done / 1e6:.0f}"
                                     f"{total} MB, {p.speed / 1e6:.1f} MB/s")
                    sys.stderr.flush()
            try:
                path = models.download(args.spec, lib.hub_cache, report, cancel)
            except KeyboardInterrupt:
                cancel.set()
                print("\nCancelled; run the same command again to resume.", file=sys.stderr)
                return 130
        print(f"\nDownloaded {args.spec} to {path}" if shown.enabled else
              f"Downloaded {args.spec} to {path}")
        return 0
    if action == "use":
        with Library.open(args.library, write=True) as lib:
            lib.load_encoder(args.spec, device="cpu")  # refuse what cannot be loaded
            lib.switch_model(args.spec)
            pending = lib.catalog.get_meta("next_model_spec")
        print(f"Switching to {args.spec}: run 'clipgallery index' to re-encode; search keeps "
              "using the current vectors until that is done." if pending else
              f"The library uses {args.spec}.")
        return 0
    # list
    with Library.open(args.library) as lib:
        inst = models.installed(lib.paths.models)
        using = lib.catalog.get_meta("model_spec")
        pending = lib.catalog.get_meta("next_model_spec")
        info = {
            "library_model": using,
            "library_model_id": lib.catalog.model_id,
            "switching_to": pending,
            "installed": models.as_dicts(inst),
            "curated": [dict(models.asdict(m), spec=m.spec) for m in models.CURATED],
        }
    if args.json:
        _print_json(info)
        return 0
    print(f"The library uses: {using or 'no model yet'}"
          + (f" (switching to {pending})" if pending else ""))
    print("Installed:")
    for m in inst:
        print(f"  {m.spec}  [{m.kind}, {m.size_mb:.0f} MB]  {m.model_id}")
    if not inst:
        print("  none")
    print("Recommended (download with 'clipgallery model download SPEC'):")
    for m in models.CURATED:
        print(f"  {m.role:<12} {m.spec:<48} {m.dim}-d, {m.download_mb} MB, {m.speed}, "
              f"ImageNet {m.imagenet_top1}%, {m.licence}: {m.note}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from clipgallery.core.check import check
    from clipgallery.core.library import Library

    with Library.open(args.library, write=args.repair) as lib:
        rep = check(lib, repair=args.repair)
    if args.json:
        _print_json(rep.as_dict())
    else:
        for p in rep.problems:
            print(f"problem: {p}")
        for r in rep.repaired:
            print(f"repaired: {r}")
        if rep.ok:
            print("The library is consistent.")
        elif not args.repair:
            print("Run 'clipgallery check --repair' to fix it.")
    return 0 if rep.ok or args.repair else 1


def cmd_folder(args: argparse.Namespace) -> int:
    from clipgallery.core.library import Library

    with Library.open(args.library, write=True) as lib:
        if args.folder_command == "relocate":
            new = Path(os.path.abspath(args.new))
            if not new.is_dir():
                print(f"error: {os.fsdecode(new)} is not a folder", file=sys.stderr)
                return 2
            n = lib.catalog.relocate_folder(os.path.abspath(args.old), new)
            print(f"Moved {n} photos to {os.fsdecode(new)}; run 'clipgallery index' to check "
                  "them (nothing is re-encoded).")
        elif args.folder_command == "remove":
            n = lib.catalog.remove_folder(os.path.abspath(args.path))
            print(f"Removed the folder and its {n} photos from the library (files untouched).")
        else:
            for f in lib.catalog.folders():
                print(os.fsdecode(f) + ("" if f.is_dir() else "  (offline)"))
    return 0


def cmd_gui(args: argparse.Namespace) -> int:
    from clipgallery.app.main import run_app

    return run_app(args)


def build_parser() -> argparse.ArgumentParser:
    # SUPPRESS: an option given before the sub-command is not reset by the sub-parser.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--library", metavar="DIR",
                        help="library folder (default: $CLIPGALLERY_HOME or the user data dir)")
    common.add_argument("--model", metavar="SPEC",
                        help="NAME:PRETRAINED or a model folder (default: the library's, "
                             "$CLIPGALLERY_MODEL, or the built-in default)")
    common.add_argument("--device", choices=["cpu", "cuda", "mps"], help="force a device")
    common.add_argument("-v", "--verbose", action="store_true", help="log more")

    p = argparse.ArgumentParser(prog="clipgallery", parents=[common],
                                description="Search your photos by what is in them, offline.")
    p.add_argument("--version", action="version", version=f"clipgallery {__version__}")
    sub = p.add_subparsers(dest="command")

    s = sub.add_parser("index", parents=[common], help="add folders and index their photos")
    s.add_argument("paths", nargs="*", help="folders (default: the library's folders)")
    s.add_argument("--batch-size", type=int, default=32)
    s.add_argument("--workers", type=int, default=None, help="decode threads")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.set_defaults(func=cmd_index)

    s = sub.add_parser("search", parents=[common], help="search the library")
    s.add_argument("text", nargs="*", help="what to look for")
    s.add_argument("--image", metavar="FILE", help="search by an image file")
    s.add_argument("--similar", metavar="PHOTO", help="photos like one in the library")
    s.add_argument("--limit", type=int, default=100)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_search)

    s = sub.add_parser("status", parents=[common], help="what the library holds")
    s.add_argument("--json", action="store_true")
    s.add_argument("-q", "--quiet", action="store_true", help="do not list skipped files")
    s.set_defaults(func=cmd_status)

    s = sub.add_parser("model", parents=[common], help="list, download, import or use models")
    msub = s.add_subparsers(dest="model_command")
    m = msub.add_parser("list", parents=[common], help="installed and recommended models")
    m.add_argument("--json", action="store_true")
    m = msub.add_parser("import", parents=[common], help="import a model file or folder")
    m.add_argument("path", help="an open_clip checkpoint (.safetensors, .bin, .pt) or folder")
    m.add_argument("--arch", help="open_clip architecture name or config JSON (for files)")
    m.add_argument("--name", help="name in the model store")
    m.add_argument("--use", action="store_true", help="switch the library to it")
    m.add_argument("--json", action="store_true")
    m = msub.add_parser("download", parents=[common], help="download NAME:PRETRAINED")
    m.add_argument("spec")
    m = msub.add_parser("use", parents=[common], help="switch the library to a model")
    m.add_argument("spec")
    s.set_defaults(func=cmd_model, model_command=None)

    s = sub.add_parser("check", parents=[common], help="check the library's consistency")
    s.add_argument("--repair", action="store_true", help="fix what is found")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("folder", parents=[common], help="list, remove or relocate folders")
    fsub = s.add_subparsers(dest="folder_command")
    fsub.add_parser("list", parents=[common])
    f = fsub.add_parser("remove", parents=[common], help="forget a folder (files untouched)")
    f.add_argument("path")
    f = fsub.add_parser("relocate", parents=[common],
                        help="a folder moved (e.g. a drive at another mount point)")
    f.add_argument("old")
    f.add_argument("new")
    s.set_defaults(func=cmd_folder, folder_command=None)

    s = sub.add_parser("gui", parents=[common], help="open the desktop app (the default)")
    s.add_argument("--folder", action="append", default=[], help="add this folder")
    s.add_argument("--query", help="search for this at start")
    s.add_argument("--screenshot", metavar="FILE",
                   help="wait for indexing and the query, save a screenshot, exit")
    s.set_defaults(func=cmd_gui)
    return p


def main(argv: list[str] | None = None) -> int:
    # Privacy: whatever ClipGallery writes (catalog, index, models, thumbnails) is
    # readable by the user only.
    os.umask(0o077)
    # Paths that are not valid UTF-8 print as their original bytes.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="surrogateescape")
            except (ValueError, OSError):
                pass
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["gui", *(argv if argv is not None else sys.argv[1:])])
    for name in ("library", "model", "device"):
        if not hasattr(args, name):
            setattr(args, name, None)
    if not hasattr(args, "verbose"):
        args.verbose = False
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from clipgallery.core.catalog import CatalogError, StorageError
    from clipgallery.core.encoder import ModelUnavailable
    from clipgallery.core.library import LibraryLocked
    from clipgallery.core.search import SearchError

    try:
        return int(args.func(args) or 0)
    except StorageError as e:
        print(f"clipgallery: {e}", file=sys.stderr)
        return 3
    except (ModelUnavailable, LibraryLocked, CatalogError, SearchError) as e:
        print(f"clipgallery: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"clipgallery: {e.strerror or e}: {e.filename or ''}".rstrip(": "),
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
