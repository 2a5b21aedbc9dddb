"""Interactive controls that still leave a plot behind when nobody can move them.

`explore(draw, **controls)` first draws `draw(**defaults)` as an ordinary static figure, so the
notebook shows a plot on GitHub, in a headless run or in a saved copy. In a live Jupyter kernel
(JupyterLab, Colab) it then adds ipywidgets controls; moving one redraws the figure below them.
"""
from __future__ import annotations

from collections.abc import Callable


def live_kernel() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Notebook, Colab) where ipywidgets can be shown."""
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _default(control):
    """The starting value of an `interact`-style control: a widget, a list of options, or a value."""
    value = getattr(control, "value", None)
    if value is not None and hasattr(control, "observe"):  # an ipywidgets widget
        return value
    if isinstance(control, (list, tuple)) and control and not _is_numeric_range(control):
        first = control[0]
        return first[1] if isinstance(first, tuple) and len(first) == 2 else first
    if _is_numeric_range(control):
        low, high = control[0], control[1]
        value = (low + high) / 2
        return int(value) if all(isinstance(v, int) for v in control) else value
    return control


def _is_numeric_range(control) -> bool:
    return (isinstance(control, tuple) and len(control) in (2, 3)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in control))


def explore(draw: Callable[..., object], *, interactive: bool | None = None, **controls) -> None:
    """Draw `draw(**defaults)` now; in a live kernel add controls that redraw it.

    controls: keyword -> an ipywidgets widget (its value is the default), a list of options
        (the first is the default) or a (min, max[, step]) tuple (the midpoint is the default),
        exactly as `ipywidgets.interact` reads them.
    draw: makes one figure for one setting (it calls plt.figure or plt.subplots itself).
    interactive: force the controls on or off; by default they appear only in a live kernel.
    """
    import matplotlib.pyplot as plt

    defaults = {name: _default(control) for name, control in controls.items()}
    draw(**defaults)
    plt.show()
    if interactive is None:
        interactive = live_kernel()
    if not interactive:
        return
    import ipywidgets as widgets
    from IPython.display import display

    first_call = [True]

    def redraw(**values):
        if first_call[0]:  # interact draws the defaults at once: they are already shown above
            first_call[0] = False
            return
        draw(**values)
        plt.show()

    display(widgets.HTML("<b>Explore:</b> change a control and the figure for that setting is drawn below it."))
    widgets.interact(redraw, **controls)
