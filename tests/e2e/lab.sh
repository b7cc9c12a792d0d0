#!/usr/bin/env bash
# dslim end-to-end lab: makes a Docker engine with BuildKit reachable and the base images the
# e2e cases use present, on a Debian (bookworm) machine without Docker Hub, as root.
#
# - an engine that already answers (DOCKER_HOST or the default socket) is used as it is;
#   otherwise a private dockerd 26 + buildx is started from Debian packages (trixie's docker.io,
#   docker-buildx, docker-cli unpacked beside bookworm's containerd/runc);
# - missing base images are pulled when the engine was already there (a real workstation), else
#   built as stand-ins from Debian packages: debian:bookworm[-slim] (debootstrap), buildpack-deps,
#   python:3.11[-slim], node:18[-slim], golang:1.19 and distroless static/base/cc.
# Idempotent. Downloads (engine debs, debootstrap debs, root filesystems) are cached in
# $DSLIM_LAB_CACHE; images stay in the engine's data root under $DSLIM_LAB_ROOT.
# The package mirror is the one this machine's apt configuration names (read at run time).
# Last line of stdout: the `export ...` to eval. Progress goes to stderr.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd); REPO=$(cd "$HERE/../.." && pwd)
ROOT=${DSLIM_LAB_ROOT:-/tmp/dslim-lab}                      # socket, logs, data root (images)
CACHE=${DSLIM_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dslim-lab}  # debs, engine, root filesystems
SOCK=$ROOT/dockerd.sock; ENG=$CACHE/engine
log() { echo "lab: $*" >&2; }
mkdir -p "$ROOT" "$CACHE"
export DEBIAN_FRONTEND=noninteractive

mirror() { # the Debian mirror this machine's apt already uses (deb822 .sources first, then sources.list)
  local m=""
  m=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$m" ] || m=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
  [ -n "$m" ] || { log "cannot find a Debian mirror in /etc/apt"; exit 2; }
  echo "$m"
}
need_root() { [ "$(id -u)" = 0 ] || { log "run as root ($1)"; exit 2; }; }

# ---- 1. an engine ------------------------------------------------------------------------
STARTED_HERE=0
DOCKER=$(command -v docker || true)
if [ -n "$DOCKER" ] && [ "${DOCKER_HOST:-}" != "unix://$SOCK" ] && "$DOCKER" info >/dev/null 2>&1; then
  log "using the engine that already answers (${DOCKER_HOST:-default socket})"
  PULL=${DSLIM_LAB_PULL:-1}
  if [ -n "${DOCKER_HOST:-}" ]; then ENVLINE="export DOCKER_HOST=$DOCKER_HOST"; else ENVLINE=": nothing to export, the default engine is used"; fi
else
  need_root "to install containerd/runc and start dockerd"
  if ! command -v containerd >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null \
     || ! command -v iptables >/dev/null; then
    log "installing containerd runc debootstrap iptables with apt-get"
    apt-get update -qq && apt-get install -y -q --no-install-recommends containerd runc debootstrap tini iptables >/dev/null
  fi
  if ! [ -x "$ENG/usr/sbin/dockerd" ] || ! [ -x "$ENG/usr/bin/docker" ]; then
    T=$CACHE/trixie; mkdir -p "$T/lists/partial" "$T/debs"
    echo "deb $(mirror) trixie main" > "$T/sources.list"
    o=(-o APT::Sandbox::User=root -o "Dir::Etc::SourceList=$T/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$T/lists")
    if ! ls "$T"/debs/docker.io_*.deb "$T"/debs/docker-buildx_*.deb "$T"/debs/docker-cli_*.deb >/dev/null 2>&1; then
      log "downloading docker.io, docker-buildx, docker-cli (trixie) into $T/debs"
      apt-get "${o[@]}" update -qq
      (cd "$T/debs" && apt-get "${o[@]}" download docker.io docker-buildx docker-cli >/dev/null)
    fi
    rm -rf "$ENG.tmp"; for f in "$T"/debs/*.deb; do dpkg -x "$f" "$ENG.tmp"; done; rm -rf "$ENG"; mv "$ENG.tmp" "$ENG"
  fi
  DOCKER=$ENG/usr/bin/docker
  export DOCKER_HOST=unix://$SOCK PATH=$ENG/usr/sbin:$ENG/usr/bin:$PATH
  if ! "$DOCKER" info >/dev/null 2>&1; then
    log "starting dockerd (data root $ROOT/data, log $ROOT/dockerd.log)"
    mkdir -p "$ROOT/data"
    # no bridge / iptables: sandboxes often forbid them. Builds then need `--network host`
    # (DSLIM_BUILD_NETWORK below); `docker run --network none` needs neither.
    setsid "$ENG/usr/sbin/dockerd" --iptables=false --ip-forward=false --bridge=none \
       --data-root "$ROOT/data" --exec-root "$ROOT/exec" --pidfile "$ROOT/dockerd.pid" \
       --host "unix://$SOCK" >"$ROOT/dockerd.log" 2>&1 < /dev/null &
    for _ in $(seq 1 60); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 1; done
    "$DOCKER" info >/dev/null 2>&1 || { log "dockerd did not come up; see $ROOT/dockerd.log"; tail -5 "$ROOT/dockerd.log" >&2; exit 2; }
    STARTED_HERE=1
  fi
  PULL=${DSLIM_LAB_PULL:-0}
  ENVLINE="export DOCKER_HOST=unix://$SOCK PATH=$ENG/usr/sbin:$ENG/usr/bin:\$PATH DSLIM_BUILD_NETWORK=host"
fi
# the buildx plugin: link ours unless the user already has one
if [ -x "$ENG/usr/libexec/docker/cli-plugins/docker-buildx" ] && ! "$DOCKER" buildx version >/dev/null 2>&1; then
  mkdir -p "$HOME/.docker/cli-plugins"
  ln -sfn "$ENG/usr/libexec/docker/cli-plugins/docker-buildx" "$HOME/.docker/cli-plugins/docker-buildx"
fi
log "engine $("$DOCKER" version --format '{{.Server.Version}}'), buildx: $("$DOCKER" buildx version 2>/dev/null || echo none)"

# ---- 2. base images ----------------------------------------------------------------------
has() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }
pulled() { [ "$PULL" = 1 ] && timeout 300 "$DOCKER" pull -q "$1" >/dev/null 2>&1; }
b() { # b TAG <<Dockerfile : build a stand-in unless present (or pullable on a real engine)
  local tag=$1 d; if has "$tag"; then cat >/dev/null; return 0; fi
  if pulled "$tag"; then cat >/dev/null; log "pulled $tag"; return 0; fi
  log "building stand-in $tag"
  d=$(mktemp -d); cat > "$d/Dockerfile"
  "$DOCKER" build -q --network host -t "$tag" "$d" >/dev/null
  rm -rf "$d"
}
# Debian stand-ins shaped like the official ones: debian:bookworm is a minbase system;
# bookworm-slim excludes docs, man pages and locales by dpkg config. Both trust this
# machine's CA bundle (TLS may go through an intercepting proxy).
mkrootfs() { # mkrootfs TAG full|slim
  local tag=$1 slim=$2 tarball=$CACHE/rootfs-bookworm-$2.tar rf
  if pulled "$tag"; then log "pulled $tag"; return 0; fi
  if ! [ -s "$tarball" ]; then
    need_root "debootstrap"
    command -v debootstrap >/dev/null || apt-get install -y -q --no-install-recommends debootstrap >/dev/null \
      || { apt-get update -qq && apt-get install -y -q --no-install-recommends debootstrap >/dev/null; }
    log "debootstrap bookworm ($slim) into $tarball"
    rf=$CACHE/rootfs.tmp; rm -rf "$rf"; mkdir -p "$CACHE/debootstrap-debs"
    debootstrap --variant=minbase --cache-dir="$CACHE/debootstrap-debs" bookworm "$rf" "$(mirror)" >/dev/null
    # the apt settings the official Debian images ship (no .deb / *.bin caches, no translations)
    printf '%s\n' 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
      'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
      'Dir::Cache::pkgcache "";' 'Dir::Cache::srcpkgcache "";' > "$rf/etc/apt/apt.conf.d/docker-clean"
    echo 'Acquire::Languages "none";' > "$rf/etc/apt/apt.conf.d/docker-no-languages"
    printf '%s\n' 'Acquire::GzipIndexes "true";' 'Acquire::CompressionTypes::Order:: "gz";' > "$rf/etc/apt/apt.conf.d/docker-gzip-indexes"
    echo 'Apt::AutoRemove::SuggestsImportant "false";' > "$rf/etc/apt/apt.conf.d/docker-autoremove-suggests"
    mkdir -p "$rf/usr/local/share/ca-certificates"
    awk -v dir="$rf/usr/local/share/ca-certificates" 'BEGIN{n=0} /BEGIN CERT/{n++} {print > (dir "/host-" n ".crt")}' \
      /etc/ssl/certs/ca-certificates.crt
    if [ "$slim" = slim ]; then
      printf 'path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\npath-exclude /usr/share/man/*\npath-exclude /usr/share/info/*\npath-exclude /usr/share/locale/*\npath-exclude /usr/share/lintian/*\n' \
        > "$rf/etc/dpkg/dpkg.cfg.d/docker"
      find "$rf/usr/share/doc" -type f ! -name copyright -delete
      rm -rf "$rf"/usr/share/man/* "$rf"/usr/share/info/* "$rf"/usr/share/locale/*
    fi
    rm -rf "$rf"/var/cache/apt/archives/*.deb "$rf"/var/lib/apt/lists/* "$rf"/var/cache/apt/*.bin
    tar -C "$rf" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"; rm -rf "$rf"
  fi
  log "importing $tag from $tarball"
  "$DOCKER" import -c 'CMD ["bash"]' -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$tarball" "$tag" >/dev/null
}
has debian:bookworm || mkrootfs debian:bookworm full
has debian:bookworm-slim || mkrootfs debian:bookworm-slim slim
b buildpack-deps:bookworm-curl <<'D'
FROM debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl gnupg netbase wget && rm -rf /var/lib/apt/lists/*
D
b buildpack-deps:bookworm-scm <<'D'
FROM buildpack-deps:bookworm-curl
RUN apt-get update && apt-get install -y --no-install-recommends git openssh-client procps && rm -rf /var/lib/apt/lists/*
D
b buildpack-deps:bookworm <<'D'
FROM buildpack-deps:bookworm-scm
RUN apt-get update && apt-get install -y --no-install-recommends autoconf automake bzip2 dpkg-dev file g++ gcc make patch unzip xz-utils zlib1g-dev libssl-dev libffi-dev libpq-dev libxml2-dev libjpeg-dev libsqlite3-dev libc6-dev && rm -rf /var/lib/apt/lists/*
D
b python:3.11-slim <<'D'
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates netbase tzdata python3 python3-pip python3-venv python-is-python3 && rm -rf /var/lib/apt/lists/* && rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED
CMD ["python3"]
D
b python:3.11 <<'D'
FROM buildpack-deps:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-dev python3-pip python3-venv python-is-python3 && rm -rf /var/lib/apt/lists/* && rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED
CMD ["python3"]
D
b node:18-slim <<'D'
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates nodejs npm && rm -rf /var/lib/apt/lists/*
CMD ["node"]
D
b node:18 <<'D'
FROM buildpack-deps:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
CMD ["node"]
D
b golang:1.19 <<'D'
FROM buildpack-deps:bookworm-scm
RUN apt-get update && apt-get install -y --no-install-recommends g++ gcc libc6-dev make pkg-config golang-1.19-go && rm -rf /var/lib/apt/lists/* && ln -s /usr/lib/go-1.19/bin/go /usr/local/bin/go
ENV GOPATH=/go GOFLAGS=-mod=mod GOPROXY=off
WORKDIR /go
D
# distroless stand-ins (static = CA bundle, tzdata, passwd with nonroot; base adds glibc; cc adds
# libgcc/libstdc++). Their repository prefix is the one dslim's image catalog uses.
DL=${DSLIM_DISTROLESS_REPO:-$(grep -rhoE '[A-Za-z0-9.-]+\.[A-Za-z]+/distroless/' "$REPO/dockerslim_rewrite/data" 2>/dev/null \
    | sort | uniq -c | sort -rn | awk 'NR==1{print $2}')}
DL=${DL%/}
if [ -z "$DL" ]; then
  log "no distroless image named in dockerslim_rewrite/data: distroless stand-ins skipped (set DSLIM_DISTROLESS_REPO)"
else
  b "$DL/static-debian12" <<'D'
FROM debian:bookworm-slim AS src
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata && rm -rf /var/lib/apt/lists/*
RUN mkdir -p /out/etc/ssl/certs /out/usr/share /out/tmp && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ \
 && cp -a /usr/share/zoneinfo /out/usr/share/ && chmod 1777 /out/tmp \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > /out/etc/passwd \
 && printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' > /out/etc/group
FROM scratch
COPY --from=src /out/ /
D
  # stand-ins made before the dynamic loader was copied for real (a dangling /lib64 link) cannot
  # run dynamically linked programs: drop them so they are rebuilt
  if has "$DL/base-debian12" && [ -z "$("$DOCKER" image inspect -f '{{index .Config.Labels "dslim.lab.loader"}}' "$DL/base-debian12" 2>/dev/null)" ]; then
    log "rebuilding the distroless base/cc stand-ins (their dynamic loader was missing)"
    for img in base cc; do "$DOCKER" rmi -f "$DL/$img-debian12" "$DL/$img-debian12:latest" "$DL/$img-debian12:nonroot" >/dev/null 2>&1 || true; done
  fi
  b "$DL/base-debian12" <<D
FROM debian:bookworm-slim AS src
RUN mkdir -p /out/lib/x86_64-linux-gnu /out/lib64 && cp -a /lib/x86_64-linux-gnu/libc.so* /lib/x86_64-linux-gnu/libm.so* /lib/x86_64-linux-gnu/libpthread* /lib/x86_64-linux-gnu/libdl* /lib/x86_64-linux-gnu/librt* /lib/x86_64-linux-gnu/libresolv* /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 /out/lib/x86_64-linux-gnu/ && cp -aL /lib64/ld-linux-x86-64.so.2 /out/lib64/
FROM $DL/static-debian12
LABEL dslim.lab.loader=1
COPY --from=src /out/ /
D
  b "$DL/cc-debian12" <<D
FROM debian:bookworm-slim AS src
RUN mkdir -p /out/lib/x86_64-linux-gnu /out/usr/lib/x86_64-linux-gnu && cp -a /lib/x86_64-linux-gnu/libgcc_s.so* /out/lib/x86_64-linux-gnu/ && (cp -a /usr/lib/x86_64-linux-gnu/libstdc++.so* /out/usr/lib/x86_64-linux-gnu/ 2>/dev/null || true)
FROM $DL/base-debian12
COPY --from=src /out/ /
D
  for img in static base cc; do
    has "$DL/$img-debian12:latest" || "$DOCKER" tag "$DL/$img-debian12" "$DL/$img-debian12:latest"
    printf 'FROM %s/%s-debian12\nUSER 65532:65532\n' "$DL" "$img" | b "$DL/$img-debian12:nonroot"
  done
fi
# the tag spellings the official images also publish
tag() { has "$2" || "$DOCKER" tag "$1" "$2"; }
tag debian:bookworm debian:12; tag debian:bookworm-slim debian:12-slim
tag python:3.11 python:3.11-bookworm; tag python:3.11-slim python:3.11-slim-bookworm
tag node:18 node:18-bookworm; tag node:18-slim node:18-bookworm-slim
tag golang:1.19 golang:1.19-bookworm
[ "$STARTED_HERE" = 1 ] && log "dockerd started here (pid $(cat "$ROOT/dockerd.pid")); stop it with: kill \$(cat $ROOT/dockerd.pid)"
log "ready; use:"
echo "$ENVLINE"
