"""A real freedesktop notification server for tests: owns ``org.freedesktop.Notifications``
on the D-Bus named by argv[1] and appends each ``Notify`` call to argv[2] as a JSON line.

Run as ``python -m tests.live.notification_server ADDRESS RECORD``; prints ``ready`` once
it owns the name. Implements Notify, GetCapabilities, GetServerInformation and
CloseNotification (Desktop Notifications spec 1.2); anything else gets UnknownMethod.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

from jeepney import HeaderFields, MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

NAME = "org.freedesktop.Notifications"
CAPABILITIES = ["body", "body-markup"]


def serve(address: str, record: Path) -> None:
    conn = open_dbus_connection(bus=address)
    owned = conn.send_and_get_reply(message_bus.RequestName(NAME, 4))  # DO_NOT_QUEUE
    if owned.body[0] != 1:  # PRIMARY_OWNER
        raise SystemExit(f"could not own {NAME}: {owned.body}")
    print("ready", flush=True)
    ids = itertools.count(1)
    while True:
        msg = conn.receive()
        if msg.header.message_type is not MessageType.method_call:
            continue
        member = msg.header.fields.get(HeaderFields.member)
        if member == "Notify":
            app, replaces, icon, summary, body, actions, hints, timeout = msg.body
            number = next(ids)
            with record.open("a", encoding="utf-8") as out:
                out.write(json.dumps({
                    "id": number, "app_name": app, "replaces_id": replaces, "icon": icon,
                    "summary": summary, "body": body, "actions": list(actions),
                    "hints": {k: v[1] for k, v in hints.items()}, "timeout": timeout,
                }) + "\n")
            conn.send(new_method_return(msg, "u", (number,)))
        elif member == "GetCapabilities":
            with record.with_suffix(".calls").open("a", encoding="utf-8") as out:
                out.write("GetCapabilities\n")
            conn.send(new_method_return(msg, "as", (CAPABILITIES,)))
        elif member == "GetServerInformation":
            conn.send(new_method_return(msg, "ssss", ("hubsync-test", "hubsync", "1", "1.2")))
        elif member == "CloseNotification":
            conn.send(new_method_return(msg))
        else:
            conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))


if __name__ == "__main__":
    serve(sys.argv[1], Path(sys.argv[2]))
