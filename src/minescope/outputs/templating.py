"""The one template environment of every rendered output (HTML report, rectification notice):
templates in ``outputs/templates``, escaped by default, whitespace of block tags trimmed."""

from jinja2 import Environment, PackageLoader, select_autoescape

ENV = Environment(
    loader=PackageLoader("minescope.outputs", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
