"""River's ``TargetStandardScaler`` with the test parameters River's estimator checks ask for.

``preprocessing.TargetStandardScaler`` (River 0.26) requires its ``regressor`` argument but gives
no ``_unit_test_params``, so River's own ``check_init_has_default_params_for_tests`` cannot build
it, and its ``learn_one`` / ``predict_one`` take no keyword arguments, which River's
``check_wrapper_accepts_kwargs`` asks of a wrapper. :class:`StandardisedTarget` is the same
wrapper with both (keyword arguments are passed to the wrapped regressor): the fleet's linear
model learns a standardised target through it (:func:`twin_models.rul.regressors.river_model`).
Imported only when a River regressor is configured (River's preprocessing is ~1 CPU s to import).
"""

from __future__ import annotations

from typing import Any

from river import base, linear_model, preprocessing

__all__ = ["StandardisedTarget"]


class StandardisedTarget(preprocessing.TargetStandardScaler):
    """Learns ``(y - mean) / sd`` (running mean and variance), predicts on the original scale."""

    @classmethod
    def _unit_test_params(cls) -> Any:
        yield {"regressor": linear_model.LinearRegression()}

    def learn_one(self, x: dict[Any, Any], y: base.typing.RegTarget, **kwargs: Any) -> None:
        """Update the target's statistics, then learn ``x`` with the standardised ``y``."""
        self._update(y)  # type: ignore[no-untyped-call]
        self.regressor.learn_one(x, self.func(y), **kwargs)

    def predict_one(self, x: dict[Any, Any], **kwargs: Any) -> base.typing.RegTarget:
        """The wrapped prediction on the target's original scale."""
        return float(self.inverse_func(self.regressor.predict_one(x, **kwargs)))
