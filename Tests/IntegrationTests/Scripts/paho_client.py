"""A second, independent MQTT client library (Eclipse paho-mqtt) against the
gateway: connects with the token, subscribes to attribute responses,
publishes telemetry at QoS 1 with a topic alias on 5.0, asks for its
attributes and for getSessionLimits, and prints what it got as JSON.

usage: paho_client.py HOST PORT TOKEN 311|5
"""
import json
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def main() -> None:
    host, port, token, level = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    v5 = level == "5"
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"paho-{level}",
                         protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
    client.username_pw_set(token)
    result = {"published": []}
    connected = threading.Event()
    answers = {}
    answered = threading.Event()

    def on_connect(client, userdata, flags, reason_code, properties):
        result["connack"] = str(reason_code)
        if v5 and properties is not None:
            result["receiveMaximum"] = getattr(properties, "ReceiveMaximum", None)
            result["topicAliasMaximum"] = getattr(properties, "TopicAliasMaximum", None)
        connected.set()

    def on_message(client, userdata, message):
        answers[message.topic] = message.payload.decode()
        if len(answers) == 2:
            answered.set()

    client.on_connect = on_connect
    client.on_message = on_message
    client.connect(host, port, keepalive=30)
    client.loop_start()
    if not connected.wait(10):
        raise SystemExit("no CONNACK")
    client.subscribe([("v1/devices/me/attributes/response/+", 1), ("v1/devices/me/rpc/response/+", 1)])
    for seq in range(3):
        properties = None
        topic = "v1/devices/me/telemetry"
        if v5:
            properties = Properties(PacketTypes.PUBLISH)
            properties.TopicAlias = 1
            # After the first message the alias stands for the topic.
            if seq > 0:
                topic = ""
        info = client.publish(topic, json.dumps({"paho": seq}), qos=1, properties=properties)
        info.wait_for_publish(10)
        result["published"].append(info.is_published())
    client.publish("v1/devices/me/attributes/request/5", json.dumps({"sharedKeys": "mode"}), qos=1).wait_for_publish(10)
    client.publish("v1/devices/me/rpc/request/9", json.dumps({"method": "getSessionLimits", "params": {}}), qos=1).wait_for_publish(10)
    answered.wait(10)
    result["answers"] = answers
    client.disconnect()
    client.loop_stop()
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
