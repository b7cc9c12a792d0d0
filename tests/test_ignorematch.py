"""The .dockerignore matcher against Docker's documented examples and moby/patternmatcher behaviour."""

import pytest

from dockerslim_rewrite.ignorematch import (
    BadPattern,
    PatternMatcher,
    go_clean,
    go_match,
    read_patterns,
)


def excluded(text: str, path: str) -> bool:
    return PatternMatcher.from_dockerignore(text).excluded(path)


DOC_EXAMPLE = "# comment\n*/temp*\n*/*/temp*\ntemp?\n"


@pytest.mark.parametrize(
    "path, expected",
    [
        ("somedir/temporary.txt", True),  # */temp*
        ("somedir/temp", True),
        ("somedir/temp/inner.txt", True),  # a matched folder takes its content along
        ("temporary.txt", False),  # */temp* needs one folder level
        ("somedir/subdir/temporary.txt", True),  # */*/temp*
        ("a/b/c/temporary.txt", False),  # three levels: neither pattern
        ("tempa", True),  # temp?
        ("tempb", True),
        ("temp", False),
        ("tempab", False),
        ("a/b/c/tempa", False),  # patterns are anchored at the root
        ("comment", False),
    ],
)
def test_documented_temp_example(path, expected):
    assert excluded(DOC_EXAMPLE, path) is expected


@pytest.mark.parametrize(
    "path, expected",
    [("main.go", True), ("cmd/app/main.go", True), ("cmd/app/main.gox", False), ("go.mod", False)],
)
def test_double_star_go_files(path, expected):
    assert excluded("**/*.go\n", path) is expected


def test_md_with_readme_exception():
    text = "*.md\n!README.md\n"
    assert excluded(text, "CHANGES.md")
    assert not excluded(text, "README.md")
    assert not excluded(text, "docs/guide.md")  # *.md is anchored at the root


def test_exception_order_readme_secret_last():
    text = "*.md\n!README*.md\nREADME-secret.md\n"
    assert excluded(text, "CHANGES.md")
    assert not excluded(text, "README.md")
    assert not excluded(text, "README-public.md")
    assert excluded(text, "README-secret.md")


def test_exception_order_readme_secret_in_the_middle_has_no_effect():
    text = "*.md\nREADME-secret.md\n!README*.md\n"
    assert excluded(text, "CHANGES.md")
    assert not excluded(text, "README-secret.md")
    assert not excluded(text, "README.md")


@pytest.mark.parametrize("line", ["/foo/bar", "foo/bar", "./foo/bar", "foo//bar", "foo/./bar", "foo/x/../bar", "foo/bar/"])
def test_leading_slash_and_dot_are_cleaned(line):
    assert excluded(line + "\n", "foo/bar")
    assert excluded(line + "\n", "foo/bar/baz.txt")
    assert not excluded(line + "\n", "foo/barn")
    assert not excluded(line + "\n", "x/foo/bar")


def test_comment_only_at_column_zero_and_whitespace_trimmed():
    assert read_patterns("# c\n  #notcomment  \n\n  a  \n! b\n\ufeffx\n") == ["#notcomment", "a", "!b", "\ufeffx"]
    assert read_patterns("\ufeff# bom comment\nz\n") == ["z"]


def test_dot_pattern_excludes_nothing():
    assert not excluded(".\n", "a.txt")
    assert not excluded("*\n", ".")  # the root itself is never excluded


@pytest.mark.parametrize(
    "pattern, path, expected",
    [
        ("**", "anything/at/all", True),
        ("dir/**", "dir/a/b", True),
        ("dir/**", "dir", False),
        ("dir/**", "dirx/a", False),
        ("**/foo", "foo", True),
        ("**/foo", "a/b/foo", True),
        ("**/foo", "a/b/foo/c", True),
        ("**/foo", "a/xfoo", False),
        ("**/foo/bar", "x/foo/bar", True),
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("a/**/b", "ab", False),
        ("**/node_modules", "web/app/node_modules", True),
        ("node_modules", "web/node_modules", False),
        ("*", "a/b/c", True),  # matches the top folder, which takes everything inside
        ("a[b-d]e", "ace", True),
        ("a[b-d]e", "aze", False),
        ("a[^b]e", "axe", True),
        ("a[^b]e", "abe", False),
        ("\\*.txt", "*.txt", True),
        ("\\*.txt", "a.txt", False),
        ("*.(x)", "a.(x)", True),
        ("a+b", "a+b", True),
        ("a+b", "aab", False),
        ("file?.log", "file1.log", True),
        ("file?.log", "file/.log", False),
        ("*.log", "a/b.log", False),
        (".env*", ".env.local", True),
    ],
)
def test_moby_match_cases(pattern, path, expected):
    assert excluded(pattern + "\n", path) is expected


def test_exception_reincludes_file_inside_excluded_folder():
    text = "docs\n!docs/api.md\n"
    m = PatternMatcher.from_dockerignore(text)
    assert m.excluded("docs/guide.md")
    assert not m.excluded("docs/api.md")
    assert not m.excludes_whole_dir("docs")  # Docker must walk docs/ to find api.md
    m2 = PatternMatcher.from_dockerignore("docs\n!src/keep\n")
    assert m2.excludes_whole_dir("docs")
    assert PatternMatcher.from_dockerignore("docs\n!**/keep\n").excludes_whole_dir("docs") is False


def test_exception_then_reexclusion():
    text = "build\n!build/out\nbuild/out/tmp\n"
    m = PatternMatcher.from_dockerignore(text)
    assert m.excluded("build/a")
    assert not m.excluded("build/out/bin")
    assert m.excluded("build/out/tmp/x")


@pytest.mark.parametrize("bad", ["[", "a[", "[]", "a[b-", "!"])
def test_bad_patterns_raise(bad):
    with pytest.raises(BadPattern):
        PatternMatcher([bad])


@pytest.mark.parametrize(
    "raw, clean",
    [("", "."), ("a//b", "a/b"), ("./a", "a"), ("a/..", "."), ("../a", "../a"), ("/../a", "/a"), ("a/b/../../c", "c")],
)
def test_go_clean(raw, clean):
    assert go_clean(raw) == clean


def _go_clean_by_segments(path: str) -> str:
    """Go's path.Clean written out segment by segment (no fast path), to check go_clean's shortcut."""
    rooted, out = path.startswith("/"), []
    for part in path.split("/"):
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
        elif part not in ("", "."):
            out.append(part)
    return ("/" if rooted else "") + "/".join(out) or "."


def test_go_clean_shortcut_agrees_on_every_short_path():
    import itertools

    pieces = ["a", ".", "..", "/", ".x", "x.", "...", "a.b"]
    for n in range(1, 5):
        for combo in itertools.product(pieces, repeat=n):
            path = "".join(combo)
            assert go_clean(path) == _go_clean_by_segments(path), path


@pytest.mark.parametrize(
    "pattern, name, expected",
    [
        ("*.json", "package.json", True),
        ("*.json", "a/package.json", False),
        ("src/*.py", "src/app.py", True),
        ("src/*.py", "src/sub/app.py", False),
        ("req?.txt", "req1.txt", True),
        ("[a-c]*", "bin", True),
        ("[a-c]*", "dist", False),
    ],
)
def test_go_match_for_copy_sources(pattern, name, expected):
    assert go_match(pattern, name) is expected
