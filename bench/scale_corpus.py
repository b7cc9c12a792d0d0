"""A deterministic corpus of varied Dockerfiles in many fake repositories (for bench_scale.py).

Every repository is a folder with a minimal `.git` directory (HEAD, config, objects/, refs/: enough for
`git rev-parse` and for any "folder with .git" discovery) holding one to a few dozen Dockerfiles at the
places real repositories keep them (`Dockerfile`, `Dockerfile.dev`, `services/<name>/Dockerfile`,
`docker/<name>.Dockerfile`, `Containerfile`), with the build-context files the Dockerfiles COPY.

The content mixes what real Dockerfiles do: long `apt-get install` lines with continuations (`&&` at the
end or the start of lines), apk/dnf/yum/microdnf/pip/npm/yarn installs, heredocs, multi-stage builds with
`COPY --from`, `ARG` before `FROM`, `--platform`, comments and hadolint pragmas, `SHELL`, exec form,
`RUN --mount`, a few `# escape=` files, CRLF line ends and a BOM. Same seed, same bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

APT_PACKAGES = [
    "curl",
    "ca-certificates",
    "git",
    "gnupg",
    "wget",
    "build-essential",
    "gcc",
    "g++",
    "make",
    "cmake",
    "pkg-config",
    "libssl-dev",
    "libffi-dev",
    "libpq-dev",
    "zlib1g-dev",
    "libjpeg-dev",
    "libpng-dev",
    "libxml2-dev",
    "libxslt1-dev",
    "libyaml-dev",
    "libsqlite3-dev",
    "unzip",
    "xz-utils",
    "openssh-client",
    "procps",
    "less",
    "vim-tiny",
    "jq",
    "tzdata",
    "locales",
    "netcat-openbsd",
    "dnsutils",
    "iputils-ping",
    "python3",
    "python3-pip",
    "python3-venv",
    "python3-dev",
    "default-libmysqlclient-dev",
    "libcurl4-openssl-dev",
    "imagemagick",
    "ffmpeg",
    "fonts-dejavu-core",
    "tini",
    "gosu",
    "sudo",
    "rsync",
    "bzip2",
    "file",
    "patch",
    "autoconf",
    "automake",
    "libtool",
]
APK_PACKAGES = [
    "curl",
    "ca-certificates",
    "git",
    "bash",
    "openssl",
    "tzdata",
    "build-base",
    "musl-dev",
    "libffi-dev",
    "postgresql-dev",
    "jq",
    "tini",
    "su-exec",
]
DNF_PACKAGES = [
    "curl",
    "git",
    "gcc",
    "gcc-c++",
    "make",
    "openssl-devel",
    "python3",
    "python3-pip",
    "tar",
    "gzip",
    "which",
    "procps-ng",
    "shadow-utils",
]
PIP_PACKAGES = [
    "flask",
    "gunicorn",
    "django",
    "requests",
    "numpy",
    "pandas",
    "uvicorn",
    "fastapi",
    "pydantic",
    "sqlalchemy",
    "psycopg2-binary",
    "celery",
    "redis",
    "boto3",
]
NPM_PACKAGES = ["express", "typescript", "pm2", "nodemon", "@nestjs/cli", "serve", "http-server", "yarn", "pnpm"]

DEBIAN_BASES = (
    "debian:bookworm",
    "debian:bookworm-slim",
    "debian:trixie",
    "ubuntu:22.04",
    "ubuntu:24.04",
    "buildpack-deps:bookworm",
)
PYTHON_BASES = ("python:3.12", "python:3.11", "python:3.12-bookworm", "python:3.11-slim", "python:3.10")
NODE_BASES = ("node:20", "node:18-bookworm", "node:22", "node:20-slim")
ALPINE_BASES = ("alpine:3.19", "alpine:3.20", "python:3.12-alpine", "node:20-alpine")
RPM_BASES = ("fedora:39", "rockylinux:9", "almalinux:9", "registry.access.redhat.com/ubi9/ubi-minimal")
GO_BASES = ("golang:1.22", "golang:1.21-bookworm")

FOLDER_NAMES = [
    "api",
    "web",
    "worker",
    "auth",
    "billing",
    "search",
    "gateway",
    "cron",
    "admin",
    "ingest",
    "notifier",
    "scheduler",
    "proxy",
    "docs",
    "ml",
]


@dataclass
class Corpus:
    root: Path
    repos: list[Path] = field(default_factory=list)
    dockerfiles: list[Path] = field(default_factory=list)
    bytes: int = 0
    lines: int = 0
    crlf: int = 0


class _Gen:
    def __init__(self, rng: random.Random) -> None:
        self.r = rng

    def pick(self, seq, k: int = 1) -> list[str]:
        return self.r.sample(list(seq), min(k, len(seq)))

    def comment(self) -> str:
        return self.r.choice(
            (
                "# install the system dependencies",
                "# hadolint ignore=DL3008",
                "# --- build ---",
                "# TODO: pin versions",
                "# keep this in sync with ci.yml",
                "#",
                "# runtime configuration",
            )
        )

    def cont(self, cmds: list[str], style: str | None = None) -> str:
        """Commands joined by && across continuation lines, in one of the styles people write."""
        style = style or self.r.choice(("end", "end", "start", "oneline", "semicolon"))
        if style == "oneline":
            return " && ".join(cmds)
        if style == "semicolon":
            return "set -eux; \\\n    " + "; \\\n    ".join(cmds)
        if style == "start":
            return " \\\n    && ".join(cmds)
        return " && \\\n    ".join(cmds)

    def apt(self) -> list[str]:
        pkgs = self.pick(APT_PACKAGES, self.r.randint(2, 28))
        flags = self.r.choice(("-y", "-y --no-install-recommends", "-yq", "--yes", "-y -q"))
        if self.r.random() < 0.5:
            pkg_text = " \\\n        ".join(pkgs) if len(pkgs) > 6 else " ".join(pkgs)
        else:
            pkg_text = " ".join(pkgs)  # one very long line
        install = f"apt-get install {flags} {pkg_text}"
        shape = self.r.random()
        if shape < 0.3:  # separate RUNs: merge-runs and pkg-cache material
            out = ["RUN apt-get update", f"RUN {install}"]
            if self.r.random() < 0.5:
                out.append("RUN rm -rf /var/lib/apt/lists/*")
            return out
        cmds = ["apt-get update", install]
        if self.r.random() < 0.5:
            cmds.append("rm -rf /var/lib/apt/lists/*")
        if self.r.random() < 0.2:
            cmds.insert(0, "export DEBIAN_FRONTEND=noninteractive")
        return [f"RUN {self.cont(cmds)}"]

    def apk(self) -> list[str]:
        pkgs = " ".join(self.pick(APK_PACKAGES, self.r.randint(1, 8)))
        if self.r.random() < 0.5:
            return [f"RUN apk add --no-cache {pkgs}"]
        return [f"RUN {self.cont(['apk update', f'apk add {pkgs}'])}"]

    def dnf(self) -> list[str]:
        tool = self.r.choice(("dnf", "yum", "microdnf"))
        pkgs = " ".join(self.pick(DNF_PACKAGES, self.r.randint(2, 9)))
        cmds = [f"{tool} install -y {pkgs}"]
        if self.r.random() < 0.4:
            cmds.append(f"{tool} clean all")
        return [f"RUN {self.cont(cmds)}"]

    def pip(self) -> list[str]:
        out = []
        if self.r.random() < 0.6:
            out.append("COPY requirements.txt .")
            out.append(f"RUN pip install {self.r.choice(('', '--no-cache-dir ', '-U '))}-r requirements.txt")
        pkgs = " ".join(self.pick(PIP_PACKAGES, self.r.randint(1, 5)))
        out.append(f"RUN {self.r.choice(('pip', 'pip3', 'python -m pip'))} install {pkgs}")
        return out

    def npm(self) -> list[str]:
        out = ["COPY package.json ./"]
        out.append(
            self.r.choice(("RUN npm install", "RUN npm ci", "RUN yarn install --frozen-lockfile", "RUN npm ci --omit=dev"))
        )
        if self.r.random() < 0.4:
            out.append(f"RUN npm install -g {' '.join(self.pick(NPM_PACKAGES, self.r.randint(1, 3)))}")
        out.append("COPY . .")
        if self.r.random() < 0.5:
            out.append("RUN npm run build")
        return out

    def heredoc(self) -> list[str]:
        body = "\n".join(
            self.pick(
                (
                    "set -eux",
                    "echo building",
                    "mkdir -p /opt/app/bin",
                    "ln -s /opt/app/bin/app /usr/local/bin/app",
                    "useradd -r -u 1001 app || true",
                    'printf "%s\\n" ready > /opt/app/state',
                ),
                self.r.randint(2, 5),
            )
        )
        # the blank line after EOF: hadolint 2.x cannot parse an instruction right after a heredoc's end
        if self.r.random() < 0.3:
            return [f"COPY <<EOF /etc/app/config.ini\n[app]\nport = {self.r.randint(1000, 9999)}\nEOF\n"]
        return [f"RUN <<EOF\n{body}\nEOF\n"]

    def misc(self) -> list[str]:
        r = self.r
        return r.choice(
            (
                [f"ENV APP_HOME=/opt/app \\\n    PORT={r.randint(3000, 9000)} \\\n    LANG=C.UTF-8"],
                ["WORKDIR /opt/app"],
                [f"ARG VERSION=1.{r.randint(0, 40)}.{r.randint(0, 9)}"],
                [
                    'LABEL org.opencontainers.image.source="https://example.invalid/repo" \\\n      maintainer="team@example.invalid"'
                ],
                ["RUN useradd -r -u 1001 -g root app"],
                ["RUN mkdir -p /opt/app/data && chmod 775 /opt/app/data"],
                [
                    "RUN curl -fsSL https://example.invalid/tool.tar.gz -o /tmp/tool.tar.gz \\\n && tar -xzf /tmp/tool.tar.gz -C /usr/local/bin"
                ],
                ['SHELL ["/bin/bash", "-o", "pipefail", "-c"]'],
                ['RUN ["/bin/sh", "-c", "echo exec form"]'],
                ["RUN --mount=type=cache,target=/root/.cache echo cached"],
                ["RUN cd /opt && echo $HOME > /opt/home"],
                [self.comment(), "RUN echo configured"],
            )
        )

    def tail(self) -> list[str]:
        r = self.r
        out = []
        if r.random() < 0.5:
            out.append(f"EXPOSE {r.choice((80, 3000, 5000, 8000, 8080))}")
        if r.random() < 0.3:
            out.append("HEALTHCHECK --interval=30s CMD curl -f http://localhost/ || exit 1")
        if r.random() < 0.5:
            out.append(r.choice(("USER app", "USER 1001", "USER nobody")))
        out.append(
            r.choice(('CMD ["./server"]', 'CMD ["python", "app.py"]', 'ENTRYPOINT ["node", "index.js"]', "CMD exec ./start.sh"))
        )
        return out

    def stage(self, family: str, base: str, name: str | None, extra: int) -> list[str]:
        r = self.r
        plat = "--platform=$BUILDPLATFORM " if r.random() < 0.05 else ""
        out = [f"FROM {plat}{base}" + (f" AS {name}" if name else "")]
        if r.random() < 0.3:
            out.insert(0, self.comment())
        body: list[str] = []
        installer = {"deb": self.apt, "py": self.apt, "node": self.apt, "go": self.apt, "alpine": self.apk, "rpm": self.dnf}[
            family
        ]
        for _ in range(r.randint(1, 2)):
            body += installer()
        if family == "py":
            body += self.pip()
        elif family == "node":
            body += self.npm()
        elif family == "go":
            body += [
                "WORKDIR /src",
                "COPY go.mod ./",
                "RUN go mod download",
                "COPY . .",
                "RUN CGO_ENABLED=0 go build -o /out/app .",
            ]
        elif r.random() < 0.3:
            body += self.pip() if r.random() < 0.5 else self.npm()
        for _ in range(extra):
            if r.random() < 0.12:
                body += self.heredoc()
            else:
                body += self.misc()
            if r.random() < 0.15:
                body.append(self.comment())
        return out + body

    def dockerfile(self) -> tuple[str, set[str]]:
        r = self.r
        family = r.choices(("deb", "py", "node", "alpine", "rpm", "go"), (30, 25, 18, 12, 8, 7))[0]
        bases = {
            "deb": DEBIAN_BASES,
            "py": PYTHON_BASES,
            "node": NODE_BASES,
            "alpine": ALPINE_BASES,
            "rpm": RPM_BASES,
            "go": GO_BASES,
        }
        base = r.choice(bases[family])
        head: list[str] = []
        uses_heredoc = r.random() < 0.2
        if uses_heredoc or r.random() < 0.1:
            head.append("# syntax=docker/dockerfile:1")
        if r.random() < 0.15:  # ARG FROM
            head.append(f"ARG BASE_IMAGE={base}")
            base = "${BASE_IMAGE}"
        size = r.choices((2, 5, 10, 30), (30, 40, 25, 5))[0]
        stages = r.choices((1, 2, 3, 5), (55, 30, 12, 3))[0]
        lines = list(head)
        for s in range(stages):
            last = s == stages - 1
            name = None if last and r.random() < 0.5 else f"stage{s}" if r.random() < 0.3 else ("build" if s == 0 else f"s{s}")
            stage_base = base if s == 0 or r.random() < 0.5 else r.choice(bases[family])
            lines += self.stage(family, stage_base, name, r.randint(0, size))
            if s > 0 and r.random() < 0.8:
                lines.insert(len(lines) - r.randint(0, 2), "COPY --from=0 /opt /opt")
            if uses_heredoc and s == 0:
                lines += self.heredoc()
            lines.append("")
        lines += self.tail()
        text = "\n".join(lines) + "\n"
        if r.random() < 0.02:  # backtick escape: Windows-style files
            text = "# escape=`\n" + text.replace(" \\\n", " `\n")
        context = {"requirements.txt"} if "requirements.txt" in text else set()
        if "package.json" in text:
            context.add("package.json")
        if "go.mod" in text:
            context.add("go.mod")
        return text, context


CONTEXT_FILES = {
    "requirements.txt": "flask==3.0.0\ngunicorn==21.2.0\n",
    "package.json": '{"name": "app", "version": "1.0.0", "scripts": {"build": "tsc"}}\n',
    "go.mod": "module example.invalid/app\n\ngo 1.22\n",
}


def _fake_git(repo: Path) -> None:
    git = repo / ".git"
    (git / "objects").mkdir(parents=True)
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "config").write_text("[core]\n\trepositoryformatversion = 0\n\tbare = false\n")


def generate(root: Path, files: int, repos: int, seed: int = 14) -> Corpus:
    """Write ``files`` Dockerfiles spread over ``repos`` repositories (skewed: a few monorepos, many small)."""
    rng = random.Random(seed)
    gen = _Gen(rng)
    corpus = Corpus(root)
    repos = max(1, min(repos, files))
    # skewed sizes: every repository gets one file, the rest go by weight (a few big monorepos)
    weights = [rng.paretovariate(1.2) for _ in range(repos)]
    counts = [1] * repos
    for k in rng.choices(range(repos), weights, k=files - repos):
        counts[k] += 1
    for i, count in enumerate(counts):
        repo = root / f"repo-{i:04d}"
        _fake_git(repo)
        corpus.repos.append(repo)
        for j in range(count):
            if j == 0:
                rel = rng.choice(("Dockerfile", "Dockerfile", "Dockerfile", "Containerfile"))
            else:
                folder = rng.choice(FOLDER_NAMES)
                rel = rng.choice(
                    (
                        f"services/{folder}{j}/Dockerfile",
                        f"docker/{folder}{j}.Dockerfile",
                        f"Dockerfile.{folder}{j}",
                        f"deploy/{folder}{j}/Dockerfile.prod",
                    )
                )
            text, context = gen.dockerfile()
            data = text.encode()
            if rng.random() < 0.05:
                data = data.replace(b"\n", b"\r\n")
                corpus.crlf += 1
            if rng.random() < 0.01:
                data = b"\xef\xbb\xbf" + data
            path = repo / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            for name in context:
                ctx = path.parent / name
                if not ctx.exists():
                    ctx.write_text(CONTEXT_FILES[name])
            corpus.dockerfiles.append(path)
            corpus.bytes += len(data)
            corpus.lines += data.count(b"\n")
    return corpus
