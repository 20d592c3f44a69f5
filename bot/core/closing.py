"""Context-manager exits shared by the things that start servers, threads or clients on enter."""

from __future__ import annotations

from types import TracebackType


class StopsOnExit:
    """A `with` block ends by calling `stop()`, so every server or thread is shut down the same way."""

    def stop(self) -> None:
        """Shut down what `start()` began; subclasses say how."""
        raise NotImplementedError

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ClosesOnExit(StopsOnExit):
    """A `with` block ends by calling `close()`, for clients whose shutdown is called close."""

    def close(self) -> None:
        """Release what the object holds; subclasses say how."""
        raise NotImplementedError

    def stop(self) -> None:
        self.close()
