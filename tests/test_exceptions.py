import inspect

import accel_toolkit.exceptions as ex


def test_every_error_is_in_the_tree_and_documented():
    doc = ex.__doc__
    for name in ex.__all__:
        cls = getattr(ex, name)
        assert issubclass(cls, (ex.AccelToolkitError, Warning))
        assert name in doc, f"{name} missing from the tree drawn in the module docstring"


def test_builtin_bases():
    assert issubclass(ex.ConfigError, ValueError)
    assert issubclass(ex.UnknownKernelError, ValueError)
    assert issubclass(ex.BackendUnavailableError, RuntimeError)
    assert issubclass(ex.StoreLockedError, RuntimeError)
    assert issubclass(ex.NotFittedError, ValueError) and issubclass(
        ex.NotFittedError, AttributeError
    )
    assert all(inspect.isclass(getattr(ex, n)) for n in ex.__all__)
