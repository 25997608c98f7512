"""What follows from HubSpot's answer to one request: the decision core's outcome rules.

Part of :class:`hubsync.core.outbox.Outbox` (its base class here keeps the rules about
answers apart from those about observations and dispatch). Pure.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hubsync.core import retry
from hubsync.core.effects import UNKNOWN_CONTENT, Effects, Result
from hubsync.core.outbox_base import OutboxBase, _Account
from hubsync.model import OpKind, OutboxEntry, OutboxState, SyncedFile

UNCERTAIN = frozenset({retry.Outcome.TRANSIENT, retry.Outcome.UNEXPECTED})
"""Failures after which the request may have been applied (a 5xx after the write, a
timeout, a dropped connection): the remote content at that path becomes unknown."""


class OutcomeRules(OutboxBase):
    """The answers' half of the outbox rules."""

    def unsent(self, sent: OutboxEntry) -> None:
        """``sent`` was not sent after all (cancelled, or the file vanished before it
        was read): it is no longer in flight, and nothing else changes."""
        self._accounts[sent.account].in_flight.pop(sent.remote_path, None)

    def on_result(self, sent: OutboxEntry, result: Result, now: float, *,
                  jitter: float) -> Effects:
        """What follows from the answer to ``sent`` (which must be in flight)."""
        acc = self._accounts[sent.account]
        acc.in_flight.pop(sent.remote_path, None)
        effects = Effects()
        outcome = result.outcome
        if outcome is retry.Outcome.NOT_FOUND and sent.op is OpKind.DELETE:
            outcome = retry.Outcome.OK
        if outcome is retry.Outcome.OK:
            if sent.op is OpKind.UPLOAD:
                self._uploaded(acc, sent, result, now, effects)
            else:
                self._deleted(acc, sent, result, now, effects)
            return effects
        self._failed(acc, sent, result, now, jitter, effects)
        return effects

    def _fields(self, sent: OutboxEntry, result: Result, attempt: int) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "watch": sent.watch, "account": sent.account, "path": sent.rel,
            "remote_path": sent.remote_path, "attempt": attempt,
            "status": result.status, "correlation_id": result.correlation_id,
        }
        if sent.op is OpKind.UPLOAD:
            fields.update(sha256=sent.sha256, bytes=sent.size)
        fields.update(result.fields)
        return fields

    def _uploaded(self, acc: _Account, sent: OutboxEntry, result: Result, now: float,
                  effects: Effects) -> None:
        assert sent.sha256 is not None
        if result.after is None or result.after.sha256 != sent.sha256:
            # Changed (or gone) during the upload: what arrived is unknown. The tracker
            # looks again and the newest content is queued; the base says "unknown", so
            # even a change back to the old synced content is sent (and a file gone
            # meanwhile is deleted), never left differing from the local tree.
            self._mark_unknown(acc, sent, now, effects)
            effects.reprobe.append((sent.watch, sent.rel))
            current = acc.entries.get(sent.remote_path)
            if current is not None and current.sha256 == sent.sha256:
                self._drop(acc, sent.remote_path, effects)
            return
        row = SyncedFile(account=sent.account, remote_path=sent.remote_path, watch=sent.watch,
                         rel=sent.rel, sha256=sent.sha256, size=sent.size, synced_s=now,
                         remote=result.remote)
        acc.base[sent.remote_path] = row
        effects.synced.append(row)
        acc.pushed += 1
        self._settle_entry(acc, sent, now, effects)
        effects.emit("pushed", **self._fields(sent, result, sent.attempts + 1))

    def _mark_unknown(self, acc: _Account, sent: OutboxEntry, now: float,
                      effects: Effects) -> None:
        """The remote at ``sent``'s path holds something hubsync sent, content unknown."""
        previous = acc.base.get(sent.remote_path)
        if previous is not None and previous.sha256 == UNKNOWN_CONTENT:
            return
        row = SyncedFile(account=sent.account, remote_path=sent.remote_path,
                         watch=sent.watch, rel=sent.rel, sha256=UNKNOWN_CONTENT,
                         synced_s=now)
        acc.base[sent.remote_path] = row
        effects.synced.append(row)

    def _deleted(self, acc: _Account, sent: OutboxEntry, result: Result, now: float,
                 effects: Effects) -> None:
        covered = self._covered(acc, sent)
        for path in covered:
            del acc.base[path]
            effects.unsynced.append((sent.account, path))
        acc.ledger.record_sent(now, max(1, len(covered)))
        acc.deleted += 1
        self._settle_entry(acc, sent, now, effects)
        effects.emit("deleted", **self._fields(sent, result, sent.attempts + 1),
                     folder=sent.folder or None)

    def _settle_entry(self, acc: _Account, sent: OutboxEntry, now: float,
                      effects: Effects) -> None:
        """After a success: drop the entry if it still wants what was sent; otherwise a
        newer want arrived meanwhile and goes next."""
        current = acc.entries.get(sent.remote_path)
        if current is None:
            return
        same = current.op is sent.op and current.sha256 == sent.sha256
        now_synced = current.op is OpKind.UPLOAD and current.sha256 == self.synced_sha(
            sent.account, sent.remote_path)
        if same or now_synced:
            self._drop(acc, sent.remote_path, effects)
        else:
            # What the remote holds is known again (this answer): no earlier send of
            # unknown fate is left to recognise.
            self._put(acc, replace(current, due_s=now, attempts=0, sent_sha256=None),
                      effects)

    def _failed(self, acc: _Account, sent: OutboxEntry, result: Result, now: float,
                jitter: float, effects: Effects) -> None:
        attempt = sent.attempts + 1
        if result.outcome in UNCERTAIN and not sent.folder:
            # It may have landed: an upload may have stored its bytes, a delete removed
            # the file. Until an answer says otherwise, the remote content is unknown.
            self._mark_unknown(acc, sent, now, effects)
        fields = self._fields(sent, result, attempt)
        fields["error"] = result.error
        current = acc.entries.get(sent.remote_path)
        superseded = current is None or current.op is not sent.op \
            or current.sha256 != sent.sha256
        decision = retry.decide(
            result.outcome, op=sent.op, attempt=attempt, now=now,
            retry_after=result.retry_after_s, jitter=jitter, cap_s=self.policy.backoff_cap_s)
        if (result.outcome is retry.Outcome.UNEXPECTED
                and attempt >= self.policy.unexpected_max_attempts):
            decision = retry.Decision(retry.DecisionKind.PARK,
                                      reason=f"gave up after {attempt} attempts")
        if superseded:
            if sent.op is OpKind.DELETE and result.outcome in UNCERTAIN:
                # No retry follows, yet it may have deleted: the brake counts it.
                acc.ledger.record_sent(now, self._files_deleted(acc, sent))
            self._superseded(acc, sent, current, now, effects)
            return
        assert current is not None
        if decision.kind is retry.DecisionKind.PARK:
            self._put(acc, replace(current, state=OutboxState.PARKED, attempts=attempt,
                                   last_error=result.error), effects)
            effects.emit("failed", **fields, note=_note(decision, result))
            return
        if decision.kind is retry.DecisionKind.HOLD_ACCOUNT:
            self._put(acc, replace(current, due_s=now, last_error=result.error), effects)
            effects.block.append((sent.account, result.error or decision.reason))
            effects.emit("failed", **fields)
            return
        at = decision.at if decision.at is not None else now
        self._put(acc, replace(current, attempts=attempt, due_s=at,
                               last_error=result.error), effects)
        limit = self.policy.give_up_after
        if limit is not None and attempt >= limit:
            acc.gave_up.add(sent.remote_path)
            self._rewake(acc, acc.entries.get(sent.remote_path), None)
            effects.emit("failed", **fields,
                         note=f"gave up after {attempt} attempts; still pending for the next run")
            return
        effects.emit("retrying", **fields, retry_in_ms=round((at - now) * 1000))

    def _superseded(self, acc: _Account, sent: OutboxEntry, current: OutboxEntry | None,
                    now: float, effects: Effects) -> None:
        """A newer want replaced ``sent`` while it failed in flight: it goes next, unless
        it wants what the base already holds (the failure changed nothing remotely; an
        uncertain one has made the base UNKNOWN_CONTENT before this)."""
        if current is None:
            return
        if current.op is OpKind.UPLOAD and current.sha256 == self.synced_sha(
                sent.account, sent.remote_path):
            self._drop(acc, sent.remote_path, effects)
            return
        self._put(acc, replace(current, due_s=now), effects)

    def reschedule_all(self, account: str, now: float, *, forgive: bool = True) -> None:
        """Make every pending entry of ``account`` due now (after an outage ends, or a
        ``flush``): backoff that grew while the server was away must not delay catching up.
        ``forgive``: entries given up on (``Policy.give_up_after``) are sent again too (a
        flush); False after an outage, so push never sends one it said it gave up on.
        Not durable: the rows keep their times until the next outcome rewrites them."""
        acc = self._accounts[account]
        for path, entry in list(acc.entries.items()):
            if entry.state is OutboxState.PENDING and entry.due_s > now:
                acc.entries[path] = replace(entry, due_s=now)
        if forgive:
            acc.gave_up.clear()
        acc.wake = None


def _note(decision: retry.Decision, result: Result) -> str | None:
    """A parked entry's note: only when it is not the usual HubSpot refusal."""
    if result.outcome is retry.Outcome.VALIDATION:
        return None
    return f"{decision.reason}; retried when the file changes"
