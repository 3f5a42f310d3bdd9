"""docs/_ext/checks.py fails a build on a bare Python code block, and on a public name
missing from the reference (``nox -s docs`` runs this with the site's test)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

EXT = Path(__file__).resolve().parent / "_ext"


def _build(tmp_path: Path, pages: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Build a small site in ``tmp_path/docs`` (examples in ``tmp_path/examples``) with the
    checks and the real package, warnings as errors."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "hello.py").write_text('print("hello")\n')
    (docs / "conf.py").write_text(
        textwrap.dedent(f"""
            import sys
            sys.path.insert(0, {str(EXT)!r})
            extensions = ["myst_parser", "sphinx.ext.autodoc", "checks"]
            myst_enable_extensions = ["attrs_block"]
            """)
    )
    for name, text in pages.items():
        (docs / name).write_text(textwrap.dedent(text))
    paths = [str(docs), str(tmp_path / "html")]
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", *paths],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_bare_python_block_fails_the_build(tmp_path: Path) -> None:
    page = """\
        # Page

        ```{literalinclude} ../examples/hello.py
        ```

        {.illustrative}
        ```python
        print("shown, not run")
        ```

        ```console
        $ not python: no mark needed
        ```

        ```python
        print("bare")
        ```
        """
    result = _build(tmp_path, {"index.md": page})
    assert result.returncode != 0
    warnings = [line for line in result.stderr.splitlines() if "bare Python code block" in line]
    assert len(warnings) == 1, result.stderr
    assert "index.md:15" in warnings[0]  # the bare fence's line


def test_a_public_name_missing_from_the_reference_fails_the_build(tmp_path: Path) -> None:
    result = _build(tmp_path, {"index.md": "# Page\n"})
    assert result.returncode != 0
    assert "restate_trio.service.reflect is not in the reference" in result.stderr, result.stderr
    assert "the reference has no page for module restate_trio.codecs" in result.stderr


def test_a_page_run_by_a_test_needs_that_test_to_name_it(tmp_path: Path) -> None:
    # tested-by: the page's ```python blocks are tested when the test it names exists and
    # names the page; a ```py block is not what such a test extracts, so it stays bare.
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_run.py").write_text('PAGE = "docs/run.md"\n')
    page = """\
        ---
        tested-by: tests/test_run.py
        ---

        # {title}

        ```python
        print("run by the test")
        ```
        """
    bare = """
        ```py
        print("bare")
        ```
        """
    pages = {
        "index.md": "# Site\n\n```{toctree}\nrun\nstale\n```\n",
        "run.md": page.format(title="Run") + bare,
        "stale.md": page.format(title="Stale"),
    }
    result = _build(tmp_path, pages)
    assert result.returncode != 0
    warnings = [line for line in result.stderr.splitlines() if "[restate.code]" in line]
    assert len(warnings) == 3, result.stderr
    assert any("run.md:11" in w and "bare Python code block" in w for w in warnings), warnings
    stale = [w for w in warnings if "stale.md" in w]
    assert any("tests/test_run.py is not a test that names stale.md" in w for w in stale), stale
    assert any("stale.md:7" in w and "bare Python code block" in w for w in stale), stale
