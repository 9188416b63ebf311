import Foundation
import Testing

@testable import MQTTBridgeTransport
import ProcessorAPI

/// The bridge's parts that need no broker: topic templates, the routes
/// file, the broker URL, recognising a message the broker sends again.
@Suite("MQTT bridge: routes, templates, redelivery")
struct MQTTBridgeRoutesTests {
    @Test("a template matches its topics, names the device and the id, and builds downlink topics")
    func templates() throws {
        let response = try #require(MQTTBridgeTopicTemplate("sensors/{device}/rpc/response/{id}"))
        #expect(response.filter == "sensors/+/rpc/response/+")
        #expect(response.match("sensors/boiler-7/rpc/response/42")?.device == "boiler-7")
        #expect(response.match("sensors/boiler-7/rpc/response/42")?.id == "42")
        #expect(response.match("sensors/boiler-7/rpc/response") == nil)
        #expect(response.match("sensors//rpc/response/1") == nil)
        #expect(response.match("other/boiler-7/rpc/response/42") == nil)
        let request = try #require(MQTTBridgeTopicTemplate("sensors/{device}/rpc/request/{id}"))
        #expect(request.topic(device: "boiler-7", id: "5") == "sensors/boiler-7/rpc/request/5")
        // A name that cannot be one topic level gets no topic.
        #expect(request.topic(device: "a/b", id: "5") == nil && request.topic(device: "a+", id: "5") == nil)
        for bad in ["", "$SYS/{device}", "a/#", "a/b+/{device}", "a/{dev}"] {
            #expect(MQTTBridgeTopicTemplate(bad) == nil, "\(bad)")
        }
    }

    @Test("the default routes: telemetry, attributes and RPC replies by device name")
    func defaultRoutes() {
        let routes = MQTTBridgeRoutes.default
        #expect(routes.route("sensors/s1/telemetry")?.kind == .telemetry)
        #expect(routes.route("sensors/s1/attributes")?.kind == .attributes)
        #expect(routes.route("sensors/s1/rpc/response/7")?.kind == .rpcResponse)
        #expect(routes.route("sensors/s1/status") == nil)
        #expect(routes.subscriptions == ["sensors/+/telemetry", "sensors/+/attributes", "sensors/+/rpc/response/+"])
    }

    @Test("a routes file: read, or refused with the reason")
    func routesFile() throws {
        let path = NSTemporaryDirectory() + "bridge-routes-\(UUID().uuidString.prefix(8)).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try #"{"uplink":[{"topic":"plant/{device}/data","kind":"telemetry"}],"downlink":{"rpc":"plant/{device}/cmd/{id}"}}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        let routes = try MQTTBridgeRoutes.load(path: path)
        #expect(routes.route("plant/p1/data")?.device == "p1")
        #expect(routes.subscriptions == ["plant/+/data"])
        #expect(routes.attributes == nil && routes.rpcRequest?.description == "plant/{device}/cmd/{id}")
        #expect(try MQTTBridgeRoutes.load(path: path + ".absent") == .default)
        try #"{"uplink":[{"topic":"p/{device}","kind":"telemetry","devices":["pump-*","meter-7"],"deviceTypes":["boiler"]}]}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        let listed = try #require(try MQTTBridgeRoutes.load(path: path).uplink.first)
        #expect(listed.allows(name: "pump-12") && listed.allows(name: "meter-7") && listed.allows(name: "pump-"))
        #expect(!listed.allows(name: "meter-70") && !listed.allows(name: "pum") && !listed.allows(name: "valve"))
        #expect(listed.allows(type: "boiler") && !listed.allows(type: "sensor"))
        #expect(MQTTBridgeRoutes.default.uplink.allSatisfy { $0.allows(name: "anything") && $0.allows(type: "any") })
        for (text, reason) in [
            (#"{"uplink":[{"topic":"plant/data","kind":"telemetry"}]}"#, "with {device}"),
            (#"{"uplink":[{"topic":"p/{device}","kind":"events"}]}"#, "kind events"),
            (#"{"uplink":[{"topic":"p/{device}/r","kind":"rpc_response"}]}"#, "needs {id}"),
            (#"{"uplink":[]}"#, "no uplink route"),
            (#"{"uplink":[{"topic":"p/{device}","kind":"telemetry"}],"downlink":{"rpc":"p/{device}/cmd"}}"#, "needs {device} and {id}"),
            (#"{"uplink":[{"topic":"p/{device}","kind":"telemetry"}],"subscriptions":["p/#/x"]}"#, "not a topic filter"),
            ("not json", "not a routes object"),
            (#"{"uplink":[{"topic":"p/{device}","kind":"telemetry","devices":[]}]}"#, "devices must be"),
            (#"{"uplink":[{"topic":"p/{device}","kind":"telemetry","devices":["a*b"]}]}"#, "devices must be"),
            (#"{"uplink":[{"topic":"p/{device}","kind":"telemetry","deviceTypes":[""]}]}"#, "deviceTypes must be"),
        ] {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            #expect {
                try MQTTBridgeRoutes.load(path: path)
            } throws: { error in
                (error as? MQTTBridgeRoutes.LoadError)?.description.contains(reason) == true
            }
        }
    }

    @Test("MQTT_BRIDGE_URL", arguments: [
        ("mqtt://broker", "broker", 1883, false), ("mqtts://broker", "broker", 8883, true),
        ("mqtt://10.0.0.2:11883/", "10.0.0.2", 11883, false), ("mqtts://[::1]:8884", "::1", 8884, true),
    ] as [(String, String, Int, Bool)])
    func url(text: String, host: String, port: Int, tls: Bool) {
        let parsed = MQTTBridgeConfiguration.parseURL(text)
        #expect(parsed?.host == host && parsed?.port == port && parsed?.tls == tls)
    }

    @Test("URLs that are refused", arguments: ["tcp://b:1883", "mqtt://", "mqtt://b:0", "mqtt://user@b", "mqtt://b/x"])
    func badURL(text: String) {
        #expect(MQTTBridgeConfiguration.parseURL(text) == nil)
    }

    @Test("after a reconnect, a message with the identifier, topic and payload of one taken before is recognised, once per drop")
    func redelivery() {
        var seen = MQTTBridgeRedelivery(capacity: 4)
        let new1 = seen.isNew(mid: 1, topic: "t", payload: [1])
        #expect(new1)
        let new2 = seen.isNew(mid: 2, topic: "t", payload: [2])
        #expect(new2)
        seen.newConnection()
        let new3 = seen.isNew(mid: 2, topic: "t", payload: [2])
        #expect(!new3)  // sent again
        let new4 = seen.isNew(mid: 1, topic: "t", payload: [9])
        #expect(new4)  // same id, other payload: new
        let new5 = seen.isNew(mid: 3, topic: "t", payload: [3])
        #expect(new5)
        seen.newConnection()
        // The one recognised last time can be dropped and sent once more.
        let new6 = seen.isNew(mid: 2, topic: "t", payload: [2])
        #expect(!new6)
        let new7 = seen.isNew(mid: 2, topic: "t", payload: [2])
        #expect(new7)
        // Only the last `capacity` are remembered.
        for mid in Int32(10)...Int32(15) { _ = seen.isNew(mid: mid, topic: "t", payload: []) }
        seen.newConnection()
        let new8 = seen.isNew(mid: 10, topic: "t", payload: [])
        #expect(new8)
        let new9 = seen.isNew(mid: 15, topic: "t", payload: [])
        #expect(!new9)
    }
}
