"""The Ed25519 checks of ``audit verify``, on a second core when a trail has many signatures.

Verifying one signature costs about 100 µs here, some thirty times what the
walk spends on an entry, and a trail of single commands (each ``show`` is one)
has a signature every entry or two. So once a walk has met ``parallel_from``
signatures, it hands them in batches to a forked process and walks on; at the
end, or at its first problem, it collects the answers. Every signature is
still verified: the walk only stops waiting for each. The answer is the first
signature that does not verify, which the walk then explains (who signed it
instead). Only public keys, signatures and the messages signed (hashes) cross
over.

A trail's signatures can also be handed over before the walk starts
(``early``: each with the key its slot has now and the message its stored hash
makes), so the worker verifies them while the walk hashes the entries before
them. An early answer is used only for the very check the walk then makes
(the same key, signature and message); any other check is made as above.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from .crypto_pk import Verifiers

if TYPE_CHECKING:  # imported when a worker starts: every command verifies rows, few trails need a worker
    from concurrent.futures import Future, ProcessPoolExecutor

BATCH = 256  # signatures a batch
AHEAD = 8  # batches in the worker before the walk waits for the oldest
EARLY = 32 * BATCH  # signatures at most handed over before the walk (memory stays bounded)

Triple = tuple[bytes, bytes, bytes]  # verifier, signature, message


class Check(NamedTuple):
    seq: int
    verifier: bytes
    signature: bytes
    message: bytes
    context: Any  # what the walk needs to explain a failure (the slots as they stood)


class SignatureChecks:
    """Signatures to verify, in trail order: at once for the first ``parallel_from``, then in a worker process."""

    def __init__(self, parallel_from: int = 512, early: Sequence[tuple[int, bytes, bytes, bytes]] = ()) -> None:
        self.parallel_from = parallel_from
        self.seen = 0
        self.verifiers = Verifiers()
        self.batch: list[Check] = []
        self.sent: deque[tuple[Future[list[bool]], list[Check]]] = deque()
        self.pool: ProcessPoolExecutor | None = None
        self.failed: Check | None = None
        self.early: dict[int, tuple[Triple, int, int]] = {}  # seq -> (what was sent, its batch, its place there)
        self.early_answers: list[Future[list[bool]]] = []
        self.waiting: list[tuple[Check, int, int]] = []  # the walk's checks an early batch answers, in trail order
        if len(early) > parallel_from and _can_fork():
            for start in range(0, len(early), BATCH):
                part = [(seq, (verifier, signature, message)) for seq, verifier, signature, message in early[start : start + BATCH]]
                self.early.update((seq, (triple, len(self.early_answers), place)) for place, (seq, triple) in enumerate(part))
                self.early_answers.append(self._pool().submit(_verify, [triple for _, triple in part]))

    def add(self, check: Check) -> Check | None:
        """Verify ``check`` (now or later); the first failure found so far, if any."""
        self.seen += 1
        sent = self.early.pop(check.seq, None)
        if sent is not None and sent[0] == (check.verifier, check.signature, check.message):
            self.waiting.append((check, sent[1], sent[2]))
            return None if self.failed is None else self._earliest(self.failed)
        if self.pool is None and (self.seen <= self.parallel_from or not _can_fork()):
            return None if self.verifiers.verify(check.verifier, check.signature, check.message) else self._earliest(check)
        self.batch.append(check)
        if len(self.batch) >= BATCH:
            self._send()
        while len(self.sent) > AHEAD and self.failed is None:
            self._receive()
        return None if self.failed is None else self._earliest(self.failed)

    def first_failure(self, before: int | None = None) -> Check | None:
        """Every answer collected: the first signature (before entry ``before``) that did not verify."""
        if self.batch:
            self._send()
        while self.sent and self.failed is None:
            self._receive()
        failed = self._earliest(self.failed)
        self.close()
        if failed is not None and (before is None or failed.seq < before):
            return failed
        return None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
        self.sent.clear()

    def _earliest(self, failed: Check | None) -> Check | None:
        """``failed``, unless an early answer says a check the walk made before it failed first."""
        for check, batch, place in self.waiting:
            if failed is not None and check.seq > failed.seq:
                break
            if not self.early_answers[batch].result()[place]:
                return check
        return failed

    def _pool(self) -> ProcessPoolExecutor:
        if self.pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
        return self.pool

    def _send(self) -> None:
        batch, self.batch = self.batch, []
        self.sent.append((self._pool().submit(_verify, [(c.verifier, c.signature, c.message) for c in batch]), batch))

    def _receive(self) -> None:
        future, batch = self.sent.popleft()
        self.failed = next((check for check, good in zip(batch, future.result(), strict=True) if not good), None)


def _can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


_verifiers = Verifiers()  # in the worker: each signer's key loaded once


def _verify(batch: list[tuple[bytes, bytes, bytes]]) -> list[bool]:
    return [_verifiers.verify(verifier, signature, message) for verifier, signature, message in batch]
