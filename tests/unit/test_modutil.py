"""modutil's module detection: Disco's dot-notation rule, read from 3.x bytecode."""
from __future__ import annotations

import json as renamed_json
import os

import pytest

from disco.worker.modutil import ModUtilImportError, find_modules, job_modules, parse_function

pytestmark = pytest.mark.timeout(30)


def dotted_names():
    os.path.join('a', 'b')        # imported here: 'os'
    random.random()               # noqa: F821 - not imported: a module for the node
    renamed_json.dumps(1)         # an alias gives the module's real name
    str.lower('X')                # builtins are not modules
    return (zlib.crc32(b'') for _ in range(1))  # noqa: F821 - nested code counts too


def undefined_module():
    no_such_module_anywhere_xyz.call()  # noqa: F821


def test_parse_function_follows_disco_dot_rule():
    assert sorted(parse_function(dotted_names)) == ['json', 'os', 'random', 'zlib']


def test_find_modules_names_only_and_located():
    assert sorted(find_modules([dotted_names], send_modules=False)) == [
        'json', 'os', 'random', 'zlib']
    assert sorted(find_modules([dotted_names])) == ['json', 'os', 'random', 'zlib']


def test_missing_module_is_a_clear_error():
    with pytest.raises(ModUtilImportError) as error:
        find_modules([undefined_module])
    assert 'no_such_module_anywhere_xyz' in str(error.value)
    assert 'required_modules' in str(error.value)


def test_user_module_is_shipped_with_what_it_imports(tmp_path, monkeypatch):
    (tmp_path / 'helper_b_xyz.py').write_text('VALUE = 2\n')
    (tmp_path / 'helper_a_xyz.py').write_text('import helper_b_xyz\n\ndef f():\n'
                                              '    return helper_b_xyz.VALUE\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv('PYTHONPATH', str(tmp_path))

    def uses_helper():
        return helper_a_xyz.f()  # noqa: F821
    real = os.path.realpath(tmp_path)
    assert sorted(find_modules([uses_helper])) == [
        ('helper_a_xyz', os.path.join(real, 'helper_a_xyz.py')),
        ('helper_b_xyz', os.path.join(real, 'helper_b_xyz.py'))]
    assert find_modules([uses_helper], recurse=False, send_modules=False) == ['helper_a_xyz']


def test_job_modules_adds_the_defining_module(tmp_path, monkeypatch):
    (tmp_path / 'jobmod_xyz.py').write_text('def fun_map(line, params):\n'
                                            '    return [(line, 1)]\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    import jobmod_xyz
    assert job_modules([jobmod_xyz.fun_map]) == [
        ('jobmod_xyz', os.path.join(os.path.realpath(tmp_path), 'jobmod_xyz.py'))]
