"""The recipe dataclasses document every field they add to TRL's, in their TRL-style docstring."""

from __future__ import annotations

import dataclasses

import pytest


@pytest.mark.parametrize("name", ["ScriptArguments", "MapperSFTConfig", "MapperModelConfig"])
def test_every_field_we_add_is_in_the_docstring(name):
    import trl

    from llama_mapper.training import config

    ours = getattr(config, name)
    theirs = {"ScriptArguments": trl.ScriptArguments, "MapperSFTConfig": trl.SFTConfig}.get(
        name, trl.ModelConfig
    )
    added = {f.name for f in dataclasses.fields(ours)} - {f.name for f in dataclasses.fields(theirs)}
    assert added, f"{name} adds no field to TRL's"
    missing = sorted(
        field for field in added if f"{field} (`" not in ours.__doc__ and f"{field}, " not in ours.__doc__
    )
    assert not missing, f"{name}'s docstring does not describe {missing}"
