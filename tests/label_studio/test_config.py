import numpy as np
import pytest

from skactive.label_studio import parse_label_config

from .conftest import CONFIG, DIGITS_CONFIG


def test_reads_names_field_and_choices():
    config = parse_label_config(DIGITS_CONFIG)
    assert (config.from_name, config.to_name) == ("digit", "image")
    assert (config.object_type, config.data_key) == ("Image", "image")
    assert config.labels == tuple(str(k) for k in range(10))
    config.check_classes(np.arange(10))
    assert config.class_of("7", np.arange(10)) == 7


@pytest.mark.parametrize(
    ("xml", "match"),
    [
        ("", "expected the project's XML"),
        ("<View><Image", "not valid XML"),
        ('<View><Image name="i" value="$image"/></View>', "expected one <Choices> tag"),
        (
            CONFIG.format(choices='<Choice value="a"/>').replace("</View>", "")
            + CONFIG.format(choices='<Choice value="b"/>')[6:],
            "found 2",
        ),
        (CONFIG.format(choices="").replace("toName", "x"), "needs both name= and toName="),
        (CONFIG.format(choices=""), r"needs <Choice value=\.\.\.>"),
        (CONFIG.format(choices='<Choice value="a"/><Choice value="a"/>'), "repeats"),
        (
            CONFIG.format(choices='<Choice value="a"/>').replace('toName="image"', 'toName="x"'),
            "toName='x' names no tag",
        ),
        (
            CONFIG.format(choices='<Choice value="a"/>').replace("$image", "image"),
            'needs value="\\$field"',
        ),
        (
            CONFIG.format(choices='<Choice value="a"/>').replace(
                'toName="image"', 'toName="image" choice="multiple"'
            ),
            "one label per task",
        ),
    ],
)
def test_refuses_configurations_a_classifier_cannot_serve(xml, match):
    with pytest.raises(ValueError, match=match):
        parse_label_config(xml)


def test_refuses_choices_that_are_not_the_classes():
    config = parse_label_config(CONFIG.format(choices='<Choice value="0"/><Choice value="cat"/>'))
    with pytest.raises(ValueError, match=r"choices \['cat'\] are not classes.*classes \['2'\]"):
        config.check_classes([0, 2])
    with pytest.raises(ValueError, match="'9' is not one of the classes"):
        config.class_of("9", [0, 1])
