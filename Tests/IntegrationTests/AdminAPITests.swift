import Foundation
import KafkaSink
import TestSupport
import Testing

@Suite("Admin API", .timeLimit(.minutes(3)))
struct AdminAPITests {
    static let key = "admin-test-key-0123456789"

    func admin(
        _ fixture: GatewayFixture, _ method: String, _ path: String, _ body: String? = nil, key: String? = AdminAPITests.key
    ) async throws -> (status: Int, json: Any?, answer: HTTPAnswer) {
        var headers: [String: String] = [:]
        if let key { headers["Authorization"] = "Bearer \(key)" }
        let answer = try await curl(method, fixture.gateway.adminURL + path, body: body, headers: headers)
        let json = answer.body.isEmpty ? nil : try? JSONSerialization.jsonObject(with: Data(answer.body.utf8))
        return (answer.status, json, answer)
    }

    @Test("device lifecycle: create (token once), list, show, update, rotate, delete")
    func devices() async throws {
        let fixture = try await GatewayFixture.start(["ADMIN_API_KEY": Self.key])
        let created = try await admin(fixture, "POST", "/api/devices", #"{"name":"api-1","type":"valve"}"#)
        #expect(created.status == 201)
        let device = try #require(created.json as? [String: Any])
        let id = try #require(device["id"] as? String)
        let token = try #require(device["token"] as? String)
        #expect(device["name"] as? String == "api-1" && device["type"] as? String == "valve" && device["enabled"] as? Bool == true)
        #expect(token.count >= 20)
        #expect(try await fixture.post("/api/v1/\(token)/telemetry", #"{"a":1}"#).status == 200)

        _ = try await admin(fixture, "POST", "/api/devices", #"{"name":"api-0","token":"given-token-0-twenty-chars"}"#)
        let list = try await admin(fixture, "GET", "/api/devices?limit=1&offset=1")
        #expect(list.status == 200)
        let page = try #require(list.json as? [String: Any])
        #expect(page["total"] as? Int == 2 && page["offset"] as? Int == 1 && page["limit"] as? Int == 1)
        #expect((page["devices"] as? [[String: Any]])?.map { $0["name"] as? String } == ["api-1"])
        #expect((page["devices"] as? [[String: Any]])?.first?["token"] == nil, "the token is shown only at creation")

        let shown = try await admin(fixture, "GET", "/api/devices/\(id)")
        #expect(shown.status == 200 && (shown.json as? [String: Any])?["id"] as? String == id)

        let disabled = try await admin(fixture, "PATCH", "/api/devices/\(id)", #"{"enabled":false,"type":"big-valve"}"#)
        #expect(disabled.status == 200)
        #expect((disabled.json as? [String: Any])?["enabled"] as? Bool == false)
        #expect((disabled.json as? [String: Any])?["type"] as? String == "big-valve")
        #expect(try await fixture.post("/api/v1/\(token)/telemetry", #"{"a":1}"#).status == 401)
        #expect(try await admin(fixture, "PATCH", "/api/devices/\(id)", #"{"enabled":true}"#).status == 200)
        #expect(try await fixture.post("/api/v1/\(token)/telemetry", #"{"a":1}"#).status == 200)

        // The old token is refused on the very next request.
        let rotated = try await admin(fixture, "POST", "/api/devices/\(id)/token")
        #expect(rotated.status == 200)
        let newToken = try #require((rotated.json as? [String: Any])?["token"] as? String)
        #expect(newToken != token)
        #expect(try await fixture.post("/api/v1/\(token)/telemetry", #"{"a":1}"#).status == 401)
        #expect(try await fixture.post("/api/v1/\(newToken)/telemetry", #"{"a":1}"#).status == 200)

        #expect(try await admin(fixture, "DELETE", "/api/devices/\(id)").status == 204)
        #expect(try await admin(fixture, "GET", "/api/devices/\(id)").status == 404)
        #expect(try await fixture.post("/api/v1/\(newToken)/telemetry", #"{"a":1}"#).status == 401)
        try await fixture.stop()
    }

    @Test("attributes: write and read shared and server, read client, delete")
    func attributes() async throws {
        let fixture = try await GatewayFixture.start(["ADMIN_API_KEY": Self.key])
        let device = try await fixture.addDevice("attr-api")
        #expect(try await fixture.post("/api/v1/\(device.token)/attributes", #"{"fw":"1.0"}"#).status == 200)
        let base = "/api/devices/\(device.id)/attributes"

        let written = try await admin(fixture, "POST", base + "/shared", #"{"interval":30,"mode":"eco"}"#)
        #expect(written.status == 200)
        #expect(written.answer.body == #"{"interval":30,"mode":"eco"}"#)
        #expect(try await admin(fixture, "POST", base + "/server", #"{"secret":{"a":1}}"#).status == 200)
        #expect(try await admin(fixture, "GET", base + "/server").answer.body == #"{"secret":{"a":1}}"#)
        #expect(try await admin(fixture, "GET", base + "/client").answer.body == #"{"fw":"1.0"}"#)
        #expect(try await admin(fixture, "GET", base + "/shared?keys=mode").answer.body == #"{"mode":"eco"}"#)
        // The device reads its shared attributes through the device API.
        let seen = try await curl("GET", fixture.gateway.baseURL + "/api/v1/\(device.token)/attributes?sharedKeys=interval")
        #expect(seen.body == #"{"shared":{"interval":30}}"#)

        let deleted = try await admin(fixture, "DELETE", base + "/shared?keys=mode,none")
        #expect(deleted.status == 200 && deleted.answer.body == #"{"deleted":["mode"]}"#)

        let clientWrite = try await admin(fixture, "POST", base + "/client", #"{"x":1}"#)
        #expect(clientWrite.status == 400 && (clientWrite.json as? [String: Any])?["field"] as? String == "scope")
        #expect(try await admin(fixture, "GET", base + "/secret").status == 404)
        #expect(try await admin(fixture, "POST", base + "/shared", "[1]").status == 400)
        #expect(try await admin(fixture, "DELETE", base + "/shared").status == 400)
        try await fixture.stop()
    }

    @Test("errors: 401 without or with a wrong key, 400 naming the field, 404, 409")
    func errors() async throws {
        let fixture = try await GatewayFixture.start(["ADMIN_API_KEY": Self.key])
        let missing = try await admin(fixture, "GET", "/api/devices", key: nil)
        #expect(missing.status == 401 && missing.answer.headers["www-authenticate"] == "Bearer")
        #expect(try await admin(fixture, "GET", "/api/devices", key: "wrong").status == 401)

        func field(_ result: (status: Int, json: Any?, answer: HTTPAnswer)) -> String? {
            (result.json as? [String: Any])?["field"] as? String
        }
        let noName = try await admin(fixture, "POST", "/api/devices", #"{"type":"x"}"#)
        #expect(noName.status == 400 && field(noName) == "name")
        let badType = try await admin(fixture, "POST", "/api/devices", #"{"name":7}"#)
        #expect(badType.status == 400 && field(badType) == "name")
        let badToken = try await admin(fixture, "POST", "/api/devices", #"{"name":"t","token":"has space"}"#)
        #expect(badToken.status == 400 && field(badToken) == "token")
        #expect(try await admin(fixture, "POST", "/api/devices", "not json").status == 400)
        let badLimit = try await admin(fixture, "GET", "/api/devices?limit=0")
        #expect(badLimit.status == 400 && field(badLimit) == "limit")

        #expect(try await admin(fixture, "POST", "/api/devices", #"{"name":"twice"}"#).status == 201)
        let duplicate = try await admin(fixture, "POST", "/api/devices", #"{"name":"twice"}"#)
        #expect(duplicate.status == 409 && field(duplicate) == "name")

        let unknown = "00000000-0000-4000-8000-000000000000"
        #expect(try await admin(fixture, "GET", "/api/devices/\(unknown)").status == 404)
        #expect(try await admin(fixture, "PATCH", "/api/devices/\(unknown)", #"{"enabled":false}"#).status == 404)
        #expect(try await admin(fixture, "DELETE", "/api/devices/\(unknown)").status == 404)
        #expect(try await admin(fixture, "POST", "/api/devices/\(unknown)/token").status == 404)
        #expect(try await admin(fixture, "GET", "/api/devices/\(unknown)/attributes/shared").status == 404)
        let id = try #require(
            (try await admin(fixture, "GET", "/api/devices").json as? [String: Any]).flatMap { ($0["devices"] as? [[String: Any]])?.first?["id"] as? String })
        let badEnabled = try await admin(fixture, "PATCH", "/api/devices/\(id)", #"{"enabled":"yes"}"#)
        #expect(badEnabled.status == 400 && field(badEnabled) == "enabled")
        try await fixture.stop()
    }

    @Test("every route is in the OpenAPI document, which matches docs/admin-openapi.json")
    func openAPI() async throws {
        let fixture = try await GatewayFixture.start(["ADMIN_API_KEY": Self.key])
        let served = try await admin(fixture, "GET", "/openapi.json")
        #expect(served.status == 200)
        let committed = try String(contentsOfFile: packageRoot() + "/docs/admin-openapi.json", encoding: .utf8)
        #expect(served.answer.body == committed)
        let document = try #require(served.json as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        // The router's routes, as the gateway lists them.
        let routes = try await fixture.gateway.cli(["config", "admin-routes"])
        #expect(routes.status == 0)
        let lines = routes.stdout.split(separator: "\n")
        #expect(lines.count >= 10)
        for line in lines {
            let parts = line.split(separator: " ")
            let (method, path) = (parts[0].lowercased(), String(parts[1]))
            #expect(paths[path]?[method] != nil, "\(method) \(path) is missing from the OpenAPI document")
        }
        try await fixture.stop()
    }

    @Test("without ADMIN_API_KEY the admin API does not start, and the log says so")
    func disabledWithoutKey() async throws {
        let fixture = try await GatewayFixture.start()
        #expect(fixture.gateway.logs.contains { ($0["message"] as? String)?.hasPrefix("ADMIN_API_KEY is not set") == true })
        #expect(!fixture.gateway.logs.contains { $0["message"] as? String == "admin API listening" })
        try await fixture.stop()
    }
}
