import Foundation
import Synchronization
import Testing

@testable import LwM2M

/// The parts of the LwM2M client role that need no network: what it
/// encodes, how devices map to objects, notification attributes.
@Suite("LwM2M client role: formats, mapping, attributes")
struct LwM2MClientTests {
    static let instance = LwM2MClientInstance(
        deviceId: "d-1", deviceName: "boiler \"7\"", deviceType: "heater", object: LwM2MClientMapping.defaultObject, instanceId: 4)
    static let values: [String: LwM2MLastValues.Value] = [
        "temperature": .init(json: "21.5", ts: 1_700_000_000_000),
        "label": .init(json: #""hall""#, ts: 1_700_000_001_000),
    ]

    /// What a Read of the default object's instance answers.
    var nodes: [LwM2MNode] { Self.instance.nodes(values: Self.values) }

    @Test("a device instance reads as name, type, latest values as JSON and the last update time")
    func instanceNodes() {
        #expect(nodes == [
            LwM2MNode(LwM2MPath(26241, 4, 0), .string("boiler \"7\"")),
            LwM2MNode(LwM2MPath(26241, 4, 1), .string("heater")),
            LwM2MNode(LwM2MPath(26241, 4, 2), .string(#"{"label":"hall","temperature":21.5}"#)),
            LwM2MNode(LwM2MPath(26241, 4, 3), .time(1_700_000_001)),
        ])
    }

    @Test("every format the client writes decodes back to the same values", arguments: [
        LwM2MTLV.contentFormat, SenMLJSON.contentFormat, SenMLCBOR.contentFormat, LwM2MJSON.contentFormat,
    ])
    func roundTrip(format: UInt32) throws {
        let path = LwM2MPath(26241, 4)
        let types: (LwM2MPath) -> LwM2MResourceType? = { Self.instance.object.resource($0.resourceId ?? .max)?.type }
        let bytes = try #require(LwM2MContentFormat.encode(nodes, format: format, path: path))
        let decoded = try LwM2MContentFormat.decode(bytes, format: format, path: path, types: types)
        #expect(decoded.map(\.path) == nodes.map(\.path))
        #expect(decoded.map(\.value) == nodes.map(\.value))
        // A single resource too, and a float as a float.
        let single = [LwM2MNode(LwM2MPath(3303, 0, 5700), .float(21.5))]
        let one = try #require(LwM2MContentFormat.encode(single, format: format, path: LwM2MPath(3303, 0, 5700)))
        let back = try LwM2MContentFormat.decode(one, format: format, path: LwM2MPath(3303, 0, 5700), types: { _ in .float })
        #expect(back.map(\.value) == [.float(21.5)])
    }

    @Test("text/plain carries one resource; more need a structured format")
    func plainText() throws {
        let one = try #require(LwM2MContentFormat.encode([nodes[1]], format: LwM2MPlainText.contentFormat, path: nodes[1].path))
        #expect(String(decoding: one, as: UTF8.self) == "heater")
        #expect(LwM2MContentFormat.encode(nodes, format: LwM2MPlainText.contentFormat, path: LwM2MPath(26241, 4)) == nil)
    }

    @Test("JSON values become the resource's type, or nothing when they are not one", arguments: [
        ("21.5", LwM2MResourceType.float, LwM2MValue.float(21.5)),
        ("21", .float, .float(21)),
        ("21", .integer, .integer(21)),
        ("9007199254740993", .integer, .integer(9_007_199_254_740_993)),
        ("true", .boolean, .boolean(true)),
        ("0", .boolean, .boolean(false)),
        (#""on""#, .string, .string("on")),
        ("{\"a\":1}", .string, .string("{\"a\":1}")),
        (#""aGk=""#, .opaque, .opaque([0x68, 0x69])),
    ] as [(String, LwM2MResourceType, LwM2MValue)])
    func jsonValues(json: String, type: LwM2MResourceType, expected: LwM2MValue) {
        #expect(LwM2MClientInstance.value(json: json, as: type) == expected)
    }

    @Test("a string is no number, a number no boolean", arguments: [
        (#""warm""#, LwM2MResourceType.float), ("2", .boolean), ("true", .integer), ("12.5", .opaque),
    ] as [(String, LwM2MResourceType)])
    func notValues(json: String, type: LwM2MResourceType) {
        #expect(LwM2MClientInstance.value(json: json, as: type) == nil)
    }

    @Test("a mapping file: types and operations from the object model unless given; errors name the resource")
    func mapping() throws {
        let directory = NSTemporaryDirectory() + "lwm2m-mapping-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/mapping.json"
        try #"{"thermostat":{"object":3303,"resources":{"5700":{"key":"temperature"},"5750":{"key":"label","operations":"RW"},"4":{"name":"calibrate","operations":"E"}}}}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        let models = try LwM2MModelRegistry.load()
        let mapping = try LwM2MClientMapping.load(path: path, models: models)
        let object = mapping.object(deviceType: "thermostat")
        #expect(object.objectId == 3303)
        #expect(object.resources.map(\.id) == [4, 5700, 5750])
        #expect(object.resource(5700) == LwM2MClientResource(id: 5700, name: "Sensor Value", type: .float, operations: "R", source: .key("temperature")))
        #expect(object.resource(5750)?.type == .string && object.resource(5750)?.isWritable == true)
        #expect(object.resource(4)?.source == .rpc && object.resource(4)?.name == "calibrate")
        #expect(mapping.object(deviceType: "anything else") == LwM2MClientMapping.defaultObject)
        #expect(try LwM2MClientMapping.load(path: directory + "/absent.json", models: models).byDeviceType.isEmpty)

        for (text, reason) in [
            (#"{"t":{"object":3303,"resources":{"x":{"key":"a"}}}}"#, "resource id x is not a number"),
            (#"{"t":{"object":3303,"resources":{"5700":{}}}}"#, "t/5700: a readable or writable resource needs a key"),
            (#"{"t":{"object":3303,"resources":{"5700":{"key":"a","operations":"RE"}}}}"#, "t/5700: operations must be R, W, RW or E"),
            (#"{"t":{"object":26241,"resources":{}}}"#, "object 26241 is the default object"),
            ("[1]", "not a mapping object"),
        ] {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            #expect {
                try LwM2MClientMapping.load(path: path, models: models)
            } throws: { error in
                (error as? LwM2MModelError)?.reason.contains(reason) == true
            }
        }
    }

    @Test("Write-Attributes: set, override by the inner path, remove by name alone; gt/lt/st only for numbers")
    func attributes() throws {
        var object = LwM2MNotificationAttributes()
        try object.apply(query: ["pmin=5", "pmax=60"], numeric: false)
        var resource = LwM2MNotificationAttributes()
        try resource.apply(query: ["pmax=10", "gt=20.5", "st=1"], numeric: true)
        let effective = object.overridden(by: resource)
        #expect(effective == LwM2MNotificationAttributes(pmin: 5, pmax: 10, gt: 20.5, lt: nil, st: 1))
        try resource.apply(query: ["gt"], numeric: true)
        #expect(resource.gt == nil && resource.pmax == 10)
        #expect(resource.linkParameters.map { "\($0.name)=\($0.value)" } == ["pmax=10", "st=1.0"])
        #expect(throws: LwM2MContentError.self) { try object.apply(query: ["gt=3"], numeric: false) }
        #expect(throws: LwM2MContentError.self) { try object.apply(query: ["pmin=-1"], numeric: false) }
        #expect(throws: LwM2MContentError.self) { try object.apply(query: ["colour=red"], numeric: false) }
    }

    @Test("gt, lt and st decide whether a numeric change is notified")
    func notificationRules() {
        func passes(_ attributes: LwM2MNotificationAttributes, _ old: Double, _ new: Double) -> Bool {
            LwM2MClientHandler.passes(
                attributes, previous: [LwM2MNode(LwM2MPath(1, 0, 0), .float(old))], current: [LwM2MNode(LwM2MPath(1, 0, 0), .float(new))])
        }
        #expect(passes(LwM2MNotificationAttributes(), 1, 2))
        #expect(passes(LwM2MNotificationAttributes(gt: 20), 19, 21))
        #expect(!passes(LwM2MNotificationAttributes(gt: 20), 21, 22))
        #expect(passes(LwM2MNotificationAttributes(lt: 5), 6, 4))
        #expect(!passes(LwM2MNotificationAttributes(st: 2), 10, 11.5))
        #expect(passes(LwM2MNotificationAttributes(st: 2), 10, 12))
    }

    @Test("the last-value cache keeps the newest value by ts and tells its listener once per batch")
    func lastValues() {
        let cache = LwM2MLastValues()
        let calls = Counter()
        cache.onChange { calls.increment() }
        cache.update(deviceId: "d", [("t", "1")], ts: 10)
        cache.update(deviceId: "d", [("t", "0")], ts: 5)  // older: ignored
        cache.update(deviceId: "e", [("h", "2")], ts: 10)
        #expect(cache.values(deviceId: "d")["t"] == .init(json: "1", ts: 10))
        #expect(calls.value == 1)
        #expect(cache.takeChanged() == ["d", "e"])
        cache.update(deviceId: "d", [("t", "3")], ts: 11)
        #expect(calls.value == 2)
    }

    @Test("changes from before the listener is set are told when it is, and later ones still reach it")
    func lastValuesBeforeListener() {
        let cache = LwM2MLastValues()
        cache.update(deviceId: "d", [("t", "1")], ts: 10)
        let calls = Counter()
        cache.onChange { calls.increment() }
        #expect(calls.value == 1)
        #expect(cache.takeChanged() == ["d"])
        cache.update(deviceId: "d", [("t", "2")], ts: 11)
        #expect(calls.value == 2)
        #expect(cache.takeChanged() == ["d"])
        // Nothing changed before this listener: it is not called for nothing.
        let idle = Counter()
        cache.onChange { idle.increment() }
        #expect(idle.value == 0)
    }

    @Test("LWM2M_CLIENT_SERVER_URI: coap URIs with and without a port, IPv6 literals; anything else refused", arguments: [
        ("coap://127.0.0.1:5683", "127.0.0.1", 5683), ("coap://lwm2m.example.com", "lwm2m.example.com", 5683),
        ("coap://[::1]:15683/", "::1", 15683),
    ] as [(String, String, Int)])
    func serverURI(text: String, host: String, port: Int) {
        let parsed = LwM2MClientConfiguration.parseServerURI(text)
        #expect(parsed?.host == host && parsed?.port == port)
    }

    @Test("server URIs that are refused", arguments: ["coaps://h:5684", "coap://", "coap://h:0", "coap://h:99999", "http://h", "coap://h/x"])
    func badServerURI(text: String) {
        #expect(LwM2MClientConfiguration.parseServerURI(text) == nil)
    }
}

final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
