"""The model object: load it, read its feature names and classes, and ask it for probabilities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from shadow.errors import InvalidModel
from shadow.points import DecisionPoint

NO_NAMES_HINT = "fit the model on a pandas or Polars DataFrame with named columns"


def load_model(path: str | Path) -> Any:
    """The classifier saved with joblib at `path`, checked to give probabilities.

    Only load model files you trust: reading one runs the code pickled in it.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidModel(
            f"No such model file: {path}" if not path.exists() else f"{path} is a folder",
            hint="save the model with joblib.dump(model, 'model.joblib') and pass that file",
        )
    import joblib  # deferred: only scoring needs it

    try:
        model = joblib.load(path)
    except Exception as e:  # unpickling fails in many ways: truncated, not a pickle, missing module
        raise InvalidModel(
            f"Cannot read the model file {path}: {type(e).__name__}: {first_line(e)}",
            hint="save it with joblib.dump(model, path), with the scikit-learn version used here",
        ) from e
    check_model(model, str(path))
    return model


def model_features(model: Any) -> list[str]:
    """The names of the columns the model was fit on (its `feature_names_in_`)."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        raise InvalidModel(
            "The model does not record the names of its features, so Shadow cannot tell which"
            " column of the cases is which",
            hint=NO_NAMES_HINT,
        )
    return [str(n) for n in names]


def check_model(model: Any, name: str) -> None:
    """Refuse a model that gives no probabilities or is not fitted (`name` starts the message)."""
    if not callable(getattr(model, "predict_proba", None)):
        raise InvalidModel(
            f"{name} is a {type(model).__name__}, which gives no probabilities (no predict_proba)",
            hint="use a classifier with predict_proba, e.g. LogisticRegression or"
            " SVC(probability=True)",
        )
    if getattr(model, "classes_", None) is None:
        raise InvalidModel(
            f"{name} is not fitted (it has no classes_)", hint="fit it, then save it"
        )


def label_map(model: Any, point: DecisionPoint) -> tuple[pl.Series, int | None]:
    """The point's label for each model class, and the column of the positive label."""
    classes = list(model.classes_)
    labels = list(point.labels)
    if (
        all(isinstance(c, str) for c in classes)
        and len(classes) == len(labels)
        and set(classes) == set(labels)
    ):
        mapped = [str(c) for c in classes]
    elif (
        point.task_type == "binary"
        and not any(isinstance(c, str) for c in classes)
        and len(classes) == 2
        and set(classes) == {0, 1}
    ):
        other = next(label for label in labels if label != point.positive_label)
        mapped = [str(point.positive_label) if c == 1 else other for c in classes]
    else:
        shown = ", ".join(repr(c.item() if isinstance(c, np.generic) else c) for c in classes)
        hint = f"fit the model on the labels {', '.join(labels)}"
        if point.task_type == "binary":
            hint += f", or on 0/1 (or False/True) with 1 meaning {point.positive_label!r}"
        raise InvalidModel(
            f"The model's classes ({shown}) do not match the labels of {point.point_id}"
            f" ({', '.join(labels)})",
            hint=hint,
        )
    positive = mapped.index(point.positive_label) if point.positive_label in mapped else None
    return pl.Series("predicted_label", mapped, dtype=pl.String), positive


def predict(model: Any, batch: pl.DataFrame) -> np.ndarray[Any, Any]:
    """The model's predict_proba for `batch`; any failure becomes one InvalidModel message."""
    try:
        proba = np.asarray(model.predict_proba(batch), dtype=np.float64)
    except Exception as e:  # any estimator, any failure: a message, not a traceback
        raise InvalidModel(
            f"The model failed to score the cases: {type(e).__name__}: {first_line(e)}",
            hint="check that each feature column holds what the model was trained on (numbers"
            " where it expects numbers; no empty values unless it accepts them). Nothing was logged",
        ) from e
    return proba


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (the rest is usually a traceback-like dump)."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
