import Foundation
import Testing

import TestSupport

/// The gateway as an LwM2M client of an upstream server that is not the
/// project's code: Scripts/lwm2m_server.py on aiocoap, with its own TLV,
/// SenML JSON and CBOR decoding.
@Suite("LwM2M client role against an independent LwM2M server", .serialized)
struct LwM2MClientRoleTests {
    static let key = "lwm2m-client-admin-key"
    static let mapping = #"""
        {"thermostat":{"object":3303,"resources":{
          "5700":{"key":"temperature"},
          "5750":{"key":"label","operations":"RW"},
          "4":{"name":"calibrate","operations":"E"}}}}
        """#

    func startServer() async throws -> (PeerProcess, Int) {
        let python = packageRoot() + "/.venv/bin/python"
        try #require(FileManager.default.isExecutableFile(atPath: python), "make test creates .venv with aiocoap")
        let server = PeerProcess(python, [
            packageRoot() + "/Tests/IntegrationTests/Scripts/lwm2m_server.py", "--port", "0", "--timeout", "120",
        ])
        try server.start()
        let listening = try await server.waitFor("listening") { $0["event"] as? String == "listening" }
        return (server, try #require(listening["port"] as? Int))
    }

    /// Sends a command and waits for its result.
    func run(_ server: PeerProcess, _ command: String, id: String) async throws -> [String: any Sendable] {
        let start = server.events.count
        server.send(command)
        return try await server.waitFor(after: start, "result of \(id)") {
            ($0["event"] as? String == "result" || $0["event"] as? String == "error") && $0["id"] as? String == id
        }
    }

    func decoded(_ event: [String: any Sendable]) -> [[String: any Sendable]] {
        event["decoded"] as? [[String: any Sendable]] ?? []
    }

    @Test("registers, exposes a device with telemetry (TLV, SenML JSON), notifies on change and at pmax, turns Write and Execute into downlink, updates on a new device, re-registers after 4.04, de-registers on SIGTERM")
    func clientRole() async throws {
        let (server, port) = try await startServer()
        do {
            try await clientRole(server, port: port)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    func clientRole(_ server: PeerProcess, port: Int) async throws {
        let fixture = try await GatewayFixture.start([
            "ADMIN_API_KEY": Self.key, "MQTT_ENABLED": "true", "LWM2M_CLIENT_ENABLED": "true",
            "LWM2M_CLIENT_SERVER_URI": "coap://127.0.0.1:\(port)", "LWM2M_CLIENT_LIFETIME": "60", "LWM2M_CLIENT_ENDPOINT": "gw-test",
        ], files: ["lwm2m-client-mapping.json": Self.mapping])

        // Registration with the gateway's own objects; Security is not listed (Core §6.2.1).
        let register = try await server.waitFor("register") { $0["event"] as? String == "register" }
        #expect(register["ep"] as? String == "gw-test" && register["lt"] as? Int == 60)
        #expect(register["lwm2m"] as? String == "1.1" && register["b"] as? String == "U")
        #expect(register["links"] as? String == "</1/0>,</3/0>", "\(register)")

        // A device added later: an Update with its instance.
        let device = try await fixture.addDevice("thermo-1", type: "thermostat")
        let update = try await server.waitFor("update with the new device") {
            $0["event"] as? String == "update" && ($0["links"] as? String)?.contains("</3303/0>") == true
        }
        #expect(update["links"] as? String == "</1/0>,</3/0>,</3303/0>", "\(update)")

        // Its telemetry over HTTP is what a Read returns.
        #expect(try await fixture.post("/api/v1/\(device.token)/telemetry", #"{"temperature":21.5,"label":"hall"}"#).status == 200)
        let tlv = try await run(server, #"{"id":"r1","op":"read","path":"/3303/0/5700","accept":11542}"#, id: "r1")
        #expect(tlv["code"] as? String == "2.05" && tlv["format"] as? Int == 11542, "\(tlv)")
        #expect(decoded(tlv).first?["type"] as? String == "resource" && decoded(tlv).first?["id"] as? Int == 5700)
        #expect(decoded(tlv).first?["float"] as? Double == 21.5, "\(tlv)")
        let senml = try await run(server, #"{"id":"r2","op":"read","path":"/3303/0/5700","accept":110}"#, id: "r2")
        #expect(senml["code"] as? String == "2.05" && senml["format"] as? Int == 110, "\(senml)")
        #expect(decoded(senml).contains { $0["v"] as? Double == 21.5 }, "\(senml)")
        let instance = try await run(server, #"{"id":"r3","op":"read","path":"/3303/0","accept":110}"#, id: "r3")
        #expect(decoded(instance).contains { $0["vs"] as? String == "hall" }, "\(instance)")
        let gateway = try await run(server, #"{"id":"r4","op":"read","path":"/3/0/2","accept":0}"#, id: "r4")
        #expect(gateway["decoded"] as? String == "gw-test", "\(gateway)")
        let security = try await run(server, #"{"id":"r5","op":"read","path":"/0/0"}"#, id: "r5")
        #expect(security["code"] as? String == "4.01", "\(security)")

        // Observe: a notification when new telemetry arrives.
        let observed = try await run(server, #"{"id":"o1","op":"observe","path":"/3303/0/5700","accept":110}"#, id: "o1")
        #expect(observed["code"] as? String == "2.05" && observed["observe"] != nil, "\(observed)")
        var mark = server.events.count
        #expect(try await fixture.post("/api/v1/\(device.token)/telemetry", #"{"temperature":22.5}"#).status == 200)
        let changed = try await server.waitFor(after: mark, "notification of the change") { $0["event"] as? String == "notify" && $0["id"] as? String == "o1" }
        #expect(decoded(changed).contains { $0["v"] as? Double == 22.5 }, "\(changed)")
        // pmax=1: one more notification without a change.
        let attributes = try await run(server, #"{"id":"a1","op":"write-attributes","path":"/3303/0/5700","query":"pmax=1"}"#, id: "a1")
        #expect(attributes["code"] as? String == "2.04", "\(attributes)")
        mark = server.events.count
        let periodic = try await server.waitFor(after: mark, timeout: .seconds(5), "notification at pmax") {
            $0["event"] as? String == "notify" && $0["id"] as? String == "o1"
        }
        #expect(decoded(periodic).contains { $0["v"] as? Double == 22.5 }, "\(periodic)")
        let discovered = try await run(server, #"{"id":"d1","op":"discover","path":"/3303/0"}"#, id: "d1")
        #expect((discovered["decoded"] as? String)?.contains("</3303/0/5700>;pmax=1") == true, "\(discovered)")
        _ = try await run(server, #"{"id":"c1","op":"cancel","observe":"o1"}"#, id: "c1")

        // Write and Execute reach a subscribed MQTT device as a shared-attribute update and an RPC.
        async let subscriber = runCommand("mosquitto_sub", [
            "-h", "127.0.0.1", "-p", "\(fixture.gateway.mqttPort)", "-u", device.token, "-q", "1", "-v", "-C", "2",
            "-t", "v1/devices/me/attributes", "-t", "v1/devices/me/rpc/request/+",
        ], timeout: .seconds(30))
        _ = try await fixture.gateway.waitForLog(message: "MQTT subscribed", timeout: .seconds(10))
        let write = try await run(
            server, #"{"id":"w1","op":"write","path":"/3303/0/5750","format":11542,"type":"string","value":"kitchen"}"#, id: "w1")
        #expect(write["code"] as? String == "2.04", "\(write)")
        let execute = try await run(server, #"{"id":"e1","op":"execute","path":"/3303/0/4","args":"fast"}"#, id: "e1")
        #expect(execute["code"] as? String == "2.04", "\(execute)")
        let received = try await subscriber.stdout.split(separator: "\n").map(String.init)
        #expect(received.first == #"v1/devices/me/attributes {"label":"kitchen"}"#, "\(received)")
        #expect(received.last?.hasPrefix("v1/devices/me/rpc/request/") == true && received.last?.hasSuffix(#" {"method":"calibrate","params":"fast"}"#) == true, "\(received)")
        let stored = try await curl("GET", fixture.gateway.adminURL + "/api/devices/\(device.id)/attributes/shared", headers: ["Authorization": "Bearer \(Self.key)"])
        #expect(stored.body == #"{"label":"kitchen"}"#)
        let create = try await run(server, #"{"id":"x1","op":"create","path":"/3303","format":11542}"#, id: "x1")
        #expect(create["code"] as? String == "4.05", "\(create)")
        let readOnly = try await run(
            server, #"{"id":"w2","op":"write","path":"/3303/0/5700","format":0,"type":"float","value":1.5}"#, id: "w2")
        #expect(readOnly["code"] as? String == "4.05", "\(readOnly)")

        // The server forgets the registration: 4.04 to the Update, then a new Register.
        let metrics = try await curl("GET", fixture.gateway.metricsURL + "/metrics").body
        #expect(metrics.contains("tb_gateway_lwm2m_client_state 1"))
        // Four reads and the cancel, a GET with Observe=1 answered like a read (RFC 7641 §3.6); the Security read failed.
        #expect(metrics.contains(#"tb_gateway_lwm2m_client_operations_total{operation="read",result="success"} 5"#), "\(metrics)")
        #expect(metrics.contains(#"tb_gateway_lwm2m_client_operations_total{operation="read",result="error"} 1"#), "\(metrics)")
        mark = server.events.count
        server.send(#"{"op":"reject-next-update"}"#)
        _ = try await server.waitFor(after: mark, "ok") { $0["event"] as? String == "ok" }
        let trigger = try await run(server, #"{"id":"e2","op":"execute","path":"/1/0/8"}"#, id: "e2")
        #expect(trigger["code"] as? String == "2.04", "\(trigger)")
        _ = try await server.waitFor(after: mark, "rejected update") { $0["event"] as? String == "update" && $0["answer"] as? String == "4.04" }
        let again = try await server.waitFor(after: mark, "second register") { $0["event"] as? String == "register" }
        #expect(again["links"] as? String == "</1/0>,</3/0>,</3303/0>", "\(again)")

        // SIGTERM: De-register of the current registration.
        try await fixture.stop()
        let deregister = try await server.waitFor(after: mark, "deregister") { $0["event"] as? String == "deregister" }
        #expect(deregister["location"] as? String == again["location"] as? String && deregister["answer"] as? String == "2.02", "\(deregister)")
    }

    @Test("with a bootstrap server: Bootstrap-Request, Security and Server written, Bootstrap-Finish, then Register at the server it named, with its lifetime")
    func bootstrap() async throws {
        let (bootstrapServer, bootstrapPort) = try await startServer()
        let (server, serverPort) = try await startServer()
        do {
            try await bootstrap(bootstrapServer, bootstrapPort, server, serverPort)
        } catch {
            await bootstrapServer.stop()
            await server.stop()
            throw error
        }
        await bootstrapServer.stop()
        await server.stop()
    }

    func bootstrap(_ bootstrapServer: PeerProcess, _ bootstrapPort: Int, _ server: PeerProcess, _ serverPort: Int) async throws {
        // LWM2M_CLIENT_SERVER_URI names a port nothing listens on: the account must come from the bootstrap server.
        let fixture = try await GatewayFixture.start([
            "LWM2M_CLIENT_ENABLED": "true", "LWM2M_CLIENT_BOOTSTRAP_URI": "coap://127.0.0.1:\(bootstrapPort)",
            "LWM2M_CLIENT_SERVER_URI": "coap://127.0.0.1:9", "LWM2M_CLIENT_ENDPOINT": "gw-bootstrap",
        ])
        let request = try await bootstrapServer.waitFor("Bootstrap-Request") { $0["event"] as? String == "bootstrap-request" }
        #expect(request["ep"] as? String == "gw-bootstrap")
        let writes = [
            #"{"id":"s0","op":"write","path":"/0/1/0","format":11542,"type":"string","value":"coap://127.0.0.1:\#(serverPort)"}"#,
            #"{"id":"s1","op":"write","path":"/0/1/1","format":11542,"type":"boolean","value":false}"#,
            #"{"id":"s2","op":"write","path":"/0/1/2","format":11542,"type":"integer","value":3}"#,
            #"{"id":"s10","op":"write","path":"/0/1/10","format":11542,"type":"integer","value":123}"#,
            #"{"id":"v0","op":"write","path":"/1/1/0","format":11542,"type":"integer","value":123}"#,
            #"{"id":"v1","op":"write","path":"/1/1/1","format":11542,"type":"integer","value":45}"#,
            #"{"id":"v7","op":"write","path":"/1/1/7","format":0,"type":"string","value":"U"}"#,
        ]
        for command in writes {
            let id = try #require(((try? JSONSerialization.jsonObject(with: Data(command.utf8))) as? [String: Any])?["id"] as? String)
            let result = try await run(bootstrapServer, command, id: id)
            #expect(result["code"] as? String == "2.04", "\(id): \(result)")
        }
        let finish = try await run(bootstrapServer, #"{"id":"f","op":"execute","path":"/bs"}"#, id: "f")
        #expect(finish["code"] as? String == "2.04", "\(finish)")
        let register = try await server.waitFor("register at the bootstrapped server") { $0["event"] as? String == "register" }
        #expect(register["ep"] as? String == "gw-bootstrap" && register["lt"] as? Int == 45 && register["b"] as? String == "U", "\(register)")
        try await fixture.stop()
        _ = try await server.waitFor("deregister") { $0["event"] as? String == "deregister" }
    }
}
