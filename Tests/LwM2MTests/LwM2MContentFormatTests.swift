import Foundation
import LwM2M
import Testing

private func bytes(_ hex: String) -> [UInt8] {
    hex.split(separator: " ").map { UInt8($0, radix: 16)! }
}

private func hex(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16, uppercase: true) }.joined(separator: " ")
}

/// The types of the few resources these tests use, as the model registry gives them.
private let models = LwM2MModelRegistry([
    LwM2MObjectModel(id: 3, name: "Device", multiple: false, resources: [
        LwM2MResourceModel(id: 0, name: "Manufacturer", operations: "R", type: .string),
        LwM2MResourceModel(id: 4, name: "Reboot", operations: "E", type: .none),
        LwM2MResourceModel(id: 9, name: "Battery Level", operations: "R", type: .integer),
        LwM2MResourceModel(id: 11, name: "Error Code", operations: "R", type: .integer, multiple: true),
        LwM2MResourceModel(id: 13, name: "Current Time", operations: "RW", type: .time),
        LwM2MResourceModel(id: 16, name: "Supported Binding and Modes", operations: "R", type: .string),
    ]),
    LwM2MObjectModel(id: 3303, name: "Temperature", multiple: true, resources: [
        LwM2MResourceModel(id: 5700, name: "Sensor Value", operations: "R", type: .float, units: "Cel"),
        LwM2MResourceModel(id: 5750, name: "Application Type", operations: "RW", type: .string),
    ]),
    LwM2MObjectModel(id: 9, name: "Links", multiple: true, resources: [
        LwM2MResourceModel(id: 0, name: "Link", operations: "R", type: .objlnk),
        LwM2MResourceModel(id: 1, name: "Blob", operations: "RW", type: .opaque),
        LwM2MResourceModel(id: 2, name: "Flag", operations: "RW", type: .boolean),
    ]),
])

private func types(_ path: LwM2MPath) -> LwM2MResourceType? { models.type(of: path) }

private let device: [LwM2MNode] = [
    LwM2MNode(LwM2MPath(3, 0, 0), .string("tb-test")),
    LwM2MNode(LwM2MPath(3, 0, 9), .integer(87)),
    LwM2MNode(LwM2MPath(3, 0, 11, 0), .integer(0)),
    LwM2MNode(LwM2MPath(3, 0, 11, 1), .integer(5)),
    LwM2MNode(LwM2MPath(3, 0, 13), .time(1_367_491_215)),
    LwM2MNode(LwM2MPath(3, 0, 16), .string("U")),
]

/// /3/0 as TLV, built by hand from Core §7.4.3: C8 = resource, 8-bit id,
/// 8-bit length; 86 = multiple resource, length 6 in the type byte; 41 =
/// resource instance of one byte; C4 = resource of four bytes.
private let deviceTLV = "C8 00 07 74 62 2D 74 65 73 74 C1 09 57 86 0B 41 00 00 41 01 05 C4 0D 51 82 42 8F C1 10 55"

@Suite("LwM2M content formats: TLV (11542)")
struct TLVTests {
    @Test("an object instance with a multiple-instance resource decodes by the model's types")
    func decodeInstance() throws {
        let nodes = try LwM2MTLV.decode(bytes(deviceTLV), base: LwM2MPath(3, 0), types: types)
        #expect(nodes == device)
    }

    @Test("encoding the nodes gives the same bytes")
    func encodeInstance() {
        // The encoder puts a length up to 7 into the type byte (C7) where the hand-built input used C8 07.
        #expect(hex(LwM2MTLV.encode(device, base: LwM2MPath(3, 0))) == "C7 00" + deviceTLV.dropFirst(8))
    }

    @Test("an object read nests instances (type 00 with an 8-bit length)")
    func object() throws {
        let temperature = [
            LwM2MNode(LwM2MPath(3303, 0, 5700), .float(21.5)),
            LwM2MNode(LwM2MPath(3303, 1, 5700), .float(-4.25)),
        ]
        let encoded = LwM2MTLV.encode(temperature, base: LwM2MPath(3303))
        // 16-bit resource id 5700 = 0x1644: type E4 (resource, 16-bit id, 4-byte value), Float32 21.5 = 41 AC 00 00.
        #expect(hex(encoded) == "07 00 E4 16 44 41 AC 00 00 07 01 E4 16 44 C0 88 00 00")
        #expect(try LwM2MTLV.decode(encoded, base: LwM2MPath(3303), types: types) == temperature)
    }

    @Test("a single resource, a double that a float cannot hold, and lengths past 7 and 255")
    func lengths() throws {
        let pi = [LwM2MNode(LwM2MPath(3303, 0, 5700), .float(3.141592653589793))]
        let encoded = LwM2MTLV.encode(pi, base: LwM2MPath(3303, 0, 5700))
        #expect(hex(encoded) == "E8 16 44 08 40 09 21 FB 54 44 2D 18")
        #expect(try LwM2MTLV.decode(encoded, base: LwM2MPath(3303, 0, 5700), types: types) == pi)
        let long = String(repeating: "x", count: 300)
        let text = LwM2MTLV.encode([LwM2MNode(LwM2MPath(3303, 0, 5750), .string(long))], base: LwM2MPath(3303, 0))
        #expect(Array(text.prefix(5)) == [0xF0, 0x16, 0x76, 0x01, 0x2C])  // 16-bit id, 16-bit length 300
        #expect(try LwM2MTLV.decode(text, base: LwM2MPath(3303, 0), types: types) == [LwM2MNode(LwM2MPath(3303, 0, 5750), .string(long))])
    }

    @Test("integers take 1, 2, 4 or 8 bytes, signed", arguments: [
        (Int64(0), "00"), (127, "7F"), (-128, "80"), (128, "00 80"), (-129, "FF 7F"), (40000, "00 00 9C 40"),
        (Int64(Int32.max) + 1, "00 00 00 00 80 00 00 00"),
    ])
    func integers(value: Int64, encoded: String) throws {
        #expect(hex(LwM2MTLV.bytes(.integer(value))) == encoded)
        #expect(LwM2MTLV.value(bytes(encoded), as: .integer) == .integer(value))
    }

    @Test("object links, booleans and opaque")
    func otherTypes() throws {
        let nodes = [
            LwM2MNode(LwM2MPath(9, 0, 0), .objlnk(objectId: 3, instanceId: 0)),
            LwM2MNode(LwM2MPath(9, 0, 1), .opaque([0xDE, 0xAD])),
            LwM2MNode(LwM2MPath(9, 0, 2), .boolean(true)),
        ]
        let encoded = LwM2MTLV.encode(nodes, base: LwM2MPath(9, 0))
        #expect(hex(encoded) == "C4 00 00 03 00 00 C2 01 DE AD C1 02 01")
        #expect(try LwM2MTLV.decode(encoded, base: LwM2MPath(9, 0), types: types) == nodes)
    }

    @Test("without a model, values stay raw bytes")
    func untyped() throws {
        let nodes = try LwM2MTLV.decode(bytes("C1 09 57"), base: LwM2MPath(77, 0))
        #expect(nodes == [LwM2MNode(LwM2MPath(77, 0, 9), .opaque([0x57]))])
    }

    @Test("malformed TLV is a typed error", arguments: [
        "C8 00 07 74 62",  // value shorter than its length
        "C8",  // no identifier
        "D8 00",  // 16-bit id cut short
        "E1 FF FF 01",  // identifier 65535
        "C1 09 57 AA",  // trailing garbage forms a cut-off entry
        "04 00 C1 00 01",  // object instance whose length runs past the end
    ])
    func malformed(input: String) {
        #expect(throws: LwM2MContentError.self) { try LwM2MTLV.decode(bytes(input), base: LwM2MPath(3, 0), types: types) }
    }

    @Test("structure that does not fit the path is an error; a value that does not fit its type too")
    func structure() {
        // A resource directly under an object path.
        #expect(throws: LwM2MContentError.self) { try LwM2MTLV.decode(bytes("C1 09 57"), base: LwM2MPath(3), types: types) }
        // Battery level (integer) in three bytes.
        #expect(throws: LwM2MContentError.self) { try LwM2MTLV.decode(bytes("C3 09 00 00 01"), base: LwM2MPath(3, 0), types: types) }
    }
}

@Suite("LwM2M content formats: SenML JSON (110), SenML CBOR (112), LwM2M JSON (11543)")
struct SenMLTests {
    static let senml = #"[{"bn":"/3/0/","n":"0","vs":"tb-test"},{"n":"9","v":87},{"n":"11/0","v":0},{"n":"11/1","v":5},{"n":"13","v":1367491215},{"n":"16","vs":"U"}]"#

    @Test("SenML JSON encodes /3/0 with a base name and relative names, and decodes back")
    func senmlJSON() throws {
        let encoded = SenMLJSON.encode(device, base: LwM2MPath(3, 0))
        #expect(String(decoding: encoded, as: UTF8.self) == Self.senml)
        #expect(try SenMLJSON.decode(encoded, types: types) == device)
    }

    @Test("SenML base names and base times carry to the records after them")
    func baseValues() throws {
        let text = #"[{"bn":"/3303/0/","bt":1700000000,"n":"5700","v":21.5,"t":2},{"n":"5700","v":22,"t":4},{"bn":"/3303/1/","n":"5700","v":-3}]"#
        let nodes = try SenMLJSON.decode(Array(text.utf8), types: types)
        #expect(nodes == [
            LwM2MNode(LwM2MPath(3303, 0, 5700), .float(21.5), time: 1_700_000_002),
            LwM2MNode(LwM2MPath(3303, 0, 5700), .float(22), time: 1_700_000_004),
            LwM2MNode(LwM2MPath(3303, 1, 5700), .float(-3), time: 1_700_000_000),
        ])
    }

    /// The server turned a record's time into milliseconds with a trapping
    /// Int64 conversion: one device's `"t":1e300` took the gateway down.
    @Test("a time that is not a finite number of seconds in range is a bad value, in JSON and in CBOR", arguments: [
        #"[{"n":"/3303/0/5700","v":1,"t":1e300}]"#,
        #"[{"n":"/3303/0/5700","v":1,"t":-1e300}]"#,
        #"[{"bn":"/3303/0/","bt":1e308,"n":"5700","v":1,"t":1e308}]"#,
        #"[{"n":"/3303/0/5700","v":1,"t":253402300800}]"#,
    ])
    func timeOutOfRange(text: String) {
        #expect(throws: LwM2MContentError.self) { try SenMLJSON.decode(Array(text.utf8), types: types) }
    }

    @Test("CBOR NaN, infinity and 1e300 times are refused; LwM2M JSON's bt too")
    func cborTimes() throws {
        // [{0: "/3303/0/5700", 2: 1, 6: <double>}] (RFC 8428 §6: n 0, v 2, t 6)
        func record(_ time: UInt64) -> [UInt8] {
            [0x81, 0xA3, 0x00, 0x6C] + Array("/3303/0/5700".utf8) + [0x02, 0x01, 0x06, 0xFB]
                + (0..<8).reversed().map { UInt8(truncatingIfNeeded: time >> ($0 * 8)) }
        }
        for bits in [Double.nan.bitPattern, Double.infinity.bitPattern, (-Double.infinity).bitPattern, (1e300).bitPattern] {
            #expect(throws: LwM2MContentError.self) { try SenMLCBOR.decode(record(bits), types: types) }
        }
        let valid = try SenMLCBOR.decode(record((1_700_000_000.5).bitPattern), types: types)
        #expect(valid.first?.time == 1_700_000_000.5)
        let json = #"{"bn":"/3303/0/","bt":1e300,"e":[{"n":"5700","v":1}]}"#
        #expect(throws: LwM2MContentError.self) { try LwM2MJSON.decode(Array(json.utf8), types: types) }
    }

    @Test("SenML times under 2^28 are relative to now (RFC 8428 §4.5.3); others are absolute")
    func relativeTimes() {
        let now: Int64 = 1_700_000_000_000
        #expect(SenML.epochMilliseconds(0, now: now) == now)
        #expect(SenML.epochMilliseconds(-60, now: now) == now - 60_000)
        #expect(SenML.epochMilliseconds(1_700_000_123.25, now: now) == 1_700_000_123_250)
        #expect(SenML.epochMilliseconds(.nan, now: now) == now)
        #expect(SenML.epochMilliseconds(1e300, now: now) == now)
    }

    @Test("a single resource is one record with the full path; vd, vb and vlo")
    func singleAndTypes() throws {
        let one = SenMLJSON.encode([LwM2MNode(LwM2MPath(3303, 0, 5700), .float(21.5))], base: LwM2MPath(3303, 0, 5700))
        #expect(String(decoding: one, as: UTF8.self) == #"[{"bn":"/3303/0/5700","v":21.5}]"#)
        let nodes = [
            LwM2MNode(LwM2MPath(9, 0, 0), .objlnk(objectId: 3, instanceId: 0)),
            LwM2MNode(LwM2MPath(9, 0, 1), .opaque([0xFB, 0xFF])),
            LwM2MNode(LwM2MPath(9, 0, 2), .boolean(false)),
        ]
        let encoded = SenMLJSON.encode(nodes, base: LwM2MPath(9, 0))
        #expect(String(decoding: encoded, as: UTF8.self) == #"[{"bn":"/9/0/","n":"0","vlo":"3:0"},{"n":"1","vd":"-_8"},{"n":"2","vb":false}]"#)
        #expect(try SenMLJSON.decode(encoded, types: types) == nodes)
    }

    @Test("malformed SenML JSON", arguments: [
        #"{"bn":"/3/0/"}"#, #"[{"n":"x/y","v":1}]"#, #"[{"bn":"/3/0/","n":"9","v":1,"vs":"a"}]"#, #"[{"bn":"/3/0/","n":"9","v":"#,
        #"[{"bn":"/3/0/","n":"9","vs":"not a number"}]"#, #"[{"bn":"/3/0/","n":"0","vd":"%%%"}]"#, #"[{"bn":"/3","v":1}]"#,
    ])
    func malformedJSON(input: String) {
        #expect(throws: LwM2MContentError.self) { try SenMLJSON.decode(Array(input.utf8), types: types) }
    }

    @Test("SenML CBOR: integer labels, a half-precision float from the device, encode and decode")
    func senmlCBOR() throws {
        // [{-2: "/3303/0/", 0: "5700", 2: 21.5 (half 0x4D60)}]
        let fromDevice = bytes("81 A3 21 68 2F 33 33 30 33 2F 30 2F 00 64 35 37 30 30 02 F9 4D 60")
        #expect(try SenMLCBOR.decode(fromDevice, types: types) == [LwM2MNode(LwM2MPath(3303, 0, 5700), .float(21.5))])
        let encoded = SenMLCBOR.encode(device, base: LwM2MPath(3, 0))
        #expect(try SenMLCBOR.decode(encoded, types: types) == device)
        // First record: map of 3, -2 → "/3/0/", 0 → "0", 3 → "tb-test".
        #expect(hex(Array(encoded.prefix(14))) == "86 A3 21 65 2F 33 2F 30 2F 00 61 30 03 67")
    }

    @Test("malformed SenML CBOR", arguments: [
        "A1 00 01",  // not an array
        "81 A1 00",  // map value missing
        "81 A1 00 78",  // text length byte missing
        "81 A1 02 63 61 62 63",  // v with a text value
        "81 A2 21 62 2F 33 02 01",  // base name not a resource path
        "9F 01",  // indefinite array never closed
        "81 A1 00 7F",  // indefinite text string
    ])
    func malformedCBOR(input: String) {
        #expect(throws: LwM2MContentError.self) { try SenMLCBOR.decode(bytes(input), types: types) }
    }

    @Test("LwM2M JSON 1.0 style: e array, sv/v/bv/ov, opaque as base64 in sv")
    func lwm2mJSON() throws {
        let encoded = LwM2MJSON.encode(device, base: LwM2MPath(3, 0))
        #expect(String(decoding: encoded, as: UTF8.self) == #"{"bn":"/3/0/","e":[{"n":"0","sv":"tb-test"},{"n":"9","v":87},{"n":"11/0","v":0},{"n":"11/1","v":5},{"n":"13","v":1367491215},{"n":"16","sv":"U"}]}"#)
        #expect(try LwM2MJSON.decode(encoded, types: types) == device)
        let links = #"{"bn":"/9/0/","e":[{"n":"0","ov":"3:0"},{"n":"1","sv":"3q0="},{"n":"2","bv":true}]}"#
        #expect(try LwM2MJSON.decode(Array(links.utf8), types: types) == [
            LwM2MNode(LwM2MPath(9, 0, 0), .objlnk(objectId: 3, instanceId: 0)),
            LwM2MNode(LwM2MPath(9, 0, 1), .opaque([0xDE, 0xAD])),
            LwM2MNode(LwM2MPath(9, 0, 2), .boolean(true)),
        ])
        #expect(throws: LwM2MContentError.self) { try LwM2MJSON.decode(Array(#"{"bn":"/3/0/"}"#.utf8), types: types) }
        #expect(throws: LwM2MContentError.self) { try LwM2MJSON.decode(Array(#"{"bn":"/3/0/","e":[{"n":"9","v":1,"sv":"x"}]}"#.utf8), types: types) }
    }
}

@Suite("LwM2M content formats: text/plain, opaque, CoRE link format, CBOR")
struct PlainAndLinkTests {
    @Test("text/plain reads by the model's type", arguments: [
        ("21.5", LwM2MPath(3303, 0, 5700), LwM2MValue.float(21.5)), ("87", LwM2MPath(3, 0, 9), .integer(87)),
        ("1", LwM2MPath(9, 0, 2), .boolean(true)), ("3:0", LwM2MPath(9, 0, 0), .objlnk(objectId: 3, instanceId: 0)),
        ("3q0=", LwM2MPath(9, 0, 1), .opaque([0xDE, 0xAD])), ("hello", LwM2MPath(3, 0, 0), .string("hello")),
    ])
    func plain(text: String, path: LwM2MPath, value: LwM2MValue) throws {
        let node = try LwM2MPlainText.decode(Array(text.utf8), path: path, type: types(path))
        #expect(node.value == value)
        #expect(String(decoding: LwM2MPlainText.encode(value), as: UTF8.self) == text)
    }

    @Test("text/plain refuses what does not fit")
    func plainErrors() {
        #expect(throws: LwM2MContentError.self) { try LwM2MPlainText.decode(Array("abc".utf8), path: LwM2MPath(3, 0, 9), type: .integer) }
        #expect(throws: LwM2MContentError.self) { try LwM2MPlainText.decode(Array("2".utf8), path: LwM2MPath(9, 0, 2), type: .boolean) }
        #expect(throws: LwM2MContentError.self) { try LwM2MPlainText.decode([0xFF, 0xFE], path: LwM2MPath(3, 0, 0), type: .string) }
        #expect(throws: LwM2MContentError.self) { try LwM2MPlainText.decode(Array("1".utf8), path: LwM2MPath(3, 0), type: nil) }
        #expect(throws: LwM2MContentError.self) { try LwM2MOpaque.decode([1], path: LwM2MPath(3)) }
    }

    @Test("opaque (42): the bytes of one resource, both ways; through the one dispatcher too")
    func opaque() throws {
        let bytes: [UInt8] = [0x00, 0xFF, 0x10, 0x80]
        #expect(try LwM2MOpaque.decode(bytes, path: LwM2MPath(9, 0, 1)) == LwM2MNode(LwM2MPath(9, 0, 1), .opaque(bytes)))
        #expect(LwM2MOpaque.encode(.opaque(bytes)) == bytes)
        let viaFormat = try LwM2MContentFormat.decode(bytes, format: LwM2MOpaque.contentFormat, path: LwM2MPath(9, 0, 1), types: types)
        #expect(viaFormat == [LwM2MNode(LwM2MPath(9, 0, 1), .opaque(bytes))])
        #expect(LwM2MContentFormat.encode(viaFormat, format: LwM2MOpaque.contentFormat, path: LwM2MPath(9, 0, 1)) == bytes)
    }

    @Test("a registration payload in CoRE link format")
    func links() throws {
        let text = #"</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>;ver=1.1, </3303/0>,</3303/1>"#
        let links = try CoRELinkFormat.decode(text)
        #expect(links.map(\.target) == ["/", "/1/0", "/3/0", "/3303/0", "/3303/1"])
        #expect(links[0].parameter("rt") == "oma.lwm2m" && links[0].parameter("ct") == "11543")
        #expect(links[2].parameter("ver") == "1.1")
        #expect(CoRELinkFormat.encode(links) == #"</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>;ver=1.1,</3303/0>,</3303/1>"#)
        for bad in ["/1/0", "</1/0", #"</1/0>;rt="x"#, "</1/0> </3/0>", "</1/0>;=5"] {
            #expect(throws: LwM2MContentError.self, "\(bad)") { try CoRELinkFormat.decode(bad) }
        }
    }

    @Test("CBOR: widths of integers, negative numbers, floats, nested arrays and maps")
    func cbor() throws {
        let value = CBORValue.array([
            .unsigned(23), .unsigned(24), .unsigned(65536), .integer(-1), .integer(-1000), .text("é"), .bytes([1, 2]),
            .map([(.text("a"), .boolean(true)), (.negative(1), .null)]), .float(1.5), .float(0.1),
        ])
        let encoded = CBOR.encode(value)
        #expect(hex(encoded) == "8A 17 18 18 1A 00 01 00 00 20 39 03 E7 62 C3 A9 42 01 02 A2 61 61 F5 21 F6 FA 3F C0 00 00 FB 3F B9 99 99 99 99 99 9A")
        #expect(try CBOR.decode(encoded) == value)
        // Indefinite-length array and map (RFC 8949 §3.2.2).
        #expect(try CBOR.decode(bytes("9F 01 BF 61 61 02 FF FF")) == .array([.unsigned(1), .map([(.text("a"), .unsigned(2))])]))
        #expect(throws: LwM2MContentError.self) { try CBOR.decode(bytes("01 02")) }
    }

    @Test("random bytes never trap any decoder", arguments: 0..<3)
    func fuzz(seed: UInt64) {
        var state = seed &+ 0x9E37_79B9
        func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        for _ in 0..<3_000 {
            let input = (0..<Int(next() % 24)).map { _ in UInt8(truncatingIfNeeded: next()) }
            for format in LwM2MContentFormat.supported {
                _ = try? LwM2MContentFormat.decode(input, format: format, path: LwM2MPath(3, 0), types: types)
            }
            _ = try? CoRELinkFormat.decode(String(decoding: input, as: UTF8.self))
        }
    }
}
