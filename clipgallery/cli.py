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
from clipgallery.core.models.devices import DEVICES

#: What ``ArgumentParser.add_subparsers`` returns.
Subparsers = argparse._SubParsersAction


class _Progress:
    """A one-line progress display on stderr (only when it is a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._last = 0.0

    def __call__(self, p) -> None:  # p: clipgallery.core.indexing.indexer.Progress
        if not self.enabled:
            return
        now = time.monotonic()
        if p.phase in ("indexing", "text") and now - self._last < 0.2 and p.done < p.total:
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
            what = "reading text " if p.phase == "text" else ""
            line = (f"{what}[{'#' * fill}{'.' * (width - fill)}] {p.done}/{p.total} "
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
    from clipgallery.core.indexing import ocr_pass
    from clipgallery.core.indexing.session import IndexingSession

    progress = _Progress(sys.stderr.isatty() and not args.json)
    with IndexingSession.open(args.library, device=args.device, batch_size=args.batch_size,
                              decode_workers=args.workers, progress=progress) as session:
        folders = _folders_to_index(session, args.paths)
        if folders is None:
            return 2
        if args.fast_indexing is not None:
            session.library.set_fast_indexing(args.fast_indexing == "on")
        text_pass = ocr_pass.for_library(session.library, enabled_now=not args.no_ocr,
                                         progress=progress, cancel=session.cancel_event)
        session.on_decoded = text_pass.spool_put if text_pass else None
        session.load_model(args.model)
        try:
            summary = session.run(folders)  # the CLIP pass (activates a completed switch)
        except KeyboardInterrupt:
            session.cancel()
            print("\nInterrupted; what was indexed so far is saved.", file=sys.stderr)
            return 130
        try:  # the text pass: after the CLIP pass, photos are searchable already
            text = None
            if not summary.cancelled:
                session.run_after_passes()
                text = text_pass.run() if text_pass else None
        except KeyboardInterrupt:
            session.cancel()
            print("\nInterrupted; the text read so far is saved.", file=sys.stderr)
            return 130
        _print_index_summary(summary, session.encoder, args.json, text)
    return 0


def _folders_to_index(session, given: list[str]) -> list[Path] | None:
    """The folders ``index`` runs over: those given (checked, then recorded), else the
    library's own; None after saying why there is nothing to index."""
    folders = [Path(os.path.abspath(p)) for p in given]
    for f in folders:
        if not f.exists():
            print(f"error: {os.fsdecode(f)} does not exist", file=sys.stderr)
            return None
        if not f.is_dir():
            print(f"error: {os.fsdecode(f)} is not a folder", file=sys.stderr)
            return None
    session.add_folders(folders)
    if not folders:
        folders = session.folders()
        if not folders:
            print("Nothing to index: give one or more folders, e.g. "
                  "'clipgallery index ~/Pictures'.", file=sys.stderr)
            return None
    return folders


def _print_index_summary(summary, encoder, as_json: bool, text=None) -> None:
    if as_json:
        out = summary.as_dict()
        out["model"] = encoder.model_id
        out["encoder"] = encoder.label
        out["text"] = text.as_dict() if text is not None else None
        _print_json(out)
        return
    print(f"Indexed {summary.indexed}, unchanged {summary.unchanged}, "
          f"moved {summary.moved}, copies {summary.copies}, removed {summary.removed}, "
          f"skipped {len(summary.skipped)} ({summary.elapsed:.1f} s, "
          f"model {encoder.label})")
    if text is not None:
        print(f"Read text in {text.read} photos: {text.with_text} with text, "
              f"{text.failed} failed ({text.elapsed:.1f} s)"
              + (", cancelled" if text.cancelled else ""))
    for p, reason in summary.skipped:
        print(f"  skipped {os.fsdecode(p)}: {reason}")
    for f in summary.offline_folders:
        print(f"  offline (not found, left as is): {os.fsdecode(f)}")


def _filters_from_args(args: argparse.Namespace):
    from clipgallery.core.search.filters import Filters

    return Filters.from_args(args)


def _open_searcher(lib, args: argparse.Namespace):
    """(Searcher, encoder) for the library's model; None when the library is empty."""
    from clipgallery.core.search.searcher import Searcher

    if lib.catalog.model_id is None and args.model is None:
        print("The library is empty: index a folder first "
              "('clipgallery index FOLDER').", file=sys.stderr)
        return None
    # warm=(): nothing loads ahead; a search loads the tower it uses when it uses it.
    encoder = lib.load_encoder(lib.search_spec(args.model), device=args.device, warm=())
    return Searcher(lib.catalog, lib.index_for(encoder), encoder)


def _print_response(response, args: argparse.Namespace) -> None:
    """Search results: JSON (one row per photo, with ``best`` and its stack) or text
    (best matches only unless --all, near-identical photos folded into one line)."""
    understood = response.understood.items() if response.understood else []
    if args.json:
        rows = []
        for r in response:
            for m in r.stack or [r]:
                d = m.as_dict(members=False)
                d["stack"] = r.photo.id if r.stack else None
                d["stack_size"] = r.count
                d["place"] = m.photo.place
                d["understood"] = understood
                d["why"] = response.why(m)
                rows.append(d)
        if response.ranked and response.sort == "relevance":
            rows.sort(key=lambda d: (-d["score"], d["id"]))
        _print_json(rows[:args.limit])
        return
    if understood:  # what the query's words were read as, e.g. "taken in July 2023"
        print(response.understood.describe(), file=sys.stderr)
    shown = list(response) if args.all else response.best
    if not response.results:
        print("No matching photos.")
        return
    if not shown:
        print("No photo stands out for this query; the closest ones:")
        shown = list(response)[:3]
    def first(r) -> str:  # the score, or the date taken for a listing without a query
        if response.ranked:
            return f"{r.score:.4f}"
        t = r.photo.taken_at
        return time.strftime("%Y-%m-%d", time.localtime(t)) if t is not None else "undated"

    for r in shown:
        extra = f"  [+{r.count - 1} near-identical]" if r.count > 1 else ""
        hit = response.text_hits.get(r.photo.id)
        if hit is not None:  # the text it holds, and how sure the reader was
            extra += f"  text: “{hit.text}” ({hit.confidence:.0%})"
        print(f"{first(r)}\t{os.fsdecode(r.path)}{extra}")
        if args.expand:
            for m in r.stack[1:]:
                print(f"{first(m)}\t  = {os.fsdecode(m.path)}")
    hidden = len(response) - len(shown)
    if hidden > 0:
        print(f"{hidden} more (use --all)")


def cmd_search(args: argparse.Namespace) -> int:
    from clipgallery.core.store.library import Library

    text = " ".join(args.text)
    filters = _filters_from_args(args)
    image = args.image or args.similar
    if not text.strip() and not image and not args.good and not filters:
        print("error: give search words, --image FILE, --similar PHOTO, --good PHOTO "
              "or a filter (--folder, --after, --camera, ...)", file=sys.stderr)
        return 2
    with Library.open_best(args.library) as lib:
        searcher = _open_searcher(lib, args)
        if searcher is None:
            return 1
        response = searcher.search(text, image=image, good=args.good or (),
                                   bad=args.bad or (), filters=filters or None,
                                   sort=args.sort, limit=args.limit,
                                   stack=not args.no_stack)
        _print_response(response, args)
    return 0


def cmd_album(args: argparse.Namespace) -> int:
    from clipgallery.core.search import albums
    from clipgallery.core.store.library import Library

    action = args.album_command
    if action is None:
        print("usage: clipgallery album {add,list,show,remove}", file=sys.stderr)
        return 2
    with Library.open(args.library) as lib:
        cat = lib.catalog
        if action == "add":
            album = albums.save_album(cat, args.name, args.query, _filters_from_args(args),
                                      sort=args.sort, image=args.image, good=args.good or (),
                                      bad=args.bad or (), replace=args.replace)
            if args.json:
                _print_json(album.as_dict())
            else:
                print(f"Saved album '{album.name}': {album.describe()}")
            return 0
        if action == "list":
            found = albums.list_albums(cat)
            if args.json:
                _print_json([a.as_dict() for a in found])
            elif not found:
                print("No albums yet: save a search with 'clipgallery album add NAME QUERY'.")
            for a in ([] if args.json else found):
                print(f"{a.name}\t{a.describe()}")
            return 0
        if action == "remove":
            albums.remove_album(cat, args.name)
            if not args.json:
                print(f"Removed album '{args.name}' (no photos were touched).")
            else:
                _print_json({"removed": args.name})
            return 0
        # show
        album = albums.get_album(cat, args.name)
        searcher = _open_searcher(lib, args)
        if searcher is None:
            return 1
        args.sort = album.sort
        response = albums.album_results(searcher, album, args.limit, stack=not args.no_stack)
        _print_response(response, args)
    return 0


def cmd_duplicates(args: argparse.Namespace) -> int:
    from clipgallery.core.search.duplicates import find_duplicates
    from clipgallery.core.store.library import Library

    with Library.open(args.library) as lib:
        groups = find_duplicates(lib.catalog, folder=args.folder)
    if args.json:
        _print_json([g.as_dict() for g in groups])
        return 0
    if not groups:
        print("No near-identical photos found.")
        return 0
    extra = sum(len(g) - 1 for g in groups)
    print(f"{len(groups)} groups of near-identical photos ({extra} beyond the first of "
          f"each; the first is the largest):")
    for g in groups:
        print()
        for k, p in enumerate(g.photos):
            size = f"{p.width}x{p.height}" if p.width and p.height else "?"
            print(f"{'*' if k == 0 else ' '} {size:>11}  {os.fsdecode(p.path)}")
    return 0


def cmd_labels(args: argparse.Namespace) -> int:
    from clipgallery.core.search.labels import top_labels
    from clipgallery.core.store.library import Library

    with Library.open_best(args.library) as lib:
        searcher = _open_searcher(lib, args)
        if searcher is None:
            return 1
        out = []
        for ref in args.photos:
            _, vec = searcher.reference_vector(ref)
            labels = top_labels(searcher.encoder, vec, args.k, cache_dir=lib.paths.cache)
            out.append({"photo": ref, "labels": [{"label": lb, "probability": round(p, 4)}
                                                 for lb, p in labels]})
    if args.json:
        _print_json(out)
        return 0
    for item in out:
        print(item["photo"])
        for lab in item["labels"]:
            print(f"  {lab['probability']:6.1%}  {lab['label']}")
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    from clipgallery.core.indexing import ocr_pass
    from clipgallery.core.store.library import Library

    if args.name is None:
        with Library.open(args.library) as lib:
            info = {"device": lib.device, "fast_indexing": "on" if lib.fast_indexing else "off",
                    "ocr": "on" if ocr_pass.enabled(lib.catalog) else "off"}
        if args.json:
            _print_json(info)
        else:
            for k, v in info.items():
                print(f"{k.replace('_', '-')}: {v}")
        return 0
    name = args.name.replace("_", "-")
    choices = {"device": DEVICES, "fast-indexing": ("on", "off"), "ocr": ("on", "off")}
    if name not in choices:
        print(f"error: unknown setting '{args.name}' (device, fast-indexing, ocr)",
              file=sys.stderr)
        return 2
    if args.value not in choices[name]:
        print(f"error: {name} must be one of {', '.join(choices[name])}", file=sys.stderr)
        return 2
    with Library.open(args.library, write=True) as lib:
        if name == "device":
            lib.set_device(args.value)
        elif name == "ocr":
            ocr_pass.set_enabled(lib.catalog, args.value == "on")
        else:
            lib.set_fast_indexing(args.value == "on")
    print(f"{name}: {args.value}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from clipgallery.core.store.catalog import INDEXED, MISSING, SKIPPED
    from clipgallery.core.store.library import Library

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
            # text in photos: indexed photos by what their read found ('unread': not yet)
            "text": cat.ocr_counts(),
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
    t = info["text"]
    if any(t.values()):
        print(f"Text:     {t['text']} with text, {t['none']} without, {t['unread']} not read yet"
              + (f", {t['failed']} unreadable" if t["failed"] else ""))
    for f in folders:
        state = "" if f["online"] else "  (offline)"
        print(f"Folder:   {f['path']}: {f['indexed']} indexed, {f['skipped']} skipped{state}")
    if info["skip_reasons"] and not args.quiet:
        print("Skipped files:")
        for s in info["skip_reasons"]:
            print(f"  {s['path']}: {s['reason']}")
    return 0


def _model_export(args: argparse.Namespace) -> int:
    """``model export SPEC DIR``: this computer's ONNX conversion of SPEC, as a folder
    that ``model import`` takes on another computer (one without torch, too)."""
    from clipgallery.core.models import portable
    from clipgallery.core.models.specs import ModelUnavailable
    from clipgallery.core.store.library import Library

    with Library.open(args.library) as lib:
        enc = lib.load_encoder(args.spec, device="cpu", purpose="index", warm=())
        if enc.backend != "onnxruntime":  # the conversion failed: PyTorch it is
            raise ModelUnavailable(f"{args.spec} could not be converted to ONNX on this "
                                   "computer (run with -v to see why).")
        dest = portable.export(enc.model_dir, Path(args.dir), label=args.spec)
    manifest = portable.read_manifest(dest)
    if args.json:
        _print_json({"spec": args.spec, "dir": os.fsdecode(dest),
                     "model_id": manifest["model_id"], "files": manifest["files"]})
    else:
        size = sum(f["size"] for f in manifest["files"].values()) / 1e6
        print(f"Exported {manifest['model_id']} ({size:.0f} MB) to {os.fsdecode(dest)}")
        print(f"On another computer: 'clipgallery model import {os.fsdecode(dest)}'")
    return 0


def _model_import(args: argparse.Namespace) -> int:
    """``model import PATH``: a weights file, a model folder or a converted model."""
    from clipgallery.core.models import model_store as models
    from clipgallery.core.store.library import Library

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


def _download_reporter(args: argparse.Namespace, tty: bool):
    """A progress callback for ``model download``: one rewritten line on a terminal, a
    line every 10 % in a log, nothing with ``--json``."""
    shown = {"step": -1, "resumed": False}

    def report(p) -> None:
        if args.json:
            return
        if p.resumed_from and not shown["resumed"]:
            shown["resumed"] = True
            sys.stderr.write(f"Resuming at {p.resumed_from / 1e6:.1f} MB\n")
        total = f" of {p.total / 1e6:.1f}" if p.total else ""
        line = (f"Downloading {args.spec}: {p.done / 1e6:.1f}{total} MB, "
                f"{p.speed / 1e6:.1f} MB/s")
        if tty:
            sys.stderr.write("\r\033[K" + line)
        else:  # a log: a line every 10 %
            step = int(10 * p.done / p.total) if p.total else 0
            if step == shown["step"]:
                return
            shown["step"] = step
            sys.stderr.write(line + (f" ({10 * step} %)" if p.total else "") + "\n")
        sys.stderr.flush()

    return report


def _model_download(args: argparse.Namespace) -> int:
    """``model download SPEC``: resumable, cancellable with Ctrl-C (exit code 130)."""
    import threading

    from clipgallery.core.models import model_store as models
    from clipgallery.core.store.library import Library

    with Library.open(args.library) as lib:
        tty = sys.stderr.isatty()
        cancel = threading.Event()
        try:
            path = models.download(args.spec, lib.hub_cache, _download_reporter(args, tty),
                                   cancel, store=lib.paths.models)
        except (KeyboardInterrupt, models.DownloadCancelled):
            cancel.set()
            print("\nCancelled; run the same command again to resume.", file=sys.stderr)
            return 130
        finally:
            if tty and not args.json:
                sys.stderr.write("\r\033[K")
    if args.json:
        _print_json({"spec": args.spec, "path": os.fsdecode(path),
                     "use": os.fsdecode(path) if path.is_dir() else args.spec})
    else:
        print(f"Downloaded {args.spec} to {os.fsdecode(path)}")
        print("Use it with 'clipgallery model use "
              f"{os.fsdecode(path) if path.is_dir() else args.spec}'")
    return 0


def _model_use(args: argparse.Namespace) -> int:
    """``model use SPEC``: switch the library to SPEC (re-encoded at the next index)."""
    from clipgallery.core.store.library import Library

    with Library.open(args.library, write=True) as lib:
        lib.load_encoder(args.spec, device="cpu")  # refuse what cannot be loaded
        lib.switch_model(args.spec)
        pending = lib.catalog.get_meta("next_model_spec")
    print(f"Switching to {args.spec}: run 'clipgallery index' to re-encode; search keeps "
          "using the current vectors until that is done." if pending else
          f"The library uses {args.spec}.")
    return 0


def _model_list(args: argparse.Namespace) -> int:
    """``model list``: the library's model, the installed ones and the curated ones
    (no torch is imported: see tests/test_portable_model.py)."""
    from clipgallery.core.models import model_store as models
    from clipgallery.core.store.library import Library

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


_MODEL_ACTIONS = {"import": _model_import, "download": _model_download,
                  "export": _model_export, "use": _model_use, "list": _model_list}


def cmd_model(args: argparse.Namespace) -> int:
    action = args.model_command
    if action is None:
        print("usage: clipgallery model {list,import,download,use,export}", file=sys.stderr)
        return 2
    return _MODEL_ACTIONS.get(action, _model_list)(args)


def cmd_check(args: argparse.Namespace) -> int:
    from clipgallery.core.store.check import check
    from clipgallery.core.store.library import Library

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


def _known_folder(catalog, folder: Path) -> bool:
    """Whether ``folder`` is one of the library's folders or holds photos of it."""
    return folder in catalog.folders() or sum(catalog.folder_counts(folder).values()) > 0


def cmd_folder(args: argparse.Namespace) -> int:
    from clipgallery.core.store.library import Library

    with Library.open(args.library, write=True) as lib:
        given = args.old if args.folder_command == "relocate" else getattr(args, "path", None)
        if given is not None and not _known_folder(lib.catalog, Path(os.path.abspath(given))):
            print(f"error: {os.fsdecode(os.path.abspath(given))} is not a folder of the "
                  "library (see 'clipgallery folder list')", file=sys.stderr)
            return 2
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
    """The command line: the options every command takes (``common``), then one
    sub-parser per command, each made by its ``_*_parser`` function below."""
    # SUPPRESS: an option given before the sub-command is not reset by the sub-parser.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--library", metavar="DIR",
                        help="library folder (default: $CLIPGALLERY_HOME or the user data dir)")
    common.add_argument("--model", metavar="SPEC",
                        help="NAME:PRETRAINED or a model folder (default: the library's, "
                             "$CLIPGALLERY_MODEL, or the built-in default)")
    common.add_argument("--device", choices=DEVICES, type=str.lower,
                        help="where models run (default: the library's setting, auto)")
    common.add_argument("-v", "--verbose", action="store_true", help="log more")

    p = argparse.ArgumentParser(prog="clipgallery", parents=[common],
                                description="Search your photos by what is in them, offline.")
    p.add_argument("--version", action="version", version=f"clipgallery {__version__}")
    sub = p.add_subparsers(dest="command")
    for add in (_index_parser, _search_parser, _album_parser, _duplicates_parser,
                _labels_parser, _settings_parser, _status_parser, _model_parser,
                _check_parser, _folder_parser, _gui_parser):
        add(sub, common)
    return p


def _index_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("index", parents=[common], help="add folders and index their photos")
    s.add_argument("paths", nargs="*", help="folders (default: the library's folders)")
    s.add_argument("--batch-size", type=int, default=32)
    s.add_argument("--workers", type=int, default=None, help="decode threads")
    s.add_argument("--fast-indexing", choices=["on", "off"], default=None,
                   help="on the CPU, use the int8 image model where its vectors match "
                        "float32's (about 3x faster on recent CPUs; default on); "
                        "the choice is saved in the library")
    s.add_argument("--no-ocr", action="store_true",
                   help="do not read text in photos in this run (to turn it off for good: "
                        "'clipgallery settings ocr off')")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.set_defaults(func=cmd_index)


def filter_options(parser: argparse.ArgumentParser) -> None:
    """The filters (--folder, --after, --camera, ...), one option group."""
    from clipgallery.core.search.filters import FILTERS

    g = parser.add_argument_group("filters")
    for f in FILTERS:
        g.add_argument(f.flag, metavar=f.metavar, choices=f.choices, help=f.help)


def query_options(parser: argparse.ArgumentParser) -> None:
    """What a search looks for besides words (search and album add)."""
    from clipgallery.core.search.filters import SORTS

    parser.add_argument("--image", metavar="FILE_OR_PHOTO",
                        help="search by an image (a file, or a photo of the library); "
                             "with words, by both")
    parser.add_argument("--good", metavar="PHOTO", action="append",
                        help="more like this result (repeatable; path or id)")
    parser.add_argument("--bad", metavar="PHOTO", action="append",
                        help="less like this result (repeatable; path or id)")
    parser.add_argument("--sort", choices=SORTS,
                        default="relevance", help="order (date: newest first)")


def result_options(parser: argparse.ArgumentParser) -> None:
    """How results are shown (search and album show)."""
    parser.add_argument("--limit", type=int, default=100, help="results at most")
    parser.add_argument("--all", action="store_true",
                        help="show every result, not only the best matches")
    parser.add_argument("--no-stack", action="store_true",
                        help="list near-identical photos separately")
    parser.add_argument("--expand", action="store_true",
                        help="list the photos of each stack")
    parser.add_argument("--json", action="store_true",
                        help="one row per photo, with 'best' and 'stack'")


def _search_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser(
        "search", parents=[common], help="search the library",
        description="Search by words (beach -people, 2:sunset + boat, \"quoted phrase\"), "
                    "an image, or both; only the best matches are shown unless --all.")
    s.add_argument("text", nargs="*", help="what to look for")
    query_options(s)
    s.add_argument("--similar", metavar="PHOTO", help="photos like one in the library")
    filter_options(s)
    result_options(s)
    s.set_defaults(func=cmd_search)


def _album_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("album", parents=[common], help="smart albums (saved searches)")
    asub = s.add_subparsers(dest="album_command")
    a = asub.add_parser("add", parents=[common], help="save a search as an album")
    a.add_argument("name")
    a.add_argument("query", nargs="?", default="", help="search words (may be empty "
                                                         "when filters define the album)")
    query_options(a)
    filter_options(a)
    a.add_argument("--replace", action="store_true", help="overwrite an album of that name")
    a.add_argument("--json", action="store_true")
    a = asub.add_parser("list", parents=[common], help="the saved albums")
    a.add_argument("--json", action="store_true")
    a = asub.add_parser("show", parents=[common], help="the album's photos, as of now")
    a.add_argument("name")
    result_options(a)
    a = asub.add_parser("remove", parents=[common], help="delete an album (not its photos)")
    a.add_argument("name")
    a.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_album, album_command=None)


def _duplicates_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("duplicates", parents=[common],
                       help="groups of near-identical photos in the library")
    s.add_argument("--folder", metavar="DIR", help="only photos under this folder")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_duplicates)


def _labels_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("labels", parents=[common], help="what is in a photo (top labels)")
    s.add_argument("photos", nargs="+", metavar="PHOTO", help="a photo's path or id, or a file")
    s.add_argument("-k", type=int, default=5, help="how many labels")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_labels)


def _settings_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("settings", parents=[common],
                       help="show or change the library's settings (device, fast-indexing, "
                            "ocr)")
    s.add_argument("name", nargs="?", help="device, fast-indexing or ocr (text in photos)")
    s.add_argument("value", nargs="?", help=f"device: {', '.join(DEVICES)}; "
                                            "fast-indexing, ocr: on, off")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_settings)


def _status_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("status", parents=[common], help="what the library holds")
    s.add_argument("--json", action="store_true")
    s.add_argument("-q", "--quiet", action="store_true", help="do not list skipped files")
    s.set_defaults(func=cmd_status)


def _model_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("model", parents=[common], help="list, download, import or use models")
    msub = s.add_subparsers(dest="model_command")
    m = msub.add_parser("list", parents=[common], help="installed and recommended models")
    m.add_argument("--json", action="store_true")
    m = msub.add_parser("import", parents=[common], help="import a model file or folder")
    m.add_argument("path", help="an open_clip checkpoint (.safetensors, .bin, .pt) or folder, "
                                "or a folder written by 'model export'")
    m.add_argument("--arch", help="open_clip architecture name or config JSON (for files)")
    m.add_argument("--name", help="name in the model store")
    m.add_argument("--use", action="store_true", help="switch the library to it")
    m.add_argument("--json", action="store_true")
    m = msub.add_parser("download", parents=[common],
                        help="download NAME:PRETRAINED or hf-hub:ORG/REPO (resumable)")
    m.add_argument("spec")
    m.add_argument("--json", action="store_true")
    m = msub.add_parser("use", parents=[common], help="switch the library to a model")
    m.add_argument("spec")
    m = msub.add_parser("export", parents=[common],
                        help="write this computer's ONNX conversion of a model to a folder "
                             "that 'model import' takes elsewhere (no torch needed there)")
    m.add_argument("spec")
    m.add_argument("dir", help="a new folder")
    m.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_model, model_command=None)


def _check_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("check", parents=[common], help="check the library's consistency")
    s.add_argument("--repair", action="store_true", help="fix what is found")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_check)


def _folder_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
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


def _gui_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("gui", parents=[common], help="open the desktop app (the default)")
    s.add_argument("--folder", action="append", default=[], help="add this folder")
    s.add_argument("--query", help="search for this at start")
    s.add_argument("--screenshot", metavar="FILE",
                   help="wait for indexing and the query, save a screenshot, exit")
    s.set_defaults(func=cmd_gui)


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
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        if getattr(args, "command", None) == "search" and all(
                u.startswith("-") and not u.startswith("--") for u in unknown):
            # `clipgallery search beach -people`: a negative term, not an option.
            args.text = [*args.text, *unknown]
        else:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        args = parser.parse_args(["gui", *(argv if argv is not None else sys.argv[1:])])
    for name in ("library", "model", "device"):
        if not hasattr(args, name):
            setattr(args, name, None)
    if not hasattr(args, "verbose"):
        args.verbose = False
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from clipgallery.core.models.specs import ModelUnavailable
    from clipgallery.core.search.searcher import SearchError
    from clipgallery.core.store.catalog import CatalogError, StorageError
    from clipgallery.core.store.library import LibraryLocked

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
