#!/usr/bin/env bash
# Install the built ClipGallery app so desktop menus find it (Linux).
#
#   install.sh [PREFIX]              default PREFIX: ~/.local (just you, no root needed);
#                                    /usr/local or /opt/... for everyone (as root)
#   install.sh --uninstall [PREFIX]  remove what install.sh put there (not your library)
#
# Run it from the repository after packaging/build.sh (packaging/linux/install.sh; the app
# is taken from dist/ClipGallery, or from $CLIPGALLERY_APP), or from inside the built app
# folder, which carries a copy (dist/ClipGallery/install.sh), e.g. after unpacking a
# tarball of that folder on another computer.
#
# It puts:
#   PREFIX/lib/clipgallery/                      the app folder (replaced as a whole)
#   PREFIX/bin/clipgallery                       a symlink to its launcher
#   PREFIX/share/applications/ID.desktop         the menu entry (Exec= made absolute)
#   PREFIX/share/metainfo/ID.metainfo.xml        AppStream data for software centres
#   PREFIX/share/icons/hicolor/*/apps/ID.{png,svg}
# and refreshes the desktop and icon caches when the tools for that are installed.
set -euo pipefail

ID=io.github.clipgallery.ClipGallery
HERE=$(cd "$(dirname "$0")" && pwd)

UNINSTALL=0
if [ "${1:-}" = "--uninstall" ]; then UNINSTALL=1; shift; fi
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
PREFIX=${1:-$HOME/.local}
mkdir -p "$PREFIX"
PREFIX=$(cd "$PREFIX" && pwd)

LIB=$PREFIX/lib/clipgallery
BIN=$PREFIX/bin/clipgallery
APPS=$PREFIX/share/applications
META=$PREFIX/share/metainfo
ICONS=$PREFIX/share/icons/hicolor

refresh_caches() {
    if command -v update-desktop-database >/dev/null 2>&1; then
        update-desktop-database -q "$APPS" || true
    fi
    # Refresh the icon cache where there is one (or a theme index, as in /usr/local): a
    # stale cache would hide the new icon.  A per-user hicolor folder usually has
    # neither, and then icons are found without a cache; none is created there.
    if command -v gtk-update-icon-cache >/dev/null 2>&1 &&
            { [ -f "$ICONS/icon-theme.cache" ] || [ -f "$ICONS/index.theme" ]; }; then
        gtk-update-icon-cache -q -f -t "$ICONS" || true
    fi
}

if [ "$UNINSTALL" = 1 ]; then
    if [ -L "$BIN" ]; then rm -f "$BIN"; fi
    rm -rf "$LIB"
    rm -f "$APPS/$ID.desktop" "$META/$ID.metainfo.xml"
    rm -f "$ICONS"/*/apps/"$ID".png "$ICONS"/scalable/apps/"$ID".svg
    refresh_caches
    echo "Removed ClipGallery from $PREFIX (your photo library and settings are kept)."
    exit 0
fi

if [ -x "$HERE/clipgallery" ] && [ -d "$HERE/share/applications" ]; then
    # running from inside a built app folder
    APP=$HERE
    DESKTOP=$HERE/share/applications/$ID.desktop
    METAINFO=$HERE/share/metainfo/$ID.metainfo.xml
    ICON_SRC=$HERE/share/icons/hicolor
else
    ROOT=$(cd "$HERE/../.." && pwd)
    APP=${CLIPGALLERY_APP:-$ROOT/dist/ClipGallery}
    DESKTOP=$HERE/$ID.desktop
    METAINFO=$HERE/$ID.metainfo.xml
    ICON_SRC=$ROOT/resources/icons/hicolor
fi
if [ ! -x "$APP/clipgallery" ]; then
    echo "install.sh: no built app at $APP; run packaging/build.sh first." >&2
    exit 1
fi
APP=$(cd "$APP" && pwd)
case "$LIB/" in "$APP"/*)
    echo "install.sh: cannot install $APP into itself ($LIB)." >&2; exit 1 ;;
esac

# The app folder: copied next to the old one, then swapped in, so a failed copy leaves
# a working installation.
mkdir -p "$PREFIX/lib"
rm -rf "$LIB.new" "$LIB.old"
cp -a "$APP" "$LIB.new"
rm -rf "$LIB.new/share" "$LIB.new/install.sh"
if [ -e "$LIB" ]; then mv "$LIB" "$LIB.old"; fi
mv "$LIB.new" "$LIB"
rm -rf "$LIB.old"

mkdir -p "$PREFIX/bin"
ln -sfn "$LIB/clipgallery" "$BIN"

# The menu entry runs the installed launcher by its full path: PREFIX/bin need not be
# on the desktop session's PATH (~/.local/bin often is not).
mkdir -p "$APPS"
sed -e "s|^Exec=clipgallery|Exec=$BIN|" -e "s|^TryExec=clipgallery|TryExec=$BIN|" \
    "$DESKTOP" > "$APPS/$ID.desktop.tmp"
mv "$APPS/$ID.desktop.tmp" "$APPS/$ID.desktop"
chmod 644 "$APPS/$ID.desktop"

mkdir -p "$META"
install -m 644 "$METAINFO" "$META/$ID.metainfo.xml"

for src in "$ICON_SRC"/*/apps/"$ID".*; do
    size_dir=$(basename "$(dirname "$(dirname "$src")")")
    mkdir -p "$ICONS/$size_dir/apps"
    install -m 644 "$src" "$ICONS/$size_dir/apps/"
done

refresh_caches

echo "Installed ClipGallery $("$BIN" --version 2>/dev/null | awk '{print $2}') into $PREFIX:"
echo "  app:      $LIB"
echo "  command:  $BIN"
echo "  menu:     $APPS/$ID.desktop"
case ":$PATH:" in
    *":$PREFIX/bin:"*) ;;
    *) echo "Note: $PREFIX/bin is not on your PATH; add it to run 'clipgallery' in a terminal." ;;
esac
