"""DynamoGraphDeployment rendering: services per backend, overrides, names, checks.

>>> rendered = render_final_config(request, selection)
>>> rendered.documents  # planner ConfigMaps (none without a planner or mocker), then the DGD

`render_pick(RenderInputs(...), pick)` renders any hand-built pick.
"""

from dgdr_kernel.dgd.inputs import RenderInputs, render_inputs_from_request
from dgdr_kernel.dgd.render import API_VERSIONS, RenderedConfig, render_final_config, render_pick

__all__ = ["API_VERSIONS", "RenderInputs", "RenderedConfig", "render_final_config", "render_inputs_from_request", "render_pick"]
