import Foundation
import LwM2M
import Testing

@Suite("LwM2M object models")
struct LwM2MModelTests {
    static var modelsDirectory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/LwM2M/Models").path
    }

    @Test("the built-in models are the data files (scripts/lwm2m-models.py keeps them in step)")
    func builtInMatchesFiles() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.modelsDirectory).filter { $0.hasSuffix(".json") }
        #expect(Set(files) == Set(LwM2MBuiltInModels.files.map(\.name)))
        let fromFiles = try LwM2MModelRegistry.loadDirectory(Self.modelsDirectory)
        let builtIn = try LwM2MBuiltInModels.all()
        #expect(fromFiles.sorted { $0.id < $1.id } == builtIn.sorted { $0.id < $1.id })
    }

    @Test("OMA objects 0-7 and the IPSO objects 3300-3350 are there, with types and operations")
    func coverage() throws {
        let registry = try LwM2MModelRegistry.load()
        for id in Array(0...7) + [3300, 3301, 3303, 3304, 3315, 3323, 3336, 3350] {
            #expect(registry.object(UInt16(id)) != nil, "object \(id)")
        }
        #expect(registry.object(3)?.name == "Device")
        #expect(registry.resource(LwM2MPath(3, 0, 4))?.isExecutable == true)
        #expect(registry.type(of: LwM2MPath(3, 0, 9)) == .integer)
        #expect(registry.resource(LwM2MPath(3, 0, 11))?.multiple == true)
        #expect(registry.type(of: LwM2MPath(3303, 0, 5700)) == .float)
        #expect(registry.resource(LwM2MPath(3303, 0, 5700))?.name == "Sensor Value")
        #expect(registry.object(3303)?.multiple == true)
        // A resource instance resolves to its resource.
        #expect(registry.type(of: LwM2MPath(3, 0, 11, 0)) == .integer)
    }

    @Test("a DDF XML file from LWM2M_MODELS_DIR: comments, CDATA, entities, namespaces; it replaces a built-in id")
    func ddf() throws {
        let directory = NSTemporaryDirectory() + "lwm2m-models-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let xml = """
            <?xml version="1.0" encoding="utf-8"?>
            <!-- a vendor object -->
            <LWM2M xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="LWM2M.xsd">
              <Object ObjectType="MODefinition">
                <Name>Valve &amp; Pump</Name>
                <Description1><![CDATA[Controls <a> valve]]></Description1>
                <ObjectID>33001</ObjectID>
                <ObjectURN>urn:oma:lwm2m:x:33001</ObjectURN>
                <ObjectVersion>1.1</ObjectVersion>
                <MultipleInstances>Multiple</MultipleInstances>
                <Mandatory>Optional</Mandatory>
                <Resources>
                  <Item ID="1"><Name>Open</Name><Operations>RW</Operations><MultipleInstances>Single</MultipleInstances>
                    <Mandatory>Mandatory</Mandatory><Type>Boolean</Type><RangeEnumeration/><Units/><Description/></Item>
                  <Item ID="0"><Name>Flow</Name><Operations>R</Operations><MultipleInstances>Single</MultipleInstances>
                    <Mandatory>Optional</Mandatory><Type>Float</Type><RangeEnumeration>0..100</RangeEnumeration><Units>l/min</Units></Item>
                  <Item ID="2"><Name>Flush</Name><Operations>E</Operations><MultipleInstances>Single</MultipleInstances>
                    <Mandatory>Optional</Mandatory><Type></Type></Item>
                  <Item ID="3"><Name>Count</Name><Operations>R</Operations><MultipleInstances>Multiple</MultipleInstances>
                    <Mandatory>Optional</Mandatory><Type>Unsigned Integer</Type></Item>
                </Resources>
              </Object>
            </LWM2M>
            """
        try xml.write(toFile: directory + "/33001.xml", atomically: true, encoding: .utf8)
        try #"{"id":3303,"name":"My Temperature","version":"9.9","multiple":true,"mandatory":false,"resources":[{"id":5700,"name":"Value","operations":"R","type":"integer","multiple":false,"mandatory":true}]}"#
            .write(toFile: directory + "/3303.json", atomically: true, encoding: .utf8)
        let registry = try LwM2MModelRegistry.load(directory: directory)
        let valve = try #require(registry.object(33001))
        #expect(valve.name == "Valve & Pump" && valve.version == "1.1" && valve.multiple && !valve.mandatory)
        #expect(valve.resources.map(\.id) == [0, 1, 2, 3])
        #expect(valve.resources[0] == LwM2MResourceModel(id: 0, name: "Flow", operations: "R", type: .float, units: "l/min", range: "0..100"))
        #expect(valve.resources[1].type == .boolean && valve.resources[1].mandatory)
        #expect(valve.resources[2].type == LwM2MResourceType.none && valve.resources[2].isExecutable)
        #expect(valve.resources[3].type == .unsigned && valve.resources[3].multiple)
        #expect(registry.object(3303)?.name == "My Temperature")
        #expect(registry.type(of: LwM2MPath(3303, 0, 5700)) == .integer)
    }

    @Test("broken model files are errors that name the file", arguments: [
        ("bad.xml", "<LWM2M><Object><ObjectID>1</ObjectID>"),
        ("bad.xml", "<LWM2M><Object><ObjectID>x</ObjectID></Object></LWM2M>"),
        ("bad.xml", #"<LWM2M><Object><ObjectID>5</ObjectID><Resources><Item ID="1"><Type>Quaternion</Type></Item></Resources></Object></LWM2M>"#),
        ("bad.xml", "<LWM2M></LWM2M>"),
        ("bad.json", #"{"id":1}"#),
    ])
    func broken(name: String, content: String) throws {
        let directory = NSTemporaryDirectory() + "lwm2m-models-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try content.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
        #expect {
            _ = try LwM2MModelRegistry.load(directory: directory)
        } throws: { error in
            (error as? LwM2MModelError)?.file.hasSuffix(name) == true
        }
    }
}
