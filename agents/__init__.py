"""Mesa agents of the stack: firms (state plus the call to their strategy)."""

from stackgame.agents.firm import FirmAgent

__all__ = ["FirmAgent"]
