"""Atomic writes: a failure leaves nothing behind, a success has ordinary permissions."""

import os

import pytest

from amg_bench.errors import OutputExistsError
from amg_bench.files import atomic_directory, atomic_path, write_text


def test_failed_write_leaves_no_file(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "out.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_written_files_have_default_permissions(tmp_path):
    write_text(tmp_path / "a.txt", "x")
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(tmp_path / "a.txt").st_mode & 0o777 == 0o666 & ~mask


def test_directory_is_renamed_only_when_complete(tmp_path):
    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "ds") as folder:
        (folder / "part").write_text("x")
        raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
    with atomic_directory(tmp_path / "ds") as folder:
        (folder / "done").write_text("x")
    assert (tmp_path / "ds" / "done").is_file()
    with pytest.raises(OutputExistsError, match="--overwrite"), atomic_directory(tmp_path / "ds"):
        pass
