"""What a method handler gets: the service's ports and the caller, authenticated on first use."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ee_retry.domain.values import User
from ee_retry.errors import AuthenticationError
from ee_retry.service.deps import Deps


@dataclass
class Call:
    deps: Deps
    token: str | None
    _user: User | None = field(default=None, repr=False)

    async def user(self) -> User:
        if self._user is None:
            if not self.token:
                raise AuthenticationError("This method needs a token: send it in the Authorization header")
            self._user = await self.deps.auth.user_for_token(self.token)
        return self._user


Handler = Callable[[Call, list[Any]], Awaitable[Any]]
