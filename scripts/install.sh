#!/usr/bin/env bash
# Install edged as a systemd service on a Raspberry Pi (Raspberry Pi OS / Debian bookworm).
#
#   sudo scripts/install.sh                       # prompts for the API key (input hidden)
#   sudo scripts/install.sh --key-file key.txt    # or reads it from a file ...
#   printf '%s' "$KEY" | sudo scripts/install.sh --key-stdin   # ... or from stdin
#   sudo scripts/install.sh --uninstall [--purge]
#
# What it lays down: the Debian packages edged builds and runs with, a venv in
# /opt/edged/venv with edged installed from this checkout, /usr/local/bin/edged,
# /etc/edged/edged.yaml (never overwriting an edited one), the API key as the
# root-only credential file /etc/edged/api-key (mode 0600, handed to the service by
# LoadCredential=), the unit /etc/systemd/system/edged.service, the system user
# edged (in the audio group, and gpio where it exists), and the README with the
# docs/ pages it links to in /opt/edged. Then it enables and starts the service.
# Running it again changes only what differs.
#
# --root DIR lays everything under DIR without touching this system (no apt-get, no
# useradd: passwd/group entries are written under DIR; no systemctl), for CI.
set -euo pipefail

# Files land readable by the service user (the venv, the config); the key file sets
# its own stricter mask.
umask 022

SRC="$(cd "$(dirname "$0")/.." && pwd)"
ROOT=""
PYTHON=python3
NO_START=0
NO_DEPS=0
UNINSTALL=0
PURGE=0
KEY_FROM=""   # "", file, stdin
KEY_FILE=""

usage() {
    cat <<'EOF'
usage: install.sh [options]
  --key-file FILE   read the API key from FILE (first line)
  --key-stdin       read the API key from standard input (first line)
                    (without either, it prompts when there is no key installed yet;
                    the key is never taken as an argument, so it stays out of ps and
                    shell history)
  --no-start        install and enable, but do not start or restart the service
  --no-deps         install edged alone into the venv, offline (its dependencies must
                    already be there); for CI and offline updates
  --python PY       the Python to build the venv with (default: python3)
  --root DIR        install under DIR instead of / (no apt-get, useradd or systemctl)
  --uninstall       stop and remove the service, the venv and the command;
                    keeps /etc/edged (configuration and key) unless --purge
  --purge           with --uninstall: also remove /etc/edged, /var/lib/edged and the user
  -h, --help        this help
EOF
}

die() { printf 'install: error: %s\n' "$*" >&2; exit 1; }
say() { printf 'install: %s\n' "$*"; }

while (($#)); do
    case "$1" in
        --key-file) (($# >= 2)) || die "--key-file needs a FILE"; KEY_FROM="file"; KEY_FILE="$2"; shift ;;
        --key-file=*) KEY_FROM="file"; KEY_FILE="${1#*=}" ;;
        --key-stdin) KEY_FROM="stdin" ;;
        --no-start) NO_START=1 ;;
        --no-deps) NO_DEPS=1 ;;
        --python) (($# >= 2)) || die "--python needs an interpreter"; PYTHON="$2"; shift ;;
        --python=*) PYTHON="${1#*=}" ;;
        --root) (($# >= 2)) || die "--root needs a DIR"; ROOT="$2"; shift ;;
        --root=*) ROOT="${1#*=}" ;;
        --uninstall) UNINSTALL=1 ;;
        --purge) PURGE=1 ;;
        -h|--help) usage; exit 0 ;;
        --key|--key=*|--api-key|--api-key=*)
            die "the API key is never taken as an argument (it would show in ps and shell history); use --key-file FILE, --key-stdin or the prompt" ;;
        *) die "unknown option '${1%%=*}' (see --help)" ;;
    esac
    shift
done
((PURGE == 0 || UNINSTALL == 1)) || die "--purge only goes with --uninstall"

if [[ -n "$ROOT" ]]; then
    [[ "$ROOT" == /* ]] || die "--root needs an absolute path"
    ROOT="${ROOT%/}"
    [[ -n "$ROOT" ]] || die "--root / is this system: leave --root out instead"
    mkdir -p "$ROOT"
elif ((EUID != 0)); then
    die "run as root: sudo $0 $*"
fi

ETC="$ROOT/etc/edged"
CONF="$ETC/edged.yaml"
KEY="$ETC/api-key"
UNIT="$ROOT/etc/systemd/system/edged.service"
DROPIN="$ROOT/etc/systemd/system/edged.service.d/prometheus.conf"
OPT="$ROOT/opt/edged"
VENV="$OPT/venv"
BIN="$ROOT/usr/local/bin/edged"
STATE="$ROOT/var/lib/edged"
USER_NAME=edged
CHANGED=0
SCRATCH=""  # a temp dir to remove on exit (wheel build, key file being written)

cleanup() { if [[ -n "$SCRATCH" ]]; then rm -rf "$SCRATCH"; fi; }
trap cleanup EXIT

# systemd is PID 1 here, and this is not a scratch-root install.
with_systemd() { [[ -z "$ROOT" && -d /run/systemd/system ]]; }

on_a_pi() { grep -qs "Raspberry Pi" /proc/device-tree/model; }

# install_file SRC DEST MODE: copy when DEST is missing or differs.
install_file() {
    local src="$1" dest="$2" mode="$3"
    if [[ -f "$dest" ]] && cmp -s "$src" "$dest"; then
        if [[ "$(stat -c %a "$dest")" != "${mode#0}" ]]; then
            chmod "$mode" "$dest"; say "fixed the mode of $dest to $mode"; CHANGED=1
        else
            say "unchanged $dest"
        fi
        return
    fi
    install -D -m "$mode" "$src" "$dest"
    say "installed $dest"
    CHANGED=1
}

# ----------------------------------------------------------------------------- packages

install_packages() {
    local pkgs=(python3 python3-venv python3-pip python3-setuptools python3-wheel python3-dev
                gcc pkg-config libportaudio2 portaudio19-dev libsystemd-dev alsa-utils)
    # gpiozero's default pin factory on a Pi is lgpio; the venv builds it if no wheel fits.
    on_a_pi && pkgs+=(swig liblgpio-dev)
    local missing=() p
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        say "Debian packages: all present"
        return
    fi
    say "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# ----------------------------------------------------------------------------- user

add_user_scratch() {
    local passwd="$ROOT/etc/passwd" group="$ROOT/etc/group" id g
    mkdir -p "$ROOT/etc"
    [[ -e "$passwd" ]] || : > "$passwd"
    [[ -e "$group" ]] || : > "$group"
    if ! grep -q "^$USER_NAME:" "$passwd"; then
        id=999
        while cut -d: -f3 "$passwd" | grep -qx "$id" || cut -d: -f3 "$group" | grep -qx "$id"; do
            id=$((id - 1))
        done
        printf '%s:x:%d:\n' "$USER_NAME" "$id" >> "$group"
        printf '%s:x:%d:%d:edged voice daemon:/var/lib/edged:/usr/sbin/nologin\n' \
            "$USER_NAME" "$id" "$id" >> "$passwd"
        say "added the system user $USER_NAME ($id) to $passwd"
        CHANGED=1
    else
        say "unchanged user $USER_NAME"
    fi
    for g in audio gpio; do
        grep -q "^$g:" "$group" || continue
        if ! grep "^$g:" "$group" | cut -d: -f4 | tr ',' '\n' | grep -qx "$USER_NAME"; then
            sed -i -E "/^$g:/ { s/:$/:$USER_NAME/; t; s/$/,$USER_NAME/ }" "$group"
            say "added $USER_NAME to the $g group"
            CHANGED=1
        fi
    done
}

add_user() {
    if [[ -n "$ROOT" ]]; then add_user_scratch; return; fi
    if ! getent passwd "$USER_NAME" >/dev/null; then
        useradd --system --user-group --home-dir /var/lib/edged --no-create-home \
            --shell /usr/sbin/nologin --comment "edged voice daemon" "$USER_NAME"
        say "added the system user $USER_NAME"
        CHANGED=1
    else
        say "unchanged user $USER_NAME"
    fi
    local g
    for g in audio gpio; do
        getent group "$g" >/dev/null || continue
        if ! id -nG "$USER_NAME" | tr ' ' '\n' | grep -qx "$g"; then
            usermod -aG "$g" "$USER_NAME"
            say "added $USER_NAME to the $g group"
            CHANGED=1
        fi
    done
}

# ----------------------------------------------------------------------------- venv

source_stamp() {
    (cd "$SRC" && find edged pyproject.toml -type f \( -name '*.py' -o -name '*.typed' \
        -o -name pyproject.toml \) -not -path '*/__pycache__/*' -print0 \
        | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}

install_venv() {
    local stamp want
    if [[ ! -x "$VENV/bin/python" ]]; then
        mkdir -p "$OPT"
        "$PYTHON" -m venv "$VENV"
        say "created the venv $VENV"
        CHANGED=1
    fi
    want="$(source_stamp)"
    stamp="$VENV/.edged-source"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        say "unchanged edged in $VENV"
        return
    fi
    # Build the wheel from a copy, so the checkout gets no build/ or egg-info, with the
    # distribution's setuptools and wheel (python3-setuptools, python3-wheel): no build
    # tools are fetched, and --no-deps works offline.
    local build
    SCRATCH="$(mktemp -d)"
    build="$SCRATCH"
    mkdir -p "$build/src"
    cp -r "$SRC/edged" "$SRC/pyproject.toml" "$build/src/"
    [[ -f "$SRC/README.md" ]] && cp "$SRC/README.md" "$build/src/"
    "$PYTHON" -m pip wheel --quiet --no-deps --no-build-isolation --no-index \
        --wheel-dir "$build/wheel" "$build/src" >/dev/null
    local wheel=("$build"/wheel/edged-*.whl)
    local pip=("$VENV/bin/python" -m pip --quiet --disable-pip-version-check)
    if ((NO_DEPS)); then
        "${pip[@]}" install --no-index --no-deps --force-reinstall "${wheel[0]}"
    else
        "${pip[@]}" install "${wheel[0]}"
        "${pip[@]}" install --no-deps --force-reinstall "${wheel[0]}"
        on_a_pi && "${pip[@]}" install lgpio
        # The wake word's package ships TensorFlow Lite for 64-bit systems only (a 32-bit
        # userland on a 64-bit kernel still reports aarch64, so ask the Python itself).
        if "$VENV/bin/python" -c 'import sys; sys.exit(sys.maxsize <= 2**32)'; then
            "${pip[@]}" install "pymicro-wakeword>=2.5,<3" "pymicro-features>=2" \
                || say "the wake word's package did not install; wake_word stays unavailable"
        fi
    fi
    printf '%s\n' "$want" > "$stamp"
    rm -rf "$build"
    SCRATCH=""
    say "installed edged into $VENV"
    CHANGED=1
}

install_command() {
    local target=/opt/edged/venv/bin/edged
    if [[ -L "$BIN" && "$(readlink "$BIN")" == "$target" ]]; then
        say "unchanged $BIN"
        return
    fi
    mkdir -p "$(dirname "$BIN")"
    ln -sfn "$target" "$BIN"
    say "installed $BIN -> $target"
    CHANGED=1
}

# ----------------------------------------------------------------------------- config and key

install_config() {
    local shipped="$SRC/config/edged.yaml"
    mkdir -p "$ETC"
    chmod 0755 "$ETC"
    if [[ ! -e "$CONF" ]]; then
        install -m 0644 "$shipped" "$CONF"
        say "installed $CONF"
        CHANGED=1
    elif cmp -s "$shipped" "$CONF"; then
        say "unchanged $CONF"
    else
        if ! cmp -s "$shipped" "$CONF.new" 2>/dev/null; then
            install -m 0644 "$shipped" "$CONF.new"
            CHANGED=1
        fi
        say "kept your edited $CONF; the shipped version is $CONF.new (compare: diff $CONF $CONF.new)"
    fi
}

# ----------------------------------------------------------------------------- docs

# The README (the unit's Documentation=) and the docs/ pages it links to, side by
# side as in the checkout, so its relative links resolve where it is installed. A
# page no longer shipped is removed. Documentation alone never restarts the service.
install_docs() {
    local before=$CHANGED rel copied=0 removed=0
    if [[ -f "$SRC/README.md" ]]; then
        install_file "$SRC/README.md" "$OPT/README.md" 0644
    fi
    if [[ -d "$SRC/docs" ]]; then
        while IFS= read -r -d '' rel; do
            if [[ -f "$OPT/docs/$rel" ]] && cmp -s "$SRC/docs/$rel" "$OPT/docs/$rel" \
                    && [[ "$(stat -c %a "$OPT/docs/$rel")" == 644 ]]; then
                continue
            fi
            install -D -m 0644 "$SRC/docs/$rel" "$OPT/docs/$rel"
            copied=$((copied + 1))
        done < <(cd "$SRC/docs" && find . \( -name '.?*' -prune \) -o -type f -printf '%P\0')
    fi
    if [[ -d "$OPT/docs" ]]; then
        while IFS= read -r -d '' rel; do
            if [[ -f "$SRC/docs/$rel" && "/$rel" != */.* ]]; then continue; fi
            rm -f "$OPT/docs/$rel"
            removed=$((removed + 1))
        done < <(cd "$OPT/docs" && find . -type f -printf '%P\0')
        find "$OPT/docs" -type d -empty -delete
    fi
    if ((copied + removed)); then
        say "docs in $OPT/docs: $copied page(s) installed, $removed no longer shipped removed"
    elif [[ -d "$OPT/docs" ]]; then
        say "unchanged $OPT/docs"
    fi
    CHANGED=$before
}

read_key() {
    # Prints nothing; sets NEW_KEY. The key only ever passes through shell builtins.
    NEW_KEY=""
    case "$KEY_FROM" in
        file)
            [[ -r "$KEY_FILE" ]] || die "cannot read the key file $KEY_FILE"
            IFS= read -r NEW_KEY < "$KEY_FILE" || true ;;
        stdin)
            IFS= read -r NEW_KEY || true ;;
        "")
            if [[ -s "$KEY" ]]; then
                return
            fi
            if [[ -t 0 ]]; then
                IFS= read -r -s -p "OpenAI API key (input hidden, empty to skip): " NEW_KEY || true
                echo
            fi ;;
    esac
    NEW_KEY="${NEW_KEY//$'\r'/}"
    NEW_KEY="${NEW_KEY#"${NEW_KEY%%[![:space:]]*}"}"
    NEW_KEY="${NEW_KEY%"${NEW_KEY##*[![:space:]]}"}"
    if [[ -n "$KEY_FROM" && -z "$NEW_KEY" ]]; then
        die "the key given is empty"
    fi
    if [[ "$NEW_KEY" =~ [[:space:]] ]]; then
        NEW_KEY=""
        die "the key given contains spaces; it should be one token such as sk-..."
    fi
}

install_key() {
    read_key
    mkdir -p "$ETC"
    if [[ -z "$NEW_KEY" ]]; then
        if [[ -s "$KEY" ]]; then
            if [[ "$(stat -c %a "$KEY")" != 600 ]]; then
                chmod 0600 "$KEY"; say "fixed the mode of $KEY to 0600"; CHANGED=1
            else
                say "unchanged $KEY"
            fi
        else
            say "WARNING: no API key installed. Run again with --key-file FILE or --key-stdin,"
            say "         or write it to $KEY (owner root, mode 0600)."
        fi
        return
    fi
    local tmp="$KEY.tmp.$$"
    SCRATCH="$tmp"
    (umask 077 && printf '%s' "$NEW_KEY" > "$tmp")
    NEW_KEY=""
    if ((EUID == 0)); then chown 0:0 "$tmp"; fi
    chmod 0600 "$tmp"
    if [[ -f "$KEY" ]] && cmp -s "$tmp" "$KEY" && [[ "$(stat -c %a "$KEY")" == 600 ]]; then
        rm -f "$tmp"
        SCRATCH=""
        say "unchanged $KEY"
        return
    fi
    mv -f "$tmp" "$KEY"
    SCRATCH=""
    say "installed the API key as $KEY (root only, mode 0600)"
    CHANGED=1
}

# ----------------------------------------------------------------------------- service

install_unit() {
    install_file "$SRC/systemd/edged.service" "$UNIT" 0644
}

# The unit's file system is read-only (ProtectSystem=strict): when the installed
# config sets health.prometheus_textfile, a drop-in opens its directory to edged
# ("-": no error while node_exporter's directory does not exist yet). The key is read
# by edged's own loader in the venv; without the key the drop-in goes.
install_prometheus_dropin() {
    local dir tmp
    if ! dir="$("$VENV/bin/python" -I - "$CONF" <<'EOF'
import os
import sys

try:
    from edged.config import ConfigError, load
except ImportError as exc:
    print(f"edged cannot be imported from the venv ({exc})")
    sys.exit(1)
try:
    path = load(sys.argv[1]).health.prometheus_textfile
except ConfigError as exc:
    print("; ".join(str(p) for p in exc.problems))
    sys.exit(1)
print(os.path.dirname(path) if path else "")
EOF
    )"; then
        say "left $DROPIN unchanged: cannot read health.prometheus_textfile: $dir"
        return
    fi
    if [[ -z "$dir" ]]; then
        if [[ -e "$DROPIN" ]]; then
            rm -f "$DROPIN"
            rmdir "$(dirname "$DROPIN")" 2>/dev/null || true
            say "removed $DROPIN (health.prometheus_textfile is not set)"
            CHANGED=1
        fi
        return
    fi
    SCRATCH="$(mktemp -d)"
    tmp="$SCRATCH/prometheus.conf"
    printf '%s\n' "# Written by scripts/install.sh from health.prometheus_textfile in /etc/edged/edged.yaml." \
        "[Service]" "ReadWritePaths=-$dir" > "$tmp"
    install_file "$tmp" "$DROPIN" 0644
    rm -rf "$SCRATCH"
    SCRATCH=""
}

start_service() {
    if ! with_systemd; then
        say "systemd is not running here${ROOT:+ (--root)}: not enabling or starting edged"
        return
    fi
    systemctl daemon-reload
    systemctl enable --quiet edged
    if ((NO_START)); then
        say "enabled edged; not started (--no-start): sudo systemctl start edged"
    elif ((CHANGED)) && systemctl is-active --quiet edged; then
        systemctl restart edged
        say "restarted edged"
    else
        systemctl start edged
        say "edged is $(systemctl is-active edged || true)"
    fi
}

uninstall() {
    if with_systemd; then
        systemctl disable --now --quiet edged 2>/dev/null || true
    fi
    local path
    for path in "$UNIT" "$DROPIN" "$BIN"; do
        if [[ -e "$path" || -L "$path" ]]; then rm -f "$path"; say "removed $path"; fi
    done
    rmdir "$(dirname "$DROPIN")" 2>/dev/null || true
    if with_systemd; then systemctl daemon-reload; fi
    if [[ -d "$OPT" ]]; then rm -rf "$OPT"; say "removed $OPT"; fi
    if ((PURGE)); then
        for path in "$ETC" "$STATE"; do
            if [[ -e "$path" ]]; then rm -rf "$path"; say "removed $path"; fi
        done
        if [[ -n "$ROOT" ]]; then
            local g
            [[ -f "$ROOT/etc/passwd" ]] && sed -i "/^$USER_NAME:/d" "$ROOT/etc/passwd"
            if [[ -f "$ROOT/etc/group" ]]; then
                sed -i -E "/^$USER_NAME:/d" "$ROOT/etc/group"
                for g in audio gpio; do
                    sed -i -E "/^$g:/ { s/([:,])$USER_NAME(,|$)/\\1/; s/,$// }" "$ROOT/etc/group"
                done
            fi
            say "removed the user $USER_NAME"
        elif getent passwd "$USER_NAME" >/dev/null; then
            userdel "$USER_NAME"
            say "removed the user $USER_NAME"
        fi
    elif [[ -d "$ETC" ]]; then
        say "kept $ETC (configuration and API key); --uninstall --purge removes it"
    fi
    say "edged is uninstalled"
}

# ----------------------------------------------------------------------------- main

if ((UNINSTALL)); then
    uninstall
    exit 0
fi

if [[ -z "$ROOT" ]]; then install_packages; fi
add_user
install_venv
install_command
install_config
install_docs
install_key
install_unit
install_prometheus_dropin
start_service

cat <<EOF

edged is installed${ROOT:+ under $ROOT}. Check it with:
  systemctl status edged     # running? and its one-line status
  journalctl -u edged -f     # its log, with structured health records
  edged status               # the latest health record as a table
  edged doctor               # audio devices, buttons, credentials and the endpoint
Configuration: /etc/edged/edged.yaml — check edits with 'edged check-config',
apply them with 'sudo edged ctl reload' (it says what changed, or why not).
Documentation: /opt/edged/README.md and /opt/edged/docs/.
EOF
