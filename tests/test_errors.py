import pickle

import pytest

from mmhay.errors import ConfigError, DatasetError, MediaError, ModelError


@pytest.mark.parametrize(
    "error",
    [
        ConfigError("suite.yaml", "grid.depth[3]", "depth must be within 0..1", 1.4),
        ConfigError("suite.yaml", "", "no such config file"),
        MediaError("videos/a.mp4", "not a readable video"),
        DatasetError("out", "not a directory"),
        ModelError("hf:x: cannot load"),
    ],
)
def test_errors_survive_the_trip_to_another_process(error):
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and str(again) == str(error)


def test_config_errors_read_as_file_key_value_problem():
    assert str(ConfigError("s.yaml", "grid.depth[3]", "depth must be within 0..1", 1.4)) == (
        "s.yaml: grid.depth[3] = 1.4: depth must be within 0..1"
    )
