#!/usr/bin/env python3
"""A test agent of ours on the third-party `opentelemetry-opamp-client` (PyPI), over
plain HTTP, with a fixed instance uid. It reports its description and heartbeats and
prints every remote configuration it is sent (also one it already has), so a test can
count what the server sent. With --hold it never says anything about a configuration;
otherwise it reports it APPLIED, with the effective config, like a well-behaved agent.

Prints one JSON line per event on stdout: connected | remote_config_received | exit
"""
import argparse
import atexit
import json
import sys
import time

from opentelemetry._opamp import OpAMPAgent, OpAMPCallbacks, OpAMPClient
from opentelemetry._opamp.proto import opamp_pb2


def emit(event, **fields):
    print(json.dumps({"event": event, "ts": round(time.time(), 3), **fields}), flush=True)


class Callbacks(OpAMPCallbacks):
    def __init__(self, args):
        self.args = args
        self.connected = False
        self.received = 0

    def on_connect(self, agent, client):
        if not self.connected:
            self.connected = True
            emit("connected", agent=self.args.name, instance_uid=client._instance_uid.hex())

    def on_connect_failed(self, agent, client, error):
        emit("error", agent=self.args.name, error=str(error))

    def on_error(self, agent, client, error_response):
        emit("error", agent=self.args.name, error=error_response.error_message)

    def on_message(self, agent, client, message):
        rc = message.remote_config
        if rc is None:
            return
        self.received += 1
        emit("remote_config_received", agent=self.args.name, hash=rc.config_hash.hex())
        if self.args.hold:
            return
        files = dict(rc.config.config_map)
        client.update_effective_config({k: v.body for k, v in files.items()},
                                       content_type="text/yaml")
        client.update_remote_config_status(rc.config_hash,
                                           opamp_pb2.RemoteConfigStatuses_APPLIED, "")
        agent.send(client.build_full_state_message())


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--instance-uid", required=True, help="32 hex characters")
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--heartbeat", type=float, default=0.3)
    p.add_argument("--hold", action="store_true", help="never answer a configuration")
    args = p.parse_args()
    headers = {}
    for h in args.header:
        k, _, v = h.partition(":")
        headers[k.strip()] = v.strip()
    client = OpAMPClient(
        endpoint=args.endpoint,
        headers=headers,
        timeout_millis=5000,
        agent_identifying_attributes={"service.name": args.name, "host.name": "test-host"},
        agent_non_identifying_attributes={"opamp.peer": "test_agent"},
    )
    # The library has no public option for a fixed uid.
    client._instance_uid = bytes.fromhex(args.instance_uid.replace("-", ""))
    cb = Callbacks(args)
    agent = OpAMPAgent(interval=args.heartbeat, callbacks=cb, client=client,
                       max_retries=3, initial_backoff=0.5)
    agent.start()
    time.sleep(args.seconds)
    agent.stop(timeout=2)
    atexit.unregister(agent.stop)
    emit("exit", agent=args.name, connected=cb.connected, received=cb.received)
    return 0 if cb.connected else 1


if __name__ == "__main__":
    sys.exit(main())
