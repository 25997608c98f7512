"""The decision core's state machine (``test_core_outbox_properties``) with folder deletes
in play: besides per-file batches, the worker may take whole removed folders
(``Outbox.take_folders``), "list" them (the modelled remote), decide (``decide``), and
answer the one folder delete with any outcome (``folder_results``), or give the files
back. The same invariants hold at every step (never two requests on one path, the brake
counts each file) and at quiescence (base and remote equal the local tree): grouping
deletes into a folder never loses a file nor leaves one behind."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from hubsync.core import retry
from hubsync.core.effects import Result
from hubsync.core.folders import FolderGroup, Listing, decide, folder_results
from hubsync.core.paths import ancestors, is_under
from hubsync.model import OpKind
from tests.core.outbox_helpers import ACCOUNT, WATCH, remote, seen
from tests.core.test_core_outbox_properties import (
    FAILURES,
    POLICY,
    UNCERTAIN,
    OutboxMachine,
)


class FolderMachine(OutboxMachine):
    """``OutboxMachine`` plus a worker that sends whole folders as one delete."""

    def _gone_folders(self) -> set[tuple[str, str]]:
        """Folders above any known path that hold no local file (the model has no empty
        folders: a folder exists while a file is under it)."""
        folders = {f for rel in (*self.local, *self.remote, "dir/c.css", "m.module/x.css")
                   for f in ancestors(rel)}
        present = {f for rel in self.local for f in ancestors(rel)}
        return {(WATCH.name, f) for f in folders - present}

    @rule(folder=st.sampled_from(("dir", "m.module", "n.module")))
    def remove_folder(self, folder: str) -> None:
        """``rm -rf`` of a local folder: every file under it gone in one observation."""
        rels = {rel for rel in self.local if is_under(rel, folder)}
        for rel in rels:
            del self.local[rel]
        self._observe(rels)

    @precondition(lambda self: not self.flights)
    @rule(data=st.data())
    def send_folders(self, data: st.DataObject) -> None:
        """Vet deletes, take the whole folders, list each (the remote model), and either
        send one folder delete (answered with any outcome) or give the files back; often
        after the delete batch has settled."""
        if data.draw(st.booleans()):
            self.now += POLICY.delete_settle_s + 0.5
        self._apply(self.box.vet_deletes(ACCOUNT, self.now))
        for group in self.box.take_folders(ACCOUNT, self.now, self._gone_folders()):
            self._register(group)
            listing = Listing(frozenset(remote(rel) for rel in self.remote
                                        if is_under(remote(rel), group.remote_folder)))
            if not decide(group, listing, dict.fromkeys(group.synced, True)):
                for entry in group.entries:
                    self.box.unsent(entry)
                    self.deletes_out.pop((entry.rel, entry.enqueued_s), None)
            else:
                outcome = data.draw(st.sampled_from((retry.Outcome.OK, *FAILURES)))
                self._folder_answer(group, outcome,
                                    landed=outcome in UNCERTAIN and data.draw(st.booleans()))
            self.box.folder_done(group)
        self._check_brake()

    def _register(self, group: FolderGroup) -> None:
        for entry in group.entries:
            assert entry.op is OpKind.DELETE
            assert entry.rel not in self.local, f"folder delete of {entry.rel}, still local"
            key = (entry.rel, entry.enqueued_s)
            if key not in self.released:
                self.deletes_out.setdefault(key, self.now)

    def _folder_answer(self, group: FolderGroup, outcome: retry.Outcome, *,
                       landed: bool) -> None:
        gone = outcome is retry.Outcome.NOT_FOUND
        if outcome is retry.Outcome.OK or landed or gone:
            for rel in [r for r in self.remote if is_under(remote(r), group.remote_folder)]:
                del self.remote[rel]
        else:
            for entry in group.entries:
                self.deletes_out.pop((entry.rel, entry.enqueued_s), None)
        answer = Result(outcome, error=None if outcome is retry.Outcome.OK else "boom")
        for entry, each in folder_results(group, answer):
            after = seen(self.local[entry.rel]) if entry.rel in self.local else None
            self._apply(self.box.on_result(entry, Result(
                each.outcome, error=each.error, after=after, fields=each.fields),
                self.now, jitter=0.5))


FolderMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=50)
TestFolderMachine = FolderMachine.TestCase
