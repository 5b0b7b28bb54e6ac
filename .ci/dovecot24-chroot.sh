#!/usr/bin/env bash
# Makes (or checks) a Debian 13 "trixie" chroot with Dovecot 2.4 in it, for the Dovecot 2.4
# interop tests (crates/pn/tests/dovecot24.rs). Usage: .ci/dovecot24-chroot.sh DIR
# Then run the tests with PN_DOVECOT24_ROOT=DIR. Idempotent: a DIR whose Dovecot answers
# --version is left as it is. Needs root and Debian's mirror (about 2 minutes, ~250 MB).
set -euo pipefail

dir="${1:?usage: $0 DIR}"
export DEBIAN_FRONTEND=noninteractive

if [ -x "$dir/usr/sbin/dovecot" ] && chroot "$dir" /usr/sbin/dovecot --version >/dev/null 2>&1; then
    echo "dovecot24-chroot: $dir already has $(chroot "$dir" /usr/sbin/dovecot --version)"
    exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
    apt-get update -q
    apt-get install -y -q --no-install-recommends debootstrap
fi

mkdir -p "$dir"
# A half-made chroot (interrupted run) is started again from scratch.
if [ -e "$dir/debootstrap" ]; then
    rm -rf --one-file-system "${dir:?}"/*
fi
debootstrap --variant=minbase --include=dovecot-core,dovecot-imapd,dovecot-lmtpd trixie "$dir"

# The tests run Dovecot as the host's test user: the chroot needs no services of its own.
chroot "$dir" /usr/sbin/dovecot --version
