"""Label Studio's labelling configuration, as far as a classifier needs it.

A project's configuration is XML such as::

    <View>
      <Image name="image" value="$image"/>
      <Choices name="choice" toName="image">
        <Choice value="cat"/>
        <Choice value="dog"/>
      </Choices>
    </View>

The backend reads one ``<Choices>`` tag (its ``name`` is the prediction's
``from_name``, its ``toName`` the ``to_name``), the object tag it points at
(whose ``value="$image"`` names the task field holding the image) and the
``<Choice>`` values, which must be the learner's classes written as text.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np

__all__ = ["LabelConfig", "parse_label_config"]


@dataclass(frozen=True)
class LabelConfig:
    """What a classification project's label configuration says.

    Attributes
    ----------
    from_name : str
        ``name`` of the ``<Choices>`` tag.
    to_name : str
        ``toName`` of the ``<Choices>`` tag: the object tag labelled.
    object_type : str
        Tag of the object (``"Image"``, ``"Text"``, ...).
    data_key : str
        Task field the object shows (``value="$image"`` gives ``"image"``).
    labels : tuple of str
        The ``<Choice>`` values, in the configuration's order.
    """

    from_name: str
    to_name: str
    object_type: str
    data_key: str
    labels: tuple

    def check_classes(self, classes) -> None:
        """Refuse a configuration whose choices are not exactly ``classes`` as text.

        Raises
        ------
        ValueError
            Naming the choices the learner does not know and the classes
            the configuration lacks.
        """
        names = [str(c) for c in np.asarray(classes).tolist()]
        unknown = sorted(set(self.labels) - set(names))
        missing = sorted(set(names) - set(self.labels))
        if unknown or missing:
            parts = []
            if unknown:
                parts.append(f"choices {unknown} are not classes of the learner")
            if missing:
                parts.append(f"classes {missing} of the learner have no <Choice>")
            raise ValueError(
                f"label_config: <Choices name={self.from_name!r}> does not match the learner's "
                f"classes {names}: " + "; ".join(parts)
            )

    def class_of(self, label: str, classes):
        """The learner's class whose text is ``label`` (see :meth:`check_classes`)."""
        classes = np.asarray(classes)
        names = [str(c) for c in classes.tolist()]
        if label not in names:
            raise ValueError(
                f"choices: {label!r} is not one of the classes {names} of <Choices "
                f"name={self.from_name!r}>"
            )
        return classes[names.index(label)]


def parse_label_config(xml: str) -> LabelConfig:
    """Read a Label Studio labelling configuration for single-choice classification.

    Parameters
    ----------
    xml : str
        The project's ``label_config``.

    Returns
    -------
    config : LabelConfig

    Raises
    ------
    ValueError
        Naming what is wrong: not XML, no ``<Choices>`` or more than one,
        ``choice="multiple"``, no ``<Choice>``, a ``toName`` naming no tag,
        an object whose ``value`` is not ``$field``.
    """
    if not isinstance(xml, str) or not xml.strip():
        raise ValueError("label_config: expected the project's XML configuration, got nothing")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise ValueError(f"label_config: not valid XML ({exc})") from None
    choices = list(root.iter("Choices"))
    if len(choices) != 1:
        raise ValueError(
            f"label_config: expected one <Choices> tag (single-label classification), found "
            f"{len(choices)}; skactive serves classification projects only"
        )
    tag = choices[0]
    from_name, to_name = tag.get("name"), tag.get("toName")
    if not from_name or not to_name:
        raise ValueError("label_config: <Choices> needs both name= and toName=")
    if tag.get("choice", "single") != "single":
        raise ValueError(
            f"label_config: <Choices name={from_name!r}> has choice={tag.get('choice')!r}; "
            'a classifier gives one label per task (choice="single")'
        )
    labels = tuple(c.get("value") for c in tag.iter("Choice"))
    if not labels or any(not label for label in labels):
        raise ValueError(f"label_config: <Choices name={from_name!r}> needs <Choice value=...>")
    if len(set(labels)) != len(labels):
        raise ValueError(f"label_config: <Choices name={from_name!r}> repeats a <Choice> value")
    target = next((el for el in root.iter() if el.get("name") == to_name), None)
    if target is None:
        raise ValueError(f"label_config: toName={to_name!r} names no tag of the configuration")
    value = target.get("value", "")
    if not value.startswith("$") or len(value) < 2:
        raise ValueError(
            f'label_config: <{target.tag} name={to_name!r}> needs value="$field" naming the '
            f"task field to show, got {value!r}"
        )
    return LabelConfig(from_name, to_name, target.tag, value[1:], labels)
